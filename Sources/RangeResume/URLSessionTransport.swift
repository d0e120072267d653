import Foundation
import ResilienceSupport
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The URLSession engine behind ``RangeResumer`` (FoundationNetworking/libcurl on Linux).
///
/// Designed around what FoundationNetworking on Linux actually does (measured; see
/// `Documentation/RangeResume.md`, "The URLSession engine"):
/// - **It never blocks a Swift-concurrency thread, and never holds FoundationNetworking's work
///   queue.** Every call into URLSession that can wait for that queue (creating a session or a
///   task, `resume()`, `cancel()`, invalidating) runs on the exchange's own serial queue
///   (``URLSessionExchange``), which is also the session's delegate queue. The work queue is one
///   serial queue shared by every session in the process, so a brake on it — or a cooperative
///   thread waiting for it — stalls every transfer at once (that hung concurrent downloads).
/// - **Backpressure by pausing.** The delegate never blocks: it coalesces the session's 16 KiB
///   chunks into the ``TransportChannel``; past the channel's limit the exchange cancels the task
///   and later continues the same entity with `Range`/`If-Range`
///   (``URLSessionExchangeStateMachine``), so memory stays bounded while the consumer is slower
///   than the network.
/// - **`cancel()` only on the delegate queue.** FoundationNetworking traps (`TaskRegistry`:
///   "Trying to access a behaviour for a task that in not in the registry") when `cancel()` runs
///   concurrently with the delegate-queue operation that completes the task. The exchange calls
///   `cancel()` only from its own serial delegate queue, where that operation cannot be running.
/// - headers are read with `value(forHTTPHeaderField:)` (its `allHeaderFields` renames `ETag`);
///   the session's idle and resource timeouts are set far out (stalls are detected on the
///   injected clock by ``TransferWatchdog``); no cache, no cookies;
/// - redirects: at most ``TransportRequest/maximumRedirects`` are followed (more:
///   ``RangeResumeError/tooManyRedirects(limit:to:)``; `0`: none, a 3xx ends with
///   ``RangeResumeError/redirectNotFollowed(to:)``); `https` to anything else is refused;
///   `Authorization`, `Cookie` and `Proxy-Authorization` are dropped when a redirect leaves the
///   request's origin (curl's rule).
///
/// A caller's `URLSessionConfiguration` (``RangeResumer/Engine/urlSession(configuration:)``) is
/// copied once here; each session gets a further copy with the engine's own settings applied.
struct URLSessionTransport: HTTPTransport {
    /// The caller's settings, or `nil` for `.ephemeral`.
    let base: SessionConfigurationCopy?

    init(configuration: URLSessionConfiguration? = nil) {
        base = configuration.map(SessionConfigurationCopy.init)
    }

    func start(_ request: TransportRequest, into channel: TransportChannel) {
        do { try RequestValidator.validateSyntax(of: request) } catch { channel.finish(throwing: error); return }
        URLSessionExchange(request: request, channel: channel, configuration: sessionConfiguration()).start()
    }

    /// The session configuration of one exchange: a copy of the caller's (or `.ephemeral`), with
    /// what the engine must own set on it.
    func sessionConfiguration() -> URLSessionConfiguration {
        let configuration = base?.copy() ?? URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.timeoutIntervalForRequest = 24 * 3600
        configuration.timeoutIntervalForResource = 7 * 24 * 3600
        configuration.httpShouldSetCookies = false
        return configuration
    }
}

/// A private copy of a caller's `URLSessionConfiguration`.
///
/// `@unchecked Sendable` is safe: the only stored configuration is a copy made in `init` that
/// never escapes and is never mutated; ``copy()`` only reads it (`NSCopying`), so concurrent
/// calls from any thread only ever read.
final class SessionConfigurationCopy: @unchecked Sendable {
    private let configuration: URLSessionConfiguration

    init(_ configuration: URLSessionConfiguration) {
        self.configuration = configuration.copy() as! URLSessionConfiguration
    }

    /// A fresh copy, free to mutate.
    func copy() -> URLSessionConfiguration {
        configuration.copy() as! URLSessionConfiguration
    }
}

/// One exchange of the URLSession engine: the first request and the windows after it, all in one
/// session (so its connection is reused).
///
/// Every URLSession call and every delegate callback runs on ``queue``, one serial
/// `OperationQueue` on one of the engine's ``lanes`` (never a Swift-concurrency thread; blocking
/// there is allowed). Other threads only add operations to it: the channel's cancel handler and
/// its drain notification. The state is therefore touched from one thread at a time; the lock
/// (never contended) makes that checkable. Callbacks of a task that is no longer the current one
/// (cancelled for a resend) are ignored.
final class URLSessionExchange: Sendable {
    private struct State {
        var machine: URLSessionExchangeStateMachine
        var session: URLSession?
        var task: URLSessionDataTask?
    }

    let channel: TransportChannel
    let queue: OperationQueue
    private let configuration: SessionConfigurationCopy
    private let state: LockedValue<State>

