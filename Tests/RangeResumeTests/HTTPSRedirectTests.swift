import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// End to end, `https` → `http` redirects are refused: nginx (`nginx-light`, ssl module) serves
/// `https` on a free loopback port with a self-signed certificate made by `openssl req`, and
/// answers one path with `301` to a plain-`http` nginx.
///
/// FoundationNetworking on Linux trusts only libcurl's CA bundle: it has no server-trust
/// challenge, and reads `URLSessionCertificateAuthorityInfoFile` on Android only. So the download
/// runs in a child process (`RangeResumeChild`) inside a private mount namespace
/// (`unshare -m`) where the test certificate is bind-mounted over
/// `/etc/ssl/certs/ca-certificates.crt`; nothing outside that namespace changes. Skipped, with
/// the reason printed, without nginx, openssl, that bundle, or the right to `unshare -m`.
@Suite("RangeResumer https redirect", .timeLimit(.minutes(2)))
struct HTTPSRedirectTests {
    static let bundle = "/etc/ssl/certs/ca-certificates.crt"

    /// Runs `executable` with `arguments`; its stdout lines and exit status.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (lines: [String], status: ChildProcess.ExitStatus) {
        let child = try ChildProcess(executable: URL(fileURLWithPath: executable), arguments: arguments)
        var lines: [String] = []
        while let line = await child.nextLine() { lines.append(line) }
        return (lines, await child.exitStatus)
    }

    /// Why this machine cannot run the test, or `nil`.
    static func skipReason() async -> String? {
        if let reason = NginxServer.skipReason { return reason }
        let tools = ["/usr/bin/openssl", "/usr/bin/unshare", "/bin/sh"]
        if let missing = tools.first(where: { !FileManager.default.isExecutableFile(atPath: $0) }) {
            return "\(missing) is not installed"
        }
        if !FileManager.default.fileExists(atPath: bundle) { return "no CA bundle at \(bundle) to stand in for" }
        let probe = try? await run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sh", "-c",
                                                         "mount --bind \(bundle) \(bundle)"])
        if probe?.status != .exited(0) { return "no permission for a private mount namespace (unshare -m, mount --bind)" }
        return nil
    }

    /// Downloads `url` to `destination` in a child that trusts only `certificate`.
    static func download(_ url: URL, to destination: URL, trusting certificate: URL) async throws -> (lines: [String], status: ChildProcess.ExitStatus) {
        let child = ChildProcess.siblingExecutable(named: "RangeResumeChild").path
        let script = "mount --bind \"$1\" \(bundle) && exec \"$2\" \"$3\" \"$4\""
        return try await run("/usr/bin/unshare", ["-m", "--propagation", "private", "/bin/sh", "-c", script, "sh",
                                                  certificate.path, child, url.absoluteString, destination.path])
    }

    @Test func httpsToHTTPRedirectIsRefusedEndToEnd() async throws {
        if let reason = await Self.skipReason() {
            print("RangeResumer https redirect: skipped: \(reason)")
            return
        }
        let served = try TemporaryDirectory(), work = try TemporaryDirectory()
        defer { served.cleanup(); work.cleanup() }
        let body = randomBytes(64 << 10, seed: 77)
        try Data(body).write(to: served.file("file.bin"))
        let certificate = work.file("cert.pem"), key = work.file("key.pem")
        let made = try await Self.run("/bin/sh", ["-c", """
            /usr/bin/openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
              -addext subjectAltName=IP:127.0.0.1 -keyout "$1" -out "$2" 2>/dev/null
            """, "sh", key.path, certificate.path])
        try #require(made.status == .exited(0), "openssl req failed")

        let plain = try NginxServer(serving: served.url)
        defer { plain.stop() }
        let secure = try NginxServer(serving: served.url, tls: (certificate.path, key.path),
                                     redirects: ["/moved.bin": plain.url("file.bin").absoluteString])
        defer { secure.stop() }

        // Control: the child trusts the test certificate, so https itself works (the test can fail
        // only on the redirect below, not on TLS).
        let direct = work.file("direct.bin")
        let ok = try await Self.download(secure.url("file.bin"), to: direct, trusting: certificate)
        #expect(ok.status == .exited(0), "\(ok.lines)")
        #expect(ok.lines.last == "ok \(body.count) \(SHA256Hasher.hex(of: body))", "\(ok.lines)")

        // The redirect to plain http is refused before any request goes there.
        let refused = work.file("refused.bin")
        let result = try await Self.download(secure.url("moved.bin"), to: refused, trusting: certificate)
        #expect(result.status == .exited(1))
        #expect(result.lines.last == "insecureRedirect \(plain.url("file.bin").absoluteString)", "\(result.lines)")
        #expect(!FileManager.default.fileExists(atPath: refused.path))
        #expect(plain.accessLog.isEmpty, "the http server was contacted: \(plain.accessLog)")
        #expect(secure.accessLog.count == 2, "\(secure.accessLog)")
    }
}
