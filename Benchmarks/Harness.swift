import Foundation

/// A named group of figures.
struct Benchmark: Sendable {
    let name: String
    let run: @Sendable () async -> Void
}

/// Every benchmark, in the order they run. Add new groups here.
let allBenchmarks: [Benchmark] = [
    Benchmark(name: "retry", run: RetryBenchmarks.run),
    Benchmark(name: "clock", run: ManualClockBenchmarks.run),
    Benchmark(name: "semaphore", run: SemaphoreBenchmarks.run),
    Benchmark(name: "jobstore", run: JobStoreBenchmarks.run),
    Benchmark(name: "faulty-http-server", run: FaultyHTTPServerBenchmarks.run),
    Benchmark(name: "rangeresume", run: RangeResumeBenchmarks.run),
    Benchmark(name: "downloadqueue", run: DownloadQueueBenchmarks.run),
    Benchmark(name: "segmented", run: SegmentedDownloadBenchmarks.run),
    Benchmark(name: "concurrent", run: ConcurrentDownloadBenchmarks.run),
]

/// Prints one figure. `peer` is a measurement of the peer taken in the same run.
func report(_ name: String, _ value: Double, _ unit: String, peer: (name: String, value: Double)? = nil) {
    var line = "\(name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(format(value)) \(unit)"
    if let peer {
        let ratio = peer.value == 0 ? Double.nan : value / peer.value
        line += "    peer \(peer.name) \(format(peer.value)) \(unit)    ratio \(String(format: "%.2f", ratio))"
    }
    print(line)
}

private func format(_ value: Double) -> String {
    value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value)
}

/// Monotonic nanoseconds.
@inline(__always) func nanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// The median of `runs` timings of `body`, in nanoseconds.
func medianNanos(runs: Int, _ body: () -> Void) -> Double {
    var samples: [UInt64] = []
    for _ in 0..<runs {
        let start = nanos()
        body()
        samples.append(nanos() - start)
    }
    samples.sort()
    return Double(samples[samples.count / 2])
}

/// Keeps the optimizer from deleting a computed value.
@inline(never) func blackHole<T>(_ value: T) { _ = value }
