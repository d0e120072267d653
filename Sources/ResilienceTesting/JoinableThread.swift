#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX thread that must be joined: unlike `Foundation.Thread` or a Dispatch queue, its end is
/// observable, so ``FaultyHTTPServer/stop()`` can guarantee that no server thread outlives it.
///
/// `@unchecked Sendable`: the only stored property is the immutable `pthread_t` (a pointer on
/// Darwin, hence not `Sendable` there). `join()` is called exactly once, by whoever removed the
/// thread from the server's state under its lock, so no two threads ever join the same handle.
final class JoinableThread: @unchecked Sendable {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private let handle: pthread_t

    /// Starts a thread running `body`. Returns `nil` (and `body` never runs) if the system
    /// cannot create a thread.
    init?(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        #if canImport(Darwin)
        var created: pthread_t?
        let result = pthread_create(&created, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, box)
        guard result == 0, let created else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        handle = created
        #else
        var created = pthread_t()
        let result = pthread_create(&created, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, box)
        guard result == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        handle = created
        #endif
    }

    /// Waits for the thread to finish. Call exactly once.
    func join() {
        _ = pthread_join(handle, nil)
    }
}
