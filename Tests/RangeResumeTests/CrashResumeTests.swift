import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import RangeResume
import ResilienceTesting
import Testing

/// `kill -9` in the middle of a download: a child process (this test binary, running
/// ``crashChild()``) downloads from a rate-limited nginx and is SIGKILLed at random byte counts,
/// ten times; each restart must resume exactly from the sidecar's checkpoint, re-fetch at most
/// one checkpoint interval plus the buffers, and the final file must be correct.
@Suite("RangeResumer crash recovery")
struct CrashResumeTests {
    static let checkpointInterval: Int64 = 256 << 10
    static let batch = 64 << 10
    static let childURLKey = "RANGERESUME_CRASH_CHILD_URL"
    static let childDestinationKey = "RANGERESUME_CRASH_CHILD_DESTINATION"

    static var configuration: RangeResumer.Configuration {
        .init(checkpointInterval: checkpointInterval, writeBatchSize: batch, progressInterval: .zero)
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment[childURLKey] != nil,
                   "helper of sigkillAtRandomMomentsResumesFromTheCheckpoint: runs only in the child process it spawns"))
    func crashChild() async throws {
        let environment = ProcessInfo.processInfo.environment
        let url = try #require(environment[Self.childURLKey].flatMap(URL.init(string:)))
        let destination = URL(fileURLWithPath: try #require(environment[Self.childDestinationKey]))
        let result = try await RangeResumer(configuration: Self.configuration).download(from: url, to: destination) { progress in
            try? FileHandle.standardOutput.write(contentsOf: Data("progress \(progress.bytes) \(progress.resumedFrom)\n".utf8))
        }
        try? FileHandle.standardOutput.write(contentsOf: Data("done \(result.resumedFrom) \(result.length)\n".utf8))
    }

    @Test(.enabled(if: NginxServer.skipReason == nil,
                   "skipped: nginx is not installed (apt-get install nginx-light; .ci/run does this)"))
    func sigkillAtRandomMomentsResumesFromTheCheckpoint() async throws {
        let served = try TemporaryDirectory(), work = try TemporaryDirectory()
        defer { served.cleanup(); work.cleanup() }
        let body = Data(randomBytes(6 << 20, seed: 99))
        try body.write(to: served.file("big.bin"))
        let server = try NginxServer(serving: served.url, limitRate: "2m")
        defer { server.stop() }
        let destination = work.file("big.bin")
        var random = SeededRandomNumberGenerator(seed: 31337)
        var previousReported: Int64?
        var kills = 0
        var finished = false
        while !finished {
            let durable = ResumeSidecar.load(from: RangeResumer.sidecarURL(for: destination).path)?.durable ?? 0
            let child = try ChildDownload(url: server.url("big.bin"), destination: destination)
            var killAt: Int64?
            var lastReported: Int64 = 0
            for await line in child.lines {
                let fields = line.split(separator: " ")
                if fields.first == "done" { finished = true; continue }
                guard fields.first == "progress", fields.count == 3, let bytes = Int64(fields[1]),
                      let resumedFrom = Int64(fields[2]) else { continue }
                if killAt == nil {
                    // The restart resumes from exactly the last durable checkpoint...
                    #expect(resumedFrom == durable, "kill \(kills): resumed from \(resumedFrom), sidecar said \(durable)")
                    // ...which is at most one checkpoint interval plus the buffers behind what the
                    // killed child had already received.
                    if let previousReported {
                        let refetched = previousReported - resumedFrom
                        #expect(refetched <= Self.checkpointInterval + 2 * Int64(Self.batch), "kill \(kills): re-fetching \(refetched) bytes")
                    }
                    killAt = kills < 10 ? resumedFrom + Int64.random(in: 32 << 10 ... 900 << 10, using: &random) : .max
                }
                lastReported = bytes
                if let killAt, bytes >= killAt, kills < 10 {
                    child.kill()
                    break
                }
            }
            let status = child.wait()
            // A kill that lands after the final rename but before the child exits still means a
            // completed download (seen under ThreadSanitizer, where the child exits slowly).
            let renamedBeforeKill = status == SIGKILL
                && !FileManager.default.fileExists(atPath: RangeResumer.partFileURL(for: destination).path)
                && FileManager.default.fileExists(atPath: destination.path)
            if status == 0 || renamedBeforeKill {
                // Completed (possibly just before our kill landed). A kill between the rename and
                // the sidecar's removal leaves a stale sidecar: not a resume point any more.
                if renamedBeforeKill { try? FileManager.default.removeItem(at: RangeResumer.sidecarURL(for: destination)) }
                finished = true
                #expect(fileData(destination) == body)
                if kills < 10 {
                    // On a loaded machine the child can outrun our reading of its output and
                    // finish before the kill; start over from zero and keep killing.
                    try FileManager.default.removeItem(at: destination)
                    previousReported = nil
                    finished = false
                }
            } else {
                #expect(status == SIGKILL, "child ended with \(status) before being killed")
                if status != SIGKILL { return }
                kills += 1
                previousReported = lastReported
                let part = try FileManager.default.attributesOfItem(atPath: RangeResumer.partFileURL(for: destination).path)
                let sidecarDurable = ResumeSidecar.load(from: RangeResumer.sidecarURL(for: destination).path)?.durable ?? 0
                #expect(((part[.size] as? Int64) ?? 0) >= sidecarDurable)
            }
        }
        #expect(kills == 10)
        #expect(fileData(destination) == body)
        #expect(!FileManager.default.fileExists(atPath: RangeResumer.sidecarURL(for: destination).path))
    }
}

/// This test binary re-run as a child that executes only ``CrashResumeTests/crashChild()``.
final class ChildDownload {
    private let process = Process()
    let lines: AsyncStream<String>

    init(url: URL, destination: URL) throws {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--testing-library", "swift-testing", "--filter", "CrashResumeTests/crashChild"]
        var environment = ProcessInfo.processInfo.environment
        environment[CrashResumeTests.childURLKey] = url.absoluteString
        environment[CrashResumeTests.childDestinationKey] = destination.path
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        lines = stream
        let fd = pipe.fileHandleForReading.fileDescriptor
        try process.run()
        // A plain thread does the blocking reads and hands whole lines to the test.
        Thread.detachNewThread {
            var pending = ""
            while let data = PipeReader.readSome(fd) {   // not FileHandle: it traps on EINTR
                pending += String(decoding: data, as: UTF8.self)
                while let newline = pending.firstIndex(of: "\n") {
                    continuation.yield(String(pending[..<newline]))
                    pending = String(pending[pending.index(after: newline)...])
                }
            }
            continuation.finish()
        }
    }

    func kill() { _ = Glibc.kill(process.processIdentifier, SIGKILL) }

    /// Waits for the child; returns its exit status, or the signal that ended it.
    func wait() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }
}
