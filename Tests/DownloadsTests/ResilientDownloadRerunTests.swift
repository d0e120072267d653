import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// What a re-run of `resilient-download` after `kill -9` must honour: the URL typed now (a
/// server that moved to another port), and no wait for the dead run's lease. Drives the real
/// binary, as ``ResilientDownloadKillTests`` does.
@Suite("resilient-download re-run", .timeLimit(.minutes(3)))
struct ResilientDownloadRerunTests {
    typealias Kill = ResilientDownloadKillTests

    static func arguments(_ fixture: Kill.Fixture, url: URL, sha256: String?) -> [String] {
        ["--journal", fixture.dir.file("jobs.journal").path, "--concurrency", "1", "--checkpoint-mib", "1"]
            + (sha256.map { ["--sha256", $0] } ?? []) + [url.absoluteString, "-d", fixture.output.path]
    }

    @Test(arguments: [true, false]) func aNewURLAfterKillGivesByteExactOutput(withDigest: Bool) async throws {
        let fixture = try Kill.Fixture(); defer { fixture.tearDown() }
        let moved = try FaultyHTTPServer(); defer { moved.stop() }
        moved.serve(fixture.body, at: "/big.bin", etag: "\"moved\"")
        fixture.server.enqueueFaults(Kill.trickledRun, for: "/big.bin")
        let digest = withDigest ? SHA256Hasher.hex(of: fixture.body) : nil
        _ = try await Kill.startAndKill(fixture, sha256: digest)
        fixture.server.stop()   // the old address is dead

        let rerun = try await Kill.run(Self.arguments(fixture, url: moved.url(for: "/big.bin"), sha256: digest))
        #expect(rerun.status == .exited(0), "\(rerun.lines.joined(separator: "\n"))")
        #expect(contents(of: fixture.destination) == Data(fixture.body))
        #expect(!exists(RangeResumer.partFileURL(for: fixture.destination)))
        let sent = moved.requests(for: "/big.bin").mergingRangeWindows()
        let first = try #require(sent.first)
        #expect(first.ifRange == nil)   // the old server's validator never reaches the new one
        let offset = first.range.flatMap { Int($0.dropFirst("bytes=".count).prefix { $0 != "-" }) } ?? 0
        if withDigest {   // known length + expected SHA-256: the .part is continued
            #expect(offset >= Kill.killAfter, "\(sent)")
            #expect(rerun.lines.contains { $0.hasPrefix("big.bin: resumed at byte \(offset)") }, "\(rerun.lines)")
        } else {          // nothing vouches for the new server's bytes: fetched anew
            #expect(offset == 0, "\(sent)")
        }
    }

    @Test func theFirstByteOfAReRunArrivesWithinOneSecond() async throws {
        let fixture = try Kill.Fixture(); defer { fixture.tearDown() }
        fixture.server.enqueueFaults(Kill.trickledRun, for: "/big.bin")
        let digest = SHA256Hasher.hex(of: fixture.body)
        _ = try await Kill.startAndKill(fixture, sha256: digest)

        let started = ContinuousClock.now
        let child = try Kill.spawnMerged(fixture.arguments(sha256: digest))
        var lines: [String] = []
        while let line = await child.nextLine() { lines.append(line) }
        #expect(await child.exitStatus == .exited(0), "\(lines.joined(separator: "\n"))")
        let sent = fixture.server.requests(for: "/big.bin").mergingRangeWindows()
        try #require(sent.count == 2, "\(sent)")
        // Measured at the server (its own thread): when the re-run's request arrived — the first
        // byte follows at once. Reading the child's progress line instead measured this test
        // process's own scheduling delay under load (5 s under ThreadSanitizer).
        let elapsed = started.duration(to: sent[1].receivedAt)
        // The issue's target is 1 s; the ThreadSanitizer pass runs an instrumented CLI, several
        // times slower to start, and allows 5 s — still far below the dead run's 10 s lease.
        let bound: Duration = Sanitizers.isThreadSanitizerActive ? .seconds(5) : .seconds(1)
        print("resilient-download re-run: request after \(elapsed) (bound \(bound))")
        #expect(elapsed < bound, "\(lines.joined(separator: "\n"))")
        #expect(contents(of: fixture.destination) == Data(fixture.body))
    }
}
