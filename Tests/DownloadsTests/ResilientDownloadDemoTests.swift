import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// Runs the built `resilient-download` executable as a child process (stdout is a pipe, so it
/// prints plain lines, not a live display).
@Suite("resilient-download demo", .timeLimit(.minutes(3)))
struct ResilientDownloadDemoTests {
    /// Runs the demo with `arguments`; returns its stdout lines and exit status.
    static func run(_ arguments: [String]) async throws -> (lines: [String], status: ChildProcess.ExitStatus) {
        let child = try ChildProcess(executable: ChildProcess.siblingExecutable(named: "resilient-download"), arguments: arguments)
        var lines: [String] = []
        while let line = await child.nextLine() { lines.append(line) }
        return (lines, await child.exitStatus)
    }

    /// The first whole number after `label` in `line`, e.g. `count(after: "files ", ...)`.
    static func fraction(after label: String, in line: String) -> (Int, Int)? {
        guard let range = line.range(of: label) else { return nil }
        let rest = line[range.upperBound...].prefix { $0.isNumber || $0 == "/" }
        let parts = rest.split(separator: "/").compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }

    @Test func demoWithoutArgumentsDownloadsAndVerifiesEveryFile() async throws {
        let (lines, status) = try await Self.run([])
        #expect(status == .exited(0))
        let summary = try #require(lines.last { $0.hasPrefix("files ") }, "no summary in:\n\(lines.joined(separator: "\n"))")
        let files = try #require(Self.fraction(after: "files ", in: summary))
        let verified = try #require(Self.fraction(after: "SHA-256 verified ", in: summary))
        #expect(files.1 >= 3 && files.0 == files.1)
        #expect(verified == files)
        #expect(summary.contains("faults met") && summary.contains("retries") && summary.contains("elapsed"))
        // Non-TTY output: plain lines, no escape sequences.
        #expect(!lines.contains { $0.contains("\u{1B}[") })
    }

    @Test(arguments: [["--bogus"], ["--concurrency", "0", "http://127.0.0.1/x", "-d", "/tmp"],
                      ["-o", "f", "http://127.0.0.1/x", "http://127.0.0.1/y"],
                      ["ftp://example.com/x", "-d", "/tmp"], ["http://127.0.0.1/x", "-d", "/tmp", "--sha256", "abc"]])
    func badArgumentsExitWith64(arguments: [String]) async throws {
        let (lines, status) = try await Self.run(arguments)
        #expect(status == .exited(64))
        #expect(lines.isEmpty)   // the one-line error goes to stderr
    }

    @Test func downloadsURLsIntoTheDirectoryAndFailsOnAMissingOne() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let bodies = (0..<2).map { seededBytes(300_000, seed: 40 + UInt64($0)) }
        for (index, body) in bodies.enumerated() { server.serve(body, at: "/u\(index).bin") }
        server.enqueueFaults([.dropAfter(bytes: 120_000)], for: "/u0.bin")
        let urls = (0..<2).map { server.url(for: "/u\($0).bin").absoluteString }
        let ok = try await Self.run(urls + ["-d", dir.url.path, "--sha256", SHA256Hasher.hex(of: bodies[0]),
                                            "--sha256", SHA256Hasher.hex(of: bodies[1])])
        #expect(ok.status == .exited(0))
        for (index, body) in bodies.enumerated() { #expect(contents(of: dir.file("u\(index).bin")) == Data(body)) }
        #expect(server.requests(for: "/u0.bin").last?.range == RangeResumer.Engine.urlSession.rangeField(from: 120_000))

        let missing = try await Self.run([server.url(for: "/nope.bin").absoluteString, "-d", dir.url.path])
        #expect(missing.status == .exited(1))
        #expect(!exists(dir.file("nope.bin")))
    }

    @Test func connectionsAboveOneDownloadInSegments() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let body = seededBytes(6 << 20, seed: 77)
        server.serve(body, at: "/big.bin")
        let run = try await Self.run([server.url(for: "/big.bin").absoluteString, "-d", dir.url.path,
                                      "--connections", "4", "--sha256", SHA256Hasher.hex(of: body)])
        #expect(run.status == .exited(0))
        #expect(contents(of: dir.file("big.bin")) == Data(body))
        let ranges = server.requests(for: "/big.bin").compactMap(\.range)
        #expect(ranges.first == "bytes=0-0")
        #expect(Set(ranges.dropFirst()).count == 4)   // one range per connection
    }

    @Test func helpPrintsUsage() async throws {
        let (lines, status) = try await Self.run(["--help"])
        #expect(status == .exited(0))
        #expect(lines.first?.hasPrefix("usage: resilient-download") == true)
    }
}
