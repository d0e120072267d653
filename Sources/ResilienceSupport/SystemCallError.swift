#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call of ``FileSystem``: what was attempted, on which path, and `errno`.
///
/// Internal to the package: each module reports it as its own public error
/// (`RangeResumeError.fileSystem`, `JobStoreError.io`, …) with ``map(_:_:)``.
package struct SystemCallError: Error, Sendable, Hashable {
    /// The system call, e.g. `"open"`, `"pwrite"`, `"fsync"`.
    package let operation: String
    /// The path it was applied to.
    package let path: String
    /// The `errno` it set.
    package let code: Int32

    /// A failure of `operation` on `path`; `code` defaults to the current `errno`.
    package init(_ operation: String, path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// Runs `body`, reporting its failure as `convert(failure)`: a module's own error type.
    @inlinable
    package static func map<T, E: Error>(
        _ convert: (SystemCallError) -> E, _ body: () throws(SystemCallError) -> T
    ) throws(E) -> T {
        do { return try body() } catch { throw convert(error) }
    }
}
