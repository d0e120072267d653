// Claims + completes per second of PostgresJobStore with 1, 8 and 32 concurrent workers, beside
// FileJournalJobStore (group commit, the same workload) in the same run.
//
//   WITH_POSTGRES_FSYNC=on bash scripts/with-postgres.sh swift run -c release postgres-jobstore-benchmarks
//
// The server comes from POSTGRES_HOST/PORT/USER/DB. Each figure: a fresh queue of `jobs` jobs,
// `workers` tasks each looping claimNext + complete until the queue is empty; jobs / elapsed.
import Foundation
import JobStores
import PostgresJobStores
import PostgresNIO

@main
enum PostgresJobStoreBenchmarks {
    static let epoch = Date(timeIntervalSince1970: 1_800_000_000)

    static func main() async {
        let environment = ProcessInfo.processInfo.environment
        guard let host = environment["POSTGRES_HOST"], let port = environment["POSTGRES_PORT"].flatMap(Int.init) else {
            print("postgres-jobstore-benchmarks: set POSTGRES_HOST/PORT/USER/DB (run under scripts/with-postgres.sh)")
            exit(2)
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: environment["POSTGRES_USER"] ?? "postgres",
            password: environment["POSTGRES_PASSWORD"], database: environment["POSTGRES_DB"], tls: .disable
        )
        configuration.options.maximumConnections = 40
        configuration.options.minimumConnections = 32
        let client = PostgresClient(configuration: configuration)
        await withDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                try await run(client: client)
            } catch {
                print("postgres-jobstore-benchmarks failed: \(error)")
            }
        }
    }

    static func run(client: PostgresClient) async throws {
        var settings: [String] = []
        for try await (name, value) in try await client.query(
            "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'server_version') ORDER BY name"
        ).decode((String, String).self) {
            settings.append("\(name)=\(value)")
        }
        print("  (PostgreSQL \(settings.joined(separator: ", ")); FileJournalJobStore: groupCommit, fdatasync on)")
        for workers in [1, 8, 32] {
            let jobs = workers == 1 ? 2_000 : 6_000
            let postgres = try await postgresRate(client: client, workers: workers, jobs: jobs)
            let journal = try await journalRate(workers: workers, jobs: jobs)
            report("postgres.claim+complete.\(workers)-workers", postgres, "jobs/s", peer: ("FileJournalJobStore", journal))
        }
    }

    static func job(_ index: Int) -> DownloadJob {
        DownloadJob(url: URL(string: "https://example.com/files/\(index).bin")!, destination: "/data/\(index).bin", maxAttempts: .max)
    }

    static func postgresRate(client: PostgresClient, workers: Int, jobs: Int) async throws -> Double {
        let schema = "bench_\(workers)_\(UInt32.random(in: 0...UInt32.max))"
        let store = try PostgresJobStore(client: client, schema: schema)
        try await store.migrate()
        try await fill(store, jobs: jobs)
        let rate = try await drain(store, workers: workers, jobs: jobs)
        try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \"\(schema)\" CASCADE"))
        return rate
    }

    static func journalRate(workers: Int, jobs: Int) async throws -> Double {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pg-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try FileJournalJobStore(path: directory + "/jobs.journal", durability: .groupCommit())
        try await fill(store, jobs: jobs)
        return try await drain(store, workers: workers, jobs: jobs)
    }

    /// Enqueues `jobs` jobs with 16 concurrent callers (not timed).
    static func fill(_ store: some JobStore, jobs: Int) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for slice in 0..<16 {
                group.addTask {
                    for index in stride(from: slice, to: jobs, by: 16) { try await store.enqueue(job(index), now: epoch) }
                }
            }
            try await group.waitForAll()
        }
    }

    /// `workers` tasks claim and complete until the queue is empty; returns jobs per second.
    static func drain(_ store: some JobStore, workers: Int, jobs: Int) async throws -> Double {
        let start = ContinuousClock.now
        let done = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    var count = 0
                    while let claimed = try await store.claimNext(owner: "w\(worker)", leaseFor: .seconds(600), now: epoch) {
                        try await store.complete(id: claimed.id, owner: "w\(worker)", now: epoch)
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        guard done == jobs else { throw JobStoreError.invalidArgument("drained \(done) of \(jobs) jobs") }
        return Double(done) / elapsed.seconds
    }

    static func report(_ name: String, _ value: Double, _ unit: String, peer: (name: String, value: Double)) {
        let ratio = peer.value == 0 ? Double.nan : value / peer.value
        print("\(name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(String(format: "%.0f", value)) \(unit)"
              + "    peer \(peer.name) \(String(format: "%.0f", peer.value)) \(unit)    ratio \(String(format: "%.2f", ratio))")
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
