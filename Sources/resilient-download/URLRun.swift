import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceRetry

/// Downloads the URLs of the command line into the output directory, resumable via the journal.
enum URLRun {
    /// Runs the downloads; returns the exit status.
    static func run(_ options: CommandLineOptions) async throws -> Int32 {
        let output = URL(fileURLWithPath: options.outputDirectory ?? ".", isDirectory: true).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: output.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            printError("resilient-download: output directory does not exist: \(output.path)")
            return 64
        }
        let journal = options.journal ?? output.appendingPathComponent(".resilient-download.journal").path
        let store = try FileJournalJobStore(path: journal)
        // The journal is locked by one process at a time: a re-run after a crash or kill -9 takes
        // the dead run's leases over at once (`DownloadQueue.start()` → `recoverAbandonedLeases`).
        let configuration = DownloadQueueConfiguration(
            maxConcurrentDownloads: options.concurrency,
            retryPolicy: try RetryPolicy(maxAttempts: options.retries + 1, backoff: RetryPolicy.default.backoff),
            leaseDuration: .seconds(10), leaseRenewalInterval: .seconds(2),
            resumer: RangeResumer.Configuration(stallTimeout: .seconds(options.timeoutSeconds),
                                                checkpointInterval: Int64(options.checkpointMiB) << 20),
            // --connections N > 1: each file is a SegmentedDownload over up to N connections.
            connectionsPerDownload: options.connections)
        let queue = DownloadQueue(store: store, configuration: configuration)
        var items: [DownloadSession.Item] = []
        var alreadyDone: [String] = []
        for (index, url) in options.urls.enumerated() {
            let destination = output.appendingPathComponent(url.lastPathComponent)
            let expected = options.sha256.isEmpty ? nil : options.sha256[index]
            if try await isAlreadyComplete(url: url, destination: destination, sha256: expected, in: store) {
                alreadyDone.append(url.lastPathComponent)
                continue
            }
            // Enqueueing a destination whose job is still open (after a crash) returns that job,
            // now with this URL: its .part resumes when RangeResumer's rules allow, else restarts.
            let id = try await queue.enqueue(url: url, destination: destination, expectedSHA256: expected)
            items.append(DownloadSession.Item(id: id, name: url.lastPathComponent, url: url, expectedSHA256: expected))
        }
        for name in alreadyDone { print("\(name): already complete (journal)") }
        let clock = ContinuousClock()
        let started = clock.now
        var session = DownloadSession(items: items)
        try await queue.start()
        if !items.isEmpty { await session.run(queue) }
        await queue.stop(graceful: true)
        await store.close()
        print(session.summary(elapsed: started.duration(to: clock.now), faults: session.failedAttempts))
        var status: Int32 = 0
        for item in session.items where item.result == nil || !item.isVerified {
            let reason = item.result == nil ? (item.failure ?? "not downloaded") : "SHA-256 mismatch"
            printError("\(item.url.absoluteString): \(reason)")
            status = 1
        }
        return status
    }

    /// Whether the journal has a completed job for this URL and destination whose file is still
    /// there (and matches the expected SHA-256, when given).
    private static func isAlreadyComplete(url: URL, destination: URL, sha256: String?, in store: any JobStore) async throws -> Bool {
        let jobs = try await store.jobs(matching: JobQuery(destination: destination.standardizedFileURL.path))
        guard let last = jobs.last, last.state == .completed, last.url == url,
              sha256 == nil || last.expectedSHA256 == sha256,
              FileManager.default.fileExists(atPath: destination.path) else { return false }
        return true
    }
}

/// Writes one line to stderr.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
