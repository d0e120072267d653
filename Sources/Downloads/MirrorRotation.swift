import Foundation
import JobStores
import RangeResume
import ResilienceRetry

/// Which URL of a job an attempt of a ``DownloadQueue`` uses, and when the next attempt moves on.
///
/// The sources of a job are `[job.url] + job.mirrors`, in that order. The index of the current
/// one is kept in the job's metadata under ``metadataKey`` (written together with each retry by
/// `JobStore.scheduleRetry(id:owner:at:error:metadata:now:)`, so it survives a restart; absent
/// means 0). An attempt that fails with a connection-level error or a 5xx moves the index to the
/// next source, wrapping around; any other retryable failure, and a crash or lease expiry,
/// keeps it — the `.part` then resumes on the same URL. Moving to another URL resumes from the
/// same durable offset under `RangeResumer`'s mirror rules (its own validator, or known length +
/// expected SHA-256), otherwise from zero.
enum MirrorRotation {
    /// The metadata key holding the current source's index (decimal).
    static let metadataKey = "downloads.mirror"

    /// `[job.url] + job.mirrors`.
    static func sources(of job: DownloadJob) -> [URL] {
        [job.url] + job.mirrors
    }

    /// The metadata key holding the URLs a caller's `enqueue` replaced (newline-separated, newest
    /// first): the `.part` may have come from them.
    static let replacedSourcesKey = "downloads.replacedSources"
    /// At most this many replaced URLs are remembered (older ones are forgotten: a `.part` of
    /// theirs then restarts from zero, which is always safe).
    static let maximumReplacedSources = 16

    /// What the resumer may adopt a `.part` from: ``sources(of:)`` and the replaced URLs. Only
    /// ``currentURL(of:)`` is ever requested; the others only vouch for the sidecar's origin,
    /// under `RangeResumer`'s mirror rules.
    static func resumableSources(of job: DownloadJob) -> [URL] {
        let replaced = job.metadata[replacedSourcesKey]?.split(separator: "\n").compactMap { URL(string: String($0)) } ?? []
        return sources(of: job) + replaced
    }

    /// The ``replacedSourcesKey`` value once `requested`'s URLs replace `open`'s.
    static func replacedSourcesValue(replacing open: DownloadJob, with requested: DownloadJob) -> String {
        let current = Set(sources(of: requested).map(\.absoluteString))
        var seen: Set<String> = []
        let replaced = resumableSources(of: open).map(\.absoluteString).filter { !current.contains($0) && seen.insert($0).inserted }
        return replaced.prefix(maximumReplacedSources).joined(separator: "\n")
    }

    /// The index of the source the next attempt of `job` uses, in `0..<sources(of: job).count`.
    static func currentIndex(of job: DownloadJob) -> Int {
        let count = sources(of: job).count
        let stored = job.metadata[metadataKey].flatMap { Int($0) } ?? 0
        return ((stored % count) + count) % count
    }

    /// The URL of the source the next attempt of `job` uses.
    static func currentURL(of job: DownloadJob) -> URL {
        sources(of: job)[currentIndex(of: job)]
    }

    /// The source index after an attempt of `job` failed with `error`.
    static func nextIndex(of job: DownloadJob, after error: any Error) -> Int {
        let current = currentIndex(of: job)
        guard switchesSource(after: error) else { return current }
        return (current + 1) % sources(of: job).count
    }

    /// Connection-level failures (`URLError`, a truncated body, a stall or too slow a transfer, a
    /// malformed response) and 5xx statuses: the server, not the request, is the problem.
    static func switchesSource(after error: any Error) -> Bool {
        switch error {
        case is URLError, is IncompleteDownloadError:
            return true
        case let error as HTTPStatusError:
            return (500...599).contains(error.status)
        case let error as RangeResumeError:
            switch error {
            case .stalled, .tooSlow, .invalidResponse: return true
            default: return false
            }
        default:
            return false
        }
    }
}
