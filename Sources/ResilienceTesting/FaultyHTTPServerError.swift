/// Why ``FaultyHTTPServer`` could not start, or a resource could not be registered.
public enum FaultyHTTPServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A socket call failed while starting: `operation` is the POSIX call (`socket`, `bind`,
    /// `listen`, `getsockname`, `pipe`, `pthread_create`), `errno` its error number.
    case socketFailed(operation: String, errno: Int32)
    /// The file to serve cannot be examined or is not a regular file.
    case fileUnavailable(path: String, errno: Int32)

    /// A readable message naming the failed call or file and the `errno`.
    public var description: String {
        switch self {
        case .socketFailed(let operation, let code): "FaultyHTTPServer: \(operation) failed (errno \(code))"
        case .fileUnavailable(let path, let code): "FaultyHTTPServer: cannot serve \(path) (errno \(code))"
        }
    }
}
