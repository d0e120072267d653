import Foundation
import ResilienceRetry

/// Downloads one URL to one file so that an interruption never costs the bytes already on disk
/// and no truncated or corrupt file is ever handed to the caller.
///
/// Each call of ``download(from:mirrors:to:expectedLength:expectedSHA256:clock:progress:)`` makes **one
/// attempt**. The body streams into `<destination>.part`; resume state lives in the sidecar
/// `<destination>.part.meta` (see `Documentation/RangeResume.md` for its format). The next attempt
/// — in this process or after a crash — sends `Range: bytes=<durable size>-` with `If-Range` and
/// continues where the last checkpoint left off. Wrap it in `retry` to resume across attempts:
///
/// ```swift
/// let resumer = RangeResumer()
/// let result = try await retry(policy) { _ in
///     try await resumer.download(from: url, to: destination, expectedSHA256: digest)
/// }
/// ```
///
/// Guarantees:
/// - `destination` only ever appears complete and verified (rename of the synced `.part`, then an
///   `fsync` of the directory). A truncated body throws `IncompleteDownloadError` and keeps the
///   `.part`; it is never reported as success.
/// - After a crash or `kill -9`, at most the bytes since the last checkpoint
///   (``Configuration/checkpointInterval`` plus one write batch) are fetched again: the sidecar
///   is rewritten only after the data it describes was `fsync`ed, and the `.part` is truncated to
///   the sidecar's offset before resuming.
/// - Every request carries `Accept-Encoding: identity`; a response with another
///   `Content-Encoding` is refused before a byte is written.
/// - Errors conform to `RetryClassifiable` (or are `HTTPStatusError`, carrying `Retry-After`), so
///   `retry`'s default classifier retries exactly the transient ones.
public struct RangeResumer: Sendable {
    /// Tuning and safety limits. Every duration is measured on the clock passed to `download`.
    public struct Configuration: Sendable, Hashable {
        /// Fail with ``RangeResumeError/stalled(timeout:)`` when no byte (nor the response head)
        /// arrives for this long. Default 30 s.
        public var stallTimeout: Duration
        /// When set, fail with ``RangeResumeError/tooSlow(bytesPerSecond:minimum:)`` if fewer than
        /// `bytesPerSecond` arrive on average over any consecutive `window` (curl's
        /// `--speed-limit`/`--speed-time`). Default `nil` (off).
        public var minimumSpeed: MinimumSpeed?
        /// Bytes between durable checkpoints (`fsync` of the `.part`, then the sidecar). Bounds
        /// what a crash costs; each checkpoint waits for the disk, so small values slow fast
        /// transfers (measured: 8 MiB halves loopback throughput against 64 MiB). Default 64 MiB.
        public var checkpointInterval: Int64
        /// Size of the write buffer: the body reaches the file in batches of this size.
        /// Clamped to 16 KiB...4 MiB. Default 1 MiB.
        public var writeBatchSize: Int
        /// Most body bytes queued between the HTTP engine and the writer; past it the engine's
        /// delivery thread blocks, and the engine stops reading the socket (for URLSession on
        /// Linux once 64 more 16 KiB chunks wait in its delegate queue; see
        /// `Documentation/RangeResume.md`). Default 4 MiB; at least ``writeBatchSize``.
        public var bufferLimit: Int
        /// Abort (and discard the `.part`) when the file would exceed this many bytes. Default
        /// `nil`: the expected length when the caller gives one, else no cap.
        public var maxBytes: Int64?
        /// Minimum time between two progress snapshots. Default 250 ms.
        public var progressInterval: Duration
        /// Compute the SHA-256 even when no expected hash is given, to report it in
        /// ``DownloadResult/sha256``. Default `true`.
        public var computesSHA256: Bool
        /// Extra request header fields (e.g. `Authorization`, `User-Agent`); a field here replaces
        /// the engine's default of the same name. Checked by ``RequestValidator`` when a request
        /// is made: token-character names, values without CR, LF or NUL and at most 8 KiB, and
        /// none of the fields the engine owns (`Host`, `Range`, `If-Range`, `Accept-Encoding`,
        /// `Connection`, `Content-Length`, `Transfer-Encoding`); otherwise
        /// ``RangeResumeError/invalidArgument(_:)``. `Authorization`, `Cookie` and
        /// `Proxy-Authorization` are never sent to another origin after a redirect.
        public var additionalHeaders: [String: String]
        /// The most redirects one request follows (on an engine that follows them). More:
        /// ``RangeResumeError/tooManyRedirects(limit:to:)``; `0`: none (a 3xx ends with
        /// ``RangeResumeError/redirectNotFollowed(to:)`` on every engine). Default 10.
        public var maximumRedirects: Int

        /// A minimum throughput: `bytesPerSecond` averaged over `window`.
        public struct MinimumSpeed: Sendable, Hashable {
            /// The lowest acceptable average, in bytes per second.
            public var bytesPerSecond: Int
            /// The averaging window.
            public var window: Duration
            /// Creates a minimum speed.
            public init(bytesPerSecond: Int, window: Duration) {
                self.bytesPerSecond = bytesPerSecond
                self.window = window
            }
        }

