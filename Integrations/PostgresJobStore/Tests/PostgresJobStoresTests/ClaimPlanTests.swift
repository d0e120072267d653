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

            // Some expired leases too, so the sweep part of the statement has rows to plan for.
            var expire = SQLBuilder(now: nil)
            expire.append("""
                UPDATE \(jobs) SET state = 'running', lease_owner = 'dead', lease_expires_at = \(expire.bind(t0))
                WHERE id IN (SELECT id FROM \(jobs) WHERE state = 'pending' ORDER BY created_at LIMIT 50)
                """)
            try await store.client.query(expire.query)
            try await store.client.query(PostgresQuery(unsafeSQL: "ANALYZE \(jobs)"))

            let claim = store.claimStatement(owner: "w", leaseFor: .seconds(30), now: t0 + 500)
            var lines: [String] = []
            let rows = try await store.client.query(PostgresQuery(unsafeSQL: "EXPLAIN (FORMAT JSON) " + claim.sql, binds: claim.binds))
            for try await line in rows.decode(String.self) { lines.append(line) }
            let json = lines.joined(separator: "\n")
            let plan = try #require(PlanNode.parse(json), "not an EXPLAIN JSON document:\n\(json)")
            let scans = plan.all.filter { $0.type.contains("Scan") }
            #expect(plan.all.contains { $0.type == "Index Scan" && $0.index == "\(store.table)_claim" },
                    "the claim does not walk the claim index:\n\(json)")
            #expect(plan.all.contains { $0.index == "\(store.table)_leases" }, "the sweep does not use the lease index:\n\(json)")
            #expect(!scans.contains { $0.type == "Seq Scan" }, "the claim scans the table sequentially:\n\(json)")
            // A Sort is allowed over the few expired leases and the two candidates, never over the
            // claim index: that index is read in claim order and the scan stops at the first due row.
            for sort in plan.all where sort.type == "Sort" {
                #expect(!sort.all.contains { $0.index == "\(store.table)_claim" },
                        "the claim sorts the queue instead of reading the index in order:\n\(json)")
            }

            // The statement that was explained really claims the best due job.
            let job = try #require(try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: t0 + 500))
            #expect(job.priority == 9 && job.nextAttemptAt <= t0 + 500)
        }
    }
}

/// A node of an `EXPLAIN (FORMAT JSON)` plan: its type, the index it reads (if any), its children.
struct PlanNode {
    var type: String
    var index: String?
    var children: [PlanNode]

    /// This node and every node below it.
    var all: [PlanNode] { [self] + children.flatMap(\.all) }

    /// The top plan node of an `EXPLAIN (FORMAT JSON)` document, plus the plans of its CTEs.
    static func parse(_ json: String) -> PlanNode? {
        guard let document = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]],
              let top = document.first?["Plan"] as? [String: Any] else { return nil }
        return node(top)
    }

    private static func node(_ object: [String: Any]) -> PlanNode? {
        guard let type = object["Node Type"] as? String else { return nil }
        let children = (object["Plans"] as? [[String: Any]] ?? []).compactMap(node)
        return PlanNode(type: type, index: object["Index Name"] as? String, children: children)
    }
}
