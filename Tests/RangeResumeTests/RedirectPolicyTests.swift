import Foundation
@testable import RangeResume
import ResilienceTesting
import Testing

/// `maximumRedirects`: the same rule on every engine — at most N redirects followed, `0` none.
@Suite("Redirect policy", .timeLimit(.minutes(3)))
struct RedirectPolicyTests {
    /// `/r0` → `/r1` → `/r2` → `/f.bin`: three redirects.
    static func chain(_ server: FaultyHTTPServer, body: [UInt8]) {
        server.serve(body, at: "/f.bin")
        server.setRedirect(from: "/r0", to: server.url(for: "/r1").absoluteString)
        server.setRedirect(from: "/r1", to: server.url(for: "/r2").absoluteString)
        server.setRedirect(from: "/r2", to: server.url(for: "/f.bin").absoluteString)
    }

    @Test(arguments: [3, 10])
    func aChainWithinTheLimitIsFollowed(limit: Int) async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let body = randomBytes(50_000, seed: 71)
        Self.chain(server, body: body)
        let resumer = RangeResumer(configuration: .init(maximumRedirects: limit))
        let result = try await resumer.download(from: server.url(for: "/r0"), to: dir.file("f.bin"))
        #expect(result.length == Int64(body.count))
        #expect(try Data(contentsOf: dir.file("f.bin")) == Data(body))
    }

    @Test func oneRedirectOverTheLimitIsAnErrorAndTheTargetIsNotFetched() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        Self.chain(server, body: randomBytes(50_000, seed: 72))
        let resumer = RangeResumer(configuration: .init(maximumRedirects: 2))
        let error = await #expect(throws: RangeResumeError.self) {
            try await resumer.download(from: server.url(for: "/r0"), to: dir.file("f.bin"))
        }
        #expect(error == .tooManyRedirects(limit: 2, to: server.url(for: "/f.bin")))
        #expect(error?.retryDecision == .stop)
        #expect(server.requests(for: "/f.bin").isEmpty)
    }

    /// `0` means no redirect on any engine: the same error the socket engine gives.
    @Test(arguments: [RangeResumer.Engine.urlSession, .posixSockets])
    func zeroFollowsNoneOnEveryEngine(engine: RangeResumer.Engine) async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        Self.chain(server, body: randomBytes(50_000, seed: 73))
        let resumer = RangeResumer(configuration: .init(maximumRedirects: 0), engine: engine)
        let error = await #expect(throws: RangeResumeError.self) {
            try await resumer.download(from: server.url(for: "/r0"), to: dir.file("f.bin"))
        }
        #expect(error == .redirectNotFollowed(to: server.url(for: "/r1")))
        #expect(server.requests(for: "/r1").isEmpty)
        #expect(error?.description.contains("download that URL") == true)   // the message names the fix
    }
}
