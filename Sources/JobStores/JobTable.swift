import Foundation

/// The in-memory state machine shared by every store in this module: the jobs, their validated
/// transitions, and the indexes that make ``claimNext(owner:leaseFor:now:)`` O(log n).
///
/// Every change goes through ``apply(_:)`` with a ``JobRecord``; applying the same records in the
/// same order always gives the same table, which is how ``FileJournalJobStore`` replays its
/// journal. Indexes are binary heaps with lazy invalidation: each job carries a `stamp`, an entry
/// is live only while its stamp matches, and heaps are rebuilt when stale entries dominate.
struct JobTable: Sendable {
    struct Slot: Sendable {
        var job: DownloadJob
        let ordinal: UInt64
        var stamp: UInt64
    }

    /// Due jobs: highest priority, then oldest `createdAt`, then enqueue order.
    struct ReadyEntry: Comparable, Sendable {
        let priority: Int
        let createdAt: Date
        let ordinal: UInt64
        let id: UUID
        let stamp: UInt64

        static func < (lhs: ReadyEntry, rhs: ReadyEntry) -> Bool {
            if lhs.priority != rhs.priority { return lhs.priority > rhs.priority }
            if lhs.createdAt != rhs.createdAt { return lhs.createdAt < rhs.createdAt }
            return lhs.ordinal < rhs.ordinal
        }
    }

    /// Jobs keyed by a time (`nextAttemptAt` of waiting jobs, `leaseExpiresAt` of running ones).
    struct TimedEntry: Comparable, Sendable {
        let time: Date
        let ordinal: UInt64
        let id: UUID
        let stamp: UInt64

        static func < (lhs: TimedEntry, rhs: TimedEntry) -> Bool {
            lhs.time != rhs.time ? lhs.time < rhs.time : lhs.ordinal < rhs.ordinal
        }
    }

    private(set) var slots: [UUID: Slot] = [:]
    private var activeByDestination: [String: UUID] = [:]
    private var ready = BinaryHeap<ReadyEntry>()
    private var scheduled = BinaryHeap<TimedEntry>()
    private var leases = BinaryHeap<TimedEntry>()
    private var nextOrdinal: UInt64 = 0
    private var nextStamp: UInt64 = 0
    /// Jobs that are not terminal (each has exactly one live index entry).
    private(set) var activeCount = 0

    /// The number of jobs, terminal ones included.
    var count: Int { slots.count }

    func job(_ id: UUID) -> DownloadJob? { slots[id]?.job }

    /// Jobs matching `query`, by `createdAt` then enqueue order.
    func jobs(matching query: JobQuery) -> [DownloadJob] {
        var matching = slots.values.filter { query.matches($0.job) }
        matching.sort { $0.job.createdAt != $1.job.createdAt ? $0.job.createdAt < $1.job.createdAt : $0.ordinal < $1.ordinal }
        let limited = query.limit.map { matching.prefix(max($0, 0)) } ?? matching[...]
        return limited.map(\.job)
    }

    /// Every job in enqueue order (the order a snapshot must preserve).
    func jobsInEnqueueOrder() -> [DownloadJob] {
        slots.values.sorted { $0.ordinal < $1.ordinal }.map(\.job)
    }

    // MARK: Operations (validate, build the record, apply it)

    /// Validates and applies an enqueue; returns the id and the record, or the existing id and
    /// `nil` when an active job already has the destination.
    mutating func enqueue(_ job: DownloadJob, now: Date) throws -> (id: UUID, record: JobRecord?) {
        try Self.validateNew(job)
        if let existing = activeByDestination[job.destination] { return (existing, nil) }
        guard slots[job.id] == nil else { throw JobStoreError.invalidArgument("a job with id \(job.id) already exists") }
        var normalized = job
        normalized.state = .pending
        normalized.attempts = 0
        normalized.bytesDone = 0
        normalized.bytesTotal = nil
        normalized.lastError = nil
        normalized.leaseOwner = nil
        normalized.leaseExpiresAt = nil
        normalized.createdAt = now
        normalized.updatedAt = now
        normalized.nextAttemptAt = max(job.nextAttemptAt, now)
        let record = JobRecord.enqueue(normalized)
        _ = try apply(record)
        return (normalized.id, record)
    }

