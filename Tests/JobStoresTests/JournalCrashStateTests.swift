import Foundation
import JobStores
import ResilienceSupport
import ResilienceTesting
import Testing

/// Crash-state exploration of the journal under a power-loss model (issue 18): the states a
/// power cut can leave (see `CrashStateExplorer` for the model) are rebuilt from a recorded trace
/// of a churn with compaction, and each is reopened by the real recovery.
@Suite("Crash states: journal")
struct JournalCrashStateTests {
    /// 10,000 (1,000 under ThreadSanitizer).
    static let samples = CrashStateExplorer.standardSamples

    /// Records the churn (`steps`, `seed`, `durability`), lets `edit` change its trace and
    /// explores the crash states of the result.
    static func explore(
        _ name: String, steps: Int, seed: UInt64, samples: Int, durability: FileJournalJobStore.Durability = .fsyncEachWrite,
        edit: ([FileOperation]) -> [FileOperation] = { $0 }
    ) async throws -> CrashExplorationReport {
        try await CrashStateExplorer.explore(
            name, samples: samples, seed: seed,
            record: { try await JournalChurnWorkload.record(in: $0, steps: steps, seed: seed, durability: durability) },
            trace: \.trace, edit: edit
        ) { workload, state, directory, _ in
            await workload.check(state, in: directory)
        }.report
    }

    @Test("every crash state of a journal churn with compaction keeps each acknowledged job")
    func journalChurn() async throws {
        let report = try await Self.explore("journal churn with compaction", steps: 120, seed: 18, samples: Self.samples)
        #expect(report.violationCount == 0)
        #expect(report.statesExplored >= (report.exhaustive ? 1 : Self.samples))
    }

    /// Without an `fdatasync` per change the space is large (every append is unsynced until the
    /// next compaction): a seeded sample. Recovery must still never fail, never invent a state,
    /// and keep everything a completed compaction made durable.
    @Test("every sampled crash state of an unsynced journal keeps what compaction made durable")
    func unsyncedJournalChurn() async throws {
        let report = try await Self.explore("journal churn without fsync, with compaction", steps: 120, seed: 19,
                                            samples: Self.samples, durability: .none)
        #expect(report.violationCount == 0)
        #expect(!report.exhaustive)
        #expect(report.statesExplored >= Self.samples)
    }

    /// The explorer can fail: the same workload's trace with the `fdatasync` after each append
    /// removed (what the writer would do without that one call) must lose an acknowledged job.
    @Test("a journal writer without its append fdatasync loses an acknowledged job")
    func missingFsyncIsFound() async throws {
        var removed = 0
        let report = try await Self.explore("journal without append fdatasync", steps: 40, seed: 7, samples: 300) { trace in
            let kept = trace.filter { $0 != .sync(path: JournalChurnWorkload.journalName, dataOnly: true) }
            removed = trace.count - kept.count
            return kept
        }
        #expect(removed > 0)
        #expect(report.violationCount > 0)
        #expect(report.violations.contains { $0.messages.contains { $0.hasPrefix("lost acknowledged job") } })
    }
}
