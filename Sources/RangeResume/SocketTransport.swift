import Foundation
import ResilienceSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A minimal HTTP/1.1 engine on POSIX sockets, for plain `http` URLs, with real backpressure.
///
/// One blocking thread per request reads the socket and hands chunks to the
/// ``TransportChannel``; when the writer falls behind, `send` blocks, the thread stops reading,
/// and TCP flow control slows the server — memory stays flat (the URLSession engine, which has no
/// thread it may hold, pauses and continues with `Range` instead: ``URLSessionExchange``). Opt in with
/// ``RangeResumer/Engine/posixSockets``.
///
/// Deliberately small: `GET` with `Connection: close`, bodies framed by `Content-Length` or by
/// the connection's end; redirects are not followed (a 3xx with `Location` ends the stream with
/// ``RangeResumeError/redirectNotFollowed(to:)``, which names the fix); chunked bodies and
/// `https` are refused (`RangeResumeError.invalidResponse` / `.invalidArgument`). Cancellation
/// shuts the socket down, which ends a blocked read at once.
struct SocketTransport: HTTPTransport {
    func start(_ request: TransportRequest, into channel: TransportChannel) {
        let thread = Thread { SocketExchange(request: request, channel: channel).run() }
        thread.name = "RangeResume.SocketTransport"
        thread.start()
    }
}

/// One request on its own thread.
struct SocketExchange {
    let request: TransportRequest
    let channel: TransportChannel

    func run() {
        do { try RequestValidator.validateSyntax(of: request) } catch { channel.finish(throwing: error); return }
        guard request.url.scheme?.lowercased() == "http", let host = request.url.host else {
            channel.finish(throwing: RangeResumeError.invalidArgument("url: the socket engine supports http URLs only"))
            return
        }
        let port = request.url.port ?? 80
        let fd: Int32
        do { fd = try connect(host: host, port: port) } catch { channel.finish(throwing: error); return }
        // The cancel handler may run after this thread is done: it must never touch a descriptor
        // number that has been closed (and possibly reused by another socket meanwhile).
        let open = LockedValue(true)
        defer {
            open.withLock { isOpen in
                isOpen = false
                _ = close(fd)
            }
        }
        channel.setCancelHandler {
            open.withLock { isOpen in if isOpen { _ = shutdown(fd, Int32(SHUT_RDWR)) } }
        }
        guard SocketCalls.sendAll(fd, Array(requestText(host: host, port: port).utf8)) else {
            channel.finish(throwing: URLError(.networkConnectionLost))
            return
        }
        receive(fd)
    }

    /// The request head: the target exactly as percent-encoded in the URL, `Host` and
    /// `Connection` from the engine, the request's fields once each (validated by
    /// ``RequestValidator``), and `User-Agent: RangeResume` unless the request sets its own.
    func requestText(host: String, port: Int) -> String {
        let hostName = host.contains(":") ? "[\(host)]" : host
        let hostField = port == 80 ? hostName : "\(hostName):\(port)"
        var lines = ["GET \(RequestValidator.requestTarget(of: request.url)) HTTP/1.1", "Host: \(hostField)"]
        let fields = request.headers.sorted(by: { $0.key < $1.key })
        if !fields.contains(where: { $0.key.lowercased() == "user-agent" }) { lines.append("User-Agent: RangeResume") }
        for (name, value) in fields { lines.append("\(name): \(value)") }
        lines.append("Connection: close")
        return lines.joined(separator: "\r\n") + "\r\n\r\n"
    }

