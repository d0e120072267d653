import ResilienceSupport
import Synchronization

/// A counting semaphore for Swift concurrency: at most ``capacity`` permits are out at any time,
/// and tasks that want more wait, in strict arrival order, without blocking a thread.
///
/// Use it to bound concurrent downloads, connections per host or segment workers:
///
/// ```swift
/// let downloads = AsyncSemaphore(permits: 4)
/// try await downloads.withPermit {
///     try await fetch(url)          // at most 4 of these run at once
/// }
/// ```
///
/// ### Guarantees
/// - **FIFO with direct hand-off.** Waiters are served in the order they started waiting. A
///   released permit goes straight to the oldest waiter; a task arriving later never takes it
///   first ("barging"), even if it calls ``acquire(permits:)`` at the same instant.
/// - **Weighted requests block the line.** A request for `n` permits at the head of the queue
///   waits until `n` are free, and the requests behind it wait too, even smaller ones that would
///   fit. That is what prevents a big request from starving; the price is head-of-line blocking.
/// - **Cancellation.** A cancelled waiter leaves the queue at once and its `acquire` throws
///   `CancellationError`; nothing it would have got is lost. If the permits were handed to it
///   before the cancellation was seen, `acquire` returns normally and the caller owns them
///   (release them as usual; ``withPermit(isolation:_:)`` does). Cancellation interrupts waiting
///   only: a task that is already cancelled still gets permits that are free at once, but it
///   never starts waiting.
/// - **Timeouts** (``acquire(permits:deadline:tolerance:clock:)``) run on the clock
///   you pass, so tests drive them with a manual clock. Permits granted at the same moment as
///   the deadline are kept (the acquire succeeds); they are never lost.
/// - **Shutdown.** ``close()`` wakes every waiter with ``AsyncSemaphoreError/closed`` and refuses
///   later acquires; permits already out can still be released.
/// - **Misuse traps.** Releasing more permits than were acquired (the count would exceed
///   ``capacity``) and creating a semaphore with fewer than one permit are programming errors and
///   stop the program with a precondition failure, because they silently break the bound.
///   Bad *requests* (zero permits, more than ``capacity``) throw instead.
///
/// ### Cost
/// The uncontended path is one compare-and-swap on an atomic word for acquire and one for
/// release: no lock, no allocation, no suspension, no actor hop (`acquire` is
/// `nonisolated(nonsending)`: it runs on the caller's executor, and its fast path is inlined into
/// the caller). Once a task waits, a flag in that word sends everyone through one `Mutex` that
/// guards the FIFO queue, so nobody can barge. Waiting costs one continuation; cancelling or
/// timing out a waiter is O(1) (amortized) whatever the queue length: a dictionary removal, the
/// queue entry being dropped lazily. Continuations are always resumed outside the lock.
public final class AsyncSemaphore: Sendable {
    /// The number of permits the semaphore was created with: the most that can be out at once.
    public let capacity: Int

    /// The free permits while nobody waits, updated with one compare-and-swap by the fast paths
    /// (``tryAcquire(permits:)``, ``release(permits:)``), plus two flags. While ``waitingFlag`` is
    /// set the word holds nothing else: the free count lives in `state.available`, and only code
    /// holding the lock changes either. While ``closedFlag`` is set the count is in the word, but
    /// only code holding the lock changes it. So the fast paths run only when no flag is set.
    private let word: Atomic<Int>
    private static let waitingFlag = 1 << 62
    private static let closedFlag = 1 << 61
    private static let countMask = closedFlag - 1

    /// The waiter queue and everything else the slow paths need, behind one lock (a
    /// ThreadSanitizer-visible `Mutex`: see `LockedValue` in the internal `ResilienceSupport`).
    private let state: LockedValue<AsyncSemaphoreWaiterQueue<Continuation>>

    /// The source of waiter ids (never reused).
    private let nextID = Atomic<UInt64>(0)

