import Dispatch
import Foundation

/// The delegate queue of ``URLSessionTransport``: a serial `OperationQueue` that counts, in O(1),
/// the operations FoundationNetworking has added and not yet finished, and — on Linux — holds
/// back whoever adds more while too many wait. That is the URLSession engine's backpressure.
///
/// FoundationNetworking on Linux hands each 16 KiB body chunk to the delegate with
/// `delegateQueue.addOperation { … }`, called on the session's work queue — the thread that runs
/// libcurl and reads the socket. Holding that call while more than ``highWater`` operations wait
/// stops libcurl from reading; the socket's receive buffer fills and TCP flow control slows the
/// server, exactly as the socket engine's blocked `recv` does. It resumes when the delegate has
/// drained the queue to ``lowWater``. (Measured without it: 36,866 operations — 576 MiB — queued
/// during a hashed 1 GiB loopback download.) `operationCount` is not used for the count: it
/// walks the queue on Linux (measured 20× slower downloads when read once per chunk).
///
/// Rules that keep it deadlock-free: an operation added from the queue's own thread is never
/// held; delegate code must not call a task's `cancel()` on this queue (it waits for the work
/// queue), and ``stopHoldingBack()`` — called when the exchange ends or is cancelled — releases
/// every held caller for good. On Darwin nothing is held (the count still works).
///
/// `@unchecked Sendable`: the counters are read and written only while holding `condition`;
/// `OperationQueue` itself is thread-safe.
final class DelegateOperationQueue: OperationQueue, @unchecked Sendable {
    /// Past this many waiting operations, `addOperation` holds its caller. Default 64 (1 MiB of
    /// 16 KiB chunks).
    let highWater: Int
    /// Held callers resume once no more than this many operations wait.
    let lowWater: Int
    private let condition = NSCondition()
    private var count = 0
    private var released = false
    private var heldCallers = 0

    init(highWater: Int = 64, lowWater: Int = 32) {
        self.highWater = max(1, highWater)
        self.lowWater = min(max(0, lowWater), self.highWater - 1)
        super.init()
        maxConcurrentOperationCount = 1
    }

    /// Operations added with ``addOperation(_:)`` that have not finished (the running one included).
    var pending: Int {
        condition.lock()
        defer { condition.unlock() }
        return count
    }

    /// Callers currently held in ``addOperation(_:)`` (for tests).
    var heldCallerCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return heldCallers
    }

    /// Stops holding callers back, for good (the exchange is over or being cancelled).
    func stopHoldingBack() {
        condition.lock()
        released = true
        condition.broadcast()
        condition.unlock()
    }

    override func addOperation(_ block: @escaping @Sendable () -> Void) {
        let mayHold = OperationQueue.current !== self
        condition.lock()
        #if canImport(FoundationNetworking)
        if mayHold && count >= highWater && !released {
            heldCallers += 1
            while count > lowWater && !released { condition.wait() }
            heldCallers -= 1
        }
        #endif
        count += 1
        condition.unlock()
        super.addOperation {
            block()
            self.finished()
        }
    }

    private func finished() {
        condition.lock()
        count -= 1
        if count <= lowWater { condition.broadcast() }
        condition.unlock()
    }
}
