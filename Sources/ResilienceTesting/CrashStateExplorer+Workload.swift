import Foundation
import ResilienceSupport

extension CrashStateExplorer {
    /// The sample size of each workload's test: 10,000 states, scaled down to 1,000 under
    /// ThreadSanitizer (which makes every state about ten times slower).
    package static let standardSamples = Sanitizers.isThreadSanitizerActive ? 1_000 : 10_000

    /// Runs one workload of a crash-state test: `record` runs it in a fresh scratch directory
    /// (see ``CrashState/makeScratchDirectory(prefix:)``) under a `FileOperationRecorder` it starts
    /// and stops; `trace` is the trace it recorded, which `edit` may change (a test that the
    /// explorer can fail removes a sync); then every explored state is materialised in a second
    /// scratch directory and handed to `check` with the workload, that directory and the state's
    /// 0-based number. Prints the report (states explored, violations) and the first violations,
    /// for the CI log.
    package static func explore<Workload>(
        _ name: String, samples: Int, seed: UInt64,
        record: (String) async throws -> Workload,
        trace: (Workload) -> [FileOperation],
        edit: ([FileOperation]) -> [FileOperation] = { $0 },
        check: (Workload, CrashState, String, Int) async -> [String]
    ) async throws -> (report: CrashExplorationReport, workload: Workload) {
        // Tens of seconds of mostly synchronous work: on a thread of its own, not the
        // cooperative pool the rest of the test run needs (it starved the transport conformance
        // checks past their 60 s limit under load).
        try await withTaskExecutorPreference(Self.executor) {
            try await runWorkload(name, samples: samples, seed: seed, record: record, trace: trace, edit: edit, check: check)
        }
    }

    /// The thread every workload's exploration runs on.
    private static let executor = DedicatedThreadExecutor(label: "ResilienceTesting.CrashStateExplorer")

    private static func runWorkload<Workload>(
        _ name: String, samples: Int, seed: UInt64,
        record: (String) async throws -> Workload,
        trace: (Workload) -> [FileOperation],
        edit: ([FileOperation]) -> [FileOperation],
        check: (Workload, CrashState, String, Int) async -> [String]
    ) async throws -> (report: CrashExplorationReport, workload: Workload) {
        let directory = try CrashState.makeScratchDirectory(prefix: "crash-trace")
        let scratch = try CrashState.makeScratchDirectory(prefix: "crash-states")
        defer { for path in [directory, scratch] { try? FileManager.default.removeItem(atPath: path) } }
        let workload = try await record(directory)
        var number = 0
        let report = await CrashStateExplorer(trace: edit(trace(workload))).explore(workload: name, samples: samples, seed: seed) { state in
            defer { number += 1 }
            do {
                try state.materialise(into: scratch)
            } catch {
                return ["could not materialise the state: \(error)"]
            }
            return await check(workload, state, scratch, number)
        }
        print(report)
        for violation in report.violations.prefix(2) { print(violation) }
        return (report, workload)
    }
}
