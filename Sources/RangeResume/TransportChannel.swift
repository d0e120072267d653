import Dispatch
import Foundation
import ResilienceSupport

/// A bounded single-producer, single-consumer queue of ``TransportEvent``s between an HTTP engine
/// and the state machine.
///
/// Our queue stays bounded: ``send(_:)`` blocks the producing thread (the socket engine's thread or
/// URLSession's delegate queue, never a Swift-concurrency thread) while more than `limit` body
/// bytes wait to be consumed. The socket engine then stops reading; for URLSession, chunks pile up
/// in the delegate queue until ``DelegateOperationQueue`` holds the session's reading thread.
/// Ending the request on overflow and continuing with `Range` was measured and rejected: a
/// cancelled task keeps delivering — a whole 1 GiB loopback body, in the latest measurement.
///
/// ``cancel(_:)`` ends the exchange from the consumer's side at once: queued and later events are
/// dropped, a blocked producer is released, and the engine's cancel handler runs.
final class TransportChannel: Sendable {
    private struct State {
        /// Pending events from `head` on; consumed slots are set to `nil` at once so their `Data`
        /// is released even while the producer keeps the queue from ever emptying.
        var queue: [TransportEvent?] = []
        var head = 0
        var queuedBytes = 0
        var peakQueuedBytes = 0
        var finished = false
        var failure: (any Error)?
        var cancelled = false
        var consumer: CheckedContinuation<TransportEvent?, any Error>?
        var producerBlocked = false
        var cancelHandler: (@Sendable () -> Void)?

        mutating func pop() -> TransportEvent? {
            guard head < queue.count, let event = queue[head] else { return nil }
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

    /// The most body bytes that ever waited in the queue (for tests and benchmarks).
    var peakQueuedBytes: Int { state.withLock { $0.peakQueuedBytes } }

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

    /// Enqueues `event` without ever blocking (for engines that are not on a thread of their own).
    /// - Returns: `false` when the event was dropped because the exchange is over.
    @discardableResult
    func offer(_ event: TransportEvent) -> Bool {
        enqueue(event, mayBlock: false)
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
                state.queuedBytes = 0
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
                enum Outcome { case event(TransportEvent, unblock: Bool), end, failure(any Error), wait }
                let outcome: Outcome = state.withLock { state in
                    if !state.cancelled, let event = state.pop() {
                        let unblock = state.producerBlocked && state.queuedBytes <= limit
                        if unblock { state.producerBlocked = false }
                        return .event(event, unblock: unblock)
                    }
                    if let failure = state.failure { return .failure(failure) }
                    if state.finished { return .end }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.consumer = continuation
                    return .wait
                }
                switch outcome {
                case .event(let event, let unblock):
                    if unblock { space.signal() }
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
