import Foundation
import ResilienceTesting

/// How fast `FaultyHTTPServer` serves a body, read by `curl -o /dev/null`, with nginx serving the
/// same file in the same run as the peer (skipped, with a note, when nginx is not installed).
///
/// Tells test authors whether the test server can be the bottleneck of a download test.
enum FaultyHTTPServerBenchmarks {
    static let fileSize = 256 << 20
    static let runs = 3

    static func run() async {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("faulty-bench-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("body.bin")
        var generator = SeededRandomNumberGenerator(seed: 1)
        let content = [UInt8](unsafeUninitializedCapacity: fileSize) { buffer, count in
            let words = UnsafeMutableRawBufferPointer(buffer).bindMemory(to: UInt64.self)
            for index in words.indices { words[index] = generator.next() }
            count = fileSize
        }
        guard FileManager.default.createFile(atPath: file.path, contents: Data(content)) else {
            print("faulty-http-server: cannot write \(file.path); skipped")
            return
        }
        guard let server = try? FaultyHTTPServer() else {
            print("faulty-http-server: cannot start the server; skipped")
            return
        }
        defer { server.stop() }
        _ = try? server.serveFile(at: file, as: "/file.bin")
        server.serve(content, at: "/memory.bin")

        let nginx = NginxPeer(root: directory)
        defer { nginx?.stop() }
        if nginx == nil { print("faulty-http-server: nginx not found or failed to start; no peer") }
        let nginxRate = nginx.flatMap { medianRate("http://127.0.0.1:\($0.port)/body.bin") }
        let peer = nginxRate.map { (name: "nginx", value: $0) }

        if let rate = medianRate(server.url(for: "/file.bin").absoluteString) {
            report("faulty-http-server.file-256MiB.curl", rate, "MB/s", peer: peer)
        }
        if let rate = medianRate(server.url(for: "/memory.bin").absoluteString) {
            report("faulty-http-server.memory-256MiB.curl", rate, "MB/s", peer: peer)
        }
        server.enqueueFaults([.trickle(bytesPerSecond: 50 << 20)], for: "/file.bin")
        if let rate = curlRate(server.url(for: "/file.bin").absoluteString, maxBytes: 50 << 20) {
            report("faulty-http-server.trickle-50MBps.curl", rate, "MB/s")
        }
    }

    /// Median of ``runs`` curl downloads, in MB/s (10^6 bytes per second).
    static func medianRate(_ url: String) -> Double? {
        let rates = (0..<runs).compactMap { _ in curlRate(url) }.sorted()
        return rates.isEmpty ? nil : rates[rates.count / 2]
    }

    /// One `curl` download to /dev/null; its average speed in MB/s.
    static func curlRate(_ url: String, maxBytes: Int? = nil) -> Double? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = ["curl", "-s", "-o", "/dev/null", "-w", "%{speed_download}"]
        if let maxBytes { arguments += ["-r", "0-\(maxBytes - 1)"] }
        process.arguments = arguments + [url]
        let output = Pipe()
        process.standardOutput = output
        guard (try? process.run()) != nil else { return nil }
        let data = Data(PipeReader.readToEnd(output.fileHandleForReading.fileDescriptor))
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let bytesPerSecond = Double(String(decoding: data, as: UTF8.self)) else { return nil }
        return bytesPerSecond / 1e6
    }
}

/// nginx serving `root` on a free loopback port, started with a config in a temp directory.
struct NginxPeer {
    let port: UInt16
    let process: Process

    init?(root: URL) {
        guard let executable = ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
              let free = try? FaultyHTTPServer()
        else { return nil }
        // Borrow a free port: the server binds one and releases it at stop().
        port = free.port
        free.stop()
        let prefix = root.appendingPathComponent("nginx")
        try? FileManager.default.createDirectory(at: prefix, withIntermediateDirectories: true)
        let config = """
            daemon off; master_process off; worker_processes 1;
            pid \(prefix.path)/nginx.pid; error_log \(prefix.path)/error.log;
            events { worker_connections 64; }
            http {
                access_log off; sendfile on; tcp_nopush on; gzip off;
                client_body_temp_path \(prefix.path); proxy_temp_path \(prefix.path);
                fastcgi_temp_path \(prefix.path); uwsgi_temp_path \(prefix.path); scgi_temp_path \(prefix.path);
                server { listen 127.0.0.1:\(port); root \(root.path); }
            }
            """
        let configFile = prefix.appendingPathComponent("nginx.conf")
        guard (try? config.write(to: configFile, atomically: true, encoding: .utf8)) != nil else { return nil }
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-p", prefix.path, "-c", configFile.path]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        // Wait (bounded) until it accepts connections.
        for _ in 0..<100 {
            if FaultyHTTPServerBenchmarks.curlRate("http://127.0.0.1:\(port)/") != nil || !process.isRunning { break }
            usleep(20_000)
        }
        guard process.isRunning else { return nil }
    }

    func stop() {
        // Single-process nginx has no children; SIGKILL ends it at once (SIGTERM was seen to hang).
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
