import Foundation

/// The byte format of a ``FileJournalJobStore`` journal (version 1). All integers little-endian.
///
/// ```
/// header  (16 bytes)  magic "DRJOBS\n\u{1A}" (8) | format version u32 | CRC-32C of bytes 0..<12 u32
/// record  (8 + n)     payload length n u32 | CRC-32C of (length bytes ++ payload) u32 | payload (n)
/// payload             tag u8 | fields of the JobRecord case (see `encode(_:into:)`)
/// ```
/// Strings are a LEB128 length plus UTF-8 bytes; dates are the IEEE-754 bits of
/// `timeIntervalSinceReferenceDate` (exact round trip); optionals a 0/1 byte then the value.
enum JournalCodec {
    static let magic: [UInt8] = Array("DRJOBS\n".utf8) + [0x1A]
    static let formatVersion: UInt32 = 1
    static let headerSize = 16
    static let frameHeaderSize = 8
    /// Records above this are rejected on write and treated as damage on read (1 MiB; the
    /// field limits of ``DownloadJob`` keep real records far below it).
    static let maximumPayloadSize = 1 << 20

    struct DecodeError: Error {
        let reason: String
    }

    static func header() -> [UInt8] {
        var writer = ByteWriter()
        writer.bytes.append(contentsOf: magic)
        writer.u32(formatVersion)
        let crc = writer.bytes.withUnsafeBytes { CRC32C.checksum($0) }
        writer.u32(crc)
        return writer.bytes
    }

    /// Appends `record` framed (length, CRC, payload) to `writer`; returns the frame's size.
    @discardableResult
    static func appendFrame(_ record: JobRecord, to writer: inout ByteWriter) -> Int {
        let start = writer.bytes.count
        writer.u32(0)
        writer.u32(0)
        encode(record, into: &writer)
        let length = writer.bytes.count - start - frameHeaderSize
        writer.bytes.withUnsafeMutableBytes { buffer in
            buffer.storeBytes(of: UInt32(length).littleEndian, toByteOffset: start, as: UInt32.self)
            var crc = CRC32C.update(0, with: UnsafeRawBufferPointer(rebasing: buffer[start..<start + 4]))
            crc = CRC32C.update(crc, with: UnsafeRawBufferPointer(rebasing: buffer[(start + 8)...]))
            buffer.storeBytes(of: crc.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
        return length + frameHeaderSize
    }

    /// Checks the frame at `offset` of `bytes`. Returns the payload range, or `nil` when the
    /// frame is damaged or incomplete.
    static func validFrame(in bytes: UnsafeRawBufferPointer, at offset: Int) -> Range<Int>? {
        guard bytes.count - offset >= frameHeaderSize else { return nil }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        guard length > 0, length <= maximumPayloadSize, length <= bytes.count - offset - frameHeaderSize else { return nil }
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        var crc = CRC32C.update(0, with: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + 4]))
        let payload = offset + frameHeaderSize..<offset + frameHeaderSize + length
        crc = CRC32C.update(crc, with: UnsafeRawBufferPointer(rebasing: bytes[payload]))
        return crc == stored ? payload : nil
    }

    // MARK: Records

    private enum Tag: UInt8 {
        case enqueue = 1, claim, renew, progress, complete, retry, fail, cancel, expire, snapshot
        /// A retry that also merges metadata (added after version 1's first release: a journal
        /// holding one cannot be read by a version without it, which reports it as damage).
        case retryWithMetadata
        /// New URL and mirrors for a job, and merged metadata (added later, like
        /// `retryWithMetadata`: older journals never hold it, so they stay readable).
        case updateSources
        /// A lease released because its holder is gone (added later, like `updateSources`).
        case release
        /// `enqueue` and `snapshot` of a job with header fields: the job, then its headers
        /// (added later, like `release`; a job without headers is still written with the old tags,
        /// so journals of jobs without headers stay readable by earlier versions).
        case enqueueWithHeaders
        case snapshotWithHeaders
    }

