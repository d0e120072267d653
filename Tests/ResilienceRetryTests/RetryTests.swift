import ResilienceSupport
import Foundation
import ResilienceTesting
import ResilienceRetry
import Synchronization
import Testing

/// An error that remembers which attempt threw it.
struct AttemptError: Error, Equatable, RetryClassifiable {
    let attempt: Int
    var transient = true
    var retryDecision: RetryDecision { transient ? .retry : .stop }
}

/// Collects events and operation calls from a retry loop running in another task.
final class Log: Sendable {
    private let state = LockedValue<(events: [RetryEvent], calls: [Int])>(([], []))
    var events: [RetryEvent] { state.withLock { $0.events } }
    var calls: [Int] { state.withLock { $0.calls } }
    var actions: [RetryEvent.Action] { events.map(\.action) }
    func record(_ event: RetryEvent) { state.withLock { $0.events.append(event) } }
    func call(_ attempt: Int) { state.withLock { $0.calls.append(attempt) } }
}

private func policy(
    attempts: Int = 5, backoff: Backoff = .exponential(jitter: .none), maxElapsed: Duration? = nil,
    maxRetryAfter: Duration = .seconds(300), budget: RetryBudget? = nil
) throws -> RetryPolicy {
    try RetryPolicy(maxAttempts: attempts, backoff: backoff, maxElapsed: maxElapsed,
                    maxRetryAfter: maxRetryAfter, budget: budget)
}

@Suite("retry")
struct RetryLoopTests {
    @Test func successFirstTimeMakesOneCallAndNoEvent() async throws {
        let clock = ManualClock()
        let log = Log()
        let value = try await retry(.default, clock: clock, onEvent: log.record) { attempt in
            log.call(attempt.number)
            #expect(attempt.isFirst && attempt.previousError == nil)
            return 42
        }
        #expect(value == 42 && log.calls == [1] && log.events.isEmpty && clock.now.offset == .zero)
    }

