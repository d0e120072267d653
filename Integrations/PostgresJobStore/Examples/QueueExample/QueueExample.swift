// A worker fleet in miniature: enqueues a few downloads into a PostgresJobStore, then three
// workers (tasks here; processes or machines in production) claim them under leases and finish
// them. Run it against any server:
//
//   POSTGRES_HOST=127.0.0.1 POSTGRES_PORT=5432 POSTGRES_USER=me POSTGRES_DB=app swift run postgres-jobstore-example
//   bash scripts/with-postgres.sh swift run postgres-jobstore-example     # a throw-away server
//
// The workers only pretend to download (no network): plug in your own transfer.
import Foundation
import JobStores
import PostgresJobStores
import PostgresNIO

@main
enum QueueExample {
    static func main() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = PostgresClient.Configuration(
            host: environment["POSTGRES_HOST"] ?? "127.0.0.1", port: Int(environment["POSTGRES_PORT"] ?? "") ?? 5432,
            username: environment["POSTGRES_USER"] ?? "postgres", password: environment["POSTGRES_PASSWORD"],
            database: environment["POSTGRES_DB"] ?? "postgres", tls: .disable
        )
        let client = PostgresClient(configuration: configuration)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await client.run() }  // the pool runs until the group is cancelled
            defer { group.cancelAll() }

            let store = try PostgresJobStore(client: client, table: "example_download_jobs")
            try await store.migrate()  // idempotent: every worker may call it at start-up

            for name in ["alpha", "beta", "gamma", "delta", "epsilon"] {
                let job = DownloadJob(url: URL(string: "https://example.com/\(name).bin")!, destination: "/tmp/example/\(name).bin")
                let id = try await store.enqueue(job, now: Date())  // an active job for the destination is reused
                print("enqueued \(name) as \(id)")
            }

            try await withThrowingTaskGroup(of: Void.self) { workers in
                for worker in 1...3 {
                    workers.addTask {
                        let owner = "\(ProcessInfo.processInfo.hostName)/\(getpid())/worker-\(worker)"
                        while let job = try await store.claimNext(owner: owner, leaseFor: .seconds(60), now: Date()) {
                            print("worker-\(worker) downloads \(job.url.lastPathComponent) (attempt \(job.attempts))")
                            try await Task.sleep(for: .milliseconds(100))  // your transfer; renew the lease if it runs long
                            try await store.recordProgress(id: job.id, owner: owner, bytesDone: 1024, bytesTotal: 1024, now: Date())
                            try await store.complete(id: job.id, owner: owner, now: Date())
                        }
                    }
                }
                try await workers.waitForAll()
            }
            let done = try await store.jobs(matching: JobQuery(states: [.completed]))
            print("\(done.count) jobs completed in \(store.schema).\(store.table)")
        }
    }
}
