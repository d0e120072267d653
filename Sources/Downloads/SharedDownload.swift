import Foundation
import ResilienceSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cross-process single-flight for one file: of many processes that need the same download,
/// exactly one downloads it and the others wait for its verified result.
///
/// Typical users are parallel test workers that all need one tool, fixture or browser
/// extension. Each process calls ``run(clock:isValid:onWait:download:)`` with the same destination:
///
/// ```swift
/// let shared = SharedDownload(destination: cacheDir.appending(path: "chromedriver.zip"))
/// let outcome = try await shared.run(isValid: { try sha256(of: $0) == expected }) { destination in
///     try await resumer.download(from: url, to: destination, expectedSHA256: expected)
/// }
/// ```
///
/// ### How it works
/// The processes coordinate through an exclusive `flock(2)` on a lock file next to the
/// destination (`<destination>.lock`, mode 0600). The holder downloads; the others poll the lock
/// (non-blocking) on the injected clock until it is free or ``lockTimeout`` passes. `flock`
/// locks belong to the open file description, so **the kernel releases the lock the moment the
/// holder exits or is killed**: a waiter then takes the lock, finds no valid file and downloads
/// it itself. There is no stale-lock heuristic (no pid liveness checks, no lock age) and no
/// unbounded wait.
///
/// ### Requirements on `download`
/// It must leave either a complete, valid file at the destination or nothing (for example by
/// writing a `.part` file and renaming it, as `RangeResumer` does), so that a process killed
/// mid-download never leaves a destination that another process would accept. `isValid` is the
/// last line of defence: an existing file that fails it is never used and is replaced.
///
/// `flock` works between processes on one machine (and on most local file systems); it is not a
/// lock between machines on a network file system.
public struct SharedDownload: Sendable {
    /// The file every cooperating process needs.
    public let destination: URL
    /// The lock file: the destination's path with `.lock` appended.
    public let lockFile: URL
    /// How long a process waits for another one's download before it throws
    /// ``SharedDownloadError/lockTimeout(holderPID:waited:)``. Default 10 minutes.
    public let lockTimeout: Duration
    /// How often a waiting process retries the lock, on the injected clock. Default 50 ms.
    public let pollInterval: Duration

    /// Creates a single-flight coordinator for `destination`.
    ///
    /// - Parameters:
    ///   - destination: the file to produce; its directory must exist.
    ///   - lockTimeout: default 10 minutes; must cover one whole download by another process.
    ///   - pollInterval: default 50 ms; values below 1 ms are raised to 1 ms.
    public init(destination: URL, lockTimeout: Duration = .seconds(600), pollInterval: Duration = .milliseconds(50)) {
        self.destination = destination
        self.lockFile = URL(fileURLWithPath: destination.path + ".lock")
        self.lockTimeout = lockTimeout
        self.pollInterval = max(pollInterval, .milliseconds(1))
    }

    /// Makes sure a valid file is at ``destination``, downloading it in at most one process at a
    /// time.
    ///
    /// - Parameters:
    ///   - clock: the clock for polling and the timeout; default `ContinuousClock()`.
    ///   - isValid: whether an existing file at the destination is complete and correct (e.g. its
    ///     SHA-256). Called before locking, after locking, and after `download` returns.
    ///   - onWait: called once when this process finds the lock taken and waits, for logging. A
    ///     holder records its pid just *after* it takes the lock, so the call waits for that
    ///     record (read again at every poll, on the injected clock) and passes it; it passes
    ///     `nil` only if the lock came free, or the wait ended, before a pid could be read.
    ///     Default: nothing.
    ///   - download: produces the file at the URL it is given (the destination). Called only
    ///     while this process holds the lock.
    /// - Returns: how the file came to be there.
    /// - Throws: ``SharedDownloadError`` for lock failures, a timeout, or a file that is still
    ///   invalid after `download`; whatever `download` or `isValid` throw;
    ///   `CancellationError` when cancelled while waiting. The lock is always released.
    public func run(
        clock: some Clock<Duration> = ContinuousClock(),
        isValid: (URL) async throws -> Bool,
        onWait: (_ holderPID: Int32?) -> Void = { _ in },
        download: (URL) async throws -> Void
    ) async throws -> SharedDownload.Outcome {
        if try await validFileExists(isValid) { return .alreadyPresent }

        let lock = try FileLock(path: lockFile.path)
        defer { lock.close() }
        var waited = false
        if try !lock.tryLock() {
            waited = true
            var announced = false
            defer { if !announced { onWait(nil) } }   // freed (or gave up) before a pid was readable
            let deadline = clock.now.advanced(by: lockTimeout)
            while try !lock.tryLock() {
                if !announced, let pid = lock.holderPID() {
                    announced = true
                    onWait(pid)
                }
                if clock.now >= deadline {
                    throw SharedDownloadError.lockTimeout(holderPID: lock.holderPID(), waited: lockTimeout)
                }
                try await clock.sleep(until: min(clock.now.advanced(by: pollInterval), deadline), tolerance: nil)
            }
        }
        lock.recordHolder()
        defer { lock.clearHolder() }   // a later waiter must not name this process
        // The lock is ours. Another process may have finished while we waited.
        if try await validFileExists(isValid) { return waited ? .downloadedByAnotherProcess : .alreadyPresent }
        if FileManager.default.fileExists(atPath: destination.path) {
            try? FileManager.default.removeItem(at: destination)  // present but invalid: never used
        }
        try await download(destination)
        guard try await validFileExists(isValid) else { throw SharedDownloadError.invalidAfterDownload(destination) }
        return waited ? .tookOver : .downloaded
    }

