@testable import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceTesting
import ResilienceRetry
import Testing

/// `DownloadQueue.enqueue` for a destination whose job is still open, with another URL: the
/// caller's URL wins, and `RangeResumer`'s mirror rules decide what happens to the `.part`.
/// Retry waits run on a `ManualClock`.
@Suite("DownloadQueue: the URL typed now wins", .timeLimit(.minutes(2)))
struct DownloadQueueNewURLTests {
    static let size = 256 << 10

    @Test(arguments: [true, false]) func reEnqueueWithANewURLResumesOrRestartsFromIt(withDigest: Bool) async throws {
        let old = try FaultyHTTPServer(), new = try FaultyHTTPServer()
        let dir = try ScratchDirectory()
        defer { old.stop(); new.stop(); dir.cleanup() }
        let body = seededBytes(Self.size, seed: 33)
        old.serve(body, at: "/m.bin", etag: "\"old\"")
        new.serve(body, at: "/m.bin", etag: "\"new\"")
        old.enqueueFaults([.dropAfter(bytes: 100_000)], for: "/m.bin")
        let clock = ManualClock()
        let policy = try RetryPolicy(maxAttempts: 5, backoff: .constant(.seconds(5)), maxRetryAfter: .zero)
        func queue(_ store: any JobStore) -> DownloadQueue {
            DownloadQueue(store: store, configuration: .init(retryPolicy: policy), clock: clock, now: clock.dateSource)
        }
        let journal = dir.file("jobs.journal").path, destination = dir.file("m.bin")
        let digest = withDigest ? SHA256Hasher.hex(of: body) : nil
        let id: UUID
        do {   // the first run: the old server drops mid-body; the process ends while the retry waits
            let store = try FileJournalJobStore(path: journal)
            let first = queue(store)
            let events = EventRecorder.recording(first)
            id = try await first.enqueue(url: old.url(for: "/m.bin"), destination: destination, expectedSHA256: digest)
            try await first.start()
            await events.wait { !$0.retries.isEmpty }
            await first.stop(graceful: true)
            await store.close()
        }
        let store = try FileJournalJobStore(path: journal)
        let second = queue(store)
        let events = EventRecorder.recording(second)
        let again = try await second.enqueue(url: new.url(for: "/m.bin"), destination: destination, expectedSHA256: digest)
        #expect(again == id)
        let job = try #require(try await store.job(id: id))
        #expect(job.url == new.url(for: "/m.bin") && job.mirrors.isEmpty)
        #expect(MirrorRotation.resumableSources(of: job) == [new.url(for: "/m.bin"), old.url(for: "/m.bin")])
        try await second.start()
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(5))
        let seen = await events.waitForTerminal([id])
        await second.stop(graceful: true)
        await store.close()
        let result = try #require(seen.compactMap { if case let .completed(_, result) = $0 { result } else { nil } }.first)
        #expect(result.sourceURL == new.url(for: "/m.bin") && contents(of: destination) == Data(body))
        #expect(old.requests(for: "/m.bin").count == 1)
        let sent = try #require(new.requests(for: "/m.bin").first)
        #expect(sent.ifRange == nil)   // the old server's validator never reaches the new one
        if withDigest {   // known length + expected SHA-256: the .part is continued with a plain Range
            #expect(sent.range == RangeResumer.Engine.urlSession.rangeField(from: 100_000) && result.resumedFrom == 100_000)
        } else {          // nothing vouches for the new URL's bytes: from zero
            #expect(result.resumedFrom == 0)
        }
    }

    @Test func theSameURLLeavesTheOpenJobUntouched() async throws {
        let store = InMemoryJobStore()
        let queue = DownloadQueue(store: store)
        let url = URL(string: "http://127.0.0.1:9/a.bin")!, mirror = URL(string: "http://127.0.0.1:10/a.bin")!
        let destination = URL(fileURLWithPath: "/tmp/never-downloaded-a.bin")
        let id = try await queue.enqueue(url: url, mirrors: [mirror], destination: destination)
        let before = try #require(await store.job(id: id))
        #expect(try await queue.enqueue(url: url, mirrors: [mirror], destination: destination) == id)
        #expect(await store.job(id: id) == before)
        // New mirrors alone are an update too; the mirror index restarts at the URL.
        #expect(try await queue.enqueue(url: url, destination: destination) == id)
        let after = try #require(await store.job(id: id))
        #expect(after.mirrors.isEmpty && after.metadata[MirrorRotation.metadataKey] == "0")
        #expect(MirrorRotation.resumableSources(of: after) == [url, mirror])
        await queue.stop(graceful: true)
    }
}
