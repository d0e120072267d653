import ResilienceTesting
import Retry
import Testing

@Suite("Backoff")
struct BackoffTests {
    @Test func exponentialWithoutJitterIsExact() {
        var g = SeededRandomNumberGenerator(seed: 1)
        let backoff = Backoff.exponential(base: .seconds(1), multiplier: 2, cap: .seconds(60), jitter: .none)
        let delays = (1...8).map { backoff.delay(forRetry: $0, using: &g) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60].map { Duration.seconds($0) })
    }
}
