/// Throttles ``DownloadProgress`` snapshots to one per interval on the injected clock.
struct ProgressReporter<C: Clock<Duration>> {
    let clock: C
    let interval: Duration
    let callback: (@Sendable (DownloadProgress) -> Void)?
    private var lastInstant: C.Instant?
    private var lastBytes: Int64 = 0

    init(clock: C, interval: Duration, callback: (@Sendable (DownloadProgress) -> Void)?) {
        self.clock = clock
        self.interval = interval
        self.callback = callback
    }

    /// Emits a snapshot if the interval has passed since the last one (or `force`).
    mutating func update(bytes: Int64, total: Int64?, restarts: Int, resumedFrom: Int64, now: C.Instant, force: Bool = false) {
        guard let callback else { return }
        guard let last = lastInstant else {
            lastInstant = now
            lastBytes = bytes
            callback(DownloadProgress(bytes: bytes, totalBytes: total, bytesPerSecond: 0, restarts: restarts, resumedFrom: resumedFrom))
            return
        }
        let elapsed = last.duration(to: now)
        guard force || elapsed >= interval else { return }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let rate = seconds > 0 ? Double(bytes - lastBytes) / seconds : 0
        lastInstant = now
        lastBytes = bytes
        callback(DownloadProgress(bytes: bytes, totalBytes: total, bytesPerSecond: rate, restarts: restarts, resumedFrom: resumedFrom))
    }

    /// Whether a callback is installed (lets the hot loop skip reading the clock).
    var isActive: Bool { callback != nil }
}