    /// Creates a semaphore with `permits` permits, all free.
    ///
    /// - Precondition: `1 <= permits <= 2⁶⁰`. A semaphore without permits could never be
    ///   acquired; that is a programming error, so it traps with a message rather than throwing.
    public init(permits: Int) {
        precondition(permits >= 1 && permits <= 1 << 60,
                     "AsyncSemaphore(permits:) needs between 1 and 2^60 permits, got \(permits)")
        self.capacity = permits
        self.word = Atomic(permits)
        self.state = LockedValue(AsyncSemaphoreWaiterQueue())
    }

    // MARK: Introspection

    /// The permits free right now. Instantly stale when other tasks use the semaphore; for tests
    /// and dashboards, never for deciding whether to acquire (use ``tryAcquire(permits:)``).
    public var availablePermits: Int {
        state.withLock { state in
            state.queuedCount > 0 ? state.available : word.load(ordering: .acquiring) & Self.countMask
        }
    }

    /// The number of tasks suspended in an acquire right now. Instantly stale, like
    /// ``availablePermits``; to wait for a count in a test, use ``waiters(atLeast:)``.
    public var waitingCount: Int { state.withLock { $0.queuedCount } }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { word.load(ordering: .acquiring) & Self.closedFlag != 0 }

    // MARK: Acquiring

