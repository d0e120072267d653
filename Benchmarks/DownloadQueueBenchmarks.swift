import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceTesting

/// `DownloadQueue` figures: what the queue (store transitions, leases, events, dispatch) costs on
/// top of the downloads themselves. 200 files of 64 KiB from a local `FaultyHTTPServer` without
/// faults, 4 at a time, through a `DownloadQueue` over an `InMemoryJobStore` and over a
/// `FileJournalJobStore` (fsync per transition); the peer is a plain task group running the same
/// `RangeResumer` downloads 4 at a time, with no store. Best of three rounds each, interleaved.
enum DownloadQueueBenchmarks {
    static let files = 200
    static let size = 64 << 10
    static let concurrency = 4

    static func run() async {
        do {
            let server = try FaultyHTTPServer()
            defer { server.stop() }
            var generator = SeededRandomNumberGenerator(seed: 1)
            for index in 0..<files {
                server.serve((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }, at: "/\(index).bin")
            }
            var plain: [Double] = [], memory: [Double] = [], journal: [Double] = []
            for _ in 0..<3 {
                plain.append(try await plainFilesPerSecond(server))
                memory.append(try await queueFilesPerSecond(server, journaled: false))
                journal.append(try await queueFilesPerSecond(server, journaled: true))
            }
            let peer = ("task group of RangeResumer, no store", plain.max() ?? 0)
            report("downloadqueue, in-memory store, 64 KiB", memory.max() ?? 0, "files/s", peer: peer)
            report("downloadqueue, journal (fsync), 64 KiB", journal.max() ?? 0, "files/s", peer: peer)
        } catch {
            print("downloadqueue benchmark failed: \(error)")
        }
    }

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("DownloadQueueBenchmarks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func plainFilesPerSecond(_ server: FaultyHTTPServer) async throws -> Double {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let resumer = RangeResumer()
        let start = nanos()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add() {
                let index = next
                next += 1
                group.addTask {
                    _ = try await resumer.download(from: server.url(for: "/\(index).bin"), to: dir.appendingPathComponent("\(index).bin"))
                }
            }
            for _ in 0..<concurrency { add() }
            while try await group.next() != nil { if next < files { add() } }
        }
        return Double(files) / (Double(nanos() - start) / 1e9)
    }

    static func queueFilesPerSecond(_ server: FaultyHTTPServer, journaled: Bool) async throws -> Double {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store: any JobStore = journaled
            ? try FileJournalJobStore(path: dir.appendingPathComponent("jobs.journal").path) : InMemoryJobStore()
        let queue = DownloadQueue(store: store, configuration: .init(maxConcurrentDownloads: concurrency))
        let start = nanos()
        for index in 0..<files {
            try await queue.enqueue(url: server.url(for: "/\(index).bin"), destination: dir.appendingPathComponent("\(index).bin"))
        }
        try await queue.start()
        var remaining = files
        for await event in queue.events where event.isTerminal {
            remaining -= 1
            if remaining == 0 { break }
        }
        let elapsed = Double(nanos() - start) / 1e9
        await queue.stop(graceful: true)
        if let journal = store as? FileJournalJobStore { await journal.close() }
        return Double(files) / elapsed
    }
}
