import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Decides, for the error of a failed attempt, whether to retry.
///
/// The ``default`` classifier, in order:
/// 1. `CancellationError` and `URLError.cancelled` → ``RetryDecision/stop``: cancellation is
///    **never** retried.
/// 2. An error conforming to ``RetryClassifiable`` → its own ``RetryClassifiable/retryDecision``
///    (``IncompleteDownloadError`` is retried this way).
/// 3. ``HTTPStatusError`` with 408, 425, 429, 500, 502, 503 or 504 → ``RetryDecision/retryAfter(_:)``
///    when its `Retry-After` header parses (see ``RetryAfter``), else ``RetryDecision/retry``;
///    any other status → ``RetryDecision/stop``.
/// 4. `URLError` timed out, network connection lost, cannot connect to host, cannot find host,
///    DNS lookup failed, not connected to the internet → ``RetryDecision/retry``.
/// 5. Anything else → ``RetryDecision/stop`` (unknown errors are treated as permanent).
///
/// Compose your own with ``init(_:)`` or put rules in front of another with ``adding(_:)``:
/// ```swift
/// let classifier = RetryClassifier.default.adding { error in
///     (error as? MyAPIError)?.isThrottled == true ? .retry : nil   // nil: ask the default
/// }
/// ```
public struct RetryClassifier: Sendable {
    private let body: @Sendable (any Error, Date) -> RetryDecision

    /// A classifier from a closure that receives the error and the current wall time (for
    /// HTTP-date `Retry-After` values).
    public init(_ classify: @escaping @Sendable (_ error: any Error, _ now: Date) -> RetryDecision) {
        self.body = classify
    }

    /// The decision for `error` at wall time `now`.
    public func classify(_ error: any Error, now: Date) -> RetryDecision {
        body(error, now)
    }

    /// A classifier that asks `rule` first and falls back to `self` when `rule` returns `nil`.
    public func adding(_ rule: @escaping @Sendable (_ error: any Error) -> RetryDecision?) -> RetryClassifier {
        let fallback = body
        return RetryClassifier { error, now in rule(error) ?? fallback(error, now) }
    }

    /// The package's classification of transient and permanent errors (see the type's overview).
    public static let `default` = RetryClassifier { error, now in
        if error is CancellationError { return .stop }
        if let classifiable = error as? any RetryClassifiable { return classifiable.retryDecision }
        if let status = error as? HTTPStatusError {
            guard status.isTransient else { return .stop }
            if let header = status.retryAfter, let delay = RetryAfter.parse(header, now: now) {
                return .retryAfter(delay)
            }
            return .retry
        }
        if let urlError = error as? URLError {
            return transientURLErrorCodes.contains(urlError.code) ? .retry : .stop
        }
        return .stop
    }

    /// Retries every error except cancellation.
    public static let always = RetryClassifier { error, _ in
        if error is CancellationError { return .stop }
        if let urlError = error as? URLError, urlError.code == .cancelled { return .stop }
        return .retry
    }

    /// The `URLError` codes the default classifier retries.
    public static let transientURLErrorCodes: Set<URLError.Code> = [
        .timedOut, .networkConnectionLost, .cannotConnectToHost, .cannotFindHost,
        .dnsLookupFailed, .notConnectedToInternet,
    ]
}
