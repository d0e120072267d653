import Foundation
import RangeResume

extension TransportConformance {
    /// What one exchange delivered, as its consumer saw it.
    struct Delivery: Sendable {
        var head: TransportResponseHead?
        var body: [UInt8] = []
        /// How the stream ended: `nil` normally, else the engine's error.
        var failure: (any Error)?
        /// The channel it ran in (for its queue statistics).
        let channel: TransportChannel

        /// The status, or `nil` without a head.
        var status: Int? { head?.status }
    }

    /// Sends `request` through the engine and consumes the whole stream, checking its shape
    /// (exactly one head, first), then ends the exchange as every consumer does (cancel, then
    /// wait until the engine let go).
    /// - Parameter pace: a pause after each event: a consumer slower than the network.
    static func fetch(_ context: Context, _ url: URL, headers: [String: String] = [:], limit: Int = 256 << 10,
                      pace: Duration? = nil) async throws -> Delivery {
        var fields = headers
        fields["Accept-Encoding"] = "identity"
        let channel = TransportChannel(limit: limit)
        var delivery = Delivery(channel: channel)
        context.note("GET \(url.absoluteString) \(headers.sorted { $0.key < $1.key })")
        context.transport.start(TransportRequest(url: url, headers: fields), into: channel)
        do {
            while let event = try await channel.next() {
                switch event {
                case .head(let head):
                    guard delivery.head == nil else { throw context.failure("a second head (\(head.status)) in one exchange") }
                    delivery.head = head
                case .body(let data):
                    guard delivery.head != nil else { throw context.failure("body bytes before the head") }
                    delivery.body += data
                }
                if let pace { try await Task.sleep(for: pace) }
            }
        } catch let failure as ConformanceFailure {
            channel.cancel(failure)
            throw failure
        } catch {
            delivery.failure = error
        }
        channel.cancel(CancellationError())
        context.note("waiting for the engine to release \(url.absoluteString)")
        await channel.waitUntilReleased()
        return delivery
    }

    /// Requires a normal end with `status` and exactly `body`.
    static func requireComplete(_ delivery: Delivery, status: Int, body: ArraySlice<UInt8>, _ what: String,
                                _ context: Context) throws {
        try context.require(delivery.failure == nil, "\(what): the stream failed: \(delivery.failure.map { "\($0)" } ?? "")")
        try context.require(delivery.status == status, "\(what): status \(delivery.status.map(String.init) ?? "none"), expected \(status)")
        try context.require(delivery.body.count == body.count,
                            "\(what): \(delivery.body.count) body bytes, expected \(body.count)")
        try context.require(delivery.body[...] == body, "\(what): the body bytes differ from the resource's")
    }

    /// Requires the stream to have ended with an error that is `RangeResumeError` and matches.
    static func requireRangeResumeError(_ delivery: Delivery, _ what: String, _ context: Context,
                                        matching: (RangeResumeError) -> Bool) throws {
        guard let failure = delivery.failure else {
            throw context.failure("\(what): the stream ended normally (status \(delivery.status.map(String.init) ?? "none"))")
        }
        guard let error = failure as? RangeResumeError, matching(error) else {
            throw context.failure("\(what): ended with \(failure) (\(type(of: failure)))")
        }
    }
}
