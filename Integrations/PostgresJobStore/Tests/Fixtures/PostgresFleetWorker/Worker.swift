// One worker process of the fleet test (PostgresFleetTests): `tasks` concurrent tasks claim and
// complete jobs from one PostgresJobStore until no active job is left, printing one line per
// event on stdout for the test to check:
//   claimed <job id> <owner> <attempt>    completed <job id> <owner>    stalled <job id> <owner>
//   error <description>                   done <completed count>
//
// Arguments: <schema> <name> <tasks> <lease milliseconds> [<stall after>]
// With <stall after>, each task completes that many jobs, then claims one more and hangs holding
// it (prints `stalled`), so the test can SIGKILL the process while it is mid-job.
// The server comes from POSTGRES_HOST/PORT/USER/DB (inherited from the test).
import Foundation
import JobStores
import PostgresJobStores
import PostgresNIO
import Synchronization

/// Serialises whole lines on stdout (several tasks print).
let output = Mutex(())

func say(_ line: String) {
    output.withLock { _ in
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

@main
enum FleetWorker {
    static func main() async {
        let arguments = CommandLine.arguments
        guard arguments.count >= 5, let tasks = Int(arguments[3]), let leaseMilliseconds = Int(arguments[4]) else {
            FileHandle.standardError.write(Data("usage: PostgresFleetWorker <schema> <name> <tasks> <lease ms> [<stall after>]\n".utf8))
            exit(64)
        }
        let schema = arguments[1]
        let name = arguments[2]
        let stallAfter = arguments.count > 5 ? Int(arguments[5]) : nil
        let environment = ProcessInfo.processInfo.environment

        var configuration = PostgresClient.Configuration(
            host: environment["POSTGRES_HOST"] ?? "127.0.0.1", port: Int(environment["POSTGRES_PORT"] ?? "") ?? 5432,
            username: environment["POSTGRES_USER"] ?? "postgres", password: environment["POSTGRES_PASSWORD"],
            database: environment["POSTGRES_DB"], tls: .disable
        )
        configuration.options.maximumConnections = tasks + 1
        let client = PostgresClient(configuration: configuration)

        let completed = await withDiscardingTaskGroup { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            do {
                let store = try PostgresJobStore(client: client, schema: schema)
                let lease = Duration.milliseconds(leaseMilliseconds)
                return try await withThrowingTaskGroup(of: Int.self) { workers in
                    for task in 0..<tasks {
                        workers.addTask {
                            let owner = "\(name)/t\(task)"
                            var done = 0
                            while true {
                                guard let job = try await store.claimNext(owner: owner, leaseFor: lease, now: Date()) else {
                                    // Nothing due: finished, or jobs are held by leases that have not expired yet.
                                    let active = try await store.jobs(matching: JobQuery(states: [.pending, .running, .retrying], limit: 1))
                                    if active.isEmpty { return done }
                                    try await Task.sleep(for: .milliseconds(20))
                                    continue
                                }
                                say("claimed \(job.id) \(owner) \(job.attempts)")
                                if let stallAfter, done >= stallAfter {
                                    say("stalled \(job.id) \(owner)")
                                    try await Task.sleep(for: .seconds(3600))  // mid-job until the test kills us
                                }
                                do {
                                    try await store.complete(id: job.id, owner: owner, now: Date())
                                    say("completed \(job.id) \(owner)")
                                    done += 1
                                } catch let error as JobStoreError {
                                    say("error \(error)")
                                }
                            }
                        }
                    }
                    var total = 0
                    for try await count in workers { total += count }
                    return total
                }
            } catch {
                say("error \(error)")
                return -1
            }
        }
        say("done \(completed)")
        exit(completed >= 0 ? 0 : 1)
    }
}
