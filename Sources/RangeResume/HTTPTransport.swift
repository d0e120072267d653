import Foundation

/// The seam between ``RangeResumer``'s state machine and an HTTP engine (URLSession today).
///
/// `start` begins one request and returns at once; the engine then delivers, into `channel`,
/// exactly one ``TransportEvent/head(_:)``, any number of ``TransportEvent/body(_:)`` chunks and
/// finally ``TransportChannel/finish(throwing:)``. When the state machine loses interest (bad
/// head, stall, cancellation) it calls ``TransportChannel/cancel(_:)``, which runs the handler the
/// engine registered with ``TransportChannel/setCancelHandler(_:)``; events after that are
/// dropped by the channel. Tests plug in a scripted engine (no sockets).
protocol HTTPTransport: Sendable {
    func start(_ request: TransportRequest, into channel: TransportChannel)
}

extension HTTPTransport {
    /// Starts `request` into `channel`, runs `body` (which consumes the channel), then ends the
    /// exchange and waits until the engine has let go of it, so an exchange never outlives its
    /// caller. Rethrows what `body` throws.
    func exchange<R>(_ request: TransportRequest, into channel: TransportChannel,
                     _ body: () async throws -> R) async throws -> R {
        start(request, into: channel)
        let result: Result<R, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        channel.cancel(CancellationError())
        await channel.waitUntilReleased()
        return try result.get()
    }
}

/// One GET request as the state machine wants it sent.
struct TransportRequest: Sendable, Hashable {
    var url: URL
    /// Header fields to send, e.g. `Range`, `If-Range`, `Accept-Encoding: identity`.
    var headers: [String: String]
}

/// A response head. Field names are stored lowercased (HTTP field names ignore case).
struct TransportResponseHead: Sendable, Hashable {
    var status: Int
    var headers: [String: String]
    var url: URL?

    init(status: Int, headers: [String: String], url: URL? = nil) {
        self.status = status
        self.url = url
        var lowered: [String: String] = [:]
        for (name, value) in headers { lowered[name.lowercased()] = value }
        self.headers = lowered
    }

    subscript(_ name: String) -> String? { headers[name.lowercased()] }

    /// The body's content coding when it is not `identity` (trimmed), or `nil` for a body sent
    /// as it is: what every consumer refuses, since it asks for `Accept-Encoding: identity`.
    var contentCoding: String? {
        guard let coding = self["content-encoding"]?.trimmingCharacters(in: .whitespaces), !coding.isEmpty,
              coding.lowercased() != "identity" else { return nil }
        return coding
    }
}

/// What an engine delivers into a ``TransportChannel``.
enum TransportEvent: Sendable {
    case head(TransportResponseHead)
    case body(Data)
}
