import Foundation
import ResilienceSupport

/// A `Clock` whose time moves only when a test says so.
///
/// Code under test takes `some Clock<Duration>`; a test passes a `ManualClock` and drives it:
///
/// ```swift
/// let clock = ManualClock()
/// let task = Task { try await retry(policy, clock: clock, now: { clock.date }) { _ in try await op() } }
/// await clock.sleepers(atLeast: 1)   // the retry loop is now suspended in its backoff sleep
/// clock.advance(by: .seconds(1))     // wakes it, at once, without any real delay
/// ```
///
/// ### Why tests on this clock do not flake
/// Clocks that wake sleepers and then `Task.yield()` many times ("mega-yield") hope that the woken
/// task reaches its next `sleep` before the test moves on; on a loaded machine it sometimes does
/// not, and the test flakes. `ManualClock` never guesses: ``sleepers(atLeast:)`` suspends the test
/// until the code under test is *provably* registered in `sleep` (the registration and the
/// hand-shake happen under one lock), and ``advance(by:)`` resumes exactly the sleepers that are
/// due, in deadline order, before it returns. There is no yielding loop anywhere, so the outcome
/// does not depend on scheduling. ``run(_:)`` automates the hand-shake for code whose only
/// waiting is on this clock.
///
/// ### Guarantees
/// - `sleep(until:)` with a deadline at or before ``now`` returns at once.
/// - Cancelling a sleeping task throws `CancellationError` from its `sleep` immediately (no
///   advance needed) and removes it from the sleepers.
/// - Sleepers due at the same instant are woken in the order they went to sleep.
/// - ``date`` is a wall-clock view that moves with the clock, for code that reads wall time
///   (HTTP-date parsing, persisted schedules): pass `now: { clock.date }` to such APIs.
///
/// `ManualClock` is a `final class` (all copies share one timeline) and is `Sendable`: its state
/// lives behind a lock (`LockedValue`), and continuations are always resumed outside it.
public final class ManualClock: Clock, Sendable {
    /// A point on a ``ManualClock``'s timeline: the time elapsed since the clock was created.
    public struct Instant: InstantProtocol, Hashable, Sendable, CustomStringConvertible {
        /// Time since the clock's origin.
        public var offset: Duration

        /// Creates an instant `offset` after the clock's origin.
        public init(offset: Duration) { self.offset = offset }

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
        public var description: String { "ManualClock.Instant(\(offset))" }
    }

    private struct Sleeper {
        let deadline: Instant
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State: CountWatched {
        var now: Instant
        var nextID: UInt64 = 0
        /// Keyed by a monotonically increasing id, which also orders sleepers that share a deadline.
        var sleepers: [UInt64: Sleeper] = [:]
        /// The tasks in ``ManualClock/sleepers(atLeast:)``, waiting for the sleeper count.
        var countWatchers = CountWatchers()
        var watchedCount: Int { sleepers.count }
        var releasesWatchers: Bool { false }

        mutating func makeID() -> UInt64 {
            defer { nextID += 1 }
            return nextID
        }

        /// Removes and returns the sleepers whose deadline is at or before `instant`, in wake order.
        mutating func dueSleepers(at instant: Instant) -> [CheckedContinuation<Void, any Error>] {
            let due = sleepers.filter { $0.value.deadline <= instant }
                .sorted { ($0.value.deadline, $0.key) < ($1.value.deadline, $1.key) }
            for (id, _) in due { sleepers[id] = nil }
            return due.map(\.value.continuation)
        }
    }

    /// The clock's state, behind the package's ThreadSanitizer-visible lock.
    private let state: LockedValue<State>
    private let origin: Date

    /// Creates a clock at instant zero whose wall-clock view starts at `date`.
    ///
    /// - Parameter date: the wall time at instant zero. Default: 2023-11-14 22:13:20 UTC
    ///   (Unix time 1,700,000,000), a fixed value so that tests are reproducible.
    public init(date: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        self.origin = date
        self.state = LockedValue(State(now: Instant(offset: .zero)))
    }

    /// The current instant. Moves only through ``advance(by:)``, ``advance(to:)`` and ``run()``.
    public var now: Instant { state.withLock { $0.now } }

    /// The wall time matching ``now``: the `date` given at creation plus the time advanced since.
    public var date: Date {
        let offset = now.offset
        let seconds = Double(offset.components.seconds) + Double(offset.components.attoseconds) * 1e-18
        return origin.addingTimeInterval(seconds)
    }

