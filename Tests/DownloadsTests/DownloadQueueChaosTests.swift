import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceTesting
import ResilienceRetry
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The end-to-end proof: many jobs through `DownloadQueue` + `FileJournalJobStore` against a
/// `FaultyHTTPServer` that faults 30 % of responses, in one process and across SIGKILLs.
@Suite("DownloadQueue chaos", .serialized, .timeLimit(.minutes(3)))
struct DownloadQueueChaosTests {
    static let jobCount = 100
    static let size = 128 << 10
    /// Transient faults only: every job must end `completed`.
    static let faults: [HTTPFault] = [
        .dropAfter(bytes: 100_000), .resetAfter(bytes: 150_000), .closeWithoutResponse, .status(500),
        .status(503), .serviceUnavailable(retryAfter: "1"), .ignoreRange, .wrongContentRange,
        .dropAfter(bytes: 10_000), .changeETag,
    ]

    /// A served set of files and a journal holding one job per file.
    struct Setup {
        let server: FaultyHTTPServer
        let dir: ScratchDirectory
        let bodies: [String: [UInt8]]   // destination path → bytes
        var journal: String { dir.file("jobs.journal").path }

        let jobCount: Int

        init(seed: UInt64, jobCount: Int = DownloadQueueChaosTests.jobCount) async throws {
            self.jobCount = jobCount
            server = try FaultyHTTPServer()
            dir = try ScratchDirectory()
            var bodies: [String: [UInt8]] = [:]
            let store = try FileJournalJobStore(path: dir.file("jobs.journal").path, durability: .none)
            for index in 0..<jobCount {
                let body = seededBytes(DownloadQueueChaosTests.size, seed: seed &+ UInt64(index))
                server.serve(body, at: "/\(index).bin")
                let destination = dir.file("\(index).bin")
                bodies[destination.path] = body
                try await store.enqueue(
                    DownloadJob(url: server.url(for: "/\(index).bin"), destination: destination.path,
                                expectedLength: Int64(body.count), expectedSHA256: SHA256Hasher.hex(of: body), maxAttempts: 100),
                    now: Date())
            }
            await store.close()
            self.bodies = bodies
            server.setRandomFaults(rate: 0.3, seed: seed, kinds: DownloadQueueChaosTests.faults)
        }

        /// Every job completed with a byte-exact file and no `.part`, or failed for a permanent
        /// reason. Returns the number completed.
        func verify() async throws -> Int {
            let store = try FileJournalJobStore(path: journal)
            let jobs = try await store.jobs(matching: .all)
            await store.close()
            #expect(jobs.count == jobCount)
            var completed = 0
            for job in jobs {
                let destination = URL(fileURLWithPath: job.destination)
                switch job.state {
                case .completed:
                    completed += 1
                    #expect(contents(of: destination) == Data(bodies[job.destination] ?? []), "\(job.destination)")
                    #expect(!exists(RangeResumer.partFileURL(for: destination)))
                case .failed:
                    #expect(job.lastError?.isRetryable == false, "\(job.lastError.map(String.init(describing:)) ?? "")")
                default:
                    Issue.record("job \(job.id) ended \(job.state)")
                }
            }
            return completed
        }

        func tearDown() {
            server.stop()
            dir.cleanup()
        }
    }

    @Test func fortyJobsAtThirtyPercentFaultsInOneProcess() async throws {
        let setup = try await Setup(seed: 2024, jobCount: 40); defer { setup.tearDown() }
        let store = try FileJournalJobStore(path: setup.journal)
        let policy = try RetryPolicy(maxAttempts: 100, backoff: .constant(.zero), maxRetryAfter: .zero)
        let queue = DownloadQueue(store: store, configuration: .init(maxConcurrentDownloads: 4, retryPolicy: policy))
        let events = EventRecorder.recording(queue)
        let ids = try await store.jobs(matching: .all).map(\.id)
        try await queue.start()
        let seen = await events.waitForTerminal(ids)
        await queue.stop(graceful: true)
        await store.close()
        #expect(try await setup.verify() == 40)
        let faulted = setup.server.requests.filter { $0.fault != nil }.count
        #expect(faulted > 0 && seen.retries.count >= faulted / 2)
        #expect(seen.maximumConcurrency <= 4)
    }

    @Test func survivesFiveSIGKILLsOfTheQueueProcess() async throws {
        let setup = try await Setup(seed: 77); defer { setup.tearDown() }
        let executable = ChildProcess.siblingExecutable(named: "DownloadQueueChild")
        for _ in 0..<5 {
            let child = try ChildProcess(executable: executable, arguments: [setup.journal])
            // Kill after a few jobs ended, while others are mid-transfer.
            var ended = 0
            while ended < 8, let line = await child.nextLine() {
                if line.hasPrefix("terminal") { ended += 1 }
                if line.hasPrefix("error") { Issue.record("child: \(line)") }
                if line == "done" { break }
            }
            child.kill(SIGKILL)
            #expect(await child.exitStatus == .signaled(SIGKILL))
        }
        let last = try ChildProcess(executable: executable, arguments: [setup.journal])
        var sawDone = false
        while let line = await last.nextLine() {
            if line.hasPrefix("error") { Issue.record("child: \(line)") }
            if line == "done" { sawDone = true }
        }
        #expect(await last.exitStatus == .exited(0) && sawDone)
        #expect(try await setup.verify() == Self.jobCount)
        // Killed transfers were resumed, not restarted: some requests asked for a range.
        #expect(setup.server.requests.contains { ($0.range ?? "").hasPrefix("bytes=") && $0.range != "bytes=0-" })
    }
}
