import Downloads
import Foundation
import RangeResume
#if canImport(Glibc)
import Glibc
#endif

/// Segmented downloads against nginx with a **per-connection** rate limit (`limit_rate`), all in
/// one run on one file: `RangeResumer` over one connection, `SegmentedDownload` with 4 and 8
/// connections (URLSession and POSIX socket engines), and `aria2c -x4 -s4` / `-x8 -s8`.
/// aria2c gets `-k1M` (its smallest split size; our default minimum segment is 1 MiB too) and
/// `--file-allocation=none`. Figures: throughput against aria2c at the same connection count (target ≥ 1×) and against
/// the bound N × limit (target ≥ 0.9×); wall seconds are printed too. No hashing on either side
/// (aria2c verifies nothing without a checksum either); every result is compared with the
/// source afterwards.
///
/// Environment: `SEGMENTED_BENCH_MIB` (file size, default 256), `SEGMENTED_BENCH_LIMIT_MIB`
/// (per-connection limit in MiB/s, default 8), `SEGMENTED_BENCH_RUNS` (default 1; the median
/// is reported).
enum SegmentedDownloadBenchmarks {
    static func run() async {
        let environment = ProcessInfo.processInfo.environment
        let mebibytes = Int(environment["SEGMENTED_BENCH_MIB"] ?? "") ?? 256
        let limit = Int(environment["SEGMENTED_BENCH_LIMIT_MIB"] ?? "") ?? 8
        let runs = max(1, Int(environment["SEGMENTED_BENCH_RUNS"] ?? "") ?? 1)
        guard let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            print("segmented: skipped, nginx is not installed (Debian: nginx-light)")
            return
        }
        let aria2 = "/usr/bin/aria2c"
        let hasAria2 = FileManager.default.isExecutableFile(atPath: aria2)
        if !hasAria2 { print("segmented: aria2c is not installed (Debian: aria2); its lines are skipped") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("segmented-bench-\(getpid())")
        let served = directory.appendingPathComponent("www")
        try? FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = served.appendingPathComponent("random.bin")
        guard RangeResumeBenchmarks.writeRandomFile(file.path, mebibytes: mebibytes),
              let digest = RangeResumeBenchmarks.hashFile(file.path) else {
            print("segmented: could not write \(file.path); skipped")
            return
        }
        guard let server = LoopbackNginx(executable: nginx, root: served, serverDirectives: "limit_rate \(limit)m;") else {
            print("segmented: skipped, nginx did not start")
            return
        }
        defer { server.stop() }
        let url = URL(string: "http://127.0.0.1:\(server.port)/random.bin")!
        let output = directory.appendingPathComponent("out.bin")
        let bytes = Double(mebibytes) * 1_048_576
        let limitMB = Double(limit) * 1_048_576 / 1e6

        var seconds: [String: [Double]] = [:]
        func measure(_ name: String, _ body: () async throws -> Void) async {
            try? FileManager.default.removeItem(at: output)
            let start = nanos()
            do {
                try await body()
            } catch {
                print("segmented: \(name) failed: \(error)")
                return
            }
            let elapsed = Double(nanos() - start) / 1e9
            guard RangeResumeBenchmarks.hashFile(output.path) == digest else {
                print("segmented: \(name) produced a wrong file")
                return
            }
            seconds[name, default: []].append(elapsed)
        }
        let noHash = RangeResumer.Configuration(computesSHA256: false)
        for _ in 0..<runs {
            await measure("single") {
                _ = try await RangeResumer(configuration: noHash).download(from: url, to: output)
            }
            for connections in [4, 8] {
                for engine in [RangeResumer.Engine.urlSession, .posixSockets] {
                    let configuration = SegmentedDownloadConfiguration(connections: connections,
                                                                       transfer: .init(checkpointInterval: 16 << 20, computesSHA256: false))
                    await measure("x\(connections).\(engine == .urlSession ? "urlsession" : "sockets")") {
                        let result = try await SegmentedDownload(configuration: configuration, engine: engine)
                            .download(from: url, to: output)
                        guard result.isSegmented else { throw CocoaError(.featureUnsupported) }
                    }
                }
                if hasAria2 {
                    await measure("aria2c.x\(connections)") {
                        let arguments = ["-q", "-x\(connections)", "-s\(connections)", "-k1M", "--allow-overwrite=true",
                                         "--auto-file-renaming=false", "--file-allocation=none", "-d", directory.path,
                                         "-o", output.lastPathComponent, url.absoluteString]
                        guard RangeResumeBenchmarks.runTool(aria2, arguments) != nil else { throw CocoaError(.fileWriteUnknown) }
                    }
                }
            }
        }
        func median(_ name: String) -> Double? {
            guard let values = seconds[name], !values.isEmpty else { return nil }
            return values.sorted()[values.count / 2]
        }
        let prefix = "seg\(mebibytes)M.lim\(limit)m"
        if let single = median("single") {
            report("\(prefix).x1.wall", single, "s")
            report("\(prefix).x1.vs-bound", bytes / single / 1e6, "MB/s", peer: ("1×limit", limitMB))
        }
        for connections in [4, 8] {
            let aria = median("aria2c.x\(connections)")
            if let aria { report("\(prefix).aria2c.x\(connections).wall", aria, "s") }
            for engine in ["urlsession", "sockets"] {
                guard let mine = median("x\(connections).\(engine)") else { continue }
                let name = "\(prefix).x\(connections).\(engine)"
                report("\(name).wall", mine, "s")
                if let aria {
                    report("\(name).vs-aria2c", bytes / mine / 1e6, "MB/s", peer: ("aria2c -x\(connections)", bytes / aria / 1e6))
                }
                report("\(name).vs-bound", bytes / mine / 1e6, "MB/s", peer: ("\(connections)×limit", Double(connections) * limitMB))
            }
        }
    }
}
