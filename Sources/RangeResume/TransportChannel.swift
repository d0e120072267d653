import Dispatch
import Foundation
import ResilienceSupport

/// A bounded single-producer, single-consumer queue of ``TransportEvent``s between an
/// ``HTTPTransport`` (the producer) and its consumer (``RangeResumer``, ``RangeFetcher``, a test).
///
/// Three ways to keep it bounded, one per kind of producer:
/// - ``send(_:)`` blocks the producing thread (the socket engine's own thread, never a
///   Swift-concurrency thread) while more than ``limit`` body bytes wait; the engine then stops
///   reading the socket and TCP flow control slows the server.
/// - its `async` overload suspends the producing task instead (for engines built on Swift
///   concurrency, e.g. over AsyncHTTPClient): the engine stops pulling its body stream.
/// - ``offer(contentsOf:)`` never blocks (for URLSession, whose delivery thread must never be held:
///   FoundationNetworking shares it between every transfer in the process). It **coalesces** small
///   chunks into 1 MiB buffers while the consumer is busy, hands a chunk over at once when the
///   consumer is waiting, and lets the engine read ``queuedBytes`` to decide when to pause its
///   transfer; ``whenDrained(to:_:)`` tells it when to go on.
///
/// ``cancel(_:)`` ends the exchange from the consumer's side at once: queued and later events are
/// dropped, a blocked producer is released, and the engine's cancel handler runs. The consumer
/// never sees an event after it cancelled.
public final class TransportChannel: Sendable {
    private struct State {
        /// Pending events from `head` on; consumed slots are set to `nil` at once so their `Data`
        /// is released even while the producer keeps the queue from ever emptying.
        var queue: [TransportEvent?] = []
        var head = 0
        /// Body bytes offered with `offer(contentsOf:)` after every queued event, not yet handed
        /// over: the open end of the queue (allocated on first use, freed by `deinit`).
        var tail: ChunkBuffer?
        /// Body bytes waiting, in `queue` and in `tail`.
        var queuedBytes = 0
        var peakQueuedBytes = 0
        var finished = false
        var failure: (any Error)?
        var cancelled = false
        var consumer: CheckedContinuation<TransportEvent?, any Error>?
        var producerBlocked = false
        /// The producer suspended in the `async` `send`, until the queue is back within `limit`.
        var spaceWaiter: CheckedContinuation<Void, Never>?
        /// Events the engine tried to deliver after the consumer cancelled (for conformance).
        var rejectedAfterCancel = 0
        var cancelHandler: (@Sendable () -> Void)?
        var drained: (threshold: Int, action: @Sendable () -> Void)?
        /// The engine still holds resources for this exchange (see `holdUntilReleased()`).
        var held = false
        var releaseWaiters: [CheckedContinuation<Void, Never>] = []

        /// Moves what `tail` holds to the end of `queue`, so a later event stays behind it.
        mutating func sealTail() {
            guard var buffer = tail, buffer.count > 0 else { return }
            queue.append(.body(buffer.take()))
            tail = buffer
        }

        /// The drain action to run now, if the queue fell to its threshold.
        mutating func dueDrainAction() -> (@Sendable () -> Void)? {
            guard let drained, queuedBytes <= drained.threshold else { return nil }
            self.drained = nil
            return drained.action
        }

        mutating func pop() -> TransportEvent? {
            guard head < queue.count, let event = queue[head] else {
                guard var buffer = tail, buffer.count > 0 else { return nil }
                let data = buffer.take()
                tail = buffer
                queuedBytes -= data.count
                return .body(data)
            }
            queue[head] = nil
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
            if case .body(let data) = event { queuedBytes -= data.count }
            return event
        }
    }

    private let state = LockedValue(State())
    private let space = DispatchSemaphore(value: 0)
    /// Body bytes that may wait in the queue before ``send(_:)`` blocks (or suspends).
    public let limit: Int

    /// Creates a channel whose producer waits once more than `limit` body bytes are queued
    /// (default 4 MiB; at least 1).
    public init(limit: Int = 4 << 20) {
        self.limit = max(1, limit)
    }

    deinit {
        state.withLock { $0.tail?.release() }
    }

    /// The most body bytes an engine may ever let wait: ``limit`` plus one chunk of at most
    /// 1 MiB (engines that wait in ``send(_:)``), or 5 × ``limit`` (engines that pause a
    /// transfer themselves, like the URLSession engine's `Range` windows), whichever is larger.
    public var queueBound: Int { max(5 * limit, limit + (1 << 20)) }

