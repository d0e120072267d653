import AsyncHTTPClient
import AsyncHTTPClientEngines
import Downloads
import Foundation
import RangeResume
import ResilienceTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine under the range consumers over `https` from nginx (self-signed certificate trusted
/// through the client's `TLSConfiguration`): `RangeFetcher` (one range into a file descriptor)
/// and `SegmentedDownload` (one file over several connections). Skipped, with the reason
/// printed, without nginx or openssl.
@Suite("AsyncHTTPClientEngine ranges over https (nginx)", .timeLimit(.minutes(2)))
struct HTTPSRangeTests {
    @Test func rangeFetcherWritesOneRangeOverTLS() async throws {
        if HTTPSTests.skipped("rangeFetcherWritesOneRangeOverTLS") { return }
        let fixture = try await HTTPSFixture(size: 1 << 20, seed: 18); defer { fixture.tearDown() }
        let path = fixture.file("range.bin").path
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        defer { close(fd) }
        let range: ClosedRange<Int64> = 100_000...699_999
        try await withClient(try fixture.clientConfiguration()) { client in
            let fetcher = RangeFetcher(engine: .custom(AsyncHTTPClientEngine(client: client)))
            let written = try await fetcher.fetch(from: fixture.url, bytes: range, totalLength: Int64(fixture.body.count),
                                                  validator: nil, into: fd)
            #expect(written == Int64(range.count))
        }
        let data = try #require(FileManager.default.contents(atPath: path))
        #expect(data.count >= Int(range.upperBound) + 1)
        #expect(data[Int(range.lowerBound)...Int(range.upperBound)] == Data(fixture.body[Int(range.lowerBound)...Int(range.upperBound)]))
        #expect(fixture.server.accessLog.last?.hasPrefix("206 \"bytes=100000-699999\"") == true, "\(fixture.server.accessLog)")
    }

    @Test func segmentedDownloadOverTLS() async throws {
        if HTTPSTests.skipped("segmentedDownloadOverTLS") { return }
        let fixture = try await HTTPSFixture(size: 6 << 20, seed: 19); defer { fixture.tearDown() }
        try await withClient(try fixture.clientConfiguration()) { client in
            let configuration = SegmentedDownloadConfiguration(connections: 3, segmentationThreshold: 4 << 20,
                                                               minimumSegmentSize: 1 << 20)
            let downloader = SegmentedDownload(configuration: configuration,
                                               engine: .custom(AsyncHTTPClientEngine(client: client)))
            let destination = fixture.file("segmented.bin")
            let result = try await downloader.download(from: fixture.url, to: destination, expectedSHA256: fixture.sha256)
            #expect(result.isSegmented && result.segments > 1, "\(result)")
            #expect(FileManager.default.contents(atPath: destination.path) == Data(fixture.body))
        }
    }
}
