import Foundation

/// Mutable state guarded by a lock that ThreadSanitizer understands.
///
/// Why not `Synchronization.Mutex`: on Linux (measured with Swift 6.3.1) `Mutex` locks with
/// atomics and futex calls that ThreadSanitizer does not model, so four POSIX threads
/// incrementing a counter inside `Mutex.withLock` produce "Swift access race" reports although
/// the program is correct. ``FaultyHTTPServer`` runs on POSIX threads and must be clean under
/// `swift test --sanitize=thread`, so it guards its state with `NSLock` (a `pthread_mutex_t`,
/// which ThreadSanitizer intercepts).
///
/// `@unchecked Sendable` is sound because `state` is private and read or written only inside
/// ``withLock(_:)``, between `lock()` and `unlock()` of the same `NSLock`; `NSLock` itself is
/// thread-safe. `State` must be `Sendable` so that nothing non-sendable escapes through results.
final class LockedState<State: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var state: State

    init(_ state: State) {
        self.state = state
    }

    /// Runs `body` with exclusive access to the state. Not reentrant: `body` must not call
    /// `withLock` on the same instance.
    func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&state)
    }
}
