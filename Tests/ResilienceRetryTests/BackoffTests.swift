import ResilienceTesting
import ResilienceRetry
import Testing

/// A generator that returns a fixed script of values, so jitter draws are known exactly.
struct ScriptedGenerator: RandomNumberGenerator {
    var values: [UInt64]
    var index = 0
    init(_ values: UInt64...) { self.values = values }
    mutating func next() -> UInt64 {
        defer { index += 1 }
        return values[index % values.count]
    }
}

private let half: UInt64 = 1 << 63

@Suite("Backoff")
struct BackoffTests {
    @Test func exponentialWithoutJitterIsExact() {
        var g = SeededRandomNumberGenerator(seed: 1)
        let backoff = Backoff.exponential(base: .seconds(1), multiplier: 2, cap: .seconds(60), jitter: .none)
        let delays = (1...8).map { backoff.delay(forRetry: $0, using: &g) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60].map { Duration.seconds($0) })
    }

    @Test func fractionalMultiplierAndSubsecondBase() {
        var g = SeededRandomNumberGenerator(seed: 1)
        let backoff = Backoff.exponential(base: .milliseconds(100), multiplier: 1.5, cap: .seconds(1), jitter: .none)
        let delays = (1...7).map { backoff.delay(forRetry: $0, using: &g) }
        let expected = [100_000, 150_000, 225_000, 337_500, 506_250, 759_375, 1_000_000]
        #expect(delays == expected.map { Duration.microseconds($0) })
    }

    @Test func fullJitterDrawsUniformlyFromZeroToExponential() {
        let backoff = Backoff.exponential(base: .seconds(1), multiplier: 2, cap: .seconds(60), jitter: .full)
        var low = ScriptedGenerator(0)
        var mid = ScriptedGenerator(half)
        var high = ScriptedGenerator(.max)
        #expect(backoff.delay(forRetry: 3, using: &low) == .zero)
        // e = 4 s = 4e9 ns; the draw is ⌊r × (e + 1) / 2⁶⁴⌋.
        #expect(backoff.delay(forRetry: 3, using: &mid) == .nanoseconds(2_000_000_000))
        #expect(backoff.delay(forRetry: 3, using: &high) == .seconds(4))
        #expect(backoff.delay(forRetry: 30, using: &high) == .seconds(60))
    }

    @Test func equalJitterKeepsHalfFixed() {
        let backoff = Backoff.exponential(base: .seconds(1), multiplier: 2, cap: .seconds(60), jitter: .equal)
        var low = ScriptedGenerator(0)
        var mid = ScriptedGenerator(half)
        var high = ScriptedGenerator(.max)
        #expect(backoff.delay(forRetry: 2, using: &low) == .seconds(1))          // e/2 of 2 s
        #expect(backoff.delay(forRetry: 2, using: &mid) == .milliseconds(1_500))  // 1 s + ⌊(1e9+1)/2⌋ ns
        #expect(backoff.delay(forRetry: 2, using: &high) == .seconds(2))
    }

    @Test func decorrelatedJitterFollowsPreviousDelay() {
        let backoff = Backoff.exponential(base: .seconds(1), cap: .seconds(60), jitter: .decorrelated)
        var mid = ScriptedGenerator(half)
        var low = ScriptedGenerator(0)
        var high = ScriptedGenerator(.max)
        // First retry: uniform in [base, 3 × base] = [1 s, 3 s].
        #expect(backoff.delay(forRetry: 1, using: &mid) == .seconds(2))
        // Then uniform in [base, 3 × previous].
        #expect(backoff.delay(forRetry: 2, previous: .seconds(2), using: &low) == .seconds(1))
        #expect(backoff.delay(forRetry: 2, previous: .seconds(2), using: &high) == .seconds(6))
        // Capped.
        #expect(backoff.delay(forRetry: 9, previous: .seconds(50), using: &high) == .seconds(60))
    }

    @Test func sameSeedSameSchedule() {
        for jitter in [Backoff.Jitter.full, .equal, .decorrelated] {
            let backoff = Backoff.exponential(jitter: jitter)
            func schedule(seed: UInt64) -> [Duration] {
                var g = SeededRandomNumberGenerator(seed: seed)
                var previous: Duration?
                return (1...20).map { n in
                    let d = backoff.delay(forRetry: n, previous: previous, using: &g)
                    previous = d
                    return d
                }
            }
            #expect(schedule(seed: 99) == schedule(seed: 99))
            #expect(schedule(seed: 99) != schedule(seed: 100))
        }
    }

    @Test(arguments: [Backoff.Jitter.none, .full, .equal, .decorrelated])
    func hugeRetryNumbersNeitherTrapNorGoNegative(jitter: Backoff.Jitter) {
        var g = SeededRandomNumberGenerator(seed: 3)
        for (base, multiplier, cap) in [(Duration.seconds(1), 2.0, Duration.seconds(60)),
                                        (.nanoseconds(1), 1e300, .seconds(Int64.max)),
                                        (.seconds(1_000), 10, .seconds(Int64.max / 2))] {
            let backoff = Backoff.exponential(base: base, multiplier: multiplier, cap: cap, jitter: jitter)
            for retry in [1_000, 10_000, Int.max, 0, -5] {
                let d = backoff.delay(forRetry: retry, previous: .seconds(Int64.max), using: &g)
                #expect(d >= .zero)
                #expect(d <= cap)
            }
        }
        let none = Backoff.exponential(jitter: .none)
        #expect(none.delay(forRetry: 1_000, using: &g) == .seconds(60))
    }

    @Test func everyDelayLiesWithinZeroAndCapForManySeeds() {
        var seeds = SeededRandomNumberGenerator(seed: 2024)
        for _ in 0..<300 {
            let seed = seeds.next()
            var g = SeededRandomNumberGenerator(seed: seed)
            let base = Duration.milliseconds(Int64(g.next() % 5_000))
            let cap = base + .milliseconds(Int64(g.next() % 120_000))
            let multiplier = 1 + Double(g.next() % 400) / 100
            let jitter = [Backoff.Jitter.none, .full, .equal, .decorrelated][Int(g.next() % 4)]
            let backoff = Backoff.exponential(base: base, multiplier: multiplier, cap: cap, jitter: jitter)
            var previous: Duration?
            for retry in 1...60 {
                let d = backoff.delay(forRetry: retry, previous: previous, using: &g)
                #expect(d >= .zero && d <= cap, "seed \(seed) retry \(retry): \(d) outside [0, \(cap)]")
                if jitter == .decorrelated { #expect(d >= base, "seed \(seed): \(d) below base \(base)") }
                previous = d
            }
        }
    }

    @Test func constantAndCustom() {
        var g = SeededRandomNumberGenerator(seed: 1)
        #expect(Backoff.constant(.seconds(3)).delay(forRetry: 7, using: &g) == .seconds(3))
        let custom = Backoff.custom { n in n == 2 ? .seconds(-4) : .seconds(n * 10) }
        #expect(custom.delay(forRetry: 1, using: &g) == .seconds(10))
        #expect(custom.delay(forRetry: 2, using: &g) == .zero)
        #expect(custom.maximumDelay == nil)
        #expect(Backoff.exponential(cap: .seconds(9)).maximumDelay == .seconds(9))
    }
}
