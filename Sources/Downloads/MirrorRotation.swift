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
