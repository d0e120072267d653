import ResilienceSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The few POSIX socket calls ``FaultyHTTPServer`` needs, with `EINTR` handled and `SIGPIPE`
/// suppressed (`MSG_NOSIGNAL` on Linux, `SO_NOSIGPIPE` on Darwin), so a client that disconnects
/// mid-response can never kill the test process.
enum POSIXSocket {
    /// `SOCK_STREAM` as `socket` takes it (the platform spellings live in `SocketCalls`).
    static let streamType = SocketCalls.streamType

    /// Sets the per-socket options every accepted connection needs.
    static func prepareConnection(_ fd: Int32) {
        SocketCalls.suppressSIGPIPE(fd)
        // Accepted sockets inherit O_NONBLOCK from the listener on BSD/Darwin; make them blocking.
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0, flags & O_NONBLOCK != 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    }

    /// What ``wait(for:wake:timeoutMilliseconds:)`` saw.
    enum Readiness { case readable, woken, timedOut, failed }

    /// Waits until `fd` is readable (or hung up), `wake` is readable (the server is stopping), or
    /// `timeoutMilliseconds` pass (`-1`: no timeout). `fd` may be `-1` to wait only for `wake`.
    static func wait(for fd: Int32, wake: Int32, timeoutMilliseconds: Int32 = -1) -> Readiness {
        var fds = [
            pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let count = fds.withUnsafeMutableBufferPointer { buffer in
                poll(buffer.baseAddress, nfds_t(fd >= 0 ? 2 : 1), timeoutMilliseconds)
            }
            if count < 0 {
                if errno == EINTR { continue }
                return .failed
            }
            if count == 0 { return .timedOut }
            if fds[0].revents != 0 { return .woken }
            return .readable
        }
    }
}
