import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceTesting
import ResilienceRetry
import Testing

/// DownloadQueue against `FaultyHTTPServer` over loopback: retry waits and lease renewals run on
/// a `ManualClock` (driven by the tests), transfers on real time.
@Suite("DownloadQueue", .timeLimit(.minutes(2)))
struct DownloadQueueTests {
    static let size = 256 << 10

    /// A server, a scratch directory, a manual clock and an in-memory store.
    struct Fixture {
        let server: FaultyHTTPServer
        let dir: ScratchDirectory
        let clock = ManualClock()
        let store = InMemoryJobStore()

        init() throws {
            server = try FaultyHTTPServer()
            dir = try ScratchDirectory()
        }

        /// Serves seeded bytes at `/<name>` and returns them.
        func serve(_ name: String, size: Int = DownloadQueueTests.size, seed: UInt64) -> [UInt8] {
            let body = seededBytes(size, seed: seed)
            server.serve(body, at: "/" + name)
            return body
        }

        func queue(_ configuration: DownloadQueueConfiguration = .init()) -> DownloadQueue {
            DownloadQueue(store: store, configuration: configuration, clock: clock, now: clock.dateSource)
        }

        func tearDown() {
            server.stop()
            dir.cleanup()
        }
    }

    static func policy(maxAttempts: Int = 5, backoff: Duration = .seconds(5), maxRetryAfter: Duration = .seconds(300)) -> RetryPolicy {
        try! RetryPolicy(maxAttempts: maxAttempts, backoff: .constant(backoff), maxRetryAfter: maxRetryAfter)
    }

