import RangeResume
import ResilienceRetry

/// How a ``SegmentedDownload`` splits, retries and checks a download. Every field has a default.
public struct SegmentedDownloadConfiguration: Sendable {
    /// The most connections (concurrent range requests) per download, bounded by an
    /// `AsyncSemaphore`. At least 1; default 4. With 1, the download falls back to `RangeResumer`.
    public var connections: Int
    /// Files shorter than this many bytes are not split: they are fetched by `RangeResumer` over
    /// one connection. Default 4 MiB (below it a second connection saves less than it costs).
    public var segmentationThreshold: Int64
    /// No segment is ever made (initially or by splitting) shorter than this many bytes, so a
    /// file gets at most `length / minimumSegmentSize` segments. At least 1; default 1 MiB.
    public var minimumSegmentSize: Int64
    /// How each segment is retried (and, for a server without ranges, the fallback download):
    /// attempts, backoff on the injected clock, which errors qualify. A segment that exhausts it
    /// with a retryable error is re-queued (see ``maxRequeues``). Default
    /// ``ResilienceRetry/RetryPolicy/default``.
    public var retryPolicy: RetryPolicy
    /// How many times in total segments may be re-queued after exhausting ``retryPolicy`` before
    /// the download gives up with the last error. Default 16.
    public var maxRequeues: Int
    /// After this many stall or too-slow failures of one segment, the segment is split in two
    /// (when both halves stay ≥ ``minimumSegmentSize``) or, when too small to split, relieved of
    /// the minimum-speed limit. A relieved segment that keeps failing is re-queued like any other,
    /// so no segment is killed in a loop forever. At least 1; default 2.
    public var struggleLimit: Int
    /// How many times a download may start over from byte 0 because the resource changed
    /// (validator or length) or stopped honouring ranges mid-way. Default 1.
    public var maxRestarts: Int
    /// The settings of every request: stall timeout, minimum speed, write batch, buffer limit,
    /// checkpoint interval (per segment; default here 16 MiB), extra header fields, progress
    /// interval, and whether to compute the SHA-256 when none is expected (``DownloadResult``'s
    /// `sha256`; costs one read of the file at the end).
    public var transfer: RangeResumer.Configuration

    /// Creates a configuration; see each property for its default. Out-of-range values are
    /// clamped.
    public init(
        connections: Int = 4,
        segmentationThreshold: Int64 = 4 << 20,
        minimumSegmentSize: Int64 = 1 << 20,
        retryPolicy: RetryPolicy = .default,
        maxRequeues: Int = 16,
        struggleLimit: Int = 2,
        maxRestarts: Int = 1,
        transfer: RangeResumer.Configuration = RangeResumer.Configuration(checkpointInterval: 16 << 20)
    ) {
        self.connections = max(1, connections)
        self.segmentationThreshold = max(0, segmentationThreshold)
        self.minimumSegmentSize = max(1, minimumSegmentSize)
        self.retryPolicy = retryPolicy
        self.maxRequeues = max(0, maxRequeues)
        self.struggleLimit = max(1, struggleLimit)
        self.maxRestarts = max(0, maxRestarts)
        self.transfer = transfer
    }
}
