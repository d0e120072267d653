import Foundation
import ResilienceRetry
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Fetches **one byte range** of a URL into a given offset of a file the caller opened — the
/// building block of segmented downloads (several ranges of one file over several connections).
///
/// It drives the same engines as ``RangeResumer`` (``RangeResumer/Engine``) and shares its
/// ``RangeResumer/Configuration`` (stall timeout, minimum speed, write batch size, buffer limit,
/// checkpoint interval, extra header fields). Each request:
/// - sends `Range: bytes=<first>-<last>`, `Accept-Encoding: identity` and, when the caller knows
///   one, `If-Range: <validator>` (a strong `ETag` or a `Last-Modified` date, as returned by
///   ``probe(_:clock:)``);
/// - accepts only a `206` whose `Content-Range` first, last and total bytes equal what was asked
///   (and whose `Content-Length`, `ETag` and `Content-Encoding` agree) **before writing a byte**;
///   a `200` means the range was ignored or the validator changed, and throws
///   ``RangeFetchError/rangeIgnored`` (``RangeFetchError/requiresRestart``);
/// - watches stalls and slow transfers on the injected clock (``RangeResumeError/stalled(timeout:)``,
///   ``RangeResumeError/tooSlow(bytesPerSecond:minimum:)``);
/// - writes with `pwrite` at `range.lowerBound + n`, in batches of
///   ``RangeResumer/Configuration/writeBatchSize``; every ``RangeResumer/Configuration/checkpointInterval``
///   bytes and when the request ends (success or failure) it `fsync`s the file and reports how
///   many bytes of the range are durable through `onDurable`, so a caller can checkpoint them and
///   fetch only the rest later;
/// - treats a body cut short as `IncompleteDownloadError` (retryable), never as success.
///
/// ```swift
/// let fetcher = RangeFetcher()
/// let probe = try await fetcher.probe(url)
/// try await fetcher.fetch(from: url, bytes: 0...(1 << 20) - 1, totalLength: probe.totalLength!,
///                         validator: probe.validator, into: fd, onDurable: { durable in save(durable) })
/// ```
public struct RangeFetcher: Sendable {
    /// The settings of every request (see ``RangeResumer/Configuration``; `maxBytes`,
    /// `computesSHA256` and `progressInterval` do not apply to a single range).
    public let configuration: RangeResumer.Configuration
    /// Asked for credentials before every request (and once more after a `401`, which is then
    /// sent again); `nil`: none. See ``RequestAuthorizer``.
    public let authorizer: (any RequestAuthorizer)?
    let transport: any HTTPTransport

    /// Creates a fetcher that uses `engine` (default URLSession) and, when given, `authorizer`.
    public init(configuration: RangeResumer.Configuration = RangeResumer.Configuration(),
                engine: RangeResumer.Engine = .urlSession, authorizer: (any RequestAuthorizer)? = nil) {
        self.init(configuration: configuration, transport: engine.transport, authorizer: authorizer)
    }

    init(configuration: RangeResumer.Configuration, transport: any HTTPTransport, authorizer: (any RequestAuthorizer)? = nil) {
        self.configuration = configuration
        self.transport = transport
        self.authorizer = authorizer
    }

    /// Runs `body` with the authorizer's fields for `url` (none without an authorizer); after a
    /// `401`, once more with fresh ones (`refresh: true`). A second `401` is thrown.
    private func authorized<R>(_ url: URL, _ body: ([String: String]) async throws -> R) async throws -> R {
        guard let authorizer else { return try await body([:]) }
        var refresh = false
        while true {
            let credentials = try await authorizer.checkedHeaders(for: url, refresh: refresh)
            do {
                return try await body(credentials)
            } catch let error as HTTPStatusError where error.status == 401 && !refresh {
                refresh = true
            }
        }
    }

    /// Learns whether `url` honours ranges, its total length and its validator with one
    /// `GET` carrying `Range: bytes=0-0` (at most one body byte is read).
    ///
    /// - Throws: `HTTPStatusError` for a status other than 200/206/416,
    ///   ``RangeFetchError/contentRangeMismatch(requested:received:)`` (retryable) for a `206`
    ///   whose `Content-Range` is not `bytes 0-0/<total>`,
    ///   ``RangeResumeError/unsupportedContentEncoding(_:)``, ``RangeResumeError/stalled(timeout:)``
    ///   when no head arrives within the stall timeout, ``RangeResumeError/invalidArgument(_:)``
    ///   for a URL or header field that breaks the ``RequestValidator`` rules, and the engine's connection errors (`URLError`).
    public func probe<C: Clock<Duration>>(_ url: URL, clock: C = ContinuousClock()) async throws -> RangeProbe {
        try checkRequest(url)
        return try await authorized(url) { credentials in try await probeOnce(url, credentials: credentials, clock: clock) }
    }

