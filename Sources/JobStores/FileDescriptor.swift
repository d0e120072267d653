import ResilienceSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open POSIX file descriptor, closed when the last reference goes away (so a group-commit
/// `fdatasync` in flight keeps the old journal open across a compaction). Sendable: both
/// properties are immutable; the descriptor's I/O calls are thread-safe system calls.
///
/// The system calls are the package's `FileSystem` helpers, their failures reported as
/// ``JobStoreError/io(operation:path:errno:)``.
final class FileDescriptor: Sendable {
    let raw: Int32
    let path: String

    private init(raw: Int32, path: String) {
        self.raw = raw
        self.path = path
    }

    deinit { FileSystem.close(raw) }

    /// Runs a file-system helper, reporting its failure as
    /// ``JobStoreError/io(operation:path:errno:)``.
    private static func mapped<T>(_ body: () throws(SystemCallError) -> T) throws(JobStoreError) -> T {
        try SystemCallError.map({ JobStoreError.io(operation: $0.operation, path: $0.path, errno: $0.code) }, body)
    }

    static func ioError(_ operation: String, _ path: String) -> JobStoreError {
        .io(operation: operation, path: path, errno: errno)
    }

    /// Opens `path` with `flags` (`O_CLOEXEC` is added); new files get mode 0600.
    static func open(_ path: String, flags: Int32) throws(JobStoreError) -> FileDescriptor {
        FileDescriptor(raw: try mapped { () throws(SystemCallError) in try FileSystem.open(path, flags: flags) }, path: path)
    }

    /// Writes all of `bytes` at `offset` (retrying short writes and `EINTR`).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(JobStoreError) {
        try Self.mapped { () throws(SystemCallError) in try FileSystem.writeAll(raw, bytes, at: offset, path: path) }
    }

    func write(_ bytes: [UInt8], at offset: Int64) throws(JobStoreError) {
        var failure: JobStoreError?
        bytes.withUnsafeBytes { buffer in
            do throws(JobStoreError) { try write(buffer, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// The whole file.
    func readAll() throws(JobStoreError) -> [UInt8] {
        var info = stat()
        guard fstat(raw, &info) == 0 else { throw Self.ioError("fstat", path) }
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        let failed: Bool = bytes.withUnsafeMutableBytes { buffer in
            while done < size {
                let count = pread(raw, buffer.baseAddress! + done, size - done, off_t(done))
                if count < 0 {
                    if errno == EINTR { continue }
                    return true
                }
                if count == 0 { break }  // the file shrank: read what is there
                done += count
            }
            return false
        }
        if failed { throw Self.ioError("pread", path) }
        return done == size ? bytes : Array(bytes.prefix(done))
    }

    /// Flushes the file's data (and the metadata needed to read it) to stable storage.
    func syncData() throws(JobStoreError) {
        try Self.mapped { () throws(SystemCallError) in try FileSystem.syncData(raw, path: path) }
    }

    /// Flushes data and all metadata to stable storage.
    func syncAll() throws(JobStoreError) {
        try Self.mapped { () throws(SystemCallError) in try FileSystem.syncFully(raw, path: path) }
    }

    func truncate(to size: Int64) throws(JobStoreError) {
        try Self.mapped { () throws(SystemCallError) in try FileSystem.truncate(raw, to: size, path: path) }
    }

    // MARK: Paths

    static func exists(_ path: String) -> Bool { FileSystem.exists(path) }

    static func removeIfPresent(_ path: String) throws(JobStoreError) {
        try mapped { () throws(SystemCallError) in try FileSystem.removeIfPresent(path) }
    }

    static func rename(_ from: String, to: String) throws(JobStoreError) {
        try mapped { () throws(SystemCallError) in try FileSystem.rename(from, to) }
    }

    /// `fsync`s the directory containing `path`, making a rename or creation in it durable.
    static func syncDirectory(of path: String) throws(JobStoreError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        try mapped { () throws(SystemCallError) in try FileSystem.syncDirectory(directory) }
    }

    /// Takes the exclusive lock on `path` (created with mode 0600) and writes our pid into it.
    ///
    /// A `flock` belongs to the open file description, which a child process shares between
    /// `fork` and `exec` (`O_CLOEXEC` only closes it at `exec`). So when the lock file names
    /// *this* process, the holder may be a just-forked child of ours briefly keeping the lock of
    /// a store we already closed: we retry for up to about 100 ms before reporting it.
    /// - Throws: ``JobStoreError/lockedByProcess(pid:path:)`` if another open file holds it.
    static func lock(_ path: String) throws(JobStoreError) -> FileDescriptor {
        let fd = try open(path, flags: O_RDWR | O_CREAT)
        var attempts = 0
        while true {
            if try mapped({ () throws(SystemCallError) in try FileSystem.tryLock(fd.raw, path: path) }) { break }
            let text = (try? fd.readAll()).map { String(decoding: $0, as: UTF8.self) } ?? ""
            let holder = Int32(text.trimmingWhitespace())
            attempts += 1
            guard holder == getpid(), attempts < 100 else { throw JobStoreError.lockedByProcess(pid: holder, path: path) }
            usleep(1_000)
        }
        try fd.truncate(to: 0)
        try fd.write(Array("\(getpid())\n".utf8), at: 0)
        return fd
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