    private func receive(_ fd: Int32) {
        let capacity = 64 << 10
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
        defer { buffer.deallocate() }
        // The head: read until the blank line (at most 64 KiB).
        var head: [UInt8] = []
        var bodyStart: [UInt8] = []
        while true {
            let count = recv(fd, buffer.baseAddress, capacity, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return fail(head.isEmpty ? .badServerResponse : .networkConnectionLost) }
            head.append(contentsOf: UnsafeRawBufferPointer(start: buffer.baseAddress, count: count))
            if let end = Self.headEnd(head) {
                bodyStart = Array(head[end...])
                head.removeSubrange(end...)
                break
            }
            guard head.count < 64 << 10 else { return fail(.badServerResponse) }
        }
        guard let response = Self.parseHead(head, url: request.url) else { return fail(.badServerResponse) }
        if response["transfer-encoding"].map({ $0.lowercased() != "identity" }) ?? false {
            channel.finish(throwing: RangeResumeError.invalidResponse("chunked bodies are not supported by the socket engine"))
            return
        }
        if (300...399).contains(response.status), response.status != 304,
           let location = response["location"], let target = URL(string: location, relativeTo: request.url) {
            channel.finish(throwing: RangeResumeError.redirectNotFollowed(to: target.absoluteURL))
            return
        }
        guard channel.send(.head(response)) else { return }
        let length = response["content-length"].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
        var remaining = length ?? .max
        if !bodyStart.isEmpty {
            let take = Int(min(Int64(bodyStart.count), remaining))
            guard channel.send(.body(Data(bodyStart.prefix(take)))) else { return }
            remaining -= Int64(take)
        }
        // The body: `recv` straight into a chunk buffer, as much as the socket has ready
        // (`MSG_DONTWAIT`), so a fast stream goes out in full 1 MiB chunks — handed over without a
        // copy and written by the resumer without another — while a slow one is delivered as soon
        // as the socket runs dry (progress, the stall watchdog and checkpoints see it promptly).
        var chunk = ChunkBuffer()
        defer { chunk.release() }
        while remaining > 0 {
            let want = Int(min(Int64(chunk.space), remaining))
            let flags = chunk.count > 0 ? Int32(MSG_DONTWAIT) : 0
            let count = recv(fd, chunk.end, want, flags)
            if count < 0 && errno == EINTR { continue }
            if count < 0 && chunk.count > 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                guard channel.send(.body(chunk.take())) else { return }
                continue
            }
            if count < 0 { return fail(.networkConnectionLost) }
            if count == 0 {
                if chunk.count > 0, !channel.send(.body(chunk.take())) { return }
                // End of stream: complete only when no length was announced.
                if length == nil { channel.finish() } else { fail(.networkConnectionLost) }
                return
            }
            chunk.count += count
            remaining -= Int64(count)
            if chunk.space == 0 || remaining == 0 {
                guard channel.send(.body(chunk.take())) else { return }
            }
        }
        channel.finish()
    }

    private func fail(_ code: URLError.Code) {
        channel.finish(throwing: URLError(code))
    }

    /// The index just past `\r\n\r\n` in `bytes`, if present.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count where bytes[index] == 10 && bytes[index - 1] == 13
            && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
            return index + 1
        }
        return nil
    }

    /// Parses `HTTP/1.x SSS reason` and `Name: value` lines.
    static func parseHead(_ bytes: [UInt8], url: URL) -> TransportResponseHead? {
        let lines = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
        guard let statusLine = lines.first else { return nil }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
            return nil
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { "\($0), \(value)" } ?? value
        }
        return TransportResponseHead(status: status, headers: headers, url: url)
    }

    /// A connected TCP socket to `host:port` (each resolved address tried in turn).
    private func connect(host: String, port: Int) throws(URLError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = SocketCalls.streamType
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { throw URLError(.cannotFindHost) }
        defer { freeaddrinfo(list) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            let fd = SocketCalls.createStreamSocket(family: info.pointee.ai_family, protocol: info.pointee.ai_protocol)
            if fd >= 0 {
                if systemConnect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
                _ = close(fd)
            }
            candidate = info.pointee.ai_next
        }
        throw URLError(.cannotConnectToHost)
    }
}

#if canImport(Glibc)
private let systemConnect = Glibc.connect
#elseif canImport(Darwin)
private let systemConnect = Darwin.connect
#endif
