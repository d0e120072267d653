import Synchronization

/// A token bucket shared by many retry loops that stops retry storms.
///
/// Modelled on gRPC retry throttling and the AWS SDKs' retry quota: every retry spends
/// ``retryCost`` tokens and every success puts ``successRefill`` back, up to ``capacity``. When a
/// failure finds fewer than ``retryCost`` tokens, it is not retried: if a dependency is down,
/// callers fail fast instead of multiplying the load by `maxAttempts`.
///
/// Share one budget (it is a `final class`, `Sendable`) between all calls to the same service:
/// ```swift
/// let budget = RetryBudget()
/// let policy = try RetryPolicy(budget: budget)
/// ```
public final class RetryBudget: Sendable {
    /// The most tokens the bucket holds; it starts full.
    public let capacity: Int
    /// Tokens one retry spends.
    public let retryCost: Int
    /// Tokens one successful call returns.
    public let successRefill: Int

    /// Lock-free: one compare-and-swap per call (and visible to ThreadSanitizer, unlike a
    /// contended `Mutex` on Linux, whose hand-over happens in the kernel).
    private let tokens: Atomic<Int>

    /// Creates a full bucket.
    ///
    /// - Parameters:
    ///   - capacity: default 500 tokens (the AWS SDK default).
    ///   - retryCost: default 5 tokens: with the defaults, 100 retries in a row empty the bucket.
    ///   - successRefill: default 1 token.
    /// Negative values are treated as zero.
    public init(capacity: Int = 500, retryCost: Int = 5, successRefill: Int = 1) {
        self.capacity = max(capacity, 0)
        self.retryCost = max(retryCost, 0)
        self.successRefill = max(successRefill, 0)
        self.tokens = Atomic(max(capacity, 0))
    }

    /// The tokens in the bucket now (instantly stale under concurrency).
    public var availableTokens: Int { tokens.load(ordering: .relaxed) }

    /// Spends ``retryCost`` tokens for one retry.
    ///
    /// - Returns: `false`, spending nothing, when the bucket holds too few: do not retry.
    public func tryWithdraw() -> Bool {
        var current = tokens.load(ordering: .relaxed)
        while current >= retryCost {
            let (exchanged, original) = tokens.compareExchange(
                expected: current, desired: current - retryCost, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Returns ``successRefill`` tokens after a successful call, never above ``capacity``.
    public func recordSuccess() {
        var current = tokens.load(ordering: .relaxed)
        while current < capacity {
            let (exchanged, original) = tokens.compareExchange(
                expected: current, desired: min(capacity, current + successRefill), ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
