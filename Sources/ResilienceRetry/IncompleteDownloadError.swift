/// A response body ended before the length the server announced: a truncated transfer.
///
/// Transient by definition (the connection dropped mid-body), so the default ``RetryClassifier``
/// retries it. A truncated body is never a success: downloaders in this package throw this error
/// and keep the bytes already on disk for the next attempt.
public struct IncompleteDownloadError: Error, Sendable, Hashable, RetryClassifiable, CustomStringConvertible {
    /// The number of bytes the server announced (`Content-Length` / `Content-Range`), if known.
    public let expectedBytes: Int64?
    /// The number of bytes actually received before the body ended.
    public let receivedBytes: Int64

    /// Creates an error for a body that ended after `receivedBytes` of `expectedBytes`.
    public init(expectedBytes: Int64?, receivedBytes: Int64) {
        self.expectedBytes = expectedBytes
        self.receivedBytes = receivedBytes
    }

    /// Always ``RetryDecision/retry``.
    public var retryDecision: RetryDecision { .retry }

    public var description: String {
        "incomplete download: received \(receivedBytes) of \(expectedBytes.map(String.init) ?? "unknown") bytes"
    }
}
