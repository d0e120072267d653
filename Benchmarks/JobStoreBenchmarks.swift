import Foundation
import JobStores
import ResilienceTesting

/// `JobStores` figures: durable transitions per second beside SQLite doing the same
/// transitions, recovery time of a 1,000,000-record journal, compaction, and `claimNext` cost.
///
/// The SQLite peer is Python's `sqlite3` module (WAL, `synchronous=FULL`, one transaction per
/// transition), run in the same invocation on the same disk. Without `python3` the peer figures
/// are reported as missing.
enum JobStoreBenchmarks {
    static let epoch = Date(timeIntervalSince1970: 1_800_000_000)

    static func job(_ index: Int, priority: Int = 0) -> DownloadJob {
        DownloadJob(url: URL(string: "https://example.com/files/\(index).bin")!, destination: "/data/\(index).bin",
                    priority: priority, maxAttempts: .max, metadata: ["batch": "b\(index % 10)"])
    }

    static func temporaryDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("JobStoreBenchmarks-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func run() async {
        do {
            try await durableTransitions()
            try await recoveryAndCompaction()
            try await claimCost()
        } catch {
            print("jobstores benchmark failed: \(error)")
        }
    }

    // MARK: Durable transitions

    /// One job's life: enqueue, claim, complete (three durable transitions).
    /// One `now` for every writer, so no claim sees another writer's lease as expired.
    static func lifecycle(_ store: some JobStore, index: Int, owner: String) async throws -> Int {
        let now = epoch
        try await store.enqueue(job(index), now: now)
        guard let claimed = try await store.claimNext(owner: owner, leaseFor: .seconds(60), now: now) else { return 1 }
        try await store.complete(id: claimed.id, owner: owner, now: now)
        return 3
    }

    static func durableTransitions() async throws {
        let jobs = 1_000
        // The shared disk is noisy (one fdatasync takes 0.1 ms to several ms depending on the
        // other tenants), so SQLite and our stores run interleaved, three rounds each, and each
        // reports its best round.
        var sqlite: [Double] = []
        var single: [Double] = []
        var group: [Double] = []
        for _ in 0..<3 {
            if let value = sqliteTransitionsPerSecond(jobs: jobs) { sqlite.append(value) }
            single.append(try await transitionsPerSecond(.fsyncEachWrite, writers: 1, jobs: jobs))
            group.append(try await transitionsPerSecond(.groupCommit(), writers: 32, jobs: jobs * 4))
        }
        let peer = sqlite.max().map { ("sqlite3 WAL FULL, 1 writer", $0) }
        print("  (rounds: sqlite3 \(sqlite.map { Int($0) }), fsyncEachWrite \(single.map { Int($0) }), groupCommit \(group.map { Int($0) }))")
        report("jobstore.fsyncEachWrite.1-writer", single.max()!, "transitions/s", peer: peer)
        report("jobstore.groupCommit.32-writers", group.max()!, "transitions/s", peer: peer)
    }

