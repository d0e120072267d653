import Foundation
import ResilienceSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `.part` file: opened with `O_NOFOLLOW` (a symbolic link planted at its path is refused
/// with `ELOOP`) and mode 0600, written with `pwrite`, made durable with `fsync`. The system
/// calls are the package's `FileSystem` helpers, their failures reported as
/// ``RangeResumeError/fileSystem(operation:path:errno:)``.
final class PartFile {
    let path: String
    private var descriptor: Int32

    init(path: String) throws(RangeResumeError) {
        self.path = path
        self.descriptor = try SystemCallError.map(RangeResumeError.init) { () throws(SystemCallError) in
            try FileSystem.openRegularFile(path)
        }
    }

    deinit { if descriptor >= 0 { FileSystem.close(descriptor) } }

    var size: Int64 {
        get throws(RangeResumeError) {
            try SystemCallError.map(RangeResumeError.init) { () throws(SystemCallError) in
                try FileSystem.size(of: descriptor, path: path)
            }
        }
    }

    func truncate(to length: Int64) throws(RangeResumeError) {
        try SystemCallError.map(RangeResumeError.init) { () throws(SystemCallError) in
            try FileSystem.truncate(descriptor, to: length, path: path)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(RangeResumeError) {
        try SystemCallError.map(RangeResumeError.init) { () throws(SystemCallError) in
            try FileSystem.writeAll(descriptor, bytes, at: offset, path: path)
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
        try SystemCallError.map(RangeResumeError.init) { () throws(SystemCallError) in
            try FileSystem.sync(descriptor, path: path)
        }
    }

    func setMode(_ mode: mode_t) { _ = fchmod(descriptor, mode) }

    func close() {
        if descriptor >= 0 { FileSystem.close(descriptor) }
        descriptor = -1
    }
}
