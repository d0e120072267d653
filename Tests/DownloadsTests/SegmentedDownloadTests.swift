import Foundation
@testable import Downloads
import RangeResume
import ResilienceTesting
import ResilienceRetry
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `SegmentedDownload` against `FaultyHTTPServer`: faults on segments, restart after a crash,
/// a validator change mid-way, struggling segments, and the fallbacks.
@Suite("SegmentedDownload")
struct SegmentedDownloadTests {
    static let size = 1 << 20
    static let engines: [RangeResumer.Engine] = [.urlSession, .posixSockets]
    /// Zero backoff: retries happen at once, no clock to drive.
    static let immediate = try! RetryPolicy(maxAttempts: 20, backoff: .constant(.zero), maxRetryAfter: .zero)
    /// A fault that changes nothing (its offset lies past every body): fills a queue slot.
    static let noFault = HTTPFault.corruptByte(atOffset: Int.max)

    final class Fixture: Sendable {
        let server: FaultyHTTPServer
        let dir: ScratchDirectory
        let body: [UInt8]
        var url: URL { server.url(for: "/big.bin") }
        var destination: URL { dir.file("big.bin") }
        var sidecar: URL { SegmentedDownload.sidecarURL(for: destination) }
        var part: URL { URL(fileURLWithPath: destination.path + ".part") }
        var etag: String? { server.resource(at: "/big.bin")?.etag }

        init(size: Int = SegmentedDownloadTests.size, seed: UInt64 = 21) throws {
            server = try FaultyHTTPServer()
            dir = try ScratchDirectory()
            body = seededBytes(size, seed: seed)
            _ = server.serve(body, at: "/big.bin")
        }

        deinit {
            server.stop()
            dir.cleanup()
        }

        /// Body bytes the server sent for requests from `index` on, the 1-byte probes excluded.
        func bytesServed(from index: Int) -> Int {
            server.requests(for: "/big.bin").filter { $0.index >= index && $0.range != "bytes=0-0" }
                .reduce(0) { $0 + $1.bodyBytesSent }
        }
    }

    static func configuration(connections: Int = 4, minimumSegmentSize: Int64 = 64 << 10,
                              policy: RetryPolicy = immediate, maxRequeues: Int = 16,
                              transfer: RangeResumer.Configuration = .init(checkpointInterval: 64 << 10)) -> SegmentedDownloadConfiguration {
        SegmentedDownloadConfiguration(connections: connections, segmentationThreshold: 0, minimumSegmentSize: minimumSegmentSize,
                                       retryPolicy: policy, maxRequeues: maxRequeues, transfer: transfer)
    }

    @Test(arguments: Self.engines) func byteExactWithSeededFaultsOnSegments(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        fixture.server.setRandomFaults(rate: 0.3, seed: 7, kinds: [
            .dropAfter(bytes: 10_000), .resetAfter(bytes: 20_000), .status(503), .closeWithoutResponse, .wrongContentRange,
        ], for: "/big.bin")
        let digest = SHA256Hasher.hex(of: fixture.body)
        let snapshots = SnapshotLog()
        let result = try await SegmentedDownload(configuration: Self.configuration(), engine: engine)
            .download(from: fixture.url, to: fixture.destination, expectedSHA256: digest, clock: ManualClock()) {
                snapshots.append($0)
            }
        // ManualClock never advances: the first snapshot and the forced final one.
        #expect(snapshots.all.first?.bytes == 0 && snapshots.all.last?.bytes == Int64(Self.size))
        #expect(snapshots.all.allSatisfy { $0.totalBytes == Int64(Self.size) })
        #expect(result.isSegmented && result.segments == 4 && result.download.sha256 == digest)
        #expect(contents(of: fixture.destination) == Data(fixture.body))
        #expect(!exists(fixture.part) && !exists(fixture.sidecar))
        let sent = fixture.server.requests(for: "/big.bin")
        #expect(sent.contains { $0.fault != nil } && result.failedRequests > 0)
        #expect(sent.allSatisfy { $0.headers["Accept-Encoding"] == "identity" && $0.range != nil })
        #expect(sent.filter { $0.range != "bytes=0-0" }.allSatisfy { $0.ifRange == fixture.etag })
    }

