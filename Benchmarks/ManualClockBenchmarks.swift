import Foundation
import ResilienceTesting
import Synchronization

/// `ManualClock`: schedule and wake 1,000 sleeping tasks, idle and with busy threads.
enum ManualClockBenchmarks {
    /// One run: 1,000 tasks sleep 1…1,000 ms, the test waits for all of them with the hand-shake,
    /// advances once, and waits for every task to finish. Returns (milliseconds, all woke).
    static func scheduleAndWake() async -> (Double, Bool) {
        let clock = ManualClock()
        let woke = Counter()
        let start = nanos()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<1_000 {
                group.addTask {
                    if (try? await clock.sleep(for: .milliseconds(i + 1))) != nil {
                        woke.value.add(1, ordering: .relaxed)
                    }
                }
            }
            await clock.sleepers(atLeast: 1_000)
            clock.advance(by: .seconds(2))
            await group.waitForAll()
        }
        let ok = woke.value.load(ordering: .relaxed) == 1_000 && clock.sleeperCount == 0
        return (Double(nanos() - start) / 1e6, ok)
    }

    static func run() async {
        var idle: [Double] = []
        for _ in 0..<20 { idle.append(await scheduleAndWake().0) }
        idle.sort()
        report("manual-clock.1000-sleeps.idle.median", idle[idle.count / 2], "ms (20 runs)")

        // The same with every core kept busy by spinning threads: a hand-shake that relied on
        // yielding would flake here.
        let stop = Counter()
        let spinners = ProcessInfo.processInfo.activeProcessorCount
        for _ in 0..<spinners {
            Thread.detachNewThread {
                var x: UInt64 = 0
                while stop.value.load(ordering: .relaxed) == 0 { x &+= 1 }
                blackHole(x)
            }
        }
        var busy: [Double] = []
        var flakes = 0
        for _ in 0..<50 {
            let (ms, ok) = await scheduleAndWake()
            busy.append(ms)
            if !ok { flakes += 1 }
        }
        stop.value.store(1, ordering: .relaxed)
        busy.sort()
        report("manual-clock.1000-sleeps.busy-threads.median", busy[busy.count / 2], "ms (50 runs, \(spinners) spinning threads)")
        report("manual-clock.1000-sleeps.busy-threads.max", busy.last ?? 0, "ms")
        report("manual-clock.1000-sleeps.busy-threads.flakes", Double(flakes), "of 50 runs")
    }
}

/// An atomic integer shared by reference between tasks and threads.
final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
