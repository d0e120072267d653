import AsyncHTTPClient
import Foundation
import NIOCore
import RangeResume

/// One exchange of an ``AsyncHTTPClientEngine``: the `GET` (and the redirects it follows), its
/// head, its body pulled at the consumer's pace, and the end — run by the task that the channel's
/// cancel handler cancels.
struct AsyncHTTPClientExchange: Sendable {
    let client: HTTPClient
    let request: TransportRequest
    let channel: TransportChannel
    /// Redirects to follow before failing; `0`: none (a 3xx ends with `redirectNotFollowed`).
    let maximumRedirects: Int

    /// Runs the exchange to its end; never throws (every failure ends the channel).
    func run() async {
        guard !channel.isCancelled else { return }
        do {
            try validate()
            var url = request.url, headers = request.headers, redirects = 0
            while true {
                let response = try await client.execute(httpRequest(url: url, headers: headers), deadline: .distantFuture)
                guard response.history.count <= 1 else {
                    throw RangeResumeError.invalidArgument(
                        "the HTTPClient followed a redirect to \(response.url?.absoluteString ?? "another URL") by its own rules; "
                            + "create it with AsyncHTTPClientEngine.configuration() or redirectConfiguration = .disallow")
                }
                let head = Self.head(of: response, url: url)
                guard let target = RedirectRule.target(of: head, from: url) else {
                    return try await deliver(head, response.body)
                }
                // Not followed: the redirect's response (and its body) is dropped, which ends it.
                guard maximumRedirects > 0 else { throw RangeResumeError.redirectNotFollowed(to: target) }
                guard RedirectRule.allows(from: url, to: target) else { throw RangeResumeError.insecureRedirect(to: target) }
                guard redirects < maximumRedirects else { throw URLError(.httpTooManyRedirects) }
                try RequestValidator.validate(url: target, field: "redirect target")
                headers = RedirectRule.headers(headers, from: request.url, to: target)
                redirects += 1
                url = target
            }
        } catch {
            // After the consumer's cancel the channel drops this; otherwise it is the stream's end.
            channel.finish(throwing: AsyncHTTPClientEngine.mapError(error))
        }
    }

    /// Delivers `head`, then `body` at the consumer's pace, then the end.
    private func deliver(_ head: TransportResponseHead, _ body: HTTPClientResponse.Body) async throws {
        guard await channel.send(.head(head)) else { return }
        for try await buffer in body {
            guard buffer.readableBytes > 0 else { continue }
            let chunk = buffer.withUnsafeReadableBytes { Data($0) }
            guard await channel.send(.body(chunk)) else { return }
        }
        channel.finish()
    }

    /// The package's own checks on what is about to be sent (the URL's shape; caller fields'
    /// syntax). Fields only the package sets (`Range`, `If-Range`, …) are its own.
    private func validate() throws {
        try RequestValidator.validate(url: request.url)
        try RequestValidator.validate(headers: request.headers.filter {
            !RequestValidator.engineOwnedFields.contains($0.key.lowercased())
        }, field: "headers")
    }

    /// The AsyncHTTPClient request: `GET` for `url` as percent-encoded, `headers` as given.
    private func httpRequest(url: URL, headers: [String: String]) -> HTTPClientRequest {
        var outgoing = HTTPClientRequest(url: url.absoluteString)
        outgoing.method = .GET
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
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