    @Test(arguments: Self.engines) func restartAfterACrashFetchesOnlyMissingBytes(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        // Run 1 dies: one segment is cut after 10,000 bytes and nothing may be retried; the other
        // segments are cancelled wherever they are (like a crash, but with their checkpoints).
        fixture.server.enqueueFaults([Self.noFault, .dropAfter(bytes: 10_000)], for: "/big.bin")
        let once = try RetryPolicy(maxAttempts: 1)
        await #expect(throws: IncompleteDownloadError.self) {
            try await SegmentedDownload(configuration: Self.configuration(policy: once, maxRequeues: 0), engine: engine)
                .download(from: fixture.url, to: fixture.destination, clock: ManualClock())
        }
        let saved = try #require(SegmentSidecar.load(from: fixture.sidecar.path))
        let durable = saved.segments.reduce(Int64(0)) { $0 + $1.done }
        #expect(durable >= 10_000 && durable < Int64(Self.size) && exists(fixture.part) && !exists(fixture.destination))
        let firstOfRun2 = fixture.server.requests.count

        let result = try await SegmentedDownload(configuration: Self.configuration(), engine: engine)
            .download(from: fixture.url, to: fixture.destination, clock: ManualClock())
        #expect(contents(of: fixture.destination) == Data(fixture.body))
        #expect(result.download.resumedFrom == durable && result.download.bytesReceived == Int64(Self.size) - durable)
        #expect(fixture.bytesServed(from: firstOfRun2) == Self.size - Int(durable))
        // Every range of run 2 starts where a checkpoint ended, none at a segment's first byte
        // when that segment had progress.
        let run2Ranges = Set(fixture.server.requests(for: "/big.bin").filter { $0.index >= firstOfRun2 }.compactMap(\.range))
        for segment in saved.segments where !segment.isComplete {
            #expect(run2Ranges.contains("bytes=\(segment.next)-\(segment.last)"))
        }
    }

    @Test func sigkillMidDownloadThenRestartFetchesOnlyMissingBytes() async throws {
        let fixture = try Fixture()
        // Segment requests trickle (2 kB/s each: 131 s per segment, the kill due after about 20)
        // so the kill lands mid-download even when this test reads the child's lines late (at
        // 5 kB/s a run on a loaded machine read them more than 44 s late).
        fixture.server.enqueueFaults([Self.noFault] + Array(repeating: .trickle(bytesPerSecond: 2_000), count: 4),
                                     for: "/big.bin")
        let child = try ChildProcess(executable: ChildProcess.siblingExecutable(named: "SegmentedDownloadChild"),
                                     arguments: [fixture.url.absoluteString, fixture.destination.path])
        while let line = await child.nextLine() {
            if line.hasPrefix("progress "), let bytes = Int(line.dropFirst(9)), bytes >= 160 << 10 { break }
            if line.hasPrefix("error") || line == "done" { Issue.record("child ended before the kill: \(line)"); return }
        }
        child.kill(SIGKILL)
        _ = await child.exitStatus
        #expect(!child.lines.contains("done"), "the child finished before the kill")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: fixture.dir.url.path)) ?? []
        let saved = try #require(SegmentSidecar.load(from: fixture.sidecar.path),
                                 "child said \(child.lines.suffix(3)), files \(files), requests \(fixture.server.requests)")
        let durable = saved.segments.reduce(Int64(0)) { $0 + $1.done }
        #expect(durable > 0 && durable < Int64(Self.size) && !exists(fixture.destination))
        let firstOfRun2 = fixture.server.requests.count

        let result = try await SegmentedDownload(configuration: Self.configuration())
            .download(from: fixture.url, to: fixture.destination, clock: ManualClock())
        #expect(contents(of: fixture.destination) == Data(fixture.body))
        #expect(result.download.resumedFrom == durable)
        #expect(fixture.bytesServed(from: firstOfRun2) == Self.size - Int(durable))
    }

    @Test(arguments: Self.engines) func etagChangeMidwayRestartsWithoutSplicing(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        let oldETag = fixture.etag
        fixture.server.enqueueFaults([Self.noFault, Self.noFault, .changeETag], for: "/big.bin")
        let result = try await SegmentedDownload(configuration: Self.configuration(connections: 2), engine: engine)
            .download(from: fixture.url, to: fixture.destination, clock: ManualClock())
        #expect(result.download.restarts == 1 && result.isSegmented)
        #expect(contents(of: fixture.destination) == Data(fixture.body))
        let newETag = try #require(fixture.etag)
        #expect(newETag != oldETag)
        let sent = fixture.server.requests(for: "/big.bin")
        let secondProbe = try #require(sent.lastIndex { $0.range == "bytes=0-0" })
        #expect(secondProbe >= 3)
        #expect(sent[(secondProbe + 1)...].allSatisfy { $0.ifRange == newETag })
        #expect(sent[(secondProbe + 1)...].reduce(0) { $0 + $1.bodyBytesSent } == Self.size)
    }

    @Test func strugglingSegmentsAreSplit() async throws {
        let fixture = try Fixture()
        // The first two requests of both segments trickle far below the minimum speed.
        fixture.server.enqueueFaults([Self.noFault] + Array(repeating: .trickle(bytesPerSecond: 5_000), count: 4), for: "/big.bin")
        let transfer = RangeResumer.Configuration(minimumSpeed: .init(bytesPerSecond: 100_000, window: .milliseconds(200)),
                                                  checkpointInterval: 64 << 10)
        let result = try await SegmentedDownload(configuration: Self.configuration(connections: 2, transfer: transfer))
            .download(from: fixture.url, to: fixture.destination)
        #expect(result.splits == 2 && result.segments == 4 && result.relievedSegments == 0)
        #expect(contents(of: fixture.destination) == Data(fixture.body))
    }

    @Test func strugglingSegmentsTooSmallToSplitAreRelievedOfTheMinimumSpeed() async throws {
        let fixture = try Fixture()
        fixture.server.enqueueFaults([Self.noFault] + Array(repeating: .trickle(bytesPerSecond: 5_000), count: 4), for: "/big.bin")
        let transfer = RangeResumer.Configuration(minimumSpeed: .init(bytesPerSecond: 100_000, window: .milliseconds(200)),
                                                  checkpointInterval: 64 << 10)
        let configuration = Self.configuration(connections: 2, minimumSegmentSize: Int64(Self.size / 2), transfer: transfer)
        let result = try await SegmentedDownload(configuration: configuration)
            .download(from: fixture.url, to: fixture.destination)
        #expect(result.splits == 0 && result.segments == 2 && result.relievedSegments == 2)
        #expect(contents(of: fixture.destination) == Data(fixture.body))
    }

    @Test(arguments: Self.engines) func serverWithoutRangesFallsBackToRangeResumer(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        fixture.server.enqueueFaults([.ignoreRange], for: "/big.bin")
        let result = try await SegmentedDownload(configuration: Self.configuration(), engine: engine)
            .download(from: fixture.url, to: fixture.destination, clock: ManualClock())
        #expect(!result.isSegmented && result.segments == 1)
        #expect(contents(of: fixture.destination) == Data(fixture.body))
        let sent = fixture.server.requests(for: "/big.bin")
        #expect(sent.count == 2 && sent[0].status == 200 && sent[1].range == engine.rangeField(from: 0))
    }

    @Test func smallFileFallsBackToRangeResumer() async throws {
        let fixture = try Fixture(size: 100_000)
        let result = try await SegmentedDownload().download(from: fixture.url, to: fixture.destination, clock: ManualClock())
        #expect(!result.isSegmented && contents(of: fixture.destination) == Data(fixture.body))
    }

    @Test func wrongSHA256DeletesThePartAndThrows() async throws {
        let fixture = try Fixture()
        let error = await #expect(throws: IntegrityError.self) {
            try await SegmentedDownload(configuration: Self.configuration())
                .download(from: fixture.url, to: fixture.destination, expectedSHA256: String(repeating: "0", count: 64),
                          clock: ManualClock())
        }
        #expect(error != nil && !exists(fixture.part) && !exists(fixture.sidecar) && !exists(fixture.destination))
    }

    @Test func planSplitAndSidecarRoundTrip() {
        let plan = Segment.plan(total: 10, count: 3)
        #expect(plan.map(\.first) == [0, 4, 7] && plan.map(\.last) == [3, 6, 9])
        var segment = Segment(first: 100, last: 199, done: 20)
        let tail = segment.split(minimum: 10)
        #expect(segment.last == 159 && tail == Segment(first: 160, last: 199, done: 0))
        var small = Segment(first: 0, last: 9, done: 0)
        #expect(small.split(minimum: 6) == nil)
        let sidecar = SegmentSidecar(url: "http://x/y", validator: "\"e\"", length: 10,
                                     segments: [Segment(first: 5, last: 9, done: 5), Segment(first: 0, last: 4, done: 2)])
        #expect(SegmentSidecar(decoding: sidecar.encoded()) == sidecar)
        var gap = sidecar
        gap.segments[0].first = 6
        #expect(SegmentSidecar(decoding: gap.encoded()) == nil)
    }
}

/// Progress snapshots collected from segment tasks.
final class SnapshotLog: @unchecked Sendable {
    // @unchecked Sendable: `snapshots` is only touched while holding `lock`.
    private let lock = NSLock()
    private var snapshots: [DownloadProgress] = []
    func append(_ snapshot: DownloadProgress) { lock.withLock { snapshots.append(snapshot) } }
    var all: [DownloadProgress] { lock.withLock { snapshots } }
}
