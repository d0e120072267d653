import AsyncHTTPClient
import AsyncHTTPClientEngines
import Foundation
import NIOSSL
import RangeResume
import ResilienceTesting
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The AsyncHTTPClient engine against `curl -o` over `https` from nginx on loopback (a
/// self-signed certificate both trust explicitly), every figure beside its peer from the same run.
///
///     swift run -c release asynchttpclient-engine-benchmarks [MiB]   # default 1024
///
/// Prints one line per figure: throughput (MB/s, 10^6 bytes), the engine's ratio to curl, peak RSS
/// (curl: the largest reaped child, measured before the engine runs; the engine: this process).
@main
enum AsyncHTTPClientEngineBenchmarks {
    static func main() async throws {
        let mebibytes = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 1024
        let size = Int64(mebibytes) << 20
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ahc-bench-\(UUID().uuidString)")
        let served = directory.appendingPathComponent("served")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("cert.pem"), key = directory.appendingPathComponent("key.pem")
        try await run("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                                           "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key.path, "-out", certificate.path],
                      log: directory.appendingPathComponent("openssl.log"))
        let digest = try writeRandomFile(served.appendingPathComponent("big.bin"), size: size)
        let server = try NginxServer(serving: served, tls: (certificate.path, key.path))
        defer { server.stop() }
        let url = server.url("big.bin")

        let curlOut = directory.appendingPathComponent("curl.bin")
        let curlStart = ContinuousClock.now
        try await run("/usr/bin/curl", ["-s", "-S", "--fail", "--cacert", certificate.path, "-o", curlOut.path, url.absoluteString],
                      log: directory.appendingPathComponent("curl.log"))
        let curlSeconds = seconds(ContinuousClock.now - curlStart)
        let curlRSS = peakRSS(children: true)
        try FileManager.default.removeItem(at: curlOut)

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificate.path))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                                configuration: AsyncHTTPClientEngine.configuration(tlsConfiguration: tls))
        let engineStart = ContinuousClock.now
        let outcome: Result<DownloadResult, any Error>
        do {
            outcome = .success(try await RangeResumer(engine: .custom(AsyncHTTPClientEngine(client: client)))
                .download(from: url, to: directory.appendingPathComponent("engine.bin"), expectedSHA256: digest))
        } catch { outcome = .failure(error) }
        let engineSeconds = seconds(ContinuousClock.now - engineStart)
        try await client.shutdown()
        let result = try outcome.get()
        let engineRSS = peakRSS(children: false)

        let curlRate = Double(size) / curlSeconds / 1e6, engineRate = Double(size) / engineSeconds / 1e6
        print("https \(mebibytes) MiB curl -o: \(format(curlRate)) MB/s, peak RSS \(curlRSS) MiB")
        print("https \(mebibytes) MiB AsyncHTTPClientEngine + SHA-256 (\(result.sha256 == digest ? "verified" : "MISMATCH")): "
              + "\(format(engineRate)) MB/s (\(format(engineRate / curlRate))× curl), peak RSS \(engineRSS) MiB (curl \(curlRSS) MiB)")
    }

    /// Runs `executable` to its end; throws unless it exits 0. Its stderr goes to `log`.
    static func run(_ executable: String, _ arguments: [String], log: URL) async throws {
        let child = try ChildProcess(executable: URL(fileURLWithPath: executable), arguments: arguments, standardError: log)
        while await child.nextLine() != nil {}
        let status = await child.exitStatus
        guard status == .exited(0) else {
            throw BenchmarkError.failed("\(executable) \(status): \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        }
    }

    enum BenchmarkError: Error { case failed(String) }

    /// Writes `size` pseudo-random bytes to `url` a MiB at a time; returns their SHA-256 (hex).
    static func writeRandomFile(_ url: URL, size: Int64) throws -> String {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw BenchmarkError.failed("create \(url.path)") }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var generator = SeededRandomNumberGenerator(seed: 15)
        var hasher = SHA256Hasher()
        var block = [UInt64](repeating: 0, count: 1 << 17)
        var left = size
        while left > 0 {
            for index in block.indices { block[index] = generator.next() }
            let count = Int(min(left, 1 << 20))
            let data = block.withUnsafeBytes { Data($0.prefix(count)) }
            data.withUnsafeBytes { hasher.update($0) }
            try handle.write(contentsOf: data)
            left -= Int64(count)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Peak resident set size in MiB of this process, or of its largest reaped child.
    static func peakRSS(children: Bool) -> Int {
        var usage = rusage()
        #if canImport(Glibc)
        _ = getrusage(__rusage_who_t((children ? RUSAGE_CHILDREN : RUSAGE_SELF).rawValue), &usage)
        return usage.ru_maxrss / 1024   // KiB on Linux
        #else
        _ = getrusage(children ? RUSAGE_CHILDREN : RUSAGE_SELF, &usage)
        return usage.ru_maxrss / (1 << 20)   // bytes on Darwin
        #endif
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}
