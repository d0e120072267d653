#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The package's POSIX file helpers: open, write-all, `fsync` (file and directory), atomic write,
/// rename, `flock`. Used by `JobStores` (the journal), `RangeResume` (the `.part` file and its
/// sidecar) and `Downloads` (segmented downloads, `SharedDownload`'s lock file).
///
/// Every call that can fail throws ``SystemCallError``; callers report it as their own error with
/// ``SystemCallError/map(_:_:)``. Descriptors are plain `Int32`s: their owners close them.
///
/// Every call that changes a file or a directory is also the seam that crash-consistency tests
/// record: while a ``FileOperationRecorder`` runs, successful calls under its root are appended to
/// its trace (one relaxed atomic load per call otherwise).
package enum FileSystem {
    // MARK: Descriptors

    /// Opens `path` with `flags` (`O_CLOEXEC` is added), retrying `EINTR`; new files get `mode`.
    package static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws(SystemCallError) -> Int32 {
        let fd = try openUnrecorded(path, flags: flags, mode: mode)
        if FileOperationRecorder.isActive {
            FileOperationRecorder.opened(fd, path: path, creating: flags & O_CREAT != 0, truncating: flags & O_TRUNC != 0)
        }
        return fd
    }

    /// ``open(_:flags:mode:)`` without telling a recorder (a directory opened to sync it).
    private static func openUnrecorded(_ path: String, flags: Int32, mode: mode_t) throws(SystemCallError) -> Int32 {
        var fd: Int32
        repeat { fd = systemOpen(path, flags | O_CLOEXEC, mode) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw SystemCallError("open", path: path) }
        return fd
    }

    /// Opens (creating if needed) a regular file for reading and writing, with mode 0600. Refuses
    /// a symbolic link planted at `path` (`O_NOFOLLOW`: `ELOOP`) and anything but a regular file.
    package static func openRegularFile(_ path: String) throws(SystemCallError) -> Int32 {
        let fd = try open(path, flags: O_RDWR | O_CREAT | O_NOFOLLOW)
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw SystemCallError("open (not a regular file)", path: path, code: EINVAL)
        }
        if info.st_mode & 0o777 != 0o600 { _ = fchmod(fd, 0o600) }
        return fd
    }

    /// Closes `fd` (which also releases a `flock` taken through it).
    package static func close(_ fd: Int32) {
        if FileOperationRecorder.isActive { FileOperationRecorder.closing(fd) }
        _ = systemClose(fd)
    }

    /// The size of the open file.
    package static func size(of fd: Int32, path: String) throws(SystemCallError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemCallError("fstat", path: path) }
        return Int64(info.st_size)
    }

    /// Cuts or extends the open file to `length` bytes.
    package static func truncate(_ fd: Int32, to length: Int64, path: String) throws(SystemCallError) {
        guard ftruncate(fd, off_t(length)) == 0 else { throw SystemCallError("ftruncate", path: path) }
        if FileOperationRecorder.isActive { FileOperationRecorder.record(fd: fd) { .truncate(path: $0, length: length) } }
    }

    /// Writes all of `bytes` at `offset` with `pwrite`, retrying short writes and `EINTR`.
    /// `path` names the file in an error only (evaluated only then).
    @inlinable
    package static func writeAll(
        _ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64, path: @autoclosure () -> String
    ) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            let written = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if written < 0 {
                if errno == EINTR { continue }
                throw SystemCallError("pwrite", path: path())
            }
            done += written
        }
        if FileOperationRecorder.isActive {
            FileOperationRecorder.record(fd: fd) { .write(path: $0, offset: offset, bytes: Array(bytes)) }
        }
    }

    // MARK: Durability

    /// `fsync`: the file's data and metadata reach the disk's cache. `path` as in ``writeAll``.
    @inlinable
    package static func sync(_ fd: Int32, path: @autoclosure () -> String) throws(SystemCallError) {
        guard fsync(fd) == 0 else { throw SystemCallError("fsync", path: path()) }
        if FileOperationRecorder.isActive { FileOperationRecorder.record(fd: fd) { .sync(path: $0, dataOnly: false) } }
    }

    /// Flushes the file's data (and the metadata needed to read it) to stable storage:
    /// `fdatasync`, or ``syncFully(_:path:)`` on Apple platforms.
    package static func syncData(_ fd: Int32, path: String) throws(SystemCallError) {
        #if canImport(Darwin)
        try syncFully(fd, path: path)
        #else
        guard fdatasync(fd) == 0 else { throw SystemCallError("fdatasync", path: path) }
        #endif
        if FileOperationRecorder.isActive { FileOperationRecorder.record(fd: fd) { .sync(path: $0, dataOnly: true) } }
    }

    /// Flushes data and all metadata to stable storage: `fsync`, or `F_FULLFSYNC` (falling back
    /// to `fsync`) on Apple platforms.
    package static func syncFully(_ fd: Int32, path: String) throws(SystemCallError) {
        guard fullSync(fd) else { throw SystemCallError("fsync", path: path) }
        if FileOperationRecorder.isActive { FileOperationRecorder.record(fd: fd) { .sync(path: $0, dataOnly: false) } }
    }

    /// Flushes the directory `path` (as ``syncFully(_:path:)``), so that a rename, creation or
    /// unlink in it is durable.
    package static func syncDirectory(_ path: String) throws(SystemCallError) {
        let fd = try openUnrecorded(path, flags: O_RDONLY | O_DIRECTORY, mode: 0)
        defer { _ = systemClose(fd) }
        guard fullSync(fd) else { throw SystemCallError("fsync", path: path) }
        if FileOperationRecorder.isActive { FileOperationRecorder.record(path: path) { name in .syncDirectory(path: name) } }
    }

    #if os(Linux)
    /// glibc's `sync_file_range`, looked up at run time: Swift's `Glibc` module does not export it
    /// (it needs `_GNU_SOURCE`). A C function pointer, immutable after this one-time lookup.
    package static let syncFileRange: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? = {
        guard let symbol = dlsym(nil, "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
    }()
    #endif

    // MARK: Paths

    /// Whether something exists at `path` (following a symbolic link).
    package static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Unlinks `path`, ignoring any failure.
    package static func remove(_ path: String) {
        if unlink(path) == 0, FileOperationRecorder.isActive {
            FileOperationRecorder.record(path: path) { name in .unlink(path: name) }
        }
    }

    /// Unlinks `path` if it exists.
    package static func removeIfPresent(_ path: String) throws(SystemCallError) {
        if unlink(path) == 0 {
            if FileOperationRecorder.isActive { FileOperationRecorder.record(path: path) { name in .unlink(path: name) } }
            return
        }
        guard errno == ENOENT else { throw SystemCallError("unlink", path: path) }
    }

    /// Renames `from` to `to` (atomic on one file system, replacing `to`).
    package static func rename(_ from: String, _ to: String) throws(SystemCallError) {
        guard systemRename(from, to) == 0 else { throw SystemCallError("rename", path: to) }
        if FileOperationRecorder.isActive {
            FileOperationRecorder.renamed(from, to: to)
        }
    }

    /// Writes `bytes` to `path` atomically and durably: a temporary file `path.tmp`
    /// (`O_NOFOLLOW`, 0600), written whole, `fsync`ed, then renamed over `path`. The caller syncs
    /// the directory (``syncDirectory(_:)``) when the rename itself must survive a crash.
    package static func writeAtomically(_ bytes: [UInt8], to path: String) throws(SystemCallError) {
        let temporary = path + ".tmp"
        let fd = try open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW)
        let failure: SystemCallError? = bytes.withUnsafeBytes { buffer in
            do throws(SystemCallError) {
                try writeAll(fd, buffer, at: 0, path: temporary)
                try sync(fd, path: temporary)
                return nil
            } catch {
                return error
            }
        }
        close(fd)
        if let failure {
            unlink(temporary)
            throw SystemCallError("write", path: temporary, code: failure.code)
        }
        try rename(temporary, path)
    }

    // MARK: Locks

    /// Takes the exclusive `flock` on `fd` without waiting (retrying `EINTR`).
    /// - Returns: `false` if another open file description holds it.
    package static func tryLock(_ fd: Int32, path: String) throws(SystemCallError) -> Bool {
        while true {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK || code == EAGAIN { return false }
            throw SystemCallError("flock", path: path, code: code)
        }
    }
}

/// `fsync`, or `F_FULLFSYNC` (falling back to `fsync`) on Apple platforms; `false` on failure.
private func fullSync(_ fd: Int32) -> Bool {
    #if canImport(Darwin)
    fcntl(fd, F_FULLFSYNC) == 0 || fsync(fd) == 0
    #else
    fsync(fd) == 0
    #endif
}

// The C functions under other names: inside `FileSystem`, `open`, `close` and `rename` are its own.
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
    #if canImport(Glibc)
    Glibc.open(path, flags, mode)
    #elseif canImport(Musl)
    Musl.open(path, flags, mode)
    #else
    Darwin.open(path, flags, mode)
    #endif
}

private func systemClose(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    Glibc.close(fd)
    #elseif canImport(Musl)
    Musl.close(fd)
    #else
    Darwin.close(fd)
    #endif
}

private func systemRename(_ from: String, _ to: String) -> Int32 {
    #if canImport(Glibc)
    Glibc.rename(from, to)
    #elseif canImport(Musl)
    Musl.rename(from, to)
    #else
    Darwin.rename(from, to)
    #endif
}
