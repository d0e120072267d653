/// A snapshot of a running ``RangeResumer`` download, delivered at most once per
/// ``RangeResumer/Configuration/progressInterval`` (measured on the injected clock), plus once at
/// completion.
public struct DownloadProgress: Sendable, Hashable {
    /// Bytes of the file received so far, those resumed from the `.part` included.
    public var bytes: Int64
    /// The file's total length when known (from `Content-Length`, `Content-Range` or the caller).
    public var totalBytes: Int64?
    /// Throughput since the previous snapshot, in bytes per second.
    public var bytesPerSecond: Double
    /// How many times this attempt discarded local bytes and started again from byte 0.
    public var restarts: Int
    /// The offset this attempt resumed from (0 for a fresh download).
    public var resumedFrom: Int64

    /// Creates a snapshot.
    public init(bytes: Int64, totalBytes: Int64?, bytesPerSecond: Double, restarts: Int, resumedFrom: Int64) {
        self.bytes = bytes
        self.totalBytes = totalBytes
        self.bytesPerSecond = bytesPerSecond
        self.restarts = restarts
        self.resumedFrom = resumedFrom
    }
}