    private func validFileExists(_ isValid: (URL) async throws -> Bool) async throws -> Bool {
        guard FileManager.default.fileExists(atPath: destination.path) else { return false }
        return try await isValid(destination)
    }
}

extension SharedDownload {
    /// How ``SharedDownload/run(clock:isValid:onWait:download:)`` obtained the file.
    public enum Outcome: Sendable, Hashable {
        /// A valid file was already there; nothing was downloaded or waited for.
        case alreadyPresent
        /// This process downloaded it without waiting for anyone.
        case downloaded
        /// Another process downloaded it while this one waited.
        case downloadedByAnotherProcess
        /// This process waited, the lock holder went away without a valid file (it crashed, was
        /// killed, or failed), and this process downloaded it.
        case tookOver
    }
}

/// Why ``SharedDownload`` could not produce the file.
public enum SharedDownloadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Another process held the lock for longer than the timeout. `holderPID` is the process id
    /// the holder recorded in the lock file, when readable.
    case lockTimeout(holderPID: Int32?, waited: Duration)
    /// The lock file could not be opened or locked; `errno` is the system error.
    case lockFailed(path: String, errno: Int32)
    /// `download` returned but the file at the destination is missing or fails `isValid`.
    case invalidAfterDownload(URL)

    public var description: String {
        switch self {
        case let .lockTimeout(pid, waited):
            return "timed out after \(waited) waiting for the download lock" + (pid.map { " held by pid \($0)" } ?? "")
        case let .lockFailed(path, code):
            return "cannot lock \(path): \(String(cString: strerror(code)))"
        case let .invalidAfterDownload(url):
            return "\(url.path) is missing or invalid after its download"
        }
    }
}

/// An exclusive, non-blocking `flock` on a file, owned by one open file description.
struct FileLock {
    let path: String
    private let fd: Int32

    init(path: String) throws(SharedDownloadError) {
        self.path = path
        self.fd = try Self.mapped { () throws(SystemCallError) in
            try FileSystem.open(path, flags: O_RDWR | O_CREAT | O_NOFOLLOW)
        }
    }

    /// Takes the lock if it is free. - Returns: `false` if another open file description has it.
    func tryLock() throws(SharedDownloadError) -> Bool {
        try Self.mapped { () throws(SystemCallError) in try FileSystem.tryLock(fd, path: path) }
    }

    /// Writes this process's id into the lock file, for diagnostics only (never for liveness).
    func recordHolder() {
        let text = Array("\(getpid())\n".utf8)
        try? FileSystem.truncate(fd, to: 0, path: path)
        text.withUnsafeBytes { try? FileSystem.writeAll(fd, $0, at: 0, path: path) }
    }

    /// Empties the holder record (call while holding the lock, before releasing it). A holder
    /// that is killed leaves its record; the next holder overwrites it.
    func clearHolder() {
        try? FileSystem.truncate(fd, to: 0, path: path)
    }

    /// The pid the current holder wrote into the lock file, if a whole record (digits and a
    /// newline, written by one `pwrite`) is there.
    func holderPID() -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 1, buffer[count - 1] == UInt8(ascii: "\n") else { return nil }
        return Int32(String(decoding: buffer[..<(count - 1)], as: UTF8.self))
    }

    /// Releases the lock (if held) and closes the file. Call once.
    func close() {
        FileSystem.close(fd)
    }

    /// Runs a file-system helper, reporting its failure as
    /// ``SharedDownloadError/lockFailed(path:errno:)``.
    private static func mapped<T>(_ body: () throws(SystemCallError) -> T) throws(SharedDownloadError) -> T {
        try SystemCallError.map({ SharedDownloadError.lockFailed(path: $0.path, errno: $0.code) }, body)
    }
}
