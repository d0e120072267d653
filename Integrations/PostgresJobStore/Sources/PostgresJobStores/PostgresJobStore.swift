import Foundation
import JobStores
import PostgresNIO

/// A `JobStore` in a PostgreSQL table: one download queue shared by any number of worker
/// processes on any number of machines.
///
/// You pass in your own `PostgresClient` (connection pool) and keep it running (`client.run()`
/// in a task); the store never opens connections of its own. Call ``migrate()`` once per
/// deployment (it is idempotent and safe to run from every worker at start-up), then use the
/// store like any other `JobStore`:
/// ```swift
/// let client = PostgresClient(configuration: .init(host: "db", username: "app", password: secret, database: "app", tls: .disable))
/// let store = try PostgresJobStore(client: client)
/// try await store.migrate()
/// if let job = try await store.claimNext(owner: "host-7/worker-2", leaseFor: .seconds(60), now: Date()) { ... }
/// ```
///
/// Every call is one or two SQL statements, each atomic on its own:
/// - ``claimNext(owner:leaseFor:now:)`` first sweeps expired leases (one `UPDATE`), then claims
///   with one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING …`, so
///   concurrent workers never wait for each other's rows and never get the same job.
/// - Every transition of a held job is guarded in SQL (`WHERE state = 'running' AND lease_owner =
///   $owner`): a worker whose lease was taken over gets `JobStoreError.leaseLost` and cannot
///   overwrite the new owner's work.
/// - At most one active (`pending`, `running`, `retrying`) job per destination, enforced by a
///   partial unique index.
///
/// **Time.** By default every wall time is the `now` argument of each call (``TimeSource/caller``),
/// like the other stores, so tests drive it. For fleets whose machine clocks may disagree, use
/// ``TimeSource/database``: the server's `statement_timestamp()` replaces every `now`. Times are
/// stored as `timestamptz`, with microsecond precision.
///
/// **Durability.** A call that returned was committed by PostgreSQL (durable under the server's
/// `synchronous_commit` setting); a call that threw changed nothing, except that a connection
/// lost while the server commits leaves the outcome unknown (a lost claim then simply expires).
///
/// **Errors.** `JobStoreError` as the protocol documents; ``PostgresJobStoreError`` for schema
/// problems; PostgresNIO's `PSQLError` when the server is unreachable or a statement fails.
public struct PostgresJobStore: JobStore {
    /// Where the store's wall time comes from.
    public enum TimeSource: Sendable, Hashable {
        /// The `now` argument of each call (the default; deterministic in tests).
        case caller
        /// The database server's `statement_timestamp()`; every `now` argument is ignored (the
        /// `at` of ``PostgresJobStore/scheduleRetry(id:owner:at:error:now:)`` is still used as
        /// given). Use it when workers' clocks may be skewed: leases then expire by one clock.
        case database
    }

    /// The connection pool the store runs its statements on (owned and run by the caller).
    public let client: PostgresClient
    /// Where wall time comes from (default ``TimeSource/caller``).
    public let timeSource: TimeSource
    /// The SQL schema holding the job table (default `"public"`).
    public var schema: String { names.schema }
    /// The job table's name (default `"download_jobs"`).
    public var table: String { names.table }
    /// The schema version ``migrate()`` creates and this library reads.
    public static let schemaVersion = JobTableSchema.currentVersion

    let names: JobTableSchema
    let logger: Logger

    /// Creates a store on `client`'s database. Nothing is sent to the server until the first call.
    ///
    /// - Parameters:
    ///   - schema, table: plain lowercase SQL identifiers (`[a-z_][a-z0-9_]*`, at most 48 bytes).
    ///     One table is one queue; several stores may use several tables.
    ///   - timeSource: ``TimeSource/caller`` (default) or ``TimeSource/database``.
    ///   - logger: where PostgresNIO logs this store's transactions (at debug level and below).
    /// - Throws: ``PostgresJobStoreError/invalidIdentifier(_:)``.
    public init(
        client: PostgresClient, schema: String = "public", table: String = "download_jobs",
        timeSource: TimeSource = .caller, logger: Logger = Logger(label: "PostgresJobStore")
    ) throws(PostgresJobStoreError) {
        self.client = client
        self.names = try JobTableSchema(schema: schema, table: table)
        self.timeSource = timeSource
        self.logger = logger
    }

    // MARK: Schema

