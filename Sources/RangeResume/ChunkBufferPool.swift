import ResilienceSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Recycles the 1 MiB allocations of one exchange's ``ChunkBuffer``s.
///
/// A chunk handed to the consumer is freed on another thread than the one that allocated it, a
/// mebibyte at a time, hundreds of times a second. glibc serves those from per-thread arenas and
/// keeps much of what it frees there, so without reuse a URLSession download's resident memory
/// crept up over the transfer (figures: `Documentation/RangeResume.md`, "The URLSession engine").
/// With the pool, an exchange allocates only as many buffers as are ever in flight at once, then
/// reuses them; it keeps at most ``retained`` idle ones and frees the rest, and frees all of them
/// when the last chunk and the pool are gone.
final class ChunkBufferPool: Sendable {
    /// Idle buffers, as addresses (a raw pointer is not `Sendable`; each address is owned by the
    /// pool alone while it is in this list).
    private let idle = LockedValue<[UInt]>([])
    /// Most idle buffers kept for reuse.
    let retained: Int

    init(retained: Int = 4) {
        self.retained = retained
    }

    deinit {
        for address in idle.withLock({ $0 }) { munmap(UnsafeMutableRawPointer(bitPattern: address), ChunkBuffer.capacity) }
    }

    /// Idle buffers kept now (for tests).
    var idleCount: Int { idle.withLock { $0.count } }

    /// A buffer of ``ChunkBuffer/capacity`` bytes: an idle one, or a new allocation.
    func obtain() -> UnsafeMutableRawPointer {
        if let address = idle.withLock({ $0.popLast() }), let pointer = UnsafeMutableRawPointer(bitPattern: address) {
            return pointer
        }
        // Mapped, not malloc'ed: an unmapped buffer is returned to the system at once, whatever
        // thread frees it (glibc's per-thread arenas would keep it).
        let pointer = mmap(nil, ChunkBuffer.capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let pointer, pointer != MAP_FAILED else { fatalError("ChunkBufferPool: mmap failed (errno \(errno))") }
        return pointer
    }

    /// Takes `pointer` (from ``obtain()``) back: kept for reuse, or freed when enough are idle.
    func recycle(_ pointer: UnsafeMutableRawPointer) {
        let kept = idle.withLock { idle in
            guard idle.count < retained else { return false }
            idle.append(UInt(bitPattern: pointer))
            return true
        }
        if !kept { munmap(pointer, ChunkBuffer.capacity) }
    }
}
