import Foundation
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
/// - there is no backpressure in URLSession, so the delegate queue **blocks** in
///   ``TransportChannel/send(_:)`` while more than the channel's limit (4 MiB) waits to be
///   written; the session then queues further chunks internally (see the guide for what that
///   costs in memory);
/// - a redirect from `https` to anything else is refused in `willPerformHTTPRedirection`.
struct URLSessionTransport: HTTPTransport {
    func start(_ request: TransportRequest, into channel: TransportChannel) {
        let delegate = SessionDelegate(channel: channel, originalURL: request.url)
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        queue.name = "RangeResume.URLSessionTransport"
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
        channel.setCancelHandler { task.cancel() }
        task.resume()
        // Releases the delegate once the task has completed (or been cancelled).
        session.finishTasksAndInvalidate()
    }
}

/// Forwards one data task's callbacks into a ``TransportChannel``.
///
/// `Sendable` without `@unchecked`: its stored properties are immutable and Sendable (the refused
/// redirect sits in a ``ThreadLock``).
final class SessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private let channel: TransportChannel
    private let originalURL: URL
    private let refusedRedirect = ThreadLock<URL?>(nil)

    /// Response header fields copied into the head, read with `value(forHTTPHeaderField:)`
    /// (FoundationNetworking's `allHeaderFields` renames e.g. `ETag` to `Etag`).
    static let headerNames = ["Content-Range", "Content-Length", "Content-Encoding", "ETag", "Last-Modified",
                              "Retry-After", "Content-Type", "Location", "Accept-Ranges"]

    init(channel: TransportChannel, originalURL: URL) {
        self.channel = channel
        self.originalURL = originalURL
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        if let refused = refusedRedirect.withLock({ $0 }) {
            channel.finish(throwing: RangeResumeError.insecureRedirect(to: refused))
            dataTask.cancel()
            completionHandler(.cancel)
            return
        }
        guard let http = response as? HTTPURLResponse else {
            channel.finish(throwing: RangeResumeError.invalidResponse("not an HTTP response"))
            dataTask.cancel()
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
        if !channel.send(.body(data)) { dataTask.cancel() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
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
