import Foundation

/// A value guarded by an `NSLock`, shared between the tasks of one ``SegmentedDownload``.
///
/// Why not `Synchronization.Mutex`: ThreadSanitizer on Linux does not see its futex-based locking
/// and reports false races when it is contended (see `Documentation/Architecture.md`); `NSLock`
/// is a `pthread_mutex_t`, which it intercepts.
///
/// `@unchecked Sendable`: `value` is only read or written inside ``withLock(_:)``, i.e. while
/// holding `lock`, so no two threads ever access it at the same time.
final class LockedValue<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with exclusive access to the value.
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
