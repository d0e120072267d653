// A child process for the DownloadQueue kill-and-restart chaos test.
//
// Usage: DownloadQueueChild <journal-path>
// Opens the FileJournalJobStore at <journal-path>, starts a DownloadQueue over it (4 downloads at
// once, immediate retries, 1 s leases) and prints "started <n>" with the number of unfinished
// jobs, then "terminal <state> <job id>" for every job that ends, and "done" once none is left;
// then exits 0. The parent SIGKILLs it at moments of its choosing. Errors print "error <what>"
// and exit 1.
import Downloads
import Foundation
import JobStores
import ResilienceRetry

/// Writes one line to stdout, unbuffered, so the parent sees it at once.
func say(_ line: String) { try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8)) }

guard CommandLine.arguments.count == 2 else {
    say("error usage: DownloadQueueChild <journal-path>")
    exit(64)
}

do {
    let store = try FileJournalJobStore(path: CommandLine.arguments[1])
    let policy = try RetryPolicy(maxAttempts: 100, backoff: .constant(.zero), maxRetryAfter: .zero)
    let configuration = DownloadQueueConfiguration(
        maxConcurrentDownloads: 4, retryPolicy: policy,
        leaseDuration: .seconds(1), leaseRenewalInterval: .milliseconds(250))
    let queue = DownloadQueue(store: store, configuration: configuration)
    let events = queue.events
    var remaining = try await store.jobs(matching: JobQuery(states: [.pending, .running, .retrying])).count
    try await queue.start()
    say("started \(remaining)")
    if remaining > 0 {
        for await event in events {
            switch event {
            case .completed(let id, _): say("terminal completed \(id)")
            case .failed(let id, let failure): say("terminal failed \(id) \(failure)")
            case .cancelled(let id): say("terminal cancelled \(id)")
            default: continue
            }
            remaining -= 1
            if remaining == 0 { break }
        }
    }
    await queue.stop(graceful: true)
    await store.close()
    say("done")
    exit(0)
} catch {
    say("error \(error)")
    exit(1)
}
