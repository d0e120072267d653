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
    /// Under ThreadSanitizer the sample is scaled down (the plain run checks at least 10,000).
    static let samples = Sanitizers.isThreadSanitizerActive ? 1_000 : 10_000

    @Test("no crash state of a segmented download over-claims bytes or exposes a wrong destination")
    func segmentedDownload() async throws {
        let directory = try CrashState.makeScratchDirectory(prefix: "segments-trace")
        let scratch = try CrashState.makeScratchDirectory(prefix: "segments-states")
        defer { for path in [directory, scratch] { try? FileManager.default.removeItem(atPath: path) } }
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let workload = try await SegmentedDownloadWorkload.record(in: directory, server: server, size: 200_003, seed: 18)
        var checked = 0
        let report = await CrashStateExplorer(trace: workload.trace).explore(
            workload: "segmented download", samples: Self.samples, seed: 18
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
