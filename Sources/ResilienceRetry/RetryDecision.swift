/// What to do after an attempt failed with an error: the answer of a ``RetryClassifier``.
public enum RetryDecision: Sendable, Hashable {
    /// The error is transient: retry after the policy's backoff delay.
    case retry
    /// The error is transient and the server asked for a delay (`Retry-After`): retry after it,
    /// capped by ``RetryPolicy/maxRetryAfter``.
    case retryAfter(Duration)
    /// The error is permanent (or a cancellation): do not retry; rethrow it.
    case stop
}

/// An error that knows whether it is worth retrying.
///
/// The default ``RetryClassifier`` asks errors that conform before any other rule, so modules
/// built on `ResilienceRetry` (and your own code) can mark their errors transient or permanent
/// without a custom classifier.
public protocol RetryClassifiable: Error {
    /// The decision for this error. Return ``RetryDecision/stop`` for permanent failures.
    var retryDecision: RetryDecision { get }
}
