import Foundation
@testable import RangeResume
import ResilienceTesting
import ResilienceRetry
import Testing

/// `RangeResumer.download(from:mirrors:...)` against two `FaultyHTTPServer`s serving the same
/// bytes under different ETags: validators stay per mirror, and a `.part` moves from one mirror
/// to the other only under the documented rules (a) own validator, (b) known length + SHA-256.
@Suite("RangeResumer mirrors")
struct MirrorResumeTests {
    static let size = 256 << 10
    static let engines: [RangeResumer.Engine] = [.urlSession, .posixSockets]

    struct Mirrors {
        let a: FaultyHTTPServer
        let b: FaultyHTTPServer
        let dir: TemporaryDirectory
        let body: [UInt8]
        let etagA = "\"mirror-a-1\""
        let etagB = "\"mirror-b-1\""
        var urlA: URL { a.url(for: "/file.bin") }
        var urlB: URL { b.url(for: "/file.bin") }
        var destination: URL { dir.file("file.bin") }
        var digest: String { SHA256Hasher.hex(of: body) }

        /// Mirror B serves `bodyB` (default: the same bytes as A).
        init(bodyB: [UInt8]? = nil) throws {
            a = try FaultyHTTPServer()
            b = try FaultyHTTPServer()
            dir = try TemporaryDirectory()
            body = randomBytes(MirrorResumeTests.size, seed: 11)
            a.serve(body, at: "/file.bin", etag: etagA)
            b.serve(bodyB ?? body, at: "/file.bin", etag: etagB)
        }

        var sidecar: ResumeSidecar? { ResumeSidecar.load(from: RangeResumer.sidecarURL(for: destination).path) }

        func tearDown() {
            a.stop()
            b.stop()
            dir.cleanup()
        }

        /// No request to A carried B's validator, nor the reverse.
        func noForeignIfRange() -> Bool {
            a.requests(for: "/file.bin").allSatisfy { $0.ifRange == nil || $0.ifRange == etagA }
                && b.requests(for: "/file.bin").allSatisfy { $0.ifRange == nil || $0.ifRange == etagB }
        }
    }

