import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// Issue 22: fast transfers running at once on the default URLSession engine must not hang the
/// process. Each case runs `ConcurrentDownloadChild` against an unthrottled loopback nginx, in a
/// child process limited to the machine's cooperative pool (the child prints the processors it
/// sees), under a time limit: a child still running at the limit is a hang, reported with every
/// thread's stack (gdb) and then `SIGKILL`ed, so it fails the test instead of stalling the suite.
///
/// `HANG_TEST_TIME_LIMIT` (seconds, default 60) changes the limit. Skipped, with the reason
/// printed, when nginx is not installed.
@Suite("Concurrent URLSession transfers do not hang", .serialized,
       .enabled(if: NginxServer.skipReason == nil, "skipped: nginx is not installed (apt-get install nginx-light; .ci/run does this)"),
       .timeLimit(.minutes(10)))
struct ConcurrentTransferHangTests {
    /// 48 MiB (three URLSession windows); 24 MiB under ThreadSanitizer, whose instrumented
    /// children are several times slower (still two windows each).
    static let size = Sanitizers.isThreadSanitizerActive ? 24 << 20 : 48 << 20
    static let timeLimit = Duration.seconds(ProcessInfo.processInfo.environment["HANG_TEST_TIME_LIMIT"].flatMap(Int.init) ?? 60)

    /// Files of ``size`` bytes `file-<i>.bin` (``tiledBytes(_:seed:)``, seed 2200 + i) served by
    /// an unthrottled nginx, with a `SHA256SUMS` list beside the work directory. Made on a plain
    /// thread (``make(files:)``): hundreds of MiB made and hashed on a cooperative thread starved
    /// every other test of the pool for over a minute under ThreadSanitizer.
    final class Fixture {
        let served: ScratchDirectory
        let work: ScratchDirectory
        let server: NginxServer
        let digests: [String]

        private init(served: ScratchDirectory, digests: [String]) throws {
            self.served = served
            self.digests = digests
            work = try ScratchDirectory()
            let sums = digests.enumerated().map { "\($0.element)  file-\($0.offset).bin\n" }.joined()
            try Data(sums.utf8).write(to: work.file("SHA256SUMS"))
            server = try NginxServer(serving: served.url)
        }

        /// Writes the files (and hashes them) on a thread of its own, then starts nginx.
        static func make(files: Int) async throws -> Fixture {
            let served = try ScratchDirectory()
            let directory = served.url
            let digests: [String] = try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(with: Result {
                        try (0..<files).map { index in
                            let body = tiledBytes(ConcurrentTransferHangTests.size, seed: 2200 + UInt64(index))
                            try Data(body).write(to: directory.appendingPathComponent("file-\(index).bin"))
                            return SHA256Hasher.hex(of: body)
                        }
                    })
                }
            }
            return try Fixture(served: served, digests: digests)
        }

        deinit {
            server.stop()
            served.cleanup()
            work.cleanup()
        }
    }

    /// What a `ConcurrentDownloadChild` run printed and how it ended.
    struct Run {
        let lines: [String]
        let outcome: ChildProcess.TimeLimitedExit
        let elapsed: Duration

        /// The `MBps=` figure of the summary line, when the child got that far.
        var megabytesPerSecond: Double? {
            lines.last { $0.hasPrefix("summary ") }?.split(separator: " ").first { $0.hasPrefix("MBps=") }
                .flatMap { Double($0.dropFirst("MBps=".count)) }
        }
    }

    /// Runs the child with `arguments` under ``timeLimit``; records a failure (with the thread
    /// stacks of a hang, or the output of an error) unless it exited 0.
    static func runChild(_ arguments: [String], _ label: String) async throws -> Run {
        let clock = ContinuousClock()
        let start = clock.now
        let child = try ChildProcess(executable: ChildProcess.siblingExecutable(named: "ConcurrentDownloadChild"),
                                     arguments: arguments)
        let outcome = await child.exitStatus(timeLimit: timeLimit)
        let run = Run(lines: child.lines, outcome: outcome, elapsed: clock.now - start)
        let output = run.lines.joined(separator: "\n")
        print("\(label): \(outcome == .ended(.exited(0)) ? "exited 0" : "FAILED") after \(run.elapsed); child output:\n\(output)")
        switch outcome {
        case .ended(let status):
            #expect(status == .exited(0), "\(label): the child ended with \(status); its output:\n\(output)")
        case .killedAtTimeLimit(let stacks):
            Issue.record("""
                \(label): HUNG — the child had not exited after \(timeLimit) and was killed (SIGKILL).
                Its output so far:
                \(output)
                Thread stacks (gdb, thread apply all bt) at the time limit:
                \(stacks)
                """)
        }
        return run
    }

    @Test func fourConcurrent48MiBDownloadsThroughDownloadQueue() async throws {
        let fixture = try await Fixture.make(files: 4)
        _ = try await Self.runChild(["queue", fixture.server.url("").absoluteString, fixture.work.url.path, "\(Self.size)"],
                                    "queue 4×48 MiB")
    }

    @Test(arguments: [4, 8]) func segmentedDownloadOf48MiB(connections: Int) async throws {
        let fixture = try await Fixture.make(files: 1)
        _ = try await Self.runChild(["segmented", fixture.server.url("file-0.bin").absoluteString,
                                     fixture.work.file("out.bin").path, "\(connections)", fixture.digests[0]],
                                    "segmented 48 MiB, \(connections) connections")
    }

    // The issue's throughput target (four at once ≥ one alone) is a benchmark figure, not a timed
    // test: `swift run -c release resilience-benchmarks concurrent`.
}

/// `count` bytes made of one seeded 1 MiB block repeated, each copy stamped with its index in its
/// first 8 bytes: every MiB differs (a misplaced range shows in the digest), and it costs a
/// memcpy per MiB instead of a generator call per 8 bytes (which took minutes for 192 MiB under
/// ThreadSanitizer).
func tiledBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    let block = seededBytes(min(count, 1 << 20), seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        var index: UInt64 = 0
        while offset < count {
            let take = min(block.count, count - offset)
            block.withUnsafeBytes { buffer.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: take) }
            withUnsafeBytes(of: index.littleEndian) { stamp in
                buffer.baseAddress!.advanced(by: offset).copyMemory(from: stamp.baseAddress!, byteCount: min(8, take))
            }
            offset += take
            index += 1
        }
    }
    return bytes
}
