import Foundation
import ResilienceSupport


#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine behind ``FaultyHTTPServer``: the listening socket, the accept thread, one thread
/// per connection, and all shared state in one ``LockedValue`` (an `NSLock`, which
/// ThreadSanitizer understands, unlike `Synchronization.Mutex` on Linux).
///
/// Threads are never cancelled or killed: `stop()` flags the state, writes to a wake pipe that
/// every blocking `poll` also watches, and shuts down the live sockets (which fails blocked
/// `send`s); every thread then returns on its own and is joined.
final class HTTPServerCore: Sendable {
    /// Largest request head (request line + header fields) accepted; larger → `431`.
    static let maxHeadBytes = 64 * 1024
    /// Body chunk size for sending and for reading files.
    static let chunkSize = 64 * 1024

    private struct State: Sendable, CountWatched {
        var stopping = false
        var resources: [String: HTTPResource] = [:]
        var redirects: [String: (status: Int, location: String)] = [:]
        var validatorChanges = 0
        var scripts: [String: FaultScript] = [:]
        var globalScript = FaultScript()
        var records: [RecordedRequest] = []
        /// The tasks in `waitForRequests(atLeast:)`, waiting for the number of records.
        var countWatchers = CountWatchers()
        var watchedCount: Int { records.count }
        var releasesWatchers: Bool { stopping }
        var nextID: UInt64 = 0
        var liveConnections: [UInt64: Int32] = [:]
        var threads: [UInt64: JoinableThread] = [:]
        var finished: Set<UInt64> = []
        var acceptThread: JoinableThread?
        /// Request watchers a record satisfied, resumed by ``HTTPServerCore/recording(_:)`` once
        /// the lock is released.
        var readyWatchers: [CheckedContinuation<Void, Never>] = []

        mutating func makeID() -> UInt64 {
            defer { nextID += 1 }
            return nextID
        }
    }

    let port: UInt16
    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let now: @Sendable () -> Date
    private let state = LockedValue(State())
    /// Held for the whole of `stop()`, so concurrent callers all return after the shutdown.
    private let stopGate = LockedValue(false)

