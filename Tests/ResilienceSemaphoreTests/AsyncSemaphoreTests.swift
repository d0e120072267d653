import ResilienceSupport
import ResilienceTesting
import ResilienceSemaphore
import Synchronization
import Testing

/// An append-only log shared by test tasks.
final class Log<Element: Sendable>: Sendable {
    private let storage = LockedValue<[Element]>([])
    func append(_ element: Element) { storage.withLock { $0.append(element) } }
    var values: [Element] { storage.withLock { $0 } }
}

/// Marks the current task as cancelled, so the next acquire sees a cancelled task.
func cancelCurrentTask() {
    withUnsafeCurrentTask { $0?.cancel() }
}

@Suite("AsyncSemaphore")
struct AsyncSemaphoreTests {
    // MARK: Basics

    @Test func tryAcquireTakesFreePermitsOnly() {
        let semaphore = AsyncSemaphore(permits: 2)
        #expect(semaphore.capacity == 2)
        #expect(semaphore.tryAcquire())
        #expect(semaphore.availablePermits == 1)
        #expect(semaphore.tryAcquire())
        #expect(!semaphore.tryAcquire())
        semaphore.release()
        #expect(semaphore.availablePermits == 1)
        #expect(!semaphore.tryAcquire(permits: 2))
        semaphore.release()
        #expect(semaphore.tryAcquire(permits: 2))
        semaphore.release(permits: 2)
        #expect(semaphore.availablePermits == 2)
        #expect(semaphore.waitingCount == 0)
    }

    @Test func uncontendedAcquireReturnsAtOnce() async throws {
        let semaphore = AsyncSemaphore(permits: 3)
        try await semaphore.acquire()
        try await semaphore.acquire(permits: 2)
        #expect(semaphore.availablePermits == 0)
        semaphore.release(permits: 3)
        #expect(semaphore.availablePermits == 3)
    }

