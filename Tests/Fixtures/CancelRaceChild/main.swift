// A child process for the cancel-versus-completion test (issue 15, part 2): thousands of
// downloads on the URLSession engine, each cancelled at a random moment around its completion,
// to catch FoundationNetworking's trap (`TaskRegistry.swift:118: Fatal error: Trying to access a
// behaviour for a task that in not in the registry`, SIGILL), which no caller can catch.
//
// Usage:
//   CancelRaceChild run <cancels> [seed] [lanes]
//       Serves files of 4 KiB to 1 MiB from an in-process FaultyHTTPServer (127.0.0.1) and makes
//       <cancels> downloads with RangeResumer(engine: .urlSession), spread over <lanes> (default 8)
//       concurrent lanes. 85 % run in a Task that is cancelled after a seeded random delay: 0, spread
//       over 0–2× the size's measured completion time, or 3× it (after completion). 15 % are ended
//       by the engine itself: the stall watchdog (a body that stops short), a refused 503, or a
//       truncated body. Prints "cpus <n> lanes <n>", "expected <bytes> <microseconds>" per size,
//       then "counts issued=<n> completed=<n> cancelled=<n> stalled=<n> faulted=<n> other=<n>
//       seconds=<s>" and exits 0. A trap ends the process with SIGILL (the fatal error line is on
//       stderr). Seed default 1.
//   CancelRaceChild measure <runs> <cancels> [seed] [lanes]
//       The counter for the standalone measurement: runs `run <cancels> <seed+i> <lanes>` <runs>
//       times, one child process each, prints how each ended, then
//       "measured runs=<n> cancels-each=<n> clean=<n> trapped=<n> other=<n>" (exit 0).
import Foundation
import RangeResume
import ResilienceTesting
#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to stdout, unbuffered, so the parent sees it at once.
func say(_ line: String) { try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8)) }

func fail(_ message: String, code: Int32 = 1) -> Never {
    say("error \(message)")
    exit(code)
}

func microseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
}

/// Outcome counts of one run (or one lane of it).
struct Counts: Sendable {
    var issued = 0, completed = 0, cancelled = 0, stalled = 0, faulted = 0, other = 0

    static func + (a: Counts, b: Counts) -> Counts {
        Counts(issued: a.issued + b.issued, completed: a.completed + b.completed, cancelled: a.cancelled + b.cancelled,
               stalled: a.stalled + b.stalled, faulted: a.faulted + b.faulted, other: a.other + b.other)
    }
}

let sizes = [4 << 10, 32 << 10, 256 << 10, 1 << 20]

/// One lane: `cancels` downloads one after another into a destination of its own, from paths of
/// its own (`/l<lane>/…`, so that the faults it queues reach only its requests).
func runLane(_ lane: Int, cancels: Int, seed: UInt64, server: FaultyHTTPServer, expected: [Duration],
             directory: URL) async -> Counts {
    var random = SeededRandomNumberGenerator(seed: seed)
    let destination = directory.appendingPathComponent("out-\(lane).bin")
    func removeOutput() {
        for url in [destination, RangeResumer.partFileURL(for: destination), RangeResumer.sidecarURL(for: destination)] {
            try? FileManager.default.removeItem(at: url)
        }
    }
    let resumer = RangeResumer(configuration: .init(computesSHA256: false), engine: .urlSession)
    var counts = Counts()
    for _ in 0..<cancels {
        let index = Int.random(in: sizes.indices, using: &random)
        let kind = Int.random(in: 0..<100, using: &random)
        counts.issued += 1
        defer { removeOutput() }
        if kind < 15 {
            // The engine cancels by itself: the stall watchdog (the body stops short of its end),
            // or the state machine refusing a response (a 503 with a short body) or ending on a
            // truncated body, each racing the transfer's own completion.
            let path = "/l\(lane)/fault-\(index).bin"
            let stall = kind < 5
            let fault: HTTPFault = stall ? .stallAfter(bytes: Int.random(in: 0..<sizes[index], using: &random))
                : kind < 11 ? .status(503) : .dropAfter(bytes: Int.random(in: 0..<sizes[index], using: &random))
            server.enqueueFaults([fault], for: path)
            let timeout = Duration.milliseconds(Int.random(in: 20...80, using: &random))
            let engineCancels = RangeResumer(configuration: .init(stallTimeout: timeout, computesSHA256: false), engine: .urlSession)
            do {
                _ = try await engineCancels.download(from: server.url(for: path), to: destination)
                counts.completed += 1
            } catch RangeResumeError.stalled {
                counts.stalled += 1
            } catch {
                if stall {
                    counts.other += 1
                    if counts.other <= 5 { say("note lane \(lane): stall case ended with \(error)") }
                } else {
                    counts.faulted += 1
                }
            }
            continue
        }
        let delay: Duration = switch kind {
        case ..<25: .zero                                                    // before it starts
        case ..<35: expected[index] * 3                                      // after completion
        default: expected[index] * Double.random(in: 0...2, using: &random)  // around completion
        }
        let url = server.url(for: "/file-\(index).bin")
        let task = Task { try await resumer.download(from: url, to: destination) }
        if delay > .zero { try? await Task.sleep(for: delay) }
        task.cancel()
        switch await task.result {
        case .success: counts.completed += 1
        case .failure(is CancellationError): counts.cancelled += 1
        case .failure(let error):
            counts.other += 1
            if counts.other <= 5 { say("note lane \(lane): cancel ended with \(error)") }
        }
    }
    return counts
}