    /// The threads every exchange's queue runs on: a few serial dispatch queues, shared round
    /// robin. Few, because a URLSession call may wait for FoundationNetworking's single work
    /// queue: with a thread per exchange, thousands of short exchanges (cancelled at once, say)
    /// each parked a thread in such a wait until libdispatch's pool (255 threads) was spent and
    /// the work queue itself found no thread to run on — a hang. Kept here for good:
    /// `OperationQueue.underlyingQueue` does not retain its queue.
    static let lanes = (0..<4).map { DispatchQueue(label: "RangeResume.URLSessionExchange.lane\($0)") }
    private static let nextLane = Atomic<Int>(0)

    /// Most body bytes one request asks for by default: 4 × the channel's limit (16 MiB for the
    /// default 4 MiB buffer), at least 64 KiB.
    static func window(forLimit limit: Int) -> Int { max(4 * limit, 64 << 10) }

    /// The first and smallest window by default: the channel's limit (4 MiB by default), at
    /// least 64 KiB. Windows grow from it while the consumer keeps up
    /// (``URLSessionExchangeStateMachine``).
    static func minimumWindow(forLimit limit: Int) -> Int { max(limit, 64 << 10) }

    /// - Parameters:
    ///   - window: most body bytes one request asks for; default ``window(forLimit:)`` (fixed
    ///     windows when given).
    ///   - configuration: the session's settings (``URLSessionTransport/sessionConfiguration()``).
    init(request: TransportRequest, channel: TransportChannel, window: Int? = nil,
         configuration: URLSessionConfiguration = URLSessionTransport().sessionConfiguration()) {
        self.channel = channel
        self.configuration = SessionConfigurationCopy(configuration)
        let queue = OperationQueue()
        queue.name = "RangeResume.URLSessionExchange"
        queue.maxConcurrentOperationCount = 1
        self.queue = queue
        self.state = LockedValue(State(machine: URLSessionExchangeStateMachine(
            request: request, window: window ?? Self.window(forLimit: channel.limit), lowWater: channel.limit / 2,
            minimumWindow: window ?? Self.minimumWindow(forLimit: channel.limit))))
        let lane = Self.nextLane.add(1, ordering: .relaxed).oldValue
        queue.underlyingQueue = Self.lanes[lane % Self.lanes.count]
    }

    /// Requests sent so far, the first included (for tests and benchmarks).
    var requests: Int { state.withLock { $0.machine.requests } }

    /// Sends the first request (from the queue) and wires the consumer's cancellation to it.
    func start() {
        channel.holdUntilReleased()
        channel.setCancelHandler { [self] in
            let cancel = BlockOperation { self.end(nil) }
            cancel.queuePriority = .veryHigh
            queue.addOperation(cancel)
        }
        queue.addOperation {
            let request = self.state.withLock { $0.machine.firstRequest() }
            self.send(request)
        }
    }

    /// On the queue: one request, in the exchange's session (made by the first request).
    private func send(_ request: TransportRequest) {
        guard state.withLock({ $0.machine.phase != .finished }) else { return }
        let session = state.withLock { $0.session } ?? {
            let made = URLSession(configuration: configuration.copy(),
                                  delegate: SessionDelegate(exchange: self, originalURL: request.url,
                                                            maximumRedirects: request.maximumRedirects),
                                  delegateQueue: queue)
            state.withLock { $0.session = made }
            return made
        }()
        var urlRequest = URLRequest(url: request.url, cachePolicy: .reloadIgnoringLocalCacheData)
        for (name, value) in request.headers { urlRequest.setValue(value, forHTTPHeaderField: name) }
        let task = session.dataTask(with: urlRequest)
        state.withLock { $0.task = task }
        task.resume()
    }

    private func isCurrent(_ task: URLSessionTask) -> Bool {
        state.withLock { $0.task === task }
    }

    /// On the queue: ends the stream with `error` (`nil`: normally) and lets the session go.
    private func finish(_ error: (any Error)?) {
        let session = state.withLock { state -> URLSession? in
            state.task = nil
            defer { state.session = nil }
            return state.session
        }
        channel.finish(throwing: error)
        session?.finishTasksAndInvalidate()
        channel.release()
    }

    /// On the queue: ends the exchange (the consumer cancelled, or `error` ends the stream),
    /// cancelling the running task, if any — here on the delegate queue, where the task's
    /// completion cannot be running concurrently (FoundationNetworking traps if it is).
    func end(_ error: (any Error)?) {
        let (task, session) = state.withLock { state -> (URLSessionDataTask?, URLSession?) in
            let running = state.machine.end()
            defer { state.task = nil; state.session = nil }
            return (running ? state.task : nil, state.session)
        }
        if let error { channel.finish(throwing: error) }
        task?.cancel()
        session?.finishTasksAndInvalidate()
        channel.release()
    }

    // MARK: Delegate callbacks (on the queue)

    func received(_ head: TransportResponseHead, from task: URLSessionTask) {
        guard isCurrent(task) else { return }
        switch state.withLock({ $0.machine.head(head) }) {
        case .forward(let head): channel.offer(.head(head))
        case .proceed: break
        case .fail(let error): end(error)
        case .resend(let request):
            state.withLock { $0.task = nil }
            task.cancel()
            send(request)
        }
    }

