import AsyncHTTPClient
import Foundation
import NIOSSL
import RangeResume

/// An ``RangeResume/HTTPTransport`` on swift-server's AsyncHTTPClient: `http` and `https` (TLS
/// through the client's `TLSConfiguration`), HTTP/1.1 and HTTP/2, proxies, all as the
/// `HTTPClient` you hand it is configured. Plug it in with
/// `RangeResumer.Engine.custom(AsyncHTTPClientEngine(client: client))`.
///
/// - One `GET` per exchange, with exactly the request's header fields.
/// - **Backpressure**: the response body is pulled from AsyncHTTPClient's stream only as fast
///   as the consumer takes chunks (the engine waits in the channel's `async` `send`), so
///   AsyncHTTPClient stops reading the socket and TCP flow control slows the server.
/// - **Cancellation** through the client's own API: the channel's cancel handler cancels the
///   task that runs `HTTPClient.execute(_:deadline:)` and reads the body, which AsyncHTTPClient
///   turns into cancelling the request. The channel is released once that task has ended.
/// - **Redirects** are followed by the engine itself, under the package's rules (at most
///   ``maximumRedirects``, then `URLError(.httpTooManyRedirects)`): `https` → anything else is
///   refused with `RangeResumeError.insecureRedirect(to:)`, and `Authorization`, `Cookie` and
///   `Proxy-Authorization` are dropped when the target's origin differs from the request's. With
///   `maximumRedirects: 0` none is followed: a 3xx with `Location` ends the stream with
///   `RangeResumeError.redirectNotFollowed(to:)`. The client must not follow redirects itself
///   (create it with ``configuration(tlsConfiguration:)``, or set `redirectConfiguration =
///   .disallow`): a response reached through a redirect the client followed fails with
///   `RangeResumeError.invalidArgument`, since the client applied its own rules, not these.
/// - Errors are mapped to `URLError` codes where one fits (see ``mapError(_:)``), so the
///   package's retry rules treat them as they treat the built-in engines' errors.
///
/// Two engines are equal when they use the same `HTTPClient` instance and redirect limit.
public struct AsyncHTTPClientEngine: HTTPTransport, Hashable {
    /// The client every exchange runs on. The caller owns it and shuts it down (except
    /// ``sharedClient``, which lives as long as the process).
    public let client: HTTPClient

    /// How many redirects one exchange follows before it fails; `0`: none.
    public let maximumRedirects: Int

    /// An engine on `client`, which must not follow redirects itself (see the type's discussion).
    /// - Parameter maximumRedirects: redirects followed per exchange (default 10); `0` follows
    ///   none. Negative values count as `0`.
    public init(client: HTTPClient, maximumRedirects: Int = 10) {
        self.client = client
        self.maximumRedirects = max(0, maximumRedirects)
    }

    /// An engine on ``sharedClient``: default TLS (the system's trust roots), no proxy.
    /// - Parameter maximumRedirects: as in ``init(client:maximumRedirects:)``.
    public init(maximumRedirects: Int = 10) {
        self.init(client: Self.sharedClient, maximumRedirects: maximumRedirects)
    }

    /// A process-wide client made with ``configuration(tlsConfiguration:)`` on the shared
    /// `EventLoopGroup`, created on first use and never shut down (like `HTTPClient.shared`).
    public static let sharedClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                                                configuration: configuration())

    /// A client configuration this engine works with: redirects not followed by the client (the
    /// engine follows them under the package's rules), no response decompression (the package
    /// asks for `identity` and verifies bytes), and a failed connection attempt reported at once
    /// (the package's retry policy decides what happens next) instead of retried inside the
    /// client. Set proxies, timeouts or `httpVersion` on the result as you need.
    /// - Parameter tlsConfiguration: e.g. one with `trustRoots: .certificates([...])` for a
    ///   private certificate authority; `nil` for the defaults.
    public static func configuration(tlsConfiguration: TLSConfiguration? = nil) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(tlsConfiguration: tlsConfiguration, redirectConfiguration: .disallow,
                                                     decompression: .disabled)
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }

    /// Starts `request` on a task of its own and returns at once (see `HTTPTransport`).
    public func start(_ request: TransportRequest, into channel: TransportChannel) {
        // Held until the task has ended, so the consumer can wait for AsyncHTTPClient to let go.
        channel.holdUntilReleased()
        let exchange = AsyncHTTPClientExchange(client: client, request: request, channel: channel,
                                               maximumRedirects: maximumRedirects)
        let task = Task {
            defer { channel.release() }
            await exchange.run()
        }
        channel.setCancelHandler { task.cancel() }
    }

    /// Equal when both use the same client instance and redirect limit.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.client === rhs.client && lhs.maximumRedirects == rhs.maximumRedirects
    }

    /// Hashes the client's identity and the redirect limit.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(ObjectIdentifier(client))
        hasher.combine(maximumRedirects)
    }
}