    @Test(arguments: Self.engines) func otherMirrorWithoutValidatorOrDigestRestartsFromZero(engine: RangeResumer.Engine) async throws {
        let m = try Mirrors(); defer { m.tearDown() }
        m.a.enqueueFaults([.dropAfter(bytes: 100_000)], for: "/file.bin")
        let resumer = RangeResumer(engine: engine)
        await #expect(throws: IncompleteDownloadError.self) {
            try await resumer.download(from: m.urlA, mirrors: [m.urlB], to: m.destination)
        }
        #expect(m.sidecar?.url == m.urlA.absoluteString && m.sidecar?.durable == 100_000)
        let result = try await resumer.download(from: m.urlB, mirrors: [m.urlA], to: m.destination)
        #expect(fileData(m.destination) == Data(m.body))
        #expect(result.resumedFrom == 0 && result.bytesReceived == Int64(Self.size))
        let sentB = m.b.requests(for: "/file.bin")
        #expect(sentB.count == 1 && sentB[0].range == engine.rangeField(from: 0) && sentB[0].ifRange == nil)
        #expect(sentB.first?.status == (engine == .urlSession ? 206 : 200))
        #expect(m.noForeignIfRange())
    }

    @Test(arguments: Self.engines) func digestLetsAnotherMirrorContinueThenEachKeepsItsOwnValidator(engine: RangeResumer.Engine) async throws {
        let m = try Mirrors(); defer { m.tearDown() }
        m.a.enqueueFaults([.dropAfter(bytes: 100_000)], for: "/file.bin")
        m.b.enqueueFaults([.dropAfter(bytes: 50_000)], for: "/file.bin")
        let resumer = RangeResumer(engine: engine)
        // A: 100,000 bytes, then cut.
        await #expect(throws: IncompleteDownloadError.self) {
            try await resumer.download(from: m.urlA, mirrors: [m.urlB], to: m.destination, expectedSHA256: m.digest)
        }
        // B, rule (b): no validator of B yet, but the length is known and a digest given.
        await #expect(throws: IncompleteDownloadError.self) {
            try await resumer.download(from: m.urlB, mirrors: [m.urlA], to: m.destination, expectedSHA256: m.digest)
        }
        let sentB = m.b.requests(for: "/file.bin")
        #expect(sentB.count == 1 && sentB[0].range == engine.rangeField(from: 100_000) && sentB[0].ifRange == nil && sentB[0].status == 206)
        let saved = try #require(m.sidecar)
        #expect(saved.url == m.urlB.absoluteString && saved.validator == .etag(m.etagB) && saved.durable == 150_000)
        #expect(saved.mirrors[m.urlA.absoluteString]?.validator == .etag(m.etagA))
        // A again, rule (a): its own validator (no digest needed), from the same offset.
        let result = try await resumer.download(from: m.urlA, mirrors: [m.urlB], to: m.destination)
        #expect(fileData(m.destination) == Data(m.body))
        #expect(result.resumedFrom == 150_000 && result.bytesReceived == Int64(Self.size - 150_000))
        let sentA = m.a.requests(for: "/file.bin")
        #expect(sentA.count == 2 && sentA[1].range == engine.rangeField(from: 150_000) && sentA[1].ifRange == m.etagA && sentA[1].status == 206)
        #expect(m.noForeignIfRange())
    }

    @Test func ownValidatorOnMirrorResumesWithoutDigest() async throws {
        let m = try Mirrors(); defer { m.tearDown() }
        // The sidecar a previous run left: bytes from A, and B known to serve them under its ETag.
        let part = RangeResumer.partFileURL(for: m.destination)
        _ = FileManager.default.createFile(atPath: part.path, contents: Data(m.body[0..<120_000]))
        var sidecar = ResumeSidecar(url: m.urlA.absoluteString, validator: .etag(m.etagA), length: Int64(Self.size),
                                    durable: 120_000, integrityFailures: 0)
        sidecar.mirrors[m.urlB.absoluteString] = SourceRecord(validator: .etag(m.etagB), length: Int64(Self.size))
        try sidecar.save(to: RangeResumer.sidecarURL(for: m.destination).path)
        let result = try await RangeResumer().download(from: m.urlB, mirrors: [m.urlA], to: m.destination)
        #expect(result.resumedFrom == 120_000 && fileData(m.destination) == Data(m.body))
        let sentB = m.b.requests(for: "/file.bin")
        #expect(sentB.count == 1 && sentB[0].range == RangeResumer.Engine.urlSession.rangeField(from: 120_000) && sentB[0].ifRange == m.etagB)
        #expect(m.a.requests(for: "/file.bin").isEmpty)
    }

    @Test func changedContentOnMirrorIsFetchedAnewUnderItsOwnValidator() async throws {
        let m = try Mirrors(); defer { m.tearDown() }
        m.a.enqueueFaults([.dropAfter(bytes: 100_000)], for: "/file.bin")
        m.b.enqueueFaults([.dropAfter(bytes: 50_000)], for: "/file.bin")
        let resumer = RangeResumer()
        _ = try? await resumer.download(from: m.urlA, mirrors: [m.urlB], to: m.destination, expectedSHA256: m.digest)
        _ = try? await resumer.download(from: m.urlB, mirrors: [m.urlA], to: m.destination, expectedSHA256: m.digest)
        // A's file changed meanwhile: its If-Range no longer matches, so it sends 200 and all of it.
        let newBody = randomBytes(Self.size, seed: 12)
        m.a.serve(newBody, at: "/file.bin", etag: "\"mirror-a-2\"")
        let result = try await resumer.download(from: m.urlA, mirrors: [m.urlB], to: m.destination)
        #expect(fileData(m.destination) == Data(newBody) && result.resumedFrom == 0)
        let last = try #require(m.a.requests(for: "/file.bin").last)
        #expect(last.ifRange == m.etagA && last.status == 200)
        #expect(m.noForeignIfRange())
    }

    @Test func spliceOfDifferentContentFailsTheDigestAndRestartsFromZero() async throws {
        let other = randomBytes(Self.size, seed: 99)   // same length, other bytes
        let m = try Mirrors(bodyB: other); defer { m.tearDown() }
        m.a.enqueueFaults([.dropAfter(bytes: 100_000)], for: "/file.bin")
        let resumer = RangeResumer()
        _ = try? await resumer.download(from: m.urlA, mirrors: [m.urlB], to: m.destination, expectedSHA256: m.digest)
        let error = await #expect(throws: IntegrityError.self) {
            try await resumer.download(from: m.urlB, mirrors: [m.urlA], to: m.destination, expectedSHA256: m.digest)
        }
        #expect(error?.isPermanent == false)
        #expect(m.b.requests(for: "/file.bin").first?.range == RangeResumer.Engine.urlSession.rangeField(from: 100_000))
        #expect(!FileManager.default.fileExists(atPath: RangeResumer.partFileURL(for: m.destination).path))
        #expect(!FileManager.default.fileExists(atPath: m.destination.path))
        // The next attempt (on A) starts from zero, with no If-Range at all.
        let result = try await resumer.download(from: m.urlA, mirrors: [m.urlB], to: m.destination, expectedSHA256: m.digest)
        #expect(result.resumedFrom == 0 && fileData(m.destination) == Data(m.body))
        #expect(m.a.requests(for: "/file.bin").last?.range == RangeResumer.Engine.urlSession.rangeField(from: 0))
    }

    @Test func otherLengthOnMirrorIsNotSpliced() async throws {
        let m = try Mirrors(bodyB: randomBytes(Self.size + 10, seed: 11)); defer { m.tearDown() }
        m.a.enqueueFaults([.dropAfter(bytes: 100_000)], for: "/file.bin")
        let resumer = RangeResumer()
        _ = try? await resumer.download(from: m.urlA, mirrors: [m.urlB], to: m.destination, expectedSHA256: m.digest)
        // B's 206 announces another total: discarded, fetched from zero, and then the digest fails.
        await #expect(throws: IntegrityError.self) {
            try await resumer.download(from: m.urlB, mirrors: [m.urlA], to: m.destination, expectedSHA256: m.digest)
        }
        let sentB = m.b.requests(for: "/file.bin")
        let urlSession = RangeResumer.Engine.urlSession
        #expect(sentB.map(\.range) == [urlSession.rangeField(from: 100_000), urlSession.rangeField(from: 0)])
    }

    @Test func sidecarWithMirrorsRoundTrips() {
        var sidecar = ResumeSidecar(url: "http://a/x", validator: .etag("\"a\""), length: 10, durable: 5, integrityFailures: 0)
        sidecar.mirrors["http://b/x"] = SourceRecord(validator: .lastModified("Tue, 15 Nov 1994 08:12:31 GMT"), length: 10)
        sidecar.mirrors["http://c/x"] = SourceRecord(validator: nil, length: nil)
        #expect(ResumeSidecar(decoding: sidecar.encoded()) == sidecar)
        let text = String(decoding: sidecar.encoded(), as: UTF8.self)
        #expect(text.contains("mirror.1.url=http://b/x\nmirror.1.last-modified=Tue, 15 Nov 1994 08:12:31 GMT\nmirror.1.length=10\n"))
        // Switching never carries a validator across URLs.
        var moved = sidecar
        moved.switchSource(to: "http://c/x")
        #expect(moved.url == "http://c/x" && moved.validator == nil)
        #expect(moved.mirrors["http://a/x"] == SourceRecord(validator: .etag("\"a\""), length: 10))
        moved.switchSource(to: "http://new/x")
        #expect(moved.validator == nil && moved.sources.count == 4)
    }
}
