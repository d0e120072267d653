import AsyncHTTPClient
import AsyncHTTPClientEngines
import RangeResume
import ResilienceTesting
import Testing

/// Issue 15 part 3: the AsyncHTTPClient engine keeps the engine contract, checked by
/// `TransportConformance` over plain `http` against `FaultyHTTPServer` on loopback.
@Suite("AsyncHTTPClientEngine conformance", .timeLimit(.minutes(3)))
struct ConformanceTests {
    /// TLS yes; redirects not followed (a 3xx ends with `redirectNotFollowed`), so the
    /// `https` → `http` refusal has nothing to check.
    static let capabilities = TransportConformance.Capabilities(followsRedirects: false, supportsTLS: true)

    @Test(arguments: TransportConformance.checks)
    func engineConforms(_ check: TransportConformance.Check) async throws {
        try await withClient { client in
            let outcome = try await check.run(AsyncHTTPClientEngine(client: client), capabilities: Self.capabilities)
            if case .skipped(let reason) = outcome { print("AsyncHTTPClientEngine conformance \(check): skipped: \(reason)") }
        }
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
