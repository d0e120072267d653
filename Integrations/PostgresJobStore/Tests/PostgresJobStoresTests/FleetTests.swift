import Foundation
import JobStores
import PostgresJobStores
import ResilienceTesting
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("A fleet of worker processes on one PostgresJobStore", .enabled(if: PostgresEnv.available, PostgresEnv.skipComment))
struct FleetTests {
    static let jobCount = 2_000
    static let workers = 8
    static let tasksPerWorker = 4
    static let victims = 2
    /// Each victim task completes this many jobs, then claims one more and hangs on it.
    static let stallAfter = 5
    /// Short, so the victims' jobs come back quickly; far above any real claim-to-complete time.
    static let leaseMilliseconds = 3_000

    struct WorkerLog: Sendable {
        let index: Int
        let lines: [String]
        let exit: ChildProcess.ExitStatus
    }

    /// 8 processes × 4 tasks claim and complete 2,000 jobs; 2 processes are SIGKILLed while each
    /// of their 4 tasks holds a job. Every job is completed exactly once, no job is claimed twice
    /// by processes that stayed alive, and the killed workers' jobs are reclaimed after their
    /// leases expire and completed by the others.
    @Test("8 processes × 4 tasks complete 2,000 jobs exactly once; 2 SIGKILLed workers' jobs are reclaimed",
          .timeLimit(.minutes(2)))
    func fleet() async throws {
        try await PostgresEnv.withStore(maximumConnections: 16) { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for slice in 0..<8 {
                    group.addTask {
                        for index in stride(from: slice, to: Self.jobCount, by: 8) {
                            try await store.enqueue(newJob("fleet-\(index)"), now: Date())
                        }
                    }
                }
                try await group.waitForAll()
            }
            let worker = ChildProcess.siblingExecutable(named: "PostgresFleetWorker")
            let logs = try await withThrowingTaskGroup(of: WorkerLog.self) { group in
                for index in 0..<Self.workers {
                    var arguments = [store.schema, "w\(index)", "\(Self.tasksPerWorker)", "\(Self.leaseMilliseconds)"]
                    if index < Self.victims { arguments.append("\(Self.stallAfter)") }
                    let child = try ChildProcess(executable: worker, arguments: arguments)
                    group.addTask {
                        var lines: [String] = []
                        var stalled = 0
                        while let line = await child.nextLine() {
                            lines.append(line)
                            if line.hasPrefix("stalled ") {
                                stalled += 1
                                // Every task of this worker holds a job it will never finish: kill it now.
                                if stalled == Self.tasksPerWorker { child.kill(SIGKILL) }
                            }
                        }
                        return WorkerLog(index: index, lines: lines, exit: await child.exitStatus)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.index < $1.index }
            }
            try await check(logs, store: store)
        }
    }

    func check(_ logs: [WorkerLog], store: PostgresJobStore) async throws {
        var completedBy: [String: [Int]] = [:]  // job id → workers that completed it
        var claimedBy: [String: [Int]] = [:]
        var stalledJobs: Set<String> = []
        for log in logs {
            let isVictim = log.index < Self.victims
            #expect(log.exit == (isVictim ? .signaled(SIGKILL) : .exited(0)), "worker \(log.index) ended \(log.exit)")
            for line in log.lines {
                let fields = line.split(separator: " ").map(String.init)
                switch fields.first {
                case "claimed": claimedBy[fields[1], default: []].append(log.index)
                case "completed": completedBy[fields[1], default: []].append(log.index)
                case "stalled": stalledJobs.insert(fields[1])
                case "done": break
                default: Issue.record("worker \(log.index) said: \(line)")
                }
            }
        }
        #expect(completedBy.count == Self.jobCount, "\(completedBy.count) distinct jobs completed")
        #expect(completedBy.values.allSatisfy { $0.count == 1 }, "a job was completed twice")
        #expect(stalledJobs.count == Self.victims * Self.tasksPerWorker, "victims held \(stalledJobs.count) jobs when killed")
        for (job, claimers) in claimedBy {
            let survivors = claimers.filter { $0 >= Self.victims }
            #expect(survivors.count <= 1, "job \(job) was claimed by live workers \(survivors)")
        }
        for job in stalledJobs {
            let finisher = completedBy[job]?.first
            #expect(finisher.map { $0 >= Self.victims } == true, "a killed worker's job \(job) was not finished by a survivor")
        }
        let victimsCompleted = logs.prefix(Self.victims).map { $0.lines.filter { $0.hasPrefix("completed ") }.count }
        #expect(victimsCompleted.allSatisfy { $0 == Self.tasksPerWorker * Self.stallAfter })

        // The database agrees: every job completed, the stalled ones on their second attempt.
        let all = try await store.jobs(matching: .all)
        #expect(all.count == Self.jobCount && all.allSatisfy { $0.state == .completed })
        let reclaimed = all.filter { stalledJobs.contains($0.id.uuidString) }
        #expect(reclaimed.count == stalledJobs.count)
        #expect(reclaimed.allSatisfy { $0.attempts == 2 && $0.lastError?.message.hasPrefix("lease of w") == true })
        #expect(all.filter { !stalledJobs.contains($0.id.uuidString) }.allSatisfy { $0.attempts == 1 })
    }
}
