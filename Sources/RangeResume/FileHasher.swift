import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Computes the SHA-256 of the `.part` on a dedicated thread by reading back, from the page
/// cache, the bytes the writer has already written — in parallel with receiving and writing.
///
/// Decoupling matters because hashing and writing then use two cores: a writer that hashed inline
/// would hold back the network (both engines now apply backpressure) to the speed of the two
/// stages in sequence instead of the slower of them.
/// The writer only reports how far the file is written (``advance(to:)``); the hasher follows at
/// its own pace with one 1 MiB buffer, and ``drain()`` waits for it to catch up at the end. The
/// digest therefore covers the bytes as they are on disk, resumed prefix included (a resume is
/// ``reset()`` then ``advance(to:)`` the resume offset).
///
/// `@unchecked Sendable`: every mutable property is read and written only while holding
/// `condition` (an `NSCondition`); the thread works on copies (`SHA256Hasher` is a value) and
/// commits them under the lock.
final class FileHasher: @unchecked Sendable {
    private let condition = NSCondition()
    private let descriptor: Int32
    private let path: String
    private var hasher = SHA256Hasher()
    /// Bytes `0..<target` of the file are written and may be hashed.
    private var target: Int64 = 0
    /// Bytes `0..<hashed` are in `hasher`.
    private var hashed: Int64 = 0
    /// Increments on every reset, so a read that straddles one is thrown away.
    private var generation = 0
    private var failure: Int32 = 0
    private var stopping = false
    private var running = true

    /// Opens `path` read-only (`O_NOFOLLOW`) and starts the thread.
    init(path: String) throws(RangeResumeError) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .fileSystem(operation: "open", path: path, errno: errno) }
        descriptor = fd
        self.path = path
        let thread = Thread { [self] in loop() }
        thread.name = "RangeResume.FileHasher"
        thread.start()
    }

    deinit { _ = close(descriptor) }

    /// Bytes `0..<offset` are now written; hash up to there.
    func advance(to offset: Int64) {
        condition.lock()
        if offset > target { target = offset }
        condition.broadcast()
        condition.unlock()
    }

    /// Starts over from byte 0 (call before the file is truncated or rewritten).
    func reset() {
        condition.lock()
        generation += 1
        hasher = SHA256Hasher()
        hashed = 0
        target = 0
        failure = 0
        condition.unlock()
    }

    /// Waits until everything written so far is hashed and returns the hash state.
    /// - Throws: ``RangeResumeError/fileSystem(operation:path:errno:)`` if reading failed.
    func drain() throws(RangeResumeError) -> SHA256Hasher {
        condition.lock()
        defer { condition.unlock() }
        while hashed < target && failure == 0 { condition.wait() }
        if failure != 0 { throw .fileSystem(operation: "pread (hashing)", path: path, errno: failure) }
        return hasher
    }

    /// Stops the thread and waits for it to exit. Call once, before dropping the hasher.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        condition.lock()
        while true {
            while !stopping && (hashed >= target || failure != 0) { condition.wait() }
            if stopping { break }
            let (start, end, state, round) = (hashed, min(target, hashed + Int64(buffer.count)), hasher, generation)
            condition.unlock()
            var copy = state
            let count = pread(descriptor, buffer.baseAddress, Int(end - start), off_t(start))
            let error = count < 0 ? errno : (count == 0 ? EIO : 0)
            if count > 0 { copy.update(UnsafeRawBufferPointer(start: buffer.baseAddress, count: count)) }
            condition.lock()
            guard round == generation else { continue }   // reset meanwhile: discard this read
            if error != 0 {
                if error != EINTR { failure = error }
            } else {
                hasher = copy
                hashed = start + Int64(count)
            }
            condition.broadcast()
        }
        running = false
        condition.broadcast()
        condition.unlock()
    }
}
