/// What ``FileJournalJobStore`` found when it opened its journal.
///
/// A damaged **tail** (a record cut short by a crash mid-write, or failing its checksum with no
/// valid record after it) is not an error: the store truncates it and says so here. Check
/// ``truncatedBytes`` if you want to log it.
public struct JournalRecoveryReport: Sendable, Hashable, CustomStringConvertible {
    /// Records replayed (state changes since the last compaction, plus snapshot records).
    public var recordsReplayed: Int
    /// Jobs in the store after replay, terminal ones included.
    public var jobCount: Int
    /// The journal's size in bytes after recovery.
    public var journalBytes: Int64
    /// Bytes of damaged tail removed (0 if the journal ended cleanly).
    public var truncatedBytes: Int64
    /// Why the tail was removed, e.g. `"checksum mismatch at offset 4096"`; `nil` if nothing was.
    public var truncationReason: String?
    /// `true` if the journal did not exist (or was empty, or held only part of a header) and was
    /// initialised.
    public var createdJournal: Bool

    /// Creates a report.
    public init(recordsReplayed: Int = 0, jobCount: Int = 0, journalBytes: Int64 = 0, truncatedBytes: Int64 = 0,
                truncationReason: String? = nil, createdJournal: Bool = false) {
        self.recordsReplayed = recordsReplayed
        self.jobCount = jobCount
        self.journalBytes = journalBytes
        self.truncatedBytes = truncatedBytes
        self.truncationReason = truncationReason
        self.createdJournal = createdJournal
    }

    /// A one-line human-readable form.

    public var description: String {
        var text = "replayed \(recordsReplayed) records, \(jobCount) jobs, \(journalBytes) bytes"
        if createdJournal { text += ", created the journal" }
        if let truncationReason { text += ", truncated \(truncatedBytes) bytes of damaged tail (\(truncationReason))" }
        return text
    }
}
