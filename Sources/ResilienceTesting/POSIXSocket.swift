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
    #if canImport(Darwin)
    static let sendFlags: Int32 = 0
    static let streamType = SOCK_STREAM
    #else
    static let sendFlags = Int32(MSG_NOSIGNAL)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    #endif

    /// Sets the per-socket options every accepted connection needs.
    static func prepareConnection(_ fd: Int32) {
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        // Accepted sockets inherit O_NONBLOCK from the listener on BSD/Darwin; make them blocking.
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0, flags & O_NONBLOCK != 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
    }

    /// Sends all of `buffer`. Returns `false` if the peer went away or the socket was shut down.
    static func sendAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
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

    /// Sends all of `bytes`. Returns `false` if the peer went away.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { sendAll(fd, $0) }
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
