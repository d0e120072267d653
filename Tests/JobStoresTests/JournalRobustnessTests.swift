import Foundation
@testable import JobStores
import ResilienceTesting
import Testing

/// Bad input never crashes the journal reader: it gives a typed error, or truncates a damaged
/// tail, and never invents a job.
@Suite("Journal robustness")
struct JournalRobustnessTests {
    /// A valid journal holding every record type, its jobs, and the end offset of every record.
    struct Sample {
        let bytes: [UInt8]
        let jobs: [DownloadJob]
        let recordEnds: [Int]
    }

    static func sample() async throws -> Sample {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try FileJournalJobStore(path: directory.journal, durability: .none)
        _ = try await FileJournalJobStoreTests.churn(store)
        let jobs = try await store.jobs(matching: .all)
        await store.close()
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory.journal)))
        var ends: [Int] = []
        var offset = JournalCodec.headerSize
        while offset < bytes.count {
            let length = bytes[offset..<offset + 4].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            offset += 8 + length
            ends.append(offset)
        }
        return Sample(bytes: bytes, jobs: jobs, recordEnds: ends)
    }

    /// Writes `bytes` as a journal and opens it.
    static func open(_ bytes: [UInt8], in directory: TemporaryDirectory) throws -> FileJournalJobStore {
        try Data(bytes).write(to: URL(fileURLWithPath: directory.journal))
        return try FileJournalJobStore(path: directory.journal, durability: .none)
    }

    static func fileBytes(_ directory: TemporaryDirectory) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory.journal)))
    }

    @Test func zeroLengthFileBecomesAnEmptyJournal() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try Self.open([], in: directory)
        #expect(store.recoveryReport.createdJournal && store.recoveryReport.jobCount == 0)
        #expect(try Self.fileBytes(directory) == JournalCodec.header())
    }

    @Test func randomBytesAreNotAJournal() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var generator = SeededRandomNumberGenerator(seed: 3)
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(throws: JobStoreError.notAJournal(path: directory.journal)) { try Self.open(noise, in: directory) }
        #expect(try Self.fileBytes(directory) == noise)
        #expect(throws: JobStoreError.notAJournal(path: directory.journal)) { try Self.open(Array("DRJ0".utf8), in: directory) }
    }

    @Test func newerFormatVersionIsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var writer = ByteWriter()
        writer.bytes = JournalCodec.magic
        writer.u32(2)
        let crc = CRC32C.checksum(writer.bytes)
        writer.u32(crc)
        #expect(throws: JobStoreError.unsupportedFormatVersion(found: 2, supported: 1)) { try Self.open(writer.bytes, in: directory) }
    }

    @Test func damagedHeaderIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var bytes = try await Self.sample().bytes
        bytes[13] ^= 0x01  // inside the header checksum
        #expect(throws: JobStoreError.corruptHeader(path: directory.journal)) { try Self.open(bytes, in: directory) }
        #expect(throws: JobStoreError.corruptHeader(path: directory.journal)) {
            try Self.open(JournalCodec.magic + [9], in: directory)
        }
    }

    @Test func truncationAtEveryOffsetKeepsACommittedPrefix() async throws {
        let sample = try await Self.sample()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let ids = Set(sample.jobs.map(\.id))
        for cut in stride(from: 0, through: sample.bytes.count, by: 7) {
            await Task.yield()   // a long loop of synchronous opens: let the other tests run too
            let store = try Self.open(Array(sample.bytes.prefix(cut)), in: directory)
            let report = store.recoveryReport
            let completeRecords = sample.recordEnds.filter { $0 <= cut }.count
            #expect(report.recordsReplayed == (cut < JournalCodec.headerSize ? 0 : completeRecords), "cut at \(cut)")
            #expect(Set(try await store.jobs(matching: .all).map(\.id)).isSubset(of: ids))
            let expectedEnd = cut < JournalCodec.headerSize ? JournalCodec.headerSize : (sample.recordEnds.last { $0 <= cut } ?? JournalCodec.headerSize)
            #expect(try Self.fileBytes(directory).count == expectedEnd, "cut at \(cut): the torn tail was not truncated")
            await store.close()
        }
    }

    @Test func absurdLengthOrZeroFillAtTheTailIsTruncated() async throws {
        let sample = try await Self.sample()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        for tail in [[0xF0, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4, 5], [UInt8](repeating: 0, count: 4096)] as [[UInt8]] {
            let store = try Self.open(sample.bytes + tail, in: directory)
            #expect(store.recoveryReport.truncatedBytes == Int64(tail.count))
            #expect(store.recoveryReport.truncationReason?.contains("offset \(sample.bytes.count)") == true)
            #expect(try await store.jobs(matching: .all) == sample.jobs)
            await store.close()
            #expect(try Self.fileBytes(directory) == sample.bytes)
        }
    }

    @Test func corruptionInTheMiddleNamesTheOffsetAndLeavesTheFile() async throws {
        let sample = try await Self.sample()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let second = sample.recordEnds[0]  // offset of the second record
        for (position, value) in [(second + 12, nil), (second, UInt8(0xFF)), (second + 3, UInt8(0x7F))] as [(Int, UInt8?)] {
            var bytes = sample.bytes
            bytes[position] = value ?? bytes[position] ^ 0x20
            do {
                _ = try Self.open(bytes, in: directory)
                Issue.record("a damaged record at \(second) was accepted")
            } catch let JobStoreError.corruptJournal(path, offset, reason) {
                #expect(path == directory.journal && offset == Int64(second), "\(reason)")
            }
            #expect(try Self.fileBytes(directory) == bytes, "the file was modified")
        }
    }

    @Test func damageTooCostlyToClassifyIsRefusedNotTruncated() async throws {
        let sample = try await Self.sample()
        // A damaged region full of plausible record lengths: classifying it costs checksum work.
        var bytes = sample.bytes + [0xFF, 0xFF, 0xFF, 0xFF]
        for _ in 0..<64 { bytes += [200, 0, 0, 0] }
        do {
            _ = try bytes.withUnsafeBytes { try JournalReplay.replay($0, path: "p", scanBudget: 1_000) }
            Issue.record("an unclassifiable damaged region was accepted")
        } catch let JobStoreError.corruptJournal(_, offset, reason) {
            #expect(offset == Int64(sample.bytes.count) && reason.contains("too large to classify"))
        }
        // With the default budget the same bytes are a torn tail.
        let replay = try bytes.withUnsafeBytes { try JournalReplay.replay($0, path: "p") }
        #expect(replay.validEnd == sample.bytes.count && replay.damage != nil)
    }

    /// 10,000 seeded random mutations (byte flips, overwrites, truncations, insertions) of a valid
    /// journal, read by the same replay `FileJournalJobStore.init` runs; every 40th one also goes
    /// through a real open of the file. Nothing crashes, every error is a `JobStoreError`, and no
    /// job appears that the original journal did not have.
    @Test func fuzzedJournalsNeverCrashNorInventJobs() async throws {
        let sample = try await Self.sample()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let original = Dictionary(uniqueKeysWithValues: sample.jobs.map { ($0.id, $0) })
        var generator = SeededRandomNumberGenerator(seed: 0x5EED)
        var outcomes = (opened: 0, truncated: 0, refused: 0)
        for iteration in 0..<10_000 {
            // Seconds of CPU work: hand the thread back now and then, or the whole run's other
            // tests (two cooperative threads here) wait behind it.
            if iteration % 50 == 0 { await Task.yield() }
            var bytes = sample.bytes
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                guard !bytes.isEmpty else { break }
                let position = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
                case 1: bytes[position] = UInt8.random(in: 0...255, using: &generator)
                case 2: bytes.removeSubrange(position...)
                default: bytes.insert(contentsOf: (0..<Int.random(in: 1...16, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator) }, at: position)
                }
            }
            let jobs: [DownloadJob]
            do {
                if iteration % 40 == 0 {
                    let store = try Self.open(bytes, in: directory)
                    jobs = try await store.jobs(matching: .all)
                    await store.close()
                } else {
                    let replay = try bytes.withUnsafeBytes { try JournalReplay.replay($0, path: "fuzz") }
                    jobs = replay.table.jobs(matching: .all)
                    if replay.damage != nil { outcomes.truncated += 1 }
                }
                outcomes.opened += 1
            } catch is JobStoreError {
                outcomes.refused += 1
                continue
            }
            for job in jobs {
                let known = original[job.id]
                #expect(known != nil, "iteration \(iteration) invented job \(job.id)")
                #expect(known?.url == job.url && known?.destination == job.destination, "iteration \(iteration) altered job \(job.id)")
            }
        }
        // The mutations must have exercised both outcomes, or the test proves little.
        #expect(outcomes.truncated > 100 && outcomes.refused > 100, "\(outcomes)")
    }
}
