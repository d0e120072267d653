import Foundation
@testable import JobStores
import Testing

/// `updateSources` (a caller's new URL for an open job) and `recoverAbandonedLeases` (a journal's
/// lock proves the leases it held at open are orphans), on both stores and across a reopen.
@Suite("JobStore source updates and lease takeover")
struct SourceUpdateAndLeaseTakeoverTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let old = URL(string: "http://127.0.0.1:1/big.bin")!
    static let new = URL(string: "http://127.0.0.1:2/big.bin")!
    static let mirror = URL(string: "http://127.0.0.1:3/big.bin")!

    static func job() -> DownloadJob {
        DownloadJob(url: old, destination: "/downloads/big.bin", metadata: ["keep": "1", "downloads.mirror": "2"])
    }

    @Test func updateSourcesReplacesTheURLsKeepsTheLeaseAndSurvivesAReopen() async throws {
        let directory = try TemporaryDirectory(); defer { directory.remove() }
        let id: UUID
        do {
            let store = try FileJournalJobStore(path: directory.journal)
            id = try await store.enqueue(Self.job(), now: Self.t0)
            let claimed = try #require(try await store.claimNext(owner: "w", leaseFor: .seconds(60), now: Self.t0))
            let updated = try await store.updateSources(id: id, url: Self.new, mirrors: [Self.mirror],
                                                        metadata: ["downloads.mirror": "0"], now: Self.t0 + 1)
            #expect(updated.url == Self.new && updated.mirrors == [Self.mirror])
            #expect(updated.metadata == ["keep": "1", "downloads.mirror": "0"])
            #expect(updated.state == .running && updated.leaseOwner == "w" && updated.leaseExpiresAt == claimed.leaseExpiresAt)
            await store.close()
        }
        let reopened = try FileJournalJobStore(path: directory.journal)
        let job = try #require(try await reopened.job(id: id))
        #expect(job.url == Self.new && job.mirrors == [Self.mirror] && job.metadata["downloads.mirror"] == "0")
        try await reopened.compact()
        #expect(try await reopened.job(id: id) == job)
        await reopened.close()
    }

    @Test func updateSourcesRefusesTerminalJobsAndOversizedLists() async throws {
        let store: any JobStore = InMemoryJobStore()
        let id = try await store.enqueue(Self.job(), now: Self.t0)
        let tooMany = Array(repeating: Self.mirror, count: DownloadJob.maximumMirrors + 1)
        await #expect(throws: JobStoreError.self) {
            try await store.updateSources(id: id, url: Self.new, mirrors: tooMany, metadata: [:], now: Self.t0)
        }
        try await store.cancel(id: id, now: Self.t0)
        await #expect(throws: JobStoreError.illegalTransition(job: id, from: .cancelled, to: .cancelled)) {
            try await store.updateSources(id: id, url: Self.new, mirrors: [], metadata: [:], now: Self.t0)
        }
        #expect(try await store.job(id: id)?.url == Self.old)
    }

    @Test func leasesHeldWhenTheJournalWasOpenedAreReleasedAtOnce() async throws {
        let directory = try TemporaryDirectory(); defer { directory.remove() }
        let first: UUID
        do {
            let store = try FileJournalJobStore(path: directory.journal)
            first = try await store.enqueue(Self.job(), now: Self.t0)
            _ = try await store.claimNext(owner: "dead", leaseFor: .seconds(3600), now: Self.t0)
            await store.close()   // as after kill -9: the lease is still in the journal
        }
        let store = try FileJournalJobStore(path: directory.journal)
        // A job claimed after the open belongs to a live worker of this process: never released.
        var other = Self.job()
        other.destination = "/downloads/other.bin"
        let second = try await store.enqueue(other, now: Self.t0 + 1)
        _ = try #require(try await store.claimNext(owner: "live", leaseFor: .seconds(3600), now: Self.t0 + 1))
        #expect(try await store.recoverExpiredLeases(now: Self.t0 + 2).isEmpty)
        #expect(try await store.recoverAbandonedLeases(now: Self.t0 + 2) == [first])
        let released = try #require(try await store.job(id: first))
        #expect(released.state == .retrying && released.nextAttemptAt == Self.t0 + 2 && released.leaseOwner == nil)
        #expect(released.lastError?.message.contains("dead") == true)
        #expect(try await store.job(id: second)?.state == .running)
        #expect(try await store.recoverAbandonedLeases(now: Self.t0 + 3).isEmpty)
        await store.close()
        // The release record replays.
        let reopened = try FileJournalJobStore(path: directory.journal)
        #expect(try await reopened.job(id: first)?.state == .retrying)
        await reopened.close()
    }

    @Test func aStoreWithoutProofSweepsOnlyExpiredLeases() async throws {
        let store: any JobStore = InMemoryJobStore()
        let id = try await store.enqueue(Self.job(), now: Self.t0)
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(60), now: Self.t0)
        #expect(try await store.recoverAbandonedLeases(now: Self.t0 + 1).isEmpty)
        #expect(try await store.recoverAbandonedLeases(now: Self.t0 + 60) == [id])
    }
}
