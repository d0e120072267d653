import Foundation
import JobStores
import PostgresNIO
import ResilienceTesting
import Testing
@testable import PostgresJobStores

let t0 = Date(timeIntervalSince1970: 1_800_000_000)

func newJob(_ name: String, priority: Int = 0, maxAttempts: Int = 3) -> DownloadJob {
    DownloadJob(url: URL(string: "https://example.com/\(name)")!, destination: "/downloads/\(name)",
                priority: priority, maxAttempts: maxAttempts)
}

@Suite("PostgresJobStore against a real server", .enabled(if: PostgresEnv.available, PostgresEnv.skipComment))
struct PostgresJobStoreTests {
    @Test("the shared JobStore conformance suite passes unchanged", arguments: JobStoreConformance.checks)
    func conformance(_ check: JobStoreConformance.Check) async throws {
        try await PostgresEnv.withStore(maximumConnections: 16) { store in
            try await check.run { store }
        }
    }

    @Test("migrate is idempotent and refuses a newer schema")
    func migrateIsVersioned() async throws {
        try await PostgresEnv.withStore { store in
            // withStore migrated once already: the second and third calls find version 1.
            #expect(try await store.migrate() == PostgresJobStore.schemaVersion)
            #expect(try await store.migrate() == PostgresJobStore.schemaVersion)
            let id = try await store.enqueue(newJob("kept"), now: t0)
            try await store.client.query(PostgresQuery(unsafeSQL: "UPDATE \(store.names.versionTable) SET version = 99"))
            await #expect(throws: PostgresJobStoreError.newerSchema(found: 99, supported: PostgresJobStore.schemaVersion)) {
                try await store.migrate()
            }
            #expect(try await store.job(id: id)?.destination == "/downloads/kept", "a refused migration changed data")
        }
    }

    @Test("a version 1 table gains the headers column, and its jobs are kept")
    func migratesVersion1ToVersion2() async throws {
        try await PostgresEnv.withStore { store in
            let id = try await store.enqueue(newJob("old"), now: t0)
            // Back to what version 1 created: no headers column.
            try await store.client.query(PostgresQuery(unsafeSQL: "ALTER TABLE \(store.names.jobs) DROP COLUMN headers"))
            try await store.client.query(PostgresQuery(unsafeSQL: "UPDATE \(store.names.versionTable) SET version = 1"))
            #expect(try await store.migrate() == 1)
            #expect(try await store.job(id: id)?.headers == [:])
            var withHeaders = newJob("new")
            withHeaders.headers = ["Accept": "application/octet-stream"]
            let second = try await store.enqueue(withHeaders, now: t0)
            #expect(try await store.job(id: second)?.headers == ["Accept": "application/octet-stream"])
        }
    }

    @Test("concurrent migrations of a new schema all succeed")
    func concurrentMigrations() async throws {
        try await PostgresEnv.withStore { store in
            let fresh = try PostgresJobStore(client: store.client, schema: store.schema, table: "other_jobs")
            let versions = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 { group.addTask { try await fresh.migrate() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let current = PostgresJobStore.schemaVersion
            #expect(versions.sorted() == [0] + Array(repeating: current, count: 5), "exactly one caller created the table")
            #expect(try await fresh.enqueue(newJob("x"), now: t0) != UUID())
        }
    }

    @Test("names that are not plain identifiers are refused", arguments: ["", "Jobs", "jobs; DROP TABLE x", "1jobs", "a\"b",
                                                                            String(repeating: "a", count: 49)])
    func invalidIdentifiers(_ name: String) async throws {
        try await PostgresEnv.withClient { client in
            #expect(throws: PostgresJobStoreError.invalidIdentifier(name)) { try PostgresJobStore(client: client, table: name) }
            #expect(throws: PostgresJobStoreError.invalidIdentifier(name)) { try PostgresJobStore(client: client, schema: name) }
        }
    }

    @Test("a worker whose lease was taken over gets leaseLost and cannot overwrite the new owner's work")
    func takeover() async throws {
        try await PostgresEnv.withStore { store in
            let id = try await store.enqueue(newJob("a"), now: t0)
            _ = try await store.claimNext(owner: "slow", leaseFor: .seconds(10), now: t0)
            try await store.recordProgress(id: id, owner: "slow", bytesDone: 10, bytesTotal: 100, now: t0 + 1)
            let taken = try await store.claimNext(owner: "fast", leaseFor: .seconds(10), now: t0 + 10)
            #expect(taken?.id == id && taken?.attempts == 2 && taken?.lastError?.message == "lease of slow expired")
            try await store.recordProgress(id: id, owner: "fast", bytesDone: 50, bytesTotal: nil, now: t0 + 11)
            await #expect(throws: JobStoreError.leaseLost(job: id, owner: "slow")) {
                try await store.recordProgress(id: id, owner: "slow", bytesDone: 99, bytesTotal: nil, now: t0 + 12)
            }
            await #expect(throws: JobStoreError.leaseLost(job: id, owner: "slow")) {
                try await store.renewLease(id: id, owner: "slow", leaseFor: .seconds(10), now: t0 + 12)
            }
            await #expect(throws: JobStoreError.leaseLost(job: id, owner: "slow")) {
                try await store.complete(id: id, owner: "slow", now: t0 + 12)
            }
            let job = try #require(try await store.job(id: id))
            #expect(job.state == .running && job.leaseOwner == "fast" && job.bytesDone == 50 && job.bytesTotal == 100)
        }
    }

    @Test("one claim statement sweeps expired leases and may claim a swept job, by claim order")
    func claimSweepsAndReclaims() async throws {
        try await PostgresEnv.withStore { store in
            let low = try await store.enqueue(newJob("low", priority: 1), now: t0)
            let high = try await store.enqueue(newJob("high", priority: 5), now: t0 + 1)
            let spent = try await store.enqueue(newJob("spent", priority: 9, maxAttempts: 1), now: t0 + 2)
            // "spent" (its only attempt) and "high" are claimed by a worker that then dies.
            #expect(try await store.claimNext(owner: "dead", leaseFor: .seconds(10), now: t0 + 3)?.id == spent)
            #expect(try await store.claimNext(owner: "dead", leaseFor: .seconds(10), now: t0 + 3)?.id == high)

            // Before expiry: only "low" is due; nothing is swept.
            let early = try #require(try await store.claimNext(owner: "w1", leaseFor: .seconds(60), now: t0 + 5))
            #expect(early.id == low)
            #expect(try await store.job(id: high)?.state == .running)

            // After expiry one claim fails "spent" (no attempts left), sweeps "high" and claims it:
            // it is the best due job now.
            let reclaimed = try #require(try await store.claimNext(owner: "w2", leaseFor: .seconds(60), now: t0 + 20))
            #expect(reclaimed.id == high && reclaimed.state == .running && reclaimed.leaseOwner == "w2")
            #expect(reclaimed.attempts == 2 && reclaimed.lastError?.message == "lease of dead expired")
            let failed = try #require(try await store.job(id: spent))
            #expect(failed.state == .failed && failed.leaseOwner == nil && failed.lastError?.message == "lease of dead expired")
            #expect(try await store.claimNext(owner: "w3", leaseFor: .seconds(60), now: t0 + 20) == nil)
        }
    }

    @Test("a claim that sweeps a lower-priority expired job claims the better pending one and leaves the swept one due")
    func claimPrefersPendingOverWorseSwept() async throws {
        try await PostgresEnv.withStore { store in
            let old = try await store.enqueue(newJob("old", priority: 0), now: t0)
            #expect(try await store.claimNext(owner: "dead", leaseFor: .seconds(10), now: t0)?.id == old)
            let urgent = try await store.enqueue(newJob("urgent", priority: 3), now: t0 + 1)
            let first = try #require(try await store.claimNext(owner: "w", leaseFor: .seconds(60), now: t0 + 30))
            #expect(first.id == urgent)
            let swept = try #require(try await store.job(id: old))
            #expect(swept.state == .retrying && swept.nextAttemptAt == t0 + 30 && swept.leaseOwner == nil)
            #expect(try await store.claimNext(owner: "w", leaseFor: .seconds(60), now: t0 + 30)?.id == old)
        }
    }

    @Test("de-duplication holds for destinations longer than a btree entry, and only among active jobs")
    func longDestinations() async throws {
        try await PostgresEnv.withStore { store in
            let long = "/data/" + String(repeating: "x", count: DownloadJob.maximumStringBytes - 6)
            var job = newJob("long")
            job.destination = long
            let first = try await store.enqueue(job, now: t0)
            job.id = UUID()
            #expect(try await store.enqueue(job, now: t0 + 1) == first)
            var other = job
            other.destination = String(long.dropLast()) + "y"
            #expect(try await store.enqueue(other, now: t0 + 2) == other.id)
            try await store.cancel(id: first, now: t0 + 3)
            job.id = UUID()
            #expect(try await store.enqueue(job, now: t0 + 4) == job.id)
            await #expect(throws: JobStoreError.self) {
                var tooLong = newJob("too-long")
                tooLong.destination = long + "z"
                try await store.enqueue(tooLong, now: t0)
            }
        }
    }

    @Test("fields survive the round trip through PostgreSQL")
    func roundTrip() async throws {
        try await PostgresEnv.withStore { store in
            let job = DownloadJob(
                url: URL(string: "https://example.com/a?b=c")!, mirrors: [URL(string: "https://m1.example/a")!, URL(string: "http://m2/a")!],
                destination: "/d/ü€ 'quoted\"", expectedLength: 1 << 40, expectedSHA256: String(repeating: "ab", count: 32),
                priority: -7, maxAttempts: .max, notBefore: t0 + 5, metadata: ["k": "v", "ünï": "{\"json\": true}", "": ""]
            )
            try await store.enqueue(job, now: t0)
            let read = try #require(try await store.job(id: job.id))
            #expect(read.url == job.url && read.mirrors == job.mirrors && read.destination == job.destination)
            #expect(read.expectedLength == job.expectedLength && read.expectedSHA256 == job.expectedSHA256)
            #expect(read.priority == -7 && read.maxAttempts == .max && read.nextAttemptAt == t0 + 5 && read.metadata == job.metadata)
            let claimed = try #require(try await store.claimNext(owner: "w", leaseFor: .milliseconds(1500), now: t0 + 5))
            #expect(claimed.leaseExpiresAt == t0 + 6.5)
            let long = JobFailure(message: String(repeating: "é", count: 3000) + "\u{0}", isRetryable: true)
            let retried = try await store.scheduleRetry(id: job.id, owner: "w", at: t0 + 60, error: long, now: t0 + 6)
            #expect(retried.lastError?.message.utf8.count == JobFailure.maximumMessageBytes && retried.state == .retrying)
        }
    }

    @Test("the database clock replaces the callers' now")
    func databaseClock() async throws {
        try await PostgresEnv.withStore(timeSource: .database) { store in
            let before = Date()
            // Far-past and far-future `now` arguments are ignored: the server's clock decides.
            let id = try await store.enqueue(newJob("a"), now: .distantFuture)
            let claimed = try #require(try await store.claimNext(owner: "w", leaseFor: .seconds(60), now: .distantPast))
            let after = Date()
            #expect(claimed.id == id)
            let created = claimed.createdAt
            #expect(created >= before - 5 && created <= after + 5, "createdAt \(created) is not the server's now")
            let expiry = try #require(claimed.leaseExpiresAt)
            #expect(abs(expiry.timeIntervalSince(claimed.updatedAt) - 60) < 0.001)
            #expect(try await store.recoverExpiredLeases(now: .distantFuture).isEmpty, "a lease expired by the caller's clock")
        }
    }
}
