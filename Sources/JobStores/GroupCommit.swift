import Dispatch

/// The bookkeeping of ``FileJournalJobStore/Durability/groupCommit(window:)``: concurrent writers
/// share one `fdatasync`.
///
/// Lives inside the store actor (so appends, compaction and syncs are ordered by the actor, and
/// ThreadSanitizer sees every access synchronised). Writers number their appends; a writer that
/// needs its append durable registers as a waiter. One sync loop at a time waits the `window`
/// (if any), takes the highest sequence appended so far, runs one `fdatasync` on a private
/// dispatch queue (blocking I/O stays off the Swift concurrency pool) and wakes every waiter it
/// covered. Writers arriving during a sync are all covered by the next single sync.
struct GroupCommit: Sendable {
    struct Waiter: Sendable {
        let sequence: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    let window: Duration
    /// Every append up to this sequence is durable.
    var synced: UInt64 = 0
    /// Whether a sync loop is running.
    var syncing = false
    var waiters: [Waiter] = []

    init(window: Duration) { self.window = window }

    /// Removes and returns the waiters covered by ``synced``, or all of them when `failed`.
    mutating func takeReady(failed: Bool) -> [Waiter] {
        let synced = self.synced
        let ready = waiters.filter { failed || $0.sequence <= synced }
        waiters.removeAll { failed || $0.sequence <= synced }
        return ready
    }

    private static let queue = DispatchQueue(label: "JobStores.GroupCommit", attributes: .concurrent)

    /// `fdatasync` of `file` on the private queue; returns its error, if any.
    static func sync(_ file: FileDescriptor) async -> JobStoreError? {
        await withCheckedContinuation { (continuation: CheckedContinuation<JobStoreError?, Never>) in
            queue.async {
                do throws(JobStoreError) {
                    try file.syncData()
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: error)
                }
            }
        }
    }

    /// Waits `duration` on the private queue's timer (the batching window).
    static func pause(_ duration: Duration) async {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { continuation.resume() }
        }
    }
}
