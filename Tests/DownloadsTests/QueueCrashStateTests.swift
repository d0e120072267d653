import Foundation
import ResilienceSupport
import ResilienceTesting
import Testing

/// Crash-state exploration of a queue of 20 jobs with retries (journal, `.part` files, sidecars
/// and destinations together) under a power-loss model (issue 18; `CrashStateExplorer`
/// documents the model).
@Suite("Crash states: download queue")
struct QueueCrashStateTests {
    /// 10,000 (1,000 under ThreadSanitizer).
    static let samples = CrashStateExplorer.standardSamples

    @Test("no crash state of a 20-job queue loses a job, a completion or a destination")
    func queueOfTwentyJobs() async throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let report = try await CrashStateExplorer.explore(
            "queue of 20 jobs with retries", samples: Self.samples, seed: 18,
            record: { try await QueueCrashWorkload.record(in: $0, server: server, seed: 18) }, trace: \.trace
        ) { workload, state, directory, _ in
            await workload.check(state, in: directory)
        }.report
        #expect(report.violationCount == 0)
        #expect(report.statesExplored >= (report.exhaustive ? 1 : Self.samples))
    }
}