    static func encode(_ record: JobRecord, into w: inout ByteWriter) {
        switch record {
        case .enqueue(let job):
            w.u8((job.headers.isEmpty ? Tag.enqueue : Tag.enqueueWithHeaders).rawValue)
            w.job(job)
            if !job.headers.isEmpty { w.metadata(job.headers) }
        case .snapshot(let job):
            w.u8((job.headers.isEmpty ? Tag.snapshot : Tag.snapshotWithHeaders).rawValue)
            w.job(job)
            if !job.headers.isEmpty { w.metadata(job.headers) }
        case .claim(let id, let owner, let expiry, let now):
            w.u8(Tag.claim.rawValue)
            w.uuid(id); w.string(owner); w.date(expiry); w.date(now)
        case .renew(let id, let owner, let expiry, let now):
            w.u8(Tag.renew.rawValue)
            w.uuid(id); w.string(owner); w.date(expiry); w.date(now)
        case .progress(let id, let owner, let done, let total, let now):
            w.u8(Tag.progress.rawValue)
            w.uuid(id); w.string(owner); w.i64(done); w.optional(total) { $0.i64($1) }; w.date(now)
        case .complete(let id, let owner, let now):
            w.u8(Tag.complete.rawValue)
            w.uuid(id); w.string(owner); w.date(now)
        case .retry(let id, let owner, let at, let error, let now):
            w.u8(Tag.retry.rawValue)
            w.uuid(id); w.string(owner); w.date(at); w.failure(error); w.date(now)
        case .retryWithMetadata(let id, let owner, let at, let error, let metadata, let now):
            w.u8(Tag.retryWithMetadata.rawValue)
            w.uuid(id); w.string(owner); w.date(at); w.failure(error); w.metadata(metadata); w.date(now)
        case .updateSources(let id, let url, let mirrors, let metadata, let now):
            w.u8(Tag.updateSources.rawValue)
            w.uuid(id); w.string(url.absoluteString); w.urls(mirrors); w.metadata(metadata); w.date(now)
        case .release(let id, let now):
            w.u8(Tag.release.rawValue)
            w.uuid(id); w.date(now)
        case .fail(let id, let owner, let error, let now):
            w.u8(Tag.fail.rawValue)
            w.uuid(id); w.string(owner); w.failure(error); w.date(now)
        case .cancel(let id, let now):
            w.u8(Tag.cancel.rawValue)
            w.uuid(id); w.date(now)
        case .expire(let id, let now):
            w.u8(Tag.expire.rawValue)
            w.uuid(id); w.date(now)
        }
    }

    static func decode(_ payload: UnsafeRawBufferPointer) throws(DecodeError) -> JobRecord {
        var r = ByteReader(payload)
        let tagByte = try r.u8()
        guard let tag = Tag(rawValue: tagByte) else { throw DecodeError(reason: "unknown record tag \(tagByte)") }
        let record: JobRecord
        switch tag {
        case .enqueue: record = .enqueue(try r.job())
        case .snapshot: record = .snapshot(try r.job())
        case .enqueueWithHeaders:
            var job = try r.job()
            job.headers = try r.metadata()
            record = .enqueue(job)
        case .snapshotWithHeaders:
            var job = try r.job()
            job.headers = try r.metadata()
            record = .snapshot(job)
        case .claim: record = .claim(id: try r.uuid(), owner: try r.string(), leaseExpiresAt: try r.date(), now: try r.date())
        case .renew: record = .renew(id: try r.uuid(), owner: try r.string(), leaseExpiresAt: try r.date(), now: try r.date())
        case .progress:
            record = .progress(id: try r.uuid(), owner: try r.string(), bytesDone: try r.i64(),
                               bytesTotal: try r.optional { r throws(DecodeError) in try r.i64() }, now: try r.date())
        case .complete: record = .complete(id: try r.uuid(), owner: try r.string(), now: try r.date())
        case .retry: record = .retry(id: try r.uuid(), owner: try r.string(), at: try r.date(), error: try r.failure(), now: try r.date())
        case .retryWithMetadata:
            record = .retryWithMetadata(id: try r.uuid(), owner: try r.string(), at: try r.date(), error: try r.failure(),
                                        metadata: try r.metadata(), now: try r.date())
        case .updateSources:
            record = .updateSources(id: try r.uuid(), url: try r.url(), mirrors: try r.urls(), metadata: try r.metadata(),
                                    now: try r.date())
        case .release: record = .release(id: try r.uuid(), now: try r.date())
        case .fail: record = .fail(id: try r.uuid(), owner: try r.string(), error: try r.failure(), now: try r.date())
        case .cancel: record = .cancel(id: try r.uuid(), now: try r.date())
        case .expire: record = .expire(id: try r.uuid(), now: try r.date())
        }
        guard r.isAtEnd else { throw DecodeError(reason: "\(r.remaining) trailing bytes in a \(tag) record") }
        return record
    }
}