func run(cancels: Int, seed: UInt64, lanes: Int) async throws {
    say("cpus \(ProcessInfo.processInfo.activeProcessorCount) lanes \(lanes)")
    let server = try FaultyHTTPServer()
    defer { server.stop() }
    var random = SeededRandomNumberGenerator(seed: seed)
    for (index, size) in sizes.enumerated() {
        var words = [UInt64](repeating: 0, count: size / 8)
        for word in words.indices { words[word] = random.next() }
        let body = words.withUnsafeBytes { Array($0) }
        server.serve(body, at: "/file-\(index).bin")
        for lane in 0..<lanes { server.serve(body, at: "/l\(lane)/fault-\(index).bin") }
    }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cancelrace-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }

    // The completion time of each size, uncancelled, one at a time: the median of five.
    let resumer = RangeResumer(configuration: .init(computesSHA256: false), engine: .urlSession)
    let clock = ContinuousClock()
    let warmUp = directory.appendingPathComponent("warm-up.bin")
    var expected: [Duration] = []
    for index in sizes.indices {
        var times: [Duration] = []
        for _ in 0..<5 {
            let start = clock.now
            _ = try await resumer.download(from: server.url(for: "/file-\(index).bin"), to: warmUp)
            times.append(clock.now - start)
            try FileManager.default.removeItem(at: warmUp)
        }
        expected.append(times.sorted()[2])
        say("expected \(sizes[index]) \(microseconds(expected[index]))")
    }

    let completionTimes = expected
    let start = clock.now
    let counts = await withTaskGroup(of: Counts.self) { group in
        for lane in 0..<lanes {
            let share = cancels / lanes + (lane < cancels % lanes ? 1 : 0)
            group.addTask {
                await runLane(lane, cancels: share, seed: seed &+ 1000 &* UInt64(lane + 1), server: server,
                              expected: completionTimes, directory: directory)
            }
        }
        return await group.reduce(Counts(), +)
    }
    let seconds = Double(microseconds(clock.now - start)) / 1e6
    say("counts issued=\(counts.issued) completed=\(counts.completed) cancelled=\(counts.cancelled) stalled=\(counts.stalled) faulted=\(counts.faulted) other=\(counts.other) seconds=\(String(format: "%.1f", seconds))")
}

func measure(runs: Int, cancels: Int, seed: UInt64, lanes: Int) async throws {
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var clean = 0, trapped = 0, other = 0
    for index in 0..<runs {
        let child = try ChildProcess(executable: me, arguments: ["run", "\(cancels)", "\(seed &+ UInt64(index))", "\(lanes)"])
        var last = ""
        while let line = await child.nextLine() { last = line }
        let status = await child.exitStatus
        switch status {
        case .exited(0): clean += 1
        case .signaled(SIGILL), .signaled(SIGTRAP): trapped += 1
        default: other += 1
        }
        say("run \(index + 1) seed \(seed &+ UInt64(index)): \(status); last line: \(last)")
    }
    say("measured runs=\(runs) cancels-each=\(cancels) clean=\(clean) trapped=\(trapped) other=\(other)")
}

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch (arguments.first, arguments.count) {
    case ("run", 2), ("run", 3), ("run", 4):
        guard let cancels = Int(arguments[1]), let seed = UInt64(arguments.count >= 3 ? arguments[2] : "1"),
              let lanes = Int(arguments.count == 4 ? arguments[3] : "8"), lanes >= 1 else {
            fail("bad arguments", code: 64)
        }
        try await run(cancels: cancels, seed: seed, lanes: lanes)
    case ("measure", 3), ("measure", 4), ("measure", 5):
        guard let runs = Int(arguments[1]), let cancels = Int(arguments[2]),
              let seed = UInt64(arguments.count >= 4 ? arguments[3] : "1"),
              let lanes = Int(arguments.count == 5 ? arguments[4] : "8"), lanes >= 1 else { fail("bad arguments", code: 64) }
        try await measure(runs: runs, cancels: cancels, seed: seed, lanes: lanes)
    default:
        fail("usage: CancelRaceChild run <cancels> [seed] [lanes] | measure <runs> <cancels> [seed] [lanes]", code: 64)
    }
    exit(0)
} catch {
    fail("\(error)")
}