    /// A `@Sendable` wall-time source that reads ``date``; pass it to APIs that take `now:`.
    public var dateSource: @Sendable () -> Date { { [self] in self.date } }

    /// Always zero: a manual clock has no granularity of its own.
    public var minimumResolution: Duration { .zero }

    /// The number of tasks suspended in ``sleep(until:tolerance:)`` right now.
    ///
    /// Instantly stale when code under test runs concurrently; to wait for a count, use
    /// ``sleepers(atLeast:)``.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline among the current sleepers, or `nil` when nobody sleeps.
    public var nextDeadline: Instant? {
        state.withLock { $0.sleepers.values.map(\.deadline).min() }
    }

    /// Suspends the caller until `deadline` is reached by advancing the clock.
    ///
    /// - Throws: `CancellationError` at once if the calling task is or becomes cancelled.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLock { $0.makeID() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Action { case resume, cancel, wait([CheckedContinuation<Void, Never>]) }
                let action: Action = state.withLock { state in
                    // Task cancellation is flagged before the handler runs, and both paths take
                    // this lock, so a cancellation is seen either here or by the handler.
                    if Task.isCancelled { return .cancel }
                    if deadline <= state.now { return .resume }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return .wait(state.satisfiedWatchers())
                }
                switch action {
                case .resume: continuation.resume()
                case .cancel: continuation.resume(throwing: CancellationError())
                case .wait(let watchers): for watcher in watchers { watcher.resume() }
                }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Returns once at least `count` tasks are suspended in `sleep` on this clock.
    ///
    /// This is the deterministic hand-shake between a test and the code under test: after it
    /// returns, the sleepers are registered and an ``advance(by:)`` will wake those that are due.
    /// Returns early (without the count being reached) if the waiting task is cancelled.
    public func sleepers(atLeast count: Int) async {
        await state.waitForCount(atLeast: count)
    }

    /// Moves the clock forward by `duration` and wakes every sleeper that is now due, earliest
    /// deadline first. A negative or zero duration wakes the sleepers already due and moves nothing.
    public func advance(by duration: Duration) {
        let due = state.withLock { state in
            if duration > .zero { state.now = state.now.advanced(by: duration) }
            return state.dueSleepers(at: state.now)
        }
        for continuation in due { continuation.resume() }
    }

    /// Moves the clock to `instant` (if it is later than ``now``) and wakes every sleeper now due.
    public func advance(to instant: Instant) {
        let due = state.withLock { state in
            if instant > state.now { state.now = instant }
            return state.dueSleepers(at: state.now)
        }
        for continuation in due { continuation.resume() }
    }

    /// Moves the clock to the earliest sleeper's deadline and wakes the sleepers due then.
    ///
    /// - Returns: `false` (and moves nothing) when nobody sleeps.
    @discardableResult
    public func advanceToNextDeadline() -> Bool {
        let due: [CheckedContinuation<Void, any Error>]? = state.withLock { state in
            guard let next = state.sleepers.values.map(\.deadline).min() else { return nil }
            if next > state.now { state.now = next }
            return state.dueSleepers(at: state.now)
        }
        guard let due else { return false }
        for continuation in due { continuation.resume() }
        return true
    }

    /// Advances until no sleeper is left: moves to each current sleeper's deadline in turn and
    /// wakes it. Sleeps that woken tasks start afterwards are not waited for; use
    /// ``run(_:)`` or ``sleepers(atLeast:)`` for code that sleeps again.
    public func run() {
        while advanceToNextDeadline() {}
    }

    /// Runs `operation`, and each time it is suspended in `sleep` on this clock, advances the clock
    /// to the next deadline, until `operation` returns or throws.
    ///
    /// Hours of simulated backoff finish in milliseconds of real time. Use it only for code whose
    /// every wait is on this clock: if `operation` also waits on something else (a socket, another
    /// task) while a timer of this clock is pending, the timer fires early.
    ///
    /// - Returns: what `operation` returns. - Throws: what `operation` throws.
    public func run<R: Sendable>(
        _ operation: @Sendable @escaping () async throws -> R
    ) async throws -> R {
        try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                while !Task.isCancelled {
                    await self.sleepers(atLeast: 1)
                    if Task.isCancelled { break }
                    self.advanceToNextDeadline()
                }
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let result = next { return result }
            }
            throw CancellationError()
        }
    }
}
