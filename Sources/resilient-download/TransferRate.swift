import Foundation

/// A smoothed transfer rate and the time left, as a download tool shows them.
///
/// Samples closer together than ``minimumInterval`` are folded into the next one (a burst of
/// progress events says little); each interval's rate then moves the estimate by ``smoothing``
/// (an exponential moving average, as curl and aria2c smooth theirs), so one slow second does not
/// make the ETA jump.
struct TransferRate: Sendable, Hashable {
    /// Weight of the newest interval in the estimate.
    static let smoothing = 0.3
    /// Shortest interval measured on its own.
    static let minimumInterval: Duration = .milliseconds(500)

    private var lastBytes: Int64?
    private var lastInstant: ContinuousClock.Instant?
    /// Bytes per second, or `nil` before the first full interval.
    private(set) var bytesPerSecond: Double?

    /// Records that `bytes` (a running total) had arrived at `instant`. A total that went down
    /// (the download restarted from zero) starts the measurement afresh.
    mutating func record(bytes: Int64, at instant: ContinuousClock.Instant) {
        guard let lastBytes, let lastInstant, bytes >= lastBytes else {
            self.lastBytes = bytes
            self.lastInstant = instant
            return
        }
        let elapsed = lastInstant.duration(to: instant)
        guard elapsed >= Self.minimumInterval else { return }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let current = Double(bytes - lastBytes) / seconds
        bytesPerSecond = bytesPerSecond.map { Self.smoothing * current + (1 - Self.smoothing) * $0 } ?? current
        self.lastBytes = bytes
        self.lastInstant = instant
    }

    /// Seconds until `remaining` more bytes arrive at the current rate; `nil` when unknown.
    func secondsLeft(for remaining: Int64) -> Double? {
        guard let bytesPerSecond, bytesPerSecond > 0, remaining >= 0 else { return nil }
        return Double(remaining) / bytesPerSecond
    }

    /// `12.3 MB/s`, `850 kB/s`, or `-` before the first interval.
    static func format(bytesPerSecond: Double?) -> String {
        guard let rate = bytesPerSecond else { return "-" }
        if rate >= 1e6 { return String(format: "%.1f MB/s", rate / 1e6) }
        return String(format: "%.0f kB/s", rate / 1e3)
    }

    /// `0:07`, `12:05`, `3:02:11`, or `--:--` when unknown.
    static func format(secondsLeft: Double?) -> String {
        guard let secondsLeft, secondsLeft.isFinite, secondsLeft < 360_000 else { return "--:--" }
        let total = Int(secondsLeft.rounded(.up))
        let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60)
        return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, seconds) : String(format: "%d:%02d", minutes, seconds)
    }
}
