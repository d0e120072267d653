import Foundation
import RangeResume

/// A test engine: the socket engine's stream relayed into the consumer's channel by a task with
/// the `async` send — an engine built on Swift concurrency — optionally broken on purpose, to
/// show that `TransportConformance` catches it.
struct RelayEngine: HTTPTransport {
    enum Defect: Sendable {
        /// Sends the request without `Range` and `If-Range`.
        case ignoresRange
        /// Ends a failed stream normally (a truncated body looks complete).
        case swallowsErrors
        /// Declares no redirects, but delivers a 3xx as the answer.
        case deliversRedirects
    }

    var defect: Defect?

    func start(_ request: TransportRequest, into channel: TransportChannel) {
        var request = request
        if defect == .ignoresRange {
            request.headers = request.headers.filter { !["range", "if-range"].contains($0.key.lowercased()) }
        }
        let inner = TransportChannel(limit: channel.limit)
        channel.setCancelHandler { inner.cancel(CancellationError()) }
        // Held until the relay task is done, so the consumer can wait for it.
        channel.holdUntilReleased()
        let defect = defect
        Task {
            defer { channel.release() }
            do {
                while let event = try await inner.next() {
                    guard await channel.send(event) else { return }
                }
                channel.finish()
            } catch RangeResumeError.redirectNotFollowed(let target) where defect == .deliversRedirects {
                _ = await channel.send(.head(TransportResponseHead(status: 302, headers: ["location": target.absoluteString])))
                channel.finish()
            } catch {
                if defect == .swallowsErrors { channel.finish() } else { channel.finish(throwing: error) }
            }
        }
        RangeResumer.Engine.posixSockets.transport.start(request, into: inner)
    }
}