    /// Creates or upgrades the schema, the job table and its indexes to ``schemaVersion``, in one
    /// transaction under an advisory lock, so concurrent callers (every worker at start-up) are
    /// safe. Idempotent: a second call changes nothing.
    ///
    /// - Returns: the version found before the call (`0` for a new database).
    /// - Throws: ``PostgresJobStoreError/newerSchema(found:supported:)`` when a newer release
    ///   already migrated the table (nothing is changed: no silent downgrade); `PSQLError`.
    @discardableResult
    public func migrate() async throws -> Int {
        do {
            return try await migrateInTransaction()
        } catch let error as PostgresTransactionError {
            // Rolled back: report our own error as itself, not wrapped.
            if let ours = error.closureError as? PostgresJobStoreError { throw ours }
            throw error
        }
    }

    private func migrateInTransaction() async throws -> Int {
        let (names, logger) = (self.names, self.logger)
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT pg_advisory_xact_lock(hashtext($1))", binds: Self.bindings(names.jobs)),
                logger: logger
            )
            // CREATE SCHEMA needs the database's CREATE privilege even when the schema exists:
            // only run it for a schema that is missing.
            var schemaExists = false
            for try await _ in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT 1::int4 FROM pg_namespace WHERE nspname = $1", binds: Self.bindings(names.schema)),
                logger: logger
            ).decode(Int32.self) {
                schemaExists = true
            }
            if !schemaExists {
                try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(names.schema)\""), logger: logger)
            }
            try await connection.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS \(names.versionTable) (
                    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL)
                """), logger: logger)
            var found = 0
            for try await (version) in try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT version FROM \(names.versionTable)"), logger: logger
            ).decode(Int32.self) {
                found = Int(version)
            }
            guard found <= JobTableSchema.currentVersion else {
                throw PostgresJobStoreError.newerSchema(found: found, supported: JobTableSchema.currentVersion)
            }
            guard found < JobTableSchema.currentVersion else { return found }
            for version in (found + 1)...JobTableSchema.currentVersion {
                for statement in names.migration(to: version) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
            try await connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(names.versionTable) (singleton, version) VALUES (true, $1)
                ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version
                """, binds: Self.bindings(Int32(JobTableSchema.currentVersion))), logger: logger)
            return found
        }
    }

    // MARK: JobStore

    /// Implements `JobStore.enqueue(_:now:)`: one `INSERT … ON CONFLICT DO NOTHING`; a conflict
    /// on the active-destination index returns the existing job's id.
    /// - Throws: `JobStoreError.invalidArgument` (as the protocol documents, and for NUL
    ///   characters, which PostgreSQL text cannot hold); `PSQLError`.
    @discardableResult
    public func enqueue(_ job: DownloadJob, now: Date) async throws -> UUID {
        try EnqueueValidation.check(job)
        let metadata = String(decoding: try JSONEncoder().encode(job.metadata), as: UTF8.self)
        let headers = String(decoding: try JSONEncoder().encode(job.headers), as: UTF8.self)
        // A conflicting active job may finish between the INSERT and the look-up: try again then.
        for _ in 0..<8 {
            var sql = builder(now)
            sql.append("""
                INSERT INTO \(names.jobs) (id, url, mirrors, destination, expected_length, expected_sha256, priority,
                    state, attempts, max_attempts, next_attempt_at, bytes_done, created_at, updated_at, metadata, headers)
                VALUES (\(sql.bind(job.id)), \(sql.bind(job.url.absoluteString)), \(sql.bind(job.mirrors.map(\.absoluteString))),
                    \(sql.bind(job.destination)), \(sql.bind(job.expectedLength)), \(sql.bind(job.expectedSHA256)),
                    \(sql.bind(Int64(job.priority))), 'pending', 0, \(sql.bind(Int64(job.maxAttempts))),
                    GREATEST(\(sql.bind(job.nextAttemptAt)), \(sql.now)), 0, \(sql.now), \(sql.now), \(sql.bind(metadata))::jsonb,
                    \(sql.bind(headers))::jsonb)
                ON CONFLICT DO NOTHING
                RETURNING id
                """)
            if let id = try await firstRow(sql, as: UUID.self) { return id }
            var lookup = SQLBuilder(now: nil)
            lookup.append("""
                SELECT id FROM \(names.jobs) WHERE md5(destination) = md5(\(lookup.bind(job.destination)))
                    AND destination = \(lookup.bind(job.destination)) AND state IN \(JobTableSchema.activeStates)
                """)
            if let existing = try await firstRow(lookup, as: UUID.self) { return existing }
            if try await exists(job.id) { throw JobStoreError.invalidArgument("a job with id \(job.id) already exists") }
        }
        throw JobStoreError.invalidArgument("destination \(job.destination) keeps conflicting with another active job")
    }

    /// Implements `JobStore.claimNext(owner:leaseFor:now:)` in **one statement** (see
    /// ``claimStatement(owner:leaseFor:now:)``): it sweeps every expired lease exactly as
    /// ``recoverExpiredLeases(now:)`` does and claims the best due job — a swept one included —
    /// in the same `UPDATE`, walking the claim index (no sequential scan). Rows another session
    /// holds locked are skipped (`FOR UPDATE SKIP LOCKED`), never waited for.
    /// - Throws: `JobStoreError.invalidArgument` for an empty owner or a lease that is not
    ///   positive; `PSQLError`.
    public func claimNext(owner: String, leaseFor: Duration, now: Date) async throws -> DownloadJob? {
        try EnqueueValidation.check(owner: owner)
        try EnqueueValidation.check(lease: leaseFor)
        // The statement also returns the jobs it swept (now `retrying` or `failed`); the claimed
        // one is the only row it leaves `running`.
        return try await jobs(claimStatement(owner: owner, leaseFor: leaseFor, now: now)).first { $0.state == .running }
    }

    /// The claim statement of ``claimNext(owner:leaseFor:now:)`` (tests `EXPLAIN` it):
    ///
    /// - `expired` locks every `running` job whose lease expired (the lease index, expiry order);
    /// - `fresh` is the first due `pending`/`retrying` job in claim order (the claim index, read in
    ///   order, `LIMIT 1`), `reclaim` the best expired job with attempts left;
    /// - `pick` is the better of those two (at most two rows are compared);
    /// - one `UPDATE` of `pick` ∪ `expired` makes the pick `running` under the new lease and gives
    ///   every other expired job what ``recoverExpiredLeases(now:)`` gives it (`retrying` now, or
    ///   `failed` when its attempts are spent). Each row is updated once.
    ///
    /// The result is the same as the sweep followed by the claim, without a window between them.
    func claimStatement(owner: String, leaseFor: Duration, now: Date) -> SQLBuilder {
        var sql = builder(now)
        let owner = sql.bind(owner)
        let leaseEnd = sql.now(plus: leaseFor)
        sql.append("""
            WITH expired AS (
                SELECT id FROM \(names.jobs)
                WHERE state = 'running' AND lease_expires_at <= \(sql.now)
                ORDER BY lease_expires_at, seq
                FOR UPDATE SKIP LOCKED),
            fresh AS (
                SELECT id, priority, created_at, seq FROM \(names.jobs)
                WHERE state IN ('pending', 'retrying') AND next_attempt_at <= \(sql.now)
                ORDER BY priority DESC, created_at, seq
                FOR UPDATE SKIP LOCKED
                LIMIT 1),
            reclaim AS (
                SELECT id, priority, created_at, seq FROM \(names.jobs)
                WHERE id IN (SELECT id FROM expired) AND attempts < max_attempts
                ORDER BY priority DESC, created_at, seq
                LIMIT 1),
            pick AS (
                SELECT id FROM (SELECT * FROM fresh UNION ALL SELECT * FROM reclaim) AS candidate
                ORDER BY priority DESC, created_at, seq
                LIMIT 1)
            UPDATE \(names.jobs) AS job SET
                state = CASE WHEN job.id IN (SELECT id FROM pick) THEN 'running'
                    WHEN job.attempts >= job.max_attempts THEN 'failed' ELSE 'retrying' END,
                attempts = CASE WHEN job.id IN (SELECT id FROM pick) THEN job.attempts + 1 ELSE job.attempts END,
                next_attempt_at = CASE WHEN job.state <> 'running' OR job.attempts >= job.max_attempts
                    THEN job.next_attempt_at ELSE \(sql.now) END,
                last_error_message = CASE WHEN job.state = 'running'
                    THEN 'lease of ' || job.lease_owner || ' expired' ELSE job.last_error_message END,
                last_error_retryable = CASE WHEN job.state = 'running' THEN true ELSE job.last_error_retryable END,
                lease_owner = CASE WHEN job.id IN (SELECT id FROM pick) THEN \(owner) END,
                lease_expires_at = CASE WHEN job.id IN (SELECT id FROM pick) THEN \(leaseEnd) END,
                updated_at = \(sql.now)
            WHERE job.id = ANY(ARRAY(SELECT id FROM pick UNION ALL SELECT id FROM expired))
            RETURNING \(JobTableSchema.columns)
            """)
        return sql
    }

    /// Implements `JobStore.renewLease(id:owner:leaseFor:now:)`: one guarded `UPDATE`.
    /// - Throws: `JobStoreError.leaseLost`, `.unknownJob`, `.invalidArgument`; `PSQLError`.
    @discardableResult
    public func renewLease(id: UUID, owner: String, leaseFor: Duration, now: Date) async throws -> DownloadJob {
        try EnqueueValidation.check(lease: leaseFor)
        var sql = builder(now)
        sql.append("UPDATE \(names.jobs) SET lease_expires_at = \(sql.now(plus: leaseFor)), updated_at = \(sql.now)")
        return try await guarded(&sql, id: id, owner: owner, target: .running)
    }

    /// Implements `JobStore.recordProgress(id:owner:bytesDone:bytesTotal:now:)`: one guarded `UPDATE`.
    /// - Throws: `JobStoreError.leaseLost`, `.unknownJob`, `.invalidArgument` for negative
    ///   counts; `PSQLError`.
    public func recordProgress(id: UUID, owner: String, bytesDone: Int64, bytesTotal: Int64?, now: Date) async throws {
        guard bytesDone >= 0, (bytesTotal ?? 0) >= 0 else { throw JobStoreError.invalidArgument("byte counts must not be negative") }
        var sql = builder(now)
        sql.append("""
            UPDATE \(names.jobs) SET bytes_done = \(sql.bind(bytesDone)),
                bytes_total = COALESCE(\(sql.bind(bytesTotal)), bytes_total), updated_at = \(sql.now)
            """)
        _ = try await guarded(&sql, id: id, owner: owner, target: .running)
    }

    /// Implements `JobStore.complete(id:owner:now:)`: one guarded `UPDATE`.
    /// - Throws: `JobStoreError.leaseLost`, `.illegalTransition` (already terminal),
    ///   `.unknownJob`; `PSQLError`.
    public func complete(id: UUID, owner: String, now: Date) async throws {
        var sql = builder(now)
        sql.append("UPDATE \(names.jobs) SET state = 'completed', lease_owner = NULL, lease_expires_at = NULL, updated_at = \(sql.now)")
        _ = try await guarded(&sql, id: id, owner: owner, target: .completed)
    }

    /// Implements `JobStore.scheduleRetry(id:owner:at:error:now:)`: one guarded `UPDATE` that
    /// chooses `retrying` or (attempts exhausted) `failed`.
    /// - Throws: like ``complete(id:owner:now:)``.
    @discardableResult
    public func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, now: Date) async throws -> DownloadJob {
        let error = EnqueueValidation.truncated(error)
        var sql = builder(now)
        sql.append("""
            UPDATE \(names.jobs) SET
                state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,
                next_attempt_at = CASE WHEN attempts >= max_attempts THEN next_attempt_at ELSE \(sql.bind(at)) END,
                last_error_message = \(sql.bind(error.message)), last_error_retryable = \(sql.bind(error.isRetryable)),
                lease_owner = NULL, lease_expires_at = NULL, updated_at = \(sql.now)
            """)
        return try await guarded(&sql, id: id, owner: owner, target: .retrying)
    }

    /// Implements `JobStore.scheduleRetry(id:owner:at:error:metadata:now:)`: the same guarded
    /// `UPDATE` as ``scheduleRetry(id:owner:at:error:now:)``, which also merges `metadata` into
    /// the job's `jsonb` metadata (`metadata || patch`) in the same statement.
    /// - Throws: like ``complete(id:owner:now:)``; `JobStoreError.invalidArgument` when
    ///   `metadata` alone exceeds `DownloadJob.maximumMetadataBytes` (the merged size is not
    ///   re-checked by the server).
    @discardableResult
    public func scheduleRetry(id: UUID, owner: String, at: Date, error: JobFailure, metadata: [String: String],
                              now: Date) async throws -> DownloadJob {
        let bytes = metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        guard bytes <= DownloadJob.maximumMetadataBytes,
              !metadata.contains(where: { $0.key.utf8.contains(0) || $0.value.utf8.contains(0) }) else {
            throw JobStoreError.invalidArgument("metadata over \(DownloadJob.maximumMetadataBytes) bytes or with NUL bytes")
        }
        let error = EnqueueValidation.truncated(error)
        let patch = String(decoding: try JSONEncoder().encode(metadata), as: UTF8.self)
        var sql = builder(now)
        sql.append("""
            UPDATE \(names.jobs) SET
                state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'retrying' END,
                next_attempt_at = CASE WHEN attempts >= max_attempts THEN next_attempt_at ELSE \(sql.bind(at)) END,
                last_error_message = \(sql.bind(error.message)), last_error_retryable = \(sql.bind(error.isRetryable)),
                metadata = metadata || \(sql.bind(patch))::jsonb,
                lease_owner = NULL, lease_expires_at = NULL, updated_at = \(sql.now)
            """)
        return try await guarded(&sql, id: id, owner: owner, target: .retrying)
    }

    /// Implements `JobStore.updateSources(id:url:mirrors:metadata:now:)`: one `UPDATE` of a
    /// non-terminal job that replaces `url` and `mirrors` and merges `metadata` into the `jsonb`
    /// metadata; state, attempts and lease stay as they are.
    /// - Throws: `JobStoreError.invalidArgument` (a URL over its size limit, too many mirrors,
    ///   metadata over `DownloadJob.maximumMetadataBytes`, NUL characters), `.unknownJob`,
    ///   `.illegalTransition` (the job is terminal); `PSQLError`.
    @discardableResult
    public func updateSources(id: UUID, url: URL, mirrors: [URL], metadata: [String: String],
                              now: Date) async throws -> DownloadJob {
        try EnqueueValidation.check(url: url, mirrors: mirrors, metadata: metadata)
        let patch = String(decoding: try JSONEncoder().encode(metadata), as: UTF8.self)
        var sql = builder(now)
        sql.append("""
            UPDATE \(names.jobs) SET url = \(sql.bind(url.absoluteString)), mirrors = \(sql.bind(mirrors.map(\.absoluteString))),
                metadata = metadata || \(sql.bind(patch))::jsonb, updated_at = \(sql.now)
            WHERE id = \(sql.bind(id)) AND state IN \(JobTableSchema.activeStates)
            RETURNING \(JobTableSchema.columns)
            """)
        if let job = try await jobs(sql).first { return job }
        guard let current = try await job(id: id) else { throw JobStoreError.unknownJob(id) }
        throw JobStoreError.illegalTransition(job: id, from: current.state, to: current.state)
    }

    /// Implements `JobStore.fail(id:owner:error:now:)`: one guarded `UPDATE`.
    /// - Throws: like ``complete(id:owner:now:)``.
    public func fail(id: UUID, owner: String, error: JobFailure, now: Date) async throws {
        let error = EnqueueValidation.truncated(error)
        var sql = builder(now)
        sql.append("""
            UPDATE \(names.jobs) SET state = 'failed', last_error_message = \(sql.bind(error.message)),
                last_error_retryable = \(sql.bind(error.isRetryable)), lease_owner = NULL, lease_expires_at = NULL,
                updated_at = \(sql.now)
            """)
        _ = try await guarded(&sql, id: id, owner: owner, target: .failed)
    }

    /// Implements `JobStore.cancel(id:now:)`: one `UPDATE` of a non-terminal job.
    /// - Throws: `JobStoreError.illegalTransition` (already terminal), `.unknownJob`; `PSQLError`.
    public func cancel(id: UUID, now: Date) async throws {
        var sql = builder(now)
        sql.append("""
            UPDATE \(names.jobs) SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, updated_at = \(sql.now)
            WHERE id = \(sql.bind(id)) AND state IN \(JobTableSchema.activeStates)
            RETURNING id
            """)
        if try await firstRow(sql, as: UUID.self) != nil { return }
        guard let current = try await job(id: id) else { throw JobStoreError.unknownJob(id) }
        throw JobStoreError.illegalTransition(job: id, from: current.state, to: .cancelled)
    }

    /// Implements `JobStore.job(id:)`. Reads only.
    /// - Throws: `PSQLError`; ``PostgresJobStoreError/corruptRow(reason:)``.
    public func job(id: UUID) async throws -> DownloadJob? {
        var sql = SQLBuilder(now: nil)
        sql.append("SELECT \(JobTableSchema.columns) FROM \(names.jobs) WHERE id = \(sql.bind(id))")
        return try await jobs(sql).first
    }

    /// Implements `JobStore.jobs(matching:)`: oldest first (`created_at`, then insertion order).
    /// Reads only.
    /// - Throws: `PSQLError`; ``PostgresJobStoreError/corruptRow(reason:)``.
    public func jobs(matching query: JobQuery) async throws -> [DownloadJob] {
        var sql = SQLBuilder(now: nil)
        var conditions = ["true"]
        if let states = query.states {
            conditions.append("state = ANY(\(sql.bind(states.map(\.description))))")
        }
        if let destination = query.destination { conditions.append("destination = \(sql.bind(destination))") }
        if let owner = query.leaseOwner { conditions.append("lease_owner = \(sql.bind(owner))") }
        var limit = ""
        if let count = query.limit { limit = " LIMIT \(sql.bind(Int64(max(count, 0))))" }
        sql.append("""
            SELECT \(JobTableSchema.columns) FROM \(names.jobs)
            WHERE \(conditions.joined(separator: " AND ")) ORDER BY created_at, seq\(limit)
            """)
        return try await jobs(sql)
    }

    /// Implements `JobStore.recoverExpiredLeases(now:)`: one `UPDATE` of every `running` job
    /// whose lease expired at or before `now` (rows another session holds locked are left to the
    /// next sweep). Returns the swept ids in expiry order.
    /// - Throws: `PSQLError`.
    @discardableResult
    public func recoverExpiredLeases(now: Date) async throws -> [UUID] {
        var sql = builder(now)
        sql.append("""
            WITH expired AS (
                SELECT id, lease_owner, lease_expires_at, seq FROM \(names.jobs)
                WHERE state = 'running' AND lease_expires_at <= \(sql.now)
                ORDER BY lease_expires_at, seq
                FOR UPDATE SKIP LOCKED)
            UPDATE \(names.jobs) AS job SET
                state = CASE WHEN job.attempts >= job.max_attempts THEN 'failed' ELSE 'retrying' END,
                next_attempt_at = CASE WHEN job.attempts >= job.max_attempts THEN job.next_attempt_at ELSE \(sql.now) END,
                last_error_message = 'lease of ' || expired.lease_owner || ' expired', last_error_retryable = true,
                lease_owner = NULL, lease_expires_at = NULL, updated_at = \(sql.now)
            FROM expired WHERE job.id = expired.id
            RETURNING job.id, expired.lease_expires_at, expired.seq
            """)
        var swept: [(id: UUID, expiry: Date, seq: Int64)] = []
        for try await (id, expiry, seq) in try await client.query(sql.query).decode((UUID, Date, Int64).self) {
            swept.append((id, expiry, seq))
        }
        swept.sort { $0.expiry != $1.expiry ? $0.expiry < $1.expiry : $0.seq < $1.seq }
        return swept.map(\.id)
    }

    // MARK: Helpers

    /// A statement builder whose `now` follows ``timeSource``.
    private func builder(_ now: Date) -> SQLBuilder {
        SQLBuilder(now: timeSource == .caller ? now : nil)
    }

    /// Finishes an `UPDATE … SET …` of a job `owner` must hold with the lease guard, runs it, and
    /// returns the updated job; when no row matched, throws what the protocol prescribes.
    private func guarded(_ sql: inout SQLBuilder, id: UUID, owner: String, target: JobState) async throws -> DownloadJob {
        sql.append("""

            WHERE id = \(sql.bind(id)) AND state = 'running' AND lease_owner = \(sql.bind(owner))
            RETURNING \(JobTableSchema.columns)
            """)
        if let job = try await jobs(sql).first { return job }
        // Nothing matched: classify from the current row (the update above changed nothing).
        guard let current = try await job(id: id) else { throw JobStoreError.unknownJob(id) }
        if current.state.isTerminal, target != .running {
            throw JobStoreError.illegalTransition(job: id, from: current.state, to: target)
        }
        throw JobStoreError.leaseLost(job: id, owner: owner)
    }

    private func jobs(_ sql: SQLBuilder) async throws -> [DownloadJob] {
        var result: [DownloadJob] = []
        for try await row in try await client.query(sql.query) {
            result.append(try JobTableSchema.decodeJob(row))
        }
        return result
    }

    private func firstRow<Value: PostgresDecodable & Sendable>(_ sql: SQLBuilder, as type: Value.Type) async throws -> Value? {
        var first: Value?
        for try await (value) in try await client.query(sql.query).decode(Value.self) where first == nil {
            first = value
        }
        return first
    }

    private func exists(_ id: UUID) async throws -> Bool {
        var sql = SQLBuilder(now: nil)
        sql.append("SELECT 1::int4 FROM \(names.jobs) WHERE id = \(sql.bind(id))")
        return try await firstRow(sql, as: Int32.self) != nil
    }

    private static func bindings<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(value)
        return binds
    }
}
