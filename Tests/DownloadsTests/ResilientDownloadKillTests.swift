import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// The built `resilient-download` in URL mode, `SIGKILL`ed mid-download and run again with the
/// same command: the journal and the `.part` checkpoint make the second run resume (or, when the
/// file changed on the server, fetch it anew). The kill happens once the child's own progress
/// output shows bytes past a checkpoint — no sleeps.
@Suite("resilient-download kill and re-run", .timeLimit(.minutes(3)))
struct ResilientDownloadKillTests {
    /// 64 s at the trickle rate, the kill due after 8: a loaded machine can be most of a minute
    /// late reading the progress line without the child finishing before the kill (at 1 MiB/s,
    /// 13 s of slack, a full ThreadSanitizer run once read it too late).
    static let size = 16 << 20
    static let mebibyte = 1 << 20
    /// The first run's responses trickle at 256 KiB/s, so the kill lands mid-body. One per
    /// request of that run: the URLSession engine asks for the body in `Range` windows (4 MiB
    /// first), and an untrickled second window let a slow reader of the progress lines see the
    /// child finish before the kill. ``startAndKill(_:sha256:)`` clears what is left, so the
    /// re-run is not trickled.
    static let trickle = HTTPFault.trickle(bytesPerSecond: 256 << 10)
    static let trickledRun = Array(repeating: trickle, count: 8)
    /// Kill once the child reported this many bytes: with `--checkpoint-mib 1` and 1 MiB write
    /// batches, a reported position ≥ 2 MiB means a checkpoint at ≥ 2 MiB is durable.
    static let killAfter = 2 << 20

    struct Fixture {
        let server: FaultyHTTPServer
        let dir: ScratchDirectory
        let output: URL
        let body: [UInt8]
        let resource: HTTPResource
        var url: URL { server.url(for: "/big.bin") }
        var destination: URL { output.appendingPathComponent("big.bin") }

        init() throws {
            server = try FaultyHTTPServer()
            dir = try ScratchDirectory()
            output = dir.file("out")
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            body = seededBytes(ResilientDownloadKillTests.size, seed: 77)
            resource = server.serve(body, at: "/big.bin")
        }

        func arguments(sha256: String?) -> [String] {
            ["--journal", dir.file("jobs.journal").path, "--concurrency", "1", "--checkpoint-mib", "1"]
                + (sha256.map { ["--sha256", $0] } ?? []) + [url.absoluteString, "-d", output.path]
        }

        func tearDown() {
            server.stop()
            dir.cleanup()
        }
    }

    static var executable: URL { ChildProcess.siblingExecutable(named: "resilient-download") }

