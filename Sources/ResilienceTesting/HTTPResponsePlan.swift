#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything a connection needs to send one response, decided under the server's lock.
struct HTTPResponsePlan: Sendable {
    /// Where body bytes come from. A `file` descriptor is owned by the plan's connection, which
    /// closes it when done.
    enum Source: Sendable {
        case bytes([UInt8])
        case file(descriptor: Int32)
    }

    /// How the body is sent.
    enum Delivery: Sendable, Equatable {
        case normal
        /// Send at most this many body bytes, then close.
        case drop(after: Int64)
        /// Send at most this many body bytes, then reset the connection.
        case reset(after: Int64)
        /// Send nothing at all.
        case silent
        /// Send nothing, and hold the connection open.
        case stallBeforeHead
        /// Send at most this many body bytes, then hold the connection open.
        case stall(after: Int64)
        /// Send at about this many bytes per second.
        case trickle(bytesPerSecond: Int64)
    }

    var status: Int
    var headerFields: [(String, String)]
    var source: Source?
    /// Offset of the first body byte in `source`.
    var offset: Int64 = 0
    /// Body length announced and (without a fault) sent. Zero for `HEAD`.
    var bodyLength: Int64 = 0
    var delivery: Delivery = .normal
    /// Absolute offset in the body whose byte is sent inverted (`HTTPFault.corruptByte`).
    var corruptOffset: Int64?
    /// Whether to half-close and drain the socket after sending (error responses to requests
    /// that may still have unread bytes: malformed, too large, unsupported method).
    var lingers = false
    /// Index of this response's ``RecordedRequest``; set when recorded.
    var recordIndex: Int = -1

    /// The status line and header fields, ending with the blank line.
    func head() -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        for (name, value) in headerFields { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// Closes the file descriptor, if any.
    /// The file descriptor the body is read from, if it is a file.
    var openedDescriptor: Int32? {
        if case .file(let descriptor) = source { descriptor } else { nil }
    }

    func closeSource() {
        if case .file(let descriptor) = source { _ = close(descriptor) }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 416: "Range Not Satisfiable"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Status \(status)"
        }
    }
}
