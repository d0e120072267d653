import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// Every `TransportConformance` check can fail: engines broken on purpose are caught, each by the
/// check for its defect.
@Suite("Transport conformance catches defects", .timeLimit(.minutes(2)))
struct TransportConformanceDefectTests {
    /// An engine broken on purpose and the check that must catch it.
    struct Defect: Sendable, CustomStringConvertible {
        let check: String
        let engine: any HTTPTransport
        var capabilities = TransportConformanceTests.sockets
        let description: String
    }

    static let defects: [Defect] = [
        Defect(check: "rangeAndIfRange", engine: RelayEngine(defect: .ignoresRange), description: "ignores Range"),
        Defect(check: "truncation", engine: RelayEngine(defect: .swallowsErrors), description: "passes a truncated body as complete"),
        Defect(check: "redirects", engine: RelayEngine(defect: .deliversRedirects), description: "delivers a redirect as the answer"),
        // The checks hold an engine to what it declares: the socket engine follows no redirect.
        Defect(check: "redirects", engine: RangeResumer.Engine.posixSockets.transport,
               capabilities: .init(followsRedirects: true, supportsTLS: false), description: "claims to follow redirects"),
        Defect(check: "memoryBoundUnderSlowConsumer", engine: SyntheticEngine(behaviour: .floods), description: "ignores backpressure"),
        Defect(check: "cancelAtRandomMoments", engine: SyntheticEngine(behaviour: .ignoresCancel),
               description: "keeps delivering after the cancel"),
        Defect(check: "fullBody", engine: SyntheticEngine(behaviour: .twoHeads), description: "sends two heads"),
        Defect(check: "stall", engine: SyntheticEngine(behaviour: .endsAtOnce), description: "ends a stalled exchange normally"),
    ]

    /// The check for the defect throws a `ConformanceFailure` naming it.
    @Test(arguments: Self.defects)
    func anEngineWithTheDefectIsCaught(_ defect: Defect) async throws {
        let check = try #require(TransportConformance.checks.first { $0.name == defect.check })
        let failure = await #expect(throws: ConformanceFailure.self) {
            _ = try await check.run(defect.engine, capabilities: defect.capabilities)
        }
        #expect(failure?.check == defect.check && failure?.suite == "Transport", "\(failure.map { "\($0)" } ?? "no failure")")
        #expect(failure?.message.contains("no end after") == false, "caught only by the time limit: \(failure.map { "\($0)" } ?? "")")
    }
}

/// A test engine that answers every request itself, wrongly on purpose.
struct SyntheticEngine: HTTPTransport {
    enum Behaviour: Sendable {
        /// Offers an 8 MiB body at once, whatever the consumer's pace.
        case floods
        /// Keeps sending after `send` said the exchange is over.
        case ignoresCancel
        /// Two heads in one exchange.
        case twoHeads
        /// `200` with an empty body, ended at once (never stalls, never fails).
        case endsAtOnce
    }

    let behaviour: Behaviour

    func start(_ request: TransportRequest, into channel: TransportChannel) {
        let head = TransportEvent.head(TransportResponseHead(status: 200, headers: ["content-length": "\(8 << 20)"], url: request.url))
        switch behaviour {
        case .floods:
            channel.offer(head)
            channel.offer(contentsOf: Data(count: 8 << 20))
            channel.finish()
        case .twoHeads:
            channel.offer(head)
            channel.offer(head)
            channel.finish()
        case .endsAtOnce:
            channel.offer(.head(TransportResponseHead(status: 200, headers: ["content-length": "0"])))
            channel.finish()
        case .ignoresCancel:
            Thread {
                channel.send(head)
                for _ in 0..<100 { channel.send(.body(Data(count: 16 << 10))) }
                channel.finish()
            }.start()
        }
    }
}
