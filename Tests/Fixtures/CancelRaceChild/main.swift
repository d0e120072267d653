// A child process for the cancel-versus-completion test (issue 15, part 2): thousands of
// downloads on the URLSession engine, each cancelled at a random moment around its completion,
// to catch FoundationNetworking's trap (`TaskRegistry.swift:118: Fatal error: Trying to access a
// behaviour for a task that in not in the registry`, SIGILL), which no caller can catch.
//
// Usage:
//   CancelRaceChild run <cancels> [seed]
//       Serves files of 4 KiB to 1 MiB from an in-process FaultyHTTPServer (127.0.0.1) and makes
//       <cancels> downloads with RangeResumer(engine: .urlSession), each in a Task that is
//       cancelled after a seeded random delay: 0, spread over 0–2× the measured completion time,
//       or 3× it (after completion); one in twenty instead stalls and is ended by the stall
//       watchdog. Prints "cpus <n>", "expected <bytes> <microseconds>" per size, then
//       "counts issued=<n> completed=<n> cancelled=<n> stalled=<n> other=<n> seconds=<s>" and exits
//       0. A trap ends the process with SIGILL (the fatal error line is on stderr).
//   CancelRaceChild measure <runs> <cancels> [seed]
//       The counter for the standalone measurement: runs `run <cancels> <seed+i>` <runs> times, one
//       child process each, prints how each ended, then
//       "measured runs=<n> cancels-each=<n> clean=<n> trapped=<n> other=<n>" (exit 0).
import Foundation
import RangeResume
import ResilienceTesting
#if canImport(Glibc)
import Glibc
#endif

/// Writes one line to stdout, unbuffered, so the parent sees it at once.
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func fail(_ message: String, code: Int32 = 1) -> Never {
    say("error \(message)")
    exit(code)
}

func microseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
}

/// Outcome counts of one run.
struct Counts {
    var issued = 0, completed = 0, cancelled = 0, stalled = 0, other = 0
}

func run(cancels: Int, seed: UInt64) async throws {
    say("cpus \(ProcessInfo.processInfo.activeProcessorCount)")
    let server = try FaultyHTTPServer()
    defer { server.stop() }
    let sizes = [4 << 10, 32 << 10, 256 << 10, 1 << 20]
    var random = SeededRandomNumberGenerator(seed: seed)
    for (index, size) in sizes.enumerated() {
        var words = [UInt64](repeating: 0, count: size / 8)
        for word in words.indices { words[word] = random.next() }
        let body = words.withUnsafeBytes { Array($0) }
        server.serve(body, at: "/file-\(index).bin")
        server.serve(body, at: "/stall-\(index).bin")
    }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cancelrace-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let destination = directory.appendingPathComponent("out.bin")
    func removeOutput() {
        for url in [destination, RangeResumer.partFileURL(for: destination), RangeResumer.sidecarURL(for: destination)] {
            try? FileManager.default.removeItem(at: url)
        }
    }

    let transfer = RangeResumer.Configuration(computesSHA256: false)
    let resumer = RangeResumer(configuration: transfer, engine: .urlSession)
    let clock = ContinuousClock()

    // The completion time of each size, uncancelled: the median of five.
    var expected: [Duration] = []
    for index in sizes.indices {
        var times: [Duration] = []
        for _ in 0..<5 {
            let start = clock.now
            _ = try await resumer.download(from: server.url(for: "/file-\(index).bin"), to: destination)
            times.append(clock.now - start)
            removeOutput()
        }
        expected.append(times.sorted()[2])
        say("expected \(sizes[index]) \(microseconds(expected[index]))")
    }

    var counts = Counts()
    let start = clock.now
    for _ in 0..<cancels {
        let index = Int.random(in: sizes.indices, using: &random)
        let kind = Int.random(in: 0..<100, using: &random)
        if kind < 5 {
            // The stall watchdog cancels: the body stops short of its end and never resumes.
            let stallAt = Int.random(in: 0..<sizes[index], using: &random)
            server.enqueueFaults([.stallAfter(bytes: stallAt)], for: "/stall-\(index).bin")
            let timeout = Duration.milliseconds(Int.random(in: 20...80, using: &random))
            let stalling = RangeResumer(configuration: .init(stallTimeout: timeout, computesSHA256: false), engine: .urlSession)
            counts.issued += 1
            do {
                _ = try await stalling.download(from: server.url(for: "/stall-\(index).bin"), to: destination)
                counts.completed += 1
            } catch RangeResumeError.stalled {
                counts.stalled += 1
            } catch {
                counts.other += 1
                if counts.other <= 5 { say("note stall case ended with \(error)") }
            }
            removeOutput()
            continue
        }
        let delay: Duration = switch kind {
        case ..<15: .zero                                                    // before it starts
        case ..<25: expected[index] * 3                                      // after completion
        default: expected[index] * Double.random(in: 0...2, using: &random)  // around completion
        }
        let url = server.url(for: "/file-\(index).bin")
        let task = Task { try await resumer.download(from: url, to: destination) }
        if delay > .zero { try? await Task.sleep(for: delay) }
        task.cancel()
        counts.issued += 1
        switch await task.result {
        case .success: counts.completed += 1
        case .failure(is CancellationError): counts.cancelled += 1
        case .failure(let error):
            counts.other += 1
            if counts.other <= 5 { say("note cancel ended with \(error)") }
        }
        removeOutput()
    }
    let seconds = Double(microseconds(clock.now - start)) / 1e6
    say("counts issued=\(counts.issued) completed=\(counts.completed) cancelled=\(counts.cancelled) stalled=\(counts.stalled) other=\(counts.other) seconds=\(String(format: "%.1f", seconds))")
}

func measure(runs: Int, cancels: Int, seed: UInt64) async throws {
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var clean = 0, trapped = 0, other = 0
    for index in 0..<runs {
        let child = try ChildProcess(executable: me, arguments: ["run", "\(cancels)", "\(seed &+ UInt64(index))"])
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
    case ("run", 2), ("run", 3):
        guard let cancels = Int(arguments[1]), let seed = UInt64(arguments.count == 3 ? arguments[2] : "1") else {
            fail("bad arguments", code: 64)
        }
        try await run(cancels: cancels, seed: seed)
    case ("measure", 3), ("measure", 4):
        guard let runs = Int(arguments[1]), let cancels = Int(arguments[2]),
              let seed = UInt64(arguments.count == 4 ? arguments[3] : "1") else { fail("bad arguments", code: 64) }
        try await measure(runs: runs, cancels: cancels, seed: seed)
    default:
        fail("usage: CancelRaceChild run <cancels> [seed] | measure <runs> <cancels> [seed]", code: 64)
    }
    exit(0)
} catch {
    fail("\(error)")
}
