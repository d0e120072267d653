import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceTesting
import ResilienceRetry

/// The no-argument demo: a local `FaultyHTTPServer` failing 25 % of responses (seeded, so every
/// run meets the same faults in the same request order), five files of a few MiB, a
/// `DownloadQueue` over a `FileJournalJobStore` in a temporary directory.
enum DemoRun {
    static let fileSizes = [2 << 20, 1 << 20, 3 << 20, 3 << 19, 2 << 20]
    /// Mostly connections cut mid-body (resumed with `Range`), plus errors that are retried.
    static let faults: [HTTPFault] = [
        .dropAfter(bytes: 700_000), .resetAfter(bytes: 1_200_000), .dropAfter(bytes: 300_000),
        .resetAfter(bytes: 500_000), .closeWithoutResponse, .status(500), .serviceUnavailable(retryAfter: "1"),
        .changeETag,
    ]

    /// Runs the demo; returns the exit status.
    static func run() async throws -> Int32 {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("resilient-download-demo-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        var generator = SeededRandomNumberGenerator(seed: 2026)
        var files: [(name: String, sha256: String)] = []
        for (index, size) in fileSizes.enumerated() {
            var words = [UInt64](repeating: 0, count: size / 8)
            for word in words.indices { words[word] = generator.next() }
            let body = words.withUnsafeBytes { [UInt8]($0) }
            let name = "file-\(index + 1).bin"
            server.serve(body, at: "/" + name)
            files.append((name, SHA256Hasher.hex(of: body)))
        }
        server.setRandomFaults(rate: 0.25, seed: 25, kinds: faults)

        print("resilient-download demo: \(files.count) files from \(server.baseURL.absoluteString), 25 % of responses faulty")
        print("journal: \(directory.appendingPathComponent("jobs.journal").path)")
        // A throw-away journal: group commit is durable enough and spares the disk.
        let store = try FileJournalJobStore(path: directory.appendingPathComponent("jobs.journal").path,
                                            durability: .groupCommit(window: .milliseconds(20)))
        let policy = try RetryPolicy(maxAttempts: 12, backoff: .exponential(base: .milliseconds(100), cap: .seconds(1)),
                                     maxRetryAfter: .seconds(1))
        let queue = DownloadQueue(store: store, configuration: DownloadQueueConfiguration(retryPolicy: policy))
        var items: [DownloadSession.Item] = []
        for file in files {
            let url = server.url(for: "/" + file.name)
            let id = try await queue.enqueue(url: url, destination: directory.appendingPathComponent(file.name),
                                             expectedSHA256: file.sha256)
            items.append(DownloadSession.Item(id: id, name: file.name, url: url, expectedSHA256: file.sha256))
        }
        let clock = ContinuousClock()
        let started = clock.now
        var session = DownloadSession(items: items)
        try await queue.start()
        await session.run(queue)
        await queue.stop(graceful: true)
        await store.close()
        let faults = server.requests.filter { $0.fault != nil }.count
        print(session.summary(elapsed: started.duration(to: clock.now), faults: faults))
        return session.items.allSatisfy { $0.result != nil && $0.isVerified } ? 0 : 1
    }
}
