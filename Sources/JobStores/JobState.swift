/// The lifecycle state of a ``DownloadJob``.
///
/// ```
/// pending ──► running ──► completed
///    │         │  ▲  ├──► failed
///    │         ▼  │  └──► cancelled
///    │       retrying ──► cancelled
///    └──────────────────► cancelled
/// ```
/// `running → retrying` happens on ``JobStore/scheduleRetry(id:owner:at:error:now:)`` and when a
/// lease expires; `running → failed` also happens when a retry or an expired lease finds the
/// attempts exhausted. `completed`, `failed` and `cancelled` are terminal. Stores validate every
/// change against ``canTransition(to:)`` and throw ``JobStoreError/illegalTransition(job:from:to:)``
/// instead of applying an illegal one.
public enum JobState: UInt8, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Waiting for its first attempt (due at ``DownloadJob/nextAttemptAt``).
    case pending = 0
    /// Claimed by a worker that holds an unexpired (or not yet reclaimed) lease.
    case running = 1
    /// Waiting for its next attempt after a failed one (due at ``DownloadJob/nextAttemptAt``).
    case retrying = 2
    /// Finished successfully. Terminal.
    case completed = 3
    /// Gave up: a non-retryable error, or `maxAttempts` exhausted. Terminal.
    case failed = 4
    /// Cancelled by a caller. Terminal.
    case cancelled = 5

    /// The states this state may move to (the legal transition table).
    public var successors: Set<JobState> {
        switch self {
        case .pending: [.running, .cancelled]
        case .running: [.retrying, .completed, .failed, .cancelled]
        case .retrying: [.running, .cancelled]
        case .completed, .failed, .cancelled: []
        }
    }

    /// Whether moving from this state to `next` is legal.
    public func canTransition(to next: JobState) -> Bool { successors.contains(next) }

    /// `true` for `completed`, `failed` and `cancelled`: nothing happens to the job any more.
    public var isTerminal: Bool { self == .completed || self == .failed || self == .cancelled }

    /// `true` for `pending` and `retrying`: the job waits to be claimed.
    public var isWaiting: Bool { self == .pending || self == .retrying }

    /// A one-line human-readable form.

    public var description: String {
        switch self {
        case .pending: "pending"
        case .running: "running"
        case .retrying: "retrying"
        case .completed: "completed"
        case .failed: "failed"
        case .cancelled: "cancelled"
        }
    }
}
