import ResilienceSupport

/// Watches a running exchange on the injected clock and cancels it with
/// ``RangeResumeError/stalled(timeout:)`` when no byte arrived for the stall timeout, or with
/// ``RangeResumeError/tooSlow(bytesPerSecond:minimum:)`` when a window's average falls below the
/// minimum speed. The receiving side calls ``touch(bytes:at:)`` for every chunk.
final class TransferWatchdog<C: Clock<Duration>>: Sendable {
    private struct State {
        var lastActivity: C.Instant
        var bytes: Int64 = 0
    }

    private let state: LockedValue<State>
    private let clock: C
    private let stallTimeout: Duration
    private let minimumSpeed: RangeResumer.Configuration.MinimumSpeed?

    init(clock: C, stallTimeout: Duration, minimumSpeed: RangeResumer.Configuration.MinimumSpeed?) {
        self.clock = clock
        self.stallTimeout = stallTimeout
        self.minimumSpeed = minimumSpeed
        self.state = LockedValue(State(lastActivity: clock.now))
    }

    /// Records that `bytes` more arrived at `instant`.
    func touch(bytes: Int, at instant: C.Instant) {
        state.withLock {
            $0.lastActivity = instant
            $0.bytes += Int64(bytes)
        }
    }

    /// Sleeps on the clock until a limit is broken (then cancels `channel`) or the task is cancelled.
    func watch(_ channel: TransportChannel) async {
        var windowStart = clock.now
        var windowBytes: Int64 = 0
        while !Task.isCancelled {
            let lastActivity = state.withLock { $0.lastActivity }
            var deadline = lastActivity.advanced(by: stallTimeout)
            if let minimumSpeed { deadline = min(deadline, windowStart.advanced(by: minimumSpeed.window)) }
            do { try await clock.sleep(until: deadline, tolerance: nil) } catch { return }
            let now = clock.now
            let (last, bytes) = state.withLock { ($0.lastActivity, $0.bytes) }
            if last.advanced(by: stallTimeout) <= now {
                channel.cancel(RangeResumeError.stalled(timeout: stallTimeout))
                return
            }
            if let minimumSpeed, windowStart.advanced(by: minimumSpeed.window) <= now {
                let elapsed = windowStart.duration(to: now)
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
                let rate = seconds > 0 ? Double(bytes - windowBytes) / seconds : .infinity
                if rate < Double(minimumSpeed.bytesPerSecond) {
                    channel.cancel(RangeResumeError.tooSlow(bytesPerSecond: rate, minimum: minimumSpeed.bytesPerSecond))
                    return
                }
                windowStart = now
                windowBytes = bytes
            }
        }
    }
}
