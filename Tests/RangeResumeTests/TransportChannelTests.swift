import ResilienceSupport
import Foundation
@testable import RangeResume
import Synchronization
import Testing

/// The non-blocking side of ``TransportChannel`` that the URLSession engine uses: coalescing of
/// small chunks while the consumer is busy, hand-over at once when it waits, and the drain signal.
@Suite("TransportChannel")
struct TransportChannelTests {
    static func chunk(_ index: Int, size: Int = 16 << 10) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) }
    }

    @Test func chunksOfferedWhileTheConsumerIsBusyAreCoalescedIntoMebibyteChunksInOrder() async throws {
        let channel = TransportChannel(limit: 64 << 20)
        var expected: [UInt8] = []
        channel.offer(.head(TransportResponseHead(status: 200, headers: [:])))
        for index in 0..<100 {
            let bytes = Self.chunk(index)
            expected += bytes
            #expect(channel.offer(contentsOf: Data(bytes)))
        }
        #expect(channel.queuedBytes == 100 * (16 << 10))
        channel.finish()
        guard case .head? = try await channel.next() else { Issue.record("head first"); return }
        var sizes: [Int] = []
        var received: [UInt8] = []
        while let event = try await channel.next() {
            guard case .body(let data) = event else { continue }
            sizes.append(data.count)
            received += data
        }
        // 64 chunks fill the first MiB; the other 36 wait in the open buffer until the end.
        #expect(sizes == [1 << 20, 36 * (16 << 10)])
        #expect(received == expected)
        #expect(channel.queuedBytes == 0)
    }

    /// Bytes never wait in the open buffer for more to come: a consumer gets them without an end
    /// of stream (a stuck chunk would hang here, hence the time limit).
    @Test(.timeLimit(.minutes(3))) func aLoneChunkReachesTheConsumerWithoutWaitingForMore() async throws {
        let channel = TransportChannel()
        for index in 0..<5 {
            let bytes = Self.chunk(index, size: 1000)
            if index.isMultiple(of: 2) { #expect(channel.offer(contentsOf: Data(bytes))) }
            async let event = channel.next()
            // Odd rounds: offered while the consumer may already be parked.
            if !index.isMultiple(of: 2) { #expect(channel.offer(contentsOf: Data(bytes))) }
            guard case .body(let got)? = try await event else { Issue.record("expected a body chunk"); return }
            #expect(Array(got) == bytes)
        }
        channel.finish()
        #expect(try await channel.next() == nil)
    }

    @Test func anEventAfterCoalescedBytesStaysBehindThem() async throws {
        let channel = TransportChannel()
        channel.offer(contentsOf: Data(Self.chunk(1, size: 10)))
        channel.offer(.body(Data(Self.chunk(2, size: 20))))
        channel.offer(contentsOf: Data(Self.chunk(3, size: 30)))
        channel.finish()
        var sizes: [Int] = []
        while let event = try await channel.next() {
            if case .body(let data) = event { sizes.append(data.count) }
        }
        #expect(sizes == [10, 20, 30])
    }

    @Test func whenDrainedRunsOnceTheConsumerHasTakenEnough() async throws {
        let channel = TransportChannel(limit: 4 << 20)
        let ran = LockedValue(0)
        channel.whenDrained(to: 0) { ran.withLock { $0 += 1 } }          // already drained: runs now
        #expect(ran.withLock { $0 } == 1)
        for index in 0..<3 {                                             // 3 MiB, in three 1 MiB chunks
            channel.offer(contentsOf: Data(Self.chunk(index, size: 1 << 20)))
        }
        channel.whenDrained(to: 1 << 20) { ran.withLock { $0 += 1 } }
        _ = try await channel.next()
        #expect(ran.withLock { $0 } == 1)                                // 2 MiB still wait
        _ = try await channel.next()
        #expect(ran.withLock { $0 } == 2)                                // 1 MiB waits: at the threshold
        _ = try await channel.next()
        #expect(ran.withLock { $0 } == 2)                                // once only
    }

    @Test func cancelDropsCoalescedBytesAndThePendingDrainAction() async throws {
        let channel = TransportChannel()
        let ran = LockedValue(false)
        channel.offer(contentsOf: Data(Self.chunk(1, size: 5000)))
        channel.whenDrained(to: 0) { ran.withLock { $0 = true } }
        channel.cancel(CancellationError())
        #expect(channel.queuedBytes == 0)
        #expect(!channel.offer(contentsOf: Data(Self.chunk(2, size: 10))))
        await #expect(throws: CancellationError.self) { try await channel.next() }
        #expect(!ran.withLock { $0 })
    }
}
