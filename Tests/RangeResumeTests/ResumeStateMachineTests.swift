import Foundation
@testable import RangeResume
import ResilienceTesting
import ResilienceRetry
import Synchronization
import Testing

/// The resume state machine against a scripted transport: every status path, no sockets.
@Suite("RangeResumer state machine")
struct ResumeStateMachineTests {
    let url = URL(string: "http://example.test/file.bin")!
    let origin = Origin(body: randomBytes(1000, seed: 42))

    func resumer(_ transport: ScriptedTransport, _ configuration: RangeResumer.Configuration = .init()) -> RangeResumer {
        RangeResumer(configuration: configuration, transport: transport)
    }

    /// Runs a first attempt cut after `cut` bytes, leaving a resumable `.part`.
    func leavePart(_ destination: URL, cut: Int, origin: Origin? = nil) async throws {
        let origin = origin ?? self.origin
        let transport = ScriptedTransport([origin.full(cut: cut)])
        await #expect(throws: IncompleteDownloadError(expectedBytes: Int64(origin.body.count), receivedBytes: Int64(cut))) {
            try await resumer(transport).download(from: url, to: destination)
        }
        #expect(fileBytes(RangeResumer.partFileURL(for: destination)) == Array(origin.body.prefix(cut)))
    }

    @Test func freshDownloadWritesVerifiedFileAndCleansUp() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        let transport = ScriptedTransport([origin.full()])
        let result = try await resumer(transport).download(
            from: url, to: destination, expectedLength: 1000, expectedSHA256: SHA256Hasher.hex(of: origin.body).uppercased())
        #expect(fileBytes(destination) == origin.body)
        #expect(result.sha256 == SHA256Hasher.hex(of: origin.body))
        #expect(result.length == 1000 && result.resumedFrom == 0 && result.restarts == 0 && result.bytesReceived == 1000)
        #expect(!FileManager.default.fileExists(atPath: RangeResumer.partFileURL(for: destination).path))
        #expect(!FileManager.default.fileExists(atPath: RangeResumer.sidecarURL(for: destination).path))
        let request = try #require(transport.requests.first)
        #expect(request.headers["Accept-Encoding"] == "identity")
        #expect(request.headers["Range"] == nil && request.headers["If-Range"] == nil)
    }

    @Test func truncatedBodyThrowsAndKeepsPartThenResumesWithRangeAndIfRange() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        #expect(!FileManager.default.fileExists(atPath: destination.path))
        let transport = ScriptedTransport([origin.partial(from: 600)])
        let result = try await resumer(transport).download(from: url, to: destination, expectedSHA256: SHA256Hasher.hex(of: origin.body))
        #expect(fileBytes(destination) == origin.body)
        #expect(result.resumedFrom == 600 && result.bytesReceived == 400)
        let request = try #require(transport.requests.first)
        #expect(request.headers["Range"] == "bytes=600-")
        #expect(request.headers["If-Range"] == "\"v1\"")
        #expect(request.headers["Accept-Encoding"] == "identity")
    }

    @Test func connectionLostMidBodyIsIncompleteDownloadError() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        let transport = ScriptedTransport([origin.full(cut: 300, ending: .fail(.networkConnectionLost))])
        let error = await #expect(throws: IncompleteDownloadError.self) {
            try await resumer(transport).download(from: url, to: destination)
        }
        #expect(error?.receivedBytes == 300)
        #expect(RetryClassifier.default.classify(try #require(error), now: Date()) == .retry)
        let sidecar = try #require(ResumeSidecar.load(from: RangeResumer.sidecarURL(for: destination).path))
        #expect(sidecar.durable == 300 && sidecar.validator == .etag("\"v1\"") && sidecar.length == 1000)
    }

    @Test(arguments: [
        ("bytes 500-999/1000", "wrong start"),
        ("bytes 600-999/2000", "wrong total"),
        ("bytes 600-999/*", "unknown total"),
        ("garbage", "malformed"),
    ])
    func mismatched206RestartsFromZeroOnce(contentRange: String, _ why: String) async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        let transport = ScriptedTransport([origin.partial(from: 600, contentRange: contentRange), origin.full()])
        let result = try await resumer(transport).download(from: url, to: destination)
        #expect(fileBytes(destination) == origin.body, "\(why)")
        #expect(result.restarts == 1 && result.resumedFrom == 0)
        #expect(transport.requests.count == 2)
        #expect(transport.requests[1].headers["Range"] == nil)
    }

    @Test func changedETagOn206RestartsFromZero() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        let changed = Origin(body: randomBytes(1000, seed: 43), etag: "\"v2\"")
        let transport = ScriptedTransport([origin.partial(from: 600, etag: "\"v2\""), changed.full()])
        let result = try await resumer(transport).download(from: url, to: destination)
        #expect(fileBytes(destination) == changed.body)
        #expect(result.restarts == 1)
    }

    @Test func secondMismatchInOneAttemptThrowsAndDiscardsPart() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        let bad = ScriptedTransport.Response(status: 206, headers: ["Content-Range": "bytes 1-2/1000"], chunks: [[1, 2]])
        let transport = ScriptedTransport([bad, bad])
        let error = await #expect(throws: RangeResumeError.self) {
            try await resumer(transport).download(from: url, to: destination)
        }
        guard case .resumeMismatch = try #require(error) else { Issue.record("got \(String(describing: error))"); return }
        #expect(error?.retryDecision == .retry)
        #expect(fileBytes(RangeResumer.partFileURL(for: destination)) == [])
    }

    @Test func status200OnResumeTruncatesAndRewrites() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        let changed = Origin(body: randomBytes(700, seed: 44), etag: "\"v2\"")
        let transport = ScriptedTransport([changed.full()])
        let result = try await resumer(transport).download(from: url, to: destination)
        #expect(fileBytes(destination) == changed.body)
        #expect(result.restarts == 1 && result.resumedFrom == 0 && result.sha256 == SHA256Hasher.hex(of: changed.body))
        #expect(transport.requests[0].headers["Range"] == "bytes=600-")
    }

    @Test func status416WithMatchingLengthCompletesFromDisk() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        // A complete .part whose checkpoint says so (written as the documented sidecar format).
        _ = FileManager.default.createFile(atPath: RangeResumer.partFileURL(for: destination).path, contents: Data(origin.body))
        let sidecar = "rangeresume-sidecar=1\nurl=\(url.absoluteString)\netag=\"v1\"\nlength=1000\ndurable=1000\n"
        _ = FileManager.default.createFile(atPath: RangeResumer.sidecarURL(for: destination).path, contents: Data(sidecar.utf8))
        let transport = ScriptedTransport([.init(status: 416, headers: ["Content-Range": "bytes */1000"], chunks: [Array("nope".utf8)])])
        let result = try await resumer(transport).download(from: url, to: destination, expectedSHA256: SHA256Hasher.hex(of: origin.body))
        #expect(fileBytes(destination) == origin.body)
        #expect(result.bytesReceived == 0 && result.resumedFrom == 1000 && result.sha256 == SHA256Hasher.hex(of: origin.body))
        #expect(transport.requests[0].headers["Range"] == "bytes=1000-")
    }

    @Test func status416WithOtherLengthDiscardsAndRestarts() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        let transport = ScriptedTransport([.init(status: 416, headers: ["Content-Range": "bytes */500"], chunks: []), origin.full()])
        let result = try await resumer(transport).download(from: url, to: destination)
        #expect(fileBytes(destination) == origin.body && result.restarts == 1)
    }

    @Test func nonIdentityContentEncodingIsRefusedBeforeWriting() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        var gzip = origin.partial(from: 600)
        gzip.headers["Content-Encoding"] = "gzip"
        let transport = ScriptedTransport([gzip])
        await #expect(throws: RangeResumeError.unsupportedContentEncoding("gzip")) {
            try await resumer(transport).download(from: url, to: destination)
        }
        #expect(fileBytes(RangeResumer.partFileURL(for: destination)) == Array(origin.body.prefix(600)))
    }

    @Test func httpErrorsCarryHeadersForRetryAfterAndKeepThePart() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        let transport = ScriptedTransport([
            .init(status: 503, headers: ["Retry-After": "7"], chunks: [Array("busy".utf8)]),
            .init(status: 404, headers: [:], chunks: []),
        ])
        let busy = await #expect(throws: HTTPStatusError.self) { try await resumer(transport).download(from: url, to: destination) }
        #expect(busy?.status == 503 && busy?.retryAfter == "7")
        #expect(RetryClassifier.default.classify(try #require(busy), now: Date()) == .retryAfter(.seconds(7)))
        let missing = await #expect(throws: HTTPStatusError.self) { try await resumer(transport).download(from: url, to: destination) }
        #expect(missing?.status == 404)
        #expect(RetryClassifier.default.classify(try #require(missing), now: Date()) == .stop)
        #expect(fileBytes(RangeResumer.partFileURL(for: destination)) == Array(origin.body.prefix(600)))
    }

    @Test func weakETagIsNeverUsedForIfRange() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        let weak = Origin(body: origin.body, etag: "W/\"weak\"", lastModified: "Tue, 15 Nov 1994 08:12:31 GMT")
        try await leavePart(destination, cut: 600, origin: weak)
        let transport = ScriptedTransport([weak.full()])
        _ = try await resumer(transport).download(from: url, to: destination)
        #expect(transport.requests[0].headers["Range"] == nil && transport.requests[0].headers["If-Range"] == nil)
        #expect(fileBytes(destination) == weak.body)
    }

    @Test func lastModifiedIsTheValidatorWhenThereIsNoETag() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        let dated = Origin(body: origin.body, etag: nil, lastModified: "Tue, 15 Nov 1994 08:12:31 GMT")
        try await leavePart(destination, cut: 250, origin: dated)
        let transport = ScriptedTransport([dated.partial(from: 250)])
        _ = try await resumer(transport).download(from: url, to: destination)
        #expect(transport.requests[0].headers["If-Range"] == "Tue, 15 Nov 1994 08:12:31 GMT")
        #expect(fileBytes(destination) == dated.body)
    }

    @Test func integrityMismatchIsRetryableOnceFromZeroThenPermanent() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        let wrong = String(repeating: "0", count: 64)
        let transport = ScriptedTransport([origin.full(), origin.full(), origin.full(), origin.full()])
        let first = await #expect(throws: IntegrityError.self) {
            try await resumer(transport).download(from: url, to: destination, expectedSHA256: wrong)
        }
        #expect(first?.isPermanent == false && first?.retryDecision == .retry)
        #expect(!FileManager.default.fileExists(atPath: RangeResumer.partFileURL(for: destination).path))
        #expect(!FileManager.default.fileExists(atPath: destination.path))
        let second = await #expect(throws: IntegrityError.self) {
            try await resumer(transport).download(from: url, to: destination, expectedSHA256: wrong)
        }
        #expect(second?.isPermanent == true && second?.retryDecision == .stop)
        #expect(second?.mismatch == .sha256(expected: wrong, actual: SHA256Hasher.hex(of: origin.body)))
        // The permanent failure resets the count: a later call gets its one retry again.
        let third = await #expect(throws: IntegrityError.self) {
            try await resumer(transport).download(from: url, to: destination, expectedSHA256: wrong)
        }
        #expect(third?.isPermanent == false)
        // A success clears the count.
        _ = try await resumer(transport).download(from: url, to: destination, expectedSHA256: SHA256Hasher.hex(of: origin.body))
        #expect(!FileManager.default.fileExists(atPath: RangeResumer.sidecarURL(for: destination).path))
    }

    @Test func announcedLengthOtherThanExpectedIsAnIntegrityError() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let transport = ScriptedTransport([origin.full()])
        let error = await #expect(throws: IntegrityError.self) {
            try await resumer(transport).download(from: url, to: dir.file("out.bin"), expectedLength: 999)
        }
        #expect(error?.mismatch == .length(expected: 999, actual: 1000))
    }

    @Test func maxBytesCapsAnnouncedAndUnannouncedBodies() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let capped = RangeResumer.Configuration(maxBytes: 500)
        await #expect(throws: RangeResumeError.exceedsMaxBytes(limit: 500)) {
            try await resumer(ScriptedTransport([origin.full()]), capped).download(from: url, to: dir.file("a.bin"))
        }
        let chunked = ScriptedTransport.Response(status: 200, headers: [:], chunks: origin.body.chunked(100))
        await #expect(throws: RangeResumeError.exceedsMaxBytes(limit: 500)) {
            try await resumer(ScriptedTransport([chunked]), capped).download(from: url, to: dir.file("b.bin"))
        }
        #expect(fileBytes(RangeResumer.partFileURL(for: dir.file("b.bin"))) == [])
        #expect(!FileManager.default.fileExists(atPath: dir.file("b.bin").path))
    }

    @Test func unsyncedBytesBeyondTheCheckpointAreNotTrusted() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        // Simulate a crash after more bytes hit the .part but before the next checkpoint.
        let handle = try FileHandle(forWritingTo: RangeResumer.partFileURL(for: destination))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(repeating: 0xEE, count: 150))
        try handle.close()
        let transport = ScriptedTransport([origin.partial(from: 600)])
        let result = try await resumer(transport).download(from: url, to: destination, expectedSHA256: SHA256Hasher.hex(of: origin.body))
        #expect(transport.requests[0].headers["Range"] == "bytes=600-")
        #expect(result.resumedFrom == 600 && fileBytes(destination) == origin.body)
    }

    @Test func sidecarForAnotherURLIsIgnored() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 600)
        let transport = ScriptedTransport([origin.full()])
        _ = try await resumer(transport).download(from: URL(string: "http://example.test/other.bin")!, to: destination)
        #expect(transport.requests[0].headers["Range"] == nil)
        #expect(fileBytes(destination) == origin.body)
    }

    @Test func partPathThatIsASymlinkIsRefused() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try FileManager.default.createSymbolicLink(atPath: RangeResumer.partFileURL(for: destination).path,
                                                   withDestinationPath: dir.file("elsewhere").path)
        let error = await #expect(throws: RangeResumeError.self) {
            try await resumer(ScriptedTransport([origin.full()])).download(from: url, to: destination)
        }
        guard case .fileSystem(_, _, let code) = try #require(error) else { Issue.record("got \(String(describing: error))"); return }
        #expect(code == ELOOP)
        #expect(!FileManager.default.fileExists(atPath: dir.file("elsewhere").path))
    }

    @Test func badArgumentsAreTypedErrors() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let transport = ScriptedTransport([])
        await #expect(throws: RangeResumeError.self) {
            try await resumer(transport).download(from: url, to: URL(string: "https://example.test/x")!)
        }
        await #expect(throws: RangeResumeError.self) {
            try await resumer(transport).download(from: url, to: dir.file("x"), expectedSHA256: "abc")
        }
        await #expect(throws: RangeResumeError.self) {
            try await resumer(transport).download(from: URL(string: "ftp://example.test/x")!, to: dir.file("x"))
        }
        await #expect(throws: RangeResumeError.self) {
            try await resumer(transport).download(from: url, to: dir.file("missing-dir/x"))
        }
        #expect(transport.requests.isEmpty)
    }

    @Test func completedFileIsWorldReadableAndPartIsPrivate() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        try await leavePart(destination, cut: 100)
        let partMode = try FileManager.default.attributesOfItem(atPath: RangeResumer.partFileURL(for: destination).path)[.posixPermissions] as? Int
        #expect(partMode == 0o600)
        _ = try await resumer(ScriptedTransport([origin.partial(from: 100)])).download(from: url, to: destination)
        let mode = try FileManager.default.attributesOfItem(atPath: destination.path)[.posixPermissions] as? Int
        #expect(mode == 0o644)
    }

    @Test func retryResumesAcrossAttempts() async throws {
        let dir = try TemporaryDirectory(); defer { dir.cleanup() }
        let destination = dir.file("out.bin")
        let transport = ScriptedTransport([
            origin.full(cut: 300, ending: .fail(.networkConnectionLost)),
            .init(status: 503, headers: ["Retry-After": "1"], chunks: []),
            origin.partial(from: 300, cut: 200, ending: .end),
            origin.partial(from: 500),
        ])
        let resumer = resumer(transport)
        // Zero backoff and Retry-After ignored: no waiting at all, so no clock needs driving.
        let policy = try RetryPolicy(maxAttempts: 5, backoff: .constant(.zero), maxRetryAfter: .zero)
        let result = try await retry(policy) { _ in
            try await resumer.download(from: url, to: destination, expectedSHA256: SHA256Hasher.hex(of: origin.body))
        }
        #expect(result.resumedFrom == 500 && fileBytes(destination) == origin.body)
        #expect(transport.requests.map { $0.headers["Range"] } == [nil, "bytes=300-", "bytes=300-", "bytes=500-"])
    }
}
