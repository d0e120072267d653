#if os(Linux) || os(macOS)
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real nginx (Debian's `nginx-light`) serving a directory on a free loopback port
/// (`127.0.0.1`), started as a child process with a config written to a temporary directory,
/// stopped by ``stop()``.
///
/// For tests that need a real, fast peer. A suite that uses it is skipped, with the reason
/// printed, when nginx is not installed:
///
/// ```swift
/// @Suite(.enabled(if: NginxServer.skipReason == nil, "skipped: nginx is not installed (apt-get install nginx-light)"))
/// struct MyNginxTests {
///     @Test func fetches() async throws {
///         let server = try NginxServer(serving: directory)
///         defer { server.stop() }
///         try await download(server.url("file.bin"))
///     }
/// }
/// ```
public final class NginxServer {
    /// The nginx binary, or `nil` when it is not installed (`.ci/run` installs it).
    public static let executable: String? = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Why nginx tests are skipped on this machine, or `nil` when they run.
    public static var skipReason: String? {
        executable == nil ? "nginx is not installed (apt-get install nginx-light; .ci/run does this)" : nil
    }

    /// The directory served as `/`.
    public let root: URL
    /// The loopback port nginx listens on.
    public let port: Int
    /// `http`, or `https` when started with `tls`.
    public let scheme: String
    private let process: Process
    private let prefix: URL

    /// Starts nginx serving `root`. With `gzip` on, nginx compresses `.bin` files for clients
    /// that accept it (and then ignores `Range`); off, Range and strong ETags always work.
    /// `limitRate` (e.g. `"1m"`) throttles each response (nginx's `limit_rate`); `nil` (default)
    /// serves as fast as loopback allows.
    /// With `tls` (PEM certificate and key paths) it serves `https` (nginx's ssl module, in
    /// `nginx-light`); `redirects` maps exact paths to `301` targets (`return 301 …`).
    ///
    /// - Throws: ``NginxError/notInstalled``; ``NginxError/failedToStart(_:)`` with nginx's log
    ///   when it did not start in five tries (each on a fresh free port).
    public init(serving root: URL, gzip: Bool = false, limitRate: String? = nil,
                tls: (certificate: String, key: String)? = nil, redirects: [String: String] = [:]) throws {
        guard let executable = Self.executable else { throw NginxError.notInstalled }
        self.root = root
        prefix = FileManager.default.temporaryDirectory.appendingPathComponent("nginx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        var lastError: (any Error)?
        for _ in 0..<5 {
            let port = try Self.freePort()
            let config = """
            worker_processes 1;
            error_log stderr notice;
            pid \(prefix.path)/nginx.pid;
            events { worker_connections 256; }
            http {
              log_format q '$status "$http_range" "$http_if_range" "$http_accept_encoding" $body_bytes_sent';
              access_log \(prefix.path)/access.log q;
              client_body_temp_path \(prefix.path)/tmp; proxy_temp_path \(prefix.path)/tmp;
              fastcgi_temp_path \(prefix.path)/tmp; uwsgi_temp_path \(prefix.path)/tmp; scgi_temp_path \(prefix.path)/tmp;
              types { application/octet-stream bin; }
              sendfile on;
              server { listen 127.0.0.1:\(port)\(tls == nil ? "" : " ssl"); root \(root.path); gzip \(gzip ? "on" : "off"); gzip_types application/octet-stream; gzip_min_length 1;
                \(limitRate.map { "limit_rate \($0);" } ?? "")
                \(tls.map { "ssl_certificate \($0.certificate); ssl_certificate_key \($0.key);" } ?? "")
                \(redirects.sorted { $0.key < $1.key }.map { "location = \($0.key) { return 301 \($0.value); }" }.joined(separator: " ")) }
            }
            """
            let configURL = prefix.appendingPathComponent("nginx.conf")
            try config.write(to: configURL, atomically: true, encoding: .utf8)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["-p", prefix.path, "-c", configURL.path, "-g", "daemon off;"]
            let stderr = Pipe()
            process.standardError = stderr
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // nginx logs "start worker processes" once its sockets listen; read until then (or EOF
            // when it exits, e.g. because the port was taken meanwhile).
            var log = ""
            let fd = stderr.fileHandleForReading.fileDescriptor
            while !log.contains("start worker process"), let data = PipeReader.readSome(fd) {
                log += String(decoding: data, as: UTF8.self)
            }
            if log.contains("start worker process") {
                self.port = port
                self.process = process
                self.scheme = tls == nil ? "http" : "https"
                return
            }
            process.waitUntilExit()
            lastError = NginxError.failedToStart(log)
        }
        throw lastError ?? NginxError.failedToStart("")
    }

    /// `<scheme>://127.0.0.1:<port>/<path>`.
    public func url(_ path: String) -> URL { URL(string: "\(scheme)://127.0.0.1:\(port)/\(path)")! }

    /// One line per request so far: `status "Range" "If-Range" "Accept-Encoding" bytes`.
    public var accessLog: [String] {
        let text = (try? String(contentsOf: prefix.appendingPathComponent("access.log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    /// Stops nginx and removes its config, logs and temporary files (not ``root``).
    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: prefix)
    }

    /// A loopback port that was free a moment ago.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, POSIXSocket.streamType, 0)
        guard fd >= 0 else { throw NginxError.failedToStart("socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw NginxError.failedToStart("bind") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Why an ``NginxServer`` did not start.
    public enum NginxError: Error {
        /// No nginx binary was found (see ``NginxServer/skipReason``).
        case notInstalled
        /// nginx exited before listening; its log (or the failing call).
        case failedToStart(String)
    }
}
#endif
