import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceTesting
import Testing

/// `DownloadQueue.enqueue(headers:)`: fields that persist with the job and reach every request.
@Suite("Per-job headers", .timeLimit(.minutes(2)))
struct PerJobHeadersTests {
    @Test func aJobsHeadersReachEveryRequestAndSurviveAReopen() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let body = seededBytes(120_000, seed: 61)
        server.serve(body, at: "/j.bin")
        // The first response is cut: the resume is a second request, which must carry them too.
        server.enqueueFaults([.dropAfter(bytes: 40_000)], for: "/j.bin")
        let journal = dir.file("jobs.journal").path
        let store = try FileJournalJobStore(path: journal)
        let clock = ManualClock()
        let configuration = DownloadQueueConfiguration(
            retryPolicy: try .init(maxAttempts: 3, backoff: .constant(.seconds(1))),
            resumer: RangeResumer.Configuration(additionalHeaders: ["X-Job": "from the configuration", "X-Config": "c"]))
        let queue = DownloadQueue(store: store, configuration: configuration, clock: clock, now: clock.dateSource)
        let events = EventRecorder.recording(queue)
        let id = try await queue.enqueue(url: server.url(for: "/j.bin"), destination: dir.file("j.bin"),
                                         headers: ["x-job": "42", "Accept": "application/octet-stream"])
        try await queue.start()
        _ = await events.wait { !$0.retries.isEmpty }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(1))
        _ = await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        await store.close()

        #expect(contents(of: dir.file("j.bin")) == Data(body))
        let sent = server.requests(for: "/j.bin")
        try #require(sent.count == 2)
        for request in sent {
            // The job's field replaced the configured one of the same name (ignoring case).
            #expect(request.headers.values(for: "X-Job") == ["42"], "\(request.headers)")
            #expect(request.headers["Accept"] == "application/octet-stream" && request.headers["X-Config"] == "c")
        }
        let reopened = try FileJournalJobStore(path: journal)
        #expect(try await reopened.job(id: id)?.headers == ["x-job": "42", "Accept": "application/octet-stream"])
        await reopened.close()
    }

    @Test(arguments: [["Range": "bytes=0-"], ["X-A": "a\r\nX-B: b"], ["Bad Name": "v"], ["X-A": "1", "x-a": "2"]])
    func fieldsThatBreakTheRulesAreRefusedBeforeAnythingIsStored(headers: [String: String]) async throws {
        let store = InMemoryJobStore()
        let queue = DownloadQueue(store: store)
        await #expect(throws: DownloadQueueError.self) {
            try await queue.enqueue(url: URL(string: "http://127.0.0.1:9/f.bin")!, destination: URL(fileURLWithPath: "/tmp/f.bin"),
                                    headers: headers)
        }
        let stored = try await (store as any JobStore).jobs(matching: .all)
        #expect(stored.isEmpty)
    }
}
