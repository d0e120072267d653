import Foundation
@testable import Downloads
import JobStores
@testable import ResilienceRetry
import ResilienceTesting
import Testing

/// `DownloadQueue`'s persisted retry schedule is `retry`'s: the same function, the same jitter
/// draws, the same limits — for many seeds and every jitter, including a job whose own
/// `maxAttempts` differs from the policy's.
@Suite("One retry schedule")
struct NextAttemptDecisionTests {
    static let jitters: [Backoff.Jitter] = [.none, .full, .equal, .decorrelated]

    /// The delays and final stop `retry`'s loop takes (no sleeping: elapsed grows by each delay).
    static func inMemory(_ policy: RetryPolicy, maxAttempts: Int, seed: UInt64) -> [RetryEvent.Action] {
        var generator = SeededRandomNumberGenerator(seed: seed)
        var actions: [RetryEvent.Action] = []
        var elapsed = Duration.zero, previous: Duration?
        for attempt in 1... {
            let action = nextAction(policy, decision: .retry, failedAttempt: attempt, maxAttempts: maxAttempts,
                                    elapsed: elapsed, previousDelay: previous, generator: &generator)
            actions.append(action)
            guard case .retry(let delay, _) = action else { return actions }
            elapsed += delay
            previous = delay
        }
        return actions
    }

    /// The queue's way: a job whose attempts, age and stored previous delay advance one claim
    /// at a time, as the store would hold them.
    static func persisted(_ policy: RetryPolicy, maxAttempts: Int, seed: UInt64) -> [NextAttemptDecision] {
        var generator = SeededRandomNumberGenerator(seed: seed)
        let created = Date(timeIntervalSince1970: 1_900_000_000)
        var job = DownloadJob(url: URL(string: "http://example.invalid/f")!, destination: "/tmp/f", maxAttempts: maxAttempts)
        job.createdAt = created
        var now = created
        var decisions: [NextAttemptDecision] = []
        while true {
            job.attempts += 1
            let decision = NextAttemptDecision.decide(for: URLError(.networkConnectionLost), job: job, policy: policy,
                                                      now: now, using: &generator)
            decisions.append(decision)
            guard case .retry(let delay) = decision else { return decisions }
            job.metadata[NextAttemptDecision.previousDelayKey] = NextAttemptDecision.metadataValue(for: delay)
            now = now.addingTimeInterval(delay.seconds)
        }
    }

    @Test(arguments: jitters)
    func persistedAndInMemorySchedulesAgreeOverManySeeds(jitter: Backoff.Jitter) throws {
        for seed in UInt64(0)..<300 {
            var random = SeededRandomNumberGenerator(seed: seed &* 7919)
            let policyAttempts = Int.random(in: 1...8, using: &random)
            let jobAttempts = Int.random(in: 1...8, using: &random)   // the job's own limit wins
            let base = Duration.milliseconds(Int.random(in: 1...2000, using: &random))
            let policy = try RetryPolicy(
                maxAttempts: policyAttempts,
                backoff: .exponential(base: base, cap: .seconds(60), jitter: jitter),
                maxElapsed: Bool.random(using: &random) ? .seconds(Int.random(in: 1...120, using: &random)) : nil)
            let memory = Self.inMemory(policy, maxAttempts: jobAttempts, seed: seed)
            let queue = Self.persisted(policy, maxAttempts: jobAttempts, seed: seed)
            let expected: [NextAttemptDecision] = memory.map {
                switch $0 {
                case .retry(let delay, _): .retry(after: delay)
                case .stop(.notRetryable): .giveUp(isRetryable: false)
                case .stop: .giveUp(isRetryable: true)
                }
            }
            #expect(queue == expected, "seed \(seed), \(jitter): \(queue) vs \(expected)")
            if queue != expected { return }
            // The job's own limit, not the policy's, bounds the attempts.
            #expect(queue.count <= jobAttempts)
        }
    }
}
