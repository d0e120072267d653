// A child process for the concurrent-transfer hang tests (issue 22): fast downloads on the
// default URLSession engine, run in a process of their own so that the parent can put a time
// limit on them and take the thread stacks of a hang.
//
// Usage:
//   ConcurrentDownloadChild queue <baseURL> <dir> <bytes>
//       Downloads <baseURL>/file-<i>.bin for every line "<sha256>  file-<i>.bin" of
//       <dir>/SHA256SUMS through one DownloadQueue (InMemoryJobStore, 4 downloads at once, default
//       URLSession engine) into <dir>/out/, each checked against <bytes> and its SHA-256.
//   ConcurrentDownloadChild segmented <url> <destination> <connections> [sha256]
//       One SegmentedDownload over <connections> connections on the URLSession engine.
//   ConcurrentDownloadChild single <url> <destination> [sha256]
//       One RangeResumer download alone on the URLSession engine (the throughput baseline).
//
// Output (stdout, one line each, unbuffered):
//   "cpus <n>"                                  first: the processors (cooperative threads) seen
//   "file <name> <bytes> <seconds>"             per finished file
//   "summary bytes=<b> seconds=<s> MBps=<r>"    last, then exit 0 (MB = 10^6 bytes, wall time)
//   "error <description>"                       on any failure, then exit 1 (64: bad usage)
import Downloads
import Foundation
import JobStores
import RangeResume

/// Writes one line to stdout, unbuffered, so the parent sees it at once.
func say(_ line: String) { try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8)) }

func fail(_ message: String, code: Int32 = 1) -> Never {
    say("error \(message)")
    exit(code)
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func summary(bytes: Int64, elapsed: Duration) -> String {
    let time = seconds(elapsed)
    return "summary bytes=\(bytes) seconds=\(String(format: "%.3f", time)) MBps=\(String(format: "%.1f", Double(bytes) / time / 1e6))"
}

/// The lines `<sha256>  <name>` of a `sha256sum`-style file.
func checksums(at path: String) -> [(name: String, sha256: String)] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
    return text.split(separator: "\n").map { line in
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 2 else { fail("bad checksum line: \(line)") }
        return (String(fields[1]), String(fields[0]))
    }
}

func runQueue(baseURL: URL, directory: String, bytes: Int64) async throws {
    let files = checksums(at: directory + "/SHA256SUMS")
    let output = URL(fileURLWithPath: directory).appendingPathComponent("out")
    try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
    let queue = DownloadQueue(store: InMemoryJobStore(),
                              configuration: DownloadQueueConfiguration(maxConcurrentDownloads: 4))
    let clock = ContinuousClock()
    let start = clock.now
    try await queue.start()
    var names: [UUID: String] = [:]
    var started: [UUID: ContinuousClock.Instant] = [:]
    for file in files {
        let id = try await queue.enqueue(url: baseURL.appendingPathComponent(file.name),
                                         destination: output.appendingPathComponent(file.name),
                                         expectedLength: bytes, expectedSHA256: file.sha256)
        names[id] = file.name
    }
    var finished = 0
    for await event in queue.events {
        switch event {
        case .started(let id, _): started[id] = started[id] ?? clock.now
        case .completed(let id, let result):
            finished += 1
            say("file \(names[id] ?? "?") \(result.length) \(String(format: "%.3f", seconds(clock.now - (started[id] ?? start))))")
        case .failed(let id, let failure): fail("\(names[id] ?? "?") failed: \(failure)")
        case .retryScheduled(let id, let attempt, _, let error): say("retry \(names[id] ?? "?") attempt \(attempt): \(error)")
        default: break
        }
        if finished == files.count { break }
    }
    let elapsed = clock.now - start
    await queue.stop(graceful: true)
    guard finished == files.count else { fail("the event stream ended after \(finished) of \(files.count) files") }
    say(summary(bytes: bytes * Int64(files.count), elapsed: elapsed))
}

func runSegmented(url: URL, destination: URL, connections: Int, sha256: String?) async throws {
    let configuration = SegmentedDownloadConfiguration(connections: connections)
    let clock = ContinuousClock()
    let start = clock.now
    let result = try await SegmentedDownload(configuration: configuration, engine: .urlSession)
        .download(from: url, to: destination, expectedSHA256: sha256)
    let elapsed = clock.now - start
    say("file \(destination.lastPathComponent) \(result.download.length) \(String(format: "%.3f", seconds(elapsed))) segments=\(result.segments)")
    say(summary(bytes: result.download.length, elapsed: elapsed))
}

func runSingle(url: URL, destination: URL, sha256: String?) async throws {
    let clock = ContinuousClock()
    let start = clock.now
    let result = try await RangeResumer(engine: .urlSession).download(from: url, to: destination, expectedSHA256: sha256)
    let elapsed = clock.now - start
    say("file \(destination.lastPathComponent) \(result.length) \(String(format: "%.3f", seconds(elapsed)))")
    say(summary(bytes: result.length, elapsed: elapsed))
}

let arguments = Array(CommandLine.arguments.dropFirst())
say("cpus \(ProcessInfo.processInfo.activeProcessorCount)")
do {
    switch (arguments.first, arguments.count) {
    case ("queue", 4):
        guard let base = URL(string: arguments[1]), let bytes = Int64(arguments[3]) else { fail("bad arguments", code: 64) }
        try await runQueue(baseURL: base, directory: arguments[2], bytes: bytes)
    case ("segmented", 4), ("segmented", 5):
        guard let url = URL(string: arguments[1]), let connections = Int(arguments[3]) else { fail("bad arguments", code: 64) }
        try await runSegmented(url: url, destination: URL(fileURLWithPath: arguments[2]), connections: connections,
                               sha256: arguments.count == 5 ? arguments[4] : nil)
    case ("single", 3), ("single", 4):
        guard let url = URL(string: arguments[1]) else { fail("bad arguments", code: 64) }
        try await runSingle(url: url, destination: URL(fileURLWithPath: arguments[2]),
                            sha256: arguments.count == 4 ? arguments[3] : nil)
    default:
        fail("usage: ConcurrentDownloadChild queue <baseURL> <dir> <bytes> | segmented <url> <dest> <connections> [sha256] | single <url> <dest> [sha256]",
             code: 64)
    }
    exit(0)
} catch {
    fail("\(error)")
}