    @Test func invalidRequestsThrowTypedErrors() async {
        let semaphore = AsyncSemaphore(permits: 3)
        await #expect(throws: AsyncSemaphoreError.requestExceedsCapacity(requested: 4, capacity: 3)) {
            try await semaphore.acquire(permits: 4)
        }
        await #expect(throws: AsyncSemaphoreError.invalidPermitCount(requested: 0)) {
            try await semaphore.acquire(permits: 0)
        }
        await #expect(throws: AsyncSemaphoreError.invalidPermitCount(requested: -1)) {
            try await semaphore.withPermits(-1) {}
        }
        await #expect(throws: AsyncSemaphoreError.requestExceedsCapacity(requested: 9, capacity: 3)) {
            try await semaphore.acquire(permits: 9, timeout: .seconds(1), clock: ManualClock())
        }
        #expect(!semaphore.tryAcquire(permits: 4))
        #expect(!semaphore.tryAcquire(permits: 0))
        #expect("\(AsyncSemaphoreError.requestExceedsCapacity(requested: 4, capacity: 3))"
                == "requested 4 permits from a semaphore with 3 in all")
        #expect(semaphore.availablePermits == 3)
    }

    // MARK: FIFO and hand-off

    @Test func waitersAreServedInArrivalOrder() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let order = Log<Int>()
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<20 {
            tasks.append(Task {
                try await semaphore.acquire()
                order.append(index)
                semaphore.release()
            })
            await semaphore.waiters(atLeast: index + 1) // index is now queued behind the others
        }
        #expect(semaphore.waitingCount == 20)
        semaphore.release()
        for task in tasks { try await task.value }
        #expect(order.values == Array(0..<20))
        #expect(semaphore.availablePermits == 1)
        #expect(semaphore.waitingCount == 0)
    }

    @Test func releaseHandsThePermitToTheOldestWaiterNotToANewcomer() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let waiter = Task { try await semaphore.acquire() }
        await semaphore.waiters(atLeast: 1)
        semaphore.release()
        // The permit went to the waiter inside `release`: it was never free for a barging task.
        #expect(semaphore.availablePermits == 0)
        #expect(!semaphore.tryAcquire())
        try await waiter.value
        semaphore.release() // on behalf of the waiter
        #expect(semaphore.availablePermits == 1)
    }

    @Test func oneReleaseWakesEveryWaiterThatFits() async throws {
        let semaphore = AsyncSemaphore(permits: 3)
        #expect(semaphore.tryAcquire(permits: 3))
        let tasks = (0..<3).map { _ in Task { try await semaphore.acquire() } }
        await semaphore.waiters(atLeast: 3)
        semaphore.release(permits: 3)
        #expect(semaphore.waitingCount == 0)
        for task in tasks { try await task.value }
        #expect(semaphore.availablePermits == 0)
        semaphore.release(permits: 3)
    }

    @Test func fastPathWorksAgainOnceTheQueueDrains() async throws {
        let semaphore = AsyncSemaphore(permits: 2)
        #expect(semaphore.tryAcquire(permits: 2))
        let waiters = try await enqueue(2, on: semaphore) { _ in try await semaphore.acquire() }
        #expect(!semaphore.tryAcquire()) // queued tasks go first
        semaphore.release()              // to waiter 0
        semaphore.release()              // to waiter 1: the queue is empty again
        for task in waiters { try await task.value }
        #expect(semaphore.waitingCount == 0)
        #expect(semaphore.availablePermits == 0)
        semaphore.release(permits: 2)
        #expect(semaphore.availablePermits == 2)
        #expect(semaphore.tryAcquire(permits: 2)) // no waiters: the lock-free path again
        semaphore.release(permits: 2)
    }

    @Test func releasingMoreThanTheHeadNeedsServesSeveralAndKeepsTheRest() async throws {
        let semaphore = AsyncSemaphore(permits: 5)
        #expect(semaphore.tryAcquire(permits: 5))
        let waiters = try await enqueue(2, on: semaphore) { _ in try await semaphore.acquire(permits: 2) }
        semaphore.release(permits: 5) // 2 + 2 handed over, 1 stays free
        #expect(semaphore.waitingCount == 0)
        #expect(semaphore.availablePermits == 1)
        for task in waiters { try await task.value }
        #expect(semaphore.tryAcquire()) // the remaining permit is back on the fast path
        semaphore.release(permits: 5)
        #expect(semaphore.availablePermits == 5)
    }

    // MARK: Weighted requests

    @Test func largeRequestAtTheHeadBlocksSmallerOnesBehindIt() async throws {
        let semaphore = AsyncSemaphore(permits: 3)
        try await semaphore.acquire(permits: 2) // one permit stays free
        let order = Log<String>()
        let big = Task {
            try await semaphore.acquire(permits: 3)
            order.append("big")
        }
        await semaphore.waiters(atLeast: 1)
        let small = Task {
            try await semaphore.acquire(permits: 1)
            order.append("small")
        }
        await semaphore.waiters(atLeast: 2)
        // The free permit would fit `small`, but `big` is first in line: nobody is served.
        #expect(semaphore.availablePermits == 1)
        #expect(semaphore.waitingCount == 2)

        semaphore.release(permits: 2)
        try await big.value
        #expect(semaphore.waitingCount == 1) // small still waits: big holds all three
        #expect(semaphore.availablePermits == 0)
        semaphore.release(permits: 3)
        try await small.value
        #expect(order.values == ["big", "small"])
        semaphore.release(permits: 1)
        #expect(semaphore.availablePermits == 3)
    }

    @Test func cancellingABlockingHeadServesTheWaitersBehindIt() async throws {
        let semaphore = AsyncSemaphore(permits: 3)
        try await semaphore.acquire(permits: 2)
        let big = Task { try await semaphore.acquire(permits: 3) }
        await semaphore.waiters(atLeast: 1)
        let small = Task { try await semaphore.acquire(permits: 1) }
        await semaphore.waiters(atLeast: 2)

        big.cancel()
        await #expect(throws: CancellationError.self) { try await big.value }
        try await small.value // served with the free permit once big left
        #expect(semaphore.availablePermits == 0)
        #expect(semaphore.waitingCount == 0)
        semaphore.release(permits: 3)
        #expect(semaphore.availablePermits == 3)
    }

    // MARK: Cancellation

    @Test func cancelledWaiterThrowsAndLeavesTheQueue() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let order = Log<Int>()
        let tasks = try await enqueue(3, on: semaphore) { index in
            try await semaphore.acquire()
            order.append(index)
            semaphore.release()
        }
        tasks[1].cancel()
        await #expect(throws: CancellationError.self) { try await tasks[1].value }
        #expect(semaphore.waitingCount == 2)
        #expect(semaphore.availablePermits == 0)
        semaphore.release()
        try await tasks[0].value
        try await tasks[2].value
        #expect(order.values == [0, 2])
        #expect(semaphore.availablePermits == 1)
    }

    @Test func massCancellationInALongQueueKeepsTheOthersInOrder() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let order = Log<Int>()
        let tasks = try await enqueue(3_000, on: semaphore) { index in
            try await semaphore.acquire()
            order.append(index)
            semaphore.release()
        }
        // Cancel two thirds, in random order: enough to make the queue compact its left-overs.
        var random = SeededRandomNumberGenerator(seed: 7)
        let cancelled = Set(Array(0..<3_000).shuffled(using: &random).prefix(2_000))
        for index in cancelled { tasks[index].cancel() }
        var threw = 0
        for index in cancelled {
            do { try await tasks[index].value } catch is CancellationError { threw += 1 }
        }
        #expect(threw == 2_000)
        #expect(semaphore.waitingCount == 1_000)
        semaphore.release()
        for task in tasks.indices where !cancelled.contains(task) { try await tasks[task].value }
        #expect(order.values == (0..<3_000).filter { !cancelled.contains($0) })
        #expect(semaphore.availablePermits == 1)
    }

    @Test func waitersHandShakeReturnsWhenCancelled() async {
        let semaphore = AsyncSemaphore(permits: 1)
        let watcher = Task { await semaphore.waiters(atLeast: 5) }
        watcher.cancel()
        await watcher.value // returns although nobody waits
        #expect(semaphore.waitingCount == 0)
    }

    @Test func cancelledTaskTakesFreePermitsButNeverWaits() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        let lucky = Task {
            cancelCurrentTask()
            try await semaphore.acquire() // free at once: taken, like a lock
        }
        try await lucky.value
        #expect(semaphore.availablePermits == 0)
        let plain = Task {
            cancelCurrentTask()
            try await semaphore.acquire()
        }
        await #expect(throws: CancellationError.self) { try await plain.value }
        let timed = Task {
            cancelCurrentTask()
            try await semaphore.acquire(timeout: .seconds(1), clock: ManualClock())
        }
        await #expect(throws: CancellationError.self) { try await timed.value }
        #expect(semaphore.waitingCount == 0)
        semaphore.release()
        #expect(semaphore.availablePermits == 1)
    }

    @Test func permitGrantedBeforeTheCancellationIsKeptByTheCaller() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let waiter = Task { try await semaphore.acquire() }
        await semaphore.waiters(atLeast: 1)
        semaphore.release() // hands the permit over, under the lock
        waiter.cancel()     // too late: the grant won
        try await waiter.value
        #expect(semaphore.availablePermits == 0)
        semaphore.release()
        #expect(semaphore.availablePermits == 1)
    }

    // MARK: Timeouts

    @Test func timedAcquireThrowsTimedOutWhenTheClockPassesTheDeadline() async throws {
        let clock = ManualClock()
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let waiter = await timedWaiter(on: semaphore, timeout: .seconds(5), clock: clock)
        clock.advance(by: .seconds(4))
        #expect(semaphore.waitingCount == 1) // not due yet: the timer was not even woken
        clock.advance(by: .seconds(1))
        await #expect(throws: AsyncSemaphoreError.timedOut) { try await waiter.value }
        #expect(semaphore.waitingCount == 0)
        #expect(semaphore.availablePermits == 0)
        semaphore.release()
        #expect(semaphore.availablePermits == 1)
    }

    @Test func timedAcquireWithADeadline() async throws {
        let clock = ManualClock()
        let semaphore = AsyncSemaphore(permits: 2)
        try await semaphore.acquire(permits: 2)
        let deadline = clock.now.advanced(by: .seconds(3))
        let waiter = Task { try await semaphore.acquire(permits: 2, deadline: deadline, clock: clock) }
        await clock.sleepers(atLeast: 1)
        clock.advance(to: deadline)
        await #expect(throws: AsyncSemaphoreError.timedOut) { try await waiter.value }
        semaphore.release(permits: 2)
        #expect(semaphore.availablePermits == 2)
    }

    @Test func permitArrivingBeforeTheDeadlineWinsAndStopsTheTimer() async throws {
        let clock = ManualClock()
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let waiter = await timedWaiter(on: semaphore, timeout: .seconds(5), clock: clock)
        semaphore.release()
        try await waiter.value
        #expect(clock.sleeperCount == 0) // the timer task was cancelled and awaited
        #expect(semaphore.availablePermits == 0)
        semaphore.release()
    }

    @Test func permitGrantedAtTheDeadlineIsNotLost() async throws {
        let clock = ManualClock()
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()

        // Grant first, then the deadline: the grant won under the lock, so the call succeeds.
        let first = await timedWaiter(on: semaphore, timeout: .seconds(1), clock: clock)
        semaphore.release()
        clock.advance(by: .seconds(1))
        try await first.value
        #expect(semaphore.availablePermits == 0)

        // Deadline first, then the grant, with no ordering between the timer and the release:
        // whichever wins, the permit ends up either with the caller or back in the pool.
        let second = await timedWaiter(on: semaphore, timeout: .seconds(1), clock: clock)
        clock.advance(by: .seconds(1))
        semaphore.release()
        do {
            try await second.value
            #expect(semaphore.availablePermits == 0)
            semaphore.release()
        } catch AsyncSemaphoreError.timedOut {}
        #expect(semaphore.availablePermits == 1)
        #expect(semaphore.waitingCount == 0)
    }

    @Test func pastDeadlineTimesOutAtOnceUnlessPermitsAreFree() async throws {
        let clock = ManualClock()
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire(timeout: .zero, clock: clock) // free: taken at once
        await #expect(throws: AsyncSemaphoreError.timedOut) {
            try await semaphore.acquire(timeout: .zero, clock: clock)
        }
        #expect(clock.sleeperCount == 0)
        #expect(semaphore.waitingCount == 0)
        semaphore.release()
        try await semaphore.acquire(timeout: .seconds(10)) // default clock, free: no waiting
        semaphore.release()
        try await semaphore.acquire(deadline: .now + .seconds(10)) // a ContinuousClock deadline
        semaphore.release()
    }

    @Test func timedOutHeadServesTheWaitersBehindIt() async throws {
        let clock = ManualClock()
        let semaphore = AsyncSemaphore(permits: 2)
        try await semaphore.acquire()
        let big = await timedWaiter(on: semaphore, permits: 2, timeout: .seconds(1), clock: clock)
        let small = Task { try await semaphore.acquire() }
        await semaphore.waiters(atLeast: 2)
        clock.advance(by: .seconds(1))
        await #expect(throws: AsyncSemaphoreError.timedOut) { try await big.value }
        try await small.value
        semaphore.release(permits: 2)
        #expect(semaphore.availablePermits == 2)
    }

    @Test func cancellingATimedWaiterStopsItsTimer() async throws {
        let clock = ManualClock()
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let waiter = await timedWaiter(on: semaphore, timeout: .seconds(5), clock: clock)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(clock.sleeperCount == 0)
        #expect(semaphore.waitingCount == 0)
        semaphore.release()
        #expect(semaphore.availablePermits == 1)
    }

    // MARK: Scoped use

    @Test func withPermitReleasesOnReturnAndOnThrow() async throws {
        struct Failure: Error {}
        let semaphore = AsyncSemaphore(permits: 2)
        let value = try await semaphore.withPermit {
            #expect(semaphore.availablePermits == 1)
            return 42
        }
        #expect(value == 42)
        #expect(semaphore.availablePermits == 2)
        await #expect(throws: Failure.self) {
            try await semaphore.withPermits(2) {
                #expect(semaphore.availablePermits == 0)
                throw Failure()
            }
        }
        #expect(semaphore.availablePermits == 2)
    }

    @Test func withPermitReleasesWhenTheBodyIsCancelled() async throws {
        let clock = ManualClock()
        let semaphore = AsyncSemaphore(permits: 1)
        let worker = Task {
            try await semaphore.withPermit { try await clock.sleep(for: .seconds(60)) }
        }
        await clock.sleepers(atLeast: 1) // the body runs and holds the permit
        #expect(semaphore.availablePermits == 0)
        worker.cancel()
        await #expect(throws: CancellationError.self) { try await worker.value }
        #expect(semaphore.availablePermits == 1)
    }

    @Test func withPermitCancelledWhileWaitingDoesNotRunTheBody() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        try await semaphore.acquire()
        let ran = Log<Bool>()
        let worker = Task { try await semaphore.withPermit { ran.append(true) } }
        await semaphore.waiters(atLeast: 1)
        worker.cancel()
        await #expect(throws: CancellationError.self) { try await worker.value }
        #expect(ran.values.isEmpty)
        #expect(semaphore.availablePermits == 0) // nothing released on its behalf
        semaphore.release()
    }

    @Test func withPermitRunsOnTheCallersActor() async throws {
        let semaphore = AsyncSemaphore(permits: 1)
        let value = try await MainActorProbe.run(semaphore)
        #expect(value)
    }

    // MARK: close()

    @Test func closeWakesEveryWaiterAndRefusesNewAcquires() async throws {
        let clock = ManualClock()
        let semaphore = AsyncSemaphore(permits: 2)
        try await semaphore.acquire(permits: 2)
        let plain = try await enqueue(3, on: semaphore) { _ in try await semaphore.acquire() }
        let timed = Task { try await semaphore.acquire(timeout: .seconds(9), clock: clock) }
        await semaphore.waiters(atLeast: 4)
        let watcher = Task { await semaphore.waiters(atLeast: 100) }
        semaphore.close()
        for task in plain {
            await #expect(throws: AsyncSemaphoreError.closed) { try await task.value }
        }
        await #expect(throws: AsyncSemaphoreError.closed) { try await timed.value }
        await watcher.value // returned early because of the close
        #expect(clock.sleeperCount == 0)
        #expect(semaphore.isClosed)
        #expect(semaphore.waitingCount == 0)

        await #expect(throws: AsyncSemaphoreError.closed) { try await semaphore.acquire() }
        await #expect(throws: AsyncSemaphoreError.closed) { try await semaphore.withPermit {} }
        semaphore.release(permits: 2) // holders may still give permits back
        #expect(semaphore.availablePermits == 2)
        #expect(!semaphore.tryAcquire())
        semaphore.close() // idempotent
    }

    @Test func closeKeepsTheFreeCountAndTakesReleasesBack() async throws {
        let semaphore = AsyncSemaphore(permits: 3)
        #expect(semaphore.tryAcquire())
        semaphore.close()
        #expect(semaphore.availablePermits == 2)
        #expect(!semaphore.tryAcquire())
        semaphore.release()
        #expect(semaphore.availablePermits == 3)
        await #expect(throws: AsyncSemaphoreError.closed) {
            try await semaphore.acquire(timeout: .seconds(1), clock: ManualClock())
        }
    }

    // MARK: Helpers

    /// Starts a timed acquire and returns once it is queued on `semaphore` and its timer sleeps on
    /// `clock` (`ahead` waiters are already queued).
    private func timedWaiter(
        on semaphore: AsyncSemaphore, permits: Int = 1, timeout: Duration, clock: ManualClock, ahead: Int = 0
    ) async -> Task<Void, any Error> {
        let waiter = Task { try await semaphore.acquire(permits: permits, timeout: timeout, clock: clock) }
        await semaphore.waiters(atLeast: ahead + 1)
        await clock.sleepers(atLeast: 1)
        return waiter
    }

    /// Starts `count` tasks running `body(index)`, each queued on `semaphore` before the next starts.
    private func enqueue(
        _ count: Int, on semaphore: AsyncSemaphore,
        _ body: @escaping @Sendable (Int) async throws -> Void
    ) async throws -> [Task<Void, any Error>] {
        let already = semaphore.waitingCount
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<count {
            tasks.append(Task { try await body(index) })
            await semaphore.waiters(atLeast: already + index + 1)
        }
        return tasks
    }
}

/// Proves that `withPermit` keeps the body on the caller's actor (it takes `#isolation`).
@MainActor
enum MainActorProbe {
    static var counter = 0

    static func run(_ semaphore: AsyncSemaphore) async throws -> Bool {
        try await semaphore.withPermit {
            MainActor.assertIsolated()
            counter += 1 // main-actor state, touched synchronously inside the body
            return counter > 0
        }
    }
}
