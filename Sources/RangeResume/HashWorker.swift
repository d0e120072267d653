import Foundation

/// Computes SHA-256 over write batches on a dedicated thread, in parallel with receiving and
/// writing, and owns the pool of batch buffers that circulate between the writer and the hasher.
///
/// The writer ``acquire()``s a free buffer, fills it, writes it to the `.part`, then ``submit(_:count:)``s
/// it; the hasher thread hashes submitted buffers in order and returns them to the pool. With
/// `bufferCount` buffers, at most `bufferCount × batchSize` bytes are in this pipeline.
///
/// `@unchecked Sendable`: every mutable property is read and written only while holding
/// `condition` (an `NSCondition`), and a buffer is touched either by the writer (between
/// `acquire` and `submit`) or by the hasher thread (between dequeuing it and putting it back in
/// `free`), never both: ownership moves under the lock.
final class HashWorker: @unchecked Sendable {
    private let condition = NSCondition()
    private var free: [UnsafeMutableRawBufferPointer]
    private var pending: [(buffer: UnsafeMutableRawBufferPointer, count: Int)] = []
    private var hashing = false
    private var stopping = false
    private var running = true
    private var hasher = SHA256()
    private let all: [UnsafeMutableRawBufferPointer]

    init(batchSize: Int, bufferCount: Int = 3) {
        all = (0..<max(2, bufferCount)).map { _ in .allocate(byteCount: batchSize, alignment: 64) }
        free = all
        let thread = Thread { [self] in loop() }
        thread.name = "RangeResume.HashWorker"
        thread.start()
    }

    deinit {
        for buffer in all { buffer.deallocate() }
    }

    /// A free buffer for the writer to fill; waits while all are being hashed.
    func acquire() -> UnsafeMutableRawBufferPointer {
        condition.lock()
        defer { condition.unlock() }
        while free.isEmpty { condition.wait() }
        return free.removeLast()
    }

    /// Hands the first `count` bytes of `buffer` (from ``acquire()``) to the hasher.
    func submit(_ buffer: UnsafeMutableRawBufferPointer, count: Int) {
        condition.lock()
        pending.append((buffer, count))
        condition.broadcast()
        condition.unlock()
    }

    /// Returns an unused buffer (from ``acquire()``) to the pool without hashing it.
    func release(_ buffer: UnsafeMutableRawBufferPointer) {
        condition.lock()
        free.append(buffer)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every submitted buffer is hashed and returns the hash state so far.
    func drain() -> SHA256 {
        condition.lock()
        defer { condition.unlock() }
        while !pending.isEmpty || hashing { condition.wait() }
        return hasher
    }

    /// Waits for the pending work, then continues from `state` (a restart, or a hash re-derived
    /// from disk).
    func reset(to state: SHA256) {
        condition.lock()
        defer { condition.unlock() }
        while !pending.isEmpty || hashing { condition.wait() }
        hasher = state
    }

    /// Stops the thread once its pending work is done, and waits for it to exit. Call once,
    /// before dropping the worker.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while true {
            while pending.isEmpty && !stopping { condition.wait() }
            if pending.isEmpty && stopping { break }
            let job = pending.removeFirst()
            hashing = true
            var state = hasher
            condition.unlock()
            state.update(UnsafeRawBufferPointer(start: job.buffer.baseAddress, count: job.count))
            condition.lock()
            hasher = state
            hashing = false
            free.append(job.buffer)
            condition.broadcast()
        }
        running = false
        condition.broadcast()
        condition.unlock()
    }
}
