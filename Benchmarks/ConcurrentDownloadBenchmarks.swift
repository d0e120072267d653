import Foundation
import RangeResume
import ResilienceTesting

/// Issue 22's throughput figure: four downloads at once on each engine (sum of MB/s) against one
/// download alone, from the same unthrottled loopback nginx in the same run (median of
/// `CONCURRENT_BENCH_RUNS`, default 3, alternating). Each download verifies SHA-256, as the queue
/// does. `CONCURRENT_BENCH_MIB` sets each file's size (default 48 MiB: three URLSession windows).
///
/// Reproduce: `swift run -c release resilience-benchmarks concurrent` (needs nginx).
enum ConcurrentDownloadBenchmarks {
    static func run() async {
        if let reason = NginxServer.skipReason {
            print("concurrent: skipped, \(reason)")
            return
        }
        let environment = ProcessInfo.processInfo.environment
        let size = (environment["CONCURRENT_BENCH_MIB"].flatMap(Int.init) ?? 48) << 20
        let runs = max(1, environment["CONCURRENT_BENCH_RUNS"].flatMap(Int.init) ?? 3)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("concurrent-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        do {
            try FileManager.default.createDirectory(at: root.appendingPathComponent("out"), withIntermediateDirectories: true)
            var digests: [String] = []
            var generator = SeededRandomNumberGenerator(seed: 22)
            for index in 0..<4 {
                var words = [UInt64](repeating: 0, count: size / 8)
                for word in words.indices { words[word] = generator.next() }
                let body = words.withUnsafeBytes { Data($0) }
                digests.append(SHA256Hasher.hex(of: Array(body)))
                try body.write(to: root.appendingPathComponent("file-\(index).bin"))
            }
            let server = try NginxServer(serving: root)
            defer { server.stop() }
            for (engine, name) in [(RangeResumer.Engine.urlSession, "urlsession"), (.posixSockets, "sockets")] {
                var alone: [Double] = []
                var together: [Double] = []
                for _ in 0..<runs {
                    alone.append(try await megabytesPerSecond(files: 1, size: size, engine: engine, server: server, root: root, digests: digests))
                    together.append(try await megabytesPerSecond(files: 4, size: size, engine: engine, server: server, root: root, digests: digests))
                }
                report("concurrent.\(name).4-at-once.\(size >> 20)MiB", median(together), "MB/s",
                       peer: (name: "one-alone", value: median(alone)))
            }
        } catch {
            print("concurrent: failed: \(error)")
        }
    }

    /// Downloads `files` files at once (fresh destinations) and returns their bytes per second, summed.
    static func megabytesPerSecond(files: Int, size: Int, engine: RangeResumer.Engine, server: NginxServer, root: URL,
                                   digests: [String]) async throws -> Double {
        let out = root.appendingPathComponent("out")
        for index in 0..<files { try? FileManager.default.removeItem(at: out.appendingPathComponent("file-\(index).bin")) }
        let resumer = RangeResumer(engine: engine)
        let urls = (0..<files).map { server.url("file-\($0).bin") }
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<files {
                group.addTask {
                    _ = try await resumer.download(from: urls[index],
                                                   to: out.appendingPathComponent("file-\(index).bin"),
                                                   expectedSHA256: digests[index])
                }
            }
            try await group.waitForAll()
        }
        let elapsed = start.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return Double(files * size) / seconds / 1e6
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}
