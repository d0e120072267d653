import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RangeResume
import ResilienceTesting
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `RangeResume` figures, each against a peer on the same file in the same run:
/// - SHA-256 throughput against `sha256sum` and `openssl dgst -sha256` (median of three
///   alternating runs each);
/// - a loopback download from nginx (when installed): `RangeResumer` (URLSession engine and POSIX
///   socket engine, each with SHA-256 verification and without hashing) against `curl -o` and
///   `wget -O`: MB/s, CPU seconds and peak RSS, each in its own process measured by GNU `time`,
///   median of `RANGERESUME_BENCH_RUNS` (default 3) runs. Two more peers show the bounds:
///   `curl+sync` (`curl -o` then `sync <file>`: the same bytes made durable, as the resumer must
///   before its rename) and `urlsession-discard` (a URLSession data task whose delegate drops the
///   body: what FoundationNetworking delivers at best, before any write).
///
/// Environment: `RANGERESUME_BENCH_MIB` sets the file size in MiB (default 1024);
/// `RANGERESUME_BENCH_CHECKPOINT_MIB` sets the resumer's checkpoint interval (default 64 MiB);
/// `RANGERESUME_BENCH_4GIB=1` adds the same downloads of a 4 GiB file and prints each variant's
/// peak RSS at 4 GiB beside the first size (opt-in: slow, and needs 8 GiB of free disk).
enum RangeResumeBenchmarks {
    static let childKey = "RANGERESUME_BENCH_CHILD"

