import AsyncHTTPClient
import AsyncHTTPClientEngines
import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceTesting
import Testing

/// The engine over `https` from a real nginx with a self-signed certificate, trusted through the
/// client's `TLSConfiguration`, under `RangeResumer` and `DownloadQueue`. Skipped, with the
/// reason printed, without nginx or openssl.
@Suite("AsyncHTTPClientEngine over https (nginx)", .timeLimit(.minutes(2)))
struct HTTPSTests {
    /// Prints why the suite cannot run here, and returns `true` then.
    static func skipped(_ test: String) -> Bool {
        guard let reason = HTTPSFixture.skipReason else { return false }
        print("AsyncHTTPClientEngine over https \(test): skipped: \(reason)")
        return true
    }

    @Test func downloadsByteExactOverTLS() async throws {
        if Self.skipped("downloadsByteExactOverTLS") { return }
        let fixture = try await HTTPSFixture(size: 3 << 20); defer { fixture.tearDown() }
        try await withClient(try fixture.clientConfiguration()) { client in
            let resumer = RangeResumer(engine: .custom(AsyncHTTPClientEngine(client: client)))
            let destination = fixture.file("out.bin")
            let result = try await resumer.download(from: fixture.url, to: destination, expectedSHA256: fixture.sha256)
            #expect(result.sha256 == fixture.sha256 && result.length == Int64(fixture.body.count) && result.resumedFrom == 0)
            #expect(FileManager.default.contents(atPath: destination.path) == Data(fixture.body))
        }
    }

    /// A download cancelled part-way leaves a `.part`; the next one resumes it over TLS with a
    /// `Range` request (nginx answers `206`) and the file is byte-exact. nginx throttles the body
    /// (`limit_rate`) so the cancel lands mid-transfer; the test waits on progress, not on time.
    @Test func resumesFromAPartFileOverTLS() async throws {
        if Self.skipped("resumesFromAPartFileOverTLS") { return }
        let fixture = try await HTTPSFixture(size: 2 << 20, seed: 16, limitRate: "1m"); defer { fixture.tearDown() }
        try await withClient(try fixture.clientConfiguration()) { client in
            let resumer = RangeResumer(engine: .custom(AsyncHTTPClientEngine(client: client)))
            let destination = fixture.file("resumed.bin")
            let (reached, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            let (url, sha256) = (fixture.url, fixture.sha256)
            let first = Task {
                defer { signal.finish() }
                return try await resumer.download(from: url, to: destination, expectedSHA256: sha256) { progress in
                    if progress.bytes >= 256 << 10 { signal.yield() }
                }
            }
            for await _ in reached { break }
            first.cancel()
            await #expect(throws: CancellationError.self) { _ = try await first.value }
            #expect(FileManager.default.fileExists(atPath: RangeResumer.partFileURL(for: destination).path))

            let result = try await resumer.download(from: fixture.url, to: destination, expectedSHA256: fixture.sha256)
            #expect(result.resumedFrom > 0 && result.resumedFrom < Int64(fixture.body.count), "resumed from \(result.resumedFrom)")
            #expect(result.bytesReceived == Int64(fixture.body.count) - result.resumedFrom)
            #expect(FileManager.default.contents(atPath: destination.path) == Data(fixture.body))
            #expect(fixture.server.accessLog.contains { $0.hasPrefix("206 \"bytes=\(result.resumedFrom)-\"") },
                    "\(fixture.server.accessLog)")
        }
    }

    @Test func downloadQueueCompletesJobsOverTLS() async throws {
        if Self.skipped("downloadQueueCompletesJobsOverTLS") { return }
        let fixture = try await HTTPSFixture(size: 1 << 20, seed: 17); defer { fixture.tearDown() }
        try await withClient(try fixture.clientConfiguration()) { client in
            let configuration = DownloadQueueConfiguration(maxConcurrentDownloads: 2,
                                                           engine: .custom(AsyncHTTPClientEngine(client: client)))
            let queue = DownloadQueue(store: InMemoryJobStore(), configuration: configuration)
            let events = queue.events
            var ids: Set<UUID> = []
            for index in 0..<3 {
                ids.insert(try await queue.enqueue(url: fixture.url, destination: fixture.file("job-\(index).bin"),
                                                   expectedSHA256: fixture.sha256))
            }
            try await queue.start()
            var completed: Set<UUID> = [], failures: [String] = []
            for await event in events {
                switch event {
                case .completed(let id, _): completed.insert(id)
                case .failed(let id, let failure): failures.append("\(id): \(failure)"); completed.insert(id)
                default: break
                }
                if completed == ids { break }
            }
            await queue.stop(graceful: true)
            #expect(failures.isEmpty, "\(failures)")
            for index in 0..<3 {
                #expect(FileManager.default.contents(atPath: fixture.file("job-\(index).bin").path) == Data(fixture.body))
            }
        }
    }
}
