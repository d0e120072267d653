import Foundation

/// A value guarded by a pthread mutex (`NSLock`), for state shared with plain threads such as
/// URLSession's delegate queue and the hash worker. `package`: `Downloads` uses it for the
/// state `SegmentedDownload` shares between its connections.
///
/// Why not `Synchronization.Mutex`: on Linux it locks with atomics and raw `futex` calls that
/// ThreadSanitizer does not see, so a `Mutex` handed between a `Thread` and a task was reported as
/// a data race under `swift test --sanitize=thread` (seen on `TransportChannel`). `NSLock` is a
/// `pthread_mutex_t`, which ThreadSanitizer intercepts.
///
/// `@unchecked Sendable`: `value` is only read or written inside ``withLock(_:)``, i.e. while
/// holding `lock`, so no two threads ever access it at the same time.
package final class ThreadLock<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    package init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with exclusive access to the value.
    package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
