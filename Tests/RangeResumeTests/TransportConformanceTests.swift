import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// Issue 15: both built-in engines, and an engine built on the channel's `async` send, keep the
/// engine contract (`TransportConformance`).
@Suite("Transport conformance", .timeLimit(.minutes(2)))
struct TransportConformanceTests {
    static let urlSession = TransportConformance.Capabilities(followsRedirects: true, supportsTLS: true)
    static let sockets = TransportConformance.Capabilities(followsRedirects: false, supportsTLS: false)

    static func report(_ outcome: TransportConformance.Outcome, _ check: TransportConformance.Check, _ engine: String) {
        // The URLSession engine's https → http refusal runs end to end in HTTPSRedirectTests (in a
        // child that trusts a test certificate; FoundationNetworking cannot be told in-process).
        if case .skipped(let reason) = outcome { print("Transport conformance \(engine) \(check): skipped: \(reason)") }
    }

    @Test(arguments: TransportConformance.checks)
    func urlSessionEngineConforms(_ check: TransportConformance.Check) async throws {
        Self.report(try await check.run(RangeResumer.Engine.urlSession.transport, capabilities: Self.urlSession), check, "urlSession")
    }

    @Test(arguments: TransportConformance.checks)
    func socketEngineConforms(_ check: TransportConformance.Check) async throws {
        Self.report(try await check.run(RangeResumer.Engine.posixSockets.transport, capabilities: Self.sockets), check, "posixSockets")
    }

    /// An engine that relays the socket engine through the `async` send (as an engine on Swift
    /// concurrency would) conforms too.
    @Test(arguments: TransportConformance.checks)
    func asyncRelayEngineConforms(_ check: TransportConformance.Check) async throws {
        Self.report(try await check.run(RelayEngine(), capabilities: Self.sockets), check, "relay")
    }
}
