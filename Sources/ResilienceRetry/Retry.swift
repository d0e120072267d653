import Foundation

/// Runs `operation` until it succeeds or `policy` says to stop, sleeping on `clock` between
/// attempts.
///
/// ```swift
/// let file = try await retry(.default) { attempt in
///     try await resumer.download(from: url, to: destination)   // resumes where it stopped
/// }
/// ```
///
/// - Parameters:
///   - policy: attempts, backoff, time budget, classification. Default ``RetryPolicy/default``.
///   - clock: the clock to sleep on; default `ContinuousClock()`. Tests pass a manual clock.
///   - now: the wall time, read only to resolve HTTP-date `Retry-After` values. Default `Date()`.
///   - random: the source of jitter; pass a seeded generator for a reproducible schedule.
///   - onEvent: called once per failed attempt, before sleeping or giving up, with the error, the
///     decision, the delay and the reason (see ``RetryEvent``).
///   - operation: the work; it receives the ``RetryAttempt`` it is making.
/// - Returns: the first successful result.
/// - Throws: the **last error of `operation`, unchanged**, when the classifier says stop, the
///   attempts are used up, the next delay would pass `maxElapsed`, or the budget is empty.
///   `CancellationError` as soon as the task is cancelled while waiting between attempts (the
///   operation's error is then dropped). Cancellation is never retried.
@inlinable  // lets the caller's module specialize the clock, generator and result type
public func retry<R>(
    _ policy: RetryPolicy = .default,
    clock: some Clock<Duration> = ContinuousClock(),
    now: () -> Date = { Date() },
    random: some RandomNumberGenerator = SystemRandomNumberGenerator(),
    isolation: isolated (any Actor)? = #isolation,
    onEvent: (RetryEvent) -> Void = { _ in },
    operation: (RetryAttempt) async throws -> R
) async throws -> R {
    var generator = random
    let start = clock.now
    var number = 1
    var previousError: (any Error)?
    var previousDelay: Duration?
    while true {
        do {
            // The first attempt starts at `start`: no second clock read on the success path.
            let elapsed = number == 1 ? Duration.zero : start.duration(to: clock.now)
            let attempt = RetryAttempt(number: number, previousError: previousError, elapsed: elapsed)
            let result = try await operation(attempt)
            policy.budget?.recordSuccess()
            return result
        } catch {
            let elapsed = start.duration(to: clock.now)
            let decision = Task.isCancelled ? .stop : policy.classifier.classify(error, now: now())
            let action = nextAction(policy, decision: decision, failedAttempt: number, elapsed: elapsed,
                                    previousDelay: previousDelay, generator: &generator)
            onEvent(RetryEvent(attempt: number, error: error, decision: decision, action: action, elapsed: elapsed))
            guard case let .retry(delay, _) = action else { throw error }
            try await clock.sleep(for: delay)
            previousError = error
            previousDelay = delay
            number += 1
        }
    }
}

/// The decision after attempt `failedAttempt` failed; spends a budget token on `.retry`. The one
/// retry schedule of the package: `retry`'s loop calls it in memory, and `DownloadQueue` calls it
/// for a persisted job (with the job's own attempt limit), so both draw the same jitter in the
/// same order for the same generator.
///
/// - Parameter maxAttempts: the attempt limit; default `policy.maxAttempts`.
@usableFromInline
package func nextAction(
    _ policy: RetryPolicy, decision: RetryDecision, failedAttempt: Int, maxAttempts: Int? = nil, elapsed: Duration,
    previousDelay: Duration?, generator: inout some RandomNumberGenerator
) -> RetryEvent.Action {
    if decision == .stop { return .stop(.notRetryable) }
    if failedAttempt >= (maxAttempts ?? policy.maxAttempts) { return .stop(.attemptsExhausted) }
    let delay: Duration, source: RetryEvent.DelaySource
    switch decision {
    case .retryAfter(let requested) where policy.maxRetryAfter > .zero:
        delay = min(max(requested, .zero), policy.maxRetryAfter)
        source = .retryAfter
    case .retry, .retryAfter, .stop:
        delay = policy.backoff.delay(forRetry: failedAttempt, previous: previousDelay, using: &generator)
        source = .backoff
    }
    if let maxElapsed = policy.maxElapsed, elapsed + delay > maxElapsed { return .stop(.elapsedBudgetExceeded) }
    if let budget = policy.budget, !budget.tryWithdraw() { return .stop(.retryBudgetExhausted) }
    return .retry(after: delay, source: source)
}
