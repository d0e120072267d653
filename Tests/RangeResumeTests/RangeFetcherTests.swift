import Foundation
@testable import RangeResume
import ResilienceSupport
import ResilienceTesting
import ResilienceRetry
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `RangeFetcher` (one byte range into an offset of an open file) and its probe, with both
/// engines, against `FaultyHTTPServer`.
@Suite("RangeFetcher against FaultyHTTPServer")
struct RangeFetcherTests {
    static let size = 256 << 10
    static let engines: [RangeResumer.Engine] = [.urlSession, .posixSockets]

    /// A served random file and an open, empty target file.
    final class Fixture: Sendable {
        let server: FaultyHTTPServer
        let dir: TemporaryDirectory
        let body: [UInt8]
        let resource: HTTPResource
        let fd: Int32
        var url: URL { server.url(for: "/file.bin") }
        var target: URL { dir.file("target.bin") }

        init() throws {
            server = try FaultyHTTPServer()
            dir = try TemporaryDirectory()
            body = randomBytes(RangeFetcherTests.size, seed: 11)
            resource = server.serve(body, at: "/file.bin")
            fd = open(dir.file("target.bin").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        }

        /// The bytes of the target file at `range` (zeros where nothing was written).
        func written(_ range: ClosedRange<Int>) -> [UInt8] {
            let bytes = fileBytes(target) ?? []
            return range.map { $0 < bytes.count ? bytes[$0] : 0 }
        }

        deinit {
            close(fd)
            server.stop()
            dir.cleanup()
        }
    }

    @Test(arguments: Self.engines) func probeReportsRangesLengthAndValidator(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        let probe = try await RangeFetcher(engine: engine).probe(fixture.url)
        #expect(probe.supportsRanges && probe.isSegmentable)
        #expect(probe.totalLength == Int64(Self.size) && probe.validator == fixture.resource.etag)
        let sent = fixture.server.requests(for: "/file.bin")
        #expect(sent.count == 1 && sent[0].range == "bytes=0-0" && sent[0].headers["Accept-Encoding"] == "identity")
    }

    @Test(arguments: Self.engines) func probeOfAServerIgnoringRangesSaysSo(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        fixture.server.enqueueFaults([.ignoreRange], for: "/file.bin")
        let probe = try await RangeFetcher(engine: engine).probe(fixture.url)
        #expect(!probe.supportsRanges && !probe.isSegmentable && probe.totalLength == Int64(Self.size))
    }

    @Test(arguments: Self.engines) func fetchWritesTheRangeAtItsOffsetWithTheRightHeaders(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        var durable: [Int64] = []
        let count = try await RangeFetcher(engine: engine).fetch(
            from: fixture.url, bytes: 100_000...199_999, totalLength: Int64(Self.size),
            validator: fixture.resource.etag, into: fixture.fd, onDurable: { durable.append($0) })
        #expect(count == 100_000 && durable.last == 100_000)
        #expect(fixture.written(100_000...199_999) == Array(fixture.body[100_000...199_999]))
        #expect(fixture.written(0...99_999).allSatisfy { $0 == 0 })
        let sent = try #require(fixture.server.requests(for: "/file.bin").first)
        #expect(sent.range == "bytes=100000-199999" && sent.ifRange == fixture.resource.etag)
        #expect(sent.headers["Accept-Encoding"] == "identity" && sent.status == 206)
    }

    @Test(arguments: Self.engines) func truncatedBodyIsIncompleteAndTheDurablePrefixResumes(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        fixture.server.enqueueFaults([.dropAfter(bytes: 30_000)], for: "/file.bin")
        let fetcher = RangeFetcher(engine: engine)
        var durable: Int64 = 0
        await #expect(throws: IncompleteDownloadError.self) {
            try await fetcher.fetch(from: fixture.url, bytes: 50_000...149_999, totalLength: Int64(Self.size),
                                    validator: fixture.resource.etag, into: fixture.fd, onDurable: { durable = $0 })
        }
        #expect(durable > 0 && durable <= 30_000)
        try await fetcher.fetch(from: fixture.url, bytes: (50_000 + durable)...149_999, totalLength: Int64(Self.size),
                                validator: fixture.resource.etag, into: fixture.fd)
        #expect(fixture.written(50_000...149_999) == Array(fixture.body[50_000...149_999]))
    }

