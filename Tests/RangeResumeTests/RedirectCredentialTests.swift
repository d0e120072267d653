import Foundation
@testable import RangeResume
import ResilienceRetry
import ResilienceTesting
import Testing

/// Issue 21: a token in `additionalHeaders` never reaches another origin through a redirect.
/// Two servers: A on `127.0.0.1` redirects to B, addressed as `localhost` (another host, another
/// port — another origin).
@Suite("Redirect credentials", .timeLimit(.minutes(2)))
struct RedirectCredentialTests {
    static let body = randomBytes(96 << 10, seed: 2121)
    static let secrets = ["Authorization": "Bearer X", "Cookie": "session=s3cret", "Proxy-Authorization": "Basic eA=="]

    struct Servers {
        let a: FaultyHTTPServer
        let b: FaultyHTTPServer
        let dir: TemporaryDirectory

        init() throws {
            a = try FaultyHTTPServer()
            b = try FaultyHTTPServer()
            dir = try TemporaryDirectory()
            b.serve(RedirectCredentialTests.body, at: "/file.bin")
            a.setRedirect(from: "/moved.bin", to: "http://localhost:\(b.port)/file.bin")
        }

        func tearDown() {
            a.stop()
            b.stop()
            dir.cleanup()
        }
    }

    /// The URLSession engine follows the redirect and downloads from B without the credentials
    /// (A, the origin they were meant for, received them).
    @Test func urlSessionDropsCredentialsOnACrossOriginRedirect() async throws {
        let servers = try Servers(); defer { servers.tearDown() }
        let resumer = RangeResumer(configuration: .init(additionalHeaders: Self.secrets), engine: .urlSession)
        let result = try await resumer.download(from: servers.a.url(for: "/moved.bin"), to: servers.dir.file("out.bin"))
        #expect(fileData(servers.dir.file("out.bin")) == Data(Self.body) && result.length == Int64(Self.body.count))
        let first = try #require(servers.a.requests.first)
        #expect(first.status == 302)
        for (name, value) in Self.secrets { #expect(first.headers[name] == value) }
        #expect(!servers.b.requests.isEmpty)
        for request in servers.b.requests {
            for name in Self.secrets.keys { #expect(request.headers[name] == nil, "\(name) reached \(request)") }
        }
    }

    /// The socket engine follows no redirect: the 3xx is a `redirectNotFollowed` naming the target
    /// (and the fix), and no second request — to B or anywhere — carried the token.
    @Test func socketEngineStopsAtTheRedirect() async throws {
        let servers = try Servers(); defer { servers.tearDown() }
        let resumer = RangeResumer(configuration: .init(additionalHeaders: Self.secrets), engine: .posixSockets)
        let error = await #expect(throws: RangeResumeError.self) {
            try await resumer.download(from: servers.a.url(for: "/moved.bin"), to: servers.dir.file("out.bin"))
        }
        #expect(error == .redirectNotFollowed(to: URL(string: "http://localhost:\(servers.b.port)/file.bin")!))
        #expect(error?.description.contains("(urlSession)") == true)
        #expect(servers.a.requests.count == 1 && servers.a.requests.first?.headers["Authorization"] == "Bearer X")
        #expect(servers.b.requests.isEmpty)
    }
}
