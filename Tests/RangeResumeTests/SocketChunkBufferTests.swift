import Foundation
@testable import RangeResume
import Testing

/// The socket engine's receive buffer: well-filled chunks are handed over without a copy, small
/// ones are copied out so that a trickle never pins a whole 1 MiB buffer per queued chunk.
@Suite("SocketExchange.ChunkBuffer")
struct SocketChunkBufferTests {
    typealias ChunkBuffer = SocketExchange.ChunkBuffer

    static func fill(_ buffer: inout ChunkBuffer, count: Int, seed: UInt8) {
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0) &+ seed }
        bytes.withUnsafeBytes { buffer.end.copyMemory(from: $0.baseAddress!, byteCount: count) }
        buffer.count += count
    }

    @Test func smallChunkIsCopiedAndTheBufferKept() {
        var buffer = ChunkBuffer()
        defer { buffer.release() }
        let before = buffer.base
        Self.fill(&buffer, count: 1000, seed: 3)
        let data = buffer.take()
        #expect(data == Data((0..<1000).map { UInt8(truncatingIfNeeded: $0) &+ 3 }))
        #expect(buffer.base == before && buffer.count == 0 && buffer.space == ChunkBuffer.capacity)
    }

    @Test func largeChunkIsHandedOverAndANewBufferTaken() {
        var buffer = ChunkBuffer()
        defer { buffer.release() }
        let before = buffer.base
        Self.fill(&buffer, count: ChunkBuffer.capacity, seed: 9)
        #expect(buffer.space == 0)
        let data = buffer.take()
        #expect(data.count == ChunkBuffer.capacity)
        #expect(data.withUnsafeBytes { $0.baseAddress } == UnsafeRawPointer(before))   // no copy
        #expect(data.last == UInt8(truncatingIfNeeded: ChunkBuffer.capacity - 1) &+ 9)
        #expect(buffer.base != before && buffer.count == 0)
        // The handed-over bytes stay valid after the buffer is reused.
        Self.fill(&buffer, count: 4096, seed: 200)
        #expect(data.first == 9)
    }
}
