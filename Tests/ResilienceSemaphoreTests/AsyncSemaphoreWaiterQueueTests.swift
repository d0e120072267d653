@testable import ResilienceSemaphore
import Testing

/// The semaphore's waiter queue, transition by transition, without tasks or locks: the
/// "continuations" are plain strings, and each test reads which ones a transition hands back.
@Suite("AsyncSemaphore waiter queue")
struct AsyncSemaphoreWaiterQueueTests {
    typealias Queue = AsyncSemaphoreWaiterQueue<String>

    /// A queue with nothing free and `waiters` (name, permits) queued in this order.
    static func queue(_ waiters: [(String, Int)]) -> Queue {
        var queue = Queue()
        for (index, (name, permits)) in waiters.enumerated() {
            _ = queue.append(UInt64(index), permits: permits, continuation: name)
        }
        return queue
    }

    @Test func releasedPermitsGoToTheOldestWaitersFirst() {
        var queue = Self.queue([("a", 1), ("b", 1), ("c", 1)])
        #expect(queue.grantReady().isEmpty)          // nothing free yet
        queue.available += 2
        #expect(queue.grantReady() == ["a", "b"])
        #expect(queue.queuedCount == 1 && queue.available == 0)
        queue.available += 1
        #expect(queue.grantReady() == ["c"])
        #expect(queue.queuedCount == 0 && queue.queue.isEmpty)
    }

    @Test func aWeightedRequestAtTheHeadBlocksSmallerOnesBehindIt() {
        var queue = Self.queue([("big", 3), ("small", 1)])
        queue.available = 2                           // enough for "small", not for "big"
        #expect(queue.grantReady().isEmpty)
        #expect(queue.queuedCount == 2 && queue.available == 2)
        queue.available = 4
        #expect(queue.grantReady() == ["big", "small"])
        #expect(queue.available == 0)
    }

    @Test func withdrawingTheBlockingHeadServesTheWaitersBehindIt() {
        var queue = Self.queue([("big", 3), ("small", 1), ("other", 1)])
        queue.available = 2
        let (withdrawn, granted) = queue.withdraw(0, timedOut: false)
        #expect(withdrawn == "big" && granted == ["small", "other"])
        #expect(queue.queuedCount == 0 && queue.available == 0)
    }

    @Test func withdrawingAWaiterInTheMiddleKeepsTheOrder() {
        var queue = Self.queue([("a", 1), ("b", 1), ("c", 1)])
        let (withdrawn, granted) = queue.withdraw(1, timedOut: false)
        #expect(withdrawn == "b" && granted.isEmpty && queue.queuedCount == 2)
        queue.available = 2
        let served = queue.grantReady()
        #expect(served == ["a", "c"])
        // A waiter already served (or unknown) is not withdrawn twice.
        let (again, none) = queue.withdraw(1, timedOut: false)
        #expect(again == nil && none.isEmpty)
    }

    @Test func manyWithdrawalsStayCompact() {
        var queue = Self.queue((0..<2_000).map { ("w\($0)", 1) })
        for id in stride(from: UInt64(1), to: 2_000, by: 2) { _ = queue.withdraw(id, timedOut: false) }
        #expect(queue.queuedCount == 1_000)
        #expect(queue.queue.count - queue.queueHead <= 2 * queue.queuedCount + 64)   // stale entries are dropped
        queue.available = 1_000
        #expect(queue.grantReady() == stride(from: 0, to: 2_000, by: 2).map { "w\($0)" })
    }

    @Test func aTimeoutBeforeTheTaskSuspendsIsRemembered() {
        var queue = Queue()
        queue.reserve(7, permits: 1)
        let (withdrawn, granted) = queue.withdraw(7, timedOut: true)
        #expect(withdrawn == nil && granted.isEmpty)  // nothing to resume: it has not suspended
        let timedOut = queue.takeReservation(7)      // …but it will find out that it timed out
        #expect(timedOut)
        queue.reserve(8, permits: 1)
        let notTimedOut = queue.takeReservation(8)
        #expect(!notTimedOut)
    }

    @Test func closeHandsBackEveryWaiterInOrderAndEmptiesTheQueue() {
        var queue = Self.queue([("a", 2), ("b", 1), ("c", 3)])
        queue.available = 1
        _ = queue.withdraw(1, timedOut: false)
        let (waiters, watchers) = queue.close()
        #expect(waiters == ["a", "c"] && watchers.isEmpty)
        #expect(queue.isClosed && queue.queuedCount == 0 && queue.available == 0 && queue.waiters.isEmpty)
        #expect(queue.grantReady().isEmpty)
    }
}
