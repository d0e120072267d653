import Foundation
import ResilienceTesting
import Testing

/// `FaultyHTTPServer` matches request paths like a real server: percent-decoded before lookup,
/// and a path that does not decode or climbs with `.`/`..` is refused with `400`.
@Suite("FaultyHTTPServer path matching")
struct FaultyHTTPServerPathTests {
    /// A target as sent, and the status the server must answer.
    @Test(arguments: [
        ("/a%20b.bin", 200), ("/a%20b.bin?x=%2F", 200), ("/%C3%BCn%C3%AF.bin", 200), ("/%c3%bcn%c3%af.bin", 200),
        ("/a b.bin", 400), ("/x/%2E%2E/a%20b.bin", 400), ("/x/../a%20b.bin", 400), ("/./a%20b.bin", 400),
        ("/%2e%2E/etc/passwd", 400), ("/a%2", 400), ("/a%zz.bin", 400), ("/a%00.bin", 400), ("/%FF.bin", 400),
        ("/a%2Fb.bin", 404),
    ])
    func decodesBeforeLookupAndRefusesDotSegments(target: String, status: Int) throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(Array("spaced".utf8), at: "/a b.bin")
        server.serve(Array("unicode".utf8), at: "/ünï.bin")
        let response = try RawHTTPClient.request(port: server.port, "GET", target)
        #expect(response.status == status)
        if status == 200 {
            #expect(server.requests.last?.target == target)
            #expect(server.requests.last?.path == (target.contains("C3") || target.contains("c3") ? "/ünï.bin" : "/a b.bin"))
        }
    }

    @Test func urlForEncodesWhatAURLCannotHold() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        #expect(server.url(for: "/a b.bin").absoluteString.hasSuffix("/a%20b.bin"))
        #expect(server.url(for: "/ünï.bin").absoluteString.hasSuffix("/%C3%BCn%C3%AF.bin"))
    }
}
