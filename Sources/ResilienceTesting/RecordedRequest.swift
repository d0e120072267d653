/// One request that ``FaultyHTTPServer`` received, and what it answered.
///
/// Records appear in ``FaultyHTTPServer/requests`` in arrival order as soon as the response's
/// status is decided (before its body is sent); ``bodyBytesSent`` and ``completed`` are updated
/// when the connection is finished, which happens before the server closes the connection. So once
/// a client has read a response to its end, the record is final.
public struct RecordedRequest: Sendable, Hashable, CustomStringConvertible {
    /// Position in arrival order, starting at 0.
    public var index: Int
    /// The method, e.g. `GET`, as sent (empty when the request line could not be parsed).
    public var method: String
    /// The request target as sent, including any query string, e.g. `/file.bin?x=1`.
    public var target: String
    /// The path used to find the resource: ``target`` without query and without any
    /// `http://host` prefix, percent-decoded (`/a%20b.bin` → `/a b.bin`). For a target that does
    /// not decode or has a `.`/`..` segment (answered `400`), the path as sent.
    public var path: String
    /// The protocol version from the request line, e.g. `HTTP/1.1`.
    public var version: String
    /// The header fields, looked up case-insensitively: `request.headers["if-range"]`.
    public var headers: HTTPHeaderFields
    /// The fault applied to this response, or `nil` for a normal one.
    public var fault: HTTPFault?
    /// The status code of the response (`400`/`431` for malformed requests).
    public var status: Int
    /// Body bytes handed to the socket. For a ``HTTPFault/dropAfter(bytes:)`` this is the byte
    /// count that was sent before the drop; a client that disconnected early may have read fewer.
    public var bodyBytesSent: Int
    /// Whether the whole body was sent (no fault cut it short, the client did not disconnect and
    /// the server was not stopped). `false` while the response is still being sent.
    public var completed: Bool
    /// When the server had read the request head (on its own thread, so a busy test process does
    /// not delay it): for measuring how soon a client sent a request.
    public var receivedAt: ContinuousClock.Instant

    /// Creates a record (the server creates them; tests rarely need to).
    public init(
        index: Int, method: String, target: String, path: String, version: String,
        headers: HTTPHeaderFields, fault: HTTPFault?, status: Int,
        bodyBytesSent: Int = 0, completed: Bool = false, receivedAt: ContinuousClock.Instant = .now
    ) {
        self.index = index
        self.method = method
        self.target = target
        self.path = path
        self.version = version
        self.headers = headers
        self.fault = fault
        self.status = status
        self.bodyBytesSent = bodyBytesSent
        self.completed = completed
        self.receivedAt = receivedAt
    }

    /// The `Range` header field, if sent.
    public var range: String? { headers["Range"] }
    /// The `If-Range` header field, if sent.
    public var ifRange: String? { headers["If-Range"] }

    /// A one-line summary, e.g. `#3 GET /file.bin → 206 [changeETag]`.
    public var description: String {
        "#\(index) \(method) \(target) → \(status)" + (fault.map { " [\($0)]" } ?? "")
    }
}
