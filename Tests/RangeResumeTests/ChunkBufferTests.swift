import Foundation
@testable import RangeResume
import Testing

/// The engines' receive buffer: well-filled chunks are handed over without a copy, small ones are
/// copied out so that a trickle never pins a whole 1 MiB buffer per queued chunk.
@Suite("ChunkBuffer")
struct ChunkBufferTests {

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

    @Test func appendCopiesAfterWhatIsThere() {
        var buffer = ChunkBuffer()
        defer { buffer.release() }
        Self.fill(&buffer, count: 10, seed: 1)
        let more = [UInt8](repeating: 0xAB, count: 5)
        more.withUnsafeBytes { buffer.append($0) }
        buffer.append(UnsafeRawBufferPointer(start: nil, count: 0))
        let data = buffer.take()
        #expect(data == Data((0..<10).map { UInt8($0) &+ 1 } + more))
    }
}
