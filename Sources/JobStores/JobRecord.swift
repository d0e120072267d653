import Foundation

/// One state change, as applied by ``JobTable`` and written to the journal by
/// ``FileJournalJobStore``. Replaying the same records in order rebuilds the same table.
enum JobRecord: Sendable, Hashable {
    /// A new job, fully normalised (state `pending`, timestamps set). `indirect` (as is
    /// `snapshot`) keeps the enum small, so the frequent small records copy cheaply.
    indirect case enqueue(DownloadJob)
    case claim(id: UUID, owner: String, leaseExpiresAt: Date, now: Date)
    case renew(id: UUID, owner: String, leaseExpiresAt: Date, now: Date)
    case progress(id: UUID, owner: String, bytesDone: Int64, bytesTotal: Int64?, now: Date)
    case complete(id: UUID, owner: String, now: Date)
    case retry(id: UUID, owner: String, at: Date, error: JobFailure, now: Date)
    /// `retry` that also merges `metadata` into the job's metadata (journal tag 11).
    indirect case retryWithMetadata(id: UUID, owner: String, at: Date, error: JobFailure, metadata: [String: String], now: Date)
    case fail(id: UUID, owner: String, error: JobFailure, now: Date)
    case cancel(id: UUID, now: Date)
    /// The lease of a running job expired at or before `now`.
    case expire(id: UUID, now: Date)
    /// New sources for a non-terminal job — `url` and `mirrors` replace the job's, `metadata` is
    /// merged — with its state and lease unchanged (journal tag 12).
    indirect case updateSources(id: UUID, url: URL, mirrors: [URL], metadata: [String: String], now: Date)
    /// The lease of a running job released before its expiry because its holder is provably gone
    /// (journal tag 13): the job becomes `retrying` (due at `now`) or `failed`, as with `expire`.
    case release(id: UUID, now: Date)
    /// A whole job in any state (compaction snapshots).
    indirect case snapshot(DownloadJob)
}
