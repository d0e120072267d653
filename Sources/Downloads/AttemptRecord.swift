import Foundation
import JobStores
import RangeResume

/// What ``DownloadQueue`` writes to its store, and reports, for the outcome of one attempt: the
/// pure half of recording it. `DownloadQueue` gathers the facts (the outcome, whether a cancel
/// was requested, whether it is stopping), asks ``NextAttemptDecision`` only when the outcome
/// needs a retry schedule, and then executes the record: store writes and events.
enum AttemptRecord: Sendable {
    /// `complete` the job; report `completed`.
    case complete(DownloadResult)
    /// The caller cancelled the job while it ran: remove its partial files, report `cancelled`.
    case cancelled
    /// The queue is stopping abruptly: schedule the job again at once (as retryable), silently.
    case interrupted(JobFailure)
    /// The attempt ended because the job was taken away (cancelled in the store, lease lost, the
    /// store refused): find out which, and report it.
    case lost
    /// Schedule a retry at `at`, merging `metadata` (the delay chosen, the mirror to use next);
    /// report `retryScheduled`, and `switchedMirror` when `mirror` is a new source.
    case retry(at: Date, failure: JobFailure, metadata: [String: String], mirror: URL?)
    /// `fail` the job; report `failed`.
    case fail(JobFailure)

    /// The record of a failed attempt that does not depend on the retry schedule, or `nil` when
    /// the schedule decides (then call ``afterSchedule(_:error:job:now:)``).
    ///
    /// - Parameters:
    ///   - cancelRequested: the caller asked to cancel this job while it ran.
    ///   - taskCancelled: the attempt's task was cancelled (the queue is stopping).
    ///   - stoppingAbruptly: the queue's `stop(graceful: false)` is under way.
    static func beforeSchedule(for error: any Error, cancelRequested: Bool, taskCancelled: Bool,
                               stoppingAbruptly: Bool) -> AttemptRecord? {
        if cancelRequested { return .cancelled }
        guard taskCancelled || error is CancellationError || error is JobStoreError else { return nil }
        if taskCancelled && stoppingAbruptly {
            return .interrupted(JobFailure(message: "interrupted: the download queue was stopped", isRetryable: true))
        }
        return .lost
    }

    /// The record once the retry schedule decided for `job`'s failed attempt at `now`.
    static func afterSchedule(_ decision: NextAttemptDecision, error: any Error, job: DownloadJob, now: Date) -> AttemptRecord {
        let message = DownloadErrorDescription.describe(error, url: MirrorRotation.currentURL(of: job))
        switch decision {
        case .retry(let delay):
            let mirror = MirrorRotation.nextIndex(of: job, after: error)
            return .retry(
                at: now.addingTimeInterval(delay.seconds),
                failure: JobFailure(message: message, isRetryable: true),
                metadata: [NextAttemptDecision.previousDelayKey: NextAttemptDecision.metadataValue(for: delay),
                           MirrorRotation.metadataKey: String(mirror)],
                mirror: mirror != MirrorRotation.currentIndex(of: job) ? MirrorRotation.sources(of: job)[mirror] : nil)
        case .giveUp(let isRetryable):
            return .fail(JobFailure(message: message, isRetryable: isRetryable))
        }
    }
}
