import Foundation
import ResilienceTesting
import Testing

/// Issue 18 part 2: thousands of seeded runs of the whole queue (see ``QueueSimulation``), each
/// checking its invariants. `SIMULATION_SEED=<n>` replays one seed; `SIMULATION_SEEDS=<n>` sets
/// how many run (default 10,000; 500 under ThreadSanitizer).
@Suite("QueueSimulation", .serialized, .timeLimit(.minutes(5)))
struct QueueSimulationTests {
    static let environment = ProcessInfo.processInfo.environment
    static let replay = "swift test --filter QueueSimulation"

    @Test func seededRunsOfTheWholeQueueHoldEveryInvariant() async throws {
        let root = Self.scratchRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        if let value = Self.environment["SIMULATION_SEED"], let seed = UInt64(value) {
            let outcome = await QueueSimulation(seed: seed).run(under: root)
            print("QueueSimulation seed \(seed): \(outcome.completed) completed, \(outcome.failed) failed, "
                  + "\(outcome.requests) requests, \(outcome.crashes) crashes, \(outcome.clockSteps) steps, "
                  + "\(outcome.simulatedSeconds) s simulated; faults: \(Self.describe(outcome.faults))")
            for violation in outcome.violations { Issue.record("seed \(seed): \(violation)") }
            return
        }
        let count = Self.environment["SIMULATION_SEEDS"].flatMap(Int.init)
            ?? (Sanitizers.isThreadSanitizerActive ? 500 : 10_000)
        if Sanitizers.isThreadSanitizerActive { print("QueueSimulation: ThreadSanitizer is active, running \(count) seeds") }
        let started = ContinuousClock.now
        let run = await SeedBatch.run(count: count, under: root)
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let total = run.total
        print("QueueSimulation: \(run.seedsRun) seeds in \(String(format: "%.1f", seconds)) s "
              + "(\(Int(Double(run.seedsRun) / max(seconds, 0.001))) seeds/s); jobs: \(total.completed) completed, "
              + "\(total.failed) failed; \(total.requests) requests; \(total.crashes) crashes; "
              + "faults: \(Self.describe(total.faults)); violations: \(total.violations.count)"
              + (run.failingSeeds.isEmpty ? "" : " in seeds \(run.failingSeeds.prefix(20))"))
        for (seed, violation) in run.violations.prefix(50) {
            Issue.record("seed \(seed): \(violation) — replay: SIMULATION_SEED=\(seed) \(Self.replay)")
        }
        #expect(run.seedsRun == count)
    }

    /// The checks can fail: a server that keeps a file's ETag when it replaces the bytes makes
    /// resumes splice two versions, and the simulation reports it.
    @Test func catchesASpliceFromAServerThatKeepsItsETag() async {
        let root = Self.scratchRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let run = await SeedBatch.run(count: 500, under: root, defect: .keepsETagOnReplace)
        let splices = run.violations.filter { $0.violation.contains("spliced") }
        print("QueueSimulation with a server that keeps its ETag: \(splices.count) spliced files in seeds "
              + "\(splices.map(\.seed).prefix(10))")
        #expect(!splices.isEmpty)
    }

    static func describe(_ faults: [SimulatedFault: Int]) -> String {
        SimulatedFault.allCases.map { "\($0.rawValue) \(faults[$0] ?? 0)" }.joined(separator: ", ")
    }

    /// A fresh directory for the seeds' files: in `/dev/shm` when there is one (the `.part`
    /// checkpoints' fsyncs cost nothing there), else the temporary directory.
    static func scratchRoot() -> URL {
        let shm = URL(fileURLWithPath: "/dev/shm", isDirectory: true)
        let base = FileManager.default.isWritableFile(atPath: shm.path) ? shm : FileManager.default.temporaryDirectory
        let root = base.appendingPathComponent("queue-simulation-\(UUID().uuidString)", isDirectory: true)
        try? FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }
}
