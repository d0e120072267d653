import Foundation

/// What a successful ``RangeResumer/download(from:mirrors:to:expectedLength:expectedSHA256:clock:progress:)``
/// delivered: the destination now holds exactly these bytes, verified.
public struct DownloadResult: Sendable, Hashable {
    /// The destination file, complete and renamed into place.
    public var fileURL: URL
    /// The file's length in bytes.
    public var length: Int64
    /// The file's SHA-256 in lowercase hex, or `nil` when hashing was off
    /// (``RangeResumer/Configuration/computesSHA256`` false and no expected hash given).
    public var sha256: String?
    /// The offset this attempt resumed from (0 when it started from scratch).
    public var resumedFrom: Int64
    /// Body bytes received over the network in this attempt.
    public var bytesReceived: Int64
    /// How many times this attempt discarded local bytes and restarted from byte 0.
    public var restarts: Int
    /// The URL this attempt fetched from (the `from:` URL of the call, which may be a mirror of
    /// the job's main URL); `nil` when built by a caller that did not say.
    public var sourceURL: URL?

    /// Creates a result.
    public init(fileURL: URL, length: Int64, sha256: String?, resumedFrom: Int64, bytesReceived: Int64, restarts: Int,
                sourceURL: URL? = nil) {
        self.sourceURL = sourceURL
        self.fileURL = fileURL
        self.length = length
        self.sha256 = sha256
        self.resumedFrom = resumedFrom
        self.bytesReceived = bytesReceived
        self.restarts = restarts
    }
}
