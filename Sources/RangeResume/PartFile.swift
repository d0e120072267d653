import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `.part` file: opened with `O_NOFOLLOW` (a symbolic link planted at its path is refused
/// with `ELOOP`) and mode 0600, written with `pwrite`, made durable with `fsync`.
final class PartFile {
    let path: String
    private var descriptor: Int32

    init(path: String) throws(RangeResumeError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .fileSystem(operation: "open", path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            _ = systemClose(fd)
            throw .fileSystem(operation: "open (not a regular file)", path: path, errno: EINVAL)
        }
        if info.st_mode & 0o777 != 0o600 { _ = fchmod(fd, 0o600) }
        self.descriptor = fd
    }

    deinit { if descriptor >= 0 { _ = systemClose(descriptor) } }

    var size: Int64 {
        get throws(RangeResumeError) {
            var info = stat()
            guard fstat(descriptor, &info) == 0 else { throw .fileSystem(operation: "fstat", path: path, errno: errno) }
            return Int64(info.st_size)
        }
    }

    func truncate(to length: Int64) throws(RangeResumeError) {
        guard ftruncate(descriptor, off_t(length)) == 0 else {
            throw .fileSystem(operation: "ftruncate", path: path, errno: errno)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(RangeResumeError) {
        var done = 0
        while done < bytes.count {
            let count = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if count < 0 {
                if errno == EINTR { continue }
                throw .fileSystem(operation: "pwrite", path: path, errno: errno)
            }
            done += count
        }
    }

    /// Asks the kernel to start writing `count` bytes at `offset` to the disk now, without
    /// waiting (Linux `sync_file_range(…, SYNC_FILE_RANGE_WRITE)`; a no-op elsewhere or when
    /// unavailable). Durability is unchanged — only ``sync()`` makes bytes durable — but the
    /// checkpoint's `fsync` then finds most of its interval already written and waits less, while
    /// the download goes on. Errors are ignored: the `fsync` reports them.
    func startWriteback(offset: Int64, count: Int) {
        #if os(Linux)
        if let startWriteback = FileSystem.syncFileRange {
            _ = startWriteback(descriptor, offset, Int64(count), 2 /* SYNC_FILE_RANGE_WRITE */)
        }
        #endif
    }

    func sync() throws(RangeResumeError) {
        guard fsync(descriptor) == 0 else { throw .fileSystem(operation: "fsync", path: path, errno: errno) }
    }

    func setMode(_ mode: mode_t) { _ = fchmod(descriptor, mode) }

    func close() {
        if descriptor >= 0 { _ = systemClose(descriptor) }
        descriptor = -1
    }
}

#if canImport(Glibc)
private let systemClose = Glibc.close
#elseif canImport(Darwin)
private let systemClose = Darwin.close
#endif
