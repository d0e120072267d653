/// What ``CrashStateExplorer/explore(workload:samples:seed:check:)`` found: how many crash states
/// it checked and the invariants they broke.
package struct CrashExplorationReport: Sendable, CustomStringConvertible {
    /// One crash state that broke an invariant.
    package struct Violation: Sendable, CustomStringConvertible {
        /// How many trace operations had returned.
        package let crashPoint: Int
        /// The last operations before the crash point.
        package let tracePrefix: [String]
        /// What the state dropped of them.
        package let dropped: [String]
        /// The broken invariants, as the checker reported them.
        package let messages: [String]

        /// The violation with its trace prefix, one item a line.
        package var description: String {
            (["crash after operation \(crashPoint): " + messages.joined(separator: "; "), "  trace prefix:"]
                + tracePrefix.map { "    " + $0 } + ["  dropped:"] + dropped.prefix(12).map { "    " + $0 })
                .joined(separator: "\n")
        }
    }

    /// The workload's name.
    package let workload: String
    /// The number of operations in the trace.
    package let traceLength: Int
    /// Distinct crash states checked.
    package var statesExplored = 0
    /// Whether every state of the model was checked (else a seeded sample).
    package var exhaustive = false
    /// The sampling seed.
    package let seed: UInt64
    /// The states that broke an invariant (the first few are kept in ``violations``).
    package var violationCount = 0
    /// The first violations found.
    package var violations: [Violation] = []

    /// One line for the test log: states explored and violations found.
    package var description: String {
        "crash-state exploration [\(workload)]: \(statesExplored) states explored "
            + "(\(exhaustive ? "exhaustive" : "seeded sample, seed \(seed)"), trace of \(traceLength) operations), "
            + "\(violationCount) violations"
    }
}
