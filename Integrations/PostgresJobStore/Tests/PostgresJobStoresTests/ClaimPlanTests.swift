import Foundation
import JobStores
import PostgresNIO
import Testing
@testable import PostgresJobStores

@Suite("The claim query plan", .enabled(if: PostgresEnv.available, PostgresEnv.skipComment))
struct ClaimPlanTests {
    /// At 100,000 queued jobs (and 20,000 finished ones) the claim walks the claim index: no
    /// sequential scan of the job table, so its cost does not grow with the queue.
    @Test("EXPLAIN: the claim uses the index at 100,000 queued jobs")
    func claimUsesTheIndex() async throws {
        try await PostgresEnv.withStore { store in
            let jobs = store.names.jobs
            var fill = SQLBuilder(now: nil)
            fill.append("""
                INSERT INTO \(jobs) (id, url, destination, priority, state, max_attempts, next_attempt_at, created_at, updated_at)
                SELECT gen_random_uuid(), 'https://example.com/' || i, '/data/' || i, i % 10,
                    CASE WHEN i <= 100000 THEN 'pending' ELSE 'completed' END, 5,
                    \(fill.bind(t0)) + (i % 1000) * interval '1 second',
                    \(fill.bind(t0)) + i * interval '1 millisecond', \(fill.bind(t0))
                FROM generate_series(1, 120000) AS i
                """)
            try await store.client.query(fill.query)
            try await store.client.query(PostgresQuery(unsafeSQL: "ANALYZE \(jobs)"))

            let claim = store.claimStatement(owner: "w", leaseFor: .seconds(30), now: t0 + 500)
            var plan: [String] = []
            let rows = try await store.client.query(PostgresQuery(unsafeSQL: "EXPLAIN " + claim.sql, binds: claim.binds))
            for try await line in rows.decode(String.self) { plan.append(line) }
            let text = plan.joined(separator: "\n")
            #expect(text.contains("Index Scan using \(store.table)_claim"), "the claim does not walk the claim index:\n\(text)")
            #expect(!text.contains("Seq Scan"), "the claim scans the table sequentially:\n\(text)")
            #expect(!text.contains("Sort"), "the claim sorts instead of reading the index in order:\n\(text)")

            // The statement that was explained really claims the best due job.
            let job = try #require(try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: t0 + 500))
            #expect(job.priority == 9 && job.nextAttemptAt <= t0 + 500)
        }
    }
}