    init(now: @escaping @Sendable () -> Date) throws(FaultyHTTPServerError) {
        self.now = now
        let fd = socket(AF_INET, POSIXSocket.streamType, 0)
        guard fd >= 0 else { throw .socketFailed(operation: "socket", errno: errno) }
        func fail(_ operation: String) -> FaultyHTTPServerError {
            let code = errno
            close(fd)
            return .socketFailed(operation: operation, errno: code)
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw fail("bind") }
        guard listen(fd, 128) == 0 else { throw fail("listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw fail("getsockname") }
        // Non-blocking, so that an accept after a client vanished cannot block the loop.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw fail("pipe") }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        port = UInt16(bigEndian: address.sin_port)
        listener = fd
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
    }

    /// Starts the accept thread. Called once, right after `init`.
    func start() throws(FaultyHTTPServerError) {
        guard let thread = JoinableThread({ [self] in acceptLoop() }) else {
            let code = errno
            closeDescriptors()
            throw .socketFailed(operation: "pthread_create", errno: code)
        }
        state.withLock { $0.acceptThread = thread }
    }

    private func closeDescriptors() {
        close(listener)
        close(wakeRead)
        close(wakeWrite)
    }

    // MARK: Public operations (forwarded by FaultyHTTPServer)

    var isStopped: Bool { state.withLock { $0.stopping } }

    func setResource(_ resource: HTTPResource?, at path: String) {
        state.withLock { $0.resources[path] = resource }
    }

    func setRedirect(from path: String, to location: String?, status: Int) {
        state.withLock { $0.redirects[path] = location.map { (status, $0) } }
    }

    func resource(at path: String) -> HTTPResource? {
        state.withLock { $0.resources[path] }
    }

    func updateScript(for path: String?, _ update: @Sendable (inout FaultScript) -> Void) {
        state.withLock { state in
            if let path {
                update(&state.scripts[path, default: FaultScript()])
            } else {
                update(&state.globalScript)
            }
        }
    }

    func script(for path: String?) -> FaultScript {
        state.withLock { state in
            if let path { return state.scripts[path] ?? FaultScript() }
            return state.globalScript
        }
    }

    func clearFaults() {
        state.withLock { state in
            state.scripts = [:]
            state.globalScript = FaultScript()
        }
    }

    var requests: [RecordedRequest] { state.withLock { $0.records } }

    func waitForRequests(atLeast count: Int) async -> [RecordedRequest] {
        await state.waitForCount(atLeast: count)
        return requests
    }

    /// Closes the listener and every connection, and joins every thread. Idempotent; concurrent
    /// callers all return once the server is fully stopped.
    func stop() {
        stopGate.withLock { stopped in
            guard !stopped else { return }
            stopped = true
            let (acceptThread, watchers) = state.withLock { state in
                state.stopping = true
                // Under the lock: a connection closes its descriptor under this same lock, so
                // these descriptors cannot have been closed and reused by something else.
                for fd in state.liveConnections.values { _ = shutdown(fd, Int32(SHUT_RDWR)) }
                let thread = state.acceptThread
                state.acceptThread = nil
                return (thread, state.satisfiedWatchers())
            }
            for watcher in watchers { watcher.resume() }
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
            acceptThread?.join()
            // The accept thread is gone, so no connection thread can be added any more.
            let threads = state.withLock { state in
                defer { state.threads = [:] }
                return Array(state.threads.values)
            }
            for thread in threads { thread.join() }
            closeDescriptors()
        }
    }

    // MARK: Accept loop

    private func acceptLoop() {
        while true {
            switch POSIXSocket.wait(for: listener, wake: wakeRead) {
            case .woken, .failed: return
            case .timedOut: continue
            case .readable: break
            }
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM {
                    // Out of descriptors: back off briefly instead of spinning.
                    if POSIXSocket.wait(for: -1, wake: wakeRead, timeoutMilliseconds: 10) == .woken { return }
                }
                continue
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            POSIXSocket.prepareConnection(fd)
            let id: UInt64? = state.withLock { state in
                guard !state.stopping else { return nil }
                let id = state.makeID()
                state.liveConnections[id] = fd
                return id
            }
            guard let id else {
                close(fd)
                return
            }
            let thread = JoinableThread { [self] in serve(fd, id: id) }
            let reapable: [JoinableThread] = state.withLock { state in
                if let thread {
                    state.threads[id] = thread
                } else {
                    // No thread: close the connection ourselves.
                    state.liveConnections[id] = nil
                    close(fd)
                }
                let done = state.finished.filter { state.threads[$0] != nil }
                state.finished.subtract(done)
                return done.compactMap { state.threads.removeValue(forKey: $0) }
            }
            for finished in reapable { finished.join() }
        }
    }

    // MARK: One connection

    private enum HeadResult {
        case head(ArraySlice<UInt8>)
        case tooLarge
        case closed
    }

    private func serve(_ fd: Int32, id: UInt64) {
        var plan: HTTPResponsePlan?
        var bodySent: Int64 = 0
        var completed = false
        defer {
            plan?.closeSource()
            state.withLock { state in
                if let index = plan?.recordIndex, index >= 0 {
                    state.records[index].bodyBytesSent = Int(bodySent)
                    state.records[index].completed = completed
                }
                state.liveConnections[id] = nil
                close(fd)
                state.finished.insert(id)
            }
        }
        switch readHead(fd) {
        case .closed:
            return
        case .tooLarge:
            plan = recording { state in recordError(431, head: nil, in: &state) }
            plan?.lingers = true
        case .head(let bytes):
            do {
                let head = try HTTPRequestHead.parse(bytes)
                plan = decide(head)
            } catch {
                let status = error == .versionNotSupported ? 505 : 400
                plan = recording { state in recordError(status, head: nil, in: &state) }
                plan?.lingers = true
            }
        }
        guard let plan else { return }
        (bodySent, completed) = send(plan, on: fd)
        if plan.lingers { lingerAfterError(fd) }
        if case .reset = plan.delivery {
            // Linger on with a zero timeout: close() then sends RST instead of FIN.
            var option = linger(l_onoff: 1, l_linger: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        }
    }

    /// Reads up to the blank line that ends the request head.
    private func readHead(_ fd: Int32) -> HeadResult {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 8 * 1024)
        while true {
            guard POSIXSocket.wait(for: fd, wake: wakeRead) == .readable else { return .closed }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return .closed }
            let searchFrom = max(0, buffer.count - 3)
            buffer.append(contentsOf: chunk[..<count])
            if let end = Self.endOfHead(buffer, from: searchFrom) {
                return end > Self.maxHeadBytes ? .tooLarge : .head(buffer[..<end])
            }
            if buffer.count > Self.maxHeadBytes { return .tooLarge }
        }
    }

    /// The index just past the head's last line (before the blank line), searching from `start`.
    private static func endOfHead(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\n") {
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") { return index + 1 }
                if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "\r"),
                   bytes[index + 2] == UInt8(ascii: "\n") { return index + 1 }
            }
            index += 1
        }
        return nil
    }

    /// After an error response the client may still be sending (a body, a huge head): half-close
    /// and drain briefly so that it reads the response instead of a reset.
    private func lingerAfterError(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_WR))
        var scratch = [UInt8](repeating: 0, count: 16 * 1024)
        var drained = 0
        while drained < 1 << 20,
              POSIXSocket.wait(for: fd, wake: wakeRead, timeoutMilliseconds: 200) == .readable {
            let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return }
            drained += count
        }
    }

    // MARK: Deciding the response

    private func standardFields(contentLength: Int64, contentType: String = "text/plain; charset=utf-8")
        -> [(String, String)]
    {
        [
            ("Date", HTTPDate.format(now())),
            ("Server", "FaultyHTTPServer"),
            ("Connection", "close"),
            ("Content-Type", contentType),
            ("Content-Length", String(contentLength)),
        ]
    }

    /// A plan with a short text body, recorded.
    private func simpleResponse(
        _ status: Int, text: String, extraFields: [(String, String)] = [], isHead: Bool = false,
        head: HTTPRequestHead?, fault: HTTPFault?, in state: inout State
    ) -> HTTPResponsePlan {
        let body = Array(text.utf8)
        var plan = HTTPResponsePlan(
            status: status,
            headerFields: standardFields(contentLength: Int64(body.count)) + extraFields,
            source: isHead ? nil : .bytes(body),
            bodyLength: isHead ? 0 : Int64(body.count))
        plan.recordIndex = record(head, status: status, fault: fault, in: &state)
        return plan
    }

    private func recordError(_ status: Int, head: HTTPRequestHead?, in state: inout State) -> HTTPResponsePlan {
        simpleResponse(
            status, text: HTTPResponsePlan.reason(status) + "\n", head: head, fault: nil, in: &state)
    }

    private func record(_ head: HTTPRequestHead?, status: Int, fault: HTTPFault?, in state: inout State) -> Int {
        let index = state.records.count
        state.records.append(RecordedRequest(
            index: index, method: head?.method ?? "", target: head?.target ?? "",
            path: head?.path ?? head?.rawPath ?? "", version: head?.version ?? "",
            headers: head?.headers ?? HTTPHeaderFields(), fault: fault, status: status))
        state.readyWatchers += state.satisfiedWatchers()   // resumed once the lock is released
        return index
    }

    /// Runs `body` under the lock, then resumes — outside it — the request watchers that the
    /// records `body` made satisfied.
    private func recording<R>(_ body: (inout State) -> R) -> R {
        let (result, watchers) = state.withLock { state in
            let result = body(&state)
            defer { state.readyWatchers.removeAll() }
            return (result, state.readyWatchers)
        }
        for watcher in watchers { watcher.resume() }
        return result
    }

    private func decide(_ head: HTTPRequestHead) -> HTTPResponsePlan {
        // A file body is opened before the lock is taken: nothing opens a file under it. (If the
        // resource changes meanwhile, the descriptor goes unused and is closed.)
        var opened: (path: String, fd: Int32, length: Int64)?
        if let path = head.path, case .file(let filePath)? = state.withLock({ $0.resources[path]?.body }) {
            let fd = open(filePath, O_RDONLY | O_CLOEXEC)
            var info = stat()
            if fd >= 0, fstat(fd, &info) == 0 {
                opened = (filePath, fd, Int64(info.st_size))
            } else if fd >= 0 {
                close(fd)
            }
        }
        let plan = recording { state in decide(head, opened: opened, in: &state) }
        if let opened, plan.openedDescriptor != opened.fd { close(opened.fd) }
        return plan
    }

    private func decide(_ head: HTTPRequestHead, opened: (path: String, fd: Int32, length: Int64)?,
                        in state: inout State) -> HTTPResponsePlan {
        guard let path = head.path else {
            // Like a real server: a path that does not decode, or climbs out with `..`, is refused.
            var plan = recordError(400, head: head, in: &state)
            plan.lingers = true
            return plan
        }
        let isHead = head.method == "HEAD"
        if let redirect = state.redirects[path] {
            return simpleResponse(
                redirect.status, text: "Moved to \(redirect.location)\n",
                extraFields: [("Location", redirect.location)], isHead: isHead,
                head: head, fault: nil, in: &state)
        }
        guard var resource = state.resources[path] else {
            return simpleResponse(404, text: "Not Found\n", isHead: isHead, head: head, fault: nil, in: &state)
        }
        guard isHead || head.method == "GET" else {
            var plan = simpleResponse(
                405, text: "Method Not Allowed\n", extraFields: [("Allow", "GET, HEAD")],
                head: head, fault: nil, in: &state)
            plan.lingers = true
            return plan
        }
        var fault: HTTPFault? = nil
        if state.scripts[path] != nil { fault = state.scripts[path]!.nextFault() }
        if fault == nil { fault = state.globalScript.nextFault() }

        switch fault {
        case .status(let code):
            return simpleResponse(
                code, text: "Injected fault: status \(code)\n", isHead: isHead,
                head: head, fault: fault, in: &state)
        case .tooManyRequests(let retryAfter):
            return simpleResponse(
                429, text: "Injected fault: too many requests\n",
                extraFields: [("Retry-After", retryAfter)], isHead: isHead,
                head: head, fault: fault, in: &state)
        case .serviceUnavailable(let retryAfter):
            return simpleResponse(
                503, text: "Injected fault: service unavailable\n",
                extraFields: [("Retry-After", retryAfter)], isHead: isHead,
                head: head, fault: fault, in: &state)
        case .redirect(let status, let location):
            return simpleResponse(
                status, text: "Injected fault: redirect to \(location)\n",
                extraFields: [("Location", location)], isHead: isHead,
                head: head, fault: fault, in: &state)
        case .closeWithoutResponse:
            var plan = HTTPResponsePlan(status: 0, headerFields: [], source: nil)
            plan.delivery = .silent
            plan.recordIndex = record(head, status: 0, fault: fault, in: &state)
            return plan
        case .changeETag:
            state.validatorChanges += 1
            resource.etag = Self.changed(resource.etag, generation: state.validatorChanges)
            resource.lastModified = resource.lastModified.addingTimeInterval(
                TimeInterval(state.validatorChanges))
            state.resources[path] = resource
        default:
            break
        }

        // Open the body and learn its length.
        let source: HTTPResponsePlan.Source
        let length: Int64
        switch resource.body {
        case .bytes(let bytes):
            source = .bytes(bytes)
            length = Int64(bytes.count)
        case .file(let filePath):
            guard let opened, opened.path == filePath else {
                return simpleResponse(
                    500, text: "Cannot open \(filePath)\n", head: head, fault: fault, in: &state)
            }
            source = .file(descriptor: opened.fd)
            length = opened.length
        }

        var range = ByteRangeRequest.ignored
        if !isHead, fault != .ignoreRange {
            let rangeField = head.headers["Range"]
            if rangeField != nil, let ifRange = head.headers["If-Range"],
               !Self.ifRangeMatches(ifRange, resource) {
                range = .ignored
            } else {
                range = ByteRangeRequest.evaluate(rangeField, length: length)
            }
            if fault == .wrongContentRange, length >= 2 {
                switch range {
                case .satisfiable(let first, let last):
                    let wrong = first > 0 ? first - 1 : 1
                    range = .satisfiable(first: wrong, last: max(last, wrong))
                case .ignored, .unsatisfiable:
                    range = .satisfiable(first: 1, last: length - 1)
                }
            }
        }

        var plan: HTTPResponsePlan
        var fields = [
            ("ETag", resource.etag),
            ("Last-Modified", HTTPDate.format(resource.lastModified)),
            ("Accept-Ranges", "bytes"),
        ]
        switch range {
        case .ignored:
            plan = HTTPResponsePlan(
                status: 200,
                headerFields: standardFields(contentLength: length, contentType: resource.contentType) + fields,
                source: source, offset: 0, bodyLength: isHead ? 0 : length)
        case .satisfiable(let first, let last):
            fields.append(("Content-Range", "bytes \(first)-\(last)/\(length)"))
            plan = HTTPResponsePlan(
                status: 206,
                headerFields: standardFields(contentLength: last - first + 1, contentType: resource.contentType)
                    + fields,
                source: source, offset: first, bodyLength: last - first + 1)
        case .unsatisfiable:
            fields.append(("Content-Range", "bytes */\(length)"))
            plan = HTTPResponsePlan(
                status: 416, headerFields: standardFields(contentLength: 0) + fields,
                source: source, offset: 0, bodyLength: 0)
        }
        switch fault {
        case .contentEncoding(let value):
            plan.headerFields.append(("Content-Encoding", value))
        case .omitContentLength:
            plan.headerFields.removeAll { $0.0 == "Content-Length" }
        case .corruptByte(let offset): plan.corruptOffset = Int64(offset)
        case .resetAfter(let bytes): plan.delivery = .reset(after: Int64(max(0, bytes)))
        case .dropAfter(let bytes): plan.delivery = .drop(after: Int64(max(0, bytes)))
        case .stallAfterHeaders: plan.delivery = .stall(after: 0)
        case .stallBeforeHeaders: plan.delivery = .stallBeforeHead
        case .stallAfter(let bytes): plan.delivery = .stall(after: Int64(max(0, bytes)))
        case .trickle(let rate): plan.delivery = .trickle(bytesPerSecond: Int64(max(1, rate)))
        default: break
        }
        plan.recordIndex = record(head, status: plan.status, fault: fault, in: &state)
        return plan
    }

    /// `"abc"` → `"abc-c1"` (keeping any `W/` prefix); a tag without quotes gets the suffix appended.
    private static func changed(_ etag: String, generation: Int) -> String {
        guard etag.hasSuffix("\""), etag.count >= 2 else { return etag + "-c\(generation)" }
        return String(etag.dropLast()) + "-c\(generation)\""
    }

    /// RFC 9110 §13.1.5: an entity-tag must match strongly (weak tags never match); an HTTP-date
    /// must equal `Last-Modified` exactly (to the second).
    private static func ifRangeMatches(_ value: String, _ resource: HTTPResource) -> Bool {
        if value.hasPrefix("\"") || value.hasPrefix("W/") {
            return !value.hasPrefix("W/") && !resource.etag.hasPrefix("W/") && value == resource.etag
        }
        guard let date = HTTPDate.parse(value) else { return false }
        return date.timeIntervalSince1970 == resource.lastModified.timeIntervalSince1970.rounded(.down)
    }

    // MARK: Sending

    /// Sends `plan`; returns the body bytes sent and whether the whole body went out.
    private func send(_ plan: HTTPResponsePlan, on fd: Int32) -> (Int64, Bool) {
        switch plan.delivery {
        case .silent: return (0, false)
        case .stallBeforeHead:
            holdOpen(fd)
            return (0, false)
        default: break
        }
        guard SocketCalls.sendAll(fd, plan.head()) else { return (0, false) }
        var limit = plan.bodyLength
        var rate: Int64? = nil
        switch plan.delivery {
        case .normal, .silent, .stallBeforeHead: break
        case .drop(let after), .stall(let after), .reset(let after): limit = min(limit, after)
        case .trickle(let bytesPerSecond): rate = bytesPerSecond
        }
        let sent = sendBody(plan, count: limit, on: fd, rate: rate)
        if case .stall = plan.delivery, sent == limit { holdOpen(fd) }
        return (sent, sent == plan.bodyLength && sent == limit)
    }

    /// Sends `count` body bytes starting at the plan's offset, paced when `rate` is set.
    private func sendBody(_ plan: HTTPResponsePlan, count: Int64, on fd: Int32, rate: Int64?) -> Int64 {
        guard count > 0, let source = plan.source else { return 0 }
        let chunk = Int64(rate.map { max(1, min(Int64(Self.chunkSize), $0 / 50)) } ?? Int64(Self.chunkSize))
        let started = ContinuousClock.now
        var buffer: [UInt8] = []
        if case .file = source { buffer = [UInt8](repeating: 0, count: Int(chunk)) }
        var sent: Int64 = 0
        while sent < count {
            let size = Int(min(chunk, count - sent))
            let position = plan.offset + sent
            /// Sends one chunk, flipping the corrupted byte if it falls inside.
            func sendChunk(_ raw: UnsafeRawBufferPointer) -> Bool {
                guard let corrupt = plan.corruptOffset, corrupt >= position, corrupt < position + Int64(size) else {
                    return SocketCalls.sendAll(fd, raw)
                }
                var copy = [UInt8](raw)
                copy[Int(corrupt - position)] ^= 0xFF
                return SocketCalls.sendAll(fd, copy)
            }
            let ok: Bool
            switch source {
            case .bytes(let bytes):
                ok = bytes.withUnsafeBytes { raw in
                    sendChunk(UnsafeRawBufferPointer(rebasing: raw[Int(position)..<Int(position) + size]))
                }
            case .file(let descriptor):
                let read = buffer.withUnsafeMutableBytes { raw in
                    Self.readFully(descriptor, into: raw, count: size, at: position)
                }
                ok = read == size && buffer.withUnsafeBytes { raw in
                    sendChunk(UnsafeRawBufferPointer(rebasing: raw[..<size]))
                }
            }
            guard ok else { return sent }
            sent += Int64(size)
            if let rate, sent < count {
                // Wait until `sent` bytes are due at `rate`, waking early if the server stops.
                let due = started + .milliseconds(sent * 1000 / rate)
                let wait = ContinuousClock.now.duration(to: due)
                if wait > .zero {
                    let milliseconds = Int32(clamping: (wait.components.seconds * 1000)
                        + Int64(wait.components.attoseconds / 1_000_000_000_000_000) + 1)
                    if POSIXSocket.wait(for: -1, wake: wakeRead, timeoutMilliseconds: milliseconds) == .woken {
                        return sent
                    }
                }
            }
        }
        return sent
    }

    /// `pread` until `count` bytes are read or the file ends; returns the bytes read.
    private static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, count: Int, at offset: Int64) -> Int {
        var done = 0
        while done < count {
            let result = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            if result < 0, errno == EINTR { continue }
            if result <= 0 { break }
            done += result
        }
        return done
    }

    /// Keeps the connection open, sending nothing, until the client closes it or the server stops.
    private func holdOpen(_ fd: Int32) {
        var scratch = [UInt8](repeating: 0, count: 4096)
        while POSIXSocket.wait(for: fd, wake: wakeRead) == .readable {
            let count = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return }
        }
    }
}
