import Foundation
import ResilienceTesting
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 15, part 2: cancelling a URLSession transfer at any moment around its completion must
/// never trap. FoundationNetworking's `URLSessionTask.cancel()` racing the task's completion
/// raises `TaskRegistry.swift:118: Fatal error: Trying to access a behaviour for a task that in
/// not in the registry` (SIGILL), which no caller can catch, so the cancels run in
/// `CancelRaceChild`, a process of its own, and this test reports how it ended, with its stderr
/// (the fatal error line) on a trap.
///
/// `CANCEL_RACE_CANCELS` sets the number of cancels (default 2,000, about 10–15 s here; the
/// issue's target is measured with ≥ 5,000), `CANCEL_RACE_SEED` the seed (default 15) and
/// `CANCEL_RACE_LANES` how many run at once (default 8: more lanes, more traps).
@Suite("URLSession cancel racing completion does not trap", .timeLimit(.minutes(10)))
struct URLSessionCancelRaceTests {
    static let environment = ProcessInfo.processInfo.environment
    /// Under ThreadSanitizer (its child is instrumented too, 10× slower) 300 by default: that pass
    /// looks for data races in our code, the plain pass for the trap.
    static let cancels = environment["CANCEL_RACE_CANCELS"].flatMap(Int.init)
        ?? (Sanitizers.isThreadSanitizerActive ? 300 : 2_000)
    static let seed = environment["CANCEL_RACE_SEED"].flatMap(UInt64.init) ?? 15
    static let lanes = environment["CANCEL_RACE_LANES"].flatMap(Int.init) ?? 8

    @Test func thousandsOfCancelsAroundCompletionEndCleanly() async throws {
        let stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("cancelrace-\(UUID().uuidString).stderr")
        defer { try? FileManager.default.removeItem(at: stderrFile) }
        let clock = ContinuousClock()
        let start = clock.now
        let child = try ChildProcess(executable: ChildProcess.siblingExecutable(named: "CancelRaceChild"),
                                     arguments: ["run", "\(Self.cancels)", "\(Self.seed)", "\(Self.lanes)"],
                                     standardError: stderrFile)
        // Generous: a hang here is a different defect, but it must not stall the suite either.
        let outcome = await child.exitStatus(timeLimit: .seconds(60) + .milliseconds(50) * Self.cancels)
        let elapsed = clock.now - start
        let output = child.lines.joined(separator: "\n")
        let stderr = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
        print("CancelRaceChild run \(Self.cancels) \(Self.seed) \(Self.lanes): \(outcome) after \(elapsed); output:\n\(output)\nstderr:\n\(stderr)")
        switch outcome {
        case .ended(.exited(0)):
            let counts = child.lines.last { $0.hasPrefix("counts ") } ?? ""
            #expect(counts.contains("issued=\(Self.cancels) "), "\(counts)")
        case .ended(.signaled(let signal)):
            Issue.record("""
                the child was killed by signal \(signal)\(signal == SIGILL ? " (SIGILL: FoundationNetworking's trap)" : "") \
                after \(elapsed), \(child.lines.count) lines of output; its stderr:
                \(stderr)
                its output:
                \(output)
                """)
        case .ended(.exited(let code)):
            Issue.record("the child exited \(code) after \(elapsed); stderr:\n\(stderr)\noutput:\n\(output)")
        case .killedAtTimeLimit(let stacks):
            Issue.record("the child hung (killed at the time limit after \(elapsed)); output:\n\(output)\nstderr:\n\(stderr)\nthread stacks:\n\(stacks)")
        }
    }
}