    /// Takes `permits` permits without waiting, if they are free and nobody is queued before.
    ///
    /// - Returns: `true` when the caller now owns the permits (release them later); `false` when
    ///   they are not free, tasks are already waiting (they go first), the semaphore is closed, or
    ///   `permits` is below 1 or above ``capacity``.
    public func tryAcquire(permits: Int = 1) -> Bool {
        guard permits >= 1 else { return false }
        // Without flags the word is the free count (at most `capacity`, so a request above the
        // capacity fails here too). A flag means waiters (they go first) or closed: refuse.
        var current = word.load(ordering: .relaxed)
        while current >= permits && current & (Self.waitingFlag | Self.closedFlag) == 0 {
            let (exchanged, original) = word.compareExchange(
                expected: current, desired: current - permits,
                successOrdering: .acquiring, failureOrdering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Waits, in FIFO order, until `permits` permits are free and takes them.
    ///
    /// Returns at once, without suspending, when the permits are free and nobody waits: that path
    /// is ``tryAcquire(permits:)`` (one compare-and-swap) inlined into the caller. Every successful
    /// call must be balanced by ``release(permits:)`` with the same count.
    ///
    /// Cancellation interrupts waiting only: a cancelled task still gets permits that are free at
    /// once (like Go's `semaphore.Weighted`), but it never starts or keeps waiting.
    ///
    /// - Throws: `CancellationError` if the task is cancelled before it gets the permits;
    ///   ``AsyncSemaphoreError/closed`` if the semaphore is or gets closed;
    ///   ``AsyncSemaphoreError/requestExceedsCapacity(requested:capacity:)`` or
    ///   ``AsyncSemaphoreError/invalidPermitCount(requested:)`` for a request that can never be
    ///   served. Nothing is taken when it throws.
    @inlinable
    nonisolated(nonsending)
    public func acquire(permits: Int = 1) async throws {
        if tryAcquire(permits: permits) { return }
        try await acquireWaiting(permits: permits)
    }

    /// Like ``acquire(permits:)``, but gives up with
    /// ``AsyncSemaphoreError/timedOut`` when `deadline` passes on `clock` first.
    ///
    /// If the permits are free at once, they are taken even when the deadline has passed. When
    /// they are granted at the same moment as the deadline, the grant wins and the call returns
    /// normally. The timer is a child task sleeping on `clock`; it is cancelled as soon as the call
    /// ends, whichever way, and awaited, so `clock.sleep` must honour cancellation promptly (as
    /// `ContinuousClock`, `SuspendingClock` and `ManualClock` do).
    ///
    /// - Parameters:
    ///   - deadline: an instant of `clock`.
    ///   - tolerance: passed to `clock.sleep(until:tolerance:)`; `nil` (default) for none.
    ///   - clock: the clock that measures the deadline; default `ContinuousClock()`.
    /// - Throws: ``AsyncSemaphoreError/timedOut``, and all that ``acquire(permits:)``
    ///   throws.
    @inlinable
    nonisolated(nonsending)
    public func acquire<C: Clock<Duration>>(
        permits: Int = 1,
        deadline: C.Instant,
        tolerance: Duration? = nil,
        clock: C = ContinuousClock()
    ) async throws {
        if tryAcquire(permits: permits) { return }
        try await acquireWaiting(permits: permits, deadline: deadline, tolerance: tolerance, clock: clock)
    }

    /// Like ``acquire(permits:)``, but gives up with
    /// ``AsyncSemaphoreError/timedOut`` after `timeout` on `clock` (measured from the call).
    ///
    /// - Parameters:
    ///   - timeout: how long to wait at most; zero or negative means "only if free at once".
    ///   - tolerance: passed to the clock's sleep; `nil` (default) for none.
    ///   - clock: default `ContinuousClock()`.
    /// - Throws: ``AsyncSemaphoreError/timedOut``, and all that ``acquire(permits:)``
    ///   throws.
    @inlinable
    nonisolated(nonsending)
    public func acquire<C: Clock<Duration>>(
        permits: Int = 1,
        timeout: Duration,
        tolerance: Duration? = nil,
        clock: C = ContinuousClock()
    ) async throws {
        if tryAcquire(permits: permits) { return }
        try await acquireWaiting(permits: permits, deadline: clock.now.advanced(by: timeout),
                                 tolerance: tolerance, clock: clock)
    }

    /// Returns `permits` permits, handing them directly to the waiters at the head of the queue.
    ///
    /// Never suspends. Releasing after ``close()`` is allowed (permits go back to the pool).
    ///
    /// - Precondition: `permits >= 1`, and the free count must not exceed ``capacity``:
    ///   releasing permits that were never acquired is a bug that would silently lift the bound,
    ///   so it traps.
    public func release(permits: Int = 1) {
        precondition(permits >= 1, "AsyncSemaphore.release(permits:) needs at least 1 permit, got \(permits)")
        // Fast path: nobody waits and not closed, so the permits just go back into the word.
        var current = word.load(ordering: .relaxed)
        while current & (Self.waitingFlag | Self.closedFlag) == 0 {
            checkRelease(permits, free: current)
            let (exchanged, original) = word.compareExchange(
                expected: current, desired: current + permits,
                successOrdering: .releasing, failureOrdering: .relaxed)
            if exchanged { return }
            current = original
        }
        // Slow path: hand the permits to the waiters at the head, under the lock.
        let granted: [Continuation]? = state.withLock { state in
            if state.queuedCount > 0 {
                checkRelease(permits, free: state.available)
                state.available += permits
                let granted = state.grantReady()
                publishIfDrained(&state)
                return granted
            }
            // No waiters (any more): closed (only lock holders change the word then), or the
            // queue drained since the load above (the fast paths may run again).
            var current = word.load(ordering: .acquiring)
            while true {
                checkRelease(permits, free: current & Self.countMask)
                let (exchanged, original) = word.compareExchange(
                    expected: current, desired: current + permits, ordering: .acquiringAndReleasing)
                if exchanged { return nil }
                current = original
            }
        }
        guard let granted else { return }
        for continuation in granted { continuation.resume() }
    }

    /// Traps when releasing `permits` on top of `free` would exceed the capacity.
    private func checkRelease(_ permits: Int, free: Int) {
        precondition(permits <= capacity - free,
                     "AsyncSemaphore.release(permits: \(permits)) would make \(free + permits) permits "
                     + "free but the capacity is \(capacity): more released than acquired")
    }

    // MARK: Scoped use

    /// Runs `body` while holding one permit, and releases it when `body` returns or throws.
    ///
    /// - Throws: what ``acquire(permits:)`` throws (then `body` does not run), or what
    ///   `body` throws (the permit is released first).
    public func withPermit<R>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> R
    ) async throws -> R {
        try await acquire(permits: 1)
        defer { release(permits: 1) }
        return try await body()
    }

    /// Runs `body` while holding `permits` permits, and releases them when `body` returns or
    /// throws. Use a weight above 1 for work that costs more (a big file, a multi-segment job).
    ///
    /// - Throws: what ``acquire(permits:)`` throws (then `body` does not run), or what
    ///   `body` throws (the permits are released first).
    public func withPermits<R>(
        _ permits: Int,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> R
    ) async throws -> R {
        try await acquire(permits: permits)
        defer { release(permits: permits) }
        return try await body()
    }

    // MARK: Shutdown

    /// Closes the semaphore: every waiter throws ``AsyncSemaphoreError/closed`` at once, and every
    /// later acquire throws it too (``tryAcquire(permits:)`` returns `false`).
    ///
    /// Holders keep their permits and may still release them. Calling it again does nothing.
    public func close() {
        let (waiters, watchers) = state.withLock { state in
            // Keep the free count, now next to the closed flag, and stop the fast paths.
            var current = word.load(ordering: .acquiring)
            while current & Self.closedFlag == 0 {
                let free = state.queuedCount > 0 ? state.available : current & Self.countMask
                let (exchanged, original) = word.compareExchange(
                    expected: current, desired: free | Self.closedFlag, ordering: .acquiringAndReleasing)
                if exchanged { break }
                current = original
            }
            return state.close()
        }
        for continuation in waiters { continuation.resume(throwing: AsyncSemaphoreError.closed) }
        for continuation in watchers { continuation.resume() }
    }

    // MARK: Test hand-shake

    /// Returns once at least `count` tasks are suspended in an acquire on this semaphore.
    ///
    /// The deterministic hand-shake for tests: after it returns, those waiters are queued (in the
    /// order they arrived) and a ``release(permits:)`` will reach them. Returns early, without the
    /// count being reached, if the waiting task is cancelled or the semaphore is closed.
    public func waiters(atLeast count: Int) async {
        await state.waitForCount(atLeast: count)
    }

    // MARK: Waiting (private)

    /// The slow path of ``acquire(permits:)``: the permits were not free at once.
    @usableFromInline
    nonisolated(nonsending)
    func acquireWaiting(permits: Int) async throws {
        try validate(permits)
        // `enqueue` takes the permits instead of queuing if they became free meanwhile.
        try await suspend(id: makeID(), permits: permits, reserved: false)
    }

    /// The slow path of the timed acquires. The waiter's id is reserved before the timer starts,
    /// so a timer that fires before the task suspends leaves a mark that the task finds.
    @usableFromInline
    nonisolated(nonsending)
    func acquireWaiting<C: Clock<Duration>>(
        permits: Int, deadline: C.Instant, tolerance: Duration?, clock: C
    ) async throws {
        try validate(permits)
        let expired = deadline <= clock.now
        let id: UInt64
        switch state.withLock({ attempt(&$0, permits, expired: expired) }) {
        case .acquired: return
        case .failed(let error): throw error
        case .wait(let reserved): id = reserved
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await clock.sleep(until: deadline, tolerance: tolerance) } catch { return }
                self.expire(id)
            }
            defer { group.cancelAll() }
            try await self.suspend(id: id, permits: permits, reserved: true)
        }
    }