/// Appends little-endian fields to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
    mutating func date(_ value: Date) { u64(value.timeIntervalSinceReferenceDate.bitPattern) }
    mutating func uuid(_ value: UUID) { withUnsafeBytes(of: value.uuid) { bytes.append(contentsOf: $0) } }

    mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func optional<T>(_ value: T?, _ write: (inout ByteWriter, T) -> Void) {
        if let value {
            u8(1)
            write(&self, value)
        } else {
            u8(0)
        }
    }

    mutating func failure(_ value: JobFailure) {
        string(value.message)
        u8(value.isRetryable ? 1 : 0)
    }

    mutating func job(_ job: DownloadJob) {
        uuid(job.id)
        string(job.url.absoluteString)
        urls(job.mirrors)
        string(job.destination)
        optional(job.expectedLength) { $0.i64($1) }
        optional(job.expectedSHA256) { $0.string($1) }
        i64(Int64(job.priority))
        u8(job.state.rawValue)
        varint(UInt64(bitPattern: Int64(job.attempts)))
        varint(UInt64(bitPattern: Int64(job.maxAttempts)))
        date(job.nextAttemptAt)
        i64(job.bytesDone)
        optional(job.bytesTotal) { $0.i64($1) }
        optional(job.lastError) { $0.failure($1) }
        optional(job.leaseOwner) { $0.string($1) }
        optional(job.leaseExpiresAt) { $0.date($1) }
        date(job.createdAt)
        date(job.updatedAt)
        metadata(job.metadata)
    }

    /// A count, then each URL as a string.
    mutating func urls(_ list: [URL]) {
        varint(UInt64(list.count))
        for url in list { string(url.absoluteString) }
    }

    /// A count, then each key and value, keys sorted (so equal maps encode equally).
    mutating func metadata(_ map: [String: String]) {
        varint(UInt64(map.count))
        for key in map.keys.sorted() {
            string(key)
            string(map[key] ?? "")
        }
    }
}

