import AsyncHTTPClient
import AsyncHTTPClientEngines
import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// Issue 15 part 3: the AsyncHTTPClient engine keeps the engine contract, checked by
/// `TransportConformance` over plain `http` against `FaultyHTTPServer` on loopback — following
/// redirects (the default) and following none. The `tls` check's `https` → `http` refusal runs
/// against nginx with a self-signed certificate the client trusts (skipped, saying why, without
/// nginx or openssl).
@Suite("AsyncHTTPClientEngine conformance", .timeLimit(.minutes(3)))
struct ConformanceTests {
    static let follows = TransportConformance.Capabilities(followsRedirects: true, supportsTLS: true)
    static let followsNone = TransportConformance.Capabilities(followsRedirects: false, supportsTLS: true)

    static func report(_ outcome: TransportConformance.Outcome, _ check: TransportConformance.Check, _ engine: String) {
        if case .skipped(let reason) = outcome { print("AsyncHTTPClientEngine conformance \(engine) \(check): skipped: \(reason)") }
    }

    @Test(arguments: TransportConformance.checks)
    func engineConforms(_ check: TransportConformance.Check) async throws {
        guard check.name == "tls", HTTPSFixture.skipReason == nil else {
            try await withClient { client in
                Self.report(try await check.run(AsyncHTTPClientEngine(client: client), capabilities: Self.follows), check, "")
            }
            return
        }
        // An https URL the client trusts that redirects to plain http.
        let fixture = try await HTTPSFixture(size: 1000, redirectsToPlainHTTP: true); defer { fixture.tearDown() }
        var capabilities = Self.follows
        capabilities.insecureRedirectFixture = fixture.server.url("moved.bin")
        try await withClient(try fixture.clientConfiguration()) { client in
            Self.report(try await check.run(AsyncHTTPClientEngine(client: client), capabilities: capabilities), check, "")
        }
    }

    @Test(arguments: TransportConformance.checks.filter { ["redirects", "tls"].contains($0.name) })
    func engineFollowingNoRedirectsConforms(_ check: TransportConformance.Check) async throws {
        try await withClient { client in
            let engine = AsyncHTTPClientEngine(client: client, maximumRedirects: 0)
            Self.report(try await check.run(engine, capabilities: Self.followsNone), check, "maximumRedirects: 0")
        }
    }

    /// A redirect loop ends after `maximumRedirects` with `URLError(.httpTooManyRedirects)`.
    @Test func aRedirectLoopEndsWithTooManyRedirects() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        server.setRedirect(from: "/loop.bin", to: server.url(for: "/loop.bin").absoluteString)
        try await withClient { client in
            let channel = TransportChannel()
            AsyncHTTPClientEngine(client: client, maximumRedirects: 3).start(TransportRequest(url: server.url(for: "/loop.bin")), into: channel)
            let error = await #expect(throws: URLError.self) { while try await channel.next() != nil {} }
            #expect(error?.code == .httpTooManyRedirects)
            channel.cancel(CancellationError())
            await channel.waitUntilReleased()
        }
        #expect(server.requests(for: "/loop.bin").count == 4)
    }

    /// A client that follows redirects itself (AsyncHTTPClient's default) would apply its own
    /// rules, not the package's: the engine refuses the response it reached that way.
    @Test func aClientThatFollowsRedirectsIsRefused() async throws {
        let target = try FaultyHTTPServer(); defer { target.stop() }
        let origin = try FaultyHTTPServer(); defer { origin.stop() }
        target.serve([1, 2, 3], at: "/f.bin")
        origin.setRedirect(from: "/f.bin", to: target.url(for: "/f.bin").absoluteString)
        var configuration = AsyncHTTPClientEngine.configuration()
        configuration.redirectConfiguration = .follow(max: 3, allowCycles: false)
        try await withClient(configuration) { client in
            let channel = TransportChannel()
            AsyncHTTPClientEngine(client: client).start(TransportRequest(url: origin.url(for: "/f.bin")), into: channel)
            let error = await #expect(throws: RangeResumeError.self) {
                while try await channel.next() != nil {}
            }
            if case .invalidArgument(let reason)? = error {
                #expect(reason.contains("followed a redirect"), "\(reason)")
            } else {
                Issue.record("expected invalidArgument, got \(error.map { "\($0)" } ?? "nothing")")
            }
            channel.cancel(CancellationError())
            await channel.waitUntilReleased()
        }
    }
}
