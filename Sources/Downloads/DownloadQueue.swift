import Foundation
import JobStores
import RangeResume
import ResilienceRetry
import ResilienceSemaphore
import ResilienceSupport
import Synchronization

/// A persistent, resumable download queue composed from the package's parts: any
/// ``JobStores/JobStore`` holds the jobs, an `AsyncSemaphore` bounds concurrency (globally and
/// optionally per host), a ``ResilienceRetry/RetryPolicy`` decides retries, and a `RangeResumer`
/// makes each attempt, resuming the `.part` file the previous attempt — or a crashed process —
/// left behind.
///
/// ```swift
/// let store = try FileJournalJobStore(path: journalPath)
/// let queue = DownloadQueue(store: store)
/// try await queue.start()                       // re-drives jobs a crashed run left behind
/// let id = try await queue.enqueue(url: url, destination: file, expectedSHA256: digest)
/// for await event in queue.events {
///     if case .completed(id, let result) = event { print(result.sha256 ?? ""); break }
/// }
/// await queue.stop(graceful: true)
/// ```
///
/// ### How it runs
/// - ``start()`` sweeps abandoned leases (`recoverAbandonedLeases`): jobs a dead process left
///   `running` become due again — at once when the store can prove the holder is gone (a
///   ``JobStores/FileJournalJobStore``: its lock), else when their leases expire — and resume
///   from their `.part` and sidecar.
/// - A dispatcher claims due jobs while a permit is free. When nothing is due it reads the store
///   once, then sleeps on the injected clock until the earliest `nextAttemptAt` (or an expiring
///   foreign lease) — or until an `enqueue`, `cancel` or finished attempt wakes it. It never
///   polls the store in a loop.
/// - While an attempt runs, its lease is renewed every
///   ``DownloadQueueConfiguration/leaseRenewalInterval`` (and the bytes written so far are
///   recorded). If renewal finds the lease lost, the attempt is abandoned.
/// - A transient failure is persisted with `scheduleRetry` at the policy's delay (a server's
///   `Retry-After` honoured); a permanent one, or one past the attempts or time budget, with
///   `fail` and the error's description.
/// - A job with mirrors (``enqueue(url:mirrors:destination:expectedLength:expectedSHA256:priority:maxAttempts:notBefore:metadata:)``)
///   tries `[url] + mirrors` in order: after a connection-level failure or a 5xx the next attempt
///   uses the next URL (wrapping around), resuming the `.part` from the same offset when
///   `RangeResumer`'s mirror rules allow (that URL's own validator, or a known length and an
///   expected SHA-256); validators are never sent across mirrors. The current mirror and the
///   previous backoff delay (for decorrelated jitter) are kept in the job's metadata, written
///   with each retry, so both survive a restart.
/// - Cancelling removes `<destination>.part` and its sidecar unless
///   ``DownloadQueueConfiguration/keepsPartialFilesOnCancel`` is set.
///
/// ### Guarantees
/// - A destination is downloaded by at most one job at a time: `enqueue` of a destination that
///   already has a non-terminal job returns that job's id — with the URL and mirrors of this
///   call (the URL typed now wins; see ``enqueue(url:mirrors:destination:expectedLength:expectedSHA256:priority:maxAttempts:notBefore:metadata:)``).
/// - A job is `completed` only after `RangeResumer` renamed the verified file into place (length
///   and, when given, SHA-256), so after a crash a `completed` job's file is whole.
/// - After a crash, work since the resumer's last checkpoint is fetched again — never spliced —
///   and the job's attempt count (persisted in the store) includes the interrupted attempt.
///
/// Time: retry waits and lease renewals sleep on `clock`; the wall time written to the store
/// comes from `now`. Transfers (stall detection, progress throttling) run on `transferClock`,
/// real time by default, so a test can drive `clock` by hand while bytes flow.
public actor DownloadQueue {
    /// The store holding every job of this queue (and possibly of other queues and processes).
    public nonisolated let store: any JobStore
    /// The settings this queue runs with.
    public nonisolated let configuration: DownloadQueueConfiguration
    /// Events about jobs, in order. One consumer; finished by ``stop(graceful:)``. Unbounded:
    /// progress is throttled, and a consumer that stops reading only costs memory.
    public nonisolated let events: AsyncStream<DownloadQueueEvent>

    private nonisolated let eventSink: AsyncStream<DownloadQueueEvent>.Continuation
    private nonisolated let clock: any Clock<Duration>
    private nonisolated let transferClock: any Clock<Duration>
    nonisolated let now: @Sendable () -> Date
    private nonisolated let resumer: RangeResumer
    private nonisolated let permits: AsyncSemaphore
    private nonisolated let wakeStream: AsyncStream<Void>
    private nonisolated let wakeSink: AsyncStream<Void>.Continuation

    private enum Phase { case idle, running, stopping(graceful: Bool), stopped }

    private var phase = Phase.idle
    private var dispatcher: Task<Void, Never>?
    private var workers: [UUID: Task<Void, Never>] = [:]
    private var cancelRequests: Set<UUID> = []
    /// Jobs cancelled while this queue ran no attempt of them (one id per such cancel).
    private var cancelledBeforeLaunch: Set<UUID> = []
    private var hostPermits: [String: AsyncSemaphore] = [:]
    private var random = SystemRandomNumberGenerator()

    /// Creates a stopped queue over `store`; call ``start()`` to begin downloading.
    ///
    /// - Parameters:
    ///   - store: where jobs live; a persistent one (``JobStores/FileJournalJobStore``) makes the
    ///     queue survive crashes.
    ///   - configuration: concurrency, retry policy, leases, resumer settings.
    ///   - clock: the clock retry waits and lease renewals sleep on. Default `ContinuousClock()`.
    ///   - transferClock: the clock each `RangeResumer` attempt measures stalls, slow transfers
    ///     and progress intervals on. Default `ContinuousClock()`.
    ///   - now: the wall time written to the store and compared with `nextAttemptAt`. Default
    ///     `Date()`; tests pass `{ manualClock.date }`.
    public init(
        store: any JobStore,
        configuration: DownloadQueueConfiguration = DownloadQueueConfiguration(),
        clock: some Clock<Duration> = ContinuousClock(),
        transferClock: some Clock<Duration> = ContinuousClock(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.configuration = configuration
        self.clock = clock
        self.transferClock = transferClock
        self.now = now
        self.resumer = RangeResumer(configuration: configuration.resumer, engine: configuration.engine,
                                    authorizer: configuration.authorizer)
        self.permits = AsyncSemaphore(permits: configuration.maxConcurrentDownloads)
        (events, eventSink) = AsyncStream.makeStream(of: DownloadQueueEvent.self)
        (wakeStream, wakeSink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    deinit {
        eventSink.finish()
        wakeSink.finish()
    }

    // MARK: Lifecycle

    /// Sweeps abandoned leases (re-driving the jobs a crashed process left `running`; see
    /// ``JobStores/JobStore/recoverAbandonedLeases(now:)``) and starts dispatching. Does nothing
    /// if the queue is already running.
    /// - Throws: the store's error if the sweep fails (the queue stays stopped);
    ///   ``DownloadQueueError/stopped`` after ``stop(graceful:)``.
    public func start() async throws {
        switch phase {
        case .running: return
        case .stopping, .stopped: throw DownloadQueueError.stopped
        case .idle: break
        }
        let recovered = try await store.recoverAbandonedLeases(now: now())
        guard case .idle = phase else { return }
        for id in recovered { eventSink.yield(.recovered(id: id)) }
        phase = .running
        dispatcher = Task { await self.dispatch() }
    }

    /// Stops the queue and finishes ``events``.
    ///
    /// - `graceful: true`: claims no new job and waits for the running attempts to end normally.
    /// - `graceful: false`: also cancels the running attempts; each is checkpointed and put back
    ///   in the store as due now (the interrupted attempt counts towards `maxAttempts`), to be
    ///   resumed by the next queue over the same store.
    ///
    /// Returns when no attempt of this queue is running any more. A stopped queue cannot be
    /// started again.
    public func stop(graceful: Bool) async {
        switch phase {
        case .stopped, .stopping: return
        case .idle:
            phase = .stopped
            eventSink.finish()
            return
        case .running: break
        }
        phase = .stopping(graceful: graceful)
        dispatcher?.cancel()
        await dispatcher?.value
        dispatcher = nil
        if !graceful { for worker in workers.values { worker.cancel() } }
        while let (_, worker) = workers.first {
            await worker.value
        }
        phase = .stopped
        eventSink.finish()
    }

    // MARK: Jobs

    /// Adds a download, or returns the id of the non-terminal job that already targets
    /// `destination` (nothing is downloaded twice).
    ///
    /// **The caller's URL wins.** When that open job has another `url` or `mirrors` (a
    /// re-issued presigned link, a server that moved), they are replaced by this call's in the
    /// store, and the next attempt starts from the new `url`. The URLs replaced are remembered
    /// as where the `.part` came from, so `RangeResumer`'s mirror rules decide what happens to
    /// it: it is continued when the new URL answered with its own validator before, or when its
    /// total length is known and the job has an expected SHA-256 (a plain `Range`, the final hash
    /// catching a splice); otherwise it restarts from zero. An attempt already running keeps its
    /// URL. The other fields of the open job (expected length and SHA-256, priority, attempts)
    /// stay as they were.
    ///
    /// - Parameters:
    ///   - url: an `http`/`https` URL.
    ///   - mirrors: other URLs serving the same bytes (at most 32), tried in order after `url`
    ///     when an attempt fails with a connection-level error or a 5xx. Default none.
    ///   - destination: a `file:` URL; its directory must exist when the attempt runs. The
    ///     download writes `<destination>.part` and `<destination>.part.meta` next to it.
    ///   - expectedLength: the exact size in bytes, when known (checked, and the byte cap).
    ///   - expectedSHA256: 64 hex digits, when known; the job completes only if it matches.
    ///   - priority: higher runs first; ties go to the oldest job. Default 0.
    ///   - maxAttempts: default the retry policy's `maxAttempts`.
    ///   - notBefore: the earliest wall time of the first attempt; default now.
    ///   - metadata: small caller data stored with the job.
    ///   - headers: header fields sent with every request of this job, on top of the configured
    ///     `additionalHeaders` (a field of the same name replaces the configured one). Stored
    ///     with the job, in clear: **never a secret** (use ``DownloadQueueConfiguration/authorizer``).
    ///     At most `DownloadJob.maximumHeaderBytes`. Default none.
    /// - Returns: the job's id.
    /// - Throws: ``DownloadQueueError/invalidDestination(_:)``;
    ///   ``DownloadQueueError/invalidArgument(_:)`` when `url`, a mirror, `headers` or the configured
    ///   `additionalHeaders` break the request-field rules (`RangeResume.RequestValidator`), before
    ///   anything is journaled; the store's `JobStoreError` (a store without
    ///   ``JobStores/JobStore/updateSources(id:url:mirrors:metadata:now:)`` throws `invalidArgument`
    ///   when the open job's URLs differ).
    @discardableResult
    public func enqueue(
        url: URL, mirrors: [URL] = [], destination: URL, expectedLength: Int64? = nil, expectedSHA256: String? = nil,
        priority: Int = 0, maxAttempts: Int? = nil, notBefore: Date? = nil, metadata: [String: String] = [:],
        headers: [String: String] = [:]
    ) async throws -> UUID {
        guard destination.isFileURL else { throw DownloadQueueError.invalidDestination(destination.absoluteString) }
        do throws(RangeResumeError) {
            try RequestValidator.validate(url: url, mirrors: mirrors, headers: configuration.resumer.additionalHeaders,
                                          headersField: "resumer.additionalHeaders")
            try RequestValidator.validate(headers: headers, field: "headers")
        } catch .invalidArgument(let reason) {
            throw DownloadQueueError.invalidArgument(reason)
        } catch {
            throw error  // the validator throws nothing else
        }
        let job = DownloadJob(
            url: url, mirrors: mirrors, destination: destination.standardizedFileURL.path, expectedLength: expectedLength,
            expectedSHA256: expectedSHA256?.lowercased(), priority: priority,
            maxAttempts: maxAttempts ?? configuration.retryPolicy.maxAttempts, notBefore: notBefore, metadata: metadata,
            headers: headers)
        let id = try await store.enqueue(job, now: now())
        if id == job.id { eventSink.yield(.enqueued(id: id)) } else { try await adoptSources(of: job, forOpenJob: id) }
        wakeSink.yield()
        return id
    }

    /// Cancels a job: it becomes `cancelled` in the store, a running attempt of this queue is
    /// stopped, and its `.part` and sidecar are removed (unless
    /// ``DownloadQueueConfiguration/keepsPartialFilesOnCancel``). A job running in another
    /// process stops at that process's next lease renewal.
    /// - Throws: `JobStoreError.illegalTransition` if the job already ended;
    ///   `JobStoreError.unknownJob` for an unknown id.
    public func cancel(_ id: UUID) async throws {
        guard let job = try await store.job(id: id) else { throw JobStoreError.unknownJob(id) }
        try await store.cancel(id: id, now: now())
        if let worker = workers[id] {
            cancelRequests.insert(id)
            worker.cancel()   // the worker removes the files once the attempt has stopped writing
        } else {
            // The dispatcher may hold a claim of this job it has not launched yet: it must not.
            cancelledBeforeLaunch.insert(id)
            removePartialFiles(of: job)
            eventSink.yield(.cancelled(id: id))
        }
        wakeSink.yield()
    }

    /// The job with this id as the store has it now, or `nil`.
    public func job(_ id: UUID) async throws -> DownloadJob? {
        try await store.job(id: id)
    }

    /// The jobs matching `query`, oldest first (see ``JobStores/JobStore/jobs(matching:)``).
    public func jobs(matching query: JobQuery = .all) async throws -> [DownloadJob] {
        try await store.jobs(matching: query)
    }

    // MARK: Dispatcher

    private var isRunning: Bool {
        if case .running = phase { return true }
        return false
    }

    /// Claims due jobs while permits are free; otherwise sleeps until the next due time or a wake.
    private func dispatch() async {
        var wakes = wakeStream.makeAsyncIterator()
        var claimTime: Date?   // a timer fired for this due time: claim as of it (see below)
        while isRunning && !Task.isCancelled {
            do { try await permits.acquire() } catch { return }
            guard isRunning else { permits.release(); return }
            let job: DownloadJob?
            var claimFailed = false
            let wokeForDueJob = claimTime != nil
            do {
                // A timer set from a wall-clock difference may fire a microsecond early; claiming
                // as of the due time it waited for keeps that from becoming a busy loop.
                let at = max(now(), claimTime ?? .distantPast)
                claimTime = nil
                job = try await store.claimNext(owner: configuration.owner, leaseFor: configuration.leaseDuration, now: at)
            } catch {
                job = nil
                claimFailed = true
            }
            if let job {
                if cancelledBeforeLaunch.remove(job.id) != nil {
                    permits.release()   // cancelled between its claim and now
                } else if workers[job.id] == nil {
                    launch(job)
                } else {
                    // Our own lease ran out while the attempt was still running (a late renewal)
                    // and the store let us claim the job again. The running attempt holds the
                    // renewed lease under the same owner; a second one would write the same .part.
                    permits.release()
                }
                continue
            }
            permits.release()
            if claimFailed {
                // The store failed (e.g. I/O): try again after a renewal interval, not at once.
                do { try await clock.sleep(for: configuration.leaseRenewalInterval) } catch { return }
                continue
            }
            // Woken for a due job that could not be claimed after all (another worker took it):
            // wait for a later due time or a signal, never spin on a past one.
            claimTime = await waitForWork(&wakes, skippingPastDueTimes: wokeForDueJob)
        }
    }

    /// Sleeps until the earliest due time in the store or a wake signal. Returns the due time if
    /// it passed (the timer fired, or it was already past), `nil` if a signal came first.
    private func waitForWork(_ wakes: inout AsyncStream<Void>.Iterator, skippingPastDueTimes: Bool) async -> Date? {
        let pending = (try? await store.jobs(matching: JobQuery(states: [.pending, .retrying, .running]))) ?? []
        let owner = configuration.owner, current = now()
        let due = pending.compactMap { job -> Date? in
            job.state == .running ? (job.leaseOwner == owner ? nil : job.leaseExpiresAt) : job.nextAttemptAt
        }.filter { !skippingPastDueTimes || $0 > current }.min()
        var timer: Task<Void, Never>?
        var firedAt: Date?
        if let due {
            let delay = Duration.rounded(seconds: due.timeIntervalSince(current))
            if delay == .zero { return due }
            let clock = self.clock, sink = wakeSink
            let fired = AtomicFlag()
            timer = Task {
                guard (try? await clock.sleep(for: delay)) != nil else { return }
                fired.set()
                sink.yield()
            }
            _ = await wakes.next(isolation: self)
            timer?.cancel()
            await timer?.value
            if fired.isSet { firedAt = due }
        } else {
            _ = await wakes.next(isolation: self)
        }
        return firedAt
    }

    private func launch(_ job: DownloadJob) {
        let worker = Task { await self.work(on: job) }
        workers[job.id] = worker
    }

    private func finished(_ id: UUID) {
        workers[id] = nil
        cancelRequests.remove(id)
        wakeSink.yield()
    }

    private func takeCancelRequest(_ id: UUID) -> Bool {
        cancelRequests.remove(id) != nil
    }

    private var isStoppingAbruptly: Bool {
        if case .stopping(graceful: false) = phase { return true }
        return false
    }

    private func hostSemaphore(for url: URL) -> AsyncSemaphore? {
        guard let limit = configuration.maxConcurrentDownloadsPerHost else { return nil }
        let host = url.host ?? ""
        if let semaphore = hostPermits[host] { return semaphore }
        let semaphore = AsyncSemaphore(permits: limit)
        hostPermits[host] = semaphore
        return semaphore
    }

    private func retryDecision(for error: any Error, job: DownloadJob, at date: Date) -> NextAttemptDecision {
        NextAttemptDecision.decide(for: error, job: job, policy: configuration.retryPolicy, now: date, using: &random)
    }

    // MARK: Worker

    /// Runs one attempt of a claimed job and records its outcome. Holds one global permit.
    private nonisolated func work(on job: DownloadJob) async {
        defer { permits.release() }
        eventSink.yield(.started(id: job.id, attempt: job.attempts))
        let outcome = await attempt(job, hostLimit: await hostSemaphore(for: MirrorRotation.currentURL(of: job)))
        await record(outcome, of: job)
        await finished(job.id)
    }

    /// The download with its lease renewal alongside: whichever ends first ends the other.
    private nonisolated func attempt(_ job: DownloadJob, hostLimit: AsyncSemaphore?) async -> Result<DownloadResult, any Error> {
        // The latest progress of the attempt: written by the resumer's callback, read by the lease
        // renewal.
        let latest = LockedValue<DownloadProgress?>(nil)
        let destination = URL(fileURLWithPath: job.destination)
        let sources = MirrorRotation.resumableSources(of: job), source = MirrorRotation.currentURL(of: job)
        return await withTaskGroup(of: Result<DownloadResult, any Error>?.self) { group in
            group.addTask { [resumer, transferClock, eventSink, configuration] in
                do {
                    if let hostLimit { try await hostLimit.acquire() }
                    defer { hostLimit?.release() }
                    let result = try await DownloadQueue.transfer(
                        with: resumer.adding(headers: job.headers), connections: configuration.connectionsPerDownload,
                        from: source, mirrors: sources, to: destination, expectedLength: job.expectedLength,
                        expectedSHA256: job.expectedSHA256, clock: transferClock
                    ) { progress in
                        latest.withLock { $0 = progress }
                        eventSink.yield(.progress(id: job.id, progress))
                    }
                    return .success(result)
                } catch {
                    return .failure(error)
                }
            }
            group.addTask { [self] in
                do {
                    try await renewLease(of: job, reporting: latest)
                    return nil
                } catch is CancellationError {
                    return nil
                } catch {
                    return .failure(error)
                }
            }
            var outcome: Result<DownloadResult, any Error>?
            while outcome == nil, let next = await group.next() {
                outcome = next
                group.cancelAll()
            }
            return outcome ?? .failure(CancellationError())
        }
    }

    /// Renews the lease and records progress every renewal interval until cancelled.
    /// - Throws: `JobStoreError.leaseLost` when the job was cancelled or taken over.
    private nonisolated func renewLease(of job: DownloadJob, reporting latest: LockedValue<DownloadProgress?>) async throws {
        var reported: Int64 = -1
        while true {
            try await clock.sleep(for: configuration.leaseRenewalInterval)
            do {
                try await store.renewLease(id: job.id, owner: configuration.owner,
                                           leaseFor: configuration.leaseDuration, now: now())
                if let progress = latest.withLock({ $0 }), progress.bytes != reported {
                    try await store.recordProgress(id: job.id, owner: configuration.owner, bytesDone: progress.bytes,
                                                   bytesTotal: progress.totalBytes, now: now())
                    reported = progress.bytes
                }
            } catch let error as JobStoreError {
                if case .leaseLost = error { throw error }
                // Another store failure (e.g. I/O): keep downloading and try again next time.
            }
        }
    }

    /// Persists the attempt's outcome and emits the matching events: decides the
    /// ``AttemptRecord`` (pure, asking the retry schedule only when needed), then executes it.
    private nonisolated func record(_ outcome: Result<DownloadResult, any Error>, of job: DownloadJob) async {
        let record: AttemptRecord
        let date = now()
        switch outcome {
        case .success(let result):
            record = .complete(result)
        case .failure(let error):
            if let early = AttemptRecord.beforeSchedule(
                for: error, cancelRequested: await takeCancelRequest(job.id), taskCancelled: Task.isCancelled,
                stoppingAbruptly: await isStoppingAbruptly) {
                record = early
            } else {
                record = AttemptRecord.afterSchedule(await retryDecision(for: error, job: job, at: date),
                                                     error: error, job: job, now: date)
            }
        }
        await execute(record, for: job, now: date)
    }

    /// Writes `record` to the store and emits its events. A write the store refuses (the job was
    /// cancelled or taken over meanwhile) is reported as such instead.
    private nonisolated func execute(_ record: AttemptRecord, for job: DownloadJob, now date: Date) async {
        let owner = configuration.owner
        switch record {
        case .complete(let result):
            do {
                try await store.complete(id: job.id, owner: owner, now: now())
                eventSink.yield(.completed(id: job.id, result))
            } catch {
                // Cancelled or taken over while finishing: the file is complete either way.
                await reportLostJob(job, cleanUp: false)
            }
        case .cancelled:
            removePartialFiles(of: job)
            eventSink.yield(.cancelled(id: job.id))
        case .interrupted(let failure):
            _ = try? await store.scheduleRetry(id: job.id, owner: owner, at: now(), error: failure, now: now())
        case .lost:
            await reportLostJob(job, cleanUp: true)
        case .retry(let due, let failure, let metadata, let mirror):
            do {
                let updated = try await store.scheduleRetry(id: job.id, owner: owner, at: due, error: failure,
                                                            metadata: metadata, now: date)
                if updated.state == .failed {
                    eventSink.yield(.failed(id: job.id, updated.lastError ?? failure))
                } else {
                    eventSink.yield(.retryScheduled(id: job.id, attempt: job.attempts, at: due, error: failure))
                    if let mirror { eventSink.yield(.switchedMirror(id: job.id, to: mirror)) }
                }
            } catch {
                await reportLostJob(job, cleanUp: true)
            }
        case .fail(let failure):
            do {
                try await store.fail(id: job.id, owner: owner, error: failure, now: date)
                eventSink.yield(.failed(id: job.id, failure))
            } catch {
                await reportLostJob(job, cleanUp: true)
            }
        }
    }

    /// The store refused this queue's update: the job was cancelled (clean up, report
    /// `cancelled`) or another worker holds it now (report `leaseLost`, touch nothing).
    private nonisolated func reportLostJob(_ job: DownloadJob, cleanUp: Bool) async {
        let current = try? await store.job(id: job.id)
        if current?.state == .cancelled {
            if cleanUp { removePartialFiles(of: job) }
            eventSink.yield(.cancelled(id: job.id))
        } else {
            eventSink.yield(.leaseLost(id: job.id))
        }
    }

    private nonisolated func removePartialFiles(of job: DownloadJob) {
        guard !configuration.keepsPartialFilesOnCancel else { return }
        let destination = URL(fileURLWithPath: job.destination)
        for file in [RangeResumer.partFileURL(for: destination), RangeResumer.sidecarURL(for: destination),
                     SegmentedDownload.sidecarURL(for: destination)] {
            try? FileManager.default.removeItem(at: file)
        }
    }
}
