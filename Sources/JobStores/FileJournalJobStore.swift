import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A ``JobStore`` persisted in an append-only journal file, crash-safe and single-writer.
///
/// ```swift
/// let store = try FileJournalJobStore(path: "/var/lib/myapp/jobs.journal")
/// try await store.enqueue(DownloadJob(url: url, destination: "/data/big.iso"), now: Date())
/// ```
///
/// ### Files
/// - `path`: the journal: a 16-byte header (magic, format version), then one record per state
///   change: payload length, CRC-32C, payload (see `Documentation/JobStores.md`).
/// - `path + ".lock"`: holds an exclusive `flock` while the store is open and the owner's pid.
///   A second opener (another process, or a second store in this one) gets
///   ``JobStoreError/lockedByProcess(pid:path:)``.
/// - `path + ".compact"`: a snapshot being written; removed on open if a crash left it.
/// All are created with mode 0600.
///
/// ### Guarantees
/// - A method returns after its record is durable under ``durability`` (see ``Durability``).
/// - **Recovery:** opening replays the journal. A damaged tail (torn by a crash mid-write, or
///   starting with zeros up to a 4 KiB block boundary: unsynced appends that a power cut wrote
///   back out of order) is truncated and reported in ``recoveryReport``; other damage *before*
///   the last valid record throws
///   ``JobStoreError/corruptJournal(path:offset:reason:)`` and leaves the file untouched: no
///   committed job is ever dropped silently.
/// - **Compaction:** when the journal outgrows ``Compaction/growthFactor`` × the live size, the
///   store writes a snapshot to `path.compact`, `fsync`s it, renames it over the journal and
///   `fsync`s the directory. A crash at any point leaves either the old or the new journal, both
///   complete.
/// - After an I/O error the store throws ``JobStoreError/unusable(reason:)`` from every call:
///   reopen it (recovery restores the last durable state).
///
/// Reads (``job(id:)``, ``jobs(matching:)``) and claims may see changes of concurrent writers
/// that are still waiting for their group commit.
public actor FileJournalJobStore: JobStore {
    /// The journal file's path.
    public nonisolated let path: String
    /// The durability policy given at open.
    public nonisolated let durability: Durability
    /// The compaction policy given at open.
    public nonisolated let compaction: Compaction
    /// What recovery found when the store was opened.
    public nonisolated let recoveryReport: JournalRecoveryReport

    private var table: JobTable
    private var journal: FileDescriptor?
    private var lockFile: FileDescriptor?
    private var journalBytes: Int64
    private var liveBytes: Int64
    private var sequence: UInt64 = 0
    private var groupCommit: GroupCommit?
    private var failure: JobStoreError?
    private var buffer = ByteWriter()
    /// The leases of the jobs that were `running` when the journal was opened (owner and
    /// expiry): their holders no longer have the journal open. See ``recoverAbandonedLeases(now:)``.
    private var inheritedLeases: [UUID: (owner: String?, expiresAt: Date?)]

    /// Opens (creating if needed) the journal at `path` and replays it. The directory must exist.
    ///
    /// Cost: linear in the journal size (about 1 s per million records in release builds is the
    /// target; see the benchmarks).
    /// - Throws: ``JobStoreError/lockedByProcess(pid:path:)``, ``JobStoreError/notAJournal(path:)``,
    ///   ``JobStoreError/corruptHeader(path:)``, ``JobStoreError/unsupportedFormatVersion(found:supported:)``,
    ///   ``JobStoreError/corruptJournal(path:offset:reason:)``, ``JobStoreError/io(operation:path:errno:)``.
    public init(path: String, durability: Durability = .fsyncEachWrite, compaction: Compaction = Compaction()) throws {
        self.path = path
        self.durability = durability
        self.compaction = compaction
        let lockFile = try FileDescriptor.lock(path + ".lock")
        try FileDescriptor.removeIfPresent(path + ".compact")
        var created = false
        if !FileDescriptor.exists(path) {
            try Self.writeSnapshot(JobTable(), to: path)
            created = true
        }
        let journal = try FileDescriptor.open(path, flags: O_RDWR)
        let bytes = try journal.readAll()
        var replay = try bytes.withUnsafeBytes { buffer throws(JobStoreError) in try JournalReplay.replay(buffer, path: path) }
        if replay.needsHeader {
            try journal.truncate(to: 0)
            try journal.write(JournalCodec.header(), at: 0)
            try journal.syncAll()
            replay.validEnd = JournalCodec.headerSize
            created = true
        } else if replay.validEnd < bytes.count {
            try journal.truncate(to: Int64(replay.validEnd))
            try journal.syncAll()
        }
        self.recoveryReport = JournalRecoveryReport(
            recordsReplayed: replay.records, jobCount: replay.table.count, journalBytes: Int64(replay.validEnd),
            truncatedBytes: replay.needsHeader ? 0 : Int64(bytes.count - replay.validEnd),
            truncationReason: replay.damage, createdJournal: created
        )
        self.table = replay.table
        self.inheritedLeases = Dictionary(uniqueKeysWithValues: replay.table.jobs(matching: JobQuery(states: [.running]))
            .map { ($0.id, (owner: $0.leaseOwner, expiresAt: $0.leaseExpiresAt)) })
        self.journal = journal
        self.lockFile = lockFile
        self.journalBytes = Int64(replay.validEnd)
        self.liveBytes = max(replay.liveBytes, Int64(JournalCodec.headerSize))
        if case .groupCommit(let window) = durability {
            self.groupCommit = GroupCommit(window: window)
        } else {
            self.groupCommit = nil
        }
    }

    /// The number of jobs, terminal ones included.
    public var count: Int { table.count }

    /// The journal's current size in bytes.
    public var journalSize: Int64 { journalBytes }

    /// Releases the files and the lock. Later calls throw ``JobStoreError/unusable(reason:)``.
    /// Deinitialising the store does the same.
    public func close() {
        failure = failure ?? .unusable(reason: "the store was closed")
        wakeGroupCommitWaiters(failed: true)
        journal = nil
        lockFile = nil
    }

    /// Rewrites the journal as a snapshot of the current jobs now (normally automatic, see
    /// ``Compaction``). Crash-safe: temp file, `fsync`, `rename`, `fsync` of the directory.
    public func compact() throws {
        try checkUsable()
        do {
            let (file, size) = try Self.writeSnapshot(table, to: path)
            journal = file
            journalBytes = size
            liveBytes = size
            groupCommit?.synced = sequence
            wakeGroupCommitWaiters(failed: false)
        } catch {
            failure = .unusable(reason: "compaction failed: \(error)")
            throw error
        }
    }

    // MARK: JobStore

    /// Implements ``JobStore/enqueue(_:now:)``. Returns once the change is durable under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    @discardableResult
    public func enqueue(_ job: DownloadJob, now: Date) async throws -> UUID {
        try checkUsable()
        let (id, record) = try table.enqueue(job, now: now)
        try await commit(record.map { [$0] } ?? [])
        return id
    }

    /// Implements ``JobStore/claimNext(owner:leaseFor:now:)``. Returns once the change is durable under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    public func claimNext(owner: String, leaseFor: Duration, now: Date) async throws -> DownloadJob? {
        try checkUsable()
        let (job, records) = try table.claimNext(owner: owner, leaseFor: leaseFor, now: now)
        try await commit(records)
        return job
    }

    /// Implements ``JobStore/renewLease(id:owner:leaseFor:now:)``. Returns once the change is durable under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    @discardableResult
    public func renewLease(id: UUID, owner: String, leaseFor: Duration, now: Date) async throws -> DownloadJob {
        try JobTable.validateLease(leaseFor)
        return try await perform(.renew(id: id, owner: owner, leaseExpiresAt: now + leaseFor.timeInterval, now: now))
    }

    /// Implements ``JobStore/recordProgress(id:owner:bytesDone:bytesTotal:now:)``. Returns once the change is durable under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    public func recordProgress(id: UUID, owner: String, bytesDone: Int64, bytesTotal: Int64?, now: Date) async throws {
        try await perform(.progress(id: id, owner: owner, bytesDone: bytesDone, bytesTotal: bytesTotal, now: now))
    }

    /// Implements ``JobStore/complete(id:owner:now:)``. Returns once the change is durable under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    public func complete(id: UUID, owner: String, now: Date) async throws {
        try await perform(.complete(id: id, owner: owner, now: now))
    }

    /// Implements ``JobStore/scheduleRetry(id:owner:at:error:now:)``. Returns once the change is durable under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    @discardableResult
    public func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, now: Date) async throws -> DownloadJob {
        try await perform(.retry(id: id, owner: owner, at: at, error: error.truncated, now: now))
    }

    /// Implements ``JobStore/scheduleRetry(id:owner:at:error:metadata:now:)``: the retry and the
    /// merged metadata are one journal record, durable together under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    @discardableResult
    public func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, metadata: [String: String],
                              now: Date) async throws -> DownloadJob {
        try await perform(.retryWithMetadata(id: id, owner: owner, at: at, error: error.truncated, metadata: metadata, now: now))
    }

    /// Implements ``JobStore/fail(id:owner:error:now:)``. Returns once the change is durable under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    public func fail(id: UUID, owner: String, error: JobFailure, now: Date) async throws {
        try await perform(.fail(id: id, owner: owner, error: error.truncated, now: now))
    }

    /// Implements ``JobStore/cancel(id:now:)``. Returns once the change is durable under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    public func cancel(id: UUID, now: Date) async throws {
        try await perform(.cancel(id: id, now: now))
    }

    /// Implements ``JobStore/job(id:)``. Reads only (no I/O).
    public func job(id: UUID) throws -> DownloadJob? {
        try checkUsable()
        return table.job(id)
    }

    /// Implements ``JobStore/jobs(matching:)``. Reads only (no I/O).
    public func jobs(matching query: JobQuery) throws -> [DownloadJob] {
        try checkUsable()
        return table.jobs(matching: query)
    }

    /// Implements ``JobStore/recoverExpiredLeases(now:)``. Returns once the change is durable under ``durability``;
    /// throws ``JobStoreError/unusable(reason:)`` after ``close()`` or an I/O failure.
    @discardableResult
    public func recoverExpiredLeases(now: Date) async throws -> [UUID] {
        try checkUsable()
        let records = table.expireLeases(now: now)
        try await commit(records)
        return records.compactMap { record in
            if case .expire(let id, _) = record { id } else { nil }
        }
    }

    /// Implements ``JobStore/updateSources(id:url:mirrors:metadata:now:)``: one journal record,
    /// durable under ``durability``; throws ``JobStoreError/unusable(reason:)`` after ``close()``
    /// or an I/O failure.
    @discardableResult
    public func updateSources(id: UUID, url: URL, mirrors: [URL], metadata: [String: String], now: Date) async throws -> DownloadJob {
        try await perform(.updateSources(id: id, url: url, mirrors: mirrors, metadata: metadata, now: now))
    }

    /// Implements ``JobStore/recoverAbandonedLeases(now:)``: the leases the journal held when
    /// this store opened it (their holders closed it or died: the exclusive lock proves it) are
    /// released if still held under that same lease — not renewed or claimed since — then expired
    /// leases are swept. Returns once the change is durable under ``durability``.
    @discardableResult
    public func recoverAbandonedLeases(now: Date) async throws -> [UUID] {
        try checkUsable()
        var records: [JobRecord] = []
        for (id, lease) in inheritedLeases.sorted(by: { ($0.value.expiresAt ?? .distantPast) < ($1.value.expiresAt ?? .distantPast) }) {
            guard let job = table.job(id), job.state == .running, job.leaseOwner == lease.owner,
                  job.leaseExpiresAt == lease.expiresAt else { continue }
            let record = JobRecord.release(id: id, now: now)
            if (try? table.apply(record)) != nil { records.append(record) }
        }
        inheritedLeases = [:]
        records += table.expireLeases(now: now)
        try await commit(records)
        return records.compactMap { record in
            switch record {
            case .expire(let id, _), .release(let id, _): id
            default: nil
            }
        }
    }

    // MARK: Writing

    private func checkUsable() throws {
        if let failure { throw failure }
    }

    @discardableResult
    private func perform(_ record: JobRecord) async throws -> DownloadJob {
        try checkUsable()
        let job = try table.apply(record)
        try await commit([record])
        return job
    }

    /// Appends `records` (already applied to the table) and returns once they, and every earlier
    /// record, are durable under the policy. Any I/O failure makes the store unusable: the table
    /// is then ahead of the disk, and only a reopen can reconcile them.
    private func commit(_ records: [JobRecord]) async throws {
        if !records.isEmpty {
            guard let journal else { throw failure ?? .unusable(reason: "the store was closed") }
            buffer.bytes.removeAll(keepingCapacity: true)
            for record in records {
                let size = JournalCodec.appendFrame(record, to: &buffer)
                if case .enqueue = record { liveBytes += Int64(size) + JournalReplay.perJobSlack }
            }
            do {
                try journal.write(buffer.bytes, at: journalBytes)
                journalBytes += Int64(buffer.bytes.count)
                sequence += 1
                if durability == .fsyncEachWrite { try journal.syncData() }
            } catch {
                failure = .unusable(reason: "journal write failed: \(error)")
                throw error
            }
        }
        if groupCommit != nil { try await waitForGroupCommit(sequence) }
        if !records.isEmpty, failure == nil, journalBytes >= compaction.minimumJournalBytes,
           Double(journalBytes) > compaction.growthFactor * Double(liveBytes) {
            // Our records are durable either way; a failed compaction only makes later calls
            // throw (`compact()` recorded the failure), so it must not fail this call.
            try? compact()
        }
    }

    // MARK: Group commit

    /// Returns once appends up to `target` are durable, starting a sync loop if none runs.
    private func waitForGroupCommit(_ target: UInt64) async throws {
        if let failure { throw failure }
        guard let group = groupCommit, group.synced < target else { return }
        if !group.syncing {
            groupCommit?.syncing = true
            Task { await self.groupSyncLoop() }
        }
        try await withCheckedThrowingContinuation { continuation in
            groupCommit?.waiters.append(GroupCommit.Waiter(sequence: target, continuation: continuation))
        }
    }

    /// One `fdatasync` per round while writers wait; each covers every append before it started.
    private func groupSyncLoop() async {
        while let group = groupCommit, !group.waiters.isEmpty {
            if group.window > .zero { await GroupCommit.pause(group.window) }
            guard failure == nil, let journal else { break }
            let target = sequence
            if let error = await GroupCommit.sync(journal) {
                failure = failure ?? .unusable(reason: "group commit failed: \(error)")
                break
            }
            let synced = max(groupCommit?.synced ?? 0, target)
            groupCommit?.synced = synced
            wakeGroupCommitWaiters(failed: false)
        }
        groupCommit?.syncing = false
        if failure != nil { wakeGroupCommitWaiters(failed: true) }
    }

    /// Resumes the group-commit waiters covered by `groupCommit.synced`, or, when `failed`, all
    /// of them with the store's failure.
    private func wakeGroupCommitWaiters(failed: Bool) {
        let ready = groupCommit?.takeReady(failed: failed) ?? []
        let error = failure ?? .unusable(reason: "the store was closed")
        for waiter in ready {
            if failed { waiter.continuation.resume(throwing: error) } else { waiter.continuation.resume() }
        }
    }

    /// Writes `table` as a complete journal (header + one snapshot record per job) to
    /// `path.compact`, `fsync`s it, renames it to `path` and `fsync`s the directory. Returns the
    /// new journal, open for appending, and its size.
    @discardableResult
    private static func writeSnapshot(_ table: JobTable, to path: String) throws(JobStoreError) -> (FileDescriptor, Int64) {
        let temporary = path + ".compact"
        try FileDescriptor.removeIfPresent(temporary)
        let file = try FileDescriptor.open(temporary, flags: O_RDWR | O_CREAT | O_EXCL)
        var writer = ByteWriter()
        writer.bytes = JournalCodec.header()
        var written: Int64 = 0
        for job in table.jobsInEnqueueOrder() {
            JournalCodec.appendFrame(.snapshot(job), to: &writer)
            if writer.bytes.count >= 1 << 20 {
                try file.write(writer.bytes, at: written)
                written += Int64(writer.bytes.count)
                writer.bytes.removeAll(keepingCapacity: true)
            }
        }
        try file.write(writer.bytes, at: written)
        written += Int64(writer.bytes.count)
        try file.syncAll()
        try FileDescriptor.rename(temporary, to: path)
        try FileDescriptor.syncDirectory(of: path)
        return (file, written)
    }
}
