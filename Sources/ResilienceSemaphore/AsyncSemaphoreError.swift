/// Why an ``AsyncSemaphore`` refused to give permits.
///
/// Cancellation is not one of these cases: a cancelled waiter throws the standard
/// `CancellationError`, so `catch is CancellationError` keeps working around a semaphore.
public enum AsyncSemaphoreError: Error, Sendable, Hashable {
    /// The semaphore was closed with ``AsyncSemaphore/close()``, before or while the caller waited.
    case closed
    /// The deadline of a timed acquire passed before enough permits were free.
    case timedOut
    /// More permits were requested at once than the semaphore has in all: the request could
    /// never be served, so it fails instead of blocking the queue forever.
    case requestExceedsCapacity(requested: Int, capacity: Int)
    /// Zero or a negative number of permits was requested.
    case invalidPermitCount(requested: Int)
}

extension AsyncSemaphoreError: CustomStringConvertible {
    /// A one-line English description for logs.
    public var description: String {
        switch self {
        case .closed: "the semaphore is closed"
        case .timedOut: "timed out waiting for semaphore permits"
        case .requestExceedsCapacity(let requested, let capacity):
            "requested \(requested) permits from a semaphore with \(capacity) in all"
        case .invalidPermitCount(let requested): "requested \(requested) permits; at least 1 is needed"
        }
    }
}
