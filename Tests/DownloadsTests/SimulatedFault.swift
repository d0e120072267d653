/// A fault the simulated server injects into one response (at most one per request).
enum SimulatedFault: String, CaseIterable, Sendable, Comparable {
    /// Some bytes, then the connection is lost (`URLError.networkConnectionLost`).
    case reset
    /// Some bytes, then nothing until the consumer cancels (its stall watchdog, on the ManualClock).
    case stall
    /// `500` or `503`.
    case serverError
    /// `429 Too Many Requests` with `Retry-After` in seconds.
    case tooManyRequests
    /// Fewer body bytes than `Content-Length`, then an orderly end.
    case shortBody
    /// A `Content-Length` larger than the body (a `200`) or than its `Content-Range` (a `206`).
    case lyingContentLength
    /// A `206` whose `Content-Range` starts one byte after the requested offset (body to match).
    case lyingContentRange
    /// The file is replaced on the server (new bytes, new length, new ETag) before this answer.
    case replaced
    /// `404`: a permanent failure.
    case notFound
    /// Answered normally, but the process "crashes" soon after: the queue is stopped abruptly and
    /// a new one is started over the same store and files.
    case crash

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