    @Test func retriesWithExactBackoffUntilSuccess() async throws {
        let clock = ManualClock()
        let log = Log()
        let p = try policy()
        let value = try await clock.run {
            try await retry(p, clock: clock, onEvent: log.record) { attempt in
                log.call(attempt.number)
                if attempt.number > 1 { #expect((attempt.previousError as? AttemptError)?.attempt == attempt.number - 1) }
                #expect(attempt.elapsed == clock.now.offset)
                if attempt.number < 4 { throw AttemptError(attempt: attempt.number) }
                return "done"
            }
        }
        #expect(value == "done")
        #expect(log.calls == [1, 2, 3, 4])
        #expect(log.actions == [.retry(after: .seconds(1), source: .backoff),
                                .retry(after: .seconds(2), source: .backoff),
                                .retry(after: .seconds(4), source: .backoff)])
        #expect(log.events.map(\.elapsed) == [.zero, .seconds(1), .seconds(3)])
        #expect(clock.now.offset == .seconds(7))
    }

    @Test func exhaustionRethrowsTheLastErrorUnchanged() async throws {
        let clock = ManualClock()
        let log = Log()
        let p = try policy(attempts: 3)
        await #expect(throws: AttemptError(attempt: 3)) {
            try await clock.run {
                try await retry(p, clock: clock, onEvent: log.record) { attempt -> Int in
                    log.call(attempt.number)
                    throw AttemptError(attempt: attempt.number)
                }
            }
        }
        #expect(log.calls == [1, 2, 3])
        #expect(log.actions.last == .stop(.attemptsExhausted))
        #expect(clock.now.offset == .seconds(3))
    }

    @Test func permanentErrorStopsAtOnce() async throws {
        let log = Log()
        await #expect(throws: AttemptError(attempt: 1, transient: false)) {
            try await retry(.default, clock: ManualClock(), onEvent: log.record) { attempt -> Int in
                log.call(attempt.number)
                throw AttemptError(attempt: attempt.number, transient: false)
            }
        }
        #expect(log.calls == [1])
        #expect(log.actions == [.stop(.notRetryable)])
        #expect(log.events.first?.decision == .stop)
    }

    @Test func cancellationErrorFromOperationIsNotRetried() async throws {
        let log = Log()
        await #expect(throws: CancellationError.self) {
            try await retry(.default, clock: ManualClock(), onEvent: log.record) { attempt -> Int in
                log.call(attempt.number)
                throw CancellationError()
            }
        }
        #expect(log.calls == [1])
    }

    @Test func retryAfterOverridesBackoffAndIsCapped() async throws {
        let clock = ManualClock()
        let log = Log()
        let p = try policy(attempts: 4, maxRetryAfter: .seconds(60))
        let retryAfters = ["30", "3600", "Tue, 14 Nov 2023 22:15:31 GMT"]
        _ = try await clock.run {
            try await retry(p, clock: clock, now: { clock.date }, onEvent: log.record) { attempt in
                guard attempt.number < 4 else { return 0 }
                throw HTTPStatusError(status: 429, headers: ["Retry-After": retryAfters[attempt.number - 1]])
            }
        }
        // 30 s as asked; 3600 s cut to the 60 s cap; the HTTP-date is read against the clock's
        // wall time (22:13:20 + 90 s = 22:14:50, so 41 s remain).
        #expect(log.actions == [.retry(after: .seconds(30), source: .retryAfter),
                                .retry(after: .seconds(60), source: .retryAfter),
                                .retry(after: .seconds(41), source: .retryAfter)])
    }

    @Test func zeroRetryAfterCapIgnoresTheServer() async throws {
        let clock = ManualClock()
        let log = Log()
        let p = try policy(attempts: 2, maxRetryAfter: .zero)
        _ = try await clock.run {
            try await retry(p, clock: clock, onEvent: log.record) { attempt in
                guard attempt.number == 2 else { throw HTTPStatusError(status: 503, headers: ["Retry-After": "500"]) }
                return 1
            }
        }
        #expect(log.actions == [.retry(after: .seconds(1), source: .backoff)])
    }

    @Test func maxElapsedStopsBeforeSleepingPastIt() async throws {
        let clock = ManualClock()
        let log = Log()
        let p = try policy(attempts: 100, backoff: .exponential(base: .seconds(10), jitter: .none), maxElapsed: .seconds(25))
        await #expect(throws: AttemptError(attempt: 2)) {
            try await clock.run {
                try await retry(p, clock: clock, onEvent: log.record) { attempt -> Int in
                    throw AttemptError(attempt: attempt.number)
                }
            }
        }
        // Attempt 1 at 0 s, sleep 10 s, attempt 2 at 10 s; the next sleep (20 s) would end at 30 s.
        #expect(log.actions == [.retry(after: .seconds(10), source: .backoff), .stop(.elapsedBudgetExceeded)])
        #expect(clock.now.offset == .seconds(10))
    }

    @Test func emptyBudgetStopsRetriesAndSuccessRefills() async throws {
        let clock = ManualClock()
        let budget = RetryBudget(capacity: 10, retryCost: 5, successRefill: 5)
        let p = try policy(attempts: 10, budget: budget)
        let log = Log()
        await #expect(throws: AttemptError(attempt: 3)) {
            try await clock.run {
                try await retry(p, clock: clock, onEvent: log.record) { attempt -> Int in
                    throw AttemptError(attempt: attempt.number)
                }
            }
        }
        #expect(log.actions.last == .stop(.retryBudgetExhausted))
        #expect(budget.availableTokens == 0)
        _ = try await retry(p, clock: clock) { _ in 1 }
        #expect(budget.availableTokens == 5)
    }

    @Test func cancellationDuringBackoffThrowsAtOnce() async throws {
        let clock = ManualClock()
        let log = Log()
        let p = try policy(backoff: .constant(.seconds(3600)))
        let task = Task {
            try await retry(p, clock: clock) { attempt -> Int in
                log.call(attempt.number)
                throw AttemptError(attempt: attempt.number)
            }
        }
        await clock.sleepers(atLeast: 1)
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(log.calls == [1])
        #expect(clock.now.offset == .zero)
        #expect(clock.sleeperCount == 0)
    }

    @Test func hoursOfBackoffFinishInstantly() async throws {
        let clock = ManualClock()
        let p = try policy(attempts: 200, backoff: .exponential(base: .seconds(1), cap: .seconds(3600), jitter: .full))
        await #expect(throws: AttemptError.self) {
            try await clock.run {
                try await retry(p, clock: clock, random: SeededRandomNumberGenerator(seed: 5)) { attempt -> Int in
                    throw AttemptError(attempt: attempt.number)
                }
            }
        }
        // More than a simulated day, with no real waiting (the suite's run time shows it; speed
        // is measured in Benchmarks, never asserted here).
        #expect(clock.now.offset > .seconds(3600 * 24))
    }

    @Test func schedulesNeverExceedMaxElapsedOrCapForManySeeds() async throws {
        var seeds = SeededRandomNumberGenerator(seed: 11)
        for _ in 0..<100 {
            let seed = seeds.next()
            var g = SeededRandomNumberGenerator(seed: seed)
            let cap = Duration.seconds(Int64(1 + g.next() % 120))
            let jitter = [Backoff.Jitter.none, .full, .equal, .decorrelated][Int(g.next() % 4)]
            let maxElapsed = Duration.seconds(Int64(g.next() % 600))
            let p = try RetryPolicy(maxAttempts: 1 + Int(g.next() % 40),
                                    backoff: .exponential(base: .milliseconds(200), cap: cap, jitter: jitter),
                                    maxElapsed: maxElapsed)
            let clock = ManualClock()
            let log = Log()
            _ = try? await clock.run {
                try await retry(p, clock: clock, random: SeededRandomNumberGenerator(seed: seed),
                                onEvent: log.record) { attempt -> Int in
                    throw AttemptError(attempt: attempt.number)
                }
            }
            #expect(clock.now.offset <= maxElapsed, "seed \(seed)")
            for case let .retry(delay, _) in log.actions {
                #expect(delay >= .zero && delay <= cap, "seed \(seed)")
            }
            if case .stop = log.actions.last {} else { Issue.record("seed \(seed): the loop did not end with a stop") }
        }
    }

    @Test func worksFromAnActorWithNonSendableState() async throws {
        actor Downloader {
            var attempts: [Int] = []  // actor state mutated by a non-Sendable closure
            func fetch(clock: ManualClock) async throws -> Int {
                try await retry(try RetryPolicy(backoff: .constant(.zero)), clock: clock) { attempt in
                    attempts.append(attempt.number)
                    if attempt.number < 3 { throw AttemptError(attempt: attempt.number) }
                    return attempts.count
                }
            }
        }
        #expect(try await Downloader().fetch(clock: ManualClock()) == 3)
    }
}
