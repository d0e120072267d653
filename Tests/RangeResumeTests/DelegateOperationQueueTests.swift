import Foundation
@testable import RangeResume
import ResilienceSupport
import Testing

/// The URLSession engine's backpressure: ``DelegateOperationQueue`` holds whoever adds operations
/// (FoundationNetworking's work-queue thread) while too many wait, and lets go when they drain or
/// when the exchange ends. Driven with a suspended queue, so what waits is exact.
@Suite("DelegateOperationQueue")
struct DelegateOperationQueueTests {
    /// Adds `count` no-op operations to `queue` from a thread of its own (like libcurl's work
    /// queue); returns the counter of finished adds.
    static func addFromThread(_ queue: DelegateOperationQueue, count: Int) -> LockedValue<Int> {
        let added = LockedValue(0)
        let thread = Thread {
            for _ in 0..<count {
                queue.addOperation {}
                added.withLock { $0 += 1 }
            }
        }
        thread.start()
        return added
    }

    /// Waits (yielding, bounded by a generous deadline) until `condition` holds.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            await Task.yield()
        }
        return true
    }

    #if canImport(FoundationNetworking)
    /// A suspended queue and an adder of `count` operations, once that adder is held: after
    /// exactly `highWater` adds.
    static func heldAdder(highWater: Int, lowWater: Int, count: Int) async -> (DelegateOperationQueue, LockedValue<Int>) {
        let queue = DelegateOperationQueue(highWater: highWater, lowWater: lowWater)
        queue.isSuspended = true
        let added = addFromThread(queue, count: count)
        #expect(await eventually { queue.heldCallerCount == 1 })
        #expect(added.withLock { $0 } == highWater)
        #expect(queue.pending == highWater)
        return (queue, added)
    }

    @Test func anAdderIsHeldPastTheHighWaterMarkAndResumesWhenTheQueueDrains() async {
        let (queue, added) = await Self.heldAdder(highWater: 4, lowWater: 1, count: 10)
        queue.isSuspended = false
        #expect(await Self.eventually { added.withLock { $0 } == 10 })
        #expect(await Self.eventually { queue.pending == 0 })
    }

    @Test func stopHoldingBackReleasesAHeldAdderForGood() async {
        let (queue, added) = await Self.heldAdder(highWater: 2, lowWater: 0, count: 6)
        queue.stopHoldingBack()
        // Never held again, although nothing has run.
        #expect(await Self.eventually { added.withLock { $0 } == 6 })
        #expect(queue.pending == 6)
        queue.isSuspended = false
        #expect(await Self.eventually { queue.pending == 0 })
    }
    #endif

    @Test func anOperationAddedFromTheQueueItselfIsNeverHeld() async {
        let queue = DelegateOperationQueue(highWater: 1, lowWater: 0)
        let inner = LockedValue(0)
        queue.addOperation {
            // The queue is at its high-water mark (this operation); adding from here must not wait.
            for _ in 0..<3 { queue.addOperation { inner.withLock { $0 += 1 } } }
        }
        #expect(await Self.eventually { inner.withLock { $0 } == 3 && queue.pending == 0 })
    }
}
