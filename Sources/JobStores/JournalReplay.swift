import Foundation

/// Rebuilds a ``JobTable`` from journal bytes, and decides what damage is a torn tail (truncate)
/// and what is corruption in the middle (refuse).
struct JournalReplay {
    var table = JobTable()
    /// Bytes up to the end of the last valid record.
    var validEnd = 0
    var records = 0
    /// Estimated size of a snapshot of the live state (sum of enqueue/snapshot frames + slack).
    var liveBytes: Int64 = 0
    /// Why the bytes after ``validEnd`` are damage, if there are any.
    var damage: String?
    /// `true` when the file held no complete header and must be (re)initialised.
    var needsHeader = false

    /// Slack added per job to the live-size estimate for lease, progress and error fields.
    static let perJobSlack: Int64 = 16

    /// Replays `bytes` (a whole journal file).
    /// - Throws: ``JobStoreError/notAJournal(path:)``, ``JobStoreError/corruptHeader(path:)``,
    ///   ``JobStoreError/unsupportedFormatVersion(found:supported:)``, or
    ///   ``JobStoreError/corruptJournal(path:offset:reason:)`` for damage before the tail.
    /// `scanBudget` bounds the work spent classifying damage (see ``scanBudget``).
    static func replay(_ bytes: UnsafeRawBufferPointer, path: String, scanBudget: Int = scanBudget) throws(JobStoreError) -> JournalReplay {
        var replay = JournalReplay()
        let header = JournalCodec.header()
        guard bytes.count >= JournalCodec.headerSize else {
            // A crash while the header was being written leaves a prefix of it (or nothing).
            guard bytes.elementsEqual(header.prefix(bytes.count)) else {
                let magicLength = min(bytes.count, JournalCodec.magic.count)
                if !bytes.prefix(magicLength).elementsEqual(JournalCodec.magic.prefix(magicLength)) {
                    throw .notAJournal(path: path)
                }
                throw .corruptHeader(path: path)
            }
            replay.needsHeader = true
            return replay
        }
        guard bytes.prefix(JournalCodec.magic.count).elementsEqual(JournalCodec.magic) else { throw .notAJournal(path: path) }
        let version = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        if version > JournalCodec.formatVersion {
            throw .unsupportedFormatVersion(found: version, supported: JournalCodec.formatVersion)
        }
        guard bytes.prefix(JournalCodec.headerSize).elementsEqual(header) else { throw .corruptHeader(path: path) }

        var offset = JournalCodec.headerSize
        while offset < bytes.count {
            guard let payload = JournalCodec.validFrame(in: bytes, at: offset) else {
                let reason = describeDamage(in: bytes, at: offset)
                switch nextValidFrame(in: bytes, after: offset, budget: scanBudget) {
                case .found(let next):
                    guard let boundary = unsyncedHole(in: bytes, at: offset) else {
                        throw .corruptJournal(path: path, offset: Int64(offset),
                                              reason: "\(reason), followed by a valid record at offset \(next)")
                    }
                    replay.damage = "\(reason) at offset \(offset): zeros up to the block boundary at \(boundary), "
                        + "a write lost by a power cut (the records after it were never synced)"
                case .undecided:
                    throw .corruptJournal(path: path, offset: Int64(offset),
                                          reason: "\(reason), in a damaged region too large to classify as a torn tail")
                case .none:
                    replay.damage = "\(reason) at offset \(offset)"
                }
                break
            }
            do {
                let record = try JournalCodec.decode(UnsafeRawBufferPointer(rebasing: bytes[payload]))
                try replay.table.applyInPlace(record)
                switch record {
                case .enqueue, .snapshot: replay.liveBytes += Int64(payload.count + JournalCodec.frameHeaderSize) + perJobSlack
                default: break
                }
            } catch let error as JournalCodec.DecodeError {
                throw .corruptJournal(path: path, offset: Int64(offset), reason: "undecodable record: \(error.reason)")
            } catch {
                throw .corruptJournal(path: path, offset: Int64(offset), reason: "record cannot be applied: \(error)")
            }
            replay.records += 1
            offset = payload.upperBound
        }
        replay.validEnd = offset
        return replay
    }

    /// The block size below which a lost write leaves zeros: the smallest page size in use.
    static let holeBlockSize = 4096

    /// If the damage at `offset` reads as zeros up to the next block boundary (past `offset`),
    /// returns that boundary. That is what a power cut leaves when appends made after the last
    /// `fdatasync` reached the disk out of order (group commit, `.none`): the block holding the
    /// start of a record was not written back while a later block was. A sync writes back every
    /// block of the file, so no record from the hole on was ever synced: it is a torn tail, not
    /// corruption of committed records.
    private static func unsyncedHole(in bytes: UnsafeRawBufferPointer, at offset: Int) -> Int? {
        let boundary = (offset / holeBlockSize + 1) * holeBlockSize
        guard boundary <= bytes.count else { return nil }
        return bytes[offset..<boundary].allSatisfy { $0 == 0 } ? boundary : nil
    }

    private static func describeDamage(in bytes: UnsafeRawBufferPointer, at offset: Int) -> String {
        let remaining = bytes.count - offset
        guard remaining >= JournalCodec.frameHeaderSize else { return "incomplete record header (\(remaining) bytes)" }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        if length == 0 || length > JournalCodec.maximumPayloadSize { return "implausible record length \(length)" }
        if length > remaining - JournalCodec.frameHeaderSize { return "record of \(length) bytes cut short" }
        return "checksum mismatch"
    }

    enum Scan: Equatable {
        case found(Int)
        case none
        /// The scan exceeded its work budget: refuse rather than risk truncating good records.
        case undecided
    }

    /// Checksum work allowed while classifying damage (bytes hashed): bounds the time a
    /// maliciously crafted file can take to open.
    static let scanBudget = 256 << 20

    /// Looks for a valid frame after `offset`, byte by byte. Used only on damage, to tell a torn
    /// tail (nothing valid after it) from corruption in the middle.
    private static func nextValidFrame(in bytes: UnsafeRawBufferPointer, after offset: Int, budget: Int) -> Scan {
        var candidate = offset + 1
        var budget = budget
        while bytes.count - candidate > JournalCodec.frameHeaderSize {
            let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: candidate, as: UInt32.self)))
            if length > 0, length <= JournalCodec.maximumPayloadSize, length <= bytes.count - candidate - JournalCodec.frameHeaderSize {
                budget -= length
                if budget < 0 { return .undecided }
                if JournalCodec.validFrame(in: bytes, at: candidate) != nil { return .found(candidate) }
            }
            candidate += 1
        }
        return .none
    }
}
