import Synchronization

/// A value behind a lock that ThreadSanitizer understands: the package's one lock helper, for
/// state shared between tasks and plain threads (URLSession's delegate queue, the hash worker, the
/// test server's and child process's threads, timers).
///
/// ## Why not a bare `Synchronization.Mutex`
///
/// On Linux, `Mutex` locks with atomics and, when contended, hands the lock over inside the kernel
/// (a priority-inheritance `futex`). ThreadSanitizer intercepts `pthread_mutex_*` but does not
/// model those `futex` calls, so it does not see that one critical section happens before the
/// next, and reports false "Swift access races" between them: seen with four POSIX threads
/// incrementing a counter in `Mutex.withLock` (Swift 6.3.1), with a `Mutex` handed between a
/// `Thread` and a task (`TransportChannel`), and in `AsyncSemaphore` and `ManualClock`.
///
/// So every critical section here also does an acquire load at its start and a release store at
/// its end of a private atomic word, ``edge``. That states to the sanitizer the ordering the lock
/// already guarantees. On x86-64 both compile to plain moves (no fence, no locked instruction),
/// so the lock costs what a `Mutex` costs. Before this helper the package solved the same problem
/// five ways (`NSLock` wrappers `ThreadLock` and `LockedState`, the same atomic word written out
/// in `AsyncSemaphore`, `ManualClock` and `ChildProcess`, and a pair of atomics for progress).
///
/// Not reentrant: `body` must not call ``withLock(_:)`` on the same instance. Resume
/// continuations and do I/O outside the lock (return what to resume from `body`).
package final class LockedValue<Value>: Sendable {
    @usableFromInline let mutex: Mutex<Value>
    /// Touched only inside the lock; see the type's documentation.
    @usableFromInline let edge = Atomic<Int>(0)

    /// A lock guarding `value`.
    package init(_ value: consuming sending Value) {
        mutex = Mutex(value)
    }

    /// Runs `body` with exclusive access to the value and returns its result.
    @inlinable @inline(__always)
    package func withLock<Result, Failure: Error>(
        _ body: (inout sending Value) throws(Failure) -> sending Result
    ) throws(Failure) -> sending Result {
        try mutex.withLock { (value: inout sending Value) throws(Failure) -> sending Result in
            _ = edge.load(ordering: .acquiring)
            defer { edge.store(0, ordering: .releasing) }
            return try body(&value)
        }
    }
}
