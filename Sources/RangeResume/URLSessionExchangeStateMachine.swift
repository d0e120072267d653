import Foundation
import ResilienceRetry

/// The URLSession engine's decisions for one exchange, as pure code (no URLSession, no threads):
/// how a request is fetched in bounded **windows**, what head the consumer sees, and how each way
/// a task can end maps to the end of the event stream.
///
/// FoundationNetworking offers no per-transfer backpressure on Linux: `suspend()` restarts the
/// request, `cancel()` takes effect only after the session has read on (measured: 13–470 ms,
/// up to 240 MB, on loopback), and the one thread that could be held — its work queue — is
/// shared by every transfer in the process (holding it hung concurrent downloads). So the engine
/// never lets one request run further ahead than a window: it asks for the body in `Range`
/// requests of at most `window` bytes, and asks for the next window only once the consumer has
/// drained to `lowWater`. The session keeps its connection between windows.
///
/// Windows **adapt** between `minimumWindow` and `maximumWindow`, starting at the minimum. The
/// engine reports, with every chunk, how many bytes the session has received but the consumer
/// not yet taken (FoundationNetworking's own backlog of undelivered chunks included). A window in
/// which that never exceeded `lowWater` (the consumer kept up) doubles the next one — fewer
/// requests, fewer round trips lost on a slow link — and a window in which it exceeded half the
/// window (the network outruns the consumer) halves it, so the bytes held in memory stay near
/// the minimum exactly when they would pile up. The consumer sees the
/// head it asked for (a `200` with the full length for a plain `GET`; a `206` spanning its whole
/// range for a ranged one) and one unbroken body.
///
/// Windows are used only where they are safe: the first response must be a `206` that starts
/// where it was asked to, with a known total length. Every later window must answer exactly its
/// bytes of the same entity (`If-Range` with the first response's strong ETag, else its
/// `Last-Modified`; the ETag is compared too); otherwise the stream ends with
/// ``RangeResumeError/resumeMismatch(_:)`` and the resumer's own rules take over. A server that
/// ignores `Range` answers `200` and its body is streamed as is (unbounded: FoundationNetworking
/// reads it as fast as the network allows). Any other first answer is forwarded as it is to a
/// caller that sent a `Range` (it judges it by its own rules); for a plain `GET`, a `206` that
/// is not the window asked for (or of unknown total) and a `416` make the engine send the
/// caller's request unchanged instead.
struct URLSessionExchangeStateMachine: Sendable {
    /// Where the exchange is.
    enum Phase: Sendable, Hashable {
        /// The first request is out; no head yet.
        case awaitingHead
        /// A response's body flows to the consumer.
        case streaming
        /// A window is complete; the next is asked for once the consumer has drained.
        case betweenWindows
        /// A later window's request is out; its head is checked, not forwarded.
        case awaitingWindowHead
        /// The stream has ended (or the consumer cancelled); every later callback is ignored.
        case finished
    }

    /// The entity a windowed exchange fetches, known from the first response.
    struct Entity: Sendable, Hashable {
        /// The URL that answered the first request (after redirects).
        var url: URL
        /// The entity's full length.
        var total: Int64
        /// The last byte the consumer wants.
        var last: Int64
        /// The first response's strong ETag, compared with every window's.
        var etag: String?
        /// The `If-Range` value of later windows: the strong ETag, else `Last-Modified`.
        var ifRange: String?
    }

    /// What to do with a response head.
    enum HeadAction: Sendable {
        /// Forward this head to the consumer (possibly rewritten to span the whole body).
        case forward(TransportResponseHead)
        /// A later window answered as promised: nothing to forward.
        case proceed
        /// End the stream with this error (and cancel the task).
        case fail(any Error)
        /// The windowed first request cannot be used: cancel it and send this, the caller's own.
        case resend(TransportRequest)
    }

    /// How a task's completion ends (or does not end) the stream.
    enum Completion: Sendable {
        /// End the stream: normally with `nil`, or with the error.
        case finish((any Error)?)
        /// Ask for the next window once the consumer has drained.
        case nextWindowWhenDrained
        /// Nothing to do (the stream already ended).
        case ignore
    }

    /// The caller's request.
    let request: TransportRequest
    /// Body bytes the current (or next) window asks for: between ``minimumWindow`` and
    /// ``maximumWindow``.
    private(set) var window: Int64
    /// The first window's size, and the smallest one.
    let minimumWindow: Int64
    /// Most body bytes one request asks for.
    let maximumWindow: Int64
    /// The next window is asked for once no more than this many body bytes wait.
    let lowWater: Int
    private(set) var phase: Phase = .awaitingHead
    /// Set from the first response when the exchange is windowed.
    private(set) var entity: Entity?
    /// The first byte the caller asked for, when its request is windowed.
    private let start: Int64?
    /// The last byte the caller asked for (`nil`: to the end).
    private let requestedLast: Int64?
    /// Entity offsets of the current window's first and last byte.
    private(set) var windowFirst: Int64 = 0
    private(set) var windowLast: Int64 = 0
    /// Most bytes received but not yet consumed at once during the current window.
    private(set) var windowPeakPending: Int64 = 0
    /// Body bytes forwarded in the current window, and over the whole exchange.
    private(set) var windowDelivered: Int64 = 0
    private(set) var delivered: Int64 = 0
    /// Requests sent, the first included.
    private(set) var requests = 0
    /// The caller's own request was resent: its head is forwarded as it is.
    private var resending = false

