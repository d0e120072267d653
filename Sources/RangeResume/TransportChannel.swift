import Dispatch
import Foundation
import ResilienceSupport

/// A bounded single-producer, single-consumer queue of ``TransportEvent``s between an HTTP engine
/// and the state machine.
///
/// Two ways to keep it bounded, one per kind of producer:
/// - ``send(_:)`` blocks the producing thread (the socket engine's own thread, never a
///   Swift-concurrency thread) while more than ``limit`` body bytes wait; the engine then stops
///   reading the socket and TCP flow control slows the server.
/// - ``offer(contentsOf:)`` never blocks (for URLSession, whose delivery thread must never be held:
///   FoundationNetworking shares it between every transfer in the process). It **coalesces** small
///   chunks into 1 MiB buffers while the consumer is busy, hands a chunk over at once when the
///   consumer is waiting, and lets the engine read ``queuedBytes`` to decide when to pause its
///   transfer; ``whenDrained(to:_:)`` tells it when to go on.
///
/// ``cancel(_:)`` ends the exchange from the consumer's side at once: queued and later events are
/// dropped, a blocked producer is released, and the engine's cancel handler runs.
final class TransportChannel: Sendable {
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
    /// Body bytes that may wait in the queue before ``send(_:)`` blocks.
    let limit: Int

    init(limit: Int = 4 << 20) {
        self.limit = limit
    }

    deinit {
        state.withLock { $0.tail?.release() }
    }

    /// The most body bytes that ever waited in the queue (for tests and benchmarks).
    var peakQueuedBytes: Int { state.withLock { $0.peakQueuedBytes } }

    /// Body bytes waiting to be consumed now.
    var queuedBytes: Int { state.withLock { $0.queuedBytes } }

    /// Whether the consumer cancelled the exchange; engines drop everything after that.
    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Registers what cancels the underlying request. Runs at once if already cancelled.
    func setCancelHandler(_ handler: @escaping @Sendable () -> Void) {
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
    func holdUntilReleased() {
        state.withLock { $0.held = true }
    }

    /// The engine has let go of everything it held for this exchange. Idempotent.
    func release() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.held = false
            defer { state.releaseWaiters = [] }
            return state.releaseWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the engine has called ``release()`` (at once if it never held anything).
    /// Not cancellable: the engine's release follows the end of the stream within moments.
    func waitUntilReleased() async {
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
    func offer(_ event: TransportEvent) -> Bool {
        enqueue(event, mayBlock: false)
    }

    /// Enqueues `data` as body, never blocking: handed to a waiting consumer at once,
    /// otherwise appended to the open 1 MiB buffer at the end of the queue (so a busy consumer
    /// gets few large chunks instead of many small ones). The engine reads ``queuedBytes`` to
    /// apply backpressure itself.
    /// - Returns: `false` when the bytes were dropped because the exchange is over.
    @discardableResult
    func offer(contentsOf data: Data) -> Bool {
        guard !data.isEmpty else { return !isCancelled }
        let consumer: CheckedContinuation<TransportEvent?, any Error>? = state.withLock { state in
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
    func whenDrained(to threshold: Int, _ action: @escaping @Sendable () -> Void) {
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
    func send(_ event: TransportEvent) -> Bool {
        enqueue(event, mayBlock: true)
    }

    private func enqueue(_ event: TransportEvent, mayBlock: Bool) -> Bool {
        enum Action { case drop, deliver(CheckedContinuation<TransportEvent?, any Error>), queued(block: Bool) }
        let action: Action = state.withLock { state in
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
    func finish(throwing error: (any Error)? = nil) {
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
    func cancel(_ error: any Error) {
        let (consumer, handler, unblock): (CheckedContinuation<TransportEvent?, any Error>?, (@Sendable () -> Void)?, Bool) =
            state.withLock { state in
                if state.cancelled { return (nil, nil, false) }
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
                defer { state.consumer = nil; state.cancelHandler = nil }
                return (state.consumer, state.cancelHandler, unblock)
            }
        if unblock { space.signal() }
        consumer?.resume(throwing: error)
        handler?()
    }

    /// The next event, `nil` after a normal end. Throws the engine's error, or the error given to
    /// ``cancel(_:)``; `CancellationError` when the waiting task is cancelled.
    func next() async throws -> TransportEvent? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<TransportEvent?, any Error>) in
                enum Outcome {
                    case event(TransportEvent, unblock: Bool, drained: (@Sendable () -> Void)?), end, failure(any Error), wait
                }
                let outcome: Outcome = state.withLock { state in
                    if !state.cancelled, let event = state.pop() {
                        let unblock = state.producerBlocked && state.queuedBytes <= limit
                        if unblock { state.producerBlocked = false }
                        return .event(event, unblock: unblock, drained: state.dueDrainAction())
                    }
                    if let failure = state.failure { return .failure(failure) }
                    if state.finished { return .end }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.consumer = continuation
                    return .wait
                }
                switch outcome {
                case .event(let event, let unblock, let drained):
                    if unblock { space.signal() }
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
