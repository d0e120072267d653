import Foundation
import RangeResume
import ResilienceRetry
import ResilienceSemaphore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Downloads one large file over several connections, each fetching a byte range (a
/// **segment**) into its offset of one `.part` file, so that a per-connection rate limit stops
/// being the bottleneck — and with the same guarantees as `RangeResumer`.
///
/// ```swift
/// let download = SegmentedDownload(configuration: .init(connections: 8))
/// let result = try await download.download(from: url, to: destination, expectedSHA256: digest)
/// ```
///
/// How it works (see `Documentation/Downloads.md`, "Segmented downloads"):
/// 1. A probe (`GET` with `Range: bytes=0-0`, ``RangeResume/RangeFetcher/probe(_:clock:)``) learns
///    the length, the validator and whether ranges are honoured. Without ranges, without a
///    validator (a strong `ETag` or `Last-Modified`), below
///    ``SegmentedDownloadConfiguration/segmentationThreshold`` or with one connection, the
///    download **falls back** to `RangeResumer` (one connection, resumable) under the same retry
///    policy.
/// 2. The file is planned as `min(connections, length / minimumSegmentSize)` equal segments,
///    fetched by at most ``SegmentedDownloadConfiguration/connections`` requests at once (an
///    `AsyncSemaphore`). Each segment is retried with the ``SegmentedDownloadConfiguration/retryPolicy``
///    on the injected clock, from its last durable byte; a segment that exhausts the policy is
///    re-queued (up to ``SegmentedDownloadConfiguration/maxRequeues`` times in total). The
///    download is complete when **every segment has finished** — never merely when no work is
///    queued.
/// 3. A struggling segment (``SegmentedDownloadConfiguration/struggleLimit`` stalls or too-slow
///    failures) is split in two, or — too small to split — relieved of the minimum speed.
/// 4. Progress is checkpointed in `<destination>.part.segments` (``sidecarURL(for:)``), each
///    segment's count written only after the `.part` was `fsync`ed: after a crash or `kill -9`, a
///    new call with the same URL fetches only the missing bytes, provided the server still has
///    the same validator and length.
/// 5. If the resource changes mid-way (a `200` to a range request with `If-Range`, another
///    `ETag`, another length), everything fetched is discarded and the download starts over
///    (at most ``SegmentedDownloadConfiguration/maxRestarts`` times): ranges of two versions are
///    never spliced.
/// 6. At the end: every segment complete, length checked, optional SHA-256 checked (a mismatch
///    deletes the `.part` and throws `IntegrityError`), `fsync`, mode 0644, atomic `rename` to
///    `destination`, `fsync` of the directory, sidecar removed. `destination` never exists
///    half-written.
public struct SegmentedDownload: Sendable {
    /// Connections, segment sizes, retries and request settings.
    public let configuration: SegmentedDownloadConfiguration
    /// The HTTP engine of every request (and of the `RangeResumer` fallback).
    public let engine: RangeResumer.Engine
    /// Asked for credentials before every request of every segment (and once more after a
    /// `401`); `nil`: none. See `RangeResume.RequestAuthorizer`.
    public let authorizer: (any RequestAuthorizer)?

    /// Creates a segmented downloader that uses `engine` (default URLSession) and, when given,
    /// `authorizer` for credentials.
    public init(configuration: SegmentedDownloadConfiguration = SegmentedDownloadConfiguration(),
                engine: RangeResumer.Engine = .urlSession, authorizer: (any RequestAuthorizer)? = nil) {
        self.configuration = configuration
        self.engine = engine
        self.authorizer = authorizer
    }

    /// The sidecar holding the segment state of a download to `destination`:
    /// `<destination>.part.segments` (format in ``SegmentSidecar``'s documentation and the guide).
    public static func sidecarURL(for destination: URL) -> URL {
        URL(fileURLWithPath: destination.path + ".part.segments")
    }

    /// Downloads `url` into `destination` over up to ``SegmentedDownloadConfiguration/connections``
    /// connections, resuming from the segments a previous call checkpointed.
    ///
    /// - Parameters:
    ///   - url: an `http` or `https` URL (`https` needs the URLSession engine).
    ///   - destination: a `file:` URL chosen by the caller; its directory must exist. Replaced
    ///     atomically on success. `<destination>.part` and `<destination>.part.segments` are used
    ///     meanwhile.
    ///   - expectedLength: when given, the server's length must equal it (checked before any
    ///     byte is fetched).
    ///   - expectedSHA256: when given (64 hex digits), the file's SHA-256 must match.
    ///   - clock: measures stalls, slow transfers, retry delays and progress intervals.
    ///   - progress: throttled snapshots (``RangeResumer/Configuration/progressInterval``) of the
    ///     bytes of the whole file, called from the segment tasks (never concurrently with itself
    ///     for a given snapshot, but possibly from different threads).
    /// - Returns: the verified result and how the download went.
    /// - Throws: `IntegrityError` (length or SHA-256; the `.part` is deleted),
    ///   ``SegmentedDownloadError``, `RangeFetchError` (a restart was needed more than
    ///   ``SegmentedDownloadConfiguration/maxRestarts`` times), and the last error of a segment
    ///   that could not be fetched (`HTTPStatusError`, `IncompleteDownloadError`,
    ///   `RangeResumeError`, `URLError`) — the checkpointed segments are kept for the next call.
    ///   `CancellationError` when cancelled (checkpoints kept).
    public func download<C: Clock<Duration>>(
        from url: URL,
        to destination: URL,
        expectedLength: Int64? = nil,
        expectedSHA256: String? = nil,
        clock: C = ContinuousClock(),
        progress: (@Sendable (DownloadProgress) -> Void)? = nil
    ) async throws -> SegmentedDownloadResult {
        do throws(RangeResumeError) {
            try RequestValidator.validate(url: url, headers: configuration.transfer.additionalHeaders,
                                          headersField: "transfer.additionalHeaders")
        } catch .invalidArgument(let reason) {
            throw SegmentedDownloadError.invalidArgument(reason)
        } catch {
            throw error  // the validator throws nothing else
        }
        guard destination.isFileURL, !destination.path.isEmpty, !destination.hasDirectoryPath else {
            throw SegmentedDownloadError.invalidArgument("not a file path: \(destination)")
        }
        if let expectedSHA256, expectedSHA256.utf8.count != 64 || !expectedSHA256.allSatisfy(\.isHexDigit) {
            throw SegmentedDownloadError.invalidArgument("expectedSHA256 is not 64 hex digits")
        }
        let paths = Paths(destination: destination.standardizedFileURL)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: paths.directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SegmentedDownloadError.invalidArgument("directory does not exist: \(paths.directory)")
        }
        let policy = segmentPolicy()
        let fetcher = RangeFetcher(configuration: configuration.transfer, engine: engine, authorizer: authorizer)
        var restarts = 0
        while true {
            let probe = try await retry(policy, clock: clock) { _ in try await fetcher.probe(url, clock: clock) }
            guard configuration.connections > 1, probe.isSegmentable, let total = probe.totalLength,
                  let validator = probe.validator, total >= configuration.segmentationThreshold,
                  total >= 2 * configuration.minimumSegmentSize else {
                return try await fallback(url: url, destination: destination, paths: paths, expectedLength: expectedLength,
                                          expectedSHA256: expectedSHA256, clock: clock, progress: progress, restarts: restarts)
            }
            if let expectedLength, expectedLength != total {
                throw IntegrityError(mismatch: .length(expected: expectedLength, actual: total), isPermanent: true)
            }
            do {
                let run = SegmentedRun(download: self, url: url, paths: paths, total: total, validator: validator,
                                       expectedSHA256: expectedSHA256?.lowercased(), clock: clock, policy: policy,
                                       restarts: restarts, progress: progress)
                return try await run.run()
            } catch let error as RangeFetchError where error.requiresRestart {
                // The resource changed (or stopped honouring ranges): never splice, start over.
                SegmentFiles.remove(paths.sidecar)
                SegmentFiles.remove(paths.part)
                SegmentFiles.syncDirectory(paths.directory)
                restarts += 1
                if restarts > configuration.maxRestarts { throw error }
            }
        }
    }

    /// The configured policy, with struggle signals never retried (the driver handles them).
    private func segmentPolicy() -> RetryPolicy {
        let policy = configuration.retryPolicy
        let classifier = policy.classifier.adding { $0 is SegmentStruggle ? .stop : nil }
        return (try? RetryPolicy(maxAttempts: policy.maxAttempts, backoff: policy.backoff, maxElapsed: policy.maxElapsed,
                                 maxRetryAfter: policy.maxRetryAfter, classifier: classifier, budget: policy.budget)) ?? policy
    }

    /// One connection: `RangeResumer` under the retry policy.
    private func fallback<C: Clock<Duration>>(
        url: URL, destination: URL, paths: Paths, expectedLength: Int64?, expectedSHA256: String?, clock: C,
        progress: (@Sendable (DownloadProgress) -> Void)?, restarts: Int
    ) async throws -> SegmentedDownloadResult {
        // A segmented .part is not a RangeResumer prefix: drop its sidecar (the resumer then
        // starts its own .part from zero).
        if FileManager.default.fileExists(atPath: paths.sidecar) {
            SegmentFiles.remove(paths.sidecar)
            SegmentFiles.remove(paths.part)
        }
        let resumer = RangeResumer(configuration: configuration.transfer, engine: engine, authorizer: authorizer)
        var failures = 0
        var result = try await retry(configuration.retryPolicy, clock: clock, onEvent: { _ in failures += 1 }) { _ in
            try await resumer.download(from: url, to: destination, expectedLength: expectedLength,
                                       expectedSHA256: expectedSHA256, clock: clock, progress: progress)
        }
        result.restarts += restarts
        return SegmentedDownloadResult(download: result, isSegmented: false, segments: 1, splits: 0, relievedSegments: 0,
                                       requeues: 0, failedRequests: failures)
    }

    /// The files of a download to one destination.
    struct Paths: Sendable {
        let destination: String
        let directory: String
        let part: String
        let sidecar: String
        let resumerSidecar: String

        init(destination: URL) {
            self.destination = destination.path
            self.directory = destination.deletingLastPathComponent().path
            self.part = destination.path + ".part"
            self.sidecar = destination.path + ".part.segments"
            self.resumerSidecar = RangeResumer.sidecarURL(for: destination).path
        }
    }
}

/// Thrown inside a segment's retry loop when it struggled too often: ends the loop so the driver
/// splits or relieves the segment.
struct SegmentStruggle: Error, Sendable {
    let last: any Error
}
