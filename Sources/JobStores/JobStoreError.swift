import Foundation
import ResilienceSupport

/// Everything a ``JobStore`` throws. A throwing call never leaves the store half-changed: the
/// job is exactly as it was before the call (except ``io(operation:path:errno:)``, after which a
/// ``FileJournalJobStore`` refuses further calls; reopen it to recover from the journal).
public enum JobStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No job has this id.
    case unknownJob(UUID)
    /// The change would break the state machine (see ``JobState/successors``).
    case illegalTransition(job: UUID, from: JobState, to: JobState)
    /// The caller does not hold the job's lease: it is not `running`, or it is running for
    /// another owner (the lease expired and someone else claimed it). Stop working on the job.
    case leaseLost(job: UUID, owner: String)
    /// An argument is out of range (empty destination, `maxAttempts < 1`, a string over its
    /// limit, a duplicate id, a negative duration, ...). The message says which.
    case invalidArgument(String)
    /// Another process holds the store's exclusive lock. `pid` is the holder's process id as it
    /// wrote it in the lock file, `nil` if unreadable.
    case lockedByProcess(pid: Int32?, path: String)
    /// The file does not start with the journal magic: it is not a job journal.
    case notAJournal(path: String)
    /// The file header is truncated or fails its checksum.
    case corruptHeader(path: String)
    /// The journal was written by a newer format version than this library reads.
    case unsupportedFormatVersion(found: UInt32, supported: UInt32)
    /// A record before the end of the journal is damaged. The file was left untouched: restore
    /// it from a backup or inspect it at `offset` (bytes from the start of the file).
    case corruptJournal(path: String, offset: Int64, reason: String)
    /// A system call failed. `errno` is the C error number.
    case io(operation: String, path: String, errno: Int32)
    /// The store was closed, or an earlier I/O failure made it unusable (reopen it).
    case unusable(reason: String)

    /// A one-line human-readable form.

    public var description: String {
        switch self {
        case .unknownJob(let id): "unknown job \(id)"
        case .illegalTransition(let id, let from, let to): "illegal transition \(from) → \(to) for job \(id)"
        case .leaseLost(let id, let owner): "\(owner) does not hold the lease of job \(id)"
        case .invalidArgument(let message): "invalid argument: \(message)"
        case .lockedByProcess(let pid, let path):
            "store \(path) is locked by pid \(pid.map(String.init) ?? "unknown")"
        case .notAJournal(let path): "\(path) is not a job journal (bad magic)"
        case .corruptHeader(let path): "\(path) has a truncated or damaged header"
        case .unsupportedFormatVersion(let found, let supported):
            "journal format version \(found) is newer than the supported version \(supported)"
        case .corruptJournal(let path, let offset, let reason): "\(path) is corrupt at offset \(offset): \(reason)"
        case .io(let operation, let path, let errno): "\(operation): \(ErrnoDescription.describe(errno, path: path))"
        case .unusable(let reason): "store unusable: \(reason)"
        }
    }
}
