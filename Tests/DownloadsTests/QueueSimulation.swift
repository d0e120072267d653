import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceRetry
import ResilienceTesting

/// One seed of the queue simulation: a `DownloadQueue` over a job store (in memory, or a
/// `FileJournalJobStore` for every fourth seed), a ``SimulatedEngine`` serving 1–4 small files (up to 4 KiB)
/// from a ``SimulatedServer`` that injects faults, a `ManualClock` for everything that waits
/// (retry timers, lease renewals, the resumer's stall watchdog), and `.part` files on disk.
///
/// The driver moves the clock only when the system is quiescent (``SimulationMonitor``): then
/// it advances to the next deadline. A crash fault (at most two per seed) starts a new queue over
/// the same store and files after the old one stopped abruptly (`stop(graceful: false)`); with
/// a journal it is a `kill -9`: the directory (journal, `.part` files, sidecars) is put back as
/// it was at the crash, jobs left `running`, and the journal reopened.
struct QueueSimulation: Sendable {
    /// What one seed did and found.
    struct Outcome: Sendable {
        var completed = 0
        var failed = 0
        var crashes = 0
        var requests = 0
        var clockSteps = 0
        /// Simulated time at the end, in whole seconds.
        var simulatedSeconds: Int64 = 0
        var faults: [SimulatedFault: Int] = [:]
        var violations: [String] = []
    }

    static let stallTimeout = Duration.seconds(10)
    static let maxRetryAfter = Duration.seconds(30)
    static let maxElapsed = Duration.seconds(600)
    static let maxFileSize = 4096
    static let maxCrashes = 2
    static let maxSteps = 20_000
    /// No jitter: the queue's own generator is not seeded, and the schedule must replay exactly.
    static let policy = try! RetryPolicy(  // constant, valid arguments
        maxAttempts: 8, backoff: .exponential(base: .seconds(1), multiplier: 2, cap: .seconds(20), jitter: .none),
        maxElapsed: maxElapsed, maxRetryAfter: maxRetryAfter)

    let seed: UInt64
    /// A server defect to inject (only to prove the checks can fail); `nil` for a correct server.
    var defect: SimulatedServer.Defect?

    /// Runs the seed in a fresh directory under `root` (removed afterwards).
    func run(under root: URL) async -> Outcome {
        let dir = root.appendingPathComponent("seed-\(seed)", isDirectory: true)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var outcome = Outcome()
        do {
            try await drive(in: dir, &outcome)
        } catch {
            outcome.violations.append("unexpected error: \(error)")
        }
        return outcome
    }

