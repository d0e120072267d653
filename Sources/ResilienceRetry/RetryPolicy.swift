/// How a failing operation is retried: how often, how long to wait, and which errors qualify.
///
/// ```swift
/// let policy = try RetryPolicy(maxAttempts: 8, backoff: .exponential(base: .milliseconds(500)),
///                              maxElapsed: .seconds(120))
/// let data = try await retry(policy) { attempt in try await fetch() }
/// ```
///
/// A policy is a validated value: the initializer throws ``ValidationError`` for settings that
/// make no sense, so a policy that exists is always usable.
public struct RetryPolicy: Sendable {
    /// The most attempts, the first one included; ≥ 1. `1` means no retry.
    public let maxAttempts: Int
    /// The delay before each retry.
    public let backoff: Backoff
    /// The total time budget measured on the injected clock from the first attempt, or `nil` for
    /// none. A retry whose delay would end past it is not made: the loop never sleeps past it.
    public let maxElapsed: Duration?
    /// The longest server-requested delay (`Retry-After`) honoured: a longer request is cut to
    /// this. `.zero` ignores `Retry-After` and uses ``backoff``.
    public let maxRetryAfter: Duration
    /// Decides which errors are retried.
    public let classifier: RetryClassifier
    /// An optional shared token bucket; when it is empty, failures are not retried.
    public let budget: RetryBudget?

    /// A reason ``RetryPolicy/init(maxAttempts:backoff:maxElapsed:maxRetryAfter:classifier:budget:)`` rejected its arguments.
    public enum ValidationError: Error, Sendable, Hashable {
        /// `maxAttempts` was below 1.
        case maxAttemptsBelowOne(Int)
        /// The backoff had a negative base or cap, a cap below its base, a multiplier below 1 or
        /// not finite, or a negative constant delay.
        case invalidBackoff
        /// `maxElapsed` was negative.
        case negativeMaxElapsed(Duration)
        /// `maxRetryAfter` was negative.
        case negativeMaxRetryAfter(Duration)
    }

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - maxAttempts: default 5.
    ///   - backoff: default exponential, 1 s base, ×2, 60 s cap, full jitter.
    ///   - maxElapsed: default `nil` (no total budget).
    ///   - maxRetryAfter: default 5 minutes; `.zero` ignores `Retry-After`.
    ///   - classifier: default ``RetryClassifier/default``.
    ///   - budget: default `nil`.
    /// - Throws: ``ValidationError`` for out-of-range values.
    public init(
        maxAttempts: Int = 5,
        backoff: Backoff = .exponential(),
        maxElapsed: Duration? = nil,
        maxRetryAfter: Duration = .seconds(300),
        classifier: RetryClassifier = .default,
        budget: RetryBudget? = nil
    ) throws(ValidationError) {
        guard maxAttempts >= 1 else { throw .maxAttemptsBelowOne(maxAttempts) }
        guard backoff.isValid else { throw .invalidBackoff }
        if let maxElapsed, maxElapsed < .zero { throw .negativeMaxElapsed(maxElapsed) }
        guard maxRetryAfter >= .zero else { throw .negativeMaxRetryAfter(maxRetryAfter) }
        self.init(unchecked: maxAttempts, backoff, maxElapsed, maxRetryAfter, classifier, budget)
    }

    private init(
        unchecked maxAttempts: Int, _ backoff: Backoff, _ maxElapsed: Duration?,
        _ maxRetryAfter: Duration, _ classifier: RetryClassifier, _ budget: RetryBudget?
    ) {
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.maxElapsed = maxElapsed
        self.maxRetryAfter = maxRetryAfter
        self.classifier = classifier
        self.budget = budget
    }

    /// 5 attempts, exponential backoff from 1 s (×2, capped at 60 s, full jitter), `Retry-After`
    /// honoured up to 5 minutes, the default classifier, no total budget.
    public static let `default` = RetryPolicy(
        unchecked: 5, .exponential(), nil, .seconds(300), .default, nil)

    /// A single attempt: the operation's error is rethrown at once.
    public static let none = RetryPolicy(
        unchecked: 1, .constant(.zero), nil, .zero, .default, nil)
}
