import Foundation
import RangeResume
import ResilienceSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The POSIX file operations of ``SegmentedDownload``: the `.part` file (opened with
/// `O_NOFOLLOW`, mode 0600 until completion), atomic sidecar writes, `fsync` of data and
/// directory, the final `rename` (the package's `FileSystem` helpers, their failures reported as
/// ``SegmentedDownloadError/fileSystem(operation:path:errno:)``), and the SHA-256 of the finished
/// `.part`.
enum SegmentFiles {
    /// Opens (creating if needed) the `.part` file for reading and writing. Refuses a symbolic
    /// link (`ELOOP`) and anything but a regular file.
    static func openPart(_ path: String) throws(SegmentedDownloadError) -> Int32 {
        try mapped { () throws(SystemCallError) in try FileSystem.openRegularFile(path) }
    }

    static func size(_ fd: Int32, path: String) throws(SegmentedDownloadError) -> Int64 {
        try mapped { () throws(SystemCallError) in try FileSystem.size(of: fd, path: path) }
    }

    static func truncate(_ fd: Int32, to length: Int64, path: String) throws(SegmentedDownloadError) {
        try mapped { () throws(SystemCallError) in try FileSystem.truncate(fd, to: length, path: path) }
    }

    static func sync(_ fd: Int32, path: String) throws(SegmentedDownloadError) {
        try mapped { () throws(SystemCallError) in try FileSystem.sync(fd, path: path) }
    }

    /// `fsync` of a directory, so a rename or unlink in it is durable. Best effort: a failure is
    /// ignored.
    static func syncDirectory(_ path: String) { try? FileSystem.syncDirectory(path) }

    static func remove(_ path: String) { FileSystem.remove(path) }

    /// Closes a descriptor of ``openPart(_:)``.
    static func close(_ fd: Int32) { FileSystem.close(fd) }

    static func rename(_ from: String, _ to: String) throws(SegmentedDownloadError) {
        try mapped { () throws(SystemCallError) in try FileSystem.rename(from, to) }
    }

    /// Writes `bytes` to `path` atomically and durably: a temporary file (`O_NOFOLLOW`, 0600),
    /// `fsync`, `rename` over `path`.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(SegmentedDownloadError) {
        try mapped { () throws(SystemCallError) in try FileSystem.writeAtomically(bytes, to: path) }
    }

    /// Runs a file-system helper, reporting its failure as this module's error.
    private static func mapped<T>(_ body: () throws(SystemCallError) -> T) throws(SegmentedDownloadError) -> T {
        try SystemCallError.map({ SegmentedDownloadError.fileSystem(operation: $0.operation, path: $0.path, errno: $0.code) }, body)
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