    static func run() async {
        if let child = ProcessInfo.processInfo.environment[childKey] {
            // Child mode (see `downloads`): one download in a fresh process, so its peak RSS is its own.
            let parts = child.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 4, let url = URL(string: parts[0]) else { exit(2) }
            if parts[3] == "discard" {
                // The ceiling of FoundationNetworking itself: a data task whose delegate drops the body.
                exit(DiscardingDownload.run(url) ? 0 : 1)
            }
            let digest = parts[2].isEmpty ? nil : parts[2]
            var configuration = RangeResumer.Configuration(computesSHA256: digest != nil)
            if let mebibytes = ProcessInfo.processInfo.environment["RANGERESUME_BENCH_CHECKPOINT_MIB"].flatMap(Int64.init) {
                configuration.checkpointInterval = max(1, mebibytes) << 20
            }
            let engine: RangeResumer.Engine = parts[3] == "sockets" ? .posixSockets : .urlSession
            do {
                let result = try await RangeResumer(configuration: configuration, engine: engine)
                    .download(from: url, to: URL(fileURLWithPath: parts[1]), expectedSHA256: digest)
                if ProcessInfo.processInfo.environment["RANGERESUME_BENCH_VERBOSE"] == "1" {
                    try? FileHandle.standardError.write(contentsOf: Data("rangeresume child: \(parts[3]) restarts \(result.restarts)\n".utf8))
                }
                exit(0)
            } catch {
                print("rangeresume.download: failed: \(error)")
                exit(1)
            }
        }
        let mebibytes = Int(ProcessInfo.processInfo.environment["RANGERESUME_BENCH_MIB"] ?? "") ?? 1024
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("rangeresume-bench-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("random.bin")
        guard writeRandomFile(file.path, mebibytes: mebibytes) else {
            print("rangeresume: could not write \(file.path); skipped")
            return
        }
        let bytes = Double(mebibytes) * 1_048_576

        // Warm the page cache once so both sides read from memory, then alternate the two, three
        // times each, and compare medians (the machine is shared and noisy).
        _ = hashFile(file.path)
        var oursTimes: [Double] = [], peerTimes: [Double] = [], opensslTimes: [Double] = []
        var ours: String?, peer: String?, openssl: String?
        for _ in 0..<3 {
            let start = nanos()
            ours = hashFile(file.path)
            oursTimes.append(Double(nanos() - start) / 1e9)
            let peerStart = nanos()
            peer = runTool("/usr/bin/sha256sum", [file.path])
            peerTimes.append(Double(nanos() - peerStart) / 1e9)
            let opensslStart = nanos()
            openssl = runTool("/usr/bin/openssl", ["dgst", "-sha256", "-r", file.path])
            opensslTimes.append(Double(nanos() - opensslStart) / 1e9)
        }
        let oursSeconds = oursTimes.sorted()[1], peerSeconds = peerTimes.sorted()[1]
        let peerDigest = peer.map { String($0.prefix(64)) }
        if peerDigest != ours { print("rangeresume: DIGEST MISMATCH ours \(ours ?? "nil") sha256sum \(peerDigest ?? "nil")") }
        print("sha256: implementation \(SHA256Hasher.usesSHAInstructions ? "CPU SHA instructions (CSHA256)" : "portable Swift")")
        report("sha256.\(mebibytes)MiB.throughput", bytes / oursSeconds / 1e6, "MB/s",
               peer: ("sha256sum", peer == nil ? 0 : bytes / peerSeconds / 1e6))
        if let openssl {
            if String(openssl.prefix(64)) != ours { print("rangeresume: DIGEST MISMATCH ours \(ours ?? "nil") openssl \(openssl.prefix(64))") }
            report("sha256.\(mebibytes)MiB.throughput", bytes / oursSeconds / 1e6, "MB/s",
                   peer: ("openssl", bytes / opensslTimes.sorted()[1] / 1e6))
        }
        var rss: [Int: [String: Double]] = [:]
        rss[mebibytes] = await downloads(directory: directory, file: file, mebibytes: mebibytes, digest: ours)
        // Opt-in (slow, 4 GiB of disk): the same downloads at 4 GiB, and peak RSS side by side.
        if ProcessInfo.processInfo.environment["RANGERESUME_BENCH_4GIB"] == "1", mebibytes != 4096, !rss[mebibytes, default: [:]].isEmpty {
            try? FileManager.default.removeItem(at: file)
            let large = directory.appendingPathComponent("random4g.bin")
            guard writeRandomFile(large.path, mebibytes: 4096) else {
                print("rangeresume: could not write \(large.path); 4 GiB run skipped")
                return
            }
            let largeDigest = hashFile(large.path)
            rss[4096] = await downloads(directory: directory, file: large, mebibytes: 4096, digest: largeDigest)
            try? FileManager.default.removeItem(at: large)
            for (variant, small) in rss[mebibytes, default: [:]].sorted(by: { $0.key < $1.key }) {
                guard let big = rss[4096]?[variant] else { continue }
                report("dl.\(variant).peak-rss.4096M-vs-\(mebibytes)M", big, "MiB", peer: ("\(mebibytes)M", small))
            }
        }
    }

    /// One measured download: wall seconds, CPU seconds, peak RSS in MiB.
    struct Sample { var seconds: Double; var cpu: Double; var rssMiB: Double }

    /// Runs the download figures for `file`; returns the median peak RSS (MiB) per variant
    /// (including the peers, as `curl` and `wget`).
    @discardableResult
    static func downloads(directory: URL, file: URL, mebibytes: Int, digest: String?) async -> [String: Double] {
        guard let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("rangeresume.download: skipped, nginx is not installed")
            return [:]
        }
        guard let server = LoopbackNginx(executable: nginx, root: directory) else {
            print("rangeresume.download: skipped, nginx did not start")
            return [:]
        }
        defer { server.stop() }
        let url = URL(string: "http://127.0.0.1:\(server.port)/\(file.lastPathComponent)")!
        let output = directory.appendingPathComponent("download.out")
        let runs = Int(ProcessInfo.processInfo.environment["RANGERESUME_BENCH_RUNS"] ?? "") ?? 3
        let bytes = Double(mebibytes) * 1_048_576
        let variants = ["urlsession.sha256", "urlsession.nohash", "sockets.sha256", "sockets.nohash"]
        var samples: [String: [Sample]] = [:]
        var curl: [Sample] = [], wget: [Sample] = [], curlSync: [Sample] = [], discard: [Sample] = []
        for _ in 0..<runs {
            try? FileManager.default.removeItem(at: output)
            if let sample = spawnMeasured("/usr/bin/curl", ["-s", "-o", output.path, url.absoluteString]) { curl.append(sample) }
            try? FileManager.default.removeItem(at: output)
            if let sample = spawnMeasured("/usr/bin/wget", ["-q", "-O", output.path, url.absoluteString]) { wget.append(sample) }
            try? FileManager.default.removeItem(at: output)
            if let sample = spawnMeasured("/bin/sh", ["-c", "/usr/bin/curl -s -o \"$0\" \"$1\" && sync \"$0\"", output.path, url.absoluteString]) {
                curlSync.append(sample)
            }
            try? FileManager.default.removeItem(at: output)
            // RangeResumer runs in a child process of this same binary, measured like the peers.
            let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            if let sample = spawnMeasured(me, ["rangeresume"], environment: [childKey: "\(url.absoluteString)|||discard"]) {
                discard.append(sample)
            }
            for variant in variants {
                try? FileManager.default.removeItem(at: output)
                let hash = variant.hasSuffix("sha256") ? digest : nil
                let engine = variant.hasPrefix("sockets") ? "sockets" : "urlsession"
                let environment = [childKey: "\(url.absoluteString)|\(output.path)|\(hash ?? "")|\(engine)"]
                if let sample = spawnMeasured(me, ["rangeresume"], environment: environment) {
                    samples[variant, default: []].append(sample)
                } else {
                    print("rangeresume.download: child run failed (\(variant))")
                }
            }
        }
        try? FileManager.default.removeItem(at: output)
        let name = "dl\(mebibytes)M"
        var peakRSS: [String: Double] = [:]
        if !curl.isEmpty { peakRSS["curl"] = median(curl).rssMiB }
        if !wget.isEmpty { peakRSS["wget"] = median(wget).rssMiB }
        for variant in variants {
            guard let runs = samples[variant], !runs.isEmpty else { continue }
            let mine = median(runs)
            peakRSS[variant] = mine.rssMiB
            for (peerName, peerSamples) in [("curl", curl), ("wget", wget)] where !peerSamples.isEmpty {
                let peer = median(peerSamples)
                report("\(name).\(variant).throughput", bytes / mine.seconds / 1e6, "MB/s", peer: (peerName, bytes / peer.seconds / 1e6))
                report("\(name).\(variant).cpu", mine.cpu, "CPU-s", peer: (peerName, peer.cpu))
                report("\(name).\(variant).peak-rss", mine.rssMiB, "MiB", peer: (peerName, peer.rssMiB))
            }
            // The bounds: durable bytes (the resumer fsyncs before its rename; curl does not), and
            // for the URLSession engine, what FoundationNetworking delivers with no write at all.
            var bounds = [("curl+sync", curlSync)]
            if variant.hasPrefix("urlsession") { bounds.append(("urlsession-discard", discard)) }
            for (peerName, peerSamples) in bounds where !peerSamples.isEmpty {
                report("\(name).\(variant).throughput", bytes / mine.seconds / 1e6, "MB/s",
                       peer: (peerName, bytes / median(peerSamples).seconds / 1e6))
            }
        }
        if !discard.isEmpty {
            let ceiling = median(discard)
            report("\(name).urlsession-discard.cpu", ceiling.cpu, "CPU-s", peer: curl.isEmpty ? nil : ("curl", median(curl).cpu))
            report("\(name).urlsession-discard.peak-rss", ceiling.rssMiB, "MiB", peer: curl.isEmpty ? nil : ("curl", median(curl).rssMiB))
        }
        return peakRSS
    }

