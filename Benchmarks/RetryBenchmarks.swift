import Foundation
import ResilienceTesting
import ResilienceRetry

/// `retry` overhead around an operation that succeeds first time, and backoff delays per second.
enum RetryBenchmarks {
    @inline(never) static func operation(_ value: Int) async throws -> Int { value &+ 1 }

    static func run() async {
        let calls = 2_000_000
        // Peer: calling the operation directly, in the same loop shape.
        var start = nanos()
        var sink = 0
        for i in 0..<calls { sink &+= (try? await operation(i)) ?? 0 }
        let direct = Double(nanos() - start) / Double(calls)
        blackHole(sink)

        start = nanos()
        sink = 0
        let clock = ContinuousClock()
        for i in 0..<calls {
            sink &+= (try? await retry(.default, clock: clock) { _ in try await operation(i) }) ?? 0
        }
        let wrapped = Double(nanos() - start) / Double(calls)
        blackHole(sink)
        report("retry.success-first-time.per-call", wrapped, "ns/call", peer: ("direct call", direct))
        report("retry.success-first-time.overhead", wrapped - direct, "ns/call")

        for (name, jitter) in [("none", Backoff.Jitter.none), ("full", .full), ("equal", .equal),
                               ("decorrelated", .decorrelated)] {
            let backoff = Backoff.exponential(jitter: jitter)
            var generator = SeededRandomNumberGenerator(seed: 42)
            let delays = 5_000_000
            var previous: Duration?
            var total = Duration.zero
            start = nanos()
            for i in 0..<delays {
                let delay = backoff.delay(forRetry: i % 30 + 1, previous: previous, using: &generator)
                previous = delay
                total += delay
            }
            let seconds = Double(nanos() - start) / 1e9
            blackHole(total)
            report("backoff.\(name).delays-per-second", Double(delays) / seconds, "delays/s")
        }
    }
}
