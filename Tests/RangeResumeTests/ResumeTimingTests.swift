import Foundation
@testable import RangeResume
import ResilienceTesting
import ResilienceRetry
import Testing

/// Stall, slow-speed and progress behaviour on a `ManualClock`: no real waiting.
@Suite("RangeResumer timing")
struct ResumeTimingTests {
    let url = URL(string: "http://example.test/file.bin")!
    let origin = Origin(body: randomBytes(1000, seed: 9))

    @Test func stallThrowsRetryableErrorAndKeepsTheBytesForResume() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        let clock = ManualClock()
        let transport = ScriptedTransport([origin.full(cut: 400, ending: .stall)])
        let resumer = RangeResumer(configuration: .init(stallTimeout: .seconds(30)), transport: transport)
        let task = Task { try await resumer.download(from: url, to: destination, clock: clock) }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(29))
        clock.advance(by: .seconds(1))
        let result = await task.result
        #expect(throws: RangeResumeError.stalled(timeout: .seconds(30))) { try result.get() }
        #expect(RangeResumeError.stalled(timeout: .seconds(30)).retryDecision == .retry)
        // Whatever arrived before the stall is checkpointed and resumed from.
        let sidecar = try #require(ResumeSidecar.load(from: RangeResumer.sidecarURL(for: destination).path))
        let part = try #require(fileBytes(RangeResumer.partFileURL(for: destination)))
        #expect(Int64(part.count) == sidecar.durable && part == Array(origin.body.prefix(part.count)))
        transport.append([part.isEmpty ? origin.full() : origin.partial(from: part.count)])
        let done = try await resumer.download(from: url, to: destination, expectedSHA256: SHA256Hasher.hex(of: origin.body))
        #expect(done.resumedFrom == Int64(part.count) && fileBytes(destination) == origin.body)
    }

    @Test func stallBeforeTheResponseHeadAlsoCounts() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let clock = ManualClock()
        let silent = SilentTransport()
        let resumer = RangeResumer(configuration: .init(stallTimeout: .seconds(5)), transport: silent)
        let task = Task { try await resumer.download(from: url, to: dir.file("x.bin"), clock: clock) }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(5))
        await #expect(throws: RangeResumeError.stalled(timeout: .seconds(5))) { try await task.value }
    }

    @Test func belowMinimumSpeedOverTheWindowThrowsTooSlow() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let clock = ManualClock()
        let transport = ScriptedTransport([origin.full(cut: 400, ending: .stall)])
        let configuration = RangeResumer.Configuration(
            stallTimeout: .seconds(60), minimumSpeed: .init(bytesPerSecond: 1000, window: .seconds(10)))
        let resumer = RangeResumer(configuration: configuration, transport: transport)
        let task = Task { try await resumer.download(from: url, to: dir.file("x.bin"), clock: clock) }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(10))
        let error = await #expect(throws: RangeResumeError.self) { try await task.value }
        guard case .tooSlow(let rate, let minimum) = try #require(error) else {
            Issue.record("expected tooSlow, got \(String(describing: error))"); return
        }
        #expect(rate <= 40 && minimum == 1000)
        #expect(error?.retryDecision == .retry)
    }

    @Test func progressIsThrottledOnTheInjectedClock() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let clock = ManualClock()
        let head = ScriptedTransport.Response(status: 200, headers: ["Content-Length": "300", "ETag": "\"p\""], chunks: [], ending: .stall)
        let transport = ScriptedTransport([head])
        let resumer = RangeResumer(configuration: .init(progressInterval: .milliseconds(250)), transport: transport)
        let (stream, continuation) = AsyncStream.makeStream(of: DownloadProgress.self)
        let task = Task {
            try await resumer.download(from: url, to: dir.file("p.bin"), clock: clock) { continuation.yield($0) }
        }
        var snapshots = stream.makeAsyncIterator()
        let start = try #require(await snapshots.next())
        #expect(start.bytes == 0 && start.totalBytes == 300)
        let channel = try #require(transport.lastChannel)
        clock.advance(by: .milliseconds(250))
        channel.offer(.body(Data(repeating: 1, count: 100)))
        let second = try #require(await snapshots.next())
        #expect(second.bytes == 100 && second.bytesPerSecond == 400)
        // No time passes: these chunks are not reported one by one, only the forced final snapshot.
        channel.offer(.body(Data(repeating: 2, count: 100)))
        channel.offer(.body(Data(repeating: 3, count: 100)))
        channel.finish()
        let result = try await task.value
        continuation.finish()
        var rest: [DownloadProgress] = []
        while let next = await snapshots.next() { rest.append(next) }
        #expect(rest.map(\.bytes) == [300])
        #expect(result.length == 300)
    }
}

/// A transport that never answers (until cancelled).
struct SilentTransport: HTTPTransport {
    func start(_ request: TransportRequest, into channel: TransportChannel) {}
}