/// Reads what ``ByteWriter`` wrote, bounds-checked: malformed input throws, never traps.
struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    private var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var remaining: Int { buffer.count - offset }
    var isAtEnd: Bool { offset == buffer.count }

    private mutating func take(_ count: Int) throws(JournalCodec.DecodeError) -> Int {
        guard count >= 0, count <= remaining else { throw JournalCodec.DecodeError(reason: "field runs past the record end") }
        defer { offset += count }
        return offset
    }

    mutating func u8() throws(JournalCodec.DecodeError) -> UInt8 { buffer[try take(1)] }

    mutating func u64() throws(JournalCodec.DecodeError) -> UInt64 {
        UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: try take(8), as: UInt64.self))
    }

    mutating func i64() throws(JournalCodec.DecodeError) -> Int64 { Int64(bitPattern: try u64()) }

    mutating func int() throws(JournalCodec.DecodeError) -> Int {
        let value = Int64(bitPattern: try varint())
        guard let result = Int(exactly: value) else { throw JournalCodec.DecodeError(reason: "integer out of range") }
        return result
    }

    mutating func date() throws(JournalCodec.DecodeError) -> Date {
        let seconds = Double(bitPattern: try u64())
        guard seconds.isFinite else { throw JournalCodec.DecodeError(reason: "date is not finite") }
        return Date(timeIntervalSinceReferenceDate: seconds)
    }

    mutating func uuid() throws(JournalCodec.DecodeError) -> UUID {
        let start = try take(16)
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[start..<start + 16])) }
        return UUID(uuid: value)
    }

    mutating func varint() throws(JournalCodec.DecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try u8()
            guard shift < 64 else { throw JournalCodec.DecodeError(reason: "varint too long") }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    mutating func count() throws(JournalCodec.DecodeError) -> Int {
        let value = try varint()
        guard value <= UInt64(remaining) else { throw JournalCodec.DecodeError(reason: "length \(value) runs past the record end") }
        return Int(value)
    }

    mutating func string() throws(JournalCodec.DecodeError) -> String {
        let length = try count()
        let start = try take(length)
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[start..<start + length]), as: UTF8.self)
    }

    mutating func url() throws(JournalCodec.DecodeError) -> URL {
        let text = try string()
        guard let url = URL(string: text) else { throw JournalCodec.DecodeError(reason: "invalid URL") }
        return url
    }

    mutating func optional<T>(_ read: (inout ByteReader) throws(JournalCodec.DecodeError) -> T) throws(JournalCodec.DecodeError) -> T? {
        switch try u8() {
        case 0: return nil
        case 1: return try read(&self)
        case let flag: throw JournalCodec.DecodeError(reason: "bad optional flag \(flag)")
        }
    }

    mutating func bool() throws(JournalCodec.DecodeError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        case let flag: throw JournalCodec.DecodeError(reason: "bad boolean \(flag)")
        }
    }

    mutating func failure() throws(JournalCodec.DecodeError) -> JobFailure {
        JobFailure(message: try string(), isRetryable: try bool())
    }

    /// What ``ByteWriter/urls(_:)`` wrote.
    mutating func urls() throws(JournalCodec.DecodeError) -> [URL] {
        let count = try count()
        var list: [URL] = []
        for _ in 0..<count { list.append(try url()) }
        return list
    }

    mutating func job() throws(JournalCodec.DecodeError) -> DownloadJob {
        let id = try uuid()
        let url = try url()
        var job = DownloadJob(id: id, url: url, mirrors: try urls(), destination: try string())
        job.expectedLength = try optional { r throws(JournalCodec.DecodeError) in try r.i64() }
        job.expectedSHA256 = try optional { r throws(JournalCodec.DecodeError) in try r.string() }
        let priority = try i64()
        guard let priority = Int(exactly: priority) else { throw JournalCodec.DecodeError(reason: "priority out of range") }
        job.priority = priority
        let stateByte = try u8()
        guard let state = JobState(rawValue: stateByte) else { throw JournalCodec.DecodeError(reason: "bad state \(stateByte)") }
        job.state = state
        job.attempts = try int()
        job.maxAttempts = try int()
        job.nextAttemptAt = try date()
        job.bytesDone = try i64()
        job.bytesTotal = try optional { r throws(JournalCodec.DecodeError) in try r.i64() }
        job.lastError = try optional { r throws(JournalCodec.DecodeError) in try r.failure() }
        job.leaseOwner = try optional { r throws(JournalCodec.DecodeError) in try r.string() }
        job.leaseExpiresAt = try optional { r throws(JournalCodec.DecodeError) in try r.date() }
        job.createdAt = try date()
        job.updatedAt = try date()
        job.metadata = try metadata()
        return job
    }

    /// Reads what ``ByteWriter/metadata(_:)`` wrote.
    mutating func metadata() throws(JournalCodec.DecodeError) -> [String: String] {
        var map: [String: String] = [:]
        let entries = try count()
        for _ in 0..<entries {
            let key = try string()
            map[key] = try string()
        }
        return map
    }
}
