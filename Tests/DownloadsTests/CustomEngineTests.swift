import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceSupport
import ResilienceTesting
import Testing

/// Issue 15: a caller's engine (`RangeResumer.Engine.custom`) carries every request of
/// `SegmentedDownload` and `DownloadQueue` (single-connection and segmented).
@Suite("Custom engine in Downloads", .timeLimit(.minutes(3)))
struct CustomEngineTests {
    /// The socket engine, counting the requests it is given.
    final class CountingEngine: HTTPTransport {
        let count = LockedValue(0)

        func start(_ request: TransportRequest, into channel: TransportChannel) {
            count.withLock { $0 += 1 }
            RangeResumer.Engine.posixSockets.transport.start(request, into: channel)
        }
    }

    @Test func segmentedDownloadUsesTheCustomEngine() async throws {
        let server = try FaultyHTTPServer(), dir = try ScratchDirectory()
        defer { server.stop(); dir.cleanup() }
        let body = seededBytes(512 << 10, seed: 15)
        server.serve(body, at: "/file.bin")
        let engine = CountingEngine()
        let configuration = SegmentedDownloadConfiguration(connections: 3, segmentationThreshold: 0, minimumSegmentSize: 64 << 10)
        _ = try await SegmentedDownload(configuration: configuration, engine: .custom(engine))
            .download(from: server.url(for: "/file.bin"), to: dir.file("out.bin"))
        #expect(contents(of: dir.file("out.bin")) == Data(body))
        #expect(engine.count.withLock { $0 } == server.requests.count && server.requests.count >= 3)
    }

    @Test(arguments: [1, 3]) func downloadQueueUsesTheCustomEngine(connections: Int) async throws {
        let server = try FaultyHTTPServer(), dir = try ScratchDirectory()
        defer { server.stop(); dir.cleanup() }
        let body = seededBytes(512 << 10, seed: 16)
        server.serve(body, at: "/file.bin")
        let engine = CountingEngine()
        let queue = DownloadQueue(store: InMemoryJobStore(), configuration: .init(connectionsPerDownload: connections,
                                                                                  engine: .custom(engine)))
        let events = EventRecorder.recording(queue)
        let id = try await queue.enqueue(url: server.url(for: "/file.bin"), destination: dir.file("out.bin"))
        try await queue.start()
        await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        #expect(try await queue.job(id)?.state == .completed)
        #expect(contents(of: dir.file("out.bin")) == Data(body))
        #expect(engine.count.withLock { $0 } == server.requests.count && !server.requests.isEmpty)
    }
}
