import Foundation
import JobStores

/// The shared behaviour every ``JobStores/JobStore`` must have, as a reusable check list.
///
/// Run it from your own tests against your own store (each check gets a fresh, empty store from
/// `makeStore`):
/// ```swift
/// @Test(arguments: JobStoreConformance.checks)
/// func conforms(_ check: JobStoreConformance.Check) async throws {
///     try await check.run { MyPostgresJobStore(url: testDatabase()) }
/// }
/// ```
/// or all at once with ``run(makeStore:)``. A failed check throws ``ConformanceFailure`` naming
/// the check and what differed. The checks use fixed wall times (no real time, no sleeps).
/// This file does not import `Testing`, so it can ship in a library.
public enum JobStoreConformance {
    /// One named conformance check.
    public struct Check: Sendable, CustomStringConvertible {
        /// A short name, e.g. `"claimOrder"`.
        public let name: String
        let body: @Sendable (any JobStore) async throws -> Void

        /// Runs the check on a fresh store from `makeStore`.
        /// - Throws: ``ConformanceFailure`` when the store misbehaves; whatever `makeStore` throws.
        public func run(makeStore: @Sendable () async throws -> any JobStore) async throws {
            let store = try await makeStore()
            do {
                try await body(store)
            } catch let failure as ConformanceFailure {
                throw failure
            } catch {
                throw ConformanceFailure(check: name, message: "unexpected error: \(error)")
            }
        }

        /// A one-line human-readable form.

        public var description: String { name }
    }

    /// Runs every check in ``checks``, each on a fresh store; stops at the first failure.
    public static func run(makeStore: @Sendable () async throws -> any JobStore) async throws {
        for check in checks { try await check.run(makeStore: makeStore) }
    }

    /// Every check, in a stable order.
    public static let checks: [Check] = [
        Check(name: "enqueueAndRead", body: enqueueAndRead),
        Check(name: "destinationDeduplication", body: destinationDeduplication),
        Check(name: "invalidEnqueueRejected", body: invalidEnqueueRejected),
        Check(name: "claimOrder", body: claimOrder),
        Check(name: "claimSkipsJobsNotDue", body: claimSkipsJobsNotDue),
        Check(name: "claimOnEmptyStoreReturnsNil", body: claimOnEmptyStoreReturnsNil),
        Check(name: "expiredLeaseIsReclaimable", body: expiredLeaseIsReclaimable),
        Check(name: "renewLease", body: renewLease),
        Check(name: "recordProgress", body: recordProgress),
        Check(name: "completeOnlyOnce", body: completeOnlyOnce),
        Check(name: "scheduleRetryThenExhaust", body: scheduleRetryThenExhaust),
        Check(name: "scheduleRetryMergesMetadata", body: scheduleRetryMergesMetadata),
        Check(name: "failIsTerminal", body: failIsTerminal),
        Check(name: "cancel", body: cancel),
        Check(name: "illegalCallsChangeNothing", body: illegalCallsChangeNothing),
        Check(name: "unknownJob", body: unknownJob),
        Check(name: "jobsMatching", body: jobsMatching),
        Check(name: "recoverExpiredLeases", body: recoverExpiredLeases),
        Check(name: "concurrentClaimsAreExclusive", body: concurrentClaimsAreExclusive),
        Check(name: "updateSources", body: updateSources),
        Check(name: "headersPersist", body: headersPersist),
    ]

    // MARK: Helpers

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    static func at(_ seconds: TimeInterval) -> Date { t0 + seconds }

    static func newJob(_ name: String, priority: Int = 0, maxAttempts: Int = 3, notBefore: Date? = nil) -> DownloadJob {
        DownloadJob(
            url: URL(string: "https://example.com/\(name)")!, destination: "/downloads/\(name)",
            priority: priority, maxAttempts: maxAttempts, notBefore: notBefore, metadata: ["name": name]
        )
    }

    static func require(_ condition: Bool, _ message: @autoclosure () -> String, check: String = #function) throws {
        if !condition { throw ConformanceFailure(check: String(check.prefix { $0 != "(" }), message: message()) }
    }

    static func fetch(_ store: any JobStore, _ id: UUID, check: String = #function) async throws -> DownloadJob {
        guard let job = try await store.job(id: id) else {
            throw ConformanceFailure(check: String(check.prefix { $0 != "(" }), message: "job \(id) is missing")
        }
        return job
    }