    /// - Parameters:
    ///   - window: most body bytes one request asks for.
    ///   - lowWater: the next window is asked for once no more than this many bytes wait.
    ///   - minimumWindow: the first and smallest window (default: `window`, i.e. fixed windows).
    init(request: TransportRequest, window: Int, lowWater: Int, minimumWindow: Int? = nil) {
        self.request = request
        self.maximumWindow = Int64(max(1, window))
        self.minimumWindow = min(maximumWindow, Int64(max(1, minimumWindow ?? window)))
        self.window = self.minimumWindow
        self.lowWater = max(0, lowWater)
        if let range = Self.field("range", in: request.headers) {
            if let (first, last) = Self.singleRange(range) {
                (start, requestedLast) = (first, last)
            } else {
                (start, requestedLast) = (nil, nil)   // suffix or several ranges: sent unchanged
            }
        } else {
            (start, requestedLast) = (0, nil)
        }
    }

    /// The first request to send: the caller's, with its range cut to the first window.
    mutating func firstRequest() -> TransportRequest {
        requests += 1
        guard let start else { return request }
        windowFirst = start
        windowLast = Self.windowLast(from: start, window: window, cap: requestedLast)
        var headers = request.headers.filter { $0.key.lowercased() != "range" }
        headers["Range"] = "bytes=\(windowFirst)-\(windowLast)"
        return TransportRequest(url: request.url, headers: headers, maximumRedirects: request.maximumRedirects)
    }

    /// A response head, of the first request or of a later window.
    mutating func head(_ head: TransportResponseHead) -> HeadAction {
        switch phase {
        case .awaitingHead: return firstHead(head)
        case .awaitingWindowHead: return windowHead(head)
        case .streaming, .betweenWindows, .finished: return .proceed
        }
    }

    private mutating func firstHead(_ head: TransportResponseHead) -> HeadAction {
        guard let start, !resending else {
            phase = .streaming
            return .forward(head)
        }
        if head.status == 206, let value = head["content-range"], let range = ContentRange(value),
           range.first == start, let last = range.last, let total = range.total, last < total,
           last == min(windowLast, requestedLast ?? total - 1, total - 1), head.contentCoding == nil {
            let wantedLast = min(requestedLast ?? total - 1, total - 1)
            var etag = head["etag"]?.trimmingCharacters(in: .whitespaces)
            if let tag = etag, tag.isEmpty || tag.hasPrefix("W/") { etag = nil }   // If-Range needs a strong one
            let lastModified = head["last-modified"]?.trimmingCharacters(in: .whitespaces)
            entity = Entity(url: head.url ?? request.url, total: total, last: wantedLast, etag: etag,
                            ifRange: etag ?? (lastModified?.isEmpty == false ? lastModified : nil))
            windowLast = last
            phase = .streaming
            var headers = head.headers
            if Self.field("range", in: request.headers) == nil {
                headers["content-range"] = nil
                headers["content-length"] = String(total)
                return .forward(TransportResponseHead(status: 200, headers: headers, url: head.url))
            }
            headers["content-range"] = "bytes \(start)-\(wantedLast)/\(total)"
            headers["content-length"] = String(wantedLast - start + 1)
            return .forward(TransportResponseHead(status: 206, headers: headers, url: head.url))
        }
        // Not a window we can present. A ranged caller judges the answer by its own rules; a plain
        // GET must not see a 206 or 416 it never asked for, unless it is a content coding the
        // caller refuses anyway.
        if Self.field("range", in: request.headers) == nil, head.status == 416 || (head.status == 206 && head.contentCoding == nil) {
            return resend()
        }
        phase = .streaming   // 200 (range ignored), the caller's own 206 or 416, errors: as they are
        return .forward(head)
    }

    private mutating func resend() -> HeadAction {
        resending = true
        requests += 1
        return .resend(request)
    }

    private mutating func windowHead(_ head: TransportResponseHead) -> HeadAction {
        guard let entity else { return .proceed }
        let problem: String?
        if head.status >= 300 && head.status != 416 {
            // The server refused this window (a token that expired, 503 with Retry-After, …):
            // the consumer sees that status, to be classified and retried like any other.
            phase = .finished
            return .fail(HTTPStatusError(status: head.status, headers: head.headers, url: head.url ?? entity.url))
        } else if head.status != 206 {
            problem = "status \(head.status)"
        } else if let value = head["content-range"], let range = ContentRange(value) {
            if range.first != windowFirst || range.last != windowLast || range.total != entity.total {
                problem = "Content-Range \(value)"
            } else if let coding = head.contentCoding {
                problem = "Content-Encoding \(coding)"
            } else if let etag = entity.etag, let now = head["etag"]?.trimmingCharacters(in: .whitespaces), now != etag {
                problem = "ETag \(now) instead of \(etag)"
            } else {
                problem = nil
            }
        } else {
            problem = "Content-Range \(head["content-range"] ?? "(none)")"
        }
        guard let problem else {
            phase = .streaming
            return .proceed
        }
        phase = .finished
        return .fail(RangeResumeError.resumeMismatch("asking for bytes \(windowFirst)-\(windowLast)/\(entity.total) of the same "
                                     + "entity, the server answered \(problem)"))
    }

