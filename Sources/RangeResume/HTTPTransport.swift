import Foundation

/// An HTTP engine: what ``RangeResumer``, ``RangeFetcher`` and the `Downloads` module drive to
/// fetch bytes. Two ship with the package (``RangeResumer/Engine/urlSession``,
/// ``RangeResumer/Engine/posixSockets``); plug in your own with ``RangeResumer/Engine/custom(_:)``.
/// `ResilienceTesting.TransportConformance` checks every rule below against a real server.
///
/// ### The contract
/// - ``start(_:into:)`` sends **one `GET`** for ``TransportRequest/url`` with exactly the
///   request's header fields (plus what the wire needs: `Host`, framing) and **returns at once**;
///   the exchange runs elsewhere (a thread, a task, a delegate queue). Never block the caller.
/// - The engine delivers, into `channel`, **exactly one** ``TransportEvent/head(_:)``, then any
///   number of ``TransportEvent/body(_:)`` chunks, then ends the stream with
///   ``TransportChannel/finish(throwing:)``: `nil` only when the body is complete (its
///   `Content-Length`, or the connection's orderly end when none was sent); a typed error
///   otherwise (a short body is an error, never a normal end). A failure before any head is
///   just `finish(throwing:)`.
/// - **Backpressure**: the engine reads no faster than the consumer takes chunks. Use
///   ``TransportChannel/send(_:)`` from a thread that may block or its `async` overload from a
///   task (both wait while more than ``TransportChannel/limit`` bytes are queued), or
///   ``TransportChannel/offer(contentsOf:)`` and pause the transfer yourself. Either way ``TransportChannel/queuedBytes`` never exceeds
///   ``TransportChannel/queueBound``.
/// - **Cancellation is safe at any moment** — before the connection, while connecting to a dead
///   host, mid-body, after the end: the consumer calls ``TransportChannel/cancel(_:)``, which
///   runs the handler registered with ``TransportChannel/setCancelHandler(_:)`` (at once if the
///   exchange was already cancelled). The handler must not block; it stops the transfer and
///   releases its resources soon. From then on every `send`/`offer` returns `false` and the
///   engine stops delivering. An engine that still works after the stream ended calls
///   ``TransportChannel/holdUntilReleased()`` before it starts and ``TransportChannel/release()``
///   when done, so the caller can wait for it.
/// - **Redirects**: an engine that follows them refuses `https` → anything else
///   (``RangeResumeError/insecureRedirect(to:)``) and drops `Authorization`, `Cookie` and
///   `Proxy-Authorization` when the target's origin (scheme, host, port) differs. One that does
///   not follow them fails a 3xx with `Location` with ``RangeResumeError/redirectNotFollowed(to:)``.
/// - An engine without TLS refuses `https` URLs with ``RangeResumeError/invalidArgument(_:)``.
///
/// ```swift
/// struct MyEngine: HTTPTransport {
///     func start(_ request: TransportRequest, into channel: TransportChannel) {
///         let task = Task {
///             do {
///                 let (head, body) = try await myClient.get(request.url, headers: request.headers)
///                 guard await channel.send(.head(head)) else { return }
///                 for try await chunk in body { guard await channel.send(.body(chunk)) else { return } }
///                 channel.finish()
///             } catch { channel.finish(throwing: error) }
///         }
///         channel.setCancelHandler { task.cancel() }
///     }
/// }
/// ```
public protocol HTTPTransport: Sendable {
    /// Starts `request` and returns at once; delivers the response into `channel` (see the
    /// contract above).
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

/// One `GET` request, as an ``HTTPTransport`` must send it.
public struct TransportRequest: Sendable, Hashable {
    /// An `http` or `https` URL (validated by ``RequestValidator`` before it reaches an engine).
    public var url: URL
    /// Header fields to send as given, e.g. `Range`, `If-Range`, `Accept-Encoding: identity`.
    public var headers: [String: String]
    /// The most redirects an engine that follows redirects may follow for this request; one
    /// more ends the exchange with ``RangeResumeError/tooManyRedirects(limit:to:)``. `0`: follow
    /// none (a 3xx with `Location` ends with ``RangeResumeError/redirectNotFollowed(to:)``, as on
    /// an engine that never follows). Default ``defaultMaximumRedirects``.
    public var maximumRedirects: Int

    /// 10, as in most HTTP clients' defaults (curl allows 50, browsers about 20).
    public static let defaultMaximumRedirects = 10

    /// Creates a request.
    public init(url: URL, headers: [String: String] = [:], maximumRedirects: Int = TransportRequest.defaultMaximumRedirects) {
        self.url = url
        self.headers = headers
        self.maximumRedirects = max(0, maximumRedirects)
    }
}

/// A response head. Field names are stored lowercased (HTTP field names ignore case).
public struct TransportResponseHead: Sendable, Hashable {
    /// The status code, e.g. `200`, `206`, `416`.
    public var status: Int
    /// The header fields, names lowercased. Repeated fields are joined with `", "`.
    public var headers: [String: String]
    /// The URL that answered (after the redirects the engine followed), if known.
    public var url: URL?

    /// Creates a head; `headers` names are lowercased.
    public init(status: Int, headers: [String: String], url: URL? = nil) {
        self.status = status
        self.url = url
        var lowered: [String: String] = [:]
        for (name, value) in headers { lowered[name.lowercased()] = value }
        self.headers = lowered
    }

    /// The value of the field `name`, in any case.
    public subscript(_ name: String) -> String? { headers[name.lowercased()] }

    /// The body's content coding when it is not `identity` (trimmed), or `nil` for a body sent
    /// as it is: what every consumer refuses, since it asks for `Accept-Encoding: identity`.
    var contentCoding: String? {
        guard let coding = self["content-encoding"]?.trimmingCharacters(in: .whitespaces), !coding.isEmpty,
              coding.lowercased() != "identity" else { return nil }
        return coding
    }
}

/// What an engine delivers into a ``TransportChannel``.
public enum TransportEvent: Sendable {
    /// The response head: exactly one, first.
    case head(TransportResponseHead)
    /// A chunk of the body, in order.
    case body(Data)
}
