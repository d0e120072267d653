import AsyncHTTPClient
import AsyncHTTPClientEngines
import Foundation
import NIOSSL
import RangeResume
import ResilienceTesting

/// nginx serving `https` on a free loopback port with a self-signed certificate for `127.0.0.1`
/// made by `openssl req` in a temporary directory, and a file of seeded random bytes. Clients
/// trust the certificate through their own `TLSConfiguration` only (no system trust store change).
struct HTTPSFixture {
    static let openssl = "/usr/bin/openssl"

    /// Why the fixture cannot run here, or `nil`.
    static var skipReason: String? {
        if let reason = NginxServer.skipReason { return reason }
        if !FileManager.default.isExecutableFile(atPath: openssl) { return "\(openssl) is not installed (apt-get install openssl)" }
        return nil
    }

    let directory: URL
    let server: NginxServer
    /// The plain-`http` nginx that `/moved.bin` redirects to, when asked for.
    let plain: NginxServer?
    let certificate: URL
    let body: [UInt8]
    let sha256: String

    /// Makes the certificate, writes `file.bin` (`size` bytes from `seed`), starts nginx; with
    /// `redirectsToPlainHTTP`, also a plain-`http` nginx that `https://…/moved.bin` redirects to.
    init(size: Int, seed: UInt64 = 15, limitRate: String? = nil, redirectsToPlainHTTP: Bool = false) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ahc-https-\(UUID().uuidString)")
        let served = directory.appendingPathComponent("served")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        certificate = directory.appendingPathComponent("cert.pem")
        let key = directory.appendingPathComponent("key.pem")
        let openssl = try ChildProcess(executable: URL(fileURLWithPath: Self.openssl), arguments: [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key.path, "-out", certificate.path,
        ], standardError: directory.appendingPathComponent("openssl.log"))
        while await openssl.nextLine() != nil {}
        guard await openssl.exitStatus == .exited(0) else { throw FixtureError.opensslFailed }
        body = Self.bytes(size, seed: seed)
        var hasher = SHA256Hasher()
        hasher.update(body)
        sha256 = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        try Data(body).write(to: served.appendingPathComponent("file.bin"))
        plain = redirectsToPlainHTTP ? try NginxServer(serving: served) : nil
        server = try NginxServer(serving: served, limitRate: limitRate, tls: (certificate.path, key.path),
                                 redirects: plain.map { ["/moved.bin": $0.url("file.bin").absoluteString] } ?? [:])
    }

    enum FixtureError: Error { case opensslFailed }

    /// The served file's `https` URL.
    var url: URL { server.url("file.bin") }

    /// The engine's client configuration, trusting only the test certificate.
    func clientConfiguration() throws -> HTTPClient.Configuration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate.path))
        return AsyncHTTPClientEngine.configuration(tlsConfiguration: tls)
    }

    /// A path for a download in the fixture's directory.
    func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Stops nginx and deletes the directory.
    func tearDown() {
        server.stop()
        plain?.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// `count` bytes from a seeded generator.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededRandomNumberGenerator(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
