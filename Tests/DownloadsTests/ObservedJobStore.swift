import Foundation
import JobStores

/// A ``JobStore`` that forwards to another and tells a ``SimulationMonitor`` when an attempt
/// starts (a claim) and ends (`complete`, `scheduleRetry` or `fail`, whether or not the store
/// accepted it), synchronously with the queue's own steps.
struct ObservedJobStore: JobStore {
    let inner: any JobStore
    let monitor: SimulationMonitor

    func enqueue(_ job: DownloadJob, now: Date) async throws -> UUID { try await inner.enqueue(job, now: now) }

    func claimNext(owner: String, leaseFor: Duration, now: Date) async throws -> DownloadJob? {
        let job = try await inner.claimNext(owner: owner, leaseFor: leaseFor, now: now)
        if let job { monitor.attemptStarted(job.id) }
        return job
    }

    func renewLease(id: UUID, owner: String, leaseFor: Duration, now: Date) async throws -> DownloadJob {
        try await inner.renewLease(id: id, owner: owner, leaseFor: leaseFor, now: now)
    }

    func recordProgress(id: UUID, owner: String, bytesDone: Int64, bytesTotal: Int64?, now: Date) async throws {
        try await inner.recordProgress(id: id, owner: owner, bytesDone: bytesDone, bytesTotal: bytesTotal, now: now)
    }

    func complete(id: UUID, owner: String, now: Date) async throws {
        defer { monitor.attemptEnded(id) }
        try await inner.complete(id: id, owner: owner, now: now)
    }

    func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, now: Date) async throws -> DownloadJob {
        defer { monitor.attemptEnded(id) }
        return try await inner.scheduleRetry(id: id, owner: owner, at: at, error: error, now: now)
    }

    func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, metadata: [String: String],
                       now: Date) async throws -> DownloadJob {
        defer { monitor.attemptEnded(id) }
        return try await inner.scheduleRetry(id: id, owner: owner, at: at, error: error, metadata: metadata, now: now)
    }

    func fail(id: UUID, owner: String, error: JobFailure, now: Date) async throws {
        defer { monitor.attemptEnded(id) }
        try await inner.fail(id: id, owner: owner, error: error, now: now)
    }

    func cancel(id: UUID, now: Date) async throws { try await inner.cancel(id: id, now: now) }

    func job(id: UUID) async throws -> DownloadJob? { try await inner.job(id: id) }

    func jobs(matching query: JobQuery) async throws -> [DownloadJob] { try await inner.jobs(matching: query) }

    func recoverExpiredLeases(now: Date) async throws -> [UUID] { try await inner.recoverExpiredLeases(now: now) }

    func updateSources(id: UUID, url: URL, mirrors: [URL], metadata: [String: String], now: Date) async throws -> DownloadJob {
        try await inner.updateSources(id: id, url: url, mirrors: mirrors, metadata: metadata, now: now)
    }

    func recoverAbandonedLeases(now: Date) async throws -> [UUID] { try await inner.recoverAbandonedLeases(now: now) }
}