    /// Starts the CLI with its stderr (progress, failures) merged into the captured stdout (the
    /// summary), via `sh -c 'exec … 2>&1'`: the child's pid is the CLI's own.
    static func spawnMerged(_ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                         arguments: ["-c", "exec \"$0\" \"$@\" 2>&1", executable.path] + arguments)
    }

    /// Runs the CLI to its end; its stdout and stderr lines, and exit status.
    static func run(_ arguments: [String]) async throws -> (lines: [String], status: ChildProcess.ExitStatus) {
        let child = try spawnMerged(arguments)
        var lines: [String] = []
        while let line = await child.nextLine() { lines.append(line) }
        return (lines, await child.exitStatus)
    }

    /// Runs the CLI with its **stderr** as the captured stream (stdout discarded), via `sh`.
    static func runCapturingStderr(_ arguments: [String]) async throws -> (lines: [String], status: ChildProcess.ExitStatus) {
        let script = "exec \"$0\" \"$@\" 2>&1 1>/dev/null"
        let child = try ChildProcess(executable: URL(fileURLWithPath: "/bin/sh"),
                                     arguments: ["-c", script, executable.path] + arguments)
        var lines: [String] = []
        while let line = await child.nextLine() { lines.append(line) }
        return (lines, await child.exitStatus)
    }

    /// Starts the CLI, waits for a progress line of `big.bin` at ≥ ``killAfter`` bytes, then
    /// `SIGKILL`s it. Returns the last position it reported.
    static func startAndKill(_ fixture: Fixture, sha256: String?) async throws -> Int {
        let child = try spawnMerged(fixture.arguments(sha256: sha256))
        var reported = 0
        var seen: [String] = []
        while reported < killAfter, let line = await child.nextLine() {
            seen.append(line)
            if line.hasPrefix("big.bin: "), line.hasSuffix(" bytes"),
               let bytes = line.dropFirst("big.bin: ".count).split(separator: "/").first.flatMap({ Int($0) }) {
                reported = bytes
            }
        }
        child.kill(SIGKILL)
        fixture.server.clearFaults()   // the re-run is not trickled
        let status = await child.exitStatus
        try #require(reported >= killAfter, "the child ended before \(killAfter) bytes:\n\(seen.joined(separator: "\n"))")
        #expect(status == .signaled(SIGKILL))
        return reported
    }

    @Test func killedRunIsResumedByTheSameCommand() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        fixture.server.enqueueFaults(Self.trickledRun, for: "/big.bin")
        let digest = SHA256Hasher.hex(of: fixture.body)
        let reported = try await Self.startAndKill(fixture, sha256: digest)
        #expect(!exists(fixture.destination))
        #expect(exists(RangeResumer.partFileURL(for: fixture.destination)))

        let rerun = try await Self.run(fixture.arguments(sha256: digest))
        #expect(rerun.status == .exited(0), "\(rerun.lines.joined(separator: "\n"))")
        #expect(contents(of: fixture.destination) == Data(fixture.body))
        #expect(!exists(RangeResumer.partFileURL(for: fixture.destination)))
        let sent = fixture.server.requests(for: "/big.bin").mergingRangeWindows()
        try #require(sent.count == 2, "\(sent)")
        // The second request resumes from the checkpoint the progress output promised, with the
        // first response's validator, and only the rest of the file is sent again.
        let range = try #require(sent[1].range)
        let first = range.dropFirst("bytes=".count).prefix { $0 != "-" }
        let offset = try #require(Int(first))
        #expect(range == RangeResumer.Engine.urlSession.rangeField(from: Int64(offset)))
        #expect(sent[1].ifRange == fixture.resource.etag && sent[1].status == 206)
        #expect(offset >= Self.killAfter && offset >= reported - Self.mebibyte && offset % Self.mebibyte == 0)
        #expect(offset <= sent[0].bodyBytesSent && offset < Self.size)
        #expect(sent[1].bodyBytesSent == Self.size - offset)
        // Re-fetched: what the first response had delivered past the checkpoint — at most one
        // checkpoint interval plus one write batch.
        #expect(sent[0].bodyBytesSent - offset <= 2 * Self.mebibyte)
    }

    @Test func fileChangedOnTheServerIsFetchedAnewNeverSpliced() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        fixture.server.enqueueFaults(Self.trickledRun, for: "/big.bin")
        _ = try await Self.startAndKill(fixture, sha256: nil)
        // Between the runs the file changes: new bytes, new length, new ETag.
        let changed = seededBytes(Self.size - 12_345, seed: 78)
        let resource = fixture.server.serve(changed, at: "/big.bin")
        #expect(resource.etag != fixture.resource.etag)

        let rerun = try await Self.run(fixture.arguments(sha256: nil))
        #expect(rerun.status == .exited(0), "\(rerun.lines.joined(separator: "\n"))")
        #expect(contents(of: fixture.destination) == Data(changed))
        let sent = fixture.server.requests(for: "/big.bin").mergingRangeWindows()
        try #require(sent.count == 2, "\(sent)")
        // The resume asked with the old validator; the server answered 200 with all of it.
        #expect(sent[1].range != nil && sent[1].ifRange == fixture.resource.etag)
        #expect(sent[1].status == 200 && sent[1].bodyBytesSent == changed.count)
    }

    @Test(arguments: [["--checkpoint-mib", "0", "http://127.0.0.1/x", "-d", "/tmp"], ["--nope"],
                      ["-o", "/abs/f", "-d", "/tmp", "http://127.0.0.1/x"]])
    func badArgumentsExit64WithOneLineOnStderr(arguments: [String]) async throws {
        let (lines, status) = try await Self.runCapturingStderr(arguments)
        #expect(status == .exited(64))
        #expect(lines.count == 1 && lines.first?.isEmpty == false, "\(lines)")
    }

    @Test func failuresExitNonZeroWithOneStderrLinePerFailedURL() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        fixture.server.serve(seededBytes(10_000, seed: 3), at: "/ok.bin")
        let missing = ["/gone1.bin", "/gone2.bin"].map { fixture.server.url(for: $0).absoluteString }
        let arguments = ["-q", "--journal", fixture.dir.file("jobs.journal").path, missing[0],
                         fixture.server.url(for: "/ok.bin").absoluteString, missing[1], "-d", fixture.output.path]
        let (lines, status) = try await Self.runCapturingStderr(arguments)
        #expect(status != .exited(0))
        #expect(lines.count == 2, "\(lines)")
        for url in missing { #expect(lines.filter { $0.hasPrefix(url + ": ") && $0.contains("404") }.count == 1, "\(lines)") }
        #expect(exists(fixture.output.appendingPathComponent("ok.bin")))
    }
}
