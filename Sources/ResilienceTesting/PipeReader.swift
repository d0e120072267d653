#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a pipe with `read(2)`, retrying `EINTR`, and reports errors as an end of input.
///
/// Not `FileHandle`: Foundation's `readDataToEndOfFile()` and `availableData` trap on
/// an interrupted system call (`FileHandle.swift: Fatal error: … Interrupted system call`, seen in
/// this suite), and a test utility must never kill the process that uses it. Use it for a child
/// process's pipe that you read yourself (``ChildProcess`` already does).
public enum PipeReader {
    /// The bytes one `read` returns (at most `limit`), or `nil` at the end of input or on an error.
    public static func readSome(_ fd: Int32, limit: Int = 4096) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: limit)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            buffer.removeSubrange(count...)
            return buffer
        }
    }

    /// Everything up to the end of input (or the first error).
    public static func readToEnd(_ fd: Int32) -> [UInt8] {
        var all: [UInt8] = []
        while let chunk = readSome(fd, limit: 64 << 10) { all += chunk }
        return all
    }
}
