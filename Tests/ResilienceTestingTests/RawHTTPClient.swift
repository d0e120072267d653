import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A deliberately tiny blocking HTTP/1.1 client on raw sockets, so the tests see exactly the bytes
/// the server sends (URLSession would retry, decode and buffer).
struct RawHTTPResponse {
    enum Ending: Equatable {
        /// The server closed the connection.
        case eof
        /// `SO_RCVTIMEO` expired with the connection still open.
        case timedOut
        /// The connection failed (e.g. reset).
        case failed(Int32)
    }

    var status: Int
    var fields: [(name: String, value: String)]
    var body: [UInt8]
    var ending: Ending
    /// The socket, still open when `ending` is `.timedOut` and the caller asked to keep it.
    var socket: Int32 = -1

    subscript(_ name: String) -> String? {
        fields.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

struct RawHTTPError: Error, CustomStringConvertible {
    var description: String
}

enum RawHTTPClient {
    /// Connects to `127.0.0.1:port`; returns the socket or throws with errno.
    static func connect(port: UInt16) throws -> Int32 {
        #if canImport(Darwin)
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #else
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard fd >= 0 else { throw RawHTTPError(description: "socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            throw ConnectError(errno: code)
        }
        return fd
    }

    struct ConnectError: Error { var errno: Int32 }

    /// Connects, sets the receive timeout and sends `request` verbatim; returns the open socket.
    static func startRequest(port: UInt16, _ request: String, timeoutMilliseconds: Int) throws -> Int32 {
        let fd = try connect(port: port)
        setReceiveTimeout(fd, milliseconds: timeoutMilliseconds)
        _ = sendAll(fd, Array(request.utf8))
        return fd
    }

    static func setReceiveTimeout(_ fd: Int32, milliseconds: Int) {
        var timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: .init((milliseconds % 1000) * 1000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            #if canImport(Darwin)
            let flags: Int32 = 0
            #else
            let flags = Int32(MSG_NOSIGNAL)
            #endif
            let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, flags) }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    /// Reads until EOF, error, timeout, or `limit` bytes.
    static func readAll(_ fd: Int32, limit: Int = .max) -> ([UInt8], RawHTTPResponse.Ending) {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while data.count < limit {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min($0.count, limit - data.count), 0) }
            if count == 0 { return (data, .eof) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return (data, .timedOut) }
                return (data, .failed(errno))
            }
            data.append(contentsOf: chunk[..<count])
        }
        return (data, .eof)
    }

    /// Sends `raw` bytes as the whole request and reads the response until the server closes
    /// (or `timeoutMilliseconds` pass without a byte). With `keepOpen`, a timed-out socket is
    /// returned open in `socket` for the caller to close.
    static func exchange(
        port: UInt16, raw: [UInt8], timeoutMilliseconds: Int = 10_000, keepOpen: Bool = false
    ) throws -> RawHTTPResponse {
        let fd = try connect(port: port)
        setReceiveTimeout(fd, milliseconds: timeoutMilliseconds)
        _ = sendAll(fd, raw)
        let (data, ending) = readAll(fd)
        var response = try parse(data, ending: ending)
        if keepOpen && ending == .timedOut { response.socket = fd } else { close(fd) }
        return response
    }

    /// Sends a request with `method`, `path` and extra header `fields`.
    static func request(
        port: UInt16, _ method: String = "GET", _ path: String, fields: [(String, String)] = [],
        timeoutMilliseconds: Int = 10_000, keepOpen: Bool = false
    ) throws -> RawHTTPResponse {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        for (name, value) in fields { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return try exchange(port: port, raw: Array(text.utf8), timeoutMilliseconds: timeoutMilliseconds, keepOpen: keepOpen)
    }

    static func parse(_ data: [UInt8], ending: RawHTTPResponse.Ending) throws -> RawHTTPResponse {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let end = (0..<max(0, data.count - 3)).first(where: { Array(data[$0..<$0 + 4]) == separator }) else {
            throw RawHTTPError(description: "no complete head in \(data.count) bytes (\(ending))")
        }
        let head = String(decoding: data[..<end], as: UTF8.self)
        let lines = head.components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, statusParts[0] == "HTTP/1.1", let status = Int(statusParts[1]) else {
            throw RawHTTPError(description: "bad status line \(lines[0])")
        }
        let fields = lines.dropFirst().map { line -> (name: String, value: String) in
            let colon = line.firstIndex(of: ":")!
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return RawHTTPResponse(status: status, fields: fields, body: Array(data[(end + 4)...]), ending: ending)
    }
}

/// Runs blocking `work` on its own thread and awaits its result. Blocking socket calls must not
/// run on the cooperative pool when the test needs that pool to make progress (e.g. to call
/// `stop()` while the client waits): with two cores the pool has two threads.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