    private func validate(_ permits: Int) throws(AsyncSemaphoreError) {
        if permits < 1 { throw .invalidPermitCount(requested: permits) }
        if permits > capacity { throw .requestExceedsCapacity(requested: permits, capacity: capacity) }
    }

    /// Suspends the task as waiter `id` until it is granted, cancelled, timed out or closed out.
    /// `reserved`: `id` was recorded by ``attempt(_:_:expired:)`` (timed acquires).
    nonisolated(nonsending)
    private func suspend(id: UInt64, permits: Int, reserved: Bool) async throws {
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: Continuation) in
                let outcome = state.withLock { state in
                    enqueue(&state, id: id, permits: permits, reserved: reserved, continuation: continuation)
                }
                switch outcome {
                case .queued(let watchers): for watcher in watchers { watcher.resume() }
                case .acquired: continuation.resume()
                case .failed(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            withdraw(id, because: .cancelled)
        }
    }

    /// The timer of a timed acquire fired for waiter `id`.
    private func expire(_ id: UInt64) {
        withdraw(id, because: .timedOut)
    }

    private enum Reason { case cancelled, timedOut }

    /// Takes waiter `id` out of the queue and makes it throw, then serves the waiters that it was
    /// blocking. Does nothing if `id` was already served (the grant won the race). If `id` has
    /// not suspended yet, a timeout is recorded for it to find; a cancellation needs no record
    /// since ``enqueue(_:id:permits:reserved:continuation:)`` checks `Task.isCancelled` under the lock.
    private func withdraw(_ id: UInt64, because reason: Reason) {
        let (withdrawn, granted) = state.withLock { state in
            let result = state.withdraw(id, timedOut: reason == .timedOut)
            publishIfDrained(&state)
            return result
        }
        for continuation in granted { continuation.resume() }
        switch reason {
        case .cancelled: withdrawn?.resume(throwing: CancellationError())
        case .timedOut: withdrawn?.resume(throwing: AsyncSemaphoreError.timedOut)
        }
    }