    static func median(_ samples: [Sample]) -> Sample {
        func mid(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        return Sample(seconds: mid(samples.map(\.seconds)), cpu: mid(samples.map(\.cpu)), rssMiB: mid(samples.map(\.rssMiB)))
    }

    /// Runs `tool` under `/usr/bin/time` (GNU time) for its wall time, CPU time and peak RSS.
    ///
    /// Not `wait4` on a child we spawn: Linux carries the parent's peak RSS into a
    /// `posix_spawn`ed child's `ru_maxrss`, so every peer would report this process's peak.
    static func spawnMeasured(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) -> Sample? {
        let timer = "/usr/bin/time"
        guard FileManager.default.isExecutableFile(atPath: tool), FileManager.default.isExecutableFile(atPath: timer) else {
            return nil
        }
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("rangeresume-time-\(getpid()).txt")
        defer { try? FileManager.default.removeItem(at: report) }
        let start = nanos()
        guard runTool(timer, ["-f", "%U %S %M", "-o", report.path, tool] + arguments, environment: environment) != nil else {
            return nil
        }
        let seconds = Double(nanos() - start) / 1e9
        let fields = ((try? String(contentsOf: report, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace)
        guard fields.count >= 3, let user = Double(fields[fields.count - 3]), let system = Double(fields[fields.count - 2]),
              let kilobytes = Double(fields[fields.count - 1]) else { return nil }
        return Sample(seconds: seconds, cpu: user + system, rssMiB: kilobytes / 1024)
    }


    /// Fills `path` with `mebibytes` MiB of pseudo-random bytes (xorshift; content is irrelevant).
    static func writeRandomFile(_ path: String, mebibytes: Int) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)   // readable by nginx workers
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var block = [UInt64](repeating: 0, count: 131_072)
        for _ in 0..<mebibytes {
            for index in block.indices {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                block[index] = state
            }
            let written = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == 1_048_576 else { return false }
        }
        // On disk before any measurement: otherwise the kernel's background flush of this file
        // competes with the downloads (and with the resumer's checkpoint fsyncs above all).
        return fsync(fd) == 0
    }

    /// The SHA-256 hex of the file at `path`, read in 4 MiB pieces.
    static func hashFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256Hasher()
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 { return nil }
            if count == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return hasher.finalizeHex()
    }