    /// Sweeps expired leases, then claims the best due job. Returns the claimed job (or `nil`)
    /// and every record applied, in order.
    mutating func claimNext(owner: String, leaseFor: Duration, now: Date) throws -> (job: DownloadJob?, records: [JobRecord]) {
        try Self.validateOwner(owner)
        try Self.validateLease(leaseFor)
        var records = expireLeases(now: now)
        while let id = popDue(now: now) {
            let record = JobRecord.claim(id: id, owner: owner, leaseExpiresAt: now + leaseFor.timeInterval, now: now)
            guard let job = try? apply(record) else { continue }
            records.append(record)
            return (job, records)
        }
        return (nil, records)
    }

    /// Moves every running job whose lease expired at or before `now` to `retrying`/`failed`.
    mutating func expireLeases(now: Date) -> [JobRecord] {
        var records: [JobRecord] = []
        while let top = leases.min, top.time <= now {
            leases.popMin()
            guard let slot = slots[top.id], slot.stamp == top.stamp, slot.job.state == .running else { continue }
            let record = JobRecord.expire(id: top.id, now: now)
            if (try? apply(record)) != nil { records.append(record) }
        }
        return records
    }

    // MARK: Applying records

    /// Validates `record` against the current state and applies it; throws without changing
    /// anything when it is illegal.
    @discardableResult
    mutating func apply(_ record: JobRecord) throws -> DownloadJob {
        switch record {
        case .enqueue(let job):
            try Self.validateNew(job)
            guard job.state == .pending else { throw JobStoreError.invalidArgument("an enqueued job must be pending") }
            guard slots[job.id] == nil else { throw JobStoreError.invalidArgument("a job with id \(job.id) already exists") }
            guard activeByDestination[job.destination] == nil else {
                throw JobStoreError.invalidArgument("an active job already has destination \(job.destination)")
            }
            insert(job, now: job.createdAt)
            return job

        case .snapshot(let job):
            try Self.validateNew(job)
            guard slots[job.id] == nil else { throw JobStoreError.invalidArgument("a job with id \(job.id) already exists") }
            if !job.state.isTerminal, activeByDestination[job.destination] != nil {
                throw JobStoreError.invalidArgument("an active job already has destination \(job.destination)")
            }
            insert(job, now: nil)
            return job

        case .claim(let id, let owner, let leaseExpiresAt, let now):
            try Self.validateOwner(owner)
            var slot = try existing(id)
            guard slot.job.state.isWaiting else {
                throw JobStoreError.illegalTransition(job: id, from: slot.job.state, to: .running)
            }
            guard slot.job.nextAttemptAt <= now else { throw JobStoreError.invalidArgument("job \(id) is not due") }
            slot.job.state = .running
            slot.job.attempts += 1
            slot.job.leaseOwner = owner
            slot.job.leaseExpiresAt = leaseExpiresAt
            slot.job.updatedAt = now
            return store(slot, reindexAt: now)

        case .renew(let id, let owner, let leaseExpiresAt, let now):
            var slot = try held(id, owner: owner, target: .running)
            slot.job.leaseExpiresAt = leaseExpiresAt
            slot.job.updatedAt = now
            return store(slot, reindexAt: now)

        case .progress(let id, let owner, let bytesDone, let bytesTotal, let now):
            guard bytesDone >= 0, (bytesTotal ?? 0) >= 0 else { throw JobStoreError.invalidArgument("byte counts must not be negative") }
            var slot = try held(id, owner: owner, target: .running)
            slot.job.bytesDone = bytesDone
            if let bytesTotal { slot.job.bytesTotal = bytesTotal }
            slot.job.updatedAt = now
            slots[id] = slot
            return slot.job

        case .complete(let id, let owner, let now):
            var slot = try held(id, owner: owner, target: .completed)
            slot.job.state = .completed
            return finish(&slot, now: now)

        case .retry(let id, let owner, let at, let error, let now):
            var slot = try held(id, owner: owner, target: .retrying)
            return endAttempt(&slot, error: error.truncated, retryAt: at, now: now)

        case .fail(let id, let owner, let error, let now):
            var slot = try held(id, owner: owner, target: .failed)
            slot.job.state = .failed
            slot.job.lastError = error.truncated
            return finish(&slot, now: now)

        case .cancel(let id, let now):
            var slot = try existing(id)
            guard slot.job.state.canTransition(to: .cancelled) else {
                throw JobStoreError.illegalTransition(job: id, from: slot.job.state, to: .cancelled)
            }
            slot.job.state = .cancelled
            return finish(&slot, now: now)

        case .expire(let id, let now):
            var slot = try existing(id)
            guard slot.job.state == .running else {
                throw JobStoreError.illegalTransition(job: id, from: slot.job.state, to: .retrying)
            }
            guard let expiry = slot.job.leaseExpiresAt, expiry <= now else {
                throw JobStoreError.invalidArgument("the lease of job \(id) has not expired")
            }
            let error = JobFailure(message: "lease of \(slot.job.leaseOwner ?? "unknown owner") expired", isRetryable: true)
            return endAttempt(&slot, error: error, retryAt: now, now: now)
        }
    }

