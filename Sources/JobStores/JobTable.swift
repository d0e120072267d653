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
        let ordinal: Int
        var stamp: UInt64
    }

    /// Due jobs: highest priority, then oldest `createdAt`, then enqueue order.
    struct ReadyEntry: Comparable, Sendable {
        let priority: Int
        let createdAt: Date
        let ordinal: Int
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
        let ordinal: Int
        let id: UUID
        let stamp: UInt64

        static func < (lhs: TimedEntry, rhs: TimedEntry) -> Bool {
            lhs.time != rhs.time ? lhs.time < rhs.time : lhs.ordinal < rhs.ordinal
        }
    }

    /// Every job, in enqueue order; a job's position is its ordinal. Jobs are never removed.
    private(set) var storage: [Slot] = []
    private var positions: [UUID: Int] = [:]
    private var activeByDestination: [String: UUID] = [:]
    private var ready = BinaryHeap<ReadyEntry>()
    private var scheduled = BinaryHeap<TimedEntry>()
    private var leases = BinaryHeap<TimedEntry>()
    private var nextStamp: UInt64 = 0
    /// Jobs that are not terminal (each has exactly one live index entry).
    private(set) var activeCount = 0

    /// The number of jobs, terminal ones included.
    var count: Int { storage.count }

    func job(_ id: UUID) -> DownloadJob? { positions[id].map { storage[$0].job } }

    /// Jobs matching `query`, by `createdAt` then enqueue order.
    func jobs(matching query: JobQuery) -> [DownloadJob] {
        var matching = storage.filter { query.matches($0.job) }
        matching.sort { $0.job.createdAt != $1.job.createdAt ? $0.job.createdAt < $1.job.createdAt : $0.ordinal < $1.ordinal }
        let limited = query.limit.map { matching.prefix(max($0, 0)) } ?? matching[...]
        return limited.map(\.job)
    }

    /// Every job in enqueue order (the order a snapshot must preserve).
    func jobsInEnqueueOrder() -> [DownloadJob] {
        storage.map(\.job)
    }

    // MARK: Operations (validate, build the record, apply it)

    /// Validates and applies an enqueue; returns the id and the record, or the existing id and
    /// `nil` when an active job already has the destination.
    mutating func enqueue(_ job: DownloadJob, now: Date) throws -> (id: UUID, record: JobRecord?) {
        try Self.validateNew(job)
        if let existing = activeByDestination[job.destination] { return (existing, nil) }
        guard positions[job.id] == nil else { throw JobStoreError.invalidArgument("a job with id \(job.id) already exists") }
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
            guard storage[top.ordinal].stamp == top.stamp, storage[top.ordinal].job.state == .running else { continue }
            let record = JobRecord.expire(id: top.id, now: now)
            if (try? apply(record)) != nil { records.append(record) }
        }
        return records
    }

    // MARK: Applying records

    typealias Index = Int

    /// Validates `record` against the current state and applies it; throws without changing
    /// anything when it is illegal. Returns the changed job.
    @discardableResult
    mutating func apply(_ record: JobRecord) throws -> DownloadJob {
        storage[try applyInPlace(record)].job
    }

    /// ``apply(_:)`` without copying the job out: mutates the slot in place (the replay path).
    /// Returns the slot's index, valid until the next change.
    @discardableResult
    mutating func applyInPlace(_ record: JobRecord) throws -> Index {
        switch record {
        case .enqueue(let job):
            try Self.validateStored(job)
            guard job.state == .pending else { throw JobStoreError.invalidArgument("an enqueued job must be pending") }
            guard activeByDestination[job.destination] == nil else {
                throw JobStoreError.invalidArgument("an active job already has destination \(job.destination)")
            }
            return try insert(job, now: job.createdAt)

        case .snapshot(let job):
            try Self.validateStored(job)
            if !job.state.isTerminal, activeByDestination[job.destination] != nil {
                throw JobStoreError.invalidArgument("an active job already has destination \(job.destination)")
            }
            return try insert(job, now: nil)

        case .claim(let id, let owner, let leaseExpiresAt, let now):
            try Self.validateOwner(owner)
            let index = try existing(id)
            let state = storage[index].job.state
            guard state.isWaiting else { throw JobStoreError.illegalTransition(job: id, from: state, to: .running) }
            guard storage[index].job.nextAttemptAt <= now else { throw JobStoreError.invalidArgument("job \(id) is not due") }
            storage[index].job.state = .running
            storage[index].job.attempts += 1
            storage[index].job.leaseOwner = owner
            storage[index].job.leaseExpiresAt = leaseExpiresAt
            storage[index].job.updatedAt = now
            return reindex(index, now: now)

        case .renew(let id, let owner, let leaseExpiresAt, let now):
            let index = try held(id, owner: owner, target: .running)
            storage[index].job.leaseExpiresAt = leaseExpiresAt
            storage[index].job.updatedAt = now
            return reindex(index, now: now)

        case .progress(let id, let owner, let bytesDone, let bytesTotal, let now):
            guard bytesDone >= 0, (bytesTotal ?? 0) >= 0 else { throw JobStoreError.invalidArgument("byte counts must not be negative") }
            let index = try held(id, owner: owner, target: .running)
            storage[index].job.bytesDone = bytesDone
            if let bytesTotal { storage[index].job.bytesTotal = bytesTotal }
            storage[index].job.updatedAt = now
            return index

        case .complete(let id, let owner, let now):
            let index = try held(id, owner: owner, target: .completed)
            return finish(index, as: .completed, now: now)

        case .retry(let id, let owner, let at, let error, let now):
            let index = try held(id, owner: owner, target: .retrying)
            return endAttempt(index, error: error.truncated, retryAt: at, now: now)

        case .retryWithMetadata(let id, let owner, let at, let error, let metadata, let now):
            let index = try held(id, owner: owner, target: .retrying)
            storage[index].job.metadata = try Self.mergedMetadata(storage[index].job.metadata, metadata)
            return endAttempt(index, error: error.truncated, retryAt: at, now: now)

        case .updateSources(let id, let url, let mirrors, let metadata, let now):
            try Self.validateSources(url: url, mirrors: mirrors)
            let index = try existing(id)
            let state = storage[index].job.state
            guard !state.isTerminal else { throw JobStoreError.illegalTransition(job: id, from: state, to: state) }
            let merged = try Self.mergedMetadata(storage[index].job.metadata, metadata)
            storage[index].job.url = url
            storage[index].job.mirrors = mirrors
            storage[index].job.metadata = merged
            storage[index].job.updatedAt = now
            return index

        case .release(let id, let now):
            let index = try existing(id)
            let state = storage[index].job.state
            guard state == .running else { throw JobStoreError.illegalTransition(job: id, from: state, to: .retrying) }
            let owner = storage[index].job.leaseOwner ?? "unknown owner"
            let failure = JobFailure(message: "lease of \(owner) released: its process is gone", isRetryable: true)
            return endAttempt(index, error: failure, retryAt: now, now: now)

        case .fail(let id, let owner, let error, let now):
            let index = try held(id, owner: owner, target: .failed)
            storage[index].job.lastError = error.truncated
            return finish(index, as: .failed, now: now)

        case .cancel(let id, let now):
            let index = try existing(id)
            let state = storage[index].job.state
            guard state.canTransition(to: .cancelled) else {
                throw JobStoreError.illegalTransition(job: id, from: state, to: .cancelled)
            }
            return finish(index, as: .cancelled, now: now)

        case .expire(let id, let now):
            let index = try existing(id)
            let state = storage[index].job.state
            guard state == .running else { throw JobStoreError.illegalTransition(job: id, from: state, to: .retrying) }
            guard let expiry = storage[index].job.leaseExpiresAt, expiry <= now else {
                throw JobStoreError.invalidArgument("the lease of job \(id) has not expired")
            }
            let owner = storage[index].job.leaseOwner ?? "unknown owner"
            return endAttempt(index, error: JobFailure(message: "lease of \(owner) expired", isRetryable: true), retryAt: now, now: now)
        }
    }

    // MARK: Helpers

    private func existing(_ id: UUID) throws -> Index {
        guard let index = positions[id] else { throw JobStoreError.unknownJob(id) }
        return index
    }

    /// The slot of a job `owner` holds the lease of.
    private func held(_ id: UUID, owner: String, target: JobState) throws -> Index {
        let index = try existing(id)
        let state = storage[index].job.state
        // Ending a terminal job is an illegal transition; renewing or reporting on one only means
        // the caller lost its lease.
        if state.isTerminal, target != .running {
            throw JobStoreError.illegalTransition(job: id, from: state, to: target)
        }
        guard state == .running, storage[index].job.leaseOwner == owner else {
            throw JobStoreError.leaseLost(job: id, owner: owner)
        }
        return index
    }

    private mutating func insert(_ job: DownloadJob, now: Date?) throws -> Index {
        guard positions[job.id] == nil else { throw JobStoreError.invalidArgument("a job with id \(job.id) already exists") }
        let index = storage.count
        positions[job.id] = index
        storage.append(Slot(job: job, ordinal: index, stamp: 0))
        if !job.state.isTerminal {
            activeCount += 1
            activeByDestination[job.destination] = job.id
        }
        return reindex(index, now: now)
    }

    /// Ends a running attempt with `error`: `retrying` at `retryAt`, or `failed` when the attempts
    /// are exhausted.
    private mutating func endAttempt(_ index: Index, error: JobFailure, retryAt: Date, now: Date) -> Index {
        storage[index].job.lastError = error
        if storage[index].job.attempts >= storage[index].job.maxAttempts {
            return finish(index, as: .failed, now: now)
        }
        storage[index].job.state = .retrying
        storage[index].job.nextAttemptAt = retryAt
        storage[index].job.leaseOwner = nil
        storage[index].job.leaseExpiresAt = nil
        storage[index].job.updatedAt = now
        return reindex(index, now: now)
    }

    /// Moves a job to a terminal `state`: releases the lease and the destination.
    private mutating func finish(_ index: Index, as state: JobState, now: Date) -> Index {
        storage[index].job.state = state
        storage[index].job.leaseOwner = nil
        storage[index].job.leaseExpiresAt = nil
        storage[index].job.updatedAt = now
        let (id, destination) = (storage[index].job.id, storage[index].job.destination)
        if activeByDestination[destination] == id { activeByDestination[destination] = nil }
        activeCount -= 1
        return reindex(index, now: now)
    }

    /// Gives the slot a fresh stamp (invalidating its old index entries) and indexes it by its
    /// state. `now == nil` puts waiting jobs in the time index (no due check). May rebuild the
    /// heaps, never the dictionary: `index` stays valid.
    private mutating func reindex(_ index: Index, now: Date?) -> Index {
        nextStamp += 1
        storage[index].stamp = nextStamp
        let stamp = nextStamp
        let ordinal = storage[index].ordinal
        let job = storage[index].job
        switch job.state {
        case .pending, .retrying:
            if let now, job.nextAttemptAt <= now {
                ready.insert(ReadyEntry(priority: job.priority, createdAt: job.createdAt, ordinal: ordinal, id: job.id, stamp: stamp))
            } else {
                scheduled.insert(TimedEntry(time: job.nextAttemptAt, ordinal: ordinal, id: job.id, stamp: stamp))
            }
        case .running:
            leases.insert(TimedEntry(time: job.leaseExpiresAt ?? .distantPast, ordinal: ordinal, id: job.id, stamp: stamp))
        case .completed, .failed, .cancelled:
            break
        }
        if ready.count + scheduled.count + leases.count > 2 * activeCount + 1024 { rebuildIndexes() }
        return index
    }

    /// Drops stale heap entries: O(entries), run only when stale entries outnumber live ones
    /// (plus a constant), so O(1) amortised per change.
    private mutating func rebuildIndexes() {
        let storage = self.storage
        ready.removeAll { storage[$0.ordinal].stamp != $0.stamp }
        scheduled.removeAll { storage[$0.ordinal].stamp != $0.stamp }
        leases.removeAll { storage[$0.ordinal].stamp != $0.stamp }
    }

    /// Pops the best due waiting job, moving newly due jobs from the time index first.
    private mutating func popDue(now: Date) -> UUID? {
        while let top = scheduled.min, top.time <= now {
            scheduled.popMin()
            guard storage[top.ordinal].stamp == top.stamp, storage[top.ordinal].job.state.isWaiting else { continue }
            let job = storage[top.ordinal].job
            ready.insert(ReadyEntry(priority: job.priority, createdAt: job.createdAt, ordinal: top.ordinal, id: top.id, stamp: top.stamp))
        }
        while let top = ready.popMin() {
            guard storage[top.ordinal].stamp == top.stamp, storage[top.ordinal].job.state.isWaiting else { continue }
            let nextAttemptAt = storage[top.ordinal].job.nextAttemptAt
            if nextAttemptAt > now {  // `now` moved backwards since it was indexed
                scheduled.insert(TimedEntry(time: nextAttemptAt, ordinal: top.ordinal, id: top.id, stamp: top.stamp))
                continue
            }
            return top.id
        }
        return nil
    }

    // MARK: Validation

    /// `current` with `changes` merged in (a key given replaces its value).
    /// - Throws: `invalidArgument` if the result exceeds ``DownloadJob/maximumMetadataBytes``.
    static func mergedMetadata(_ current: [String: String], _ changes: [String: String]) throws -> [String: String] {
        let merged = current.merging(changes) { _, new in new }
        let bytes = merged.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        guard bytes <= DownloadJob.maximumMetadataBytes else {
            throw JobStoreError.invalidArgument("metadata is larger than \(DownloadJob.maximumMetadataBytes) bytes")
        }
        return merged
    }

    /// The size limits of a job's URL and mirrors.
    static func validateSources(url: URL, mirrors: [URL]) throws {
        let limit = DownloadJob.maximumStringBytes
        guard url.absoluteString.utf8.count <= limit, mirrors.allSatisfy({ $0.absoluteString.utf8.count <= limit }) else {
            throw JobStoreError.invalidArgument("a URL is longer than \(limit) bytes")
        }
        guard mirrors.count <= DownloadJob.maximumMirrors else {
            throw JobStoreError.invalidArgument("more than \(DownloadJob.maximumMirrors) mirrors")
        }
    }

    static func validateOwner(_ owner: String) throws {
        guard !owner.isEmpty else { throw JobStoreError.invalidArgument("owner must not be empty") }
        guard owner.utf8.count <= DownloadJob.maximumStringBytes else {
            throw JobStoreError.invalidArgument("owner is longer than \(DownloadJob.maximumStringBytes) bytes")
        }
    }

    static func validateLease(_ leaseFor: Duration) throws {
        guard leaseFor > .zero else { throw JobStoreError.invalidArgument("leaseFor must be positive") }
    }

    /// Cheap invariants every stored job satisfies (checked on every enqueue and on replay).
    static func validateStored(_ job: DownloadJob) throws {
        guard !job.destination.isEmpty else { throw JobStoreError.invalidArgument("destination must not be empty") }
        guard job.maxAttempts >= 1 else { throw JobStoreError.invalidArgument("maxAttempts must be at least 1") }
        guard job.attempts >= 0, job.bytesDone >= 0, (job.expectedLength ?? 0) >= 0, (job.bytesTotal ?? 0) >= 0 else {
            throw JobStoreError.invalidArgument("counts must not be negative")
        }
    }

    /// Everything ``validateStored(_:)`` checks plus the size limits (checked when a caller
    /// enqueues; a replayed journal only holds jobs that passed it).
    static func validateNew(_ job: DownloadJob) throws {
        try validateStored(job)
        let limit = DownloadJob.maximumStringBytes
        try validateSources(url: job.url, mirrors: job.mirrors)
        guard job.destination.utf8.count <= limit, (job.expectedSHA256?.utf8.count ?? 0) <= limit,
              (job.leaseOwner?.utf8.count ?? 0) <= limit
        else { throw JobStoreError.invalidArgument("a destination, SHA-256 or owner is longer than \(limit) bytes") }
        guard (job.lastError?.message.utf8.count ?? 0) <= JobFailure.maximumMessageBytes else {
            throw JobStoreError.invalidArgument("error message over \(JobFailure.maximumMessageBytes) bytes")
        }
        _ = try mergedMetadata(job.metadata, [:])
        let headerBytes = job.headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        guard headerBytes <= DownloadJob.maximumHeaderBytes else {
            throw JobStoreError.invalidArgument("headers are larger than \(DownloadJob.maximumHeaderBytes) bytes")
        }
    }
}
