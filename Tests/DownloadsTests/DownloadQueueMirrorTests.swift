@testable import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceTesting
@testable import ResilienceRetry
import Testing

/// DownloadQueue with mirrors: two `FaultyHTTPServer`s serve the same bytes under different
/// ETags; retry waits run on a `ManualClock`. Also the persisted decorrelated jitter.
@Suite("DownloadQueue mirrors", .timeLimit(.minutes(2)))
struct DownloadQueueMirrorTests {
    static let size = 256 << 10

    struct Mirrors {
        let a: FaultyHTTPServer
        let b: FaultyHTTPServer
        let dir: ScratchDirectory
        let clock = ManualClock()
        let body: [UInt8]
        let etagA = "\"queue-a\""
        let etagB = "\"queue-b\""
        var urlA: URL { a.url(for: "/m.bin") }
        var urlB: URL { b.url(for: "/m.bin") }
        var destination: URL { dir.file("m.bin") }
        var digest: String { SHA256Hasher.hex(of: body) }

        init() throws {
            a = try FaultyHTTPServer()
            b = try FaultyHTTPServer()
            dir = try ScratchDirectory()
            body = seededBytes(DownloadQueueMirrorTests.size, seed: 21)
            a.serve(body, at: "/m.bin", etag: etagA)
            b.serve(body, at: "/m.bin", etag: etagB)
        }

        func queue(_ store: any JobStore) -> DownloadQueue {
            let policy = try! RetryPolicy(maxAttempts: 5, backoff: .constant(.seconds(5)), maxRetryAfter: .zero)
            return DownloadQueue(store: store, configuration: .init(retryPolicy: policy), clock: clock, now: clock.dateSource)
        }

        func tearDown() {
            a.stop()
            b.stop()
            dir.cleanup()
        }
    }

    static func completed(_ events: [DownloadQueueEvent], _ id: UUID) -> DownloadResult? {
        events.compactMap { if case let .completed(eventID, result) = $0, eventID == id { result } else { nil } }.first
    }

    static func switched(_ events: [DownloadQueueEvent]) -> [URL] {
        events.compactMap { if case let .switchedMirror(_, url) = $0 { url } else { nil } }
    }

    @Test func serviceUnavailableOnTheFirstMirrorCompletesFromTheSecond() async throws {
        let m = try Mirrors(); defer { m.tearDown() }
        m.a.enqueueFaults([.status(503)], for: "/m.bin")
        let queue = m.queue(InMemoryJobStore())
        let events = EventRecorder.recording(queue)
        let id = try await queue.enqueue(url: m.urlA, mirrors: [m.urlB], destination: m.destination,
                                         expectedSHA256: m.digest)
        try await queue.start()
        let retried = await events.wait { !Self.switched($0).isEmpty }
        #expect(Self.switched(retried) == [m.urlB])
        let waiting = try #require(try await queue.job(id))
        #expect(waiting.metadata[MirrorRotation.metadataKey] == "1")
        #expect(waiting.metadata[NextAttemptDecision.previousDelayKey] == "5000000000")
        await m.clock.sleepers(atLeast: 1)
        m.clock.advance(by: .seconds(5))
        let seen = await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        let result = try #require(Self.completed(seen, id))
        #expect(result.sourceURL == m.urlB && contents(of: m.destination) == Data(m.body))
        #expect(m.a.requests(for: "/m.bin").map(\.status) == [503])
        let sentB = m.b.requests(for: "/m.bin")
        // A fresh download on the default engine asks for its first window: a 206.
        #expect(sentB.count == 1 && sentB[0].ifRange == nil && sentB[0].status == 206)
    }

    /// A drops mid-body; B continues from the same offset when a digest allows it (rule (b)),
    /// otherwise from zero. Never with A's ETag.
    @Test(arguments: [true, false]) func droppedConnectionMovesToTheNextMirror(withDigest: Bool) async throws {
        let m = try Mirrors(); defer { m.tearDown() }
        m.a.enqueueFaults([.dropAfter(bytes: 100_000)], for: "/m.bin")
        let queue = m.queue(InMemoryJobStore())
        let events = EventRecorder.recording(queue)
        let id = try await queue.enqueue(url: m.urlA, mirrors: [m.urlB], destination: m.destination,
                                         expectedSHA256: withDigest ? m.digest : nil)
        try await queue.start()
        await events.wait { !Self.switched($0).isEmpty }
        await m.clock.sleepers(atLeast: 1)
        m.clock.advance(by: .seconds(5))
        let seen = await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        let result = try #require(Self.completed(seen, id))
        #expect(result.sourceURL == m.urlB && contents(of: m.destination) == Data(m.body))
        let sentB = try #require(m.b.requests(for: "/m.bin").first)
        #expect(sentB.ifRange == nil)
        if withDigest {
            #expect(sentB.range == RangeResumer.Engine.urlSession.rangeField(from: 100_000) && sentB.status == 206)
            #expect(result.resumedFrom == 100_000 && result.bytesReceived == Int64(Self.size - 100_000))
        } else {
            #expect(sentB.range == RangeResumer.Engine.urlSession.rangeField(from: 0) && sentB.status == 206 && result.resumedFrom == 0)
        }
    }

