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
    /// 10,000 (1,000 under ThreadSanitizer).
    static let samples = CrashStateExplorer.standardSamples

    @Test("no crash state of a checkpointed download splices, loses or over-claims bytes")
    func singleDownload() async throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let (report, workload) = try await CrashStateExplorer.explore(
            "single download with checkpoints", samples: Self.samples, seed: 18,
            record: { try await SingleDownloadWorkload.record(in: $0, server: server, size: 150_001, seed: 18) }, trace: \.trace
        ) { workload, state, directory, number in
            await workload.check(state, in: directory, download: number % 1_000 == 0)
        }
        #expect(workload.trace.contains { if case .mark(let label) = $0 { label.hasPrefix("cut") } else { false } })
        #expect(report.violationCount == 0)
        #expect(report.statesExplored >= (report.exhaustive ? 1 : Self.samples))
    }
}
