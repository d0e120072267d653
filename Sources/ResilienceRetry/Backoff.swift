/// How long to wait before each retry.
///
/// Exponential backoff grows the delay as `base × multiplierⁿ⁻¹` before retry *n*, capped at
/// `cap`; jitter then spreads clients apart so that they do not retry in lock-step. The jitter
/// modes follow Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog (2015),
/// with `e = min(cap, base × multiplierⁿ⁻¹)`:
///
/// | jitter | delay before retry n |
/// |---|---|
/// | ``Jitter/none`` | `e` |
/// | ``Jitter/full`` | uniform in `[0, e]` |
/// | ``Jitter/equal`` | `e/2` + uniform in `[0, e/2]` |
/// | ``Jitter/decorrelated`` | `min(cap, uniform in [base, 3 × previous delay])`, first `previous = base` |
///
/// Delays are a pure function of the retry number, the previous delay and the random generator,
/// so a seeded generator gives a reproducible schedule. Every result lies in `[0, cap]`, for any
/// retry number (retry 1,000 neither traps nor overflows), and durations are handled with
/// nanosecond precision.
public struct Backoff: Sendable, Hashable {
    /// How randomness is applied to an exponential delay.
    public enum Jitter: Sendable, Hashable {
        /// No randomness: the exact exponential delay.
        case none
        /// Uniform in `[0, e]`: the fewest collisions, AWS's recommended default.
        case full
        /// Half fixed, half random: never shorter than `e/2`.
        case equal
        /// Each delay random in `[base, 3 × previous]`, capped; ignores `multiplier`.
        case decorrelated
    }

    enum Kind: Hashable {
        case exponential(base: Duration, multiplier: Double, cap: Duration, jitter: Jitter)
        case constant(Duration)
        case custom(Custom)
    }

    /// Wraps a user closure; equal only to itself (closures cannot be compared).
    struct Custom: Hashable, Sendable {
        let id: ObjectIdentifier
        let body: @Sendable (Int) -> Duration
        private final class Token {}
        init(_ body: @escaping @Sendable (Int) -> Duration) {
            self.id = ObjectIdentifier(Token())
            self.body = body
        }
        static func == (lhs: Custom, rhs: Custom) -> Bool { lhs.id == rhs.id }
        func hash(into hasher: inout Hasher) { hasher.combine(id) }
    }

    let kind: Kind

    /// Exponential backoff: `base × multiplierⁿ⁻¹` before retry n, at most `cap`, then `jitter`.
    ///
    /// - Parameters:
    ///   - base: the delay before the first retry (before jitter). Default 1 s.
    ///   - multiplier: growth per retry, ≥ 1. Default 2.
    ///   - cap: the largest delay ever returned. Default 60 s.
    ///   - jitter: default ``Jitter/full``.
    ///
    /// Out-of-range values are rejected by ``RetryPolicy/init(maxAttempts:backoff:maxElapsed:maxRetryAfter:classifier:budget:)``.
    public static func exponential(
        base: Duration = .seconds(1), multiplier: Double = 2, cap: Duration = .seconds(60),
        jitter: Jitter = .full
    ) -> Backoff {
        Backoff(kind: .exponential(base: base, multiplier: multiplier, cap: cap, jitter: jitter))
    }

    /// The same delay before every retry.
    public static func constant(_ delay: Duration) -> Backoff {
        Backoff(kind: .constant(delay))
    }

    /// Your own schedule: `delay(n)` is the delay before retry `n` (1-based). Negative results
    /// are treated as zero.
    public static func custom(_ delay: @escaping @Sendable (_ retry: Int) -> Duration) -> Backoff {
        Backoff(kind: .custom(Custom(delay)))
    }

