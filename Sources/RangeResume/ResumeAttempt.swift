import Foundation
import ResilienceRetry
import ResilienceSupport

/// One attempt of ``RangeResumer``: the resume state machine (see `Documentation/RangeResume.md`
/// for it as a table). Lives in a single task; only the watchdog and the channel are shared.
final class ResumeAttempt<C: Clock<Duration>> {
    private enum Outcome {
        case done(DownloadResult)
        case restart(String)
        /// The server answered `401`: ask the authorizer for fresh credentials and resume.
        case reauthorize(HTTPStatusError)
    }

    private let configuration: RangeResumer.Configuration
    private let transport: any HTTPTransport
    private let authorizer: (any RequestAuthorizer)?
    /// The next request asks the authorizer with `refresh: true` (after a `401`).
    private var refreshAuthorization = false
    private let url: URL
    /// Other URLs serving the same content (their sidecar records are adopted).
    private let mirrors: Set<String>
    private let destination: String
    private let directory: String
    private let partPath: String
    private let metaPath: String
    private let expectedLength: Int64?
    private let expectedSHA256: String?
    private let clock: C
    private let hashing: Bool
    private var progress: ProgressReporter<C>

    private var part: PartFile?
    private var sidecar: ResumeSidecar
    /// Hashes the written `.part` on its own thread (`nil` when hashing is off).
    private var fileHasher: FileHasher?
    private var restarts = 0

    private var resumedFrom: Int64 = 0
    private var received: Int64 = 0
    private var total: Int64?

    // The write buffer: `batchCount` bytes waiting to be written at `flushed`.
    private var flushed: Int64 = 0
    private var batch: UnsafeMutableRawBufferPointer
    private var batchCount = 0
    private var lastCheckpoint: Int64 = 0

    init(configuration: RangeResumer.Configuration, transport: any HTTPTransport,
         authorizer: (any RequestAuthorizer)? = nil, url: URL, mirrors: [URL] = [],
         destination: URL, expectedLength: Int64?, expectedSHA256: String?, clock: C,
         progress: (@Sendable (DownloadProgress) -> Void)?) throws(RangeResumeError) {
        guard destination.isFileURL, !destination.path.isEmpty, !destination.hasDirectoryPath else {
            throw .invalidDestination("not a file path: \(destination)")
        }
        try RequestValidator.validate(url: url, mirrors: mirrors, headers: configuration.additionalHeaders)
        if let expectedLength, expectedLength < 0 { throw .invalidArgument("negative expectedLength") }
        if let expectedSHA256 {
            guard expectedSHA256.utf8.count == 64, expectedSHA256.allSatisfy(\.isHexDigit) else {
                throw .invalidArgument("expectedSHA256 is not 64 hex digits")
            }
        }
        self.configuration = configuration
        self.transport = transport
        self.authorizer = authorizer
        self.url = url
        self.mirrors = Set(mirrors.map(\.absoluteString)).subtracting([url.absoluteString])
        self.destination = destination.standardizedFileURL.path
        self.directory = destination.standardizedFileURL.deletingLastPathComponent().path
        self.partPath = self.destination + ".part"
        self.metaPath = self.destination + ".part.meta"
        self.expectedLength = expectedLength
        self.expectedSHA256 = expectedSHA256?.lowercased()
        self.clock = clock
        self.hashing = configuration.computesSHA256 || expectedSHA256 != nil
        self.progress = ProgressReporter(clock: clock, interval: configuration.progressInterval, callback: progress)
        self.sidecar = ResumeSidecar(url: url.absoluteString, validator: nil, length: nil, durable: 0, integrityFailures: 0)
        self.batch = .allocate(byteCount: configuration.writeBatchSize, alignment: 16)
    }

    deinit {
        fileHasher?.stop()
        batch.deallocate()
    }

    private var position: Int64 { flushed + Int64(batchCount) }
    private var cap: Int64? { configuration.maxBytes ?? expectedLength }