    private func drive(in dir: URL, _ outcome: inout Outcome) async throws {
        var generator = SeededRandomNumberGenerator(seed: seed)
        let jobCount = Int.random(in: 1...4, using: &generator)
        let concurrency = Int.random(in: 1...2, using: &generator)
        let usesJournal = seed % 4 == 0
        let server = SimulatedServer(faultPercent: Int.random(in: 20...60, using: &generator),
                                     maxFileSize: Self.maxFileSize, defect: defect)
        let monitor = SimulationMonitor(), clock = ManualClock()
        let journal = dir.appendingPathComponent("jobs.journal").path
        func openStore() throws -> any JobStore {
            usesJournal ? try FileJournalJobStore(path: journal, durability: .none) : InMemoryJobStore()
        }
        var inner = try openStore()
        var generation = 0
        func makeQueue() -> DownloadQueue {
            let configuration = DownloadQueueConfiguration(
                maxConcurrentDownloads: concurrency, retryPolicy: Self.policy, leaseDuration: .seconds(60),
                resumer: RangeResumer.Configuration(stallTimeout: Self.stallTimeout, checkpointInterval: 1024),
                owner: "sim-\(seed)-\(generation)", engine: .custom(SimulatedEngine(server: server, monitor: monitor)))
            return DownloadQueue(store: ObservedJobStore(inner: inner, monitor: monitor), configuration: configuration,
                                 clock: clock, transferClock: clock, now: clock.dateSource)
        }
        var queue = makeQueue()
        for index in 0..<jobCount {
            let bytes = seededBytes(Int.random(in: 1...Self.maxFileSize, using: &generator), seed: generator.next())
            server.serve(bytes, at: "/f\(index).bin", seed: generator.next())
            let pinned = Int.random(in: 0..<3, using: &generator) == 0
            try await queue.enqueue(url: URL(string: "http://origin.test/f\(index).bin")!,
                                    destination: dir.appendingPathComponent("f\(index).bin"),
                                    expectedLength: pinned ? Int64(bytes.count) : nil,
                                    expectedSHA256: pinned ? SHA256Hasher.hex(of: bytes) : nil)
        }
        try await queue.start()
        let open = JobQuery(states: [.pending, .retrying, .running])
        while true {
            outcome.clockSteps += 1
            guard outcome.clockSteps < Self.maxSteps else {
                outcome.violations.append("no end after \(Self.maxSteps) steps")
                break
            }
            if monitor.takeCrashRequests() > 0 && outcome.crashes < Self.maxCrashes {
                outcome.crashes += 1
                if let journalStore = inner as? FileJournalJobStore {
                    // kill -9: what the files hold at a quiescent moment is what the dead process
                    // leaves; the old queue's abrupt stop then writes nothing that survives.
                    while !monitor.isQuiescent { await monitor.changed(after: monitor.version) }
                    let files = Self.snapshot(of: dir)
                    await queue.stop(graceful: false)
                    await journalStore.close()
                    try Self.restore(files, in: dir)
                    inner = try openStore()
                } else {
                    await queue.stop(graceful: false)
                }
                generation += 1
                queue = makeQueue()
                try await queue.start()
                continue
            }
            let version = monitor.version
            guard monitor.isQuiescent else {
                await monitor.changed(after: version)
                continue
            }
            if monitor.runningCount == 0, try await inner.jobs(matching: open).isEmpty { break }
            if clock.sleeperCount > 0 {
                clock.advanceToNextDeadline()
                continue
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await clock.sleepers(atLeast: 1) }
                group.addTask { await monitor.changed(after: version) }
                await group.next()
                group.cancelAll()
            }
        }
        await queue.stop(graceful: true)
        outcome.requests = server.requestCount
        outcome.simulatedSeconds = clock.now.offset.components.seconds
        outcome.faults = server.faults
        try await check(inner, server: server, monitor: monitor, concurrency: concurrency, jobCount: jobCount, &outcome)
        if let journalStore = inner as? FileJournalJobStore { await journalStore.close() }
    }

    /// Every regular file in `dir`, by name.
    static func snapshot(of dir: URL) -> [String: Data] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        var files: [String: Data] = [:]
        for name in names { files[name] = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) }
        return files
    }

    /// Makes `dir` hold exactly `files` again.
    static func restore(_ files: [String: Data], in dir: URL) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where files[name] == nil {
            try FileManager.default.removeItem(at: dir.appendingPathComponent(name))
        }
        for (name, data) in files { try data.write(to: dir.appendingPathComponent(name)) }
    }

    /// The invariants every seed must hold at its end.
    private func check(_ store: any JobStore, server: SimulatedServer, monitor: SimulationMonitor, concurrency: Int,
                       jobCount: Int, _ outcome: inout Outcome) async throws {
        let slack = Self.policy.maxElapsed.map { $0 + Self.maxRetryAfter + (Self.stallTimeout + .seconds(1)) * jobCount }
        for job in try await store.jobs(matching: .all) {
            let destination = URL(fileURLWithPath: job.destination)
            let name = destination.lastPathComponent
            switch job.state {
            case .completed:
                outcome.completed += 1
                let versions = server.versions(at: "/" + name)
                let bytes = FileManager.default.contents(atPath: job.destination).map { [UInt8]($0) }
                if bytes != versions.last {
                    let kind = bytes.map { versions.contains($0) } == true ? "a replaced version" : "spliced or truncated"
                    outcome.violations.append("\(name) completed with \(kind) (\(bytes?.count ?? -1) bytes, current \(versions.last?.count ?? -1))")
                }
                if FileManager.default.fileExists(atPath: RangeResumer.partFileURL(for: destination).path) {
                    outcome.violations.append("\(name) completed but its .part is left")
                }
            case .failed:
                outcome.failed += 1
                if job.lastError?.message.isEmpty ?? true { outcome.violations.append("\(name) failed without an error") }
            default:
                outcome.violations.append("\(name) ended \(job.state)")
            }
            if job.attempts > job.maxAttempts {
                outcome.violations.append("\(name): \(job.attempts) attempts > maxAttempts \(job.maxAttempts)")
            }
            if job.leaseOwner != nil { outcome.violations.append("\(name) still leased by \(job.leaseOwner ?? "")") }
            let elapsed = Duration.seconds(job.updatedAt.timeIntervalSince(job.createdAt))
            if let slack, elapsed > slack {
                outcome.violations.append("\(name) ended after \(elapsed) of simulated time (bound \(slack))")
            }
        }
        if monitor.peakRunning > concurrency {
            outcome.violations.append("\(monitor.peakRunning) attempts ran at once, limit \(concurrency)")
        }
        if monitor.runningCount != 0 { outcome.violations.append("\(monitor.runningCount) attempts never recorded") }
    }
}
