/// The "wait until at least N" test hand-shake, shared by `AsyncSemaphore.waiters(atLeast:)`,
/// `ManualClock.sleepers(atLeast:)` and the test server's `requests(atLeast:)`.
///
/// A test suspends until a count (queued waiters, sleepers, recorded requests) reaches a number,
/// instead of polling with `Task.yield()`. The owner keeps a `CountWatchers` in the state behind
/// its ``LockedValue`` (its state conforms to ``CountWatched``), calls
/// ``LockedValue/waitForCount(atLeast:)`` to wait, and after every change of the count takes
/// ``CountWatched/satisfiedWatchers()`` under the lock and resumes them outside it.
package struct CountWatchers: Sendable {
    @usableFromInline var watchers: [UInt64: (count: Int, continuation: CheckedContinuation<Void, Never>)] = [:]
    private var nextID: UInt64 = 0

    /// No watchers.
    package init() {}

    /// Whether nobody waits (the common case: a cheap check before ``removeSatisfied(by:)``).
    @inlinable package var isEmpty: Bool { watchers.isEmpty }

    /// The number of tasks waiting.
    var count: Int { watchers.count }

    /// A new watcher id; ids also order the watchers (first come, first resumed).
    mutating func reserveID() -> UInt64 {
        defer { nextID += 1 }
        return nextID
    }

    /// Registers watcher `id`, waiting for the count to reach `count`.
    mutating func add(_ id: UInt64, count: Int, continuation: CheckedContinuation<Void, Never>) {
        watchers[id] = (count, continuation)
    }

    /// Removes watcher `id` (cancelled) and returns its continuation, if it was still waiting.
    mutating func remove(_ id: UInt64) -> CheckedContinuation<Void, Never>? {
        watchers.removeValue(forKey: id)?.continuation
    }

    /// Removes and returns, in arrival order, the watchers waiting for at most `current`.
    package mutating func removeSatisfied(by current: Int) -> [CheckedContinuation<Void, Never>] {
        let ready = watchers.filter { $0.value.count <= current }
        for id in ready.keys { watchers[id] = nil }
        return ready.sorted { $0.key < $1.key }.map(\.value.continuation)
    }

    /// Removes and returns every watcher, in arrival order (the owner closed or stopped).
    package mutating func removeAll() -> [CheckedContinuation<Void, Never>] {
        defer { watchers = [:] }
        return watchers.sorted { $0.key < $1.key }.map(\.value.continuation)
    }
}

/// State behind a ``LockedValue`` whose count tests wait for with ``CountWatchers``.
package protocol CountWatched: Sendable {
    /// The watchers waiting for ``watchedCount``.
    var countWatchers: CountWatchers { get set }
    /// The count watchers wait for.
    var watchedCount: Int { get }
    /// Whether the owner closed or stopped: every watcher returns at once, whatever the count.
    var releasesWatchers: Bool { get }
}

extension CountWatched {
    /// Removes and returns the watchers that may return now, to resume outside the lock.
    ///
    /// `@inlinable`, so that the owner's hot path (every enqueued waiter or sleeper) pays one
    /// specialized `isEmpty` check when nobody watches, not a generic call.
    @inlinable
    package mutating func satisfiedWatchers() -> [CheckedContinuation<Void, Never>] {
        if countWatchers.isEmpty { return [] }
        return releasesWatchers ? countWatchers.removeAll() : countWatchers.removeSatisfied(by: watchedCount)
    }
}

extension LockedValue where Value: CountWatched {
    /// Returns once the state's ``CountWatched/watchedCount`` is at least `count`, or at once when
    /// the owner closed or stopped (``CountWatched/releasesWatchers``) or the calling task is
    /// cancelled.
    package func waitForCount(atLeast count: Int) async {
        let id = withLock { $0.countWatchers.reserveID() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready: Bool = withLock { state in
                    if Task.isCancelled || state.releasesWatchers || state.watchedCount >= count { return true }
                    state.countWatchers.add(id, count: count, continuation: continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            withLock { $0.countWatchers.remove(id) }?.resume()
        }
    }
}
