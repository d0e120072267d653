import ResilienceSupport
import Foundation
@testable import RangeResume
import ResilienceTesting
import Synchronization

/// A fake ``HTTPTransport`` that answers each request with the next scripted response, with no
/// sockets, and records every request.
final class ScriptedTransport: HTTPTransport {
    enum Ending: Sendable {
        /// The body ends normally.
        case end
        /// The connection fails with the error after the chunks.
        case fail(URLError.Code)
        /// No more events: the exchange stays open until the resumer cancels it.
        case stall

    }

    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var chunks: [[UInt8]]
        var ending: Ending = .end
    }

    private let state: LockedValue<(responses: [Response], requests: [TransportRequest], channels: [TransportChannel])>

    init(_ responses: [Response]) {
        state = LockedValue((responses, [], []))
    }

    var requests: [TransportRequest] { state.withLock { $0.requests } }
    var lastChannel: TransportChannel? { state.withLock { $0.channels.last } }

    func append(_ responses: [Response]) {
        state.withLock { $0.responses.append(contentsOf: responses) }
    }

    func start(_ request: TransportRequest, into channel: TransportChannel) {
        let response: Response = state.withLock { state in
            state.requests.append(request)
            state.channels.append(channel)
            return state.responses.isEmpty
                ? Response(status: 599, headers: [:], chunks: [], ending: .end)
                : state.responses.removeFirst()
        }
        channel.offer(.head(TransportResponseHead(status: response.status, headers: response.headers, url: request.url)))
        for chunk in response.chunks { channel.offer(.body(Data(chunk))) }
        switch response.ending {
        case .end: channel.finish()
        case .fail(let code): channel.finish(throwing: URLError(code))
        case .stall: break
        }
    }
}

/// Builders for scripted responses of a `body` served with `etag`.
struct Origin {
    var body: [UInt8]
    var etag: String? = "\"v1\""
    var lastModified: String?

    var validatorHeaders: [String: String] {
        var headers: [String: String] = [:]
        if let etag { headers["ETag"] = etag }
        if let lastModified { headers["Last-Modified"] = lastModified }
        return headers
    }

    /// 200 with the whole body, cut after `cut` bytes with `ending` if given.
    func full(cut: Int? = nil, ending: ScriptedTransport.Ending = .end, chunk: Int = 100) -> ScriptedTransport.Response {
        var headers = validatorHeaders
        headers["Content-Length"] = "\(body.count)"
        let sent = Array(body.prefix(cut ?? body.count))
        return .init(status: 200, headers: headers, chunks: sent.chunked(chunk), ending: ending)
    }

    /// 206 for `bytes=<from>-` (optionally lying in the Content-Range).
    func partial(from: Int, contentRange: String? = nil, etag: String?? = nil, cut: Int? = nil,
                 ending: ScriptedTransport.Ending = .end) -> ScriptedTransport.Response {
        var headers = validatorHeaders
        if let etag { headers["ETag"] = etag }
        headers["Content-Range"] = contentRange ?? "bytes \(from)-\(body.count - 1)/\(body.count)"
        headers["Content-Length"] = "\(body.count - from)"
        let sent = Array(body[from...].prefix(cut ?? body.count))
        return .init(status: 206, headers: headers, chunks: sent.chunked(100), ending: ending)
    }
}

extension Array where Element == UInt8 {
    func chunked(_ size: Int) -> [[UInt8]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

/// `count` seeded pseudo-random bytes (eight per generator call, so it is quick in debug builds).
func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededRandomNumberGenerator(seed: seed)
    var words = [UInt64](repeating: 0, count: (count + 7) / 8)
    for index in words.indices { words[index] = generator.next() }
    return words.withUnsafeBytes { Array($0.prefix(count)) }
}

func fileBytes(_ url: URL) -> [UInt8]? {
    FileManager.default.contents(atPath: url.path).map(Array.init)
}

/// The file's contents as `Data` (compared with `memcmp`, quick in debug builds).
func fileData(_ url: URL) -> Data? {
    FileManager.default.contents(atPath: url.path)
}
