import Foundation

/// The single source of truth for download jobs: a queue with leases and a validated state
/// machine (see ``JobState``).
///
/// Workers call ``claimNext(owner:leaseFor:now:)`` to take the next due job for a lease, renew the
/// lease while they work (``renewLease(id:owner:leaseFor:now:)``), report progress, and finish
/// with ``complete(id:owner:now:)``, ``scheduleRetry(id:owner:at:error:now:)`` or
/// ``fail(id:owner:error:now:)``. A worker that dies simply stops renewing: once its lease
/// expires the job is claimable again, so one process, several processes or several machines
/// work the same way.
///
/// Every method takes the wall time `now` explicitly, so stores are testable without real time
/// (pass `Date()` in production).
///
/// ### Guarantees every conforming store gives
/// - A method that throws changed nothing.
/// - Two concurrent ``claimNext(owner:leaseFor:now:)`` calls never return the same job while its
///   lease is valid.
/// - A persistent store's method returns only after its change is durable under the store's
///   durability policy; after a crash, every change whose call returned is there and no change
///   is half-applied. A call interrupted by the crash is either fully there or fully absent.
///   ``InMemoryJobStore`` keeps nothing after the process ends.
///
/// `ResilienceTesting.JobStoreConformance` checks these rules against any implementation.
public protocol JobStore: Sendable {
    /// Adds a `pending` job and returns its id.
    ///
    /// **De-duplication:** if a non-terminal job (`pending`, `running` or `retrying`) already has
    /// the same ``DownloadJob/destination``, nothing is added and that job's id is returned. The
    /// store sets `state = .pending`, `attempts = 0`, clears progress, error and lease, sets
    /// `createdAt = updatedAt = now` and `nextAttemptAt = max(job.nextAttemptAt, now)`.
    /// - Throws: ``JobStoreError/invalidArgument(_:)`` for an empty destination, `maxAttempts < 1`,
    ///   an id already in the store, or fields over their size limits.
    /// - After a crash: the job is present if the call returned.
    @discardableResult
    func enqueue(_ job: DownloadJob, now: Date) async throws -> UUID

    /// Atomically claims the best due job for `owner` until `now + leaseFor`, or returns `nil`.
    ///
    /// Candidates are `pending`/`retrying` jobs with `nextAttemptAt <= now`, plus `running` jobs
    /// whose lease expired at or before `now` (those first move to `retrying`, or to `failed`
    /// when their attempts are exhausted, exactly as ``recoverExpiredLeases(now:)`` does). The
    /// winner has the highest priority, then the oldest `createdAt`, then the earliest enqueue.
    /// The claimed job is `running`, `attempts` is incremented. Cost: O(log n).
    /// - After a crash: a returned claim is durable; a claim whose call did not return may be
    ///   present (its lease then expires normally).
    func claimNext(owner: String, leaseFor: Duration, now: Date) async throws -> DownloadJob?

    /// Extends the lease of a job `owner` holds to `now + leaseFor`.
    /// - Throws: ``JobStoreError/leaseLost(job:owner:)`` if `owner` does not hold the lease.
    /// - After a crash: the new expiry is durable if the call returned.
    @discardableResult
    func renewLease(id: UUID, owner: String, leaseFor: Duration, now: Date) async throws -> DownloadJob

    /// Records the bytes written so far (call it throttled, e.g. once a second).
    /// `bytesTotal == nil` keeps the previous total.
    /// - Throws: ``JobStoreError/leaseLost(job:owner:)``; `invalidArgument` for negative counts.
    /// - After a crash: the progress is durable if the call returned.
    func recordProgress(id: UUID, owner: String, bytesDone: Int64, bytesTotal: Int64?, now: Date) async throws

    /// Marks a job `owner` holds `completed` and releases its lease.
    /// - Throws: ``JobStoreError/leaseLost(job:owner:)``, or
    ///   ``JobStoreError/illegalTransition(job:from:to:)`` if the job is already terminal (a job
    ///   is never completed twice).
    /// - After a crash: the job is `completed` if the call returned.
    func complete(id: UUID, owner: String, now: Date) async throws

