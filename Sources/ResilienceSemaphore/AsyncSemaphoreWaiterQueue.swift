import ResilienceSupport

/// ``AsyncSemaphore``'s waiter queue as pure code: FIFO order, head-of-line blocking of weighted
/// requests, withdrawal (cancel, timeout) and close. No lock, no atomics, no resuming: each
/// transition returns the continuations to resume, and the semaphore (which keeps the lock-free
/// fast path and the atomic word) resumes them outside its lock. Generic over the continuation
/// type, so its tests drive it with plain values.
///
/// Every continuation is stored in exactly one `Waiter` and is returned only by the transition
/// that removes that waiter, so each is resumed exactly once; that is why the semaphore can use
/// `UnsafeContinuation`.
struct AsyncSemaphoreWaiterQueue<Continuation: Sendable>: CountWatched {
    /// A task that is about to wait (`continuation == nil`, only for timed acquires) or waits.
    struct Waiter: Sendable {
        let permits: Int
        var continuation: Continuation?
        /// The deadline passed before the task suspended.
        var timedOut = false
    }

    /// The free permits while `queuedCount > 0` (the semaphore's atomic word then holds only its
    /// waiting flag).
    var available = 0
    var isClosed = false
    /// Waiters by id. Removal (cancel, timeout) is O(1) here.
    var waiters: [UInt64: Waiter] = [:]
    /// Ids of suspended waiters in arrival order, from `queueHead` on. Ids of waiters that left
    /// stay until they reach the head (skipped then) or until `compact()`.
    var queue: [UInt64] = []
    var queueHead = 0
    /// The number of suspended waiters (the live entries of `queue`).
    var queuedCount = 0
    /// The tasks in ``AsyncSemaphore/waiters(atLeast:)``, waiting for `queuedCount`.
    var countWatchers = CountWatchers()
    var watchedCount: Int { queuedCount }
    var releasesWatchers: Bool { isClosed }

    /// Hands free permits to the waiters at the head, in order, while the head's request fits.
    /// Returns their continuations, to resume outside the lock.
    mutating func grantReady() -> [Continuation] {
        var granted: [Continuation] = []
        while queuedCount > 0 {
            let id = queue[queueHead]
            guard let index = waiters.index(forKey: id) else {
                queueHead += 1 // a waiter that left: skip it
                continue
            }
            let waiter = waiters[index].value
            if waiter.permits > available { break } // head-of-line blocking, by design
            available -= waiter.permits
            waiters.remove(at: index)
            queueHead += 1
            queuedCount -= 1
            if let continuation = waiter.continuation { granted.append(continuation) }
        }
        trimQueue()
        return granted
    }

    /// Removes waiter `id` if it is suspended (and returns its continuation), then serves the
    /// waiters it was blocking. Marks a reserved-but-not-suspended timed waiter as timed out.
    mutating func withdraw(_ id: UInt64, timedOut: Bool) -> (Continuation?, [Continuation]) {
        guard let index = waiters.index(forKey: id) else { return (nil, []) }
        guard let continuation = waiters[index].value.continuation else {
            if timedOut { waiters.values[index].timedOut = true }
            return (nil, [])
        }
        waiters.remove(at: index)
        queuedCount -= 1
        if queue[queueHead] == id {
            queueHead += 1 // the head left: no stale entry to skip later
        } else if queue.count - queueHead > 2 * queuedCount + 64 {
            compact()
        }
        if available > 0 && queuedCount > 0 { return (continuation, grantReady()) }
        trimQueue()
        return (continuation, [])
    }

    /// Drops queue entries of waiters that left. O(n), run after at least n/2 + 64 of them
    /// piled up, so O(1) amortized per cancellation.
    mutating func compact() {
        queue = queue[queueHead...].filter { waiters[$0] != nil }
        queueHead = 0
    }

    /// Keeps the consumed prefix of `queue` from growing without bound.
    mutating func trimQueue() {
        if queuedCount == 0 {
            queue.removeAll(keepingCapacity: true)
            queueHead = 0
        } else if queueHead >= 1_024 && queueHead * 2 >= queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }


    /// Records waiter `id` of a timed acquire before it suspends, so that a timeout firing
    /// first leaves a mark (``withdraw(_:timedOut:)``) that ``takeReservation(_:)`` finds.
    mutating func reserve(_ id: UInt64, permits: Int) {
        waiters[id] = Waiter(permits: permits)
    }

    /// Removes the reservation of waiter `id`. - Returns: whether its deadline already passed.
    mutating func takeReservation(_ id: UInt64) -> Bool {
        waiters.removeValue(forKey: id)?.timedOut == true
    }

    /// Queues waiter `id` behind every other. - Returns: the count watchers now satisfied.
    mutating func append(_ id: UInt64, permits: Int, continuation: Continuation) -> [CheckedContinuation<Void, Never>] {
        waiters[id] = Waiter(permits: permits, continuation: continuation)
        queue.append(id)
        queuedCount += 1
        return satisfiedWatchers()
    }

    /// Closes the queue: every waiter and every count watcher is returned (to be resumed with
    /// `closed`, and released), and nothing is free or queued any more.
    mutating func close() -> (waiters: [Continuation], watchers: [CheckedContinuation<Void, Never>]) {
        available = 0
        isClosed = true
        let continuations = queue[queueHead...].compactMap { waiters[$0]?.continuation }
        let watchers = countWatchers.removeAll()
        waiters = [:]
        queue = []
        queueHead = 0
        queuedCount = 0
        return (continuations, watchers)
    }
}
