import Foundation

/// A ``JobStore`` that keeps jobs in memory only: for tests, and for apps that need a validated
/// queue with leases but no persistence.
///
/// It is the reference implementation of the protocol's semantics (``FileJournalJobStore`` runs
/// the same state machine). All copies of the reference share one store; it is an actor, so calls
/// from any task are serialised. Nothing survives the process.
public actor InMemoryJobStore: JobStore {
    private var table = JobTable()

    /// Creates an empty store.
    public init() {}

    /// The number of jobs, terminal ones included.
    public var count: Int { table.count }

    /// Implements ``JobStore/enqueue(_:now:)``. Nothing survives the process.
    @discardableResult
    public func enqueue(_ job: DownloadJob, now: Date) throws -> UUID {
        try table.enqueue(job, now: now).id
    }

    /// Implements ``JobStore/claimNext(owner:leaseFor:now:)``. Nothing survives the process.
    public func claimNext(owner: String, leaseFor: Duration, now: Date) throws -> DownloadJob? {
        try table.claimNext(owner: owner, leaseFor: leaseFor, now: now).job
    }

    /// Implements ``JobStore/renewLease(id:owner:leaseFor:now:)``. Nothing survives the process.
    @discardableResult
    public func renewLease(id: UUID, owner: String, leaseFor: Duration, now: Date) throws -> DownloadJob {
        try JobTable.validateLease(leaseFor)
        return try table.apply(.renew(id: id, owner: owner, leaseExpiresAt: now + leaseFor.timeInterval, now: now))
    }

    /// Implements ``JobStore/recordProgress(id:owner:bytesDone:bytesTotal:now:)``. Nothing survives the process.
    public func recordProgress(id: UUID, owner: String, bytesDone: Int64, bytesTotal: Int64?, now: Date) throws {
        try table.apply(.progress(id: id, owner: owner, bytesDone: bytesDone, bytesTotal: bytesTotal, now: now))
    }

    /// Implements ``JobStore/complete(id:owner:now:)``. Nothing survives the process.
    public func complete(id: UUID, owner: String, now: Date) throws {
        try table.apply(.complete(id: id, owner: owner, now: now))
    }

    /// Implements ``JobStore/scheduleRetry(id:owner:at:error:now:)``. Nothing survives the process.
    @discardableResult
    public func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, now: Date) throws -> DownloadJob {
        try table.apply(.retry(id: id, owner: owner, at: at, error: error, now: now))
    }

    /// Implements ``JobStore/scheduleRetry(id:owner:at:error:metadata:now:)``. Nothing survives the process.
    @discardableResult
    public func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, metadata: [String: String],
                              now: Date) throws -> DownloadJob {
        try table.apply(.retryWithMetadata(id: id, owner: owner, at: at, error: error, metadata: metadata, now: now))
    }

    /// Implements ``JobStore/fail(id:owner:error:now:)``. Nothing survives the process.
    public func fail(id: UUID, owner: String, error: JobFailure, now: Date) throws {
        try table.apply(.fail(id: id, owner: owner, error: error, now: now))
    }

    /// Implements ``JobStore/cancel(id:now:)``. Nothing survives the process.
    public func cancel(id: UUID, now: Date) throws {
        try table.apply(.cancel(id: id, now: now))
    }

    /// Implements ``JobStore/job(id:)``. Reads only.
    public func job(id: UUID) -> DownloadJob? { table.job(id) }

    /// Implements ``JobStore/jobs(matching:)``. Reads only.
    public func jobs(matching query: JobQuery) -> [DownloadJob] { table.jobs(matching: query) }

    /// Implements ``JobStore/updateSources(id:url:mirrors:metadata:now:)``. Nothing survives the process.
    @discardableResult
    public func updateSources(id: UUID, url: URL, mirrors: [URL], metadata: [String: String], now: Date) throws -> DownloadJob {
        try table.apply(.updateSources(id: id, url: url, mirrors: mirrors, metadata: metadata, now: now))
    }

    /// Implements ``JobStore/recoverExpiredLeases(now:)``. Nothing survives the process.
    @discardableResult
    public func recoverExpiredLeases(now: Date) -> [UUID] {
        table.expireLeases(now: now).compactMap { record in
            if case .expire(let id, _) = record { id } else { nil }
        }
    }
}