    /// The delay before retry number `retry` (1 = the first retry, after the first failure).
    ///
    /// - Parameters:
    ///   - retry: the retry number, ≥ 1 (smaller values are treated as 1).
    ///   - previous: the delay chosen before the previous retry (used by decorrelated jitter;
    ///     `nil` for the first retry).
    ///   - generator: the source of randomness; pass a seeded one for a reproducible schedule.
    /// - Returns: a delay in `[0, cap]` (for exponential backoff), never negative.
    public func delay(
        forRetry retry: Int, previous: Duration? = nil, using generator: inout some RandomNumberGenerator
    ) -> Duration {
        let n = max(retry, 1)
        switch kind {
        case .constant(let delay):
            return max(delay, .zero)
        case .custom(let custom):
            return max(custom.body(n), .zero)
        case let .exponential(base, multiplier, cap, jitter):
            let capNanos = Nanoseconds(cap)
            let baseNanos = min(Nanoseconds(base), capNanos)
            switch jitter {
            case .none:
                return exponentialNanos(base: baseNanos, multiplier: multiplier, cap: capNanos, retry: n).duration
            case .full:
                let e = exponentialNanos(base: baseNanos, multiplier: multiplier, cap: capNanos, retry: n)
                return uniform(in: 0...e.value, using: &generator).duration
            case .equal:
                let e = exponentialNanos(base: baseNanos, multiplier: multiplier, cap: capNanos, retry: n)
                let half = e.value / 2
                return Nanoseconds(raw: half + uniform(in: 0...(e.value - half), using: &generator).value).duration
            case .decorrelated:
                let previousNanos = previous.map { min(max(Nanoseconds($0), baseNanos), capNanos) } ?? baseNanos
                let (tripled, overflow) = previousNanos.value.multipliedReportingOverflow(by: 3)
                let upper = overflow ? capNanos.value : min(tripled, capNanos.value)
                return uniform(in: baseNanos.value...max(upper, baseNanos.value), using: &generator).duration
            }
        }
    }

    /// The largest delay this backoff can return, if it has one (the exponential cap).
    public var maximumDelay: Duration? {
        if case .exponential(_, _, let cap, _) = kind { return cap }
        if case .constant(let delay) = kind { return max(delay, .zero) }
        return nil
    }

    /// Whether the parameters make sense: non-negative base and cap, cap ≥ base, a finite
    /// multiplier ≥ 1, a non-negative constant delay.
    var isValid: Bool {
        switch kind {
        case let .exponential(base, multiplier, cap, _):
            return base >= .zero && cap >= base && multiplier.isFinite && multiplier >= 1
        case .constant(let delay):
            return delay >= .zero
        case .custom:
            return true
        }
    }
}

// MARK: - Integer nanosecond arithmetic

/// A non-negative whole number of nanoseconds, saturating at `UInt64.max` (about 584 years).
struct Nanoseconds: Comparable {
    let value: UInt64

    init(raw: UInt64) { value = raw }

    /// Converts a duration, clamping negative values to zero and huge ones to `UInt64.max`.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 { value = 0; return }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let fraction = UInt64(max(attoseconds, 0) / 1_000_000_000)
        if overflow { value = .max; return }
        let (sum, overflow2) = whole.addingReportingOverflow(fraction)
        value = overflow2 ? .max : sum
    }

    var duration: Duration {
        .seconds(Int64(value / 1_000_000_000)) + .nanoseconds(Int64(value % 1_000_000_000))
    }

    static func < (lhs: Nanoseconds, rhs: Nanoseconds) -> Bool { lhs.value < rhs.value }
}

/// `min(cap, base × multiplier^(retry − 1))` without overflow: the multiplication is done in
/// `Double` only while the result stays below the cap.
func exponentialNanos(base: Nanoseconds, multiplier: Double, cap: Nanoseconds, retry: Int) -> Nanoseconds {
    guard multiplier.isFinite, multiplier >= 1 else { return min(base, cap) }
    let scaled = Double(base.value) * pow(multiplier, Double(retry - 1))
    guard scaled.isFinite, scaled < Double(cap.value) else { return cap }
    return Nanoseconds(raw: UInt64(scaled))
}

/// A uniformly distributed value in `range`, using 64 bits of `generator`.
///
/// Implemented here (not `UInt64.random(in:using:)`) so that the mapping from generator output to
/// delay is part of this package's documented, tested behaviour: the draw is
/// `lower + ⌊(r × (upper − lower + 1)) / 2⁶⁴⌋` for the next 64-bit output `r`.
func uniform(in range: ClosedRange<UInt64>, using generator: inout some RandomNumberGenerator) -> Nanoseconds {
    let span = range.upperBound - range.lowerBound
    if span == 0 { return Nanoseconds(raw: range.lowerBound) }
    let r = generator.next()
    if span == .max { return Nanoseconds(raw: r) }
    let (high, _) = r.multipliedFullWidth(by: span + 1)
    return Nanoseconds(raw: range.lowerBound + high)
}

private func pow(_ x: Double, _ y: Double) -> Double {
    // Exponentiation by squaring on a whole exponent (retry numbers are whole); avoids importing
    // libm while staying exact for small powers.
    var result = 1.0, factor = x, exponent = UInt64(max(y, 0))
    while exponent > 0 {
        if exponent & 1 == 1 { result *= factor }
        exponent >>= 1
        if exponent > 0 { factor *= factor }
        if !result.isFinite { return .infinity }
    }
    return result
}
