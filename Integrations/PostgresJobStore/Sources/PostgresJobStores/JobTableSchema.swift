import Foundation
import JobStores
import PostgresNIO

/// The SQL names and migrations of one job table: `"<schema>"."<table>"`, its indexes, and its
/// version table `"<schema>"."<table>_schema_version"`.
struct JobTableSchema: Sendable, Hashable {
    /// The newest schema version this library writes and reads.
    static let currentVersion = 2

    let schema: String
    let table: String

    init(schema: String, table: String) throws(PostgresJobStoreError) {
        for name in [schema, table] where !Self.isPlainIdentifier(name) {
            throw PostgresJobStoreError.invalidIdentifier(name)
        }
        self.schema = schema
        self.table = table
    }

    /// `[a-z_][a-z0-9_]*`, at most 48 bytes (index names append up to 15 bytes; PostgreSQL keeps 63).
    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 48, first == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else {
            return false
        }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
    }

    /// The quoted, schema-qualified job table.
    var jobs: String { "\"\(schema)\".\"\(table)\"" }
    /// The quoted, schema-qualified version table.
    var versionTable: String { "\"\(schema)\".\"\(table)_schema_version\"" }

    /// Every column a job row is read from, in `RETURNING`/`SELECT` order.
    static let columns = """
        id, url, mirrors, destination, expected_length, expected_sha256, priority, state, attempts, max_attempts, \
        next_attempt_at, bytes_done, bytes_total, last_error_message, last_error_retryable, lease_owner, \
        lease_expires_at, created_at, updated_at, metadata::text AS metadata, headers::text AS headers
        """

    /// The states that hold a destination and may still run.
    static let activeStates = "('pending', 'running', 'retrying')"

    /// The statements that move version `version - 1` to `version`, run in one transaction.
    func migration(to version: Int) -> [String] {
        switch version {
        case 1:
            return [
                """
                CREATE TABLE \(jobs) (
                    id uuid PRIMARY KEY,
                    seq bigint GENERATED ALWAYS AS IDENTITY,
                    url text NOT NULL,
                    mirrors text[] NOT NULL DEFAULT '{}',
                    destination text NOT NULL CHECK (destination <> ''),
                    expected_length bigint CHECK (expected_length >= 0),
                    expected_sha256 text,
                    priority bigint NOT NULL,
                    state text NOT NULL
                        CHECK (state IN ('pending', 'running', 'retrying', 'completed', 'failed', 'cancelled')),
                    attempts bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                    max_attempts bigint NOT NULL CHECK (max_attempts >= 1),
                    next_attempt_at timestamptz NOT NULL,
                    bytes_done bigint NOT NULL DEFAULT 0 CHECK (bytes_done >= 0),
                    bytes_total bigint CHECK (bytes_total >= 0),
                    last_error_message text,
                    last_error_retryable boolean,
                    lease_owner text,
                    lease_expires_at timestamptz,
                    created_at timestamptz NOT NULL,
                    updated_at timestamptz NOT NULL,
                    metadata jsonb NOT NULL DEFAULT '{}',
                    CHECK ((state = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
                )
                """,
                // The claim query walks this index in claim order and stops at the first due row.
                """
                CREATE INDEX "\(table)_claim" ON \(jobs) (priority DESC, created_at, seq)
                    WHERE state IN ('pending', 'retrying')
                """,
                // The lease sweep reads expired leases in expiry order.
                """
                CREATE INDEX "\(table)_leases" ON \(jobs) (lease_expires_at, seq) WHERE state = 'running'
                """,
                // At most one active job per destination. md5 keeps entries small (a destination may
                // be 8 KiB, over the btree entry limit); the store compares the full text too.
                """
                CREATE UNIQUE INDEX "\(table)_active_destination" ON \(jobs) (md5(destination))
                    WHERE state IN \(Self.activeStates)
                """,
                """
                CREATE INDEX "\(table)_created" ON \(jobs) (created_at, seq)
                """,
            ]
        case 2:
            // Per-job request header fields (non-secret; credentials go through a RequestAuthorizer).
            return [
                "ALTER TABLE \(jobs) ADD COLUMN headers jsonb NOT NULL DEFAULT '{}'",
            ]
        default:
            return []
        }
    }

    /// Decodes one job row selected with ``columns``.
    static func decodeJob(_ row: PostgresRow) throws -> DownloadJob {
        let cells = row.makeRandomAccess()
        let id = try cells["id"].decode(UUID.self)
        let urlText = try cells["url"].decode(String.self)
        guard let url = URL(string: urlText) else { throw PostgresJobStoreError.corruptRow(reason: "job \(id) has URL \(urlText)") }
        let mirrorTexts = try cells["mirrors"].decode([String].self)
        let mirrors = try mirrorTexts.map { text in
            guard let mirror = URL(string: text) else { throw PostgresJobStoreError.corruptRow(reason: "job \(id) has mirror \(text)") }
            return mirror
        }
        let stateText = try cells["state"].decode(String.self)
        guard let state = JobState.allCases.first(where: { $0.description == stateText }) else {
            throw PostgresJobStoreError.corruptRow(reason: "job \(id) has state \(stateText)")
        }
        let metadataText = try cells["metadata"].decode(String.self)
        guard let metadata = try? JSONDecoder().decode([String: String].self, from: Data(metadataText.utf8)) else {
            throw PostgresJobStoreError.corruptRow(reason: "job \(id) has metadata that is not a string map")
        }
        let headersText = try cells["headers"].decode(String.self)
        guard let headers = try? JSONDecoder().decode([String: String].self, from: Data(headersText.utf8)) else {
            throw PostgresJobStoreError.corruptRow(reason: "job \(id) has headers that are not a string map")
        }
        var job = DownloadJob(
            id: id, url: url, mirrors: mirrors, destination: try cells["destination"].decode(String.self),
            expectedLength: try cells["expected_length"].decode(Int64?.self),
            expectedSHA256: try cells["expected_sha256"].decode(String?.self),
            priority: Int(try cells["priority"].decode(Int64.self)),
            maxAttempts: Int(try cells["max_attempts"].decode(Int64.self)),
            metadata: metadata, headers: headers
        )
        job.state = state
        job.attempts = Int(try cells["attempts"].decode(Int64.self))
        job.nextAttemptAt = try cells["next_attempt_at"].decode(Date.self)
        job.bytesDone = try cells["bytes_done"].decode(Int64.self)
        job.bytesTotal = try cells["bytes_total"].decode(Int64?.self)
        if let message = try cells["last_error_message"].decode(String?.self) {
            job.lastError = JobFailure(message: message, isRetryable: try cells["last_error_retryable"].decode(Bool?.self) ?? false)
        }
        job.leaseOwner = try cells["lease_owner"].decode(String?.self)
        job.leaseExpiresAt = try cells["lease_expires_at"].decode(Date?.self)
        job.createdAt = try cells["created_at"].decode(Date.self)
        job.updatedAt = try cells["updated_at"].decode(Date.self)
        return job
    }
}
