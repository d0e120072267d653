import ResilienceTesting

/// `ManualClock`: schedule and wake 1,000 sleeping tasks.
enum ManualClockBenchmarks {
    static func run() async {
        var samples: [Double] = []
        for _ in 0..<20 {
            let clock = ManualClock()
            let start = nanos()
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<1_000 {
                    group.addTask { try? await clock.sleep(for: .milliseconds(i + 1)) }
                }
                await clock.sleepers(atLeast: 1_000)
                clock.advance(by: .seconds(2))
                await group.waitForAll()
            }
            samples.append(Double(nanos() - start) / 1e6)
        }
        samples.sort()
        report("manual-clock.1000-sleeps.schedule-and-wake", samples[samples.count / 2], "ms (median of 20)")
    }
}
