import AsyncHTTPClient
import Foundation
import NIOCore
import RangeResume

/// One exchange of an ``AsyncHTTPClientEngine``: the `GET`, its head, its body pulled at the
/// consumer's pace, and the end — run by the task the channel's cancel handler cancels.
struct AsyncHTTPClientExchange: Sendable {
    let client: HTTPClient
    let request: TransportRequest
    let channel: TransportChannel

    /// Runs the exchange to its end; never throws (every failure ends the channel).
    func run() async {
        guard !channel.isCancelled else { return }
        do {
            try validate()
            let response = try await client.execute(httpRequest(), deadline: .distantFuture)
            guard response.history.count <= 1 else {
                throw RangeResumeError.invalidArgument(
                    "the HTTPClient followed a redirect to \(response.url?.absoluteString ?? "another URL"); "
                        + "create it with AsyncHTTPClientEngine.configuration() or redirectConfiguration = .disallow")
            }
            let head = Self.head(of: response, url: request.url)
            if (300...399).contains(head.status), head.status != 304,
               let location = head["location"], let target = URL(string: location, relativeTo: request.url) {
                throw RangeResumeError.redirectNotFollowed(to: target.absoluteURL)
            }
            guard await channel.send(.head(head)) else { return }
            for try await buffer in response.body {
                guard buffer.readableBytes > 0 else { continue }
                let chunk = buffer.withUnsafeReadableBytes { Data($0) }
                guard await channel.send(.body(chunk)) else { return }
            }
            channel.finish()
        } catch {
            // After the consumer's cancel the channel drops this; otherwise it is the stream's end.
            channel.finish(throwing: AsyncHTTPClientEngine.mapError(error))
        }
    }

    /// The package's own checks on what is about to be sent (the URL's shape; caller fields'
    /// syntax). Fields only the package sets (`Range`, `If-Range`, …) are its own.
    private func validate() throws {
        try RequestValidator.validate(url: request.url)
        try RequestValidator.validate(headers: request.headers.filter {
            !RequestValidator.engineOwnedFields.contains($0.key.lowercased())
        }, field: "headers")
    }

    /// The AsyncHTTPClient request: `GET`, the URL as percent-encoded, the fields as given.
    private func httpRequest() -> HTTPClientRequest {
        var outgoing = HTTPClientRequest(url: request.url.absoluteString)
        outgoing.method = .GET
        for (name, value) in request.headers.sorted(by: { $0.key < $1.key }) {
            outgoing.headers.add(name: name, value: value)
        }
        return outgoing
    }

    /// The response head: names lowercased, repeated fields joined with `", "`.
    static func head(of response: HTTPClientResponse, url: URL) -> TransportResponseHead {
        var fields: [String: String] = [:]
        for (name, value) in response.headers {
            let key = name.lowercased()
            fields[key] = fields[key].map { "\($0), \(value)" } ?? value
        }
        return TransportResponseHead(status: Int(response.status.code), headers: fields, url: url)
    }
}
