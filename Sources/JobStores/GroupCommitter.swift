import Dispatch
import Synchronization

/// Shares one `fdatasync` between concurrent writers (``FileJournalJobStore/Durability/groupCommit(window:)``).
///
/// Writers number their appends (a sequence). A writer that needs its append durable calls
/// ``waitDurable(_:)``; if no sync is running, one starts on a private serial queue (after the
/// `window`, if any). A sync covers every append noted before it started, so writers arriving
/// during a sync are all covered by the next single sync.
final class GroupCommitter: Sendable {
    private struct Waiter {
        let sequence: UInt64
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var appended: UInt64 = 0
        var synced: UInt64 = 0
        var file: FileDescriptor?
        var syncing = false
        var waiters: [Waiter] = []
        var failure: JobStoreError?

        /// Removes and returns the waiters `isReady` accepts.
        mutating func takeWaiters(where isReady: (Waiter) -> Bool) -> [Waiter] {
            let ready = waiters.filter(isReady)
            waiters.removeAll(where: isReady)
            return ready
        }
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "JobStores.GroupCommitter")
    private let window: Duration

    init(window: Duration) { self.window = window }

    /// Records that appends up to `sequence` were written to `file`.
    func noteAppended(_ sequence: UInt64, file: FileDescriptor) {
        state.withLock {
            $0.appended = max($0.appended, sequence)
            $0.file = file
        }
    }

    /// Declares everything up to `sequence` durable (a compaction synced it) and wakes waiters.
    func markDurable(upTo sequence: UInt64, file: FileDescriptor?) {
        let ready = state.withLock { state -> [Waiter] in
            state.appended = max(state.appended, sequence)
            state.synced = max(state.synced, sequence)
            state.file = file
            let synced = state.synced
            return state.takeWaiters { $0.sequence <= synced }
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Returns once appends up to `sequence` are durable; throws the sync's error if it failed.
    func waitDurable(_ sequence: UInt64) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enum Action { case resume, fail(JobStoreError), wait, start }
            let action = state.withLock { state -> Action in
                if let failure = state.failure { return .fail(failure) }
                if state.synced >= sequence { return .resume }
                state.waiters.append(Waiter(sequence: sequence, continuation: continuation))
                if state.syncing { return .wait }
                state.syncing = true
                return .start
            }
            switch action {
            case .resume: continuation.resume()
            case .fail(let error): continuation.resume(throwing: error)
            case .wait: break
            case .start: scheduleSync()
            }
        }
    }

    private func scheduleSync() {
        if window > .zero {
            let (seconds, attoseconds) = window.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            queue.asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { self.syncOnce() }
        } else {
            queue.async { self.syncOnce() }
        }
    }

    private func syncOnce() {
        let (target, file) = state.withLock { ($0.appended, $0.file) }
        var failure: JobStoreError?
        do { try file?.syncData() } catch { failure = error }
        let (ready, failed, again) = state.withLock { state -> ([Waiter], JobStoreError?, Bool) in
            if let failure {
                state.failure = failure
                state.syncing = false
                return (state.takeWaiters { _ in true }, failure, false)
            }
            state.synced = max(state.synced, target)
            let synced = state.synced
            let ready = state.takeWaiters { $0.sequence <= synced }
            state.syncing = !state.waiters.isEmpty
            return (ready, nil, state.syncing)
        }
        for waiter in ready {
            if let failed { waiter.continuation.resume(throwing: failed) } else { waiter.continuation.resume() }
        }
        if again { scheduleSync() }
    }
}