    /// Ends the current attempt with a retryable `error`: the job becomes `retrying`, due at
    /// `at`, or `failed` if `attempts >= maxAttempts`. Returns the updated job.
    /// - Throws: like ``complete(id:owner:now:)``.
    /// - After a crash: the new state is durable if the call returned.
    @discardableResult
    func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, now: Date) async throws -> DownloadJob

    /// ``scheduleRetry(id:owner:at:error:now:)`` that also merges `metadata` into the job's
    /// ``DownloadJob/metadata`` (a key given replaces its value; other keys stay), in the same
    /// atomic change — workers keep what must survive between attempts there (a
    /// `DownloadQueue` keeps its current mirror and its previous backoff delay).
    /// - Throws: like ``complete(id:owner:now:)``; ``JobStoreError/invalidArgument(_:)`` if the
    ///   merged metadata would exceed ``DownloadJob/maximumMetadataBytes`` (nothing changes).
    /// - After a crash: the new state and metadata are durable together if the call returned.
    ///
    /// A default implementation, for stores written before this requirement, ignores `metadata`
    /// and calls ``scheduleRetry(id:owner:at:error:now:)``; the package's stores persist it.
    @discardableResult
    func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, metadata: [String: String],
                       now: Date) async throws -> DownloadJob

    /// Ends a job `owner` holds as `failed` with `error`.
    /// - Throws: like ``complete(id:owner:now:)``.
    /// - After a crash: the job is `failed` if the call returned.
    func fail(id: UUID, owner: String, error: JobFailure, now: Date) async throws

    /// Cancels a non-terminal job (no lease needed). A worker running it finds out on its next
    /// renew or progress report, which throws ``JobStoreError/leaseLost(job:owner:)`` (its
    /// complete/fail/retry throw ``JobStoreError/illegalTransition(job:from:to:)``).
    /// - Throws: ``JobStoreError/illegalTransition(job:from:to:)`` if the job is already terminal.
    /// - After a crash: the job is `cancelled` if the call returned.
    func cancel(id: UUID, now: Date) async throws

    /// The job with this id, or `nil`. Reads never write.
    func job(id: UUID) async throws -> DownloadJob?

    /// The jobs matching `query`, oldest first (by `createdAt`, then enqueue order). O(n).
    func jobs(matching query: JobQuery) async throws -> [DownloadJob]

    /// The zombie sweep of a restarted process: every `running` job whose lease expired at or
    /// before `now` becomes `retrying` (due at `now`), or `failed` if its attempts are
    /// exhausted. Returns the ids swept, in expiry order.
    /// - After a crash: the sweep is durable if the call returned; a partly done sweep is
    ///   finished by the next sweep or claim.
    @discardableResult
    func recoverExpiredLeases(now: Date) async throws -> [UUID]

    /// Replaces the ``DownloadJob/url`` and ``DownloadJob/mirrors`` of a non-terminal job and
    /// merges `metadata` into its ``DownloadJob/metadata``, in one atomic change; its state,
    /// attempts and lease stay as they are (an attempt already running keeps the URL it started
    /// with; the next attempt uses the new one). A `DownloadQueue` calls it when a caller enqueues
    /// a destination that already has an open job with other URLs: the caller's URLs win.
    /// - Throws: ``JobStoreError/unknownJob(_:)``; ``JobStoreError/illegalTransition(job:from:to:)``
    ///   if the job is terminal; ``JobStoreError/invalidArgument(_:)`` for a URL over its size
    ///   limit, too many mirrors, or metadata over ``DownloadJob/maximumMetadataBytes``.
    /// - After a crash: the new URLs are durable if the call returned.
    ///
    /// A default implementation, for stores written before this requirement, throws
    /// ``JobStoreError/invalidArgument(_:)`` ("cannot update"); the package's stores implement it.
    @discardableResult
    func updateSources(id: UUID, url: URL, mirrors: [URL], metadata: [String: String], now: Date) async throws -> DownloadJob

    /// ``recoverExpiredLeases(now:)`` plus the leases the store can *prove* nobody holds any more,
    /// expired or not: a restarted process calls it so the jobs a dead process left `running` are
    /// due at once rather than when their leases run out. Returns the ids swept.
    ///
    /// A ``FileJournalJobStore`` proves it with its exclusive lock: every lease that was in the
    /// journal when it was opened belonged to a process that has closed the journal or died, so
    /// those still held under that same lease are released. A shared store (a database several
    /// machines use) cannot tell a dead holder from a live one: the default implementation
    /// sweeps only expired leases (``recoverExpiredLeases(now:)``).
    /// - After a crash: like ``recoverExpiredLeases(now:)``.
    @discardableResult
    func recoverAbandonedLeases(now: Date) async throws -> [UUID]
}

extension JobStore {
    /// Ignores `metadata`: see ``JobStore/scheduleRetry(id:owner:at:error:metadata:now:)``.
    @discardableResult
    public func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, metadata: [String: String],
                              now: Date) async throws -> DownloadJob {
        try await scheduleRetry(id: id, owner: owner, at: at, error: error, now: now)
    }
}

extension JobStore {
    /// Refuses: see ``JobStore/updateSources(id:url:mirrors:metadata:now:)``.
    @discardableResult
    public func updateSources(id: UUID, url: URL, mirrors: [URL], metadata: [String: String],
                              now: Date) async throws -> DownloadJob {
        throw JobStoreError.invalidArgument("\(type(of: self)) cannot update the URLs of job \(id)")
    }

    /// Sweeps expired leases only: see ``JobStore/recoverAbandonedLeases(now:)``.
    @discardableResult
    public func recoverAbandonedLeases(now: Date) async throws -> [UUID] {
        try await recoverExpiredLeases(now: now)
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) * 1e-18
    }
}