    /// Runs `tool` and returns its standard output, or `nil` if it could not run or failed.
    static func runTool(_ tool: String, _ arguments: [String], environment: [String: String] = [:]) -> String? {
        guard FileManager.default.isExecutableFile(atPath: tool) else { return nil }
        let process = Process()
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return nil }
        let data = Data(PipeReader.readToEnd(pipe.fileHandleForReading.fileDescriptor))
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

/// nginx serving a directory on a free loopback port (gzip off), for the download benchmark.
final class LoopbackNginx {
    let port: Int
    private let process: Process
    private let prefix: URL

    /// - Parameter serverDirectives: extra directives for the `server` block (e.g. `limit_rate 8m;`).
    init?(executable: String, root: URL, serverDirectives: String = "") {
        prefix = root.appendingPathComponent("nginx")
        try? FileManager.default.createDirectory(at: prefix.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        port = Int.random(in: 20_000..<60_000)
        let temp = prefix.appendingPathComponent("tmp").path
        let config = """
        worker_processes 1; error_log stderr notice; pid \(prefix.path)/nginx.pid;
        events { worker_connections 64; }
        http { access_log off; sendfile on; gzip off; types { application/octet-stream bin; }
          client_body_temp_path \(temp); proxy_temp_path \(temp); fastcgi_temp_path \(temp);
          uwsgi_temp_path \(temp); scgi_temp_path \(temp);
          server { listen 127.0.0.1:\(port); root \(root.path); \(serverDirectives) } }
        """
        let configPath = prefix.appendingPathComponent("nginx.conf").path
        guard (try? config.write(toFile: configPath, atomically: true, encoding: .utf8)) != nil else { return nil }
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-p", prefix.path, "-c", configPath, "-g", "daemon off;"]
        let pipe = Pipe()
        process.standardError = pipe
        guard (try? process.run()) != nil else { return nil }
        var log = ""
        while !log.contains("start worker process") {
            guard let data = PipeReader.readSome(pipe.fileHandleForReading.fileDescriptor) else { return nil }
            log += String(decoding: data, as: UTF8.self)
        }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

/// A URLSession data task whose session delegate drops every body chunk: the most
/// FoundationNetworking delivers, for comparison with the resumer's URLSession engine.
final class DiscardingDownload: NSObject, URLSessionDataDelegate, Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let failed = Mutex(false)

    /// Downloads `url`, dropping the body; `true` when it completed without error with status 200.
    static func run(_ url: URL) -> Bool {
        let delegate = DiscardingDownload()
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
        var request = URLRequest(url: url)
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        session.dataTask(with: request).resume()
        delegate.done.wait()
        session.finishTasksAndInvalidate()
        return !delegate.failed.withLock { $0 }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        if (response as? HTTPURLResponse)?.statusCode != 200 { failed.withLock { $0 = true } }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {}

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        if error != nil { failed.withLock { $0 = true } }
        done.signal()
    }
}
