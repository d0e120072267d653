import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension RangeResumer {
    /// The HTTP engine a resumer (or ``RangeFetcher``, `SegmentedDownload`, `DownloadQueue`)
    /// drives: one of the two built in, or any ``HTTPTransport`` of yours.
    ///
    /// `Hashable`: the built-in cases by case; two ``custom(_:)`` engines are equal when they are
    /// of the same type and — if that type is `Hashable` — equal values, or — if it is a class —
    /// the same instance (make your engine `Hashable` if its instances differ in ways that matter).
    public enum Engine: Sendable, Hashable {
        /// URLSession (FoundationNetworking on Linux): `http` and `https`, redirects followed
        /// (except `https` → anything else; credentials dropped when the origin changes).
        /// FoundationNetworking has no per-transfer backpressure, so the engine asks for the body
        /// in `Range` windows of at most 4 × ``Configuration/bufferLimit`` (16 MiB by default)
        /// and asks for the next one only once the writer has caught up; a server sees
        /// `Range: bytes=0-16777215` for a fresh download, `bytes=N-(N+16777215)` for a resumed
        /// one. It never blocks a Swift-concurrency thread and never holds FoundationNetworking's
        /// shared work queue. FoundationNetworking caps the speed (measured: 0.54–0.71× curl
        /// with the body discarded) and costs about 2.5–3 CPU-s per GiB. With your own session
        /// settings: ``urlSession(configuration:)``.
        case urlSession
        /// The package's own HTTP/1.1 client on POSIX sockets: plain `http` only, no redirects
        /// followed (``RangeResumeError/redirectNotFollowed(to:)``), no chunked bodies — but real
        /// backpressure (the socket is read only as fast as the file is written), so memory stays
        /// flat at any speed and file size (about 36–39 MiB peak RSS at 1 and 4 GiB on loopback),
        /// near curl's speed, with a third of ``urlSession``'s CPU. Prefer it for bulk plain-`http`
        /// downloads; it is not the default because a URL that is `https` or redirects would fail
        /// with it.
        case posixSockets
        /// Your own engine (see ``HTTPTransport`` for the contract it must keep, and
        /// `ResilienceTesting.TransportConformance` to check it).
        case custom(any HTTPTransport)

        /// The URLSession engine with sessions made from a copy of `configuration` (proxies, TLS
        /// settings, `httpAdditionalHeaders`, cellular rules, …). The engine still sets what it
        /// must on its copy: no URL cache, no cookie handling, its own request and resource
        /// timeouts (stalls are the resumer's job), and it answers redirects itself. Later changes
        /// to `configuration` do not reach the engine.
        public static func urlSession(configuration: URLSessionConfiguration) -> Engine {
            .custom(URLSessionTransport(configuration: configuration))
        }

        /// The engine that serves this case's requests.
        public var transport: any HTTPTransport {
            switch self {
            case .urlSession: URLSessionTransport()
            case .posixSockets: SocketTransport()
            case .custom(let transport): transport
            }
        }

        /// Equal cases; see the type's discussion for ``custom(_:)``.
        public static func == (lhs: Engine, rhs: Engine) -> Bool {
            switch (lhs, rhs) {
            case (.urlSession, .urlSession), (.posixSockets, .posixSockets): true
            case (.custom(let left), .custom(let right)): identity(of: left) == identity(of: right)
            default: false
            }
        }

        /// Hashes what ``==`` compares.
        public func hash(into hasher: inout Hasher) {
            switch self {
            case .urlSession: hasher.combine(0)
            case .posixSockets: hasher.combine(1)
            case .custom(let transport):
                hasher.combine(2)
                hasher.combine(Self.identity(of: transport))
            }
        }

        private static func identity(of transport: any HTTPTransport) -> AnyHashable {
            if let hashable = transport as? any Hashable { return AnyHashable(hashable) }
            if type(of: transport) is AnyClass { return AnyHashable(ObjectIdentifier(transport as AnyObject)) }
            return AnyHashable(ObjectIdentifier(type(of: transport)))
        }

        /// The `Range` field this engine sends when a download starts at `offset` (0: a fresh
        /// one) with a channel of `bufferLimit` bytes: what a server sees (`nil` for an engine
        /// other than the two built in). For tests.
        package func rangeField(from offset: Int64, bufferLimit: Int = Configuration().bufferLimit) -> String? {
            switch transport {
            case is SocketTransport:
                offset == 0 ? nil : "bytes=\(offset)-"
            case is URLSessionTransport:
                "bytes=\(offset)-\(offset + Int64(URLSessionExchange.minimumWindow(forLimit: bufferLimit)) - 1)"
            default:
                nil
            }
        }
    }
}
