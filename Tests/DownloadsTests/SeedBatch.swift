import Foundation

/// Seeds `0..<count` of ``QueueSimulation``, a few at a time, with their outcomes summed.
struct SeedBatch {
    /// Seeds in flight at once: they wait on nothing real, so a few keep both cores busy.
    static let parallelSeeds = 4

    var total = QueueSimulation.Outcome()
    var seedsRun = 0
    var failingSeeds: [UInt64] = []
    var violations: [(seed: UInt64, violation: String)] = []

    static func run(count: Int, under root: URL, defect: SimulatedServer.Defect? = nil) async -> SeedBatch {
        var batch = SeedBatch()
        await withTaskGroup(of: (UInt64, QueueSimulation.Outcome).self) { group in
            var next: UInt64 = 0
            func add() {
                let seed = next
                next += 1
                group.addTask { (seed, await QueueSimulation(seed: seed, defect: defect).run(under: root)) }
            }
            for _ in 0..<min(parallelSeeds, count) { add() }
            while let (seed, outcome) = await group.next() {
                batch.add(outcome, of: seed)
                if next < UInt64(count) { add() }
            }
        }
        return batch
    }

    mutating func add(_ outcome: QueueSimulation.Outcome, of seed: UInt64) {
        seedsRun += 1
        total.completed += outcome.completed
        total.failed += outcome.failed
        total.crashes += outcome.crashes
        total.requests += outcome.requests
        total.clockSteps += outcome.clockSteps
        total.faults.merge(outcome.faults, uniquingKeysWith: +)
        total.violations += outcome.violations
        if !outcome.violations.isEmpty { failingSeeds.append(seed) }
        violations += outcome.violations.map { (seed, $0) }
    }
}