    // MARK: Lock-side transitions (private)

    private func makeID() -> UInt64 {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }

    /// Takes `permits` from the word while nobody waits and the semaphore is open, retrying when a
    /// fast path changes the word meanwhile. Call with the lock held and `queuedCount == 0`.
    private func takeFromWord(_ permits: Int) -> Bool {
        var current = word.load(ordering: .acquiring)
        while current >= permits && current & (Self.waitingFlag | Self.closedFlag) == 0 {
            let (exchanged, original) = word.compareExchange(
                expected: current, desired: current - permits, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// The first lock-side step of a timed acquire: take the permits if they became free and
    /// nobody is queued, else reserve an id to wait with, recorded at once so that a timeout
    /// firing before the task suspends is not missed.
    private func attempt(_ state: inout State, _ permits: Int, expired: Bool) -> Attempt {
        if state.isClosed { return .failed(.closed) }
        if state.queuedCount == 0 && takeFromWord(permits) { return .acquired }
        if expired { return .failed(.timedOut) }
        let id = makeID()
        state.reserve(id, permits: permits)
        return .wait(id)
    }

    /// Queues waiter `id`, unless it must not wait: cancelled, closed, timed out, or the permits
    /// became free with nobody queued since ``attempt(_:_:expired:)``. The first waiter
    /// moves the free count from the word into the state and sets ``waitingFlag``.
    private func enqueue(
        _ state: inout State, id: UInt64, permits: Int, reserved: Bool, continuation: Continuation
    ) -> Enqueued {
        let reservationTimedOut = reserved ? state.takeReservation(id) : false
        // Cancellation is flagged before the cancellation handler runs, and the handler takes
        // this lock too, so a cancellation is seen either here or by the handler.
        if Task.isCancelled { return .failed(CancellationError()) }
        if state.isClosed { return .failed(AsyncSemaphoreError.closed) }
        if reservationTimedOut { return .failed(AsyncSemaphoreError.timedOut) }
        if state.queuedCount == 0 {
            var current = word.load(ordering: .acquiring) // open, no waiters: just the free count
            while true {
                let taking = current >= permits
                let (exchanged, original) = word.compareExchange(
                    expected: current, desired: taking ? current - permits : Self.waitingFlag,
                    ordering: .acquiringAndReleasing)
                if exchanged {
                    if taking { return .acquired }
                    state.available = current
                    break
                }
                current = original
            }
        }
        return .queued(state.append(id, permits: permits, continuation: continuation))
    }

    /// After the last waiter left: moves the free count back into the word, clearing
    /// ``waitingFlag``, so that the fast paths run again.
    private func publishIfDrained(_ state: inout State) {
        guard state.queuedCount == 0, !state.isClosed,
              word.load(ordering: .acquiring) == Self.waitingFlag else { return }
        word.store(state.available, ordering: .releasing)
        state.available = 0
    }

    // MARK: State (private)

    typealias Continuation = UnsafeContinuation<Void, any Error>
    private typealias State = AsyncSemaphoreWaiterQueue<Continuation>

    private enum Attempt {
        case acquired
        case failed(AsyncSemaphoreError)
        case wait(UInt64)
    }

    private enum Enqueued {
        case queued([CheckedContinuation<Void, Never>])
        case acquired
        case failed(any Error)
    }
}
