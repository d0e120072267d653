import Foundation
@testable import RangeResume
import ResilienceRetry
import ResilienceTesting
import Testing

/// One row of the hostile-input table: a request a caller could build, and what must happen.
struct HostileRequest: Sendable, CustomTestStringConvertible {
    /// What the server must see, or the typed error (naming `field`) that must be thrown first.
    enum Expectation: Sendable {
        /// `RangeResumeError.invalidArgument` whose message starts with `field`; nothing is sent.
        case refused(field: String)
        /// The download succeeds; the server received exactly `target`, found `path`, and saw
        /// `fields` (name → every value it received).
        case served(target: String, path: String, fields: [String: [String]])
    }

    var name: String
    /// The URL: `{base}` is replaced by `http://127.0.0.1:<port>`.
    var url: String
    var headers: [String: String] = [:]
    var expectation: Expectation

    var testDescription: String { name }

    func url(on server: FaultyHTTPServer) -> URL {
        URL(string: url.replacingOccurrences(of: "{base}", with: server.baseURL.absoluteString))!
    }

    /// The table: refused inputs first, then inputs that must go out byte-exact.
    static let table: [HostileRequest] = [
        .init(name: "CR LF in a value", url: "{base}/file.bin", headers: ["X-A": "1\r\nX-Injected: yes"],
              expectation: .refused(field: #"additionalHeaders["X-A"]"#)),
        .init(name: "bare LF in a value", url: "{base}/file.bin", headers: ["X-A": "1\nX-Injected: yes"],
              expectation: .refused(field: #"additionalHeaders["X-A"]"#)),
        .init(name: "bare CR in a value", url: "{base}/file.bin", headers: ["X-A": "1\rX"],
              expectation: .refused(field: #"additionalHeaders["X-A"]"#)),
        .init(name: "NUL in a value", url: "{base}/file.bin", headers: ["X-A": "1\u{0}2"],
              expectation: .refused(field: #"additionalHeaders["X-A"]"#)),
        .init(name: "CR LF in a name", url: "{base}/file.bin", headers: ["X-A\r\nX-Injected": "yes"],
              expectation: .refused(field: #"additionalHeaders["X-A\r\nX-Injected"]"#)),
        .init(name: "NUL in a name", url: "{base}/file.bin", headers: ["X\u{0}A": "1"],
              expectation: .refused(field: #"additionalHeaders["X\0A"]"#)),
        .init(name: "empty name", url: "{base}/file.bin", headers: ["": "1"],
              expectation: .refused(field: #"additionalHeaders[""]"#)),
        .init(name: "name with a colon", url: "{base}/file.bin", headers: ["X-A: b": "1"],
              expectation: .refused(field: #"additionalHeaders["X-A: b"]"#)),
        .init(name: "name with a space", url: "{base}/file.bin", headers: ["X A": "1"],
              expectation: .refused(field: #"additionalHeaders["X A"]"#)),
        .init(name: "100 KB value", url: "{base}/file.bin", headers: ["X-Big": String(repeating: "a", count: 100_000)],
              expectation: .refused(field: #"additionalHeaders["X-Big"]"#)),
        .init(name: "Host set by the caller", url: "{base}/file.bin", headers: ["Host": "evil.test"],
              expectation: .refused(field: #"additionalHeaders["Host"]"#)),
        .init(name: "Range set by the caller", url: "{base}/file.bin", headers: ["range": "bytes=5-"],
              expectation: .refused(field: #"additionalHeaders["range"]"#)),
        .init(name: "Connection set by the caller", url: "{base}/file.bin", headers: ["Connection": "keep-alive"],
              expectation: .refused(field: #"additionalHeaders["Connection"]"#)),
        .init(name: "the same name twice", url: "{base}/file.bin", headers: ["X-A": "1", "x-a": "2"],
              expectation: .refused(field: #"additionalHeaders["#)),
        .init(name: "URL with userinfo", url: "http://user:secret@127.0.0.1:9/file.bin", expectation: .refused(field: "url")),
        .init(name: "URL with a fragment", url: "{base}/file.bin#part", expectation: .refused(field: "url")),
        .init(name: "non-http scheme", url: "ftp://127.0.0.1:9/file.bin", expectation: .refused(field: "url")),
        .init(name: "file scheme", url: "file:///etc/passwd", expectation: .refused(field: "url")),

        .init(name: "encoded path", url: "{base}/a%20b.bin",
              expectation: .served(target: "/a%20b.bin", path: "/a b.bin", fields: [:])),
        .init(name: "unicode path", url: "{base}/ünï.bin",
              expectation: .served(target: "/%C3%BCn%C3%AF.bin", path: "/ünï.bin", fields: [:])),
        .init(name: "query with %2F", url: "{base}/file.bin?next=a%2Fb&x=1",
              expectation: .served(target: "/file.bin?next=a%2Fb&x=1", path: "/file.bin", fields: [:])),
        .init(name: "caller's User-Agent and Authorization", url: "{base}/file.bin",
              headers: ["User-Agent": "Adopter/1.0", "Authorization": "Bearer X"],
              expectation: .served(target: "/file.bin", path: "/file.bin",
                                   fields: ["User-Agent": ["Adopter/1.0"], "Authorization": ["Bearer X"], "Host": []])),
        .init(name: "8 KiB value (the limit)", url: "{base}/file.bin",
              headers: ["X-Big": String(repeating: "b", count: RequestValidator.maximumValueBytes)],
              expectation: .served(target: "/file.bin", path: "/file.bin",
                                   fields: ["X-Big": [String(repeating: "b", count: RequestValidator.maximumValueBytes)]])),
    ]
}

/// Issue 21: every caller-controlled request field goes through `RequestValidator`, on both
/// engines and through both `RangeResumer` and `RangeFetcher`; what passes goes out byte-exact.
@Suite("Hostile request fields", .timeLimit(.minutes(2)))
struct HostileRequestTests {
    static let engines: [RangeResumer.Engine] = [.urlSession, .posixSockets]
    static let body = randomBytes(64 << 10, seed: 21)

    static func server() throws -> FaultyHTTPServer {
        let server = try FaultyHTTPServer()
        for path in ["/file.bin", "/a b.bin", "/ünï.bin"] { server.serve(body, at: path) }
        return server
    }

    @Test(arguments: engines, HostileRequest.table)
    func resumer(engine: RangeResumer.Engine, row: HostileRequest) async throws {
        let server = try Self.server(); defer { server.stop() }
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let resumer = RangeResumer(configuration: .init(additionalHeaders: row.headers), engine: engine)
        let download = { try await resumer.download(from: row.url(on: server), to: dir.file("out.bin")) }
        try await Self.check(row, on: server, engine: engine) { _ = try await download() }
        if case .served = row.expectation { #expect(fileData(dir.file("out.bin")) == Data(Self.body)) }
    }

    @Test(arguments: engines, HostileRequest.table)
    func fetcher(engine: RangeResumer.Engine, row: HostileRequest) async throws {
        let server = try Self.server(); defer { server.stop() }
        let fetcher = RangeFetcher(configuration: .init(additionalHeaders: row.headers), engine: engine)
        try await Self.check(row, on: server, engine: engine) {
            let probe = try await fetcher.probe(row.url(on: server))
            #expect(probe.supportsRanges && probe.totalLength == Int64(Self.body.count))
        }
    }

    /// The engines refuse a bent request on their own too (a last line of defence below the
    /// resumer and the fetcher).
    @Test(arguments: engines)
    func enginesRefuseABentRequest(engine: RangeResumer.Engine) async throws {
        let server = try Self.server(); defer { server.stop() }
        let transport: any HTTPTransport = engine == .urlSession ? URLSessionTransport() : SocketTransport()
        let channel = TransportChannel(limit: 64 << 10)
        let request = TransportRequest(url: server.url(for: "/file.bin"), headers: ["X-A": "1\r\nX-Injected: yes"])
        await #expect(throws: RangeResumeError.invalidArgument(#"headers["X-A"]: value contains CR, LF or NUL"#)) {
            try await transport.exchange(request, into: channel) { _ = try await channel.next() }
        }
        #expect(server.requests.isEmpty)
    }

    /// Runs `body` and checks `row`'s expectation against it and against what `server` recorded.
    static func check(_ row: HostileRequest, on server: FaultyHTTPServer, engine: RangeResumer.Engine,
                      _ body: () async throws -> Void) async throws {
        switch row.expectation {
        case .refused(let field):
            let error = await #expect(throws: RangeResumeError.self) { try await body() }
            guard case .invalidArgument(let message)? = error else {
                Issue.record("expected invalidArgument, got \(String(describing: error))")
                return
            }
            #expect(message.hasPrefix(field), "\(message)")
            #expect(server.requests.isEmpty, "nothing may be sent")
        case .served(let target, let path, let fields):
            try await body()
            let requests = server.requests
            #expect(!requests.isEmpty)
            for request in requests {
                #expect(request.status == 206 || request.status == 200)
                #expect(request.target == target && request.path == path)
                #expect(!request.headers.contains("X-Injected"))
                for name in ["Host", "Connection", "User-Agent", "Accept-Encoding", "Range"] {
                    #expect(request.headers.values(for: name).count <= 1, "\(name) sent twice: \(request.headers)")
                }
                for (name, values) in fields where !values.isEmpty {
                    #expect(request.headers.values(for: name) == values, "\(name): \(request.headers)")
                }
            }
        }
    }
}
