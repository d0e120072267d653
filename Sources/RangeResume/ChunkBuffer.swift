import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A 1 MiB receive buffer shared by both engines: filled in place (the socket engine `recv`s into
/// it; the URLSession engine coalesces the session's 16 KiB chunks into it), then handed to the
/// channel as `Data` that owns the memory (no copy; it goes back to the ``ChunkBufferPool`` when
/// the `Data` is freed) when well used, or copied out (and the buffer
/// kept) when only a little arrived — so a trickle of small reads never pins 1 MiB per queued chunk.
///
/// Not `Sendable` (it owns a raw allocation); each engine keeps it confined to one thread, or
/// behind a lock.
struct ChunkBuffer {
    static let capacity = 1 << 20
    private let pool: ChunkBufferPool
    private(set) var base: UnsafeMutableRawPointer
    var count = 0
    var space: Int { Self.capacity - count }
    var end: UnsafeMutableRawPointer { base + count }

    /// - Parameter pool: where the buffer's allocations come from and go back to; by default
    ///   one of its own (buffers of one exchange share one, so they are reused).
    init(pool: ChunkBufferPool = ChunkBufferPool()) {
        self.pool = pool
        self.base = pool.obtain()
    }

    /// The bytes received so far, as `Data`; the buffer is empty afterwards.
    mutating func take() -> Data {
        defer { count = 0 }
        if count < Self.capacity / 4 { return Data(bytes: base, count: count) }
        let full = Data(bytesNoCopy: base, count: count, deallocator: .custom { [pool] pointer, _ in pool.recycle(pointer) })
        base = pool.obtain()
        return full
    }

    /// Copies `bytes` in; the caller keeps `bytes.count <= space`.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        end.copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// Gives the buffer back to its pool; call once, when done with it.
    func release() { pool.recycle(base) }
}
