import Foundation
import RangeResume

/// The checks of what an engine delivers: statuses, ranges, validators, truncation, redirects.
extension TransportConformance {
    static let path = "/file.bin"

    /// A server with a seeded resource of `count` bytes at ``path``.
    static func server(_ context: Context, count: Int) throws -> (FaultyHTTPServer, [UInt8], HTTPResource) {
        let server = try FaultyHTTPServer()
        let body = bytes(count, seed: context.seed)
        return (server, body, server.serve(body, at: path))
    }

    /// A plain `GET`: `200`, `Content-Length`, the whole body, then a normal end; the request's
    /// fields reach the server.
    static func fullBody(_ context: Context) async throws -> Outcome {
        let (server, body, _) = try Self.server(context, count: 100_000)
        defer { server.stop() }
        let delivery = try await fetch(context, server.url(for: path), headers: ["X-Conformance": "field"])
        try requireComplete(delivery, status: 200, body: body[...], "plain GET", context)
        try context.require(delivery.head?["content-length"] == "100000",
                            "Content-Length \(delivery.head?["content-length"] ?? "missing"), expected 100000")
        let sent = server.requests(for: path)
        try context.require(sent.first?.headers["X-Conformance"] == "field" && sent.first?.headers["Accept-Encoding"] == "identity",
                            "the request's fields did not reach the server: \(sent.first.map { "\($0.headers)" } ?? "no request")")
        return .passed
    }

    /// `Range` and `If-Range` reach the server; a matching validator gives `206` with the asked
    /// bytes and `Content-Range`, a stale one `200` with the whole body.
    static func rangeAndIfRange(_ context: Context) async throws -> Outcome {
        let count = 200_000
        let (server, body, resource) = try Self.server(context, count: count)
        defer { server.stop() }
        var random = SeededRandomNumberGenerator(seed: context.seed)
        let start = Int.random(in: 1..<count / 2, using: &random)
        let resumed = try await fetch(context, server.url(for: path), headers: ["Range": "bytes=\(start)-", "If-Range": resource.etag])
        try requireComplete(resumed, status: 206, body: body[start...], "Range bytes=\(start)- with a matching If-Range", context)
        try context.require(resumed.head?["content-range"] == "bytes \(start)-\(count - 1)/\(count)",
                            "Content-Range \(resumed.head?["content-range"] ?? "missing") for bytes=\(start)-")
        let first = server.requests(for: path).first
        try context.require(first?.range?.hasPrefix("bytes=\(start)-") == true && first?.ifRange == resource.etag,
                            "Range/If-Range on the wire: \(first?.range ?? "none") / \(first?.ifRange ?? "none")")

        let end = Int.random(in: start..<count, using: &random)
        let bounded = try await fetch(context, server.url(for: path), headers: ["Range": "bytes=\(start)-\(end)"])
        try requireComplete(bounded, status: 206, body: body[start...end], "Range bytes=\(start)-\(end)", context)

        let stale = try await fetch(context, server.url(for: path), headers: ["Range": "bytes=\(start)-", "If-Range": "\"stale\""])
        try requireComplete(stale, status: 200, body: body[...], "Range with a stale If-Range", context)
        return .passed
    }

    /// A range past the end: `416` with `Content-Range: bytes */<length>`, delivered (not an error).
    static func unsatisfiableRange(_ context: Context) async throws -> Outcome {
        let (server, _, _) = try Self.server(context, count: 5000)
        defer { server.stop() }
        // The fields are read into locals once: reading them through `delivery` in the
        // autoclosures crashes Swift 6.3.1's optimizer in release builds ("Found outside of
        // lifetime use", CopyPropagation).
        let delivery = try await fetch(context, server.url(for: path), headers: ["Range": "bytes=5000-"])
        let failure = delivery.failure, status = delivery.head?.status, contentRange = delivery.head?["content-range"]
        try context.require(failure == nil && status == 416,
                            "bytes=5000- of 5000: status \(status.map(String.init) ?? "none"), error \(failure.map { "\($0)" } ?? "none")")
        try context.require(contentRange == "bytes */5000", "416 without Content-Range bytes */5000: \(contentRange ?? "missing")")
        return .passed
    }