    func run() async throws -> DownloadResult {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RangeResumeError.invalidDestination("directory does not exist: \(directory)")
        }
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
            throw RangeResumeError.invalidDestination("is a directory: \(destination)")
        }
        let part = try PartFile(path: partPath)
        self.part = part
        defer { part.close() }
        if hashing { fileHasher = try FileHasher(path: partPath) }
        try loadResumeState(part)
        while true {
            switch try await exchange(part) {
            case .done(let result):
                return result
            case .restart(let reason):
                restarts += 1
                try resetLocal(part)
                if restarts > 1 { throw RangeResumeError.resumeMismatch(reason) }
            case .reauthorize(let unauthorized):
                // Once per attempt: a second 401 with fresh credentials is final.
                if refreshAuthorization { throw unauthorized }
                refreshAuthorization = true
            }
        }
    }

    /// Adopts the sidecar if it describes a resumable `.part` of this URL or one of its mirrors
    /// (see ``PartRecovery``); otherwise starts clean.
    private func loadResumeState(_ part: PartFile) throws {
        let recovery = try PartRecovery.recover(part, metaPath: metaPath, url: url.absoluteString, mirrors: mirrors,
                                                expectedLength: expectedLength, expectedSHA256: expectedSHA256)
        if let failures = recovery.integrityFailures { sidecar.integrityFailures = failures }
        if let adopted = recovery.sidecar { sidecar = adopted }
        flushed = recovery.offset
    }

    /// Whether the bytes `saved` describes may be continued from ``url`` (see
    /// ``ResumeSidecar/isResumable(expectedSHA256:)``).
    private func canResume(_ saved: ResumeSidecar) -> Bool {
        saved.isResumable(expectedSHA256: expectedSHA256)
    }

    /// Rule (b) of ``ResumeSidecar/isResumable(expectedSHA256:)``.
    private func splicesByDigest(_ saved: ResumeSidecar) -> Bool {
        saved.splicesByDigest(expectedSHA256: expectedSHA256)
    }

    /// Discards the local bytes (keeping the integrity-failure count in the sidecar).
    private func resetLocal(_ part: PartFile) throws {
        sidecar = ResumeSidecar(url: url.absoluteString, validator: nil, length: nil, durable: 0,
                                integrityFailures: sidecar.integrityFailures)
        try sidecar.save(to: metaPath)
        fileHasher?.reset()
        try part.truncate(to: 0)
        flushed = 0
        batchCount = 0
        lastCheckpoint = 0
    }

    /// Starts writing a fresh body from byte 0 under `validator`: the sidecar is replaced (and the
    /// directory synced) *before* the `.part` is truncated, so no crash can pair old claims with
    /// new bytes.
    private func startFresh(_ part: PartFile, validator: ResumeValidator?, length: Int64?) throws {
        sidecar = ResumeSidecar(url: url.absoluteString, validator: validator, length: length, durable: 0,
                                integrityFailures: sidecar.integrityFailures)
        try sidecar.save(to: metaPath)
        try? FileSystem.syncDirectory(directory)
        fileHasher?.reset()
        try part.truncate(to: 0)
        flushed = 0
        batchCount = 0
        lastCheckpoint = 0
        resumedFrom = 0
    }

    /// Sends one request and handles its response.
    private func exchange(_ part: PartFile) async throws -> Outcome {
        let offset = flushed
        let resuming = offset > 0 && canResume(sidecar)
        // Hash from byte 0 of what is on disk; after a resume, the hasher re-reads the kept prefix
        // in the background while the rest downloads.
        fileHasher?.reset()
        fileHasher?.advance(to: resuming ? offset : 0)
        // Validated in `init`: no caller field collides with these.
        var headers = configuration.additionalHeaders
        if let authorizer {
            headers = headers.replacingFields(with: try await authorizer.checkedHeaders(for: url, refresh: refreshAuthorization))
        }
        headers["Accept-Encoding"] = "identity"
        if resuming {
            headers["Range"] = "bytes=\(offset)-"
            // Only this URL's own validator, never one another mirror answered (rule (b) sends none).
            if let validator = sidecar.validator { headers["If-Range"] = validator.ifRangeValue }
        }
        let channel = TransportChannel(limit: max(configuration.bufferLimit, configuration.writeBatchSize))
        let watchdog = TransferWatchdog(clock: clock, stallTimeout: configuration.stallTimeout,
                                        minimumSpeed: configuration.minimumSpeed)
        return try await transport.exchange(TransportRequest(url: url, headers: headers, maximumRedirects: configuration.maximumRedirects), into: channel) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await watchdog.watch(channel) }
                defer { group.cancelAll() }
                return try await self.respond(part, channel: channel, watchdog: watchdog, offset: resuming ? offset : 0)
            }
        }
    }

    private func respond(_ part: PartFile, channel: TransportChannel, watchdog: TransferWatchdog<C>,
                         offset: Int64) async throws -> Outcome {
        let first: TransportEvent?
        do {
            first = try await channel.next()
        } catch let error as URLError where error.code == .badServerResponse {
            // e.g. libcurl's "Empty reply from server": the connection closed before a head.
            throw RangeResumeError.invalidResponse("no response head: \(error.localizedDescription)")
        }
        guard let first, case .head(let head) = first else {
            throw RangeResumeError.invalidResponse("no response head")
        }
        watchdog.touch(bytes: 0, at: clock.now)
        let decision = ResumeDecision.decide(head: head, offset: offset, knownLength: sidecar.length,
                                             knownValidator: sidecar.validator, expectedLength: expectedLength, cap: cap)
        switch decision {
        case .startFresh(let validator, let length, let bodyLength, let restarted):
            if restarted { restarts += 1 }
            try startFresh(part, validator: validator, length: length)
            total = length ?? expectedLength
            return try await stream(part, channel: channel, watchdog: watchdog, bodyLength: bodyLength)
        case .append(let from, let entityTotal, let bodyLength, let validator):
            resumedFrom = from
            if sidecar.length == nil { sidecar.length = entityTotal }
            // Rule (b): this URL's own validator from now on (the final hash still decides).
            if sidecar.validator == nil { sidecar.validator = validator }
            total = entityTotal
            return try await stream(part, channel: channel, watchdog: watchdog, bodyLength: bodyLength)
        case .restart(let reason):
            channel.cancel(CancellationError())
            return .restart(reason)
        default:
            break
        }
        channel.cancel(CancellationError())
        switch decision {
        case .complete(let entityTotal):
            resumedFrom = offset
            total = entityTotal
            return .done(try complete(part))
        case .refuseEncoding(let coding):
            throw RangeResumeError.unsupportedContentEncoding(coding)
        case .lengthMismatch(let expected, let actual):
            try integrityFailure(part, .length(expected: expected, actual: actual))
        case .exceedsCap(let limit):
            try resetLocal(part)
            throw RangeResumeError.exceedsMaxBytes(limit: limit)
        default:
            let error = HTTPStatusError(status: head.status, headers: head.headers, url: head.url ?? url)
            if head.status == 401, authorizer != nil { return .reauthorize(error) }
            throw error
        }
    }

    /// Writes the body to the `.part` through the bounded batch buffer, with checkpoints.
    private func stream(_ part: PartFile, channel: TransportChannel, watchdog: TransferWatchdog<C>,
                        bodyLength: Int64?) async throws -> Outcome {
        var bodyBytes: Int64 = 0
        lastCheckpoint = flushed
        progress.update(bytes: position, total: total, restarts: restarts, resumedFrom: resumedFrom, now: clock.now)
        do {
            while let event = try await channel.next() {
                guard case .body(let data) = event, !data.isEmpty else { continue }
                if let bodyLength, bodyBytes + Int64(data.count) > bodyLength {
                    throw RangeResumeError.invalidResponse("body longer than the announced \(bodyLength) bytes")
                }
                if let cap, position + Int64(data.count) > cap {
                    channel.cancel(CancellationError())
                    try resetLocal(part)
                    throw RangeResumeError.exceedsMaxBytes(limit: cap)
                }
                bodyBytes += Int64(data.count)
                received += Int64(data.count)
                try data.withUnsafeBytes { try append($0, to: part) }
                let now = clock.now
                watchdog.touch(bytes: data.count, at: now)
                if progress.isActive {
                    progress.update(bytes: position, total: total, restarts: restarts, resumedFrom: resumedFrom, now: now)
                }
            }
        } catch RangeResumeError.exceedsMaxBytes(let limit) {
            throw RangeResumeError.exceedsMaxBytes(limit: limit)
        } catch {
            channel.cancel(error)
            try flush(part)
            try checkpoint(part)
            // A later `Range` window answered 401 (the token expired mid-download): resume with
            // fresh credentials from what is durable now.
            if let status = error as? HTTPStatusError, status.status == 401, authorizer != nil { return .reauthorize(status) }
            if error is RangeResumeError || error is CancellationError { throw error }
            throw IncompleteDownloadError(expectedBytes: total, receivedBytes: position)
        }
        try flush(part)
        if let bodyLength, bodyBytes < bodyLength {
            try checkpoint(part)
            throw IncompleteDownloadError(expectedBytes: total, receivedBytes: position)
        }
        return .done(try complete(part))
    }

    private func append(_ bytes: UnsafeRawBufferPointer, to part: PartFile) throws {
        var offset = 0
        while offset < bytes.count {
            if batchCount == 0 && bytes.count - offset >= batch.count {
                // A chunk at least a batch long (the socket engine's): written straight from the
                // engine's buffer, without the copy into the batch.
                let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                try part.write(rest, at: flushed)
                part.startWriteback(offset: flushed, count: rest.count)
                flushed += Int64(rest.count)
                fileHasher?.advance(to: flushed)
                if flushed - lastCheckpoint >= configuration.checkpointInterval { try checkpoint(part) }
                return
            }
            let take = min(batch.count - batchCount, bytes.count - offset)
            (batch.baseAddress! + batchCount).copyMemory(from: bytes.baseAddress! + offset, byteCount: take)
            batchCount += take
            offset += take
            if batchCount == batch.count {
                try flush(part)
                if flushed - lastCheckpoint >= configuration.checkpointInterval { try checkpoint(part) }
            }
        }
    }

    /// Writes the batch buffer to the `.part` and lets the hasher follow.
    private func flush(_ part: PartFile) throws {
        guard batchCount > 0 else { return }
        try part.write(UnsafeRawBufferPointer(start: batch.baseAddress, count: batchCount), at: flushed)
        part.startWriteback(offset: flushed, count: batchCount)
        flushed += Int64(batchCount)
        fileHasher?.advance(to: flushed)
        batchCount = 0
    }

    /// `fsync`s the `.part`, then records its size as durable in the sidecar.
    private func checkpoint(_ part: PartFile) throws {
        guard sidecar.validator != nil || flushed == 0 || splicesByDigest(sidecar) else { return }
        try part.sync()
        sidecar.durable = flushed
        try sidecar.save(to: metaPath)
        lastCheckpoint = flushed
    }

    /// Verifies the `.part` and moves it into place atomically.
    private func complete(_ part: PartFile) throws -> DownloadResult {
        let length = flushed
        if let expectedLength, length != expectedLength {
            try integrityFailure(part, .length(expected: expectedLength, actual: length))
        }
        var digest: String?
        if let fileHasher {
            // Covers every byte of the .part as written (all of it re-read after a 416).
            var hasher = try fileHasher.drain()
            digest = hasher.finalizeHex()
        }
        if let expectedSHA256, let digest, digest != expectedSHA256 {
            try integrityFailure(part, .sha256(expected: expectedSHA256, actual: digest))
        }
        part.setMode(0o644)
        try part.sync()
        part.close()
        try SystemCallError.map(RangeResumeError.init) { () throws(SystemCallError) in
            try FileSystem.rename(partPath, destination)
        }
        try? FileSystem.syncDirectory(directory)
        FileSystem.remove(metaPath)
        progress.update(bytes: length, total: length, restarts: restarts, resumedFrom: resumedFrom, now: clock.now, force: true)
        return DownloadResult(fileURL: URL(fileURLWithPath: destination), length: length, sha256: digest,
                              resumedFrom: resumedFrom, bytesReceived: received, restarts: restarts,
                              sourceURL: url)
    }

    /// Deletes the `.part`, counts the failure in the sidecar and throws ``IntegrityError``.
    /// A permanent failure deletes the sidecar too: a later call starts over with one retry.
    private func integrityFailure(_ part: PartFile, _ mismatch: IntegrityError.Mismatch) throws -> Never {
        let permanent = sidecar.integrityFailures >= 1
        part.close()
        FileSystem.remove(partPath)
        if permanent {
            FileSystem.remove(metaPath)
        } else {
            sidecar = ResumeSidecar(url: url.absoluteString, validator: nil, length: nil, durable: 0,
                                    integrityFailures: sidecar.integrityFailures + 1)
            try? sidecar.save(to: metaPath)
        }
        try? FileSystem.syncDirectory(directory)
        throw IntegrityError(mismatch: mismatch, isPermanent: permanent)
    }
}