    // MARK: Helpers

    private func existing(_ id: UUID) throws -> Slot {
        guard let slot = slots[id] else { throw JobStoreError.unknownJob(id) }
        return slot
    }

    /// The slot of a job `owner` holds the lease of.
    private func held(_ id: UUID, owner: String, target: JobState) throws -> Slot {
        let slot = try existing(id)
        // Ending a terminal job is an illegal transition; renewing or reporting on one only means
        // the caller lost its lease.
        if slot.job.state.isTerminal, target != .running {
            throw JobStoreError.illegalTransition(job: id, from: slot.job.state, to: target)
        }
        guard slot.job.state == .running, slot.job.leaseOwner == owner else { throw JobStoreError.leaseLost(job: id, owner: owner) }
        return slot
    }

    private mutating func insert(_ job: DownloadJob, now: Date?) {
        let slot = Slot(job: job, ordinal: nextOrdinal, stamp: 0)
        nextOrdinal += 1
        if !job.state.isTerminal {
            activeCount += 1
            activeByDestination[job.destination] = job.id
        }
        _ = store(slot, reindexAt: now)
    }

    /// Ends a running attempt with `error`: `retrying` at `retryAt`, or `failed` when the attempts
    /// are exhausted.
    private mutating func endAttempt(_ slot: inout Slot, error: JobFailure, retryAt: Date, now: Date) -> DownloadJob {
        slot.job.lastError = error
        if slot.job.attempts >= slot.job.maxAttempts {
            slot.job.state = .failed
            return finish(&slot, now: now)
        }
        slot.job.state = .retrying
        slot.job.nextAttemptAt = retryAt
        slot.job.leaseOwner = nil
        slot.job.leaseExpiresAt = nil
        slot.job.updatedAt = now
        return store(slot, reindexAt: now)
    }

    /// Moves a job to its (already set) terminal state: releases the lease and the destination.
    private mutating func finish(_ slot: inout Slot, now: Date) -> DownloadJob {
        slot.job.leaseOwner = nil
        slot.job.leaseExpiresAt = nil
        slot.job.updatedAt = now
        if activeByDestination[slot.job.destination] == slot.job.id { activeByDestination[slot.job.destination] = nil }
        activeCount -= 1
        return store(slot, reindexAt: now)
    }

    /// Stores `slot` with a fresh stamp (invalidating its old index entries) and indexes it by
    /// its state. `now == nil` puts waiting jobs in the time index (no due check).
    private mutating func store(_ slot: Slot, reindexAt now: Date?) -> DownloadJob {
        var slot = slot
        nextStamp += 1
        slot.stamp = nextStamp
        let job = slot.job
        switch job.state {
        case .pending, .retrying:
            if let now, job.nextAttemptAt <= now {
                ready.insert(ReadyEntry(priority: job.priority, createdAt: job.createdAt, ordinal: slot.ordinal, id: job.id, stamp: slot.stamp))
            } else {
                scheduled.insert(TimedEntry(time: job.nextAttemptAt, ordinal: slot.ordinal, id: job.id, stamp: slot.stamp))
            }
        case .running:
            leases.insert(TimedEntry(time: job.leaseExpiresAt ?? .distantPast, ordinal: slot.ordinal, id: job.id, stamp: slot.stamp))
        case .completed, .failed, .cancelled:
            break
        }
        slots[job.id] = slot
        if ready.count + scheduled.count + leases.count > 2 * activeCount + 1024 { rebuildIndexes() }
        return job
    }