    /// A body cut short (orderly close, reset, empty reply) ends with an error, never normally;
    /// a body without `Content-Length` ends normally at the connection's end.
    static func truncation(_ context: Context) async throws -> Outcome {
        let count = 150_000
        let (server, body, _) = try Self.server(context, count: count)
        defer { server.stop() }
        for fault in [HTTPFault.dropAfter(bytes: count / 3), .resetAfter(bytes: count / 3), .closeWithoutResponse] {
            server.enqueueFaults([fault], for: path)
            let delivery = try await fetch(context, server.url(for: path))
            try context.require(delivery.failure != nil,
                                "\(fault): the stream ended normally after \(delivery.body.count) of \(count) bytes")
            try context.require(delivery.body.count <= count / 3 && delivery.body[...] == body.prefix(delivery.body.count),
                                "\(fault): \(delivery.body.count) bytes delivered, or bytes that differ")
        }
        server.enqueueFaults([.omitContentLength], for: path)
        try requireComplete(try await fetch(context, server.url(for: path)), status: 200, body: body[...],
                            "a body without Content-Length", context)
        return .passed
    }

    /// A cross-origin redirect (127.0.0.1 → localhost, another port) is followed without
    /// `Authorization`, `Cookie` and `Proxy-Authorization` — or, by an engine that follows none,
    /// ends with `redirectNotFollowed` and no request to the target.
    static func redirects(_ context: Context) async throws -> Outcome {
        let (target, body, _) = try Self.server(context, count: 20_000)
        defer { target.stop() }
        let origin = try FaultyHTTPServer()
        defer { origin.stop() }
        let location = URL(string: "http://localhost:\(target.port)\(path)")!
        origin.setRedirect(from: "/moved.bin", to: location.absoluteString)
        let secrets = ["Authorization": "Bearer conformance", "Cookie": "session=conformance", "Proxy-Authorization": "Basic eA=="]
        let delivery = try await fetch(context, origin.url(for: "/moved.bin"), headers: secrets)
        try context.require(origin.requests.first.map { request in secrets.allSatisfy { request.headers[$0.key] == $0.value } } == true,
                            "the credentials did not reach the first origin")
        guard context.capabilities.followsRedirects else {
            try requireRangeResumeError(delivery, "a redirect, by an engine that follows none", context) {
                $0 == .redirectNotFollowed(to: location)
            }
            try context.require(target.requests.isEmpty, "the redirect target was contacted")
            return .passed
        }
        try requireComplete(delivery, status: 200, body: body[...], "a followed cross-origin redirect", context)
        try context.require(!target.requests.isEmpty, "the redirect target was never contacted")
        for request in target.requests {
            for name in secrets.keys where request.headers[name] != nil {
                throw context.failure("\(name) reached another origin after a redirect")
            }
        }
        return .passed
    }

    /// Without TLS, an `https` URL fails with `invalidArgument` before anything is sent; with TLS
    /// and redirects, `https` → `http` is refused with `insecureRedirect` (given a fixture).
    static func tls(_ context: Context) async throws -> Outcome {
        guard context.capabilities.supportsTLS else {
            let (server, _, _) = try Self.server(context, count: 1000)
            defer { server.stop() }
            let url = URL(string: "https://127.0.0.1:\(server.port)\(path)")!
            let delivery = try await fetch(context, url)
            try requireRangeResumeError(delivery, "https to an engine without TLS", context) {
                if case .invalidArgument = $0 { true } else { false }
            }
            try context.require(server.requests.isEmpty, "an engine without TLS sent something to an https URL")
            return .passed
        }
        guard context.capabilities.followsRedirects else { return .passed }
        guard let fixture = context.capabilities.insecureRedirectFixture else {
            return .skipped(reason: "https → http refusal needs Capabilities.insecureRedirectFixture: an https URL the engine trusts that redirects to http")
        }
        let delivery = try await fetch(context, fixture)
        try requireRangeResumeError(delivery, "an https → http redirect", context) {
            if case .insecureRedirect = $0 { true } else { false }
        }
        return .passed
    }
}
