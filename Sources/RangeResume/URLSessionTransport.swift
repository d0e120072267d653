import Foundation
import ResilienceSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The URLSession engine behind ``RangeResumer`` (FoundationNetworking/libcurl on Linux).
///
/// Designed around what FoundationNetworking on Linux actually does (measured; see
/// `Documentation/RangeResume.md`): one `dataTask(with:)` per request in its own session with a
/// **session-level** `URLSessionDataDelegate` on a private serial `OperationQueue` (a per-task
/// delegate is ignored there), `urlCache = nil`, and no reliance on the response disposition,
/// `allHeaderFields` spelling, the session's byte counts or its timeouts:
/// - headers are read with `value(forHTTPHeaderField:)` and judged by the state machine before a
///   byte is written; an unwanted response is `cancel()`ed and its late chunks are dropped by the
///   ``TransportChannel`` (which also ignores a cancelled task's "success");
/// - the idle and resource timeouts are set far out: stalls and slow transfers are detected on the
///   injected clock by ``TransferWatchdog``;
/// - the session delivers the body in 16 KiB chunks, one delegate-queue operation each; when
///   more operations are already queued behind the current one, the delegate **coalesces**
///   chunks into a 1 MiB ``ChunkBuffer`` and hands the state machine one chunk per MiB (which it
///   writes without another copy), instead of waking the writer task 64 times per MiB; a lone
///   chunk (the network is the slower side) is passed on at once;
/// - URLSession has no backpressure API on Linux (`suspend()` duplicates data, `cancel()` is not
///   processed while a fast transfer runs), so the package makes one: the delegate **blocks** in
///   ``TransportChannel/send(_:)`` while more than the channel's limit (4 MiB) waits to be
///   written, operations pile up in the delegate queue, and past 64 of them (1 MiB)
///   ``DelegateOperationQueue`` holds FoundationNetworking's work-queue thread inside
///   `addOperation` — the thread that reads the socket — so libcurl stops reading and TCP flow
///   control slows the server. Delegate code never calls `cancel()` on that queue (it would wait
///   for the held work queue): it cancels from another thread after releasing the brake;
/// - a redirect from `https` to anything else is refused in `willPerformHTTPRedirection`.
struct URLSessionTransport: HTTPTransport {
    func start(_ request: TransportRequest, into channel: TransportChannel) {
        let queue = DelegateOperationQueue()   // serial
        queue.name = "RangeResume.URLSessionTransport"
        let delegate = SessionDelegate(channel: channel, originalURL: request.url, queue: queue)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.timeoutIntervalForRequest = 24 * 3600
        configuration.timeoutIntervalForResource = 7 * 24 * 3600
        configuration.httpShouldSetCookies = false
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: queue)
        var urlRequest = URLRequest(url: request.url, cachePolicy: .reloadIgnoringLocalCacheData)
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        let task = session.dataTask(with: urlRequest)
        channel.setCancelHandler {
            queue.stopHoldingBack()
            task.cancel()
        }
        task.resume()
        // Releases the delegate once the task has completed (or been cancelled).
        session.finishTasksAndInvalidate()
    }
}

/// Forwards one data task's callbacks into a ``TransportChannel``.
///
/// `Sendable` without `@unchecked`: its stored properties are immutable and Sendable (the refused
/// redirect sits in a ``LockedValue``).
final class SessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private let channel: TransportChannel
    private let originalURL: URL
    private let refusedRedirect = LockedValue<URL?>(nil)
    /// The delegate queue; its pending count says whether more chunks are already waiting.
    private let queue: DelegateOperationQueue?
    /// Chunks coalesced but not yet sent. Only touched from the serial delegate queue; the lock
    /// (never contended) makes that checkable.
    private let coalesced = LockedValue(ChunkBuffer())

    /// Response header fields copied into the head, read with `value(forHTTPHeaderField:)`
    /// (FoundationNetworking's `allHeaderFields` renames e.g. `ETag` to `Etag`).
    static let headerNames = ["Content-Range", "Content-Length", "Content-Encoding", "ETag", "Last-Modified",
                              "Retry-After", "Content-Type", "Location", "Accept-Ranges"]

    init(channel: TransportChannel, originalURL: URL, queue: DelegateOperationQueue? = nil) {
        self.channel = channel
        self.originalURL = originalURL
        self.queue = queue
    }

    deinit {
        coalesced.withLock { $0.release() }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        if let refused = refusedRedirect.withLock({ $0 }) {
            channel.finish(throwing: RangeResumeError.insecureRedirect(to: refused))
            cancelSoon(dataTask)
            completionHandler(.cancel)
            return
        }
        guard let http = response as? HTTPURLResponse else {
            channel.finish(throwing: RangeResumeError.invalidResponse("not an HTTP response"))
            cancelSoon(dataTask)
            completionHandler(.cancel)
            return
        }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        for name in Self.headerNames {
            if let value = http.value(forHTTPHeaderField: name) { headers[name.lowercased()] = value }
        }
        channel.send(.head(TransportResponseHead(status: http.statusCode, headers: headers, url: http.url)))
        // The disposition is ignored by FoundationNetworking on Linux; cancellation happens through
        // the channel's cancel handler once the state machine has judged the head.
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        // More operations queued behind this one (it counts itself): the writer is behind, so
        // gather chunks; otherwise pass on what there is now.
        let backlog = (queue?.pending ?? 0) > 1
        var ready: [Data] = []
        coalesced.withLock { buffer in
            data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < bytes.count {
                    let take = min(buffer.space, bytes.count - offset)
                    buffer.append(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
                    offset += take
                    if buffer.space == 0 { ready.append(buffer.take()) }
                }
            }
            if !backlog && buffer.count > 0 { ready.append(buffer.take()) }
        }
        for chunk in ready where !channel.send(.body(chunk)) {
            cancelSoon(dataTask)
            return
        }
    }

    /// Cancels `task` off the delegate queue: `cancel()` waits for the session's work queue, which
    /// may itself be waiting in ``DelegateOperationQueue/addOperation(_:)`` for this queue to drain.
    private func cancelSoon(_ task: URLSessionTask) {
        queue?.stopHoldingBack()
        DispatchQueue.global().async { task.cancel() }
    }

    /// Sends what is still coalesced (before the end of the stream).
    private func flushCoalesced() {
        let rest: Data? = coalesced.withLock { $0.count > 0 ? $0.take() : nil }
        if let rest { channel.send(.body(rest)) }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        queue?.stopHoldingBack()
        flushCoalesced()
        if let refused = refusedRedirect.withLock({ $0 }) {
            channel.finish(throwing: RangeResumeError.insecureRedirect(to: refused))
        } else {
            channel.finish(throwing: error)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        let from = originalURL.scheme?.lowercased()
        let to = request.url?.scheme?.lowercased()
        let safe = (to == "https") || (to == "http" && from == "http")
        if safe {
            completionHandler(request)
        } else {
            refusedRedirect.withLock { $0 = request.url ?? originalURL }
            completionHandler(nil)
        }
    }
}
