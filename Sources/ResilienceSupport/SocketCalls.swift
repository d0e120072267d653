#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The POSIX socket spellings that differ between Linux and Darwin, and a send loop that never
/// raises `SIGPIPE`: shared by the socket engine (`RangeResume`) and the test servers
/// (`ResilienceTesting`), so each platform difference is written once.
package enum SocketCalls {
    #if canImport(Darwin)
    /// Flags for `send`: none on Darwin, where `SO_NOSIGPIPE` (``createStreamSocket(family:protocol:)``,
    /// ``suppressSIGPIPE(_:)``) does the job of Linux's `MSG_NOSIGNAL`.
    package static let sendFlags: Int32 = 0
    /// `SOCK_STREAM` as the `Int32` that `socket` takes.
    package static let streamType = SOCK_STREAM
    #else
    /// Flags for `send`: `MSG_NOSIGNAL`, so a peer that went away is an `EPIPE`, not a signal.
    package static let sendFlags = Int32(MSG_NOSIGNAL)
    /// `SOCK_STREAM` as the `Int32` that `socket` takes.
    package static let streamType = Int32(SOCK_STREAM.rawValue)
    #endif

    /// A new stream socket that is closed on `exec` and never raises `SIGPIPE`, or `-1` (errno set).
    package static func createStreamSocket(family: Int32, protocol: Int32 = 0) -> Int32 {
        #if canImport(Darwin)
        let fd = socket(family, streamType, `protocol`)
        guard fd >= 0 else { return fd }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        suppressSIGPIPE(fd)
        return fd
        #else
        return socket(family, streamType | Int32(SOCK_CLOEXEC.rawValue), `protocol`)
        #endif
    }

    /// Sets `SO_NOSIGPIPE` on Darwin (a socket's own setting there; accepted sockets need it
    /// too); nothing on Linux, where ``sendFlags`` carries `MSG_NOSIGNAL`.
    package static func suppressSIGPIPE(_ fd: Int32) {
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    /// Sends all of `buffer`, retrying on `EINTR`. - Returns: `false` if the peer went away or the
    /// socket was shut down.
    package static func sendAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        guard var pointer = buffer.baseAddress else { return true }
        var remaining = buffer.count
        while remaining > 0 {
            let sent = send(fd, pointer, remaining, sendFlags)
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            if sent == 0 { return false }
            pointer += sent
            remaining -= sent
        }
        return true
    }

    /// Sends all of `bytes`; see ``sendAll(_:_:)-(_,UnsafeRawBufferPointer)``.
    package static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { sendAll(fd, $0) }
    }
}
