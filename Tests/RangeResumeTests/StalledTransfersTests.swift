import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RangeResume
import ResilienceTesting
import Testing

/// Issue 22: the stall watchdog must fire even when every transfer in the process is stuck at
/// once, and each stuck transfer must end with a typed error while the process goes on.
@Suite("Every transfer stuck at once")
struct StalledTransfersTests {
    @Test(arguments: [RangeResumer.Engine.urlSession, .posixSockets])
    func theWatchdogEndsEveryStuckTransferWithATypedError(engine: RangeResumer.Engine) async throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let size = 256 << 10
        let resource = server.serve(randomBytes(size, seed: 31), at: "/file.bin")
        let count = 8
        server.enqueueFaults(Array(repeating: .stallAfter(bytes: 1_000), count: count), for: "/file.bin")
        let clock = ManualClock()
        let (received, receivedContinuation) = AsyncStream.makeStream(of: Int.self)
        let fetcher = RangeFetcher(configuration: .init(stallTimeout: .seconds(30)), engine: engine)
        let descriptors = (0..<count).map { open(dir.file("part-\($0).bin").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        defer { for fd in descriptors { close(fd) } }
        let tasks = descriptors.enumerated().map { index, fd in
            Task {
                try await fetcher.fetch(from: server.url(for: "/file.bin"), bytes: 0...Int64(size - 1),
                                        totalLength: Int64(size), validator: resource.etag, into: fd, clock: clock,
                                        onReceive: { _ in receivedContinuation.yield(index) })
            }
        }
        // Every transfer has its first bytes and is now stuck; every watchdog sleeps.
        var stuck = Set<Int>()
        for await index in received {
            stuck.insert(index)
            if stuck.count == count { break }
        }
        await clock.sleepers(atLeast: count)
        clock.advance(by: .seconds(30))
        for task in tasks {
            await #expect(throws: RangeResumeError.stalled(timeout: .seconds(30))) { try await task.value }
        }
        // The process goes on: the same fetcher completes a transfer afterwards.
        let fd = open(dir.file("after.bin").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        defer { close(fd) }
        let length = try await fetcher.fetch(from: server.url(for: "/file.bin"), bytes: 0...Int64(size - 1),
                                             totalLength: Int64(size), validator: resource.etag, into: fd, clock: clock)
        #expect(length == Int64(size))
    }
}
