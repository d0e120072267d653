import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// On a terminal, `resilient-download` redraws one line per file (percent, smoothed rate, ETA,
/// retry countdown) and a total line. The binary runs under `script`, which gives it a
/// pseudo-terminal as stdout and stderr.
@Suite("resilient-download on a terminal", .timeLimit(.minutes(2)))
struct ResilientDownloadTerminalTests {
    static let script = "/usr/bin/script"

    /// Runs the CLI on a pseudo-terminal; everything it drew, with the redraws' carriage returns
    /// turned into line breaks.
    static func runOnATerminal(_ arguments: [String]) async throws -> (screen: String, status: ChildProcess.ExitStatus) {
        let command = ([ResilientDownloadKillTests.executable.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let child = try ChildProcess(executable: URL(fileURLWithPath: script), arguments: ["-qec", command, "/dev/null"])
        var lines: [String] = []
        while let line = await child.nextLine() { lines.append(line) }
        return (lines.joined(separator: "\n").replacingOccurrences(of: "\r", with: "\n"), await child.exitStatus)
    }

    @Test func liveLinesShowPercentRateETAAndATotal() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.script) else {
            print("skipped: \(Self.script) (util-linux) is not installed, so no pseudo-terminal")
            return
        }
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let slow = seededBytes(1_500_000, seed: 21), quick = seededBytes(50_000, seed: 22)
        server.serve(slow, at: "/slow.bin")
        server.serve(quick, at: "/quick.bin")
        // About 1.5 s at 1 MB/s: long enough for the rate and ETA to be measured and redrawn.
        server.enqueueFaults([.trickle(bytesPerSecond: 1_000_000)], for: "/slow.bin")
        let run = try await Self.runOnATerminal(["-d", dir.url.path, server.url(for: "/slow.bin").absoluteString,
                                                 server.url(for: "/quick.bin").absoluteString])
        #expect(run.status == .exited(0), "\(run.screen)")
        #expect(contents(of: dir.file("slow.bin")) == Data(slow) && contents(of: dir.file("quick.bin")) == Data(quick))
        let drawn = run.screen.split(separator: "\n").map(String.init)
        // Redrawn in place: erase-line sequences, not a log of plain lines.
        #expect(run.screen.contains("\u{1B}[2K"))
        #expect(!drawn.contains { $0.hasPrefix("slow.bin: ") && $0.hasSuffix(" bytes") }, "plain lines on a terminal")
        // A line of the slow file mid-way: a percent, a measured rate and a finite ETA.
        let midway = drawn.filter { $0.contains("slow.bin") && $0.contains("MB/s") || $0.contains("slow.bin") && $0.contains("kB/s") }
        #expect(midway.contains { $0.range(of: #"\d+%"#, options: .regularExpression) != nil
                && $0.range(of: #"ETA \d+:\d\d"#, options: .regularExpression) != nil }, "\(drawn.suffix(20))")
        // The total line, and its last state.
        #expect(drawn.contains { $0.contains("total  2/2 done") && $0.contains("100%") }, "\(drawn.suffix(20))")
        #expect(drawn.contains { $0.hasPrefix("files 2/2 complete") })
    }
}