    /// Requires `body` to throw a `JobStoreError` matching `expected`.
    static func requireError(
        _ expected: (JobStoreError) -> Bool, _ what: String, check: String = #function,
        _ body: () async throws -> Void
    ) async throws {
        let name = String(check.prefix { $0 != "(" })
        do {
            try await body()
        } catch let error as JobStoreError {
            guard expected(error) else { throw ConformanceFailure(check: name, message: "expected \(what), got \(error)") }
            return
        } catch {
            throw ConformanceFailure(check: name, message: "expected \(what), got \(error)")
        }
        throw ConformanceFailure(check: name, message: "expected \(what), but the call succeeded")
    }

    static func isLeaseLost(_ error: JobStoreError) -> Bool {
        if case .leaseLost = error { true } else { false }
    }

    static func isIllegal(_ error: JobStoreError) -> Bool {
        if case .illegalTransition = error { true } else { false }
    }

    // MARK: Checks

    static func enqueueAndRead(_ store: any JobStore) async throws {
        let template = newJob("a", priority: 3)
        let id = try await store.enqueue(template, now: at(0))
        try require(id == template.id, "enqueue returned \(id), not the job's id \(template.id)")
        let job = try await fetch(store, id)
        try require(job.state == .pending && job.attempts == 0, "new job is \(job.state) with \(job.attempts) attempts")
        try require(job.createdAt == at(0) && job.updatedAt == at(0), "timestamps are not `now`")
        try require(job.nextAttemptAt == at(0), "nextAttemptAt \(job.nextAttemptAt) is not `now`")
        try require(job.url == template.url && job.destination == template.destination && job.priority == 3
                    && job.metadata == ["name": "a"] && job.maxAttempts == 3, "fields were not kept")
        try require(job.leaseOwner == nil && job.leaseExpiresAt == nil && job.lastError == nil, "new job has a lease or error")
    }

