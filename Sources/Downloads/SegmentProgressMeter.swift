import RangeResume
import ResilienceSupport

/// Adds up the bytes every segment receives and emits a ``RangeResume/DownloadProgress`` at most
/// once per interval on the injected clock (plus a final one).
final class SegmentProgressMeter<C: Clock<Duration>>: Sendable {
    private struct State {
        var bytes: Int64
        var received: Int64 = 0
        var restarts = 0
        var resumedFrom: Int64
        var lastInstant: C.Instant?
        var lastBytes: Int64 = 0
    }

    private let state: LockedValue<State>
    private let clock: C
    private let interval: Duration
    private let total: Int64
    private let callback: (@Sendable (DownloadProgress) -> Void)?

    init(clock: C, interval: Duration, total: Int64, resumedFrom: Int64, restarts: Int,
         callback: (@Sendable (DownloadProgress) -> Void)?) {
        self.clock = clock
        self.interval = interval
        self.total = total
        self.callback = callback
        self.state = LockedValue(State(bytes: resumedFrom, restarts: restarts, resumedFrom: resumedFrom))
    }

    /// Body bytes received in this call (all segments, including bytes later fetched again).
    var received: Int64 { state.withLock { $0.received } }

    /// Emits the first snapshot (the bytes already on disk).
    func start() {
        guard let callback else { return }
        if let snapshot = state.withLock({ self.snapshot(&$0, force: true) }) { callback(snapshot) }
    }

    func add(_ count: Int) {
        let snapshot: DownloadProgress? = state.withLock { state in
            state.bytes += Int64(count)
            state.received += Int64(count)
            return callback == nil ? nil : self.snapshot(&state, force: false)
        }
        if let snapshot { callback?(snapshot) }
    }

    /// Emits a final snapshot at `bytes`.
    func finish(bytes: Int64) {
        guard let callback else { return }
        let snapshot = state.withLock { state -> DownloadProgress? in
            state.bytes = bytes
            return self.snapshot(&state, force: true)
        }
        if let snapshot { callback(snapshot) }
    }

    private func snapshot(_ state: inout State, force: Bool) -> DownloadProgress? {
        let now = clock.now
        let bytes = min(state.bytes, total)
        guard let last = state.lastInstant else {
            state.lastInstant = now
            state.lastBytes = bytes
            return DownloadProgress(bytes: bytes, totalBytes: total, bytesPerSecond: 0, restarts: state.restarts,
                                    resumedFrom: state.resumedFrom)
        }
        let elapsed = last.duration(to: now)
        guard force || elapsed >= interval else { return nil }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let rate = seconds > 0 ? Double(bytes - state.lastBytes) / seconds : 0
        state.lastInstant = now
        state.lastBytes = bytes
        return DownloadProgress(bytes: bytes, totalBytes: total, bytesPerSecond: rate, restarts: state.restarts,
                                resumedFrom: state.resumedFrom)
    }
}
