import Foundation

/// An HTTP/1.1 server on the loopback interface that serves bodies with correct range semantics
/// and misbehaves on demand, for testing download clients.
///
/// Written in this package on POSIX sockets (no dependency). It listens on `127.0.0.1` on a port
/// the system picks, answers `GET` and `HEAD`, and records every request.
///
/// ```swift
/// let server = try FaultyHTTPServer()
/// defer { server.stop() }
/// server.serve(bytes, at: "/file.bin")
/// server.enqueueFaults([.dropAfter(bytes: 1000), .status(503)], for: "/file.bin")
/// // 1st request: headers + 1000 body bytes, then the connection closes.
/// // 2nd request: 503. 3rd: the file, honouring Range / If-Range.
/// let url = server.url(for: "/file.bin")
/// ...
/// #expect(server.requests(for: "/file.bin").last?.headers["If-Range"] == server.resource(at: "/file.bin")?.etag)
/// ```
///
/// ### HTTP semantics (RFC 9110)
/// - `GET` and `HEAD`; other methods get `405` with `Allow: GET, HEAD`; unknown paths `404`.
/// - Paths are matched the way real servers match them: the request target's path is
///   percent-decoded (UTF-8) before lookup, so `GET /a%20b.bin` finds the resource registered at
///   `/a b.bin` and `GET /a b.bin` (an unencoded space) is a malformed request line (`400`). A path
///   that does not decode (bad `%` escape, not UTF-8, NUL) or has a `.` or `..` segment after
///   decoding (`/%2E%2E/etc`) gets `400`. Register and look up paths decoded; ``url(for:)``
///   percent-encodes what a URL needs.
/// - A single `Range: bytes=a-b`, `a-` or `-n` gives `206` with `Content-Range: bytes a-b/N` and
///   the matching `Content-Length`; a range starting at or past the end (or `-0`) gives `416`
///   with `Content-Range: bytes */N`. Multi-range requests, other units and invalid syntax are
///   answered `200` with the full body (RFC 9110 lets a server ignore `Range`). `HEAD` ignores
///   `Range`.
/// - `If-Range` with an entity-tag matches only a strong, identical `ETag`; with an IMF-fixdate
///   it matches a `Last-Modified` equal to the second. No match → `200` with the full body.
/// - Every response carries `Date`, `Content-Length`, `Content-Type` and `Connection: close`;
///   resource responses also `ETag`, `Last-Modified` and `Accept-Ranges: bytes`. There is no
///   keep-alive: one request per connection, which keeps fault behaviour unambiguous.
/// - `Host` is not required. A request head over 64 KiB gets `431`; a malformed request line or
///   field line `400`; a version other than HTTP/1.0 or 1.1 `505`.
///
/// ### Faults
/// Each request for a registered path asks that path's ``FaultScript`` first, then the global
/// script (see ``enqueueFaults(_:for:)``, ``setRandomFaults(rate:seed:kinds:for:)``). See
/// ``HTTPFault`` for what each fault does on the wire.
///
/// ### Guarantees
/// - A client that disconnects mid-response never crashes the process (`SIGPIPE` is suppressed).
/// - ``stop()`` closes the listening socket and every connection (stalled and trickling ones
///   included), and joins every server thread before it returns; it is idempotent and is also
///   called when the server is deinitialized. Afterwards, connecting to ``port`` is refused.
/// - `Sendable`: all state is behind one lock (an `NSLock`: `Synchronization.Mutex` is invisible
///   to ThreadSanitizer on Linux); any thread or task may call any method.
public final class FaultyHTTPServer: Sendable {
    private let core: HTTPServerCore

    /// The TCP port the server listens on (on `127.0.0.1`), picked by the system.
    public let port: UInt16

    /// `http://127.0.0.1:<port>`.
    public let baseURL: URL

    /// Binds `127.0.0.1` on a free port and starts accepting connections.
    ///
    /// - Parameter now: the wall clock for `Date` response fields; default `Date()`.
    /// - Throws: ``FaultyHTTPServerError/socketFailed(operation:errno:)`` if the socket cannot be
    ///   set up or the accept thread cannot start.
    public init(now: @escaping @Sendable () -> Date = { Date() }) throws(FaultyHTTPServerError) {
        let core = try HTTPServerCore(now: now)
        try core.start()
        self.core = core
        self.port = core.port
        self.baseURL = URL(string: "http://127.0.0.1:\(core.port)")!
    }

    deinit {
        core.stop()
    }

    /// The URL of `path` on this server, e.g. `url(for: "/a.bin")` → `http://127.0.0.1:<port>/a.bin`.
    /// A missing leading `/` is added; characters a URL cannot hold (spaces, non-ASCII) are
    /// percent-encoded, so `url(for: "/a b.bin")` ends in `/a%20b.bin`.
    public func url(for path: String) -> URL {
        URL(string: baseURL.absoluteString + Self.normalized(path))!
    }

    /// Stops the server: closes the listener and all connections and joins all threads.
    /// Idempotent; returns only once everything is closed.
    public func stop() {
        core.stop()
    }

    /// Whether ``stop()`` has been called.
    public var isStopped: Bool { core.isStopped }

    // MARK: Resources

