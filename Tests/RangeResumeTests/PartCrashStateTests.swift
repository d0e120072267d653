import Foundation
@testable import RangeResume
import ResilienceSupport
import ResilienceTesting
import Testing

/// Crash-state exploration of the `.part` file and its sidecar under a power-loss model (issue
/// 18; `CrashStateExplorer` documents the model): each state a power cut can leave during a cut
/// and resumed download is checked by the real recovery (`PartRecovery`, what the resumer runs
/// before its first request), and every 1,000th state is also downloaded to the end from the
/// loopback server.
@Suite("Crash states: .part and sidecar")
struct PartCrashStateTests {
    /// Under ThreadSanitizer the sample is scaled down (the plain run checks at least 10,000).
    static let samples = Sanitizers.isThreadSanitizerActive ? 1_000 : 10_000

    @Test("no crash state of a checkpointed download splices, loses or over-claims bytes")
    func singleDownload() async throws {
        let directory = try CrashState.makeScratchDirectory(prefix: "part-trace")
        let scratch = try CrashState.makeScratchDirectory(prefix: "part-states")
        defer { for path in [directory, scratch] { try? FileManager.default.removeItem(atPath: path) } }
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let workload = try await SingleDownloadWorkload.record(in: directory, server: server, size: 150_001, seed: 18)
        #expect(workload.trace.contains { if case .mark(let label) = $0 { label.hasPrefix("cut") } else { false } })
        var checked = 0
        let report = await CrashStateExplorer(trace: workload.trace).explore(
            workload: "single download with checkpoints", samples: Self.samples, seed: 18
        ) { state in
            checked += 1
            return await workload.check(state, in: scratch, download: checked % 1_000 == 1)
        }
        print(report)
        for violation in report.violations.prefix(2) { print(violation) }
        #expect(report.violationCount == 0)
        #expect(report.statesExplored >= (report.exhaustive ? 1 : Self.samples))
    }
}
