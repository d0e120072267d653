import Foundation
@testable import JobStores
import ResilienceTesting
import Testing

@Suite("FileJournalJobStore")
struct FileJournalJobStoreTests {
    static let policies: [FileJournalJobStore.Durability] = [.fsyncEachWrite, .groupCommit(), .none]

    @Test(arguments: JobStoreConformance.checks, policies)
    func conformance(_ check: JobStoreConformance.Check, durability: FileJournalJobStore.Durability) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await check.run { try FileJournalJobStore(path: directory.journal, durability: durability) }
    }

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func job(_ name: String, priority: Int = 0) -> DownloadJob {
        DownloadJob(url: URL(string: "https://example.com/\(name)")!, mirrors: [URL(string: "https://mirror.example/\(name)")!],
                    destination: "/downloads/\(name)", expectedLength: 1234, expectedSHA256: "ab12",
                    priority: priority, metadata: ["k": "v", "name": name])
    }

    /// Runs a little of everything, so the journal holds every record type.
    static func churn(_ store: some JobStore) async throws -> [UUID] {
        var ids: [UUID] = []
        for i in 0..<12 { ids.append(try await store.enqueue(job("j\(i)", priority: i % 3), now: t0 + Double(i))) }
        for i in 0..<10 {
            let now = t0 + 100 + Double(i)
            guard let claimed = try await store.claimNext(owner: "w\(i % 2)", leaseFor: .seconds(30), now: now) else { break }
            try await store.recordProgress(id: claimed.id, owner: claimed.leaseOwner!, bytesDone: 10, bytesTotal: 100, now: now)
            try await store.renewLease(id: claimed.id, owner: claimed.leaseOwner!, leaseFor: .seconds(60), now: now)
            switch i % 5 {
            case 0: try await store.complete(id: claimed.id, owner: claimed.leaseOwner!, now: now)
            case 1 where i == 1:
                try await store.scheduleRetry(id: claimed.id, owner: claimed.leaseOwner!, at: now + 5,
                                              error: JobFailure(message: "503", isRetryable: true), now: now)
            case 1:
                try await store.scheduleRetry(id: claimed.id, owner: claimed.leaseOwner!, at: now + 5,
                                              error: JobFailure(message: "503", isRetryable: true),
                                              metadata: ["k": "replaced", "mirror": "1"], now: now)
            case 2: try await store.fail(id: claimed.id, owner: claimed.leaseOwner!, error: JobFailure(message: "404", isRetryable: false), now: now)
            case 3: try await store.cancel(id: claimed.id, now: now)
            default: break  // stays running; its lease expires below
            }
        }
        try await store.recoverExpiredLeases(now: t0 + 1000)
        ids.append(try await store.enqueue(job("late"), now: t0 + 1001))
        try await store.cancel(id: ids[12], now: t0 + 1002)
        return ids
    }

    @Test func reopenRestoresEveryField() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileJournalJobStore(path: directory.journal)
        #expect(store.recoveryReport.createdJournal)
        _ = try await Self.churn(store)
        let before = try await store.jobs(matching: .all)
        await store.close()
        let reopened = try FileJournalJobStore(path: directory.journal)
        let after = try await reopened.jobs(matching: .all)
        #expect(after == before)
        #expect(reopened.recoveryReport.truncatedBytes == 0 && reopened.recoveryReport.jobCount == 13)
        #expect(!reopened.recoveryReport.createdJournal)
        // The reopened store continues where the first left off, including claim order.
        let inMemory = InMemoryJobStore()
        _ = try await Self.churn(inMemory)
        let expected = try await inMemory.claimNext(owner: "x", leaseFor: .seconds(5), now: Self.t0 + 2000)
        let claimed = try await reopened.claimNext(owner: "x", leaseFor: .seconds(5), now: Self.t0 + 2000)
        #expect(claimed?.destination == expected?.destination)
    }

    @Test func retryWithMetadataMergesAndSurvivesReopen() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileJournalJobStore(path: directory.journal)
        let id = try await store.enqueue(Self.job("m"), now: Self.t0)
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: Self.t0)
        let tooBig = String(repeating: "x", count: DownloadJob.maximumMetadataBytes)
        await #expect(throws: JobStoreError.self) {
            try await store.scheduleRetry(id: id, owner: "w", at: Self.t0 + 5, error: JobFailure(message: "503", isRetryable: true),
                                          metadata: ["big": tooBig], now: Self.t0 + 1)
        }
        #expect(try await store.job(id: id)?.state == .running)   // the refused call changed nothing
        let updated = try await store.scheduleRetry(id: id, owner: "w", at: Self.t0 + 5,
                                                    error: JobFailure(message: "503", isRetryable: true),
                                                    metadata: ["k": "w", "delay": "1.5"], now: Self.t0 + 1)
        #expect(updated.state == .retrying && updated.metadata == ["k": "w", "name": "m", "delay": "1.5"])
        await store.close()
        let reopened = try FileJournalJobStore(path: directory.journal)
        #expect(try await reopened.job(id: id)?.metadata == ["k": "w", "name": "m", "delay": "1.5"])
        #expect(try await reopened.job(id: id)?.nextAttemptAt == Self.t0 + 5)
    }

    @Test func compactionKeepsStateAndShrinksTheJournal() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileJournalJobStore(path: directory.journal, durability: .none, compaction: .manual)
        let ids = try await Self.churn(store)
        for i in 0..<200 { try await store.enqueue(Self.job("j0"), now: Self.t0 + Double(i)) }  // de-duplicated: no records
        let id = try #require(try await store.claimNext(owner: "p", leaseFor: .seconds(10), now: Self.t0 + 3000)?.id)
        for i in 0..<500 {
            try await store.recordProgress(id: id, owner: "p", bytesDone: Int64(i), bytesTotal: nil, now: Self.t0 + 3000)
        }
        let before = try await store.jobs(matching: .all)
        let grown = await store.journalSize
        try await store.compact()
        let compacted = await store.journalSize
        #expect(compacted * 5 < grown)
        #expect(try await store.jobs(matching: .all) == before)
        await store.close()
        let reopened = try FileJournalJobStore(path: directory.journal)
        #expect(try await reopened.jobs(matching: .all) == before)
        #expect(reopened.recoveryReport.recordsReplayed == ids.count)
        #expect(!FileManager.default.fileExists(atPath: directory.journal + ".compact"))
    }

    @Test func automaticCompactionBoundsTheJournal() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let policy = FileJournalJobStore.Compaction(growthFactor: 2, minimumJournalBytes: 4096)
        let store = try FileJournalJobStore(path: directory.journal, durability: .none, compaction: policy)
        let id = try await store.enqueue(Self.job("a"), now: Self.t0)
        _ = try await store.claimNext(owner: "p", leaseFor: .seconds(10), now: Self.t0)
        var largest: Int64 = 0
        for i in 0..<2000 {
            try await store.recordProgress(id: id, owner: "p", bytesDone: Int64(i), bytesTotal: nil, now: Self.t0)
            largest = max(largest, await store.journalSize)
        }
        #expect(largest <= 8192)
        await store.close()
        let reopened = try FileJournalJobStore(path: directory.journal)
        #expect(try await reopened.job(id: id)?.bytesDone == 1999)
    }

    @Test func secondOpenIsLockedOutWithThePid() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileJournalJobStore(path: directory.journal)
        #expect(throws: JobStoreError.lockedByProcess(pid: getpid(), path: directory.journal + ".lock")) {
            try FileJournalJobStore(path: directory.journal)
        }
        await store.close()
        _ = try FileJournalJobStore(path: directory.journal)  // released by close
    }

    @Test func filesAreOwnerOnly() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileJournalJobStore(path: directory.journal)
        try await store.compact()
        for file in [directory.journal, directory.journal + ".lock"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(file)")
        }
    }

    @Test func closedStoreRefusesCalls() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileJournalJobStore(path: directory.journal)
        await store.close()
        await #expect(throws: JobStoreError.self) { try await store.enqueue(Self.job("a"), now: Self.t0) }
    }

    @Test(arguments: [Duration.zero, .milliseconds(1)])
    func groupCommitWritersAllLand(window: Duration) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileJournalJobStore(path: directory.journal, durability: .groupCommit(window: window))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<64 { group.addTask { try await store.enqueue(Self.job("g\(i)"), now: Self.t0) } }
            try await group.waitForAll()
        }
        await store.close()
        #expect(try await FileJournalJobStore(path: directory.journal).count == 64)
    }

    @Test func leftoverSnapshotFromACrashedCompactionIsIgnored() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileJournalJobStore(path: directory.journal)
        _ = try await Self.churn(store)
        let before = try await store.jobs(matching: .all)
        await store.close()
        // A crash before the rename leaves a partial snapshot beside the intact journal.
        try Data("DRJOBS\n\u{1A}garbage".utf8).write(to: URL(fileURLWithPath: directory.journal + ".compact"))
        let reopened = try FileJournalJobStore(path: directory.journal)
        #expect(try await reopened.jobs(matching: .all) == before)
        #expect(!FileManager.default.fileExists(atPath: directory.journal + ".compact"))
    }
}
