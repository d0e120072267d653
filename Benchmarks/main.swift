// Release-built benchmarks: `swift run -c release resilience-benchmarks [filter]`.
//
// Prints one line per figure: `name  value unit  [peer value unit  ratio]`. A peer is measured
// in the same run, on the same machine (see shared TARGETS.md); absolute numbers from another run
// or machine mean little on shared, noisy hardware.
let filter = CommandLine.arguments.dropFirst().first
for benchmark in allBenchmarks where filter.map({ benchmark.name.contains($0) }) ?? true {
    await benchmark.run()
}