    /// `writers` concurrent tasks running job lifecycles until `jobs` jobs went through.
    static func transitionsPerSecond(_ durability: FileJournalJobStore.Durability, writers: Int, jobs: Int) async throws -> Double {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try FileJournalJobStore(path: directory + "/jobs.journal", durability: durability)
        let start = nanos()
        let transitions = try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<writers {
                group.addTask {
                    var count = 0
                    for index in stride(from: writer, to: jobs, by: writers) {
                        count += try await lifecycle(store, index: index, owner: "w\(writer)")
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let seconds = Double(nanos() - start) / 1e9
        await store.close()
        return Double(transitions) / seconds
    }

    /// SQLite doing the same three transitions per job, each its own transaction.
    static func sqliteTransitionsPerSecond(jobs: Int) -> Double? {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = directory + "/peer.py"
        do { try sqliteScript.write(toFile: script, atomically: true, encoding: .utf8) } catch { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, directory + "/jobs.db", String(jobs)]
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch {
            print("sqlite peer unavailable: \(error)")
            return nil
        }
        let output = Data(PipeReader.readToEnd(pipe.fileHandleForReading.fileDescriptor))
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let value = Double(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            print("sqlite peer failed (python3 with sqlite3 needed)")
            return nil
        }
        return value
    }

    static let sqliteScript = #"""
    import sqlite3, sys, time, uuid
    path, jobs = sys.argv[1], int(sys.argv[2])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("""CREATE TABLE jobs (id TEXT PRIMARY KEY, url TEXT, destination TEXT, priority INTEGER,
        state INTEGER, attempts INTEGER, next_attempt REAL, lease_owner TEXT, lease_expiry REAL,
        created REAL, updated REAL, metadata TEXT)""")
    db.execute("CREATE INDEX due ON jobs (state, priority DESC, created)")
    epoch = 1800000000.0
    transitions = 0
    start = time.perf_counter()
    for i in range(jobs):
        now = epoch + i
        db.execute("INSERT INTO jobs VALUES (?, ?, ?, 0, 0, 0, ?, NULL, NULL, ?, ?, ?)",
                   (str(uuid.uuid4()), "https://example.com/files/%d.bin" % i, "/data/%d.bin" % i, now, now, now,
                    '{"batch":"b%d"}' % (i % 10)))
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("""SELECT id FROM jobs WHERE state IN (0, 2) AND next_attempt <= ?
                            ORDER BY priority DESC, created LIMIT 1""", (now,)).fetchone()
        db.execute("UPDATE jobs SET state = 1, attempts = attempts + 1, lease_owner = 'w', lease_expiry = ?, updated = ? WHERE id = ?",
                   (now + 60, now, row[0]))
        db.execute("COMMIT")
        db.execute("UPDATE jobs SET state = 3, lease_owner = NULL, lease_expiry = NULL, updated = ? WHERE id = ? AND lease_owner = 'w'",
                   (now, row[0]))
        transitions += 3
    print(transitions / (time.perf_counter() - start))
    """#

    // MARK: Recovery and compaction

    static func recoveryAndCompaction() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/jobs.journal"
        // 100,000 jobs × (enqueue, claim, 7 progress reports, complete) = 1,000,000 records.
        var store: FileJournalJobStore? = try FileJournalJobStore(path: path, durability: .none, compaction: .manual)
        for index in 0..<100_000 {
            let now = epoch + Double(index)
            try await store!.enqueue(job(index, priority: index % 4), now: now)
            let claimed = try await store!.claimNext(owner: "worker-1", leaseFor: .seconds(60), now: now)!
            for step in 1...7 {
                try await store!.recordProgress(id: claimed.id, owner: "worker-1", bytesDone: Int64(step) << 20,
                                                bytesTotal: 8 << 20, now: now)
            }
            try await store!.complete(id: claimed.id, owner: "worker-1", now: now)
        }
        let journalBytes = await store!.journalSize
        await store!.close()
        store = nil

        var recovered: FileJournalJobStore?
        var records = 0
        let recovery = medianNanos(runs: 3) {
            recovered = nil  // release the lock before reopening
            recovered = try? FileJournalJobStore(path: path, durability: .none, compaction: .manual)
            records = recovered?.recoveryReport.recordsReplayed ?? 0
        }
        report("jobstore.recovery.\(records / 1000)k-records", recovery / 1e6, "ms")
        report("jobstore.recovery.journal-size", Double(journalBytes) / 1e6, "MB")
        guard let reopened = recovered else { return }

        let start = nanos()
        try await reopened.compact()
        let compaction = Double(nanos() - start) / 1e6
        let compacted = await reopened.journalSize
        report("jobstore.compaction.100k-jobs", compaction, "ms")
        report("jobstore.compaction.journal-before/after", Double(journalBytes) / Double(compacted), "x")
        await reopened.close()
        try await steadyState(directory: directory)
    }

    /// Journal size relative to the live jobs while automatic compaction (default policy) runs:
    /// right after a compaction the journal is one snapshot record per job (ratio ≈ 1); between
    /// compactions it grows to at most `growthFactor` × the estimated live size.
    static func steadyState(directory: String) async throws {
        let path = directory + "/steady.journal"
        let store = try FileJournalJobStore(path: path, durability: .none)
        for index in 0..<10_000 { try await store.enqueue(job(index), now: epoch) }
        var claimed: [UUID] = []
        for _ in 0..<100 { claimed.append(try await store.claimNext(owner: "w", leaseFor: .seconds(60), now: epoch)!.id) }
        var largest: Int64 = 0
        var afterCompaction: [Int64] = []
        var previous = await store.journalSize
        for step in 0..<200_000 {
            try await store.recordProgress(id: claimed[step % 100], owner: "w", bytesDone: Int64(step), bytesTotal: nil, now: epoch)
            let size = await store.journalSize
            if size < previous { afterCompaction.append(size) }
            largest = max(largest, size)
            previous = size
        }
        try await store.compact()
        let live = Double(await store.journalSize)
        await store.close()
        report("jobstore.compaction.automatic-count", Double(afterCompaction.count), "compactions")
        report("jobstore.compaction.journal/live-after", Double(afterCompaction.max() ?? 0) / live, "x")
        report("jobstore.compaction.journal/live-max", Double(largest) / live, "x")
    }

    // MARK: claimNext cost

    static func claimCost() async throws {
        var perClaim: [Int: Double] = [:]
        for queued in [1_000, 100_000] {
            let store = InMemoryJobStore()
            var generator = SystemRandomNumberGenerator()
            for index in 0..<queued {
                try await store.enqueue(job(index, priority: Int.random(in: 0..<8, using: &generator)), now: epoch)
            }
            _ = try await store.claimNext(owner: "warm", leaseFor: .seconds(60), now: epoch)  // index warm-up
            let claims = 20_000
            var total: UInt64 = 0
            let failure = JobFailure(message: "again", isRetryable: true)
            for index in 0..<claims {
                let now = epoch + Double(index)
                let start = nanos()
                let claimed = try await store.claimNext(owner: "w", leaseFor: .seconds(1_000_000), now: now)!
                total += nanos() - start
                // Put it back (a retry due now) so the queue keeps its size.
                try await store.scheduleRetry(id: claimed.id, owner: "w", at: now, error: failure, now: now)
            }
            perClaim[queued] = Double(total) / Double(claims)
        }
        report("jobstore.claimNext.1k-queued", perClaim[1_000]!, "ns/claim")
        report("jobstore.claimNext.100k-queued", perClaim[100_000]!, "ns/claim", peer: ("1k queued", perClaim[1_000]!))
    }
}
