import ResilienceTesting
import ResilienceSemaphore
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
        // so most acquires queue and every release is a hand-off to a waiter. The second peer is
        // the same array semaphore wrapping its wait in `withTaskCancellationHandler` (with an
        // empty handler): the runtime's price for being cancellable at all, which ours pays too.
        ours = []
        plain = []
        var handled: [Double] = []
        for _ in 0..<5 {
            ours.append(await contended(AsyncSemaphore(permits: 4)))
            plain.append(await contended(PlainSemaphore(permits: 4)))
            handled.append(await contended(PlainSemaphore(permits: 4, cancellationHandler: true)))
        }
        report("semaphore.contended.1000-tasks-4-permits", median(ours), "ops/s",
               peer: ("Mutex+FIFO array", median(plain)))
        report("semaphore.contended.1000-tasks-4-permits", median(ours), "ops/s",
               peer: ("same + cancellation handler", median(handled)))

        // Cancellation: the cost of cancelling one waiter, in random order, must not grow with the
        // queue. Beside it, the floor: cancelling as many suspended tasks that share nothing (the
        // runtime's own cost, which grows with the task count through cache misses). 100,000
        // waiters run once (each figure is already a median of 2,000 blocks): an O(n) queue would
        // cost 10 times more there than at 10,000, an O(1) one plateaus.
        var random = SeededRandomNumberGenerator(seed: 4)
        var cost: [Int: (semaphore: [Double], bare: [Double])] = [:]
        for round in 0..<7 {
            for count in round == 0 ? [1_000, 10_000, 100_000] : [1_000, 10_000] {
                cost[count, default: ([], [])].semaphore.append(await cancelCost(waiters: count, random: &random))
                cost[count, default: ([], [])].bare.append(await bareCancelCost(tasks: count, random: &random))
            }
        }
        let figures = cost.mapValues { (semaphore: median($0.semaphore), bare: median($0.bare)) }
        for count in [1_000, 10_000, 100_000] {
            report("semaphore.cancel.\(count)-waiters", figures[count]!.semaphore, "ns/cancel",
                   peer: ("bare Task.cancel", figures[count]!.bare))
        }
        let (small, large, huge) = (figures[1_000]!, figures[10_000]!, figures[100_000]!)
        report("semaphore.cancel.10000-vs-1000-waiters", large.semaphore, "ns/cancel",
               peer: ("at 1,000", small.semaphore))
        report("semaphore.cancel.100000-vs-10000-waiters", huge.semaphore, "ns/cancel",
               peer: ("at 10,000", large.semaphore))
        report("semaphore.cancel.above-bare.10000-vs-1000", large.semaphore - large.bare, "ns/cancel",
               peer: ("at 1,000", small.semaphore - small.bare))
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
        let cost = timedCancels(tasks, order: order)
        for task in tasks { _ = try? await task.value }
        precondition(semaphore.waitingCount == 0)
        semaphore.release()
        return cost
    }

    /// The floor under ``cancelCost(waiters:random:)``: cancelling `count` suspended tasks that
    /// share nothing (each waits on its own continuation), in the same random order.
    private static func bareCancelCost(tasks count: Int, random: inout SeededRandomNumberGenerator) async -> Double {
        let gate = Gate(count: count)
        let tasks = (0..<count).map { _ in
            Task {
                let slot = Slot()
                await withTaskCancellationHandler {
                    await withUnsafeContinuation { slot.park($0); gate.arrive() }
                } onCancel: {
                    slot.cancel()
                }
            }
        }
        await gate.wait()
        let order = Array(0..<count).shuffled(using: &random)
        let cost = timedCancels(tasks, order: order)
        for task in tasks { await task.value }
        return cost
    }

    /// Cancels `tasks` in `order`, timing each block of 50 cancellations separately, and returns
    /// the median block's nanoseconds per cancellation: a block that the OS preempted (this
    /// machine is shared) is an outlier instead of inflating the whole figure.
    private static func timedCancels<T, E>(_ tasks: [Task<T, E>], order: [Int]) -> Double {
        let block = 50
        var perCancel: [Double] = []
        var index = 0
        while index < order.count {
            let end = min(index + block, order.count)
            let start = nanos()
            for position in index..<end { tasks[order[position]].cancel() }
            perCancel.append(Double(nanos() - start) / Double(end - index))
            index = end
        }
        return median(perCancel)
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
/// continuations (no cancellation, no timeouts, O(n) removal from the front). With
/// `cancellationHandler`, its wait runs inside `withTaskCancellationHandler` with a handler that
/// does nothing, to show what merely registering for cancellation costs.
final class PlainSemaphore: BenchSemaphore {
    private let state: Mutex<(count: Int, waiters: [UnsafeContinuation<Void, Never>])>
    private let cancellationHandler: Bool

    init(permits: Int, cancellationHandler: Bool = false) {
        state = Mutex((permits, []))
        self.cancellationHandler = cancellationHandler
    }

    nonisolated(nonsending) func acquire() async throws {
        let acquired = state.withLock { state in
            guard state.count > 0 else { return false }
            state.count -= 1
            return true
        }
        if acquired { return }
        if cancellationHandler {
            await withTaskCancellationHandler { await wait() } onCancel: {}
        } else {
            await wait()
        }
    }

    nonisolated(nonsending) private func wait() async {
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

/// One parked task of ``SemaphoreBenchmarks/bareCancelCost(tasks:random:)``: resumed on cancel.
private final class Slot: Sendable {
    private let state = Mutex<(continuation: UnsafeContinuation<Void, Never>?, cancelled: Bool)>((nil, false))

    func park(_ continuation: UnsafeContinuation<Void, Never>) {
        let cancelled = state.withLock { state in
            if !state.cancelled { state.continuation = continuation }
            return state.cancelled
        }
        if cancelled { continuation.resume() }
    }

    func cancel() {
        state.withLock { state in
            state.cancelled = true
            return state.continuation.take()
        }?.resume()
    }
}

/// Resumes one waiter once `count` arrivals happened.
private final class Gate: Sendable {
    private let state: Mutex<(left: Int, waiter: UnsafeContinuation<Void, Never>?)>

    init(count: Int) { state = Mutex((count, nil)) }

    func arrive() {
        state.withLock { state in
            state.left -= 1
            return state.left == 0 ? state.waiter.take() : nil
        }?.resume()
    }

    func wait() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let done = state.withLock { state in
                if state.left > 0 { state.waiter = continuation }
                return state.left == 0
            }
            if done { continuation.resume() }
        }
    }
}
