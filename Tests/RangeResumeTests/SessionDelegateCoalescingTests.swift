import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import RangeResume
import Testing

/// The URLSession engine's delegate: chunks that queue up behind each other in the delegate queue
/// are coalesced into 1 MiB chunks for the writer; a chunk with nothing queued behind it is passed
/// on at once. Driven through a suspended delegate queue, so which chunks were queued is exact.
@Suite("URLSession delegate coalescing")
struct SessionDelegateCoalescingTests {
    /// A session and a task that is never resumed: only passed to the delegate as arguments.
    static func idleTask() -> (URLSession, URLSessionDataTask) {
        let session = URLSession(configuration: .ephemeral)
        return (session, session.dataTask(with: URL(string: "http://127.0.0.1:9/unused")!))
    }

    static func chunk(_ index: Int, size: Int = 16 << 10) -> Data {
        Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) })
    }

    @Test func queuedChunksAreCoalescedIntoMebibyteChunksInOrder() async throws {
        let channel = TransportChannel(limit: 64 << 20)
        // High-water mark above the 101 operations queued here: this test is not about holding.
        let queue = DelegateOperationQueue(highWater: 1000, lowWater: 500)
        queue.isSuspended = true
        let delegate = SessionDelegate(channel: channel, originalURL: URL(string: "http://example.test/f")!, queue: queue)
        let (session, task) = Self.idleTask()
        defer { session.invalidateAndCancel() }
        var expected = Data()
        for index in 0..<100 {
            let data = Self.chunk(index)
            expected.append(data)
            queue.addOperation { delegate.urlSession(session, dataTask: task, didReceive: data) }
        }
        queue.addOperation { delegate.urlSession(session, task: task, didCompleteWithError: nil) }
        #expect(queue.pending == 101)
        queue.isSuspended = false

        var sizes: [Int] = []
        var received = Data()
        while let event = try await channel.next() {
            guard case .body(let data) = event else { continue }
            sizes.append(data.count)
            received.append(data)
        }
        // 64 chunks fill the first MiB; the other 36 wait for the completion, which flushes them.
        #expect(sizes == [1 << 20, 36 * (16 << 10)])
        #expect(received == expected)
        #expect(queue.pending == 0)
    }

    @Test func aChunkWithNothingQueuedBehindItIsPassedOnAtOnce() async throws {
        let channel = TransportChannel(limit: 64 << 20)
        let queue = DelegateOperationQueue()
        let delegate = SessionDelegate(channel: channel, originalURL: URL(string: "http://example.test/f")!, queue: queue)
        let (session, task) = Self.idleTask()
        defer { session.invalidateAndCancel() }
        for index in 0..<5 {
            let data = Self.chunk(index, size: 1000)
            queue.addOperation { delegate.urlSession(session, dataTask: task, didReceive: data) }
            // Waits for this chunk before queueing the next: it must not sit in the buffer.
            let event = try await channel.next()
            guard case .body(let got)? = event else {
                Issue.record("expected a body chunk, got \(String(describing: event))")
                return
            }
            #expect(got == data)
        }
        queue.addOperation { delegate.urlSession(session, task: task, didCompleteWithError: nil) }
        #expect(try await channel.next() == nil)
    }
}
