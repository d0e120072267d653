import ResilienceTesting
import Semaphore
import Synchronization

/// `AsyncSemaphore`: uncontended acquire+release, contended hand-off throughput, and the cost of
/// cancelling one waiter among 1,000 and 10,000 (it must not grow with the queue).
enum SemaphoreBenchmarks {
    static func run() async {
        // Uncontended: one task, acquire then release, permits always free.
        let calls = 2_000_000
        var ours: [Double] = []
        var plain: [Double] = []
        for _ in 0..<5 {
            ours.append(await uncontended(AsyncSemaphore(permits: 1), calls: calls))
            plain.append(await uncontended(PlainSemaphore(permits: 1), calls: calls))
        }
        report("semaphore.uncontended.acquire+release", median(ours), "ns/op",
               peer: ("Mutex+FIFO array", median(plain)))

        // Contended: 1,000 tasks on 4 permits; each holds its permit across a suspension point,
        // so most acquires queue and every release is a hand-off to a waiter.
        ours = []
        plain = []
        for _ in 0..<5 {
            ours.append(await contended(AsyncSemaphore(permits: 4)))
            plain.append(await contended(PlainSemaphore(permits: 4)))
        }
        report("semaphore.contended.1000-tasks-4-permits", median(ours), "ops/s",
               peer: ("Mutex+FIFO array", median(plain)))

        // Cancellation: the cost of cancelling one waiter, in random order, must be flat.
        var random = SeededRandomNumberGenerator(seed: 4)
        var small: [Double] = []
        var large: [Double] = []
        for _ in 0..<5 {
            small.append(await cancelCost(waiters: 1_000, random: &random))
            large.append(await cancelCost(waiters: 10_000, random: &random))
        }
        report("semaphore.cancel.1000-waiters", median(small), "ns/cancel")
        report("semaphore.cancel.10000-waiters", median(large), "ns/cancel",
               peer: ("same at 1,000 waiters", median(small)))
    }

    private static func uncontended(_ semaphore: some BenchSemaphore, calls: Int) async -> Double {
        let start = nanos()
        for _ in 0..<calls {
            do { try await semaphore.acquire() } catch { fatalError("\(error)") }
            semaphore.release()
        }
        return Double(nanos() - start) / Double(calls)
    }

    private static func contended(_ semaphore: some BenchSemaphore) async -> Double {
        let tasks = 1_000
        let rounds = 50
        let start = nanos()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    for _ in 0..<rounds {
                        do { try await semaphore.acquire() } catch { fatalError("\(error)") }
                        await Task.yield() // hold the permit while others run and queue up
                        semaphore.release()
                    }
                }
            }
        }
        return Double(tasks * rounds) / (Double(nanos() - start) / 1e9)
    }

    /// Nanoseconds per `Task.cancel()` of a queued waiter (the cancellation handler runs inside
    /// it: the waiter leaves the queue and its continuation is resumed).
    private static func cancelCost(waiters count: Int, random: inout SeededRandomNumberGenerator) async -> Double {
        let semaphore = AsyncSemaphore(permits: 1)
        do { try await semaphore.acquire() } catch { fatalError("\(error)") }
        let tasks = (0..<count).map { _ in Task { try await semaphore.acquire() } }
        await semaphore.waiters(atLeast: count)
        let order = Array(0..<count).shuffled(using: &random)
        let start = nanos()
        for index in order { tasks[index].cancel() }
        let elapsed = nanos() - start
        for task in tasks { _ = try? await task.value }
        precondition(semaphore.waitingCount == 0)
        semaphore.release()
        return Double(elapsed) / Double(count)
    }

    private static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}

/// What the benchmark loops need, so one loop measures both semaphores.
protocol BenchSemaphore: Sendable {
    nonisolated(nonsending) func acquire() async throws
    func release()
}

extension AsyncSemaphore: BenchSemaphore {
    nonisolated(nonsending) func acquire() async throws { try await acquire(permits: 1) }
    func release() { release(permits: 1) }
}

/// The peer: the plainest correct async semaphore, a `Mutex` around a count and a FIFO array of
/// continuations (no cancellation, no timeouts, O(n) removal from the front).
final class PlainSemaphore: BenchSemaphore {
    private let state: Mutex<(count: Int, waiters: [UnsafeContinuation<Void, Never>])>

    init(permits: Int) { state = Mutex((permits, [])) }

    nonisolated(nonsending) func acquire() async throws {
        let acquired = state.withLock { state in
            guard state.count > 0 else { return false }
            state.count -= 1
            return true
        }
        if acquired { return }
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let acquired = state.withLock { state in
                guard state.count > 0 else {
                    state.waiters.append(continuation)
                    return false
                }
                state.count -= 1
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    func release() {
        let next = state.withLock { state -> UnsafeContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.count += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