    func received(_ data: Data, from task: URLSessionTask) {
        guard isCurrent(task), state.withLock({ $0.machine.phase == .streaming }) else { return }
        guard channel.offer(contentsOf: data) else { return end(nil) }
        // What the session has read ahead (its undelivered chunks wait in this queue) plus what
        // waits for the consumer: sizes the next window.
        let received = task.countOfBytesReceived, queued = channel.queuedBytes
        state.withLock { $0.machine.forwarded(data.count, received: received, queued: queued) }
    }

    func completed(_ task: URLSessionTask, error: (any Error)?, refusal: RangeResumeError?) {
        guard isCurrent(task) else { return }
        if let refusal { return end(refusal) }
        let completion = state.withLock { state -> URLSessionExchangeStateMachine.Completion in
            state.task = nil
            return state.machine.completed(error: error)
        }
        switch completion {
        case .finish(let error): finish(error)
        case .ignore: break
        case .nextWindowWhenDrained:
            let lowWater = state.withLock { $0.machine.lowWater }
            channel.whenDrained(to: lowWater) { [self] in
                queue.addOperation {
                    guard let request = self.state.withLock({ $0.machine.nextWindowRequest() }) else { return }
                    self.send(request)
                }
            }
        }
    }
}

/// Forwards one session's callbacks to its ``URLSessionExchange``, on the exchange's queue.
///
/// `Sendable` without `@unchecked`: its stored properties are immutable and Sendable (the refused
/// redirect sits in a ``LockedValue``).
final class SessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    private let exchange: URLSessionExchange?
    private let originalURL: URL
    private let refusedRedirect = LockedValue<URL?>(nil)
    /// Most redirects followed (``TransportRequest/maximumRedirects``).
    private let maximumRedirects: Int
    /// Redirects followed so far, and the error a refusal over the limit ends the exchange with.
    private let followed = LockedValue<(count: Int, refusal: RangeResumeError?)>((0, nil))

    /// Response header fields copied into the head, read with `value(forHTTPHeaderField:)`
    /// (FoundationNetworking's `allHeaderFields` renames e.g. `ETag` to `Etag`).
    static let headerNames = ["Content-Range", "Content-Length", "Content-Encoding", "ETag", "Last-Modified",
                              "Retry-After", "Content-Type", "Location", "Accept-Ranges"]

    init(exchange: URLSessionExchange?, originalURL: URL, maximumRedirects: Int = TransportRequest.defaultMaximumRedirects) {
        self.exchange = exchange
        self.originalURL = originalURL
        self.maximumRedirects = max(0, maximumRedirects)
    }

    /// Why this delegate refused a redirect, if it did: over the limit, or out of `https`.
    var refusal: RangeResumeError? {
        followed.withLock { $0.refusal } ?? refusedRedirect.withLock { $0 }.map { .insecureRedirect(to: $0) }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void) {
        // The disposition is ignored by FoundationNetworking on Linux; the exchange cancels.
        completionHandler(.allow)
        if let refusal {
            exchange?.end(refusal)
            return
        }
        guard let http = response as? HTTPURLResponse else {
            exchange?.end(RangeResumeError.invalidResponse("not an HTTP response"))
            return
        }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        for name in Self.headerNames {
            if let value = http.value(forHTTPHeaderField: name) { headers[name.lowercased()] = value }
        }
        exchange?.received(TransportResponseHead(status: http.statusCode, headers: headers, url: http.url),
                           from: dataTask)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        exchange?.received(data, from: dataTask)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        exchange?.completed(task, error: error, refusal: refusal)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        let target = request.url ?? originalURL
        let overLimit = followed.withLock { state -> Bool in
            guard state.count < maximumRedirects else {
                state.refusal = maximumRedirects == 0 ? .redirectNotFollowed(to: target)
                    : .tooManyRedirects(limit: maximumRedirects, to: target)
                return true
            }
            state.count += 1
            return false
        }
        completionHandler(overLimit ? nil : Self.redirect(from: originalURL, to: request, refused: refusedRedirect))
    }

    /// The request to follow a redirect with, or `nil` (recorded in `refused`) when it leaves
    /// `https`. Credentials are dropped when the target's origin differs from `originalURL`'s.
    static func redirect(from originalURL: URL, to request: URLRequest, refused: LockedValue<URL?>) -> URLRequest? {
        let from = originalURL.scheme?.lowercased()
        let to = request.url?.scheme?.lowercased()
        guard (to == "https") || (to == "http" && from == "http") else {
            refused.withLock { $0 = request.url ?? originalURL }
            return nil
        }
        var request = request
        if let target = request.url, !URLSessionExchangeStateMachine.sameOrigin(originalURL, target) {
            for field in request.allHTTPHeaderFields?.keys.map({ $0 }) ?? []
            where URLSessionExchangeStateMachine.credentialFields.contains(field.lowercased()) {
                request.setValue(nil, forHTTPHeaderField: field)
            }
        }
        return request
    }
}