    /// `count` body bytes were forwarded to the consumer.
    /// - Parameters:
    ///   - received: body bytes the running task has received so far (its
    ///     `countOfBytesReceived`; `nil` when unknown); with `queued`, sizes the next window.
    ///   - queued: body bytes waiting in the channel for the consumer.
    mutating func forwarded(_ count: Int, received: Int64? = nil, queued: Int = 0) {
        windowDelivered += Int64(count)
        delivered += Int64(count)
        let backlog = received.map { max(0, $0 - windowDelivered) } ?? 0
        windowPeakPending = max(windowPeakPending, backlog + Int64(queued))
    }

    /// The running task completed with `error` (`nil`: success).
    mutating func completed(error: (any Error)?) -> Completion {
        switch phase {
        case .finished, .betweenWindows:
            return .ignore
        case .awaitingHead, .awaitingWindowHead:
            phase = .finished
            return .finish(error)
        case .streaming:
            guard let entity, error == nil, windowDelivered == windowLast - windowFirst + 1,
                  windowLast < entity.last else {
                phase = .finished        // not windowed, an error, a short window, or the last one
                return .finish(error)
            }
            phase = .betweenWindows
            adaptWindow()
            return .nextWindowWhenDrained
        }
    }

    /// Doubles the window when the consumer kept up during the one that just completed, halves
    /// it when more than half a window waited at once (within ``minimumWindow``...``maximumWindow``).
    private mutating func adaptWindow() {
        if windowPeakPending <= Int64(lowWater) {
            window = min(maximumWindow, window * 2)
        } else if windowPeakPending > window / 2 {
            window = max(minimumWindow, window / 2)
        }
    }

    /// The request for the next window, or `nil` when there is none to send (the stream ended or
    /// the consumer cancelled meanwhile).
    mutating func nextWindowRequest() -> TransportRequest? {
        guard phase == .betweenWindows, let entity else { return nil }
        phase = .awaitingWindowHead
        requests += 1
        windowFirst = windowLast + 1
        windowLast = Self.windowLast(from: windowFirst, window: window, cap: entity.last)
        windowDelivered = 0
        windowPeakPending = 0
        var headers = request.headers.filter { !["range", "if-range"].contains($0.key.lowercased()) }
        if !Self.sameOrigin(request.url, entity.url) {
            // Never send credentials to an origin the caller did not name (a redirect's target).
            headers = headers.filter { !Self.credentialFields.contains($0.key.lowercased()) }
        }
        headers["Range"] = "bytes=\(windowFirst)-\(windowLast)"
        if let ifRange = entity.ifRange { headers["If-Range"] = ifRange }
        return TransportRequest(url: entity.url, headers: headers, maximumRedirects: request.maximumRedirects)
    }

    /// The stream ended from outside (consumer cancel, refused redirect, an error the engine
    /// raised). - Returns: whether a task is still running and must be cancelled.
    mutating func end() -> Bool {
        let running = phase != .betweenWindows && phase != .finished
        phase = .finished
        return running
    }

    // MARK: Helpers

    /// Header fields that carry credentials: never sent to another origin.
    static let credentialFields: Set<String> = ["authorization", "cookie", "proxy-authorization"]

    /// Whether two URLs share scheme, host and port (the origin, RFC 6454).
    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        func origin(_ url: URL) -> (String, String, Int)? {
            guard let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return nil }
            return (scheme, host, url.port ?? (scheme == "https" ? 443 : 80))
        }
        guard let x = origin(a), let y = origin(b) else { return false }
        return x == y
    }

    static func field(_ name: String, in headers: [String: String]) -> String? {
        headers.first { $0.key.lowercased() == name }?.value
    }

    /// `bytes=a-` or `bytes=a-b` (one range with a first byte); `nil` for anything else.
    static func singleRange(_ value: String) -> (Int64, Int64?)? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes="), !trimmed.contains(",") else { return nil }
        let parts = trimmed.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let first = Int64(parts[0].trimmingCharacters(in: .whitespaces)), first >= 0 else {
            return nil
        }
        let lastText = parts[1].trimmingCharacters(in: .whitespaces)
        if lastText.isEmpty { return (first, nil) }
        guard let last = Int64(lastText), last >= first else { return nil }
        return (first, last)
    }

    static func windowLast(from first: Int64, window: Int64, cap: Int64?) -> Int64 {
        let (end, overflow) = first.addingReportingOverflow(window - 1)
        let last = overflow ? Int64.max : end
        return cap.map { min($0, last) } ?? last
    }
}
