import Foundation
import RangeResume
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The POSIX file operations of ``SegmentedDownload``: the `.part` file (opened with
/// `O_NOFOLLOW`, mode 0600 until completion), atomic sidecar writes, `fsync` of data and
/// directory, the final `rename`, and the SHA-256 of the finished `.part`.
enum SegmentFiles {
    /// Opens (creating if needed) the `.part` file for reading and writing. Refuses a symbolic
    /// link (`ELOOP`) and anything but a regular file.
    static func openPart(_ path: String) throws(SegmentedDownloadError) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .fileSystem(operation: "open", path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            _ = close(fd)
            throw .fileSystem(operation: "open (not a regular file)", path: path, errno: EINVAL)
        }
        if info.st_mode & 0o777 != 0o600 { _ = fchmod(fd, 0o600) }
        return fd
    }

    static func size(_ fd: Int32, path: String) throws(SegmentedDownloadError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .fileSystem(operation: "fstat", path: path, errno: errno) }
        return Int64(info.st_size)
    }

    static func truncate(_ fd: Int32, to length: Int64, path: String) throws(SegmentedDownloadError) {
        guard ftruncate(fd, off_t(length)) == 0 else { throw .fileSystem(operation: "ftruncate", path: path, errno: errno) }
    }

    static func sync(_ fd: Int32, path: String) throws(SegmentedDownloadError) {
        guard fsync(fd) == 0 else { throw .fileSystem(operation: "fsync", path: path, errno: errno) }
    }

    /// `fsync` of a directory, so a rename or unlink in it is durable.
    static func syncDirectory(_ path: String) { FileSystem.syncDirectory(path) }

    static func remove(_ path: String) { FileSystem.remove(path) }

    static func rename(_ from: String, _ to: String) throws(SegmentedDownloadError) {
        try mapped { () throws(RangeResumeError) in try FileSystem.rename(from, to) }
    }

    /// Writes `bytes` to `path` atomically and durably: a temporary file (`O_NOFOLLOW`, 0600),
    /// `fsync`, `rename` over `path` (RangeResume's helper, its error mapped).
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(SegmentedDownloadError) {
        try mapped { () throws(RangeResumeError) in try FileSystem.writeAtomically(bytes, to: path) }
    }

    /// Runs a RangeResume file-system helper, reporting its failure as this module's error.
    private static func mapped(_ body: () throws(RangeResumeError) -> Void) throws(SegmentedDownloadError) {
        do {
            try body()
        } catch {
            if case .fileSystem(let operation, let path, let code) = error {
                throw .fileSystem(operation: operation, path: path, errno: code)
            }
            throw .fileSystem(operation: "\(error)", path: "", errno: EIO)
        }
    }

    /// The SHA-256 (lowercase hex) of the first `length` bytes of the file, read with `pread`
    /// in 4 MiB blocks.
    static func sha256(_ fd: Int32, length: Int64, path: String) throws(SegmentedDownloadError) -> String {
        let capacity = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256Hasher()
        var offset: Int64 = 0
        while offset < length {
            let count = pread(fd, buffer.baseAddress, Int(min(Int64(capacity), length - offset)), off_t(offset))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw .fileSystem(operation: "pread", path: path, errno: count < 0 ? errno : EIO) }
            hasher.update(UnsafeRawBufferPointer(start: buffer.baseAddress, count: count))
            offset += Int64(count)
        }
        return hasher.finalizeHex()
    }
}
