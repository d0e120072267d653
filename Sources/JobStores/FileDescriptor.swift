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
final class FileDescriptor: Sendable {
    let raw: Int32
    let path: String

    private init(raw: Int32, path: String) {
        self.raw = raw
        self.path = path
    }

    deinit { _ = Self.systemClose(raw) }

    private static func systemClose(_ fd: Int32) -> Int32 {
        #if canImport(Darwin)
        Darwin.close(fd)
        #elseif canImport(Musl)
        Musl.close(fd)
        #else
        Glibc.close(fd)
        #endif
    }

    static func ioError(_ operation: String, _ path: String) -> JobStoreError {
        .io(operation: operation, path: path, errno: errno)
    }

    /// Opens `path` with `flags` (`O_CLOEXEC` is added); new files get mode 0600.
    static func open(_ path: String, flags: Int32) throws(JobStoreError) -> FileDescriptor {
        var fd: Int32
        repeat { fd = systemOpen(path, flags | O_CLOEXEC, 0o600) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw ioError("open", path) }
        return FileDescriptor(raw: fd, path: path)
    }

    private static func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
        #if canImport(Darwin)
        Darwin.open(path, flags, mode)
        #elseif canImport(Musl)
        Musl.open(path, flags, mode)
        #else
        Glibc.open(path, flags, mode)
        #endif
    }

    /// Writes all of `bytes` at `offset` (retrying short writes and `EINTR`).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(JobStoreError) {
        var done = 0
        while done < bytes.count {
            let written = pwrite(raw, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if written < 0 {
                if errno == EINTR { continue }
                throw Self.ioError("pwrite", path)
            }
            done += written
        }
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
        #if canImport(Darwin)
        guard fcntl(raw, F_FULLFSYNC) == 0 || fsync(raw) == 0 else { throw Self.ioError("fsync", path) }
        #else
        guard fdatasync(raw) == 0 else { throw Self.ioError("fdatasync", path) }
        #endif
    }

    /// Flushes data and all metadata to stable storage.
    func syncAll() throws(JobStoreError) {
        #if canImport(Darwin)
        guard fcntl(raw, F_FULLFSYNC) == 0 || fsync(raw) == 0 else { throw Self.ioError("fsync", path) }
        #else
        guard fsync(raw) == 0 else { throw Self.ioError("fsync", path) }
        #endif
    }

    func truncate(to size: Int64) throws(JobStoreError) {
        guard ftruncate(raw, off_t(size)) == 0 else { throw Self.ioError("ftruncate", path) }
    }

    // MARK: Paths

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    static func removeIfPresent(_ path: String) throws(JobStoreError) {
        guard unlink(path) == 0 || errno == ENOENT else { throw ioError("unlink", path) }
    }

    static func rename(_ from: String, to: String) throws(JobStoreError) {
        #if canImport(Darwin)
        let result = Darwin.rename(from, to)
        #elseif canImport(Musl)
        let result = Musl.rename(from, to)
        #else
        let result = Glibc.rename(from, to)
        #endif
        guard result == 0 else { throw ioError("rename", to) }
    }

    /// `fsync`s the directory containing `path`, making a rename or creation in it durable.
    static func syncDirectory(of path: String) throws(JobStoreError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = try open(directory, flags: O_RDONLY)
        try fd.syncAll()
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
            var result: Int32
            repeat { result = flock(fd.raw, LOCK_EX | LOCK_NB) } while result != 0 && errno == EINTR
            if result == 0 { break }
            guard errno == EWOULDBLOCK else { throw ioError("flock", path) }
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