    /// The most body bytes that ever waited in the queue (for tests and benchmarks).
    public var peakQueuedBytes: Int { state.withLock { $0.peakQueuedBytes } }

    /// Body bytes waiting to be consumed now.
    public var queuedBytes: Int { state.withLock { $0.queuedBytes } }

    /// Whether the consumer cancelled the exchange; engines drop everything after that.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// How many events the engine tried to deliver after the consumer cancelled (each dropped).
    /// A well-behaved engine stops at the first `false` from `send`/`offer`.
    package var rejectedAfterCancel: Int { state.withLock { $0.rejectedAfterCancel } }

    /// Registers what cancels the underlying request: called once, from the thread that calls
    /// ``cancel(_:)`` (at once, here, if that already happened). It must not block.
    public func setCancelHandler(_ handler: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.cancelled { return true }
            state.cancelHandler = handler
            return false
        }
        if runNow { handler() }
    }

    /// Called by an engine that keeps working after the stream ends (the URLSession engine tears
    /// its task down on its own queue), before it starts: ``waitUntilReleased()`` then waits for
    /// its ``release()``. This bounds what the engine holds by the number of callers, however
    /// fast they start and cancel.
    public func holdUntilReleased() {
        state.withLock { $0.held = true }
    }

    /// The engine has let go of everything it held for this exchange. Idempotent.
    public func release() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.held = false
            defer { state.releaseWaiters = [] }
            return state.releaseWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the engine has called ``release()`` (at once if it never held anything).
    /// Not cancellable: the engine's release follows the end of the stream within moments.
    public func waitUntilReleased() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = state.withLock { state -> Bool in
                if state.held { state.releaseWaiters.append(continuation) }
                return state.held
            }
            if !wait { continuation.resume() }
        }
    }

    /// Enqueues `event` without ever blocking (for engines that are not on a thread of their own).
    /// - Returns: `false` when the event was dropped because the exchange is over.
    @discardableResult
    public func offer(_ event: TransportEvent) -> Bool {
        enqueue(event, mayBlock: false)
    }

    /// Enqueues `data` as body, never blocking: handed to a waiting consumer at once,
    /// otherwise appended to the open 1 MiB buffer at the end of the queue (so a busy consumer
    /// gets few large chunks instead of many small ones). The engine reads ``queuedBytes`` to
    /// apply backpressure itself.
    /// - Returns: `false` when the bytes were dropped because the exchange is over.
    @discardableResult
    public func offer(contentsOf data: Data) -> Bool {
        guard !data.isEmpty else { return !isCancelled }
        let consumer: CheckedContinuation<TransportEvent?, any Error>? = state.withLock { state in
            if state.cancelled { state.rejectedAfterCancel += 1 }
            if state.cancelled || state.finished { return nil }
            if let consumer = state.consumer {
                state.consumer = nil
                return consumer
            }
            var buffer = state.tail ?? ChunkBuffer()
            data.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < bytes.count {
                    let take = min(buffer.space, bytes.count - offset)
                    buffer.append(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
                    offset += take
                    if buffer.space == 0 { state.queue.append(.body(buffer.take())) }
                }
            }
            state.tail = buffer
            state.queuedBytes += data.count
            state.peakQueuedBytes = max(state.peakQueuedBytes, state.queuedBytes)
            return nil
        }
        if let consumer {
            consumer.resume(returning: .body(data))
            return true
        }
        return !isCancelled
    }

    /// Runs `action` once, as soon as no more than `threshold` body bytes wait (at once if that is
    /// already so, on the calling thread; otherwise on the consumer's thread, outside the lock).
    /// Dropped if the exchange is cancelled first. Replaces an action registered before.
    public func whenDrained(to threshold: Int, _ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { state -> Bool in
            if state.cancelled { return false }
            if state.queuedBytes <= threshold { return true }
            state.drained = (threshold, action)
            return false
        }
        if runNow { action() }
    }

    /// Enqueues `event`, blocking the calling thread while the queue holds more than ``limit``
    /// body bytes. Call it only from a thread that may block (a delegate `OperationQueue`).
    /// - Returns: `false` when the event was dropped because the exchange is over.
    @discardableResult
    public func send(_ event: TransportEvent) -> Bool {
        enqueue(event, mayBlock: true)
    }

    /// Enqueues `event`, then suspends the calling task while the queue holds more than ``limit``
    /// body bytes (until the consumer catches up or cancels). For engines built on Swift
    /// concurrency: backpressure without blocking a thread. Not cancellable by task cancellation;
    /// the consumer's ``cancel(_:)`` resumes it.
    /// - Returns: `false` when the event was dropped because the exchange is over.
    @discardableResult
    public func send(_ event: TransportEvent) async -> Bool {
        guard enqueue(event, mayBlock: false) else { return false }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait = state.withLock { state -> Bool in
                guard !state.cancelled, state.queuedBytes > limit else { return false }
                state.spaceWaiter = continuation
                return true
            }
            if !wait { continuation.resume() }
        }
        return true
    }

    private func enqueue(_ event: TransportEvent, mayBlock: Bool) -> Bool {
        enum Action { case drop, deliver(CheckedContinuation<TransportEvent?, any Error>), queued(block: Bool) }
        let action: Action = state.withLock { state in
            if state.cancelled { state.rejectedAfterCancel += 1 }
            if state.cancelled || state.finished { return .drop }
            if let consumer = state.consumer {
                state.consumer = nil
                return .deliver(consumer)
            }
            state.sealTail()
            state.queue.append(event)
            if case .body(let data) = event { state.queuedBytes += data.count }
            state.peakQueuedBytes = max(state.peakQueuedBytes, state.queuedBytes)
            if mayBlock && state.queuedBytes > limit {
                state.producerBlocked = true
                return .queued(block: true)
            }
            return .queued(block: false)
        }
        switch action {
        case .drop: return false
        case .deliver(let consumer): consumer.resume(returning: event)
        case .queued(let block): if block { space.wait() }
        }
        return true
    }

    /// Ends the event stream: normally (`error == nil`) after the queued events, or with `error`.
    /// Ignored after the stream already ended or was cancelled.
    public func finish(throwing error: (any Error)? = nil) {
        let consumer: CheckedContinuation<TransportEvent?, any Error>? = state.withLock { state in
            if state.cancelled || state.finished { return nil }
            state.finished = true
            state.failure = error
            if error != nil { state.drained = nil }
            defer { state.consumer = nil }
            return state.consumer
        }
        if let error { consumer?.resume(throwing: error) } else { consumer?.resume(returning: nil) }
    }

    /// Ends the exchange from the consumer side: drops queued events, makes the pending and every
    /// later ``next()`` throw `error`, releases a blocked producer and runs the cancel handler.
    public func cancel(_ error: any Error) {
        let (consumer, handler, unblock, waiter): (CheckedContinuation<TransportEvent?, any Error>?, (@Sendable () -> Void)?, Bool,
                                                   CheckedContinuation<Void, Never>?) =
            state.withLock { state in
                if state.cancelled { return (nil, nil, false, nil) }
                state.cancelled = true
                if !state.finished || state.failure == nil { state.failure = error }
                state.finished = true
                state.queue.removeAll()
                state.head = 0
                state.tail?.count = 0
                state.queuedBytes = 0
                state.drained = nil
                let unblock = state.producerBlocked
                state.producerBlocked = false
                defer { state.consumer = nil; state.cancelHandler = nil; state.spaceWaiter = nil }
                return (state.consumer, state.cancelHandler, unblock, state.spaceWaiter)
            }
        if unblock { space.signal() }
        waiter?.resume()
        consumer?.resume(throwing: error)
        handler?()
    }

    /// The next event, `nil` after a normal end. Throws the engine's error, or the error given to
    /// ``cancel(_:)``; `CancellationError` when the waiting task is cancelled.
    public func next() async throws -> TransportEvent? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<TransportEvent?, any Error>) in
                enum Outcome {
                    case event(TransportEvent, unblock: Bool, waiter: CheckedContinuation<Void, Never>?, drained: (@Sendable () -> Void)?)
                    case end, failure(any Error), wait
                }
                let outcome: Outcome = state.withLock { state in
                    if !state.cancelled, let event = state.pop() {
                        let unblock = state.producerBlocked && state.queuedBytes <= limit
                        if unblock { state.producerBlocked = false }
                        var waiter: CheckedContinuation<Void, Never>?
                        if state.queuedBytes <= limit { swap(&waiter, &state.spaceWaiter) }
                        return .event(event, unblock: unblock, waiter: waiter, drained: state.dueDrainAction())
                    }
                    if let failure = state.failure { return .failure(failure) }
                    if state.finished { return .end }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.consumer = continuation
                    return .wait
                }
                switch outcome {
                case .event(let event, let unblock, let waiter, let drained):
                    if unblock { space.signal() }
                    waiter?.resume()
                    drained?()
                    continuation.resume(returning: event)
                case .end: continuation.resume(returning: nil)
                case .failure(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            cancel(CancellationError())
        }
    }
}
