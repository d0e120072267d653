#if os(Linux) || os(macOS)
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ChildProcess {
    /// How a child ended under ``exitStatus(timeLimit:)``.
    public enum TimeLimitedExit: Sendable, Hashable {
        /// It ended by itself within the limit.
        case ended(ExitStatus)
        /// It was still running at the limit: its thread stacks were taken
        /// (``threadStacks()``), then it was killed with `SIGKILL`.
        case killedAtTimeLimit(threadStacks: String)
    }

    /// Waits for the child to end, at most `timeLimit` (on `ContinuousClock`). A child still
    /// running then is a hang: its thread stacks are taken with gdb and it is `SIGKILL`ed, so a
    /// test reports the hang with stacks instead of stalling the suite.
    ///
    /// ```swift
    /// switch await child.exitStatus(timeLimit: .seconds(60)) {
    /// case .ended(let status): #expect(status == .exited(0))
    /// case .killedAtTimeLimit(let stacks): Issue.record("hung; thread stacks:\n\(stacks)")
    /// }
    /// ```
    public func exitStatus(timeLimit: Duration) async -> TimeLimitedExit {
        await withTaskGroup(of: ExitStatus?.self) { group in
            group.addTask { await self.exitStatus }
            group.addTask {
                // The limit itself, not a guess at when something is ready.
                try? await Task.sleep(for: timeLimit)
                return nil
            }
            var outcome: TimeLimitedExit?
            while let next = await group.next() {
                if let status = next {
                    group.cancelAll()  // ends the limit's sleep at once
                    return outcome ?? .ended(status)
                }
                // The limit passed. A child that ended at this very moment is not a hang.
                if let status = endedStatus {
                    group.cancelAll()
                    return .ended(status)
                }
                outcome = .killedAtTimeLimit(threadStacks: threadStacks())
                kill(SIGKILL)
            }
            return outcome ?? .killedAtTimeLimit(threadStacks: "")
        }
    }
}
#endif