    /// Serves `resource` at `path` (replacing what was there). A missing leading `/` is added.
    public func setResource(_ resource: HTTPResource, at path: String) {
        core.setResource(resource, at: Self.normalized(path))
    }

    /// Serves `bytes` at `path` with a content-derived strong `ETag` (unless `etag` is given);
    /// returns the registered resource (read its ``HTTPResource/etag``).
    @discardableResult
    public func serve(
        _ bytes: [UInt8], at path: String, etag: String? = nil,
        lastModified: Date = HTTPResource.defaultLastModified,
        contentType: String = "application/octet-stream"
    ) -> HTTPResource {
        let resource = HTTPResource(bytes: bytes, etag: etag, lastModified: lastModified, contentType: contentType)
        setResource(resource, at: path)
        return resource
    }

    /// Serves `data` at `path` (copied once, now) with a content-derived strong `ETag` unless
    /// `etag` is given; returns the registered resource.
    @discardableResult
    public func serve(
        _ data: Data, at path: String, etag: String? = nil,
        lastModified: Date = HTTPResource.defaultLastModified,
        contentType: String = "application/octet-stream"
    ) -> HTTPResource {
        serve([UInt8](data), at: path, etag: etag, lastModified: lastModified, contentType: contentType)
    }

    /// Serves the file at `fileURL` at `path`, streamed from disk for every request.
    ///
    /// - Throws: ``FaultyHTTPServerError/fileUnavailable(path:errno:)`` if it is not a readable
    ///   regular file now.
    @discardableResult
    public func serveFile(
        at fileURL: URL, as path: String, etag: String? = nil, lastModified: Date? = nil,
        contentType: String = "application/octet-stream"
    ) throws(FaultyHTTPServerError) -> HTTPResource {
        let resource = try HTTPResource(fileAt: fileURL, etag: etag, lastModified: lastModified, contentType: contentType)
        setResource(resource, at: path)
        return resource
    }

    /// Answers every request for `path` with `status` (default `302`) and `Location: <location>`
    /// (sent verbatim: absolute like `https://host/x` or relative like `/other`). A redirect takes
    /// precedence over a resource at the same path and is never faulted. Pass `nil` to remove it.
    public func setRedirect(from path: String, to location: String?, status: Int = 302) {
        core.setRedirect(from: Self.normalized(path), to: location, status: status)
    }

    /// Stops serving `path` (later requests get `404`).
    public func removeResource(at path: String) {
        core.setResource(nil, at: Self.normalized(path))
    }

    /// The resource at `path` as currently served, including validators changed by
    /// ``HTTPFault/changeETag``; `nil` if none.
    public func resource(at path: String) -> HTTPResource? {
        core.resource(at: Self.normalized(path))
    }

    // MARK: Faults

    /// Appends `faults` to the queue for `path` (`nil`: the global queue, used by requests for any
    /// path whose own script yields no fault). Each request takes the next queued fault.
    public func enqueueFaults(_ faults: [HTTPFault], for path: String? = nil) {
        core.updateScript(for: path.map(Self.normalized)) { $0.queue.append(contentsOf: faults) }
    }

    /// Turns on seeded random faults for `path` (`nil`: globally): once its queue is empty, each
    /// request gets a fault with probability `rate`, picked uniformly from `kinds`, drawn from a
    /// ``SeededRandomNumberGenerator`` seeded with `seed`. Requests are served in arrival order, so
    /// the same sequence of requests gets the same faults for the same seed. `rate` 0 turns it off.
    public func setRandomFaults(rate: Double, seed: UInt64, kinds: [HTTPFault], for path: String? = nil) {
        core.updateScript(for: path.map(Self.normalized)) { $0.setRandom(rate: rate, seed: seed, kinds: kinds) }
    }

    /// Replaces the whole fault script of `path` (`nil`: the global script).
    public func setFaultScript(_ script: FaultScript, for path: String? = nil) {
        core.updateScript(for: path.map(Self.normalized)) { $0 = script }
    }

    /// The current fault script of `path` (`nil`: the global script), with what is left of its queue.
    public func faultScript(for path: String? = nil) -> FaultScript {
        core.script(for: path.map(Self.normalized))
    }

    /// Removes every queued and random fault, for all paths and globally.
    public func clearFaults() {
        core.clearFaults()
    }

    // MARK: Recorded requests

    /// Every request received so far, in arrival order (malformed ones included).
    public var requests: [RecordedRequest] { core.requests }

    /// The requests whose ``RecordedRequest/path`` (percent-decoded) is `path`, in arrival order.
    public func requests(for path: String) -> [RecordedRequest] {
        let path = Self.normalized(path)
        return core.requests.filter { $0.path == path }
    }

    /// Suspends until at least `count` requests have been recorded (or the server stops, or the
    /// calling task is cancelled), then returns ``requests``. A hand-shake, not a poll: use it to
    /// know that a client's request has reached the server (e.g. before advancing a
    /// ``ManualClock`` while the response stalls).
    public func requests(atLeast count: Int) async -> [RecordedRequest] {
        await core.waitForRequests(atLeast: count)
    }

    private static func normalized(_ path: String) -> String {
        path.hasPrefix("/") ? path : "/" + path
    }
}