    static func destinationDeduplication(_ store: any JobStore) async throws {
        let first = try await store.enqueue(newJob("same"), now: at(0))
        let second = try await store.enqueue(newJob("same"), now: at(1))
        try require(first == second, "a second active job for the destination got a new id")
        try require(try await store.jobs(matching: .all).count == 1, "the duplicate was stored")
        let claimed = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(2))
        try require(claimed?.id == first, "claim did not return the job")
        try require(try await store.enqueue(newJob("same"), now: at(3)) == first, "a running job did not de-duplicate")
        try await store.complete(id: first, owner: "w", now: at(4))
        let third = try await store.enqueue(newJob("same"), now: at(5))
        try require(third != first, "a completed job still de-duplicates its destination")
    }

    static func invalidEnqueueRejected(_ store: any JobStore) async throws {
        var empty = newJob("x")
        empty.destination = ""
        try await requireError({ if case .invalidArgument = $0 { true } else { false } }, "invalidArgument") {
            try await store.enqueue(empty, now: at(0))
        }
        try await requireError({ if case .invalidArgument = $0 { true } else { false } }, "invalidArgument") {
            try await store.enqueue(newJob("y", maxAttempts: 0), now: at(0))
        }
        let job = newJob("z")
        try await store.enqueue(job, now: at(0))
        var sameID = newJob("other")
        sameID.id = job.id
        try await requireError({ if case .invalidArgument = $0 { true } else { false } }, "invalidArgument for a duplicate id") {
            try await store.enqueue(sameID, now: at(1))
        }
        try require(try await store.jobs(matching: .all).count == 1, "a rejected job was stored")
    }

    static func claimOrder(_ store: any JobStore) async throws {
        let low = try await store.enqueue(newJob("low", priority: 1), now: at(0))
        let highOld = try await store.enqueue(newJob("high-old", priority: 5), now: at(1))
        let highNew = try await store.enqueue(newJob("high-new", priority: 5), now: at(2))
        let mid = try await store.enqueue(newJob("mid", priority: 3), now: at(3))
        var order: [UUID] = []
        while let job = try await store.claimNext(owner: "w", leaseFor: .seconds(60), now: at(10)) {
            try require(job.state == .running && job.leaseOwner == "w" && job.attempts == 1, "claimed job is not running for w")
            try require(job.leaseExpiresAt == at(70), "lease expiry \(String(describing: job.leaseExpiresAt)) is not now + 60 s")
            order.append(job.id)
        }
        try require(order == [highOld, highNew, mid, low], "claims were not by priority, then oldest")
    }

    static func claimSkipsJobsNotDue(_ store: any JobStore) async throws {
        let later = try await store.enqueue(newJob("later", priority: 9, notBefore: at(100)), now: at(0))
        let now = try await store.enqueue(newJob("now"), now: at(0))
        try require(try await store.claimNext(owner: "w", leaseFor: .seconds(1000), now: at(1))?.id == now, "a job not yet due was claimed first")
        try require(try await store.claimNext(owner: "w", leaseFor: .seconds(10), now: at(99)) == nil, "a job was claimed before nextAttemptAt")
        try require(try await store.claimNext(owner: "w", leaseFor: .seconds(10), now: at(100))?.id == later, "a due job was not claimed")
    }

    static func claimOnEmptyStoreReturnsNil(_ store: any JobStore) async throws {
        try require(try await store.claimNext(owner: "w", leaseFor: .seconds(10), now: at(0)) == nil, "claim on an empty store returned a job")
    }

    static func expiredLeaseIsReclaimable(_ store: any JobStore) async throws {
        let id = try await store.enqueue(newJob("a"), now: at(0))
        _ = try await store.claimNext(owner: "dead", leaseFor: .seconds(30), now: at(0))
        try require(try await store.claimNext(owner: "b", leaseFor: .seconds(30), now: at(29)) == nil, "a job with a valid lease was claimed")
        let reclaimed = try await store.claimNext(owner: "b", leaseFor: .seconds(30), now: at(30))
        try require(reclaimed?.id == id && reclaimed?.leaseOwner == "b" && reclaimed?.attempts == 2,
                    "the expired job was not reclaimed by b as attempt 2")
        try await requireError(isLeaseLost, "leaseLost for the old owner") {
            try await store.complete(id: id, owner: "dead", now: at(31))
        }
        try await store.complete(id: id, owner: "b", now: at(32))
        try require(try await fetch(store, id).state == .completed, "the new owner could not complete")
    }

    static func renewLease(_ store: any JobStore) async throws {
        let id = try await store.enqueue(newJob("a"), now: at(0))
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(0))
        let renewed = try await store.renewLease(id: id, owner: "w", leaseFor: .seconds(30), now: at(25))
        try require(renewed.leaseExpiresAt == at(55), "renewal did not move the expiry to now + 30 s")
        try require(try await store.claimNext(owner: "x", leaseFor: .seconds(30), now: at(40)) == nil, "a renewed lease was taken")
        try await requireError(isLeaseLost, "leaseLost for another owner") {
            try await store.renewLease(id: id, owner: "x", leaseFor: .seconds(30), now: at(41))
        }
        try await requireError({ if case .invalidArgument = $0 { true } else { false } }, "invalidArgument for a zero lease") {
            try await store.renewLease(id: id, owner: "w", leaseFor: .zero, now: at(41))
        }
    }

    static func recordProgress(_ store: any JobStore) async throws {
        let id = try await store.enqueue(newJob("a"), now: at(0))
        try await requireError(isLeaseLost, "leaseLost before the job is claimed") {
            try await store.recordProgress(id: id, owner: "w", bytesDone: 1, bytesTotal: nil, now: at(0))
        }
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(0))
        try await store.recordProgress(id: id, owner: "w", bytesDone: 100, bytesTotal: 1000, now: at(1))
        try await store.recordProgress(id: id, owner: "w", bytesDone: 500, bytesTotal: nil, now: at(2))
        let job = try await fetch(store, id)
        try require(job.bytesDone == 500 && job.bytesTotal == 1000 && job.updatedAt == at(2), "progress was not recorded")
        try await requireError(isLeaseLost, "leaseLost for another owner") {
            try await store.recordProgress(id: id, owner: "x", bytesDone: 600, bytesTotal: nil, now: at(3))
        }
        try require(try await fetch(store, id).bytesDone == 500, "a rejected progress report changed the job")
    }

    static func completeOnlyOnce(_ store: any JobStore) async throws {
        let id = try await store.enqueue(newJob("a"), now: at(0))
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(0))
        try await store.complete(id: id, owner: "w", now: at(5))
        let job = try await fetch(store, id)
        try require(job.state == .completed && job.leaseOwner == nil && job.leaseExpiresAt == nil, "completed job keeps a lease")
        try await requireError(isIllegal, "illegalTransition completing twice") {
            try await store.complete(id: id, owner: "w", now: at(6))
        }
        try require(try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(1000)) == nil, "a completed job was claimed")
    }

    static func scheduleRetryThenExhaust(_ store: any JobStore) async throws {
        let id = try await store.enqueue(newJob("a", maxAttempts: 2), now: at(0))
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(0))
        let error = JobFailure(message: "HTTP 503", isRetryable: true)
        let retrying = try await store.scheduleRetry(id: id, owner: "w", at: at(60), error: error, now: at(1))
        try require(retrying.state == .retrying && retrying.nextAttemptAt == at(60) && retrying.lastError == error
                    && retrying.leaseOwner == nil, "scheduleRetry did not make the job retrying at the given time")
        try require(try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(59)) == nil, "a retry was claimed early")
        let second = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(60))
        try require(second?.id == id && second?.attempts == 2, "the retry was not claimed as attempt 2")
        let failed = try await store.scheduleRetry(id: id, owner: "w", at: at(120), error: error, now: at(61))
        try require(failed.state == .failed && failed.lastError == error, "exhausted attempts did not fail the job")
    }

    static func scheduleRetryMergesMetadata(_ store: any JobStore) async throws {
        let id = try await store.enqueue(newJob("a"), now: at(0))
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(0))
        let error = JobFailure(message: "HTTP 503", isRetryable: true)
        let retrying = try await store.scheduleRetry(id: id, owner: "w", at: at(60), error: error,
                                                     metadata: ["mirror": "1", "name": "renamed"], now: at(1))
        try require(retrying.state == .retrying && retrying.nextAttemptAt == at(60)
                    && retrying.metadata == ["mirror": "1", "name": "renamed"], "scheduleRetry(metadata:) did not merge: \(retrying.metadata)")
        try require(try await fetch(store, id).metadata == retrying.metadata, "the merged metadata was not stored")
        try await requireError(isLeaseLost, "leaseLost for another owner") {
            try await store.scheduleRetry(id: id, owner: "w", at: at(60), error: error, metadata: ["x": "y"], now: at(2))
        }
        try require(try await fetch(store, id).metadata == retrying.metadata, "a refused scheduleRetry changed the metadata")
    }

    static func failIsTerminal(_ store: any JobStore) async throws {
        let id = try await store.enqueue(newJob("a"), now: at(0))
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(0))
        let error = JobFailure(message: "HTTP 404", isRetryable: false)
        try await store.fail(id: id, owner: "w", error: error, now: at(1))
        let job = try await fetch(store, id)
        try require(job.state == .failed && job.lastError == error && job.leaseOwner == nil, "fail did not record the failure")
        try await requireError(isIllegal, "illegalTransition cancelling a failed job") { try await store.cancel(id: id, now: at(2)) }
    }

    static func cancel(_ store: any JobStore) async throws {
        let pending = try await store.enqueue(newJob("p"), now: at(0))
        let running = try await store.enqueue(newJob("r", priority: 1), now: at(0))
        try require(try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(0))?.id == running, "wrong claim")
        try await store.cancel(id: pending, now: at(1))
        try await store.cancel(id: running, now: at(1))
        try require(try await fetch(store, pending).state == .cancelled, "pending job not cancelled")
        let job = try await fetch(store, running)
        try require(job.state == .cancelled && job.leaseOwner == nil, "running job not cancelled")
        try await requireError(isLeaseLost, "leaseLost for the worker of a cancelled job") {
            try await store.recordProgress(id: running, owner: "w", bytesDone: 1, bytesTotal: nil, now: at(2))
        }
        try await requireError(isIllegal, "illegalTransition completing a cancelled job") {
            try await store.complete(id: running, owner: "w", now: at(2))
        }
        try await requireError(isIllegal, "illegalTransition cancelling twice") { try await store.cancel(id: pending, now: at(2)) }
        try require(try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(3)) == nil, "a cancelled job was claimed")
    }

    static func illegalCallsChangeNothing(_ store: any JobStore) async throws {
        let id = try await store.enqueue(newJob("a"), now: at(0))
        let before = try await fetch(store, id)
        try await requireError(isLeaseLost, "leaseLost completing an unclaimed job") {
            try await store.complete(id: id, owner: "w", now: at(1))
        }
        try await requireError(isLeaseLost, "leaseLost failing an unclaimed job") {
            try await store.fail(id: id, owner: "w", error: JobFailure(message: "x", isRetryable: false), now: at(1))
        }
        try require(try await fetch(store, id) == before, "a rejected call changed the job")
    }

    static func unknownJob(_ store: any JobStore) async throws {
        let ghost = UUID()
        let isUnknown: (JobStoreError) -> Bool = { if case .unknownJob(ghost) = $0 { true } else { false } }
        try require(try await store.job(id: ghost) == nil, "job(id:) invented a job")
        try await requireError(isUnknown, "unknownJob") { try await store.cancel(id: ghost, now: at(0)) }
        try await requireError(isUnknown, "unknownJob") { try await store.complete(id: ghost, owner: "w", now: at(0)) }
        try await requireError(isUnknown, "unknownJob") {
            try await store.renewLease(id: ghost, owner: "w", leaseFor: .seconds(1), now: at(0))
        }
    }

    static func jobsMatching(_ store: any JobStore) async throws {
        let a = try await store.enqueue(newJob("a"), now: at(0))
        let b = try await store.enqueue(newJob("b"), now: at(1))
        let c = try await store.enqueue(newJob("c"), now: at(2))
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(3))  // a
        try await store.cancel(id: c, now: at(4))
        let all = try await store.jobs(matching: .all).map(\.id)
        try require(all == [a, b, c], "jobs(matching: .all) is not oldest first")
        try require(try await store.jobs(matching: JobQuery(states: [.pending])).map(\.id) == [b], "state filter")
        try require(try await store.jobs(matching: JobQuery(states: [.running, .cancelled])).map(\.id) == [a, c], "states filter")
        try require(try await store.jobs(matching: JobQuery(destination: "/downloads/c")).map(\.id) == [c], "destination filter")
        try require(try await store.jobs(matching: JobQuery(leaseOwner: "w")).map(\.id) == [a], "owner filter")
        try require(try await store.jobs(matching: JobQuery(limit: 2)).map(\.id) == [a, b], "limit")
    }

    static func recoverExpiredLeases(_ store: any JobStore) async throws {
        let a = try await store.enqueue(newJob("a", maxAttempts: 1), now: at(0))
        let b = try await store.enqueue(newJob("b", maxAttempts: 3), now: at(1))
        let c = try await store.enqueue(newJob("c"), now: at(2))
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(10), now: at(3))  // a, expires 13
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(5), now: at(3))  // b, expires 8
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(100), now: at(3))  // c, expires 103
        try require(try await store.recoverExpiredLeases(now: at(7)).isEmpty, "an unexpired lease was swept")
        let swept = try await store.recoverExpiredLeases(now: at(20))
        try require(swept == [b, a], "sweep returned \(swept), expected [b, a] in expiry order")
        let jobA = try await fetch(store, a)
        let jobB = try await fetch(store, b)
        try require(jobA.state == .failed && jobA.lastError?.isRetryable == true, "an exhausted expired job did not fail")
        try require(jobB.state == .retrying && jobB.nextAttemptAt == at(20) && jobB.leaseOwner == nil, "expired job not retrying now")
        try require(try await fetch(store, c).state == .running, "a valid lease was swept")
        try require(try await store.recoverExpiredLeases(now: at(20)).isEmpty, "a second sweep found more")
    }

    static func concurrentClaimsAreExclusive(_ store: any JobStore) async throws {
        var ids: Set<UUID> = []
        for i in 0..<16 { ids.insert(try await store.enqueue(newJob("j\(i)"), now: at(0))) }
        let claimed = try await withThrowingTaskGroup(of: UUID?.self) { group in
            for worker in 0..<32 {
                group.addTask { try await store.claimNext(owner: "w\(worker)", leaseFor: .seconds(60), now: at(1))?.id }
            }
            var result: [UUID] = []
            for try await id in group { if let id { result.append(id) } }
            return result
        }
        try require(claimed.count == 16 && Set(claimed) == ids, "32 concurrent claims of 16 jobs returned \(claimed.count) claims")
    }
}

/// A ``JobStoreConformance`` check that failed: which one, and what differed.
public struct ConformanceFailure: Error, Sendable, CustomStringConvertible {
    /// The failed check's name.
    public let check: String
    /// What the store (or engine) did wrong.
    public let message: String
    /// What was checked: `"JobStore"` or `"Transport"`.
    public let suite: String

    /// Creates a failure of a check of `suite` (default `"JobStore"`).
    public init(check: String, message: String, suite: String = "JobStore") {
        self.check = check
        self.message = message
        self.suite = suite
    }

    /// A one-line human-readable form.
    public var description: String { "\(suite) conformance check \(check) failed: \(message)" }
}
