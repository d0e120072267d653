import Foundation
import JobStores
import ResilienceTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process (the `JobStoreCrashChild` executable, built as a dependency of this test
/// target) churns jobs through every state with `.fsyncEachWrite` and is `SIGKILL`ed at random
/// moments; after each kill the store must reopen with every acknowledged change in place.
///
/// Scale: the issue asks for 10,000 jobs and 50 kills. Every change costs a real `fdatasync`
/// (0.1 ms on an idle disk, several ms on a busy shared one), so to keep CI in seconds the
/// default is scaled down to 2,000 jobs and 25 kills. Run the full size with
/// `JOBSTORES_CRASH_JOBS=10000 JOBSTORES_CRASH_KILLS=50 swift test --filter CrashTests`.
@Suite("Crash recovery")
struct CrashTests {
    static let jobs = ProcessInfo.processInfo.environment["JOBSTORES_CRASH_JOBS"].flatMap(Int.init) ?? 2_000
    static let kills = ProcessInfo.processInfo.environment["JOBSTORES_CRASH_KILLS"].flatMap(Int.init) ?? 25

    /// The crash child, built beside the test binary.
    static var childExecutable: String {
        ChildProcess.siblingExecutable(named: "JobStoreCrashChild").path
    }

    struct Run: Sendable {
        var lines: [String]
        var killed: Bool
        var status: Int32
    }

    /// Runs the child; after it printed `killAfter` lines, SIGKILLs it. Reads stdout to the end
    /// (lines printed before the kill are acknowledgements too). Blocking I/O runs on a Dispatch
    /// thread, not on the Swift concurrency pool.
    static func runChild(journal: String, seed: UInt64, killAfter: Int?) async throws -> Run {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: childExecutable)
                process.arguments = [journal, String(seed), String(jobs)]
                let pipe = Pipe()
                process.standardOutput = pipe
                do { try process.run() } catch {
                    continuation.resume(throwing: error)
                    return
                }
                let fd = pipe.fileHandleForReading.fileDescriptor
                var pending = Data()
                var lines: [String] = []
                var killed = false
                while true {
                    guard let chunk = PipeReader.readSome(fd) else { break }   // not FileHandle: it traps on EINTR
                    pending.append(contentsOf: chunk)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                        pending.removeSubrange(pending.startIndex...newline)
                    }
                    if let killAfter, !killed, lines.count >= killAfter {
                        kill(process.processIdentifier, SIGKILL)
                        killed = true
                    }
                }
                process.waitUntilExit()
                continuation.resume(returning: Run(lines: lines, killed: killed, status: process.terminationStatus))
            }
        }
    }

    @Test func killedWriterLosesNothingAcknowledged() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.childExecutable), "child not built at \(Self.childExecutable)")
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var generator = SeededRandomNumberGenerator(seed: 0xC0FFEE)
        var enqueued: Set<UUID> = []
        var completed: Set<UUID> = []
        var ended: [UUID: JobState] = [:]  // failed / cancelled acknowledgements
        var kills = 0
        var finished = false
        // Enough lines per run that `kills` runs cover the whole workload (≈ 3.5 lines per job).
        let meanLines = max(4, Self.jobs * 7 / 2 / max(Self.kills, 1))
        for round in 0...Self.kills {
            let killAfter = round < Self.kills ? Int.random(in: 1...(2 * meanLines), using: &generator) : nil
            let run = try await Self.runChild(journal: directory.journal, seed: generator.next(), killAfter: killAfter)
            if run.killed { kills += 1 } else { #expect(run.status == 0, "the child failed: status \(run.status)") }
            for line in run.lines {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let id = UUID(uuidString: String(parts[1])) else {
                    if line == "DONE" { finished = true }
                    continue
                }
                switch parts[0] {
                case "E": enqueued.insert(id)
                case "C": #expect(completed.insert(id).inserted, "job \(id) acknowledged as completed twice")
                case "F": ended[id] = .failed
                case "X": ended[id] = .cancelled
                default: break
                }
            }
            // Reopen as the parent and check everything acknowledged so far.
            let store = try FileJournalJobStore(path: directory.journal)
            let jobs = Dictionary(uniqueKeysWithValues: try await store.jobs(matching: .all).map { ($0.id, $0) })
            await store.close()
            let missing = enqueued.filter { jobs[$0] == nil }
            #expect(missing.isEmpty, "round \(round): \(missing.count) acknowledged jobs are missing")
            for id in completed { #expect(jobs[id]?.state == .completed, "round \(round): completed job \(id) is \(String(describing: jobs[id]?.state))") }
            for (id, state) in ended { #expect(jobs[id]?.state == state, "round \(round): job \(id) lost its \(state) state") }
            for job in jobs.values { Self.expectLegal(job) }
            if finished { break }
        }
        #expect(finished, "the child never finished the workload")
        #expect(kills >= Self.kills / 2, "only \(kills) kills landed")
        // A kill between an enqueue's return and its acknowledgement line loses only the line.
        let final = try FileJournalJobStore(path: directory.journal)
        #expect(await final.count == Self.jobs)
        #expect(enqueued.count >= Self.jobs - kills, "only \(enqueued.count) of \(Self.jobs) enqueues acknowledged")
        #expect(try await final.jobs(matching: JobQuery(states: [.pending, .running, .retrying])).isEmpty)
    }

    static func expectLegal(_ job: DownloadJob) {
        #expect(job.attempts >= 0 && job.attempts <= job.maxAttempts, "job \(job.id) has \(job.attempts) attempts")
        switch job.state {
        case .pending: #expect(job.attempts == 0 && job.leaseOwner == nil)
        case .running: #expect(job.leaseOwner != nil && job.leaseExpiresAt != nil && job.attempts >= 1)
        case .retrying: #expect(job.leaseOwner == nil && job.attempts >= 1)
        case .completed, .failed, .cancelled: #expect(job.leaseOwner == nil && job.leaseExpiresAt == nil)
        }
    }
}
