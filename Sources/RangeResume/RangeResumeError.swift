import Foundation
import ResilienceRetry
import ResilienceSupport

/// Why one ``RangeResumer`` attempt failed, other than HTTP statuses
/// (``ResilienceRetry/HTTPStatusError``), truncation (``ResilienceRetry/IncompleteDownloadError``)
/// and verification (``IntegrityError``).
///
/// Conforms to `RetryClassifiable`: the transient cases (stalls, slow transfers, a server whose
/// ranges do not line up, a malformed response) are retried by `retry`'s default classifier, the
/// others stop it. In every case the bytes durably written to the `.part` file are kept unless
/// the case says otherwise.
public enum RangeResumeError: Error, Sendable, Hashable, RetryClassifiable, CustomStringConvertible {
    /// No byte arrived for `timeout` (the configured ``RangeResumer/Configuration/stallTimeout``).
    /// Retryable.
    case stalled(timeout: Duration)
    /// Fewer than `minimum` bytes per second arrived over the configured window. Retryable.
    case tooSlow(bytesPerSecond: Double, minimum: Int)
    /// The server's answer to a resume did not line up with the local `.part` twice in one
    /// attempt (`Content-Range` start or total, or the validator, differed). The `.part` has been
    /// discarded; the next attempt starts from byte 0. Retryable.
    case resumeMismatch(String)
    /// A response the resumer cannot use (e.g. a malformed `Content-Range`, or more body bytes
    /// than announced). Retryable.
    case invalidResponse(String)
    /// The response's `Content-Encoding` was not `identity`: byte offsets would be meaningless, so
    /// nothing was written. Not retryable.
    case unsupportedContentEncoding(String)
    /// The server announced or sent more than the cap (``RangeResumer/Configuration/maxBytes``,
    /// by default the expected length). The `.part` has been discarded. Not retryable.
    case exceedsMaxBytes(limit: Int64)
    /// A redirect from `https` to another scheme was refused. Not retryable.
    case insecureRedirect(to: URL)
    /// The server redirected to `to`, and no redirect is followed: the engine follows none (the
    /// socket engine), or ``RangeResumer/Configuration/maximumRedirects`` is 0. Fix: download `to`
    /// directly, or use an engine that follows redirects (``RangeResumer/Engine/urlSession``)
    /// with a limit above 0. Not retryable.
    case redirectNotFollowed(to: URL)
    /// More than `limit` redirects (``RangeResumer/Configuration/maximumRedirects``); `to` is the
    /// one refused. Not retryable.
    case tooManyRedirects(limit: Int, to: URL)
    /// The destination is not a usable local file path (it must be a `file:` URL whose directory
    /// exists and that is not a directory itself). Not retryable.
    case invalidDestination(String)
    /// An argument was unusable (a non-HTTP URL, a negative length, an expected SHA-256 that is
    /// not 64 hex digits). Not retryable.
    case invalidArgument(String)
    /// A file-system call failed with `errno` (e.g. `ENOSPC`, or `ELOOP` when the `.part` path is
    /// a symbolic link). Not retryable.
    case fileSystem(operation: String, path: String, errno: Int32)

    /// Retry for stalls, slow transfers, resume mismatches and invalid responses; stop otherwise.
    public var retryDecision: RetryDecision {
        switch self {
        case .stalled, .tooSlow, .resumeMismatch, .invalidResponse: .retry
        case .unsupportedContentEncoding, .exceedsMaxBytes, .insecureRedirect, .redirectNotFollowed, .tooManyRedirects,
             .invalidDestination, .invalidArgument,
             .fileSystem: .stop
        }
    }

    public var description: String {
        switch self {
        case .stalled(let timeout): "no data for \(DownloadErrorDescription.seconds(timeout))"
        case .tooSlow(let rate, let minimum): "download too slow: \(Int(rate)) B/s, minimum \(minimum) B/s"
        case .resumeMismatch(let reason): "resume mismatch: \(reason)"
        case .invalidResponse(let reason): "invalid response: \(reason)"
        case .unsupportedContentEncoding(let coding): "refused Content-Encoding \(coding)"
        case .exceedsMaxBytes(let limit): "response exceeds the \(limit)-byte cap"
        case .insecureRedirect(let url): "refused redirect to \(url.absoluteString)"
        case .redirectNotFollowed(let url):
            "redirected to \(url.absoluteString), and redirects are not followed here: download that URL, or use an engine that follows them (urlSession) with maximumRedirects above 0"
        case .tooManyRedirects(let limit, let url): "more than \(limit) redirects (the last to \(url.absoluteString))"
        case .invalidDestination(let reason): "invalid destination: \(reason)"
        case .invalidArgument(let reason): "invalid argument: \(reason)"
        case .fileSystem(_, let path, let code):
            ErrnoDescription.describe(code, path: path) + (code == ENOSPC ? "; partial file kept" : "")
        }
    }
}

extension RangeResumeError {
    /// A failed file-system call, as ``fileSystem(operation:path:errno:)``.
    init(_ failure: SystemCallError) {
        self = .fileSystem(operation: failure.operation, path: failure.path, errno: failure.code)
    }
}
