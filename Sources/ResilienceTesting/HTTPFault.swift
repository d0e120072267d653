/// A misbehaviour that ``FaultyHTTPServer`` applies to one response.
///
/// Faults apply only to requests for registered resources (a `404` or a registered redirect is
/// never faulted). Byte counts are **body** bytes: the status line and header fields are always
/// sent whole, except for the faults that replace the response (``status(_:)``,
/// ``tooManyRequests(retryAfter:)``, ``serviceUnavailable(retryAfter:)``,
/// ``redirect(status:location:)``) or send none (``closeWithoutResponse``).
///
/// Every response is sent with `Connection: close`, so a fault never affects a later request
/// except ``changeETag``, which changes the resource's validators for good.
public enum HTTPFault: Sendable, Hashable, CustomStringConvertible {
    /// Sends the normal status line and header fields (with the full `Content-Length`), then
    /// exactly `bytes` body bytes (fewer if the body is shorter), then closes the connection
    /// (an orderly FIN, no reset). A negative count is treated as zero.
    case dropAfter(bytes: Int)
    /// Reads the request, then sends nothing and keeps the connection open until the client
    /// closes it or the server is stopped (a server that accepted but never answers). The record
    /// carries the status the response would have had.
    case stallBeforeHeaders
    /// Sends the status line and header fields, then sends nothing more and keeps the connection
    /// open until the client closes it or the server is stopped.
    case stallAfterHeaders
    /// Sends the header fields and `bytes` body bytes, then stalls like ``stallAfterHeaders``.
    case stallAfter(bytes: Int)
    /// Like ``dropAfter(bytes:)``, but ends with a TCP reset (`SO_LINGER` 0) instead of an
    /// orderly close: the client sees `ECONNRESET` and may lose bytes still in flight.
    case resetAfter(bytes: Int)
    /// Reads the request, then closes the connection without sending a byte ("empty reply").
    /// Recorded with status `0`.
    case closeWithoutResponse
    /// Replaces the response with this status code (e.g. `500`, `503`) and a short text body.
    case status(Int)
    /// Replaces the response with `429 Too Many Requests` and `Retry-After: <retryAfter>`
    /// (sent verbatim, e.g. `"2"` or an HTTP-date).
    case tooManyRequests(retryAfter: String)
    /// Replaces the response with `503 Service Unavailable` and `Retry-After: <retryAfter>`.
    case serviceUnavailable(retryAfter: String)
    /// Adds `Content-Encoding: <value>` (e.g. `gzip`) to an otherwise normal response; the body
    /// is not encoded. A client that needs byte offsets must refuse it.
    case contentEncoding(String)
    /// Sends the response without `Content-Length`: the body ends when the connection closes.
    case omitContentLength
    /// Sends the body with the byte at absolute offset `atOffset` of the resource inverted
    /// (XOR 0xFF), if the response's range covers it; everything else (status, length,
    /// validators) is normal. Tests integrity checks: only a hash notices.
    case corruptByte(atOffset: Int)
    /// Replaces the response with `status` (e.g. `302`) and `Location: <location>` (verbatim,
    /// e.g. `https://example.com/x` or `/other`).
    case redirect(status: Int, location: String)
    /// Ignores `Range` and `If-Range`: answers `200 OK` with the full body.
    case ignoreRange
    /// Gives the resource a new `ETag` and a later `Last-Modified` before this request is
    /// evaluated, and keeps them from now on (the bytes do not change). A resume with the old
    /// validator in `If-Range` therefore gets `200` with the full body.
    case changeETag
    /// Answers `206` whose `Content-Range` starts elsewhere than asked: one byte earlier when the
    /// requested start is above zero, else at byte 1. The body matches the (wrong) header. Without
    /// a `Range` header the response is still a `206` starting at byte 1. A resource shorter than
    /// two bytes is answered normally.
    case wrongContentRange
    /// Sends the body at about `bytesPerSecond` (real time: this is the server's rate, not the
    /// client's clock). Values below 1 are treated as 1. Keep rates high in tests.
    case trickle(bytesPerSecond: Int)

    /// The case as written in Swift, e.g. `dropAfter(bytes: 10)`.
    public var description: String {
        switch self {
        case .dropAfter(let bytes): "dropAfter(bytes: \(bytes))"
        case .stallBeforeHeaders: "stallBeforeHeaders"
        case .stallAfterHeaders: "stallAfterHeaders"
        case .stallAfter(let bytes): "stallAfter(bytes: \(bytes))"
        case .resetAfter(let bytes): "resetAfter(bytes: \(bytes))"
        case .closeWithoutResponse: "closeWithoutResponse"
        case .serviceUnavailable(let retryAfter): "serviceUnavailable(retryAfter: \(retryAfter))"
        case .contentEncoding(let value): "contentEncoding(\(value))"
        case .omitContentLength: "omitContentLength"
        case .corruptByte(let offset): "corruptByte(atOffset: \(offset))"
        case .redirect(let status, let location): "redirect(status: \(status), location: \(location))"
        case .status(let code): "status(\(code))"
        case .tooManyRequests(let retryAfter): "tooManyRequests(retryAfter: \(retryAfter))"
        case .ignoreRange: "ignoreRange"
        case .changeETag: "changeETag"
        case .wrongContentRange: "wrongContentRange"
        case .trickle(let rate): "trickle(bytesPerSecond: \(rate))"
        }
    }
}