    @Test func completesJobsByteExactWithVerifiedSHA256() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let queue = fixture.queue()
        let events = EventRecorder.recording(queue)
        var expected: [UUID: [UInt8]] = [:]
        for index in 0..<5 {
            let body = fixture.serve("f\(index).bin", seed: UInt64(index))
            let id = try await queue.enqueue(url: fixture.server.url(for: "/f\(index).bin"),
                                             destination: fixture.dir.file("f\(index).bin"),
                                             expectedLength: Int64(body.count), expectedSHA256: SHA256Hasher.hex(of: body))
            expected[id] = body
        }
        try await queue.start()
        let seen = await events.waitForTerminal(Array(expected.keys))
        await queue.stop(graceful: true)
        for (id, body) in expected {
            let job = try #require(try await queue.job(id))
            #expect(job.state == .completed && job.attempts == 1)
            let destination = URL(fileURLWithPath: job.destination)
            #expect(contents(of: destination) == Data(body))
            #expect(!exists(RangeResumer.partFileURL(for: destination)) && !exists(RangeResumer.sidecarURL(for: destination)))
            let result = seen.compactMap { if case let .completed(eventID, result) = $0, eventID == id { result } else { nil } }
            #expect(result.first?.sha256 == SHA256Hasher.hex(of: body))
        }
        #expect(seen.maximumConcurrency <= 3)
    }

    @Test func concurrencyLimitHoldsAndCancelRemovesThePartFile() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let bodies = (0..<3).map { fixture.serve("c\($0).bin", seed: 100 + UInt64($0)) }
        // The first two responses stall mid-body: they hold both permits until cancelled.
        fixture.server.enqueueFaults([.stallAfter(bytes: 64 << 10)], for: "/c0.bin")
        fixture.server.enqueueFaults([.stallAfter(bytes: 64 << 10)], for: "/c1.bin")
        let queue = fixture.queue(.init(maxConcurrentDownloads: 2, resumer: .init(writeBatchSize: 16 << 10)))
        let events = EventRecorder.recording(queue)
        var ids: [UUID] = []
        for index in 0..<3 {
            ids.append(try await queue.enqueue(url: fixture.server.url(for: "/c\(index).bin"),
                                               destination: fixture.dir.file("c\(index).bin"), priority: 3 - index))
        }
        try await queue.start()
        let stalled = ids[0...1]
        // The first snapshot comes once the response head was accepted and the .part opened.
        await events.wait { events in
            Set(events.compactMap { if case let .progress(id, _) = $0 { id } else { nil } }).isSuperset(of: stalled)
        }
        #expect(await fixture.server.requests(atLeast: 2).count == 2)
        let running = try await queue.jobs(matching: JobQuery(states: [.running]))
        #expect(Set(running.map(\.id)) == Set(stalled))
        #expect(try await queue.job(ids[2])?.state == .pending)
        let part = RangeResumer.partFileURL(for: fixture.dir.file("c0.bin"))
        #expect(exists(part))

        try await queue.cancel(ids[0])
        await events.waitForTerminal([ids[0], ids[2]])
        #expect(!exists(part) && !exists(RangeResumer.sidecarURL(for: fixture.dir.file("c0.bin"))))
        #expect(contents(of: fixture.dir.file("c2.bin")) == Data(bodies[2]))
        try await queue.cancel(ids[1])
        let seen = await events.waitForTerminal(ids)
        await queue.stop(graceful: true)
        #expect(seen.maximumConcurrency == 2)
        let cancelledStates = [try await queue.job(ids[0])?.state, try await queue.job(ids[1])?.state]
        #expect(cancelledStates == [.cancelled, .cancelled])
        #expect(!exists(RangeResumer.partFileURL(for: fixture.dir.file("c1.bin"))))
        await #expect(throws: JobStoreError.self) { try await queue.cancel(ids[2]) }
    }

    @Test func transientFailureRetriesAtThePolicyDelay() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let body = fixture.serve("r.bin", seed: 7)
        fixture.server.enqueueFaults([.dropAfter(bytes: 100_000)], for: "/r.bin")
        let queue = fixture.queue(.init(retryPolicy: Self.policy(backoff: .seconds(5))))
        let events = EventRecorder.recording(queue)
        let start = fixture.clock.date
        let id = try await queue.enqueue(url: fixture.server.url(for: "/r.bin"), destination: fixture.dir.file("r.bin"))
        try await queue.start()
        let retried = await events.wait { !$0.retries.isEmpty }.retries
        #expect(retried.count == 1 && retried.first?.at == start.addingTimeInterval(5))
        #expect(retried.first?.error.isRetryable == true)
        #expect(try await queue.job(id)?.state == .retrying)

        // The dispatcher now sleeps on the clock until the retry is due, and only then.
        await fixture.clock.sleepers(atLeast: 1)
        #expect(fixture.clock.nextDeadline == ManualClock.Instant(offset: .seconds(5)))
        fixture.clock.advance(by: .milliseconds(4900))
        #expect(fixture.server.requests(for: "/r.bin").count == 1)
        fixture.clock.advance(by: .milliseconds(100))
        let seen = await events.waitForTerminal([id])
        await queue.stop(graceful: true)

        let sent = fixture.server.requests(for: "/r.bin")
        #expect(sent.count == 2)
        let resumedFrom = seen.compactMap { if case let .completed(_, result) = $0 { result.resumedFrom } else { nil } }.first
        #expect(resumedFrom.map { $0 > 0 && sent[1].range == RangeResumer.Engine.urlSession.rangeField(from: $0) } == true)
        #expect(contents(of: fixture.dir.file("r.bin")) == Data(body))
        #expect(try await queue.job(id)?.attempts == 2)
    }

    @Test func retryAfterFromTheServerIsHonoured() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let body = fixture.serve("ra.bin", seed: 8)
        fixture.server.enqueueFaults([.serviceUnavailable(retryAfter: "42")], for: "/ra.bin")
        let queue = fixture.queue(.init(retryPolicy: Self.policy(backoff: .seconds(1))))
        let events = EventRecorder.recording(queue)
        let start = fixture.clock.date
        let id = try await queue.enqueue(url: fixture.server.url(for: "/ra.bin"), destination: fixture.dir.file("ra.bin"))
        try await queue.start()
        let retried = await events.wait { !$0.retries.isEmpty }.retries
        #expect(retried.first?.at == start.addingTimeInterval(42))
        #expect(retried.first?.error.message.contains("503") == true)
        await fixture.clock.sleepers(atLeast: 1)
        #expect(fixture.clock.nextDeadline == ManualClock.Instant(offset: .seconds(42)))
        fixture.clock.advance(by: .seconds(42))
        await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        #expect(contents(of: fixture.dir.file("ra.bin")) == Data(body))
    }

    @Test func permanent404FailsWithTheReasonRecorded() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let queue = fixture.queue(.init(retryPolicy: Self.policy()))
        let events = EventRecorder.recording(queue)
        let id = try await queue.enqueue(url: fixture.server.url(for: "/missing.bin"), destination: fixture.dir.file("m.bin"))
        try await queue.start()
        let seen = await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        let job = try #require(try await queue.job(id))
        #expect(job.state == .failed && job.attempts == 1)
        #expect(job.lastError?.isRetryable == false && job.lastError?.message.contains("404") == true)
        #expect(seen.contains { if case .failed(id, let failure) = $0 { failure == job.lastError } else { false } })
        #expect(fixture.server.requests(for: "/missing.bin").count == 1)
        #expect(!exists(fixture.dir.file("m.bin")))
    }

    @Test func attemptsExhaustedFailsTheJob() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        _ = fixture.serve("x.bin", seed: 9)
        fixture.server.enqueueFaults([.status(500), .status(500)], for: "/x.bin")
        let queue = fixture.queue(.init(retryPolicy: Self.policy(maxAttempts: 2, backoff: .zero)))
        let events = EventRecorder.recording(queue)
        let id = try await queue.enqueue(url: fixture.server.url(for: "/x.bin"), destination: fixture.dir.file("x.bin"))
        try await queue.start()
        let seen = await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        let job = try #require(try await queue.job(id))
        #expect(job.state == .failed && job.attempts == 2 && job.lastError?.isRetryable == true)
        #expect(seen.retries.count == 1)
    }

    @Test func enqueueDeduplicatesByDestination() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let body = fixture.serve("d.bin", seed: 10)
        let queue = fixture.queue()
        let events = EventRecorder.recording(queue)
        let url = fixture.server.url(for: "/d.bin")
        let first = try await queue.enqueue(url: url, destination: fixture.dir.file("d.bin"))
        let second = try await queue.enqueue(url: url, destination: fixture.dir.file("./d.bin"))
        #expect(first == second)
        try await queue.start()
        let seen = await events.waitForTerminal([first])
        await queue.stop(graceful: true)
        #expect(seen.filter { if case .enqueued = $0 { true } else { false } }.count == 1)
        #expect(fixture.server.requests(for: "/d.bin").count == 1)
        #expect(try await queue.jobs().count == 1)
        #expect(contents(of: fixture.dir.file("d.bin")) == Data(body))
        await #expect(throws: DownloadQueueError.self) {
            try await queue.enqueue(url: url, destination: URL(string: "https://example.com/x")!)
        }
    }

    @Test func restartRecoversAnExpiredLeaseAndResumesThePartFile() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let body = fixture.serve("big.bin", size: 1 << 20, seed: 11)
        let url = fixture.server.url(for: "/big.bin")
        let destination = fixture.dir.file("big.bin")
        let journal = fixture.dir.file("jobs.journal").path
        // A "crashed" process: it claimed the job and had fetched 300,000 bytes when it died.
        fixture.server.enqueueFaults([.dropAfter(bytes: 300_000)], for: "/big.bin")
        await #expect(throws: IncompleteDownloadError.self) {
            try await RangeResumer().download(from: url, to: destination)
        }
        do {
            let store = try FileJournalJobStore(path: journal)
            let id = try await store.enqueue(DownloadJob(url: url, destination: destination.path), now: fixture.clock.date)
            let claimed = try await store.claimNext(owner: "crashed", leaseFor: .seconds(30), now: fixture.clock.date)
            #expect(claimed?.id == id && claimed?.state == .running)
            await store.close()
        }
        fixture.clock.advance(by: .seconds(31))

        let store = try FileJournalJobStore(path: journal)
        let queue = DownloadQueue(store: store, clock: fixture.clock, now: fixture.clock.dateSource)
        let events = EventRecorder.recording(queue)
        try await queue.start()
        let recovered = await events.wait { $0.contains { if case .recovered = $0 { true } else { false } } }
        let id = try #require(recovered.first?.id)
        let seen = await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        let job = try #require(try await queue.job(id))
        #expect(job.state == .completed && job.attempts == 2 && job.leaseOwner == nil)
        let result = seen.compactMap { if case let .completed(_, result) = $0 { result } else { nil } }.first
        let resumedFrom = try #require(result?.resumedFrom)
        #expect(resumedFrom > 0 && resumedFrom <= 300_000)
        #expect(fixture.server.requests(for: "/big.bin").last?.range == RangeResumer.Engine.urlSession.rangeField(from: resumedFrom))
        #expect(contents(of: destination) == Data(body))
        await store.close()
    }

    @Test func stopInterruptsRunningAttemptsAndANewQueueResumesThem() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let body = fixture.serve("s.bin", seed: 12)
        fixture.server.enqueueFaults([.stallAfter(bytes: 50_000)], for: "/s.bin")
        let queue = fixture.queue(.init(resumer: .init(writeBatchSize: 16 << 10)))
        let events = EventRecorder.recording(queue)
        let id = try await queue.enqueue(url: fixture.server.url(for: "/s.bin"), destination: fixture.dir.file("s.bin"))
        try await queue.start()
        await events.wait { $0.contains { if case .progress = $0 { true } else { false } } }
        await queue.stop(graceful: false)
        let interrupted = try #require(await fixture.store.job(id: id))
        #expect(interrupted.state == .retrying && interrupted.lastError?.message.contains("stopped") == true)
        await #expect(throws: DownloadQueueError.stopped) { try await queue.start() }

        let next = fixture.queue()
        let nextEvents = EventRecorder.recording(next)
        try await next.start()
        await nextEvents.waitForTerminal([id])
        await next.stop(graceful: true)
        #expect(try await next.job(id)?.state == .completed)
        #expect(contents(of: fixture.dir.file("s.bin")) == Data(body))
    }

    @Test func perHostLimitQueuesASecondDownloadFromTheSameHost() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        _ = fixture.serve("h0.bin", seed: 20)
        let body = fixture.serve("h1.bin", seed: 21)
        fixture.server.enqueueFaults([.stallAfterHeaders], for: "/h0.bin")
        let queue = fixture.queue(.init(maxConcurrentDownloads: 3, maxConcurrentDownloadsPerHost: 1))
        let events = EventRecorder.recording(queue)
        let first = try await queue.enqueue(url: fixture.server.url(for: "/h0.bin"), destination: fixture.dir.file("h0.bin"), priority: 1)
        let second = try await queue.enqueue(url: fixture.server.url(for: "/h1.bin"), destination: fixture.dir.file("h1.bin"))
        try await queue.start()
        // Both are claimed (a global permit each), but only the first got the host's permit.
        await events.wait { events in
            events.contains { if case .progress(first, _) = $0 { true } else { false } }
                && events.contains { if case .started(second, _) = $0 { true } else { false } }
        }
        #expect(fixture.server.requests(for: "/h1.bin").isEmpty)
        try await queue.cancel(first)
        await events.waitForTerminal([first, second])
        await queue.stop(graceful: true)
        #expect(contents(of: fixture.dir.file("h1.bin")) == Data(body))
        #expect(try await queue.job(second)?.state == .completed)
    }

    @Test(arguments: [false, true])
    func cancelRemovesOrKeepsThePartialFilesOfAWaitingJob(keeps: Bool) async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let queue = fixture.queue(.init(keepsPartialFilesOnCancel: keeps))
        let destination = fixture.dir.file("k.bin")
        let id = try await queue.enqueue(url: fixture.server.url(for: "/k.bin"), destination: destination)
        let files = [RangeResumer.partFileURL(for: destination), RangeResumer.sidecarURL(for: destination)]
        for file in files { try Data("partial".utf8).write(to: file) }
        try await queue.cancel(id)
        #expect(files.map(exists) == [keeps, keeps])
        #expect(try await queue.job(id)?.state == .cancelled)
        await queue.stop(graceful: true)
    }

    @Test func leaseIsRenewedWhileRunningAndACancelThroughTheStoreStopsTheAttempt() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        _ = fixture.serve("l.bin", seed: 30)
        fixture.server.enqueueFaults([.stallAfterHeaders], for: "/l.bin")
        let queue = fixture.queue(.init(leaseDuration: .seconds(30), leaseRenewalInterval: .seconds(10)))
        let events = EventRecorder.recording(queue)
        let destination = fixture.dir.file("l.bin")
        let id = try await queue.enqueue(url: fixture.server.url(for: "/l.bin"), destination: destination)
        try await queue.start()
        await events.wait { $0.contains { if case .progress(id, _) = $0 { true } else { false } } }
        let claimed = try #require(await fixture.store.job(id: id))
        #expect(claimed.leaseExpiresAt == fixture.clock.date.addingTimeInterval(30))

        // The renewal loop is the only sleeper: advancing wakes it; once it sleeps again it renewed.
        await fixture.clock.sleepers(atLeast: 1)
        fixture.clock.advance(by: .seconds(10))
        await fixture.clock.sleepers(atLeast: 1)
        let renewed = try #require(await fixture.store.job(id: id))
        #expect(renewed.state == .running && renewed.leaseExpiresAt == fixture.clock.date.addingTimeInterval(30))

        // Another party cancels through the store: the next renewal finds the lease lost.
        try await fixture.store.cancel(id: id, now: fixture.clock.date)
        fixture.clock.advance(by: .seconds(10))
        await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        #expect(await events.events.contains(.cancelled(id: id)))
        #expect(!exists(RangeResumer.partFileURL(for: destination)))
    }
}
