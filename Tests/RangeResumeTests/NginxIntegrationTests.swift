import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import RangeResume
import ResilienceTesting
import ResilienceRetry
import Testing

/// RangeResumer with its URLSession transport against a real peer: Debian's nginx, started on a
/// free loopback port. Skipped (with this reason printed) when nginx is not installed.
@Suite("RangeResumer against nginx", .enabled(if: NginxServer.skipReason == nil,
                                               "skipped: nginx is not installed (apt-get install nginx-light; .ci/run does this)"))
struct NginxIntegrationTests {
    static let size = 1 << 20

    /// A served directory with one random 1 MiB `file.bin` (small: debug-build hashing is slow).
    struct Fixture {
        let served: TemporaryDirectory
        let work: TemporaryDirectory
        let body: [UInt8]
        let data: Data
        let digest: String
        let server: NginxServer

        init(gzip: Bool = false, seed: UInt64 = 1) throws {
            served = try TemporaryDirectory()
            work = try TemporaryDirectory()
            body = randomBytes(NginxIntegrationTests.size, seed: seed)
            data = Data(body)
            digest = SHA256Hasher.hex(of: body)
            try Data(body).write(to: served.file("file.bin"))
            server = try NginxServer(serving: served.url, gzip: gzip)
        }

        var url: URL { server.url("file.bin") }

        func tearDown() {
            server.stop()
            served.cleanup()
            work.cleanup()
        }

        /// nginx's strong ETag for file.bin, read from a plain HEAD response.
        func etag() async throws -> String {
            var request = URLRequest(url: url)
            request.httpMethod = "HEAD"
            request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")   // gzip makes nginx's ETag weak
            let (_, response) = try await URLSession.shared.data(for: request)
            return try #require((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "ETag"))
        }

        /// Leaves a `.part` holding the first `durable` bytes (plus `junk` unsynced-looking bytes)
        /// and a sidecar that says `durable` bytes were checkpointed under `etag`.
        func leavePart(_ destination: URL, durable: Int, junk: Int = 0, etag: String) throws {
            try Data(body.prefix(durable) + [UInt8](repeating: 0xAB, count: junk))
                .write(to: RangeResumer.partFileURL(for: destination))
            let sidecar = ResumeSidecar(url: url.absoluteString, validator: .etag(etag), length: Int64(body.count),
                                        durable: Int64(durable), integrityFailures: 0)
            try Data(sidecar.encoded()).write(to: RangeResumer.sidecarURL(for: destination))
        }
    }

    @Test(arguments: [RangeResumer.Engine.urlSession, .posixSockets]) func freshDownloadMatchesAndSendsIdentity(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let destination = fixture.work.file("out.bin")
        let result = try await RangeResumer(engine: engine).download(from: fixture.url, to: destination, expectedSHA256: fixture.digest)
        #expect(result.sha256 == fixture.digest && result.length == Int64(Self.size))
        #expect(fileData(destination) == fixture.data)
        let log = fixture.server.accessLog
        let range = engine.rangeField(from: 0).map { "206 \"\($0)\"" } ?? "200 \"-\""
        #expect(log.count == 1 && log[0].hasPrefix("\(range) \"-\" \"identity\""), "\(log)")
    }

    @Test(arguments: [RangeResumer.Engine.urlSession, .posixSockets]) func resumesAfterCutsAtRandomOffsetsWithNginxETag(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let etag = try await fixture.etag()
        #expect(!etag.hasPrefix("W/"))
        var random = SeededRandomNumberGenerator(seed: 2024)
        for round in 0..<5 {
            let destination = fixture.work.file("out-\(round).bin")
            let offset = Int.random(in: 1..<Self.size, using: &random)
            try fixture.leavePart(destination, durable: offset, junk: Int.random(in: 0...4096, using: &random), etag: etag)
            let result = try await RangeResumer(engine: engine).download(from: fixture.url, to: destination, expectedSHA256: fixture.digest)
            #expect(result.resumedFrom == Int64(offset) && result.bytesReceived == Int64(Self.size - offset))
            #expect(fileData(destination) == fixture.data)
            let line = fixture.server.accessLog.last ?? ""
            #expect(line == "206 \"\(engine.rangeField(from: Int64(offset)) ?? "-")\" \"\(etag.replacingOccurrences(of: "\"", with: "\\x22"))\" \"identity\" \(Self.size - offset)",
                    "round \(round): \(line)")
        }
    }

    @Test(arguments: [RangeResumer.Engine.urlSession, .posixSockets]) func status416AtEndOfFileCompletesWithoutBody(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let destination = fixture.work.file("out.bin")
        try fixture.leavePart(destination, durable: Self.size, etag: try await fixture.etag())
        let result = try await RangeResumer(engine: engine).download(from: fixture.url, to: destination, expectedSHA256: fixture.digest)
        #expect(result.bytesReceived == 0 && result.resumedFrom == Int64(Self.size))
        #expect(fixture.server.accessLog.last?.hasPrefix("416 \"\(engine.rangeField(from: Int64(Self.size)) ?? "-")\"") == true)
        #expect(fileData(destination) == fixture.data)
    }

    @Test(arguments: [RangeResumer.Engine.urlSession, .posixSockets]) func staleValidatorMakesNginxSend200AndWeRestart(engine: RangeResumer.Engine) async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let destination = fixture.work.file("out.bin")
        try fixture.leavePart(destination, durable: 1000, etag: "\"stale-etag\"")
        let result = try await RangeResumer(engine: engine).download(from: fixture.url, to: destination, expectedSHA256: fixture.digest)
        #expect(result.restarts == 1 && result.resumedFrom == 0)
        #expect(fixture.server.accessLog.last?.hasPrefix("200 \"\(engine.rangeField(from: 1000) ?? "-")\"") == true)
        #expect(fileData(destination) == fixture.data)
    }

    @Test func gzipOnServerStillHonoursRangeBecauseWeAskForIdentity() async throws {
        let fixture = try Fixture(gzip: true); defer { fixture.tearDown() }
        let destination = fixture.work.file("out.bin")
        try fixture.leavePart(destination, durable: 12345, etag: try await fixture.etag())
        let result = try await RangeResumer().download(from: fixture.url, to: destination, expectedSHA256: fixture.digest)
        #expect(result.resumedFrom == 12345)
        #expect(fixture.server.accessLog.last?.hasPrefix("206 ") == true)
    }

    @Test func missingFileIsHTTPStatusError404() async throws {
        let fixture = try Fixture(); defer { fixture.tearDown() }
        let error = await #expect(throws: HTTPStatusError.self) {
            try await RangeResumer().download(from: fixture.server.url("nope.bin"), to: fixture.work.file("x.bin"))
        }
        #expect(error?.status == 404)
    }
}