    @Test(arguments: Self.engines) func ignoredRangeRequiresARestartAndWritesNothing(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        fixture.server.enqueueFaults([.ignoreRange], for: "/file.bin")
        let error = await #expect(throws: RangeFetchError.rangeIgnored) {
            try await RangeFetcher(engine: engine).fetch(from: fixture.url, bytes: 0...9_999, totalLength: Int64(Self.size),
                                                         validator: fixture.resource.etag, into: fixture.fd)
        }
        #expect(error?.requiresRestart == true && error?.retryDecision == .stop)
        #expect((fileBytes(fixture.target) ?? []).isEmpty)
    }

    @Test(arguments: Self.engines) func changedETagRequiresARestart(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        fixture.server.enqueueFaults([.changeETag], for: "/file.bin")
        let error = await #expect(throws: RangeFetchError.self) {
            try await RangeFetcher(engine: engine).fetch(from: fixture.url, bytes: 10...99, totalLength: Int64(Self.size),
                                                         validator: fixture.resource.etag, into: fixture.fd)
        }
        #expect(error?.requiresRestart == true)
        #expect((fileBytes(fixture.target) ?? []).isEmpty)
    }

    @Test(arguments: Self.engines) func wrongContentRangeIsRefusedBeforeWriting(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        fixture.server.enqueueFaults([.wrongContentRange], for: "/file.bin")
        let error = await #expect(throws: RangeFetchError.self) {
            try await RangeFetcher(engine: engine).fetch(from: fixture.url, bytes: 1_000...1_999, totalLength: Int64(Self.size),
                                                         validator: fixture.resource.etag, into: fixture.fd)
        }
        guard case .contentRangeMismatch? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.retryDecision == .retry && error?.requiresRestart == false)
        #expect((fileBytes(fixture.target) ?? []).isEmpty)
    }

    @Test(arguments: Self.engines) func lengthChangeRequiresARestart(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        await #expect(throws: RangeFetchError.lengthChanged(expected: Int64(Self.size) + 1, received: Int64(Self.size))) {
            try await RangeFetcher(engine: engine).fetch(from: fixture.url, bytes: 0...99, totalLength: Int64(Self.size) + 1,
                                                         validator: fixture.resource.etag, into: fixture.fd)
        }
    }

    @Test(arguments: Self.engines) func stallIsDetectedOnTheInjectedClockAndTheDurablePrefixReported(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        fixture.server.enqueueFaults([.stallAfter(bytes: 1_000)], for: "/file.bin")
        let clock = ManualClock()
        let (received, receivedContinuation) = AsyncStream.makeStream(of: Void.self)
        let fetcher = RangeFetcher(configuration: .init(stallTimeout: .seconds(30)), engine: engine)
        let durable = LockedBox<Int64>(-1)
        let task = Task {
            try await fetcher.fetch(from: fixture.url, bytes: 0...99_999, totalLength: Int64(Self.size),
                                    validator: fixture.resource.etag, into: fixture.fd, clock: clock,
                                    onReceive: { _ in receivedContinuation.yield() }, onDurable: { durable.set($0) })
        }
        for await _ in received { break }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(30))
        await #expect(throws: RangeResumeError.stalled(timeout: .seconds(30))) { try await task.value }
        let kept = durable.get()
        #expect(kept > 0 && kept <= 1_000)
        #expect(fixture.written(0...Int(kept) - 1) == Array(fixture.body[0..<Int(kept)]))
    }

    @Test(arguments: Self.engines) func missingResourceIsAnHTTPStatusError(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture()
        let error = await #expect(throws: HTTPStatusError.self) {
            try await RangeFetcher(engine: engine).fetch(from: fixture.server.url(for: "/nope"), bytes: 0...9, totalLength: 10,
                                                         validator: nil, into: fixture.fd)
        }
        #expect(error?.status == 404)
        await #expect(throws: HTTPStatusError.self) { try await RangeFetcher(engine: engine).probe(fixture.server.url(for: "/nope")) }
    }

    @Test func rangeOutsideTheLengthIsAnInvalidArgument() async throws {
        let fixture = try Fixture()
        await #expect(throws: RangeFetchError.self) {
            try await RangeFetcher().fetch(from: fixture.url, bytes: 0...10, totalLength: 10, validator: nil, into: fixture.fd)
        }
        #expect(fixture.server.requests.isEmpty)
    }
}

/// A value shared with `@Sendable` callbacks.
final class LockedBox<Value: Sendable>: Sendable {
    private let lock: LockedValue<Value>
    init(_ value: Value) { lock = LockedValue(value) }
    func get() -> Value { lock.withLock { $0 } }
    func set(_ value: Value) { lock.withLock { $0 = value } }
}
