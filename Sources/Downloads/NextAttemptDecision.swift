import Foundation
import JobStores
import ResilienceRetry

/// When a persisted job's next attempt happens, if at all: the persisted counterpart of `retry`'s
/// loop decision. Given the error of a job's attempt, either the delay before its next attempt or
/// the reason to give up.
///
/// `retry` keeps its attempt count and elapsed time in memory; a ``DownloadQueue`` keeps them in
/// the ``JobStores/JobStore`` (attempts, `createdAt`), so it asks the same
/// ``ResilienceRetry/RetryPolicy`` parts (classifier, backoff, `maxRetryAfter`, `maxElapsed`,
/// budget) one attempt at a time.
///
/// Decorrelated jitter needs the previous delay: the queue stores each chosen delay in the job's
/// metadata under ``previousDelayKey`` (whole nanoseconds, decimal) together with the retry, and
/// passes it back here, so a job's persisted schedule equals `retry`'s in-memory one for the same
/// generator — including after a restart.
enum NextAttemptDecision: Sendable, Equatable {
    /// Retry after `delay` (from the policy's backoff or the server's `Retry-After`).
    case retry(after: Duration)
    /// Give up; `isRetryable` says whether the error itself was transient (then attempts or the
    /// time budget ran out).
    case giveUp(isRetryable: Bool)

    /// The metadata key holding the delay chosen before the job's latest retry, in nanoseconds.
    static let previousDelayKey = "downloads.previous-delay-ns"

    /// The delay chosen before `job`'s latest retry, from its metadata; `nil` before the first.
    static func previousDelay(of job: DownloadJob) -> Duration? {
        job.metadata[previousDelayKey].flatMap { Int64($0) }.map { .nanoseconds(max($0, 0)) }
    }

    /// `delay` as stored under ``previousDelayKey``.
    static func metadataValue(for delay: Duration) -> String {
        let (seconds, attoseconds) = delay.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return String(Int64.max) }
        return String(whole &+ attoseconds / 1_000_000_000)
    }

    /// Decides for a job whose attempt number `job.attempts` failed with `error` at wall time `now`:
    /// `ResilienceRetry`'s own `nextAction` (the schedule `retry` follows in memory), with the
    /// job's attempt limit, its age as the elapsed time and its stored previous delay.
    static func decide(
        for error: any Error, job: DownloadJob, policy: RetryPolicy, now: Date,
        using generator: inout some RandomNumberGenerator
    ) -> NextAttemptDecision {
        let action = nextAction(
            policy, decision: policy.classifier.classify(error, now: now), failedAttempt: job.attempts,
            maxAttempts: job.maxAttempts, elapsed: .seconds(now.timeIntervalSince(job.createdAt)),
            previousDelay: previousDelay(of: job), generator: &generator)
        switch action {
        case .retry(let delay, _): return .retry(after: delay)
        case .stop(.notRetryable): return .giveUp(isRetryable: false)
        case .stop: return .giveUp(isRetryable: true)
        }
    }
}
