import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceRetry

/// Downloads the URLs of the command line into the output directory, resumable via the journal.
enum URLRun {
    /// Runs the downloads; returns the exit status.
    static func run(_ options: CommandLineOptions) async throws -> Int32 {
        let destinations = options.urls.map(options.destination(for:))
        if let directory = options.directory {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                printError("resilient-download: cannot create directory \(directory): \(DownloadErrorDescription.describe(error))")
                return 64
            }
        }
        for destination in destinations {
            var isDirectory: ObjCBool = false
            let parent = destination.deletingLastPathComponent().path
            guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
                printError("resilient-download: directory does not exist: \(parent) (see --help)")
                return 64
            }
            if FileManager.default.fileExists(atPath: destination.path, isDirectory: &isDirectory), isDirectory.boolValue {
                printError("resilient-download: \(destination.path) is a directory; -o names a file (use -d DIR)")
                return 64
            }
        }
        let output = destinations[0].deletingLastPathComponent()
        let journal = options.journal ?? output.appendingPathComponent(".resilient-download.journal").path
        let store = try FileJournalJobStore(path: journal)
        // The journal is locked by one process at a time: a re-run after a crash or kill -9 takes
        // the dead run's leases over at once (`DownloadQueue.start()` → `recoverAbandonedLeases`).
        let configuration = DownloadQueueConfiguration(
            maxConcurrentDownloads: options.concurrency,
            retryPolicy: try RetryPolicy(maxAttempts: options.retries + 1, backoff: RetryPolicy.default.backoff),
            leaseDuration: .seconds(10), leaseRenewalInterval: .seconds(2),
            resumer: RangeResumer.Configuration(stallTimeout: .seconds(options.timeoutSeconds),
                                                checkpointInterval: Int64(options.checkpointMiB) << 20,
                                                additionalHeaders: options.headers),
            // --connections N > 1: each file is a SegmentedDownload over up to N connections.
            connectionsPerDownload: options.connections, engine: options.engine)
        let queue = DownloadQueue(store: store, configuration: configuration)
        var items: [DownloadSession.Item] = []
        var alreadyDone: [String] = []
        for (index, url) in options.urls.enumerated() {
            let destination = destinations[index]
            let expected = options.sha256.isEmpty ? nil : options.sha256[index]
            if try await isAlreadyComplete(url: url, destination: destination, sha256: expected, in: store) {
                alreadyDone.append(destination.lastPathComponent)
                continue
            }
            // Enqueueing a destination whose job is still open (after a crash) returns that job,
            // now with this URL: its .part resumes when RangeResumer's rules allow, else restarts.
            let id = try await queue.enqueue(url: url, mirrors: options.mirrors, destination: destination,
                                             expectedSHA256: expected)
            items.append(DownloadSession.Item(id: id, name: destination.lastPathComponent, url: url, expectedSHA256: expected))
        }
        if !options.quiet { for name in alreadyDone { print("\(name): already complete (journal)") } }
        let clock = ContinuousClock()
        let started = clock.now
        var session = DownloadSession(items: items, quiet: options.quiet)
        try await queue.start()
        if !items.isEmpty { await session.run(queue) }
        await queue.stop(graceful: true)
        await store.close()
        if !options.quiet { print(session.summary(elapsed: started.duration(to: clock.now), faults: session.failedAttempts)) }
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
    try? FileHandle.standardError.write(contentsOf: Data((line + "\n").utf8))
}
