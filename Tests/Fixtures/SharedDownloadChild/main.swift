// A child process for the SharedDownload cross-process test.
//
// Usage: SharedDownloadChild <destination> <byte-count>
// Runs SharedDownload for <destination>. When it finds the lock taken it prints "waiting <pid of
// the holder>". When it gets the lock and must download, it prints
// "downloading <pid>", waits for a line on stdin (so the test decides when the download ends, or
// kills it first), then writes <byte-count> bytes of a known pattern through a .part file and a
// rename. Prints "outcome <name>" and exits 0, or "error <description>" and exits 1.
import Downloads
import Foundation

/// Writes one line to stdout, unbuffered, so the parent sees it at once.
func say(_ line: String) { try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8)) }

let arguments = CommandLine.arguments
guard arguments.count == 3, let count = Int(arguments[2]) else {
    say("error usage: SharedDownloadChild <destination> <byte-count>")
    exit(64)
}
let destination = URL(fileURLWithPath: arguments[1])

func pattern(_ count: Int) -> Data { Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }) }

/// Reads one line from stdin on a thread of its own, so no cooperative thread blocks.
func lineFromStdin() async -> String? {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: readLine()) }
    }
}

let shared = SharedDownload(destination: destination, lockTimeout: .seconds(120), pollInterval: .milliseconds(10))
do {
    let outcome = try await shared.run(isValid: { url in
        (try? Data(contentsOf: url)) == pattern(count)
    }, onWait: { pid in
        say("waiting \(pid.map(String.init) ?? "?")")
    }, download: { url in
        say("downloading \(getpid())")
        _ = await lineFromStdin()
        let part = URL(fileURLWithPath: url.path + ".part")
        try pattern(count).write(to: part)
        _ = rename(part.path, url.path)
    })
    say("outcome \(outcome)")
    exit(0)
} catch {
    say("error \(error)")
    exit(1)
}
