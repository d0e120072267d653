import Foundation
@testable import Downloads
import ResilienceSupport
import ResilienceTesting
import Testing

/// Crash-state exploration of a segmented download's `.part` and `.part.segments` sidecar under
/// a power-loss model (issue 18; `CrashStateExplorer` documents the model). Every 1,000th state is
/// also downloaded to the end from the loopback server.
@Suite("Crash states: segmented download")
struct SegmentedCrashStateTests {
    /// 10,000 (1,000 under ThreadSanitizer).
    static let samples = CrashStateExplorer.standardSamples

    @Test("no crash state of a segmented download over-claims bytes or exposes a wrong destination")
    func segmentedDownload() async throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let report = try await CrashStateExplorer.explore(
            "segmented download", samples: Self.samples, seed: 18,
            record: { try await SegmentedDownloadWorkload.record(in: $0, server: server, size: 200_003, seed: 18) }, trace: \.trace
        ) { workload, state, directory, number in
            await workload.check(state, in: directory, download: number % 1_000 == 0)
        }.report
        #expect(report.violationCount == 0)
        #expect(report.statesExplored >= (report.exhaustive ? 1 : Self.samples))
    }
}
