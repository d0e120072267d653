import Foundation
import RangeResume
import ResilienceSupport

/// The contract every ``RangeResume/HTTPTransport`` must keep, as a reusable check list driven
/// against ``FaultyHTTPServer`` on loopback.
///
/// Run it from your own tests against your own engine, declaring what it can do:
/// ```swift
/// @Test(arguments: TransportConformance.checks)
/// func conforms(_ check: TransportConformance.Check) async throws {
///     let outcome = try await check.run(MyEngine(), capabilities: .init(followsRedirects: true, supportsTLS: true))
///     if case .skipped(let reason) = outcome { print("\(check): skipped: \(reason)") }
/// }
/// ```
/// or all at once with ``run(_:capabilities:seed:)``. A failed check throws
/// ``ConformanceFailure`` naming the check and what the engine did. Each check gets its own
/// server; random choices come from a ``SeededRandomNumberGenerator`` seeded with `seed`; no
/// check waits on a delay, but each has a time limit (``timeLimit``), so a hang fails instead of
/// hanging the test run. This file does not import `Testing`, so it can ship in a library.
///
/// The checks (``checks``): `fullBody`, `rangeAndIfRange`, `unsatisfiableRange`, `truncation`,
/// `stall`, `cancelAtRandomMoments`, `memoryBoundUnderSlowConsumer`, `redirects`, `tls`.
public enum TransportConformance {
    /// What an engine declares it can do; the checks hold it to exactly that.
    public struct Capabilities: Sendable, Hashable {
        /// The engine follows redirects (then it must refuse `https` → `http` and drop
        /// credentials across origins); otherwise a 3xx with `Location` must end the stream with
        /// `RangeResumeError.redirectNotFollowed(to:)`, never deliver the redirect as the answer.
        public var followsRedirects: Bool
        /// The engine speaks `https`; otherwise an `https` URL must fail with
        /// `RangeResumeError.invalidArgument` before anything is sent.
        public var supportsTLS: Bool
        /// An `https` URL that the engine trusts and that redirects to plain `http`, for the
        /// `https` → `http` refusal (only a TLS engine that follows redirects needs it; the check
        /// is skipped, saying why, without it).
        public var insecureRedirectFixture: URL?

        /// Declares an engine's capabilities.
        public init(followsRedirects: Bool, supportsTLS: Bool, insecureRedirectFixture: URL? = nil) {
            self.followsRedirects = followsRedirects
            self.supportsTLS = supportsTLS
            self.insecureRedirectFixture = insecureRedirectFixture
        }
    }

    /// How a check ended, when it did not throw.
    public enum Outcome: Sendable, Hashable {
        /// Every expectation held.
        case passed
        /// The check could not run here; the reason says what it needs.
        case skipped(reason: String)
    }

    /// How long one check may take before it counts as a hang: 60 s, or 180 s under
    /// ThreadSanitizer, which runs everything several times slower (on a loaded 2-core machine
    /// a sanitized run's cancellation checks took longer than 60 s without hanging).
    public static let timeLimit: Duration = Sanitizers.isThreadSanitizerActive ? .seconds(180) : .seconds(60)

    /// One named conformance check.
    public struct Check: Sendable, CustomStringConvertible {
        /// A short name, e.g. `"truncation"`.
        public let name: String
        let body: @Sendable (Context) async throws -> Outcome

        /// Runs the check against `transport`, holding it to `capabilities`.
        /// - Throws: ``ConformanceFailure`` when the engine misbehaves (or hangs past
        ///   ``TransportConformance/timeLimit``); `FaultyHTTPServerError` when no server can start.
        public func run(_ transport: any HTTPTransport, capabilities: Capabilities, seed: UInt64 = 15) async throws -> Outcome {
            let context = Context(transport: transport, capabilities: capabilities, check: name, seed: seed)
            do {
                return try await withTimeLimit(context) { try await body(context) }
            } catch let failure as ConformanceFailure {
                throw failure
            } catch let failure as FaultyHTTPServerError {
                throw failure
            } catch {
                throw context.failure("unexpected error: \(error)")
            }
        }

        /// The check's name.
        public var description: String { name }
    }

    /// Runs every check in ``checks``; stops at the first failure.
    /// - Returns: the checks that were skipped, with why.
    @discardableResult
    public static func run(_ transport: any HTTPTransport, capabilities: Capabilities,
                           seed: UInt64 = 15) async throws -> [String: String] {
        var skipped: [String: String] = [:]
        for check in checks {
            if case .skipped(let reason) = try await check.run(transport, capabilities: capabilities, seed: seed) {
                skipped[check.name] = reason
            }
        }
        return skipped
    }

    /// Every check, in a stable order.
    public static let checks: [Check] = {
        let bodies: KeyValuePairs<String, @Sendable (Context) async throws -> Outcome> = [
            "fullBody": fullBody, "rangeAndIfRange": rangeAndIfRange, "unsatisfiableRange": unsatisfiableRange,
            "truncation": truncation, "stall": stall, "cancelAtRandomMoments": cancelAtRandomMoments,
            "memoryBoundUnderSlowConsumer": memoryBoundUnderSlowConsumer, "redirects": redirects, "tls": tls,
        ]
        return bodies.map { Check(name: $0.key, body: $0.value) }
    }()

    /// What a check works with.
    struct Context: Sendable {
        let transport: any HTTPTransport
        let capabilities: Capabilities
        let check: String
        let seed: UInt64
        /// What the check is doing now, for the message when it hangs.
        let step = LockedValue("starting")

        func failure(_ message: String) -> ConformanceFailure {
            ConformanceFailure(check: check, message: message, suite: "Transport")
        }

        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw failure(message()) }
        }

        /// Notes what the check does next.
        func note(_ what: String) {
            step.withLock { $0 = what }
        }
    }

    /// `count` seeded random bytes.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededRandomNumberGenerator(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        for index in stride(from: 0, to: count, by: 8) {
            let word = generator.next()
            for offset in 0..<min(8, count - index) { bytes[index + offset] = UInt8(truncatingIfNeeded: word >> (offset * 8)) }
        }
        return bytes
    }

    /// Runs `body`, or fails with what the check was doing once ``timeLimit`` has passed (the
    /// body is then cancelled and left behind: the engine hung).
    static func withTimeLimit<T: Sendable>(_ context: Context, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let work = LockedValue<Task<Void, Never>?>(nil)
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = LockedValue<CheckedContinuation<T, any Error>?>(continuation)
            let timer = Task {
                guard (try? await Task.sleep(for: timeLimit)) != nil else { return }
                let hung = pending.withLock { slot in defer { slot = nil }; return slot }
                hung?.resume(throwing: context.failure("no end after \(timeLimit) (a hang) while: \(context.step.withLock { $0 })"))
                work.withLock { $0 }?.cancel()
            }
            work.withLock { $0 = Task {
                let result: Result<T, any Error>
                do { result = .success(try await body()) } catch { result = .failure(error) }
                timer.cancel()
                pending.withLock { slot in defer { slot = nil }; return slot }?.resume(with: result)
            } }
        }
    }
}
