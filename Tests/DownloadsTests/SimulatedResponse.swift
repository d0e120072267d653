import Foundation
import RangeResume

/// What the simulated server sends for one request: a head, a body and how the stream ends.
struct SimulatedResponse: Sendable {
    enum End: Sendable {
        case complete
        case failure(URLError)
        case stall
    }

    var head: TransportResponseHead
    var body: [UInt8]
    var end: End
    var fault: SimulatedFault?
}
