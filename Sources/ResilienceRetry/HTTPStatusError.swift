import Foundation

/// An HTTP response whose status code means the request did not succeed.
///
/// Throw it from an operation wrapped in ``retry(_:clock:now:random:isolation:onEvent:operation:)``
/// so the default ``RetryClassifier`` can tell transient statuses (408, 425, 429, 500, 502, 503,
/// 504) from permanent ones, and honour the response's `Retry-After` header.
public struct HTTPStatusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The response's status code, e.g. `503`.
    public let status: Int
    /// The response's header fields. Look them up with ``value(forHeader:)``, which ignores case.
    public let headers: [String: String]
    /// The URL that answered, when known.
    public let url: URL?

    /// Creates an error for a response with `status` and `headers`.
    public init(status: Int, headers: [String: String] = [:], url: URL? = nil) {
        self.status = status
        self.headers = headers
        self.url = url
    }

    /// The value of the header field `name`, compared case-insensitively (HTTP field names are).
    public func value(forHeader name: String) -> String? {
        if let exact = headers[name] { return exact }
        let lowered = name.lowercased()
        return headers.first { $0.key.lowercased() == lowered }?.value
    }

    /// The raw `Retry-After` header value, if the response carried one.
    public var retryAfter: String? { value(forHeader: "Retry-After") }

    /// Whether the default classification treats this status as transient:
    /// 408, 425, 429, 500, 502, 503 and 504.
    public var isTransient: Bool { Self.transientStatuses.contains(status) }

    /// The statuses the default classification retries.
    public static let transientStatuses: Set<Int> = [408, 425, 429, 500, 502, 503, 504]

    /// `HTTP 404 Not Found`, as curl words it: the status and its reason phrase (see
    /// ``reasonPhrase(for:)``), without the URL (``url`` has it), so a log line that names the
    /// URL does not repeat it.
    public var description: String {
        "HTTP \(status)" + (Self.reasonPhrase(for: status).map { " " + $0 } ?? "")
    }
}
