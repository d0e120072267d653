// A child process for the SegmentedDownload crash test.
//
// Usage: SegmentedDownloadChild <url> <destination>
// Downloads <url> with SegmentedDownload (4 connections, 64 KiB minimum segment, a checkpoint
// every 32 KiB per segment) and prints "progress <bytes>" every 50 ms, then "done" (exit 0) or
// "error <description>" (exit 1). The test SIGKILLs it mid-download.
import Downloads
import Foundation
import RangeResume

/// Writes one line to stdout, unbuffered, so the parent sees it at once.
func say(_ line: String) { try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8)) }

let arguments = CommandLine.arguments
guard arguments.count == 3, let url = URL(string: arguments[1]) else {
    say("error usage: SegmentedDownloadChild <url> <destination>")
    exit(64)
}
let transfer = RangeResumer.Configuration(checkpointInterval: 32 << 10, writeBatchSize: 16 << 10,
                                          progressInterval: .milliseconds(50), computesSHA256: false)
let configuration = SegmentedDownloadConfiguration(connections: 4, segmentationThreshold: 0,
                                                   minimumSegmentSize: 64 << 10, transfer: transfer)
do {
    _ = try await SegmentedDownload(configuration: configuration)
        .download(from: url, to: URL(fileURLWithPath: arguments[2])) { say("progress \($0.bytes)") }
    say("done")
    exit(0)
} catch {
    say("error \(error)")
    exit(1)
}
