/// A report of one failed attempt and what the retry loop does about it.
///
/// Delivered to the `onEvent` closure of ``retry(_:clock:now:random:isolation:onEvent:operation:)``
/// once per failed attempt, before the loop sleeps or gives up: bridge it to your logger or
/// metrics without this package depending on them.
public struct RetryEvent: Sendable, CustomStringConvertible {
    /// Why the loop waits as long as it does.
    public enum DelaySource: Sendable, Hashable {
        /// The policy's backoff.
        case backoff
        /// The server's `Retry-After` (possibly cut to the policy's ``RetryPolicy/maxRetryAfter``).
        case retryAfter
    }

    /// Why the loop gives up and rethrows.
    public enum StopReason: Sendable, Hashable {
        /// The classifier said the error is permanent (or a cancellation).
        case notRetryable
        /// `maxAttempts` attempts were made.
        case attemptsExhausted
        /// The next delay would end past the policy's `maxElapsed`.
        case elapsedBudgetExceeded
        /// The shared ``RetryBudget`` had too few tokens.
        case retryBudgetExhausted
    }

    /// What the loop does next.
    public enum Action: Sendable, Hashable {
        /// Sleeps `delay`, then makes the next attempt.
        case retry(after: Duration, source: DelaySource)
        /// Rethrows the attempt's error.
        case stop(StopReason)
    }

    /// The number of the attempt that failed (1-based).
    public let attempt: Int
    /// The attempt's error.
    public let error: any Error
    /// The classifier's decision for the error.
    public let decision: RetryDecision
    /// What the loop does next.
    public let action: Action
    /// Time since the first attempt started, on the injected clock.
    public let elapsed: Duration

    /// Creates an event (public so tests of event consumers can build one).
    public init(attempt: Int, error: any Error, decision: RetryDecision, action: Action, elapsed: Duration) {
        self.attempt = attempt
        self.error = error
        self.decision = decision
        self.action = action
        self.elapsed = elapsed
    }

    public var description: String {
        switch action {
        case let .retry(delay, source):
            return "attempt \(attempt) failed (\(error)); retrying in \(delay) (\(source))"
        case let .stop(reason):
            return "attempt \(attempt) failed (\(error)); giving up (\(reason))"
        }
    }
}