        /// Creates a configuration; see each property for its default.
        public init(
            stallTimeout: Duration = .seconds(30),
            minimumSpeed: MinimumSpeed? = nil,
            checkpointInterval: Int64 = 64 << 20,
            writeBatchSize: Int = 1 << 20,
            bufferLimit: Int = 4 << 20,
            maxBytes: Int64? = nil,
            progressInterval: Duration = .milliseconds(250),
            computesSHA256: Bool = true,
            additionalHeaders: [String: String] = [:],
            maximumRedirects: Int = TransportRequest.defaultMaximumRedirects
        ) {
            self.stallTimeout = stallTimeout
            self.minimumSpeed = minimumSpeed
            self.checkpointInterval = max(1, checkpointInterval)
            self.writeBatchSize = min(max(writeBatchSize, 16 << 10), 4 << 20)
            self.bufferLimit = max(bufferLimit, 16 << 10)
            self.maxBytes = maxBytes
            self.progressInterval = progressInterval
            self.computesSHA256 = computesSHA256
            self.additionalHeaders = additionalHeaders
            self.maximumRedirects = max(0, maximumRedirects)
        }
    }

    /// The configuration of every download this resumer makes.
    public let configuration: Configuration
    /// The HTTP engine of every request.
    public let engine: Engine
    /// Asked for credentials before every attempt (and once more after a `401`); `nil`: none.
    public let authorizer: (any RequestAuthorizer)?
    let transport: any HTTPTransport

    /// Creates a resumer that downloads with `engine` (default URLSession; FoundationNetworking on Linux).
    ///
    /// - Parameter authorizer: supplies credentials per attempt, never stored anywhere (see
    ///   ``RequestAuthorizer``). Default none.
    public init(configuration: Configuration = Configuration(), engine: Engine = .urlSession,
                authorizer: (any RequestAuthorizer)? = nil) {
        self.configuration = configuration
        self.engine = engine
        self.transport = engine.transport
        self.authorizer = authorizer
    }

    init(configuration: Configuration, transport: any HTTPTransport, authorizer: (any RequestAuthorizer)? = nil) {
        self.init(configuration: configuration, engine: .custom(transport), authorizer: authorizer)
    }

    /// The `.part` file a download to `destination` writes: `<destination>.part`.
    public static func partFileURL(for destination: URL) -> URL {
        URL(fileURLWithPath: destination.path + ".part")
    }

    /// The sidecar holding the resume state of a download to `destination`: `<destination>.part.meta`.
    public static func sidecarURL(for destination: URL) -> URL {
        URL(fileURLWithPath: destination.path + ".part.meta")
    }

    /// Makes one attempt to download `url` into `destination`, resuming from a previous attempt's
    /// `.part` when its sidecar says how.
    ///
    /// - Parameters:
    ///   - url: an `http` or `https` URL without user information or fragment (the
    ///     ``RequestValidator`` rules, also for `mirrors` and the configured header fields).
    ///     Redirects from `https` to `http` are refused.
    ///   - mirrors: other URLs serving the **same bytes** as `url` (order does not matter; `url`
    ///     itself is ignored in it). A `.part` an earlier attempt fetched from one of them is
    ///     continued from `url` at the same durable offset when (a) the sidecar holds a validator
    ///     that `url` itself answered before — it is sent as `If-Range`; a validator from another
    ///     mirror is never sent — or (b) the sidecar knows the total length and `expectedSHA256` is
    ///     given: a plain `Range` is sent, the 206 must announce that total, and the final hash
    ///     catches a splice of different content (an ``IntegrityError`` restarts from zero).
    ///     Otherwise the `.part` restarts from zero. Default none: only a `.part` of `url` resumes.
    ///     See "Mirrors" in `Documentation/RangeResume.md`.
    ///   - destination: a `file:` URL chosen by the caller (never derived from the response); its
    ///     directory must exist. Replaced atomically on success.
    ///   - expectedLength: when given, the body must have exactly this many bytes; also the
    ///     default byte cap.
    ///   - expectedSHA256: when given (64 hex digits, any case), the body's SHA-256 must match.
    ///   - clock: measures stalls, slow transfers and progress intervals. Default `ContinuousClock()`.
    ///   - progress: called with throttled snapshots, from the downloading task.
    /// - Returns: the verified result; `destination` is complete and durable.
    /// - Throws: `HTTPStatusError` (status ≥ 300 other than a usable 206/416; carries the headers,
    ///   so `Retry-After` is honoured), `IncompleteDownloadError` (body cut short; `.part` kept),
    ///   ``IntegrityError`` (`.part` deleted), ``RangeResumeError``, `URLError` for connection
    ///   failures before any response, `CancellationError` (progress so far is checkpointed), and
    ///   what the ``authorizer`` throws.
    public func download<C: Clock<Duration>>(
        from url: URL,
        mirrors: [URL] = [],
        to destination: URL,
        expectedLength: Int64? = nil,
        expectedSHA256: String? = nil,
        clock: C = ContinuousClock(),
        progress: (@Sendable (DownloadProgress) -> Void)? = nil
    ) async throws -> DownloadResult {
        let attempt = try ResumeAttempt(
            configuration: configuration, transport: transport, authorizer: authorizer, url: url, mirrors: mirrors,
            destination: destination, expectedLength: expectedLength, expectedSHA256: expectedSHA256, clock: clock,
            progress: progress)
        return try await attempt.run()
    }
}
