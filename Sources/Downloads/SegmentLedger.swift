import Foundation
import RangeResume
import ResilienceSupport

/// The segments of one running ``SegmentedDownload`` and their durable progress, shared by the
/// segment tasks; every change is checkpointed to the sidecar (``SegmentSidecar``) at once.
///
/// The sidecar is only ever written with `done` counts that the `.part` has `fsync`ed (the
/// fetcher reports them after its `fsync`). A failed sidecar write is counted and otherwise
/// ignored: the previous sidecar claims less, which is safe (those bytes are fetched again).
final class SegmentLedger: Sendable {
    private let state: LockedValue<(sidecar: SegmentSidecar, failedSaves: Int)>
    private let path: String

    init(sidecar: SegmentSidecar, path: String) {
        self.state = LockedValue((sidecar, 0))
        self.path = path
    }

    var sidecar: SegmentSidecar { state.withLock { $0.sidecar } }
    var count: Int { state.withLock { $0.sidecar.segments.count } }

    func segment(_ index: Int) -> Segment { state.withLock { $0.sidecar.segments[index] } }

    /// Bytes of the file durably written.
    var durableBytes: Int64 { state.withLock { $0.sidecar.segments.reduce(0) { $0 + $1.done } } }

    /// Records that segment `index` has `done` bytes durably written from its first byte.
    func checkpoint(_ index: Int, done: Int64) {
        state.withLock { state in
            guard done > state.sidecar.segments[index].done else { return }
            state.sidecar.segments[index].done = min(done, state.sidecar.segments[index].length)
            Self.save(&state, to: path)
        }
    }

    /// Splits segment `index`'s remaining bytes; returns the new segment's index, or `nil` when
    /// the halves would be shorter than `minimum`.
    func split(_ index: Int, minimum: Int64) -> Int? {
        state.withLock { state in
            guard let tail = state.sidecar.segments[index].split(minimum: minimum) else { return nil }
            state.sidecar.segments.append(tail)
            Self.save(&state, to: path)
            return state.sidecar.segments.count - 1
        }
    }

    private static func save(_ state: inout (sidecar: SegmentSidecar, failedSaves: Int), to path: String) {
        do { try state.sidecar.save(to: path) } catch { state.failedSaves += 1 }
    }
}