    private func probeOnce<C: Clock<Duration>>(_ url: URL, credentials: [String: String], clock: C) async throws -> RangeProbe {
        let channel = TransportChannel(limit: 64 << 10)
        let watchdog = TransferWatchdog(clock: clock, stallTimeout: configuration.stallTimeout, minimumSpeed: nil)
        let request = TransportRequest(url: url, headers: headers(range: "bytes=0-0", validator: nil, credentials: credentials),
                                       maximumRedirects: configuration.maximumRedirects)
        return try await transport.exchange(request, into: channel) { try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await watchdog.watch(channel) }
            defer { group.cancelAll() }
            let head = try await Self.firstHead(channel)
            try Self.checkEncoding(head, channel: channel)
            let validator = ResumeValidator(head: head)?.ifRangeValue
            let answered = head.url ?? url
            switch head.status {
            case 206:
                if let value = head["content-range"], let range = ContentRange(value), range.first == 0, range.last == 0,
                   let total = range.total {
                    return RangeProbe(url: answered, supportsRanges: true, totalLength: total, validator: validator)
                }
                // A 206 means ranges work; a Content-Range that does not match is a faulty answer.
                throw RangeFetchError.contentRangeMismatch(requested: "bytes=0-0", received: head["content-range"])
            case 200:
                let length = head["content-length"].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
                return RangeProbe(url: answered, supportsRanges: false, totalLength: length, validator: validator)
            case 416:
                // `bytes */0`: an empty resource (nothing to split).
                let total = head["content-range"].flatMap(ContentRange.init)?.total
                return RangeProbe(url: answered, supportsRanges: false, totalLength: total, validator: validator)
            default:
                throw HTTPStatusError(status: head.status, headers: head.headers, url: answered)
            }
        } }
    }

    /// Fetches bytes `range` (inclusive, absolute offsets in the resource) of `url` and writes
    /// them at the same offsets of the file open at `fileDescriptor` (opened for writing by the
    /// caller, who keeps owning it; it is never closed or truncated here).
    ///
    /// - Parameters:
    ///   - url: an `http` (or, with URLSession, `https`) URL.
    ///   - range: the bytes to fetch; must lie within `0..<totalLength`.
    ///   - totalLength: the resource length the caller holds; a `Content-Range` with another
    ///     total throws ``RangeFetchError/lengthChanged(expected:received:)``.
    ///   - validator: sent as `If-Range`; `nil` sends none (then nothing detects a change of the
    ///     resource between ranges — prefer a validator from ``probe(_:clock:)``).
    ///   - fileDescriptor: where to `pwrite`; `fsync`ed at checkpoints.
    ///   - clock: measures stalls and slow transfers. Default `ContinuousClock()`.
    ///   - onReceive: called with the size of every body chunk as it arrives (for progress).
    ///   - onDurable: called with the number of bytes from `range.lowerBound` that are written
    ///     **and `fsync`ed**, at each checkpoint and once when the request ends, also when it
    ///     throws (then before throwing). Resume a partial range from there.
    /// - Returns: the number of bytes written (`range.count`).
    /// - Throws: ``RangeFetchError`` (check ``RangeFetchError/requiresRestart``), `HTTPStatusError`,
    ///   `IncompleteDownloadError` (body cut short; the durable prefix was reported),
    ///   ``RangeResumeError`` (`stalled`, `tooSlow`, `unsupportedContentEncoding`,
    ///   `invalidResponse`, `fileSystem`, `invalidArgument` for a URL or header field that breaks
    ///   the ``RequestValidator`` rules), `URLError`, `CancellationError`.
    @discardableResult
    public func fetch<C: Clock<Duration>>(
        from url: URL,
        bytes range: ClosedRange<Int64>,
        totalLength: Int64,
        validator: String?,
        into fileDescriptor: Int32,
        clock: C = ContinuousClock(),
        onReceive: (Int) -> Void = { _ in },
        onDurable: (Int64) -> Void = { _ in }
    ) async throws -> Int64 {
        try checkRequest(url)
        guard range.lowerBound >= 0, range.upperBound < totalLength else {
            throw RangeFetchError.invalidArgument("range \(range) outside 0..<\(totalLength)")
        }
        guard fileDescriptor >= 0 else { throw RangeFetchError.invalidArgument("file descriptor \(fileDescriptor)") }
        // A 401 arrives with the head, before any byte is written: sending the request again is safe.
        return try await authorized(url) { credentials in
            try await fetchOnce(from: url, bytes: range, totalLength: totalLength, validator: validator, into: fileDescriptor,
                                credentials: credentials, clock: clock, onReceive: onReceive, onDurable: onDurable)
        }
    }

    private func fetchOnce<C: Clock<Duration>>(
        from url: URL, bytes range: ClosedRange<Int64>, totalLength: Int64, validator: String?, into fileDescriptor: Int32,
        credentials: [String: String], clock: C, onReceive: (Int) -> Void, onDurable: (Int64) -> Void
    ) async throws -> Int64 {
        let requested = "bytes=\(range.lowerBound)-\(range.upperBound)"
        let channel = TransportChannel(limit: max(configuration.bufferLimit, configuration.writeBatchSize))
        let watchdog = TransferWatchdog(clock: clock, stallTimeout: configuration.stallTimeout,
                                        minimumSpeed: configuration.minimumSpeed)
        let request = TransportRequest(url: url, headers: headers(range: requested, validator: validator, credentials: credentials),
                                       maximumRedirects: configuration.maximumRedirects)
        return try await transport.exchange(request, into: channel) { try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await watchdog.watch(channel) }
            defer { group.cancelAll() }
            let head = try await Self.firstHead(channel)
            watchdog.touch(bytes: 0, at: clock.now)
            try Self.checkEncoding(head, channel: channel)
            try Self.checkHead(head, range: range, requested: requested, totalLength: totalLength, validator: validator,
                               channel: channel, url: url)
            var writer = RangeWriter(fileDescriptor: fileDescriptor, start: range.lowerBound,
                                     batchSize: configuration.writeBatchSize,
                                     checkpointInterval: configuration.checkpointInterval)
            defer { writer.deallocate() }
            let length = range.upperBound - range.lowerBound + 1
            do {
                while let event = try await channel.next() {
                    guard case .body(let data) = event, !data.isEmpty else { continue }
                    guard writer.position + Int64(data.count) <= length else {
                        throw RangeResumeError.invalidResponse("body longer than the requested \(length) bytes")
                    }
                    try data.withUnsafeBytes { try writer.append($0, onDurable: onDurable) }
                    watchdog.touch(bytes: data.count, at: clock.now)
                    onReceive(data.count)
                }
            } catch {
                channel.cancel(error)
                try writer.finish(onDurable: onDurable)
                if error is RangeResumeError || error is CancellationError { throw error }
                throw IncompleteDownloadError(expectedBytes: length, receivedBytes: writer.position)
            }
            try writer.finish(onDurable: onDurable)
            guard writer.position == length else {
                throw IncompleteDownloadError(expectedBytes: length, receivedBytes: writer.position)
            }
            return length
        } }
    }

    // MARK: Helpers

    private func headers(range: String, validator: String?, credentials: [String: String]) -> [String: String] {
        // Validated by `checkRequest` and `authorized`: no caller field collides with these.
        var headers = configuration.additionalHeaders.replacingFields(with: credentials)
        headers["Accept-Encoding"] = "identity"
        headers["Range"] = range
        if let validator { headers["If-Range"] = validator }
        return headers
    }

    /// The request-field rules (``RequestValidator``) for `url` and the configured header fields.
    private func checkRequest(_ url: URL) throws(RangeResumeError) {
        try RequestValidator.validate(url: url, headers: configuration.additionalHeaders)
    }

    private static func firstHead(_ channel: TransportChannel) async throws -> TransportResponseHead {
        let first: TransportEvent?
        do {
            first = try await channel.next()
        } catch let error as URLError where error.code == .badServerResponse {
            throw RangeResumeError.invalidResponse("no response head: \(error.localizedDescription)")
        }
        guard let first, case .head(let head) = first else { throw RangeResumeError.invalidResponse("no response head") }
        return head
    }

    private static func checkEncoding(_ head: TransportResponseHead, channel: TransportChannel) throws {
        if (200..<300).contains(head.status), let coding = head.contentCoding {
            channel.cancel(RangeResumeError.unsupportedContentEncoding(coding))
            throw RangeResumeError.unsupportedContentEncoding(coding)
        }
    }

    /// Judges a head before any byte is written: only the exact `206` asked for passes.
    private static func checkHead(_ head: TransportResponseHead, range: ClosedRange<Int64>, requested: String,
                                  totalLength: Int64, validator: String?, channel: TransportChannel, url: URL) throws {
        func refuse(_ error: any Error) throws -> Never {
            channel.cancel(CancellationError())
            throw error
        }
        switch head.status {
        case 206: break
        case 200: try refuse(RangeFetchError.rangeIgnored)
        case 416: try refuse(RangeFetchError.rangeNotSatisfiable(contentRange: head["content-range"]))
        default: try refuse(HTTPStatusError(status: head.status, headers: head.headers, url: head.url ?? url))
        }
        let value = head["content-range"]
        guard let value, let received = ContentRange(value), let first = received.first, let last = received.last else {
            try refuse(RangeFetchError.contentRangeMismatch(requested: requested, received: value))
        }
        if let total = received.total, total != totalLength {
            try refuse(RangeFetchError.lengthChanged(expected: totalLength, received: total))
        }
        guard first == range.lowerBound, last == range.upperBound, received.total != nil else {
            try refuse(RangeFetchError.contentRangeMismatch(requested: requested, received: value))
        }
        if let length = head["content-length"].flatMap({ Int64($0.trimmingCharacters(in: .whitespaces)) }),
           length != last - first + 1 {
            try refuse(RangeFetchError.contentRangeMismatch(requested: requested, received: "\(value), Content-Length \(length)"))
        }
        // A server that ignores If-Range but reports another strong ETag: the bytes are from
        // another version of the resource.
        if let validator, validator.hasPrefix("\""), let now = ResumeValidator(head: head), case .etag(let tag) = now,
           tag != validator {
            try refuse(RangeFetchError.validatorChanged(expected: validator, received: tag))
        }
    }
}
