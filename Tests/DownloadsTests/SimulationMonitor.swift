import Foundation
import ResilienceSupport

/// What the queue simulation's driver needs to know to move the `ManualClock` only when nothing
/// but the clock can make progress: the attempts running (claimed and not yet recorded, seen by
/// ``ObservedJobStore``) and the exchanges stalled (seen by ``SimulatedEngine``). The system is
/// *quiescent* when every running attempt sits in a stalled exchange; then every task left waits
/// on the clock (a retry timer, a lease renewal, a stall watchdog) or on a wake-up.
final class SimulationMonitor: Sendable {
    private struct State {
        var running: Set<UUID> = []
        var peakRunning = 0
        var stalled = 0
        var crashRequests = 0
        var version = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]

        mutating func changed() -> [CheckedContinuation<Void, Never>] {
            version += 1
            defer { waiters = [:] }
            return Array(waiters.values)
        }
    }

    private let state = LockedValue(State())

    private func update(_ body: (inout State) -> Void) {
        let waiters = state.withLock { state in
            body(&state)
            return state.changed()
        }
        for waiter in waiters { waiter.resume() }
    }

    func attemptStarted(_ id: UUID) {
        update { state in
            state.running.insert(id)
            state.peakRunning = max(state.peakRunning, state.running.count)
        }
    }

    func attemptEnded(_ id: UUID) { update { $0.running.remove(id) } }

    func changeStalled(by delta: Int) { update { $0.stalled += delta } }

    func requestCrash() { update { $0.crashRequests += 1 } }

    /// Crash requests not yet taken; resets the count.
    func takeCrashRequests() -> Int {
        state.withLock { state in
            defer { state.crashRequests = 0 }
            return state.crashRequests
        }
    }

    /// The change counter; pass it to ``changed(after:)``.
    var version: Int { state.withLock { $0.version } }
    var isQuiescent: Bool { state.withLock { $0.running.count <= $0.stalled } }
    var runningCount: Int { state.withLock { $0.running.count } }
    var peakRunning: Int { state.withLock { $0.peakRunning } }

    /// Returns once anything changed after `version` (at once if it already did), or when the
    /// calling task is cancelled.
    func changed(after version: Int) async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    // Cancellation is flagged before the handler runs and both take this lock.
                    if state.version != version || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
