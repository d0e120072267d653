import Foundation
import JobStores
import RangeResume

/// Something that happened to a job of a ``DownloadQueue``, delivered on
/// ``DownloadQueue/events`` in the order the queue observed it.
///
/// State changes are always delivered; ``progress(id:_:)`` is throttled by the resumer's
/// `progressInterval` (default 250 ms per running job).
public enum DownloadQueueEvent: Sendable, Hashable {
    /// A new job was added by ``DownloadQueue/enqueue(url:mirrors:destination:expectedLength:expectedSHA256:priority:maxAttempts:notBefore:metadata:)``
    /// (not sent when the enqueue returned an existing job for the same destination).
    case enqueued(id: UUID)
    /// ``DownloadQueue/start()`` found the job `running` with an expired lease (its process died)
    /// and made it due again; it resumes from its `.part` file.
    case recovered(id: UUID)
    /// An attempt began; `attempt` counts from 1 across restarts (it is the store's count).
    case started(id: UUID, attempt: Int)
    /// A throttled progress snapshot of the running attempt.
    case progress(id: UUID, DownloadProgress)
    /// The attempt failed with a transient error; the next one is due at `at` (wall time).
    case retryScheduled(id: UUID, attempt: Int, at: Date, error: JobFailure)
    /// The attempt that just failed (see the preceding ``retryScheduled(id:attempt:at:error:)``)
    /// moves the job to another of its URLs: the next attempt downloads from `to`, one of
    /// `[job.url] + job.mirrors`.
    case switchedMirror(id: UUID, to: URL)
    /// The file is complete, verified and in place; `DownloadResult.sourceURL` is the URL (the
    /// job's own or a mirror) that the final attempt fetched from.
    case completed(id: UUID, DownloadResult)
    /// The job gave up: a permanent error, or its attempts or time budget are used up.
    case failed(id: UUID, JobFailure)
    /// The job was cancelled (by ``DownloadQueue/cancel(_:)`` or through the store).
    case cancelled(id: UUID)
    /// This queue no longer holds the job's lease (it expired and another worker claimed the
    /// job): this queue stopped working on it and left its files alone.
    case leaseLost(id: UUID)

    /// The job the event is about.
    public var id: UUID {
        switch self {
        case .enqueued(let id), .recovered(let id), .started(let id, _), .progress(let id, _),
             .retryScheduled(let id, _, _, _), .switchedMirror(let id, _), .completed(let id, _), .failed(let id, _), .cancelled(let id),
             .leaseLost(let id):
            id
        }
    }

    /// `true` for `completed`, `failed` and `cancelled`: the job's last event from this queue.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        default: false
        }
    }
}
