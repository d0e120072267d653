import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import RangeResume
import ResilienceSupport
import ResilienceTesting
import Testing

/// Issue 15, part 1: the public engine seam — a caller's `URLSessionConfiguration`, custom
/// engines through `RangeResumer.Engine`, and the channel's `async` send.
@Suite("Engine seam", .timeLimit(.minutes(3)))
struct EngineSeamTests {
    /// A caller's settings reach the wire and are kept; the engine's own (no cache, its
    /// timeouts) win over the caller's.
    @Test func aCallersSessionConfigurationIsCopiedAndTheEngineKeepsItsOwnSettings() async throws {
        let caller = URLSessionConfiguration.ephemeral
        caller.httpAdditionalHeaders = ["X-Caller": "kept"]
        caller.httpMaximumConnectionsPerHost = 3
        caller.timeoutIntervalForRequest = 1
        caller.requestCachePolicy = .returnCacheDataElseLoad
        caller.urlCache = URLCache(memoryCapacity: 1 << 20, diskCapacity: 0, diskPath: nil)
        let engine = RangeResumer.Engine.urlSession(configuration: caller)
        caller.httpAdditionalHeaders = ["X-Caller": "changed later"]

        let transport = try #require(engine.transport as? URLSessionTransport)
        let used = transport.sessionConfiguration()
        #expect(used.httpMaximumConnectionsPerHost == 3)
        #expect(used.urlCache == nil && used.requestCachePolicy == .reloadIgnoringLocalCacheData)
        #expect(used.timeoutIntervalForRequest == 24 * 3600 && !used.httpShouldSetCookies)

        let server = try FaultyHTTPServer(); defer { server.stop() }
        let body = randomBytes(40 << 10, seed: 15)
        server.serve(body, at: "/file.bin")
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let resumer = RangeResumer(configuration: .init(computesSHA256: false), engine: engine)
        for name in ["a.bin", "b.bin"] {
            _ = try await resumer.download(from: server.url(for: "/file.bin"), to: dir.file(name))
            #expect(fileData(dir.file(name)) == Data(body))
        }
        // No cache: both downloads reached the server, each with the caller's field.
        let requests = server.requests(for: "/file.bin")
        #expect(requests.count == 2)
        #expect(requests.allSatisfy { $0.headers["X-Caller"] == "kept" }, "\(requests)")
    }

    /// A custom engine runs under `RangeResumer`; `Engine` stays `Hashable`.
    @Test func aCustomEngineRunsUnderTheResumerAndEnginesCompare() async throws {
        let body = randomBytes(3000, seed: 3)
        let scripted = ScriptedTransport([Origin(body: body).full()])
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let result = try await RangeResumer(engine: .custom(scripted)).download(from: URL(string: "http://example.test/f")!,
                                                                               to: dir.file("f"))
        #expect(result.length == 3000 && fileData(dir.file("f")) == Data(body))
        #expect(scripted.requests.count == 1)

        let other = ScriptedTransport([])
        #expect(RangeResumer.Engine.custom(scripted) == .custom(scripted))
        #expect(RangeResumer.Engine.custom(scripted) != .custom(other))
        #expect(RangeResumer.Engine.custom(SocketTransport()) == .custom(SocketTransport()))
        #expect(RangeResumer.Engine.urlSession != .posixSockets && RangeResumer.Engine.urlSession != .custom(scripted))
        #expect(Set<RangeResumer.Engine>([.urlSession, .posixSockets, .custom(scripted), .custom(scripted)]).count == 3)
    }

    /// The `async` send suspends the producer while the queue is over its limit and resumes it
    /// once the consumer has caught up; a cancel resumes it too.
    @Test func asyncSendSuspendsWhileTheQueueIsOverItsLimit() async throws {
        let channel = TransportChannel(limit: 1000)
        let sent = LockedValue(0)
        let producer = Task {
            guard await channel.send(.head(TransportResponseHead(status: 200, headers: [:]))) else { return }
            for _ in 0..<20 {
                guard await channel.send(.body(Data(count: 600))) else { return }
                sent.withLock { $0 += 1 }
            }
            channel.finish()
        }
        var received = 0
        while let event = try await channel.next() {
            if case .body(let data) = event { received += data.count }
            // Never more than the limit plus the one chunk that crossed it.
            #expect(channel.queuedBytes <= 1600)
        }
        await producer.value
        #expect(received == 12000 && sent.withLock { $0 } == 20)
        #expect(channel.peakQueuedBytes <= 1600 && channel.peakQueuedBytes <= channel.queueBound)

        // A producer suspended over the limit (or not yet started) is let go by the cancel: were
        // it not, this test would hang into its time limit.
        let stuck = TransportChannel(limit: 10)
        let blocked = Task { await stuck.send(.body(Data(count: 100))) }
        stuck.cancel(CancellationError())
        _ = await blocked.value
        #expect(await stuck.send(.body(Data(count: 1))) == false)
        #expect(stuck.rejectedAfterCancel >= 1)
    }
}
