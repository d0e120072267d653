import Foundation
@testable import RangeResume
import ResilienceTesting
import Testing

/// The URLSession engine's bounded windows against a real loopback server: a consumer that stops
/// reading holds at most about one window, the engine asks for the next window only once it has
/// drained, and the consumer sees one head and the exact body.
@Suite("URLSession engine windows")
struct URLSessionWindowTests {
    @Test(.timeLimit(.minutes(2))) func aConsumerThatStopsReadingHoldsOneWindowAndGetsTheExactBody() async throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let size = 8 << 20 + 12345
        let body = randomBytes(size, seed: 2201)
        let resource = server.serve(body, at: "/file.bin")
        let channel = TransportChannel(limit: 256 << 10)
        let window = 1 << 20
        let exchange = URLSessionExchange(
            request: TransportRequest(url: server.url(for: "/file.bin"), headers: ["Accept-Encoding": "identity"]),
            channel: channel, window: window)
        exchange.start()
        defer { channel.cancel(CancellationError()) }

        guard case .head(let head)? = try await channel.next() else { Issue.record("expected the head"); return }
        #expect(head.status == 200 && head["content-length"] == String(size) && head["content-range"] == nil)
        // Read nothing until the first window has been answered in full: it all waits here, and
        // no second request goes out while more than half the limit waits.
        let first = await server.requests(atLeast: 1)[0]
        #expect(first.range == "bytes=0-\(window - 1)")
        var received: [UInt8] = []
        received.reserveCapacity(size)
        while let event = try await channel.next() {
            guard case .body(let data) = event else { Issue.record("a second head reached the consumer"); return }
            received += data
        }
        #expect(received.count == size)
        #expect(received == body)
        let requests = server.requests(for: "/file.bin")
        let windows = (size + window - 1) / window
        #expect(requests.count == windows && exchange.requests == windows, "\(requests)")
        for (index, request) in requests.enumerated() {
            let last = min((index + 1) * window, size) - 1
            #expect(request.status == 206 && request.range == "bytes=\(index * window)-\(last)", "\(request)")
            #expect(index == 0 ? request.ifRange == nil : request.ifRange == resource.etag, "\(request)")
        }
        print("URLSession windows: window \(window) B, limit \(channel.limit) B, peak queued \(channel.peakQueuedBytes) B, "
              + "\(requests.count) requests for \(size) B")
        #expect(channel.peakQueuedBytes <= channel.limit / 2 + window)
    }
}
