import Foundation
@testable import RangeResume
import Testing

/// `ChunkBufferPool`: an exchange's chunks reuse the same few allocations.
@Suite("ChunkBuffer pool")
struct ChunkBufferPoolTests {
    @Test func aFullChunkHandedOverComesBackToThePoolWhenItsDataIsFreed() {
        let pool = ChunkBufferPool(retained: 2)
        var buffer = ChunkBuffer(pool: pool)
        let bytes = [UInt8](repeating: 7, count: ChunkBuffer.capacity)
        var handedOver: Set<UInt> = []
        for _ in 0..<10 {
            let first = UInt(bitPattern: buffer.base)
            bytes.withUnsafeBytes { buffer.append($0) }
            var data: Data? = buffer.take()                  // full: handed over without a copy
            #expect(data?.count == ChunkBuffer.capacity && data?.allSatisfy { $0 == 7 } == true)
            data?.withUnsafeBytes { #expect(UInt(bitPattern: $0.baseAddress) == first) }
            handedOver.insert(first)
            data = nil                                       // the consumer is done with it
            #expect(data == nil)
        }
        // The chunk freed by the consumer is the next one filled: two allocations in all.
        #expect(handedOver.count <= 2)
        buffer.release()
    }

    @Test func aSmallChunkIsCopiedAndTheBufferKept() {
        var buffer = ChunkBuffer(pool: ChunkBufferPool())
        let base = buffer.base
        [UInt8]([1, 2, 3]).withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in buffer.append(bytes) }
        let data = buffer.take()
        #expect(Array(data) == [1, 2, 3])
        #expect(buffer.base == base && buffer.count == 0)
        buffer.release()
    }

    @Test func thePoolKeepsNoMoreIdleBuffersThanItRetains() {
        let pool = ChunkBufferPool(retained: 1)
        let a = pool.obtain(), b = pool.obtain()
        #expect(a != b)
        pool.recycle(a)
        pool.recycle(b)                                      // one too many: unmapped
        #expect(pool.idleCount == 1)
        let again = pool.obtain()
        #expect(again == a || again == b)
        pool.recycle(again)
    }
}
