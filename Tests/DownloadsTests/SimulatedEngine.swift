import Foundation
import RangeResume
import ResilienceSupport

/// The queue simulation's HTTP engine, on the public seam: answers every request from a
/// ``SimulatedServer`` at once (no thread, no socket), in 1 KiB chunks, and tells the
/// ``SimulationMonitor`` about stalls (so the driver knows when only the clock can move things)
/// and about crash faults.
struct SimulatedEngine: HTTPTransport {
    let server: SimulatedServer
    let monitor: SimulationMonitor

    func start(_ request: TransportRequest, into channel: TransportChannel) {
        let response = server.respond(to: request)
        if response.fault == .crash { monitor.requestCrash() }
        channel.offer(.head(response.head))
        var offset = 0
        while offset < response.body.count {
            let end = min(offset + 1024, response.body.count)
            channel.offer(.body(Data(response.body[offset..<end])))
            offset = end
        }
        switch response.end {
        case .complete: channel.finish()
        case .failure(let error): channel.finish(throwing: error)
        case .stall: stall(channel)
        }
    }

    /// Delivers nothing more. Counted as stalled once the consumer has taken every queued byte,
    /// until it cancels the exchange (its stall watchdog, or the queue stopping).
    private func stall(_ channel: TransportChannel) {
        let exchange = LockedValue((stalled: false, ended: false))
        let monitor = monitor
        channel.setCancelHandler {
            let wasStalled = exchange.withLock { state -> Bool in
                state.ended = true
                return state.stalled
            }
            if wasStalled { monitor.changeStalled(by: -1) }
        }
        channel.whenDrained(to: 0) {
            let stalls = exchange.withLock { state -> Bool in
                guard !state.ended else { return false }
                state.stalled = true
                return true
            }
            if stalls { monitor.changeStalled(by: 1) }
        }
    }
}