    /// Drops stale heap entries: O(n log n), run only when they outnumber live ones, so O(1)
    /// amortised per change.
    private mutating func rebuildIndexes() {
        ready.removeAll()
        scheduled.removeAll()
        leases.removeAll()
        for slot in slots.values {
            let job = slot.job
            switch job.state {
            case .pending, .retrying:
                scheduled.insert(TimedEntry(time: job.nextAttemptAt, ordinal: slot.ordinal, id: job.id, stamp: slot.stamp))
            case .running:
                leases.insert(TimedEntry(time: job.leaseExpiresAt ?? .distantPast, ordinal: slot.ordinal, id: job.id, stamp: slot.stamp))
            case .completed, .failed, .cancelled:
                break
            }
        }
    }

    /// Pops the best due waiting job, moving newly due jobs from the time index first.
    private mutating func popDue(now: Date) -> UUID? {
        while let top = scheduled.min, top.time <= now {
            scheduled.popMin()
            guard let slot = slots[top.id], slot.stamp == top.stamp, slot.job.state.isWaiting else { continue }
            ready.insert(ReadyEntry(priority: slot.job.priority, createdAt: slot.job.createdAt, ordinal: slot.ordinal, id: top.id, stamp: top.stamp))
        }
        while let top = ready.popMin() {
            guard let slot = slots[top.id], slot.stamp == top.stamp, slot.job.state.isWaiting else { continue }
            if slot.job.nextAttemptAt > now {  // `now` moved backwards since it was indexed
                scheduled.insert(TimedEntry(time: slot.job.nextAttemptAt, ordinal: slot.ordinal, id: top.id, stamp: top.stamp))
                continue
            }
            return top.id
        }
        return nil
    }

    // MARK: Validation

    static func validateOwner(_ owner: String) throws {
        guard !owner.isEmpty else { throw JobStoreError.invalidArgument("owner must not be empty") }
        guard owner.utf8.count <= DownloadJob.maximumStringBytes else {
            throw JobStoreError.invalidArgument("owner is longer than \(DownloadJob.maximumStringBytes) bytes")
        }
    }

    static func validateLease(_ leaseFor: Duration) throws {
        guard leaseFor > .zero else { throw JobStoreError.invalidArgument("leaseFor must be positive") }
    }

    static func validateNew(_ job: DownloadJob) throws {
        let limit = DownloadJob.maximumStringBytes
        guard !job.destination.isEmpty else { throw JobStoreError.invalidArgument("destination must not be empty") }
        guard job.destination.utf8.count <= limit, (job.expectedSHA256?.utf8.count ?? 0) <= limit,
              job.url.absoluteString.utf8.count <= limit,
              job.mirrors.allSatisfy({ $0.absoluteString.utf8.count <= limit }),
              (job.leaseOwner?.utf8.count ?? 0) <= limit
        else { throw JobStoreError.invalidArgument("a URL, destination, SHA-256 or owner is longer than \(limit) bytes") }
        guard job.mirrors.count <= DownloadJob.maximumMirrors else {
            throw JobStoreError.invalidArgument("more than \(DownloadJob.maximumMirrors) mirrors")
        }
        guard job.maxAttempts >= 1 else { throw JobStoreError.invalidArgument("maxAttempts must be at least 1") }
        guard job.attempts >= 0, job.bytesDone >= 0, (job.expectedLength ?? 0) >= 0, (job.bytesTotal ?? 0) >= 0 else {
            throw JobStoreError.invalidArgument("counts must not be negative")
        }
        guard (job.lastError?.message.utf8.count ?? 0) <= JobFailure.maximumMessageBytes else {
            throw JobStoreError.invalidArgument("error message over \(JobFailure.maximumMessageBytes) bytes")
        }
        let metadataBytes = job.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        guard metadataBytes <= DownloadJob.maximumMetadataBytes else {
            throw JobStoreError.invalidArgument("metadata is larger than \(DownloadJob.maximumMetadataBytes) bytes")
        }
    }
}
