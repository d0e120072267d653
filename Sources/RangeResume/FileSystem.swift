import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// File-system helpers shared by the resumer and (`package`) by `Downloads`' segmented download.
package enum FileSystem {
    #if os(Linux)
    /// glibc's `sync_file_range`, looked up at run time: Swift's `Glibc` module does not export it
    /// (it needs `_GNU_SOURCE`). A C function pointer, immutable after this one-time lookup.
    static let syncFileRange: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? = {
        guard let symbol = dlsym(nil, "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
    }()
    #endif

    /// `fsync` of the directory at `path`, so a rename or unlink in it is durable.
    package static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        _ = close(fd)
    }

    package static func remove(_ path: String) {
        _ = unlink(path)
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    package static func rename(_ from: String, _ to: String) throws(RangeResumeError) {
        guard systemRename(from, to) == 0 else { throw .fileSystem(operation: "rename", path: to, errno: errno) }
    }

    /// Writes `bytes` to `path` atomically and durably: a temporary file (`O_NOFOLLOW`, 0600),
    /// `fsync`, `rename` over `path`.
    package static func writeAtomically(_ bytes: [UInt8], to path: String) throws(RangeResumeError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .fileSystem(operation: "open", path: temporary, errno: errno) }
        let written = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
        let failure = written != bytes.count ? errno : (fsync(fd) != 0 ? errno : 0)
        _ = close(fd)
        guard failure == 0 else {
            unlink(temporary)
            throw .fileSystem(operation: "write", path: temporary, errno: failure)
        }
        try rename(temporary, path)
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
private let systemRename = Glibc.rename
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
private let systemRename = Darwin.rename
#endif
