import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A 1 MiB receive buffer shared by both engines: filled in place (the socket engine `recv`s into
/// it; the URLSession engine coalesces the session's 16 KiB chunks into it), then handed to the
/// channel as `Data` that owns the memory (no copy) when well used, or copied out (and the buffer
/// kept) when only a little arrived — so a trickle of small reads never pins 1 MiB per queued chunk.
///
/// Not `Sendable` (it owns a raw allocation); each engine keeps it confined to one thread, or
/// behind a lock.
struct ChunkBuffer {
    static let capacity = 1 << 20
    private(set) var base = malloc(Self.capacity)!
    var count = 0
    var space: Int { Self.capacity - count }
    var end: UnsafeMutableRawPointer { base + count }

    /// The bytes received so far, as `Data`; the buffer is empty afterwards.
    mutating func take() -> Data {
        defer { count = 0 }
        if count < Self.capacity / 4 { return Data(bytes: base, count: count) }
        let full = Data(bytesNoCopy: base, count: count, deallocator: .free)
        base = malloc(Self.capacity)!
        return full
    }

    /// Copies `bytes` in; the caller keeps `bytes.count <= space`.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        end.copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// Frees the buffer; call once, when done with it.
    func release() { free(base) }
}