    @Test func mirrorsWrapAroundAndTheCurrentOneSurvivesARestart() async throws {
        let m = try Mirrors(); defer { m.tearDown() }
        let journal = m.dir.file("jobs.journal").path
        m.a.enqueueFaults([.status(502)], for: "/m.bin")
        m.b.enqueueFaults([.dropAfter(bytes: 60_000)], for: "/m.bin")
        let id: UUID
        do {
            let store = try FileJournalJobStore(path: journal)
            let queue = m.queue(store)
            let events = EventRecorder.recording(queue)
            id = try await queue.enqueue(url: m.urlA, mirrors: [m.urlB], destination: m.destination,
                                         expectedSHA256: m.digest)
            try await queue.start()
            await events.wait { !Self.switched($0).isEmpty }
            await queue.stop(graceful: true)   // the process ends while the retry waits
            await store.close()
        }
        // A new process: the retry goes to B (persisted), B drops, the next wraps around to A.
        let store = try FileJournalJobStore(path: journal)
        #expect(try await store.job(id: id)?.metadata[MirrorRotation.metadataKey] == "1")
        let queue = m.queue(store)
        let events = EventRecorder.recording(queue)
        try await queue.start()
        await m.clock.sleepers(atLeast: 1)
        m.clock.advance(by: .seconds(5))
        await events.wait { Self.switched($0).count == 1 }
        await m.clock.sleepers(atLeast: 1)
        m.clock.advance(by: .seconds(5))
        let seen = await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        await store.close()
        #expect(Self.switched(seen) == [m.urlA])
        let result = try #require(Self.completed(seen, id))
        #expect(result.sourceURL == m.urlA && contents(of: m.destination) == Data(m.body))
        #expect(m.b.requests(for: "/m.bin").map(\.status) == [206])   // a first window
        let sentA = m.a.requests(for: "/m.bin")
        // A resumes where B stopped: B's validator never reaches A, and A has none of its own
        // yet, so the digest rule applies (plain Range).
        #expect(sentA.map(\.status) == [502, 206] && sentA[1].range == RangeResumer.Engine.urlSession.rangeField(from: 60_000)
                && sentA[1].ifRange == nil)
        #expect(result.resumedFrom == 60_000)
    }

    @Test func persistedDecorrelatedJitterMatchesTheInProcessRetryLoop() async throws {
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let policy = try RetryPolicy(maxAttempts: 8, backoff: .exponential(base: .seconds(1), cap: .seconds(60), jitter: .decorrelated))
        // What `retry` does in memory: each delay feeds the next.
        var inProcess = SeededRandomNumberGenerator(seed: 2026)
        var expected: [Duration] = []
        var previous: Duration?
        for attempt in 1...6 {
            guard case let .retry(delay, _) = nextAction(policy, decision: .retry, failedAttempt: attempt, elapsed: .zero,
                                                          previousDelay: previous, generator: &inProcess) else {
                Issue.record("retry \(attempt) was not scheduled"); return
            }
            expected.append(delay)
            previous = delay
        }
        // The queue's way: one attempt per claim, the previous delay only in the store — which is
        // closed and reopened between attempts, as after a restart.
        var persisted = SeededRandomNumberGenerator(seed: 2026)
        var delays: [Duration] = []
        var now = Date(timeIntervalSince1970: 1_900_000_000)
        let journal = dir.file("jitter.journal").path
        let first = try FileJournalJobStore(path: journal)
        let id = try await first.enqueue(DownloadJob(url: URL(string: "http://example.invalid/f")!, destination: "/tmp/f",
                                                     maxAttempts: 8), now: now)
        await first.close()
        for _ in 1...6 {
            let store = try FileJournalJobStore(path: journal)
            let job = try #require(try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: now))
            #expect(job.id == id)
            guard case let .retry(delay) = NextAttemptDecision.decide(for: URLError(.networkConnectionLost), job: job, policy: policy,
                                                                now: now, using: &persisted) else {
                Issue.record("no retry scheduled"); return
            }
            delays.append(delay)
            let due = now.addingTimeInterval(delay.seconds)
            try await store.scheduleRetry(id: id, owner: "w", at: due, error: JobFailure(message: "cut", isRetryable: true),
                                          metadata: [NextAttemptDecision.previousDelayKey: NextAttemptDecision.metadataValue(for: delay)],
                                          now: now)
            await store.close()
            now = due
        }
        #expect(delays == expected)
        // The previous delay matters: without it, the same draws give another schedule.
        var forgetful = SeededRandomNumberGenerator(seed: 2026)
        let memoryless = (1...6).map { policy.backoff.delay(forRetry: $0, previous: nil, using: &forgetful) }
        #expect(memoryless != expected)
    }

    @Test func mirrorSwitchingFollowsTheErrorKind() {
        #expect(MirrorRotation.switchesSource(after: URLError(.cannotConnectToHost)))
        #expect(MirrorRotation.switchesSource(after: IncompleteDownloadError(expectedBytes: 10, receivedBytes: 5)))
        #expect(MirrorRotation.switchesSource(after: HTTPStatusError(status: 503)))
        #expect(MirrorRotation.switchesSource(after: RangeResumeError.stalled(timeout: .seconds(30))))
        #expect(!MirrorRotation.switchesSource(after: HTTPStatusError(status: 429)))
        #expect(!MirrorRotation.switchesSource(after: IntegrityError(mismatch: .length(expected: 1, actual: 2), isPermanent: false)))
        let job = DownloadJob(url: URL(string: "http://a/x")!, mirrors: [URL(string: "http://b/x")!, URL(string: "http://c/x")!],
                              destination: "/tmp/x", metadata: [MirrorRotation.metadataKey: "2"])
        #expect(MirrorRotation.currentURL(of: job).host == "c")
        #expect(MirrorRotation.nextIndex(of: job, after: URLError(.timedOut)) == 0)
        #expect(MirrorRotation.nextIndex(of: job, after: HTTPStatusError(status: 429)) == 2)
    }
}
