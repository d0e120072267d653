import RangeResume

/// What a successful ``SegmentedDownload`` delivered, and how it went.
public struct SegmentedDownloadResult: Sendable, Hashable {
    /// The verified file: URL, length, SHA-256 (when computed), bytes already on disk at the
    /// start (`resumedFrom`: the sum over segments checkpointed by an earlier run), body bytes
    /// received in this call (`bytesReceived`) and restarts from byte 0 (`restarts`).
    public var download: DownloadResult
    /// `false` when the download fell back to `RangeResumer` (no range support, no validator,
    /// a file below the threshold, or one connection).
    public var isSegmented: Bool
    /// Segments at the end (the initial plan plus one per split).
    public var segments: Int
    /// How many struggling segments were split in two.
    public var splits: Int
    /// How many struggling segments too small to split were relieved of the minimum speed.
    public var relievedSegments: Int
    /// How many times a segment that exhausted its retries was re-queued.
    public var requeues: Int
    /// Failed range requests that were retried (every kind of failure).
    public var failedRequests: Int

    /// Creates a result.
    public init(download: DownloadResult, isSegmented: Bool, segments: Int, splits: Int, relievedSegments: Int,
                requeues: Int, failedRequests: Int) {
        self.download = download
        self.isSegmented = isSegmented
        self.segments = segments
        self.splits = splits
        self.relievedSegments = relievedSegments
        self.requeues = requeues
        self.failedRequests = failedRequests
    }
}
