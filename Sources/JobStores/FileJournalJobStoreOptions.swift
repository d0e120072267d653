extension FileJournalJobStore {
    /// When a change counts as durable, i.e. when a ``FileJournalJobStore`` method returns.
    ///
    /// Every policy survives a *process* crash (`SIGKILL`, a trap) without losing a returned
    /// change: the record is in the kernel's page cache before the method returns. They differ on
    /// *power loss or kernel panic*:
    public enum Durability: Sendable, Hashable {
        /// Each change is followed by its own `fdatasync` before the method returns. Power loss
        /// loses nothing that returned. The default. Throughput ≈ one change per disk flush.
        case fsyncEachWrite
        /// Concurrent writers share one `fdatasync`: a writer appends its record, then waits for
        /// the next sync, which covers every record appended before it started. Power loss loses
        /// nothing that returned; throughput grows with the number of concurrent writers.
        /// `window` (default zero) delays each sync to gather more writers, adding up to that
        /// much latency; it is a real-time delay on a private dispatch queue.
        case groupCommit(window: Duration = .zero)
        /// No `fdatasync`: power loss may lose the changes of the last seconds (whatever the
        /// kernel had not yet written back), never corrupting older ones: recovery truncates the
        /// torn tail. For tests and benchmarks.
        case none
    }

    /// When the journal is rewritten as a snapshot of the live jobs.
    public struct Compaction: Sendable, Hashable {
        /// Compact when the journal exceeds this multiple of the estimated live size. Default 2:
        /// the journal stays within about twice the live data, and each byte of live data is
        /// rewritten about once per byte of new records.
        public var growthFactor: Double
        /// Never compact a journal smaller than this many bytes. Default 1 MiB.
        public var minimumJournalBytes: Int64

        /// Creates a policy. `growthFactor` below 1.5 is raised to 1.5.
        public init(growthFactor: Double = 2, minimumJournalBytes: Int64 = 1 << 20) {
            self.growthFactor = max(growthFactor, 1.5)
            self.minimumJournalBytes = max(minimumJournalBytes, 0)
        }

        /// Never compact automatically (``FileJournalJobStore/compact()`` still works).
        public static let manual = Compaction(growthFactor: .infinity, minimumJournalBytes: .max)
    }
}
