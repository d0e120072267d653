import RangeResume
import Synchronization

/// The latest progress of a running attempt, written by the resumer's callback and read by the
/// lease renewal. Atomics rather than a `Mutex`, which ThreadSanitizer cannot see on Linux.
final class ProgressCell: Sendable {
    private let bytes = Atomic<Int64>(-1)
    private let total = Atomic<Int64>(-1)

    func store(_ progress: DownloadProgress) {
        total.store(progress.totalBytes ?? -1, ordering: .relaxed)
        bytes.store(progress.bytes, ordering: .releasing)
    }

    /// `(bytes, total)`, or `nil` before the first snapshot. The pair may mix two consecutive
    /// snapshots; the total does not change within an attempt.
    func load() -> (Int64, Int64?)? {
        let done = bytes.load(ordering: .acquiring)
        guard done >= 0 else { return nil }
        let total = total.load(ordering: .relaxed)
        return (done, total >= 0 ? total : nil)
    }
}
