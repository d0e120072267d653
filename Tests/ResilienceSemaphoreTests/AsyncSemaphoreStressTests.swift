import ResilienceTesting
import ResilienceSemaphore
import Synchronization
import Testing

/// Permits in use as observed by the tasks that hold them, and the most ever seen at once.
/// Atomics rather than a `Mutex`, so that the meter adds no lock hand-overs of its own.
final class ConcurrencyMeter: Sendable {
    private let current = Atomic<Int>(0)
    private let highest = Atomic<Int>(0)

    func enter(_ permits: Int) {
        let now = current.add(permits, ordering: .sequentiallyConsistent).newValue
        var seen = highest.load(ordering: .sequentiallyConsistent)
        while now > seen {
            let (exchanged, original) = highest.compareExchange(
                expected: seen, desired: now, ordering: .sequentiallyConsistent)
            if exchanged { break }
            seen = original
        }
    }

    func leave(_ permits: Int) { current.subtract(permits, ordering: .sequentiallyConsistent) }
    var inUse: Int { current.load(ordering: .sequentiallyConsistent) }
    var peak: Int { highest.load(ordering: .sequentiallyConsistent) }
}

@Suite("AsyncSemaphore stress")
struct AsyncSemaphoreStressTests {
    enum Outcome: Sendable { case acquired, cancelled, timedOut, closed, unexpected(String) }

    /// 10 rounds of 1,000 tasks (10,000 in all) on 1 to 8 permits, weighted requests, about a
    /// fifth cancelled at random moments and a third with timeouts on a manual clock that moves
    /// while they wait; the last round also closes the semaphore nine tenths of the way.
    /// Not timed: it checks that no permit is lost or duplicated.
    @Test func tenThousandTasksWithRandomCancellationsAndTimeouts() async throws {
        var random = SeededRandomNumberGenerator(seed: 0xD0_5EED)
        for round in 0..<10 {
            let capacity = round % 8 + 1
            try await runRound(capacity: capacity, tasks: 1_000, closing: round == 9, random: &random)
        }
    }

    private func runRound(
        capacity: Int, tasks count: Int, closing: Bool, random: inout SeededRandomNumberGenerator
    ) async throws {
        let semaphore = AsyncSemaphore(permits: capacity)
        let clock = ManualClock()
        let meter = ConcurrencyMeter()

        // Hold everything at first, so that the early tasks queue up and get cancelled or time out
        // while waiting; released three quarters of the way: a cascade of hand-offs then races
        // with the cancellations, timeouts and new arrivals that follow.
        #expect(semaphore.tryAcquire(permits: capacity))
        meter.enter(capacity)
        // Every task reports when it starts; after each 100 the driver waits for their reports,
        // so the tasks really run alongside the driver whatever the scheduling.
        let (arrivals, arrival) = AsyncStream.makeStream(of: Void.self)
        var arrived = arrivals.makeAsyncIterator()

        var tasks: [Task<Outcome, Never>] = []
        for index in 0..<count {
            let weight = Int.random(in: 1...capacity, using: &random)
            let timeout: Duration? = Int.random(in: 0..<3, using: &random) == 0
                ? .seconds(Int.random(in: 1...5, using: &random)) : nil
            let scoped = Bool.random(using: &random)
            tasks.append(Task {
                arrival.yield()
                do {
                    if let timeout {
                        try await semaphore.acquire(permits: weight, timeout: timeout, clock: clock)
                    } else if scoped {
                        return try await semaphore.withPermits(weight) {
                            meter.enter(weight)
                            meter.leave(weight)
                            return .acquired
                        }
                    } else {
                        try await semaphore.acquire(permits: weight)
                    }
                } catch is CancellationError {
                    return .cancelled
                } catch AsyncSemaphoreError.timedOut {
                    return .timedOut
                } catch AsyncSemaphoreError.closed {
                    return .closed
                } catch {
                    return .unexpected("\(error)")
                }
                meter.enter(weight)
                meter.leave(weight)
                semaphore.release(permits: weight)
                return .acquired
            })
            if Int.random(in: 0..<5, using: &random) == 0 {
                tasks[Int.random(in: 0...index, using: &random)].cancel()
            }
            if index % 100 == 99 {
                for _ in 0..<100 { await arrived.next() }
                clock.advance(by: .seconds(1))
            }
            if index == count * 3 / 4 {
                meter.leave(capacity)
                semaphore.release(permits: capacity)
            }
            if closing && index == count * 9 / 10 { semaphore.close() }
        }
        clock.advance(by: .seconds(10))

        var outcomes: [String: Int] = [:]
        for task in tasks {
            switch await task.value {
            case .acquired: outcomes["acquired", default: 0] += 1
            case .cancelled: outcomes["cancelled", default: 0] += 1
            case .timedOut: outcomes["timedOut", default: 0] += 1
            case .closed: outcomes["closed", default: 0] += 1
            case .unexpected(let error): Issue.record("unexpected error: \(error)")
            }
        }
        #expect(outcomes.values.reduce(0, +) == count)
        #expect((outcomes["acquired"] ?? 0) > 0)
        #expect(semaphore.availablePermits == capacity, "permits lost or duplicated: \(outcomes)")
        #expect(semaphore.waitingCount == 0)
        #expect(meter.inUse == 0)
        #expect(meter.peak <= capacity, "more permits in use than the capacity")
        #expect(meter.peak > 0)
        #expect(clock.sleeperCount == 0, "a timeout timer outlived its acquire")
        #expect(semaphore.isClosed == closing)
        #expect((outcomes["closed"] ?? 0) == 0 || closing)
        #expect(semaphore.tryAcquire(permits: capacity) != closing)
        print("AsyncSemaphore stress, \(capacity) permits: \(outcomes.sorted { $0.key < $1.key })")
    }
}
