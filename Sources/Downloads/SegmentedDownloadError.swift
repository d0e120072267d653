import Foundation
import ResilienceSupport
import ResilienceRetry

/// Why a ``SegmentedDownload`` failed, other than the errors of its requests (`HTTPStatusError`,
/// `RangeFetchError`, `RangeResumeError`, `IncompleteDownloadError`, `URLError`) and
/// verification (`IntegrityError`), which surface unchanged.
public enum SegmentedDownloadError: Error, Sendable, Hashable, RetryClassifiable, CustomStringConvertible {
    /// An argument was unusable (a URL or a `transfer.additionalHeaders` field that breaks the
    /// request-field rules of `RangeResume.RequestValidator`, a destination that is not a file
    /// path in an existing directory, an expected SHA-256 that is not 64 hex digits). Not
    /// retryable.
    case invalidArgument(String)
    /// A file-system call on the `.part`, the sidecar or the destination failed with `errno`.
    /// Not retryable.
    case fileSystem(operation: String, path: String, errno: Int32)

    /// Always `.stop`.
    public var retryDecision: RetryDecision { .stop }

    public var description: String {
        switch self {
        case .invalidArgument(let reason): "invalid argument: \(reason)"
        case .fileSystem(_, let path, let code):
            ErrnoDescription.describe(code, path: path) + (code == ENOSPC ? "; partial file kept" : "")
        }
    }
}
