import Foundation
import ResilienceRetry

/// Why a ``RangeFetcher`` request for one byte range failed, other than HTTP statuses
/// (`HTTPStatusError`), truncation (`IncompleteDownloadError`), stalls and slow transfers
/// (``RangeResumeError``).
///
/// Two kinds of case:
/// - **Restart cases** (``requiresRestart`` is `true`): the resource on the server is no longer
///   the one whose other ranges the caller already holds (the validator changed, the length
///   changed) or the server does not honour ranges. Splicing bytes would corrupt the file: the
///   caller must discard what it fetched and start over. Not retried (`retryDecision` is `.stop`).
/// - **Transient cases**: the response did not line up with the request but the resource may be
///   intact (e.g. a proxy sent a wrong `Content-Range`). Nothing was written. Retryable.
public enum RangeFetchError: Error, Sendable, Hashable, RetryClassifiable, CustomStringConvertible {
    /// The server answered a range request with `200` and the whole body: it ignores `Range`, or
    /// `If-Range` failed because the resource changed. Nothing was written. Restart.
    case rangeIgnored
    /// The `206` carries a different strong validator than the one the caller holds. Nothing was
    /// written. Restart.
    case validatorChanged(expected: String, received: String)
    /// The `Content-Range` total differs from the length the caller holds. Nothing was written.
    /// Restart.
    case lengthChanged(expected: Int64, received: Int64)
    /// `416 Range Not Satisfiable`: the resource is shorter than the caller believes. Restart.
    case rangeNotSatisfiable(contentRange: String?)
    /// The `206`'s `Content-Range` (or `Content-Length`) does not match the requested range.
    /// Nothing was written. Retryable.
    case contentRangeMismatch(requested: String, received: String?)
    /// The range or file arguments are unusable (an empty or negative range, a range past the
    /// total length, a closed file descriptor). Not retryable.
    case invalidArgument(String)

    /// Whether the caller must discard every range fetched so far and start the download again.
    public var requiresRestart: Bool {
        switch self {
        case .rangeIgnored, .validatorChanged, .lengthChanged, .rangeNotSatisfiable: true
        case .contentRangeMismatch, .invalidArgument: false
        }
    }

    /// `.retry` for ``contentRangeMismatch(requested:received:)``, `.stop` otherwise (a restart
    /// is the caller's decision, not a retry of the same request).
    public var retryDecision: RetryDecision {
        if case .contentRangeMismatch = self { return .retry }
        return .stop
    }

    public var description: String {
        switch self {
        case .rangeIgnored: "server sent the whole body (200) to a range request: restart"
        case .validatorChanged(let expected, let received): "validator changed from \(expected) to \(received): restart"
        case .lengthChanged(let expected, let received): "length changed from \(expected) to \(received): restart"
        case .rangeNotSatisfiable(let range): "416 (Content-Range \(range ?? "none")): restart"
        case .contentRangeMismatch(let requested, let received):
            "asked for \(requested), got Content-Range \(received ?? "(none)")"
        case .invalidArgument(let reason): "invalid argument: \(reason)"
        }
    }
}
