import Foundation
import ResilienceTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `count` reproducible pseudo-random bytes.
func sampleBytes(_ count: Int, seed: UInt64 = 7) -> [UInt8] {
    var generator = SeededRandomNumberGenerator(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
}

/// Compares without handing big arrays to `#expect` (whose failure message would print every
/// element); a mismatch is described by lengths and the first differing offset.
func expectSameBytes(
    _ actual: [UInt8], _ expected: some Collection<UInt8>, sourceLocation: SourceLocation = #_sourceLocation
) {
    let expected = Array(expected)
    if actual == expected { return }
    let firstDifference = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    Issue.record(
        "\(actual.count) bytes, expected \(expected.count); first difference at \(firstDifference.map(String.init) ?? "the shorter end")",
        sourceLocation: sourceLocation)
}

@Suite("FaultyHTTPServer: HTTP semantics")
struct FaultyHTTPServerSemanticsTests {
    let body = sampleBytes(100)

    @Test func fullGetSendsBodyAndValidators() throws {
        let server = try FaultyHTTPServer(now: { Date(timeIntervalSince1970: 1_700_000_100) })
        defer { server.stop() }
        let resource = server.serve(body, at: "/file.bin")
        let response = try RawHTTPClient.request(port: server.port, "GET", "/file.bin")
        #expect(response.status == 200)
        #expect(response.body == body)
        #expect(response.ending == .eof)
        #expect(response["Content-Length"] == "100")
        #expect(response["Accept-Ranges"] == "bytes")
        #expect(response["Connection"] == "close")
        #expect(response["Content-Type"] == "application/octet-stream")
        #expect(response["ETag"] == resource.etag)
        #expect(resource.etag.hasPrefix("\"64-"))  // size in hex, then the content hash
        #expect(response["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT")
        #expect(response["Date"] == "Tue, 14 Nov 2023 22:15:00 GMT")
        #expect(response["Content-Range"] == nil)
    }

    @Test func contentDerivedETagDependsOnContent() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let first = server.serve(body, at: "/a")
        let same = server.serve(body, at: "/b")
        var changed = body
        changed[50] ^= 1
        let other = server.serve(changed, at: "/c")
        #expect(first.etag == same.etag)
        #expect(first.etag != other.etag)
        #expect(server.serve(Data(body), at: "d", etag: "\"mine\"").etag == "\"mine\"")
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/d").body == body)
    }

    @Test func headSendsFieldsWithoutBody() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/file.bin")
        let response = try RawHTTPClient.request(port: server.port, "HEAD", "/file.bin", fields: [("Range", "bytes=0-9")])
        #expect(response.status == 200)  // HEAD ignores Range
        #expect(response["Content-Length"] == "100")
        #expect(response.body.isEmpty)
        #expect(response.ending == .eof)
    }

    @Test(arguments: [
        ("bytes=10-19", 10, 19),
        ("bytes=90-", 90, 99),
        ("bytes=-5", 95, 99),
        ("bytes=95-1000", 95, 99),
        ("bytes=-500", 0, 99),
        ("bytes=0-0", 0, 0),
        ("BYTES = 3-4", 3, 4),
    ])
    func singleRangeGives206(range: String, first: Int, last: Int) throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/file.bin")
        let response = try RawHTTPClient.request(port: server.port, "GET", "/file.bin", fields: [("Range", range)])
        #expect(response.status == 206)
        #expect(response["Content-Range"] == "bytes \(first)-\(last)/100")
        #expect(response["Content-Length"] == String(last - first + 1))
        #expect(response.body == Array(body[first...last]))
    }

    @Test(arguments: ["bytes=0-1,5-6", "bytes=5-2", "items=0-1", "bytes=x-3", "bytes=", "bytes=1"])
    func unusableRangeGivesFullBody(range: String) throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/file.bin")
        let response = try RawHTTPClient.request(port: server.port, "GET", "/file.bin", fields: [("Range", range)])
        #expect(response.status == 200)
        #expect(response.body == body)
        #expect(response["Content-Range"] == nil)
    }

    @Test(arguments: ["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=99999999999999999999999-"])
    func unsatisfiableRangeGives416(range: String) throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/file.bin")
        let response = try RawHTTPClient.request(port: server.port, "GET", "/file.bin", fields: [("Range", range)])
        #expect(response.status == 416)
        #expect(response["Content-Range"] == "bytes */100")
        #expect(response["Content-Length"] == "0")
        #expect(response.body.isEmpty)
    }

    @Test func ifRangeWithStrongETagOrDate() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let resource = server.serve(body, at: "/file.bin")
        func get(_ ifRange: String) throws -> RawHTTPResponse {
            try RawHTTPClient.request(
                port: server.port, "GET", "/file.bin", fields: [("Range", "bytes=40-"), ("If-Range", ifRange)])
        }
        let match = try get(resource.etag)
        #expect(match.status == 206)
        #expect(match.body == Array(body[40...]))
        let mismatch = try get("\"something-else\"")
        #expect(mismatch.status == 200)
        #expect(mismatch.body == body)
        #expect(try get("W/" + resource.etag).status == 200)  // weak tags never match
        #expect(try get("Tue, 14 Nov 2023 22:13:20 GMT").status == 206)
        #expect(try get("Tue, 14 Nov 2023 22:13:21 GMT").status == 200)
        #expect(try get("Tuesday, 14-Nov-23 22:13:20 GMT").status == 200)  // only IMF-fixdate
    }

    @Test func ifRangeMismatchOverrides416() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/file.bin")
        let response = try RawHTTPClient.request(
            port: server.port, "GET", "/file.bin", fields: [("Range", "bytes=100-"), ("If-Range", "\"old\"")])
        #expect(response.status == 200)
        #expect(response.body == body)
    }

    @Test func weakServerETagNeverSatisfiesIfRange() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/weak", etag: "W/\"v1\"")
        let response = try RawHTTPClient.request(
            port: server.port, "GET", "/weak", fields: [("Range", "bytes=10-"), ("If-Range", "W/\"v1\"")])
        #expect(response.status == 200)
    }

    @Test func unknownPathMethodAndQuery() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/file.bin")
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/missing").status == 404)
        let post = try RawHTTPClient.request(port: server.port, "POST", "/file.bin", fields: [("Content-Length", "0")])
        #expect(post.status == 405)
        #expect(post["Allow"] == "GET, HEAD")
        let query = try RawHTTPClient.request(port: server.port, "GET", "/file.bin?token=1")
        #expect(query.status == 200)
        #expect(query.body == body)
        let absolute = try RawHTTPClient.request(port: server.port, "GET", "http://127.0.0.1:\(server.port)/file.bin")
        #expect(absolute.status == 200)
        server.removeResource(at: "/file.bin")
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/file.bin").status == 404)
        #expect(server.requests.map(\.status) == [404, 405, 200, 200, 404])
        #expect(server.requests[2].target == "/file.bin?token=1")
        #expect(server.requests[2].path == "/file.bin")
    }

    @Test func emptyBody() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve([], at: "/empty")
        let full = try RawHTTPClient.request(port: server.port, "GET", "/empty")
        #expect(full.status == 200)
        #expect(full["Content-Length"] == "0")
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/empty", fields: [("Range", "bytes=0-")]).status == 416)
    }

    @Test func servesFileFromDiskInChunks() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faulty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("big.bin")
        let content = sampleBytes(300_000, seed: 11)  // several 64 KiB chunks
        try Data(content).write(to: file)
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let resource = try server.serveFile(at: file, as: "/big.bin")
        #expect(resource.etag.hasSuffix("-\(String(300_000, radix: 16))\""))
        let full = try RawHTTPClient.request(port: server.port, "GET", "/big.bin")
        #expect(full.status == 200)
        expectSameBytes(full.body, content)
        let tail = try RawHTTPClient.request(
            port: server.port, "GET", "/big.bin", fields: [("Range", "bytes=70000-"), ("If-Range", resource.etag)])
        #expect(tail.status == 206)
        #expect(tail["Content-Range"] == "bytes 70000-299999/300000")
        expectSameBytes(tail.body, content[70_000...])
        #expect(throws: FaultyHTTPServerError.self) {
            try server.serveFile(at: directory.appendingPathComponent("none"), as: "/none")
        }
        #expect(throws: FaultyHTTPServerError.self) { try server.serveFile(at: directory, as: "/dir") }
        // A file that disappears after registration gives 500, not a crash.
        try FileManager.default.removeItem(at: file)
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/big.bin").status == 500)
    }
}

@Suite("FaultyHTTPServer: faults")
struct FaultyHTTPServerFaultTests {
    let body = sampleBytes(1000)

    @Test func dropAfterSendsExactlyNBytesThenEOF() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.dropAfter(bytes: 10), .dropAfter(bytes: 5000)], for: "/f")
        let cut = try RawHTTPClient.request(port: server.port, "GET", "/f")
        #expect(cut.status == 200)
        #expect(cut["Content-Length"] == "1000")
        #expect(cut.body == Array(body[..<10]))
        #expect(cut.ending == .eof)
        let ranged = try RawHTTPClient.request(port: server.port, "GET", "/f", fields: [("Range", "bytes=900-")])
        #expect(ranged.status == 206)
        #expect(ranged.body == Array(body[900...]))  // the drop point lies beyond the body
        let records = server.requests(for: "/f")
        #expect(records.map(\.fault) == [.dropAfter(bytes: 10), .dropAfter(bytes: 5000)])
        #expect(records.map(\.bodyBytesSent) == [10, 100])
        #expect(records.map(\.completed) == [false, true])
        #expect(server.faultScript(for: "/f").queue.isEmpty)
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/f").body == body)
        #expect(server.requests.last?.fault == nil)
    }

    @Test func injectedStatusAndTooManyRequests() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.status(503), .tooManyRequests(retryAfter: "7"), .status(500)])  // global queue
        let unavailable = try RawHTTPClient.request(port: server.port, "GET", "/f")
        #expect(unavailable.status == 503)
        #expect(unavailable.body != body)
        let limited = try RawHTTPClient.request(port: server.port, "GET", "/f")
        #expect(limited.status == 429)
        #expect(limited["Retry-After"] == "7")
        let head = try RawHTTPClient.request(port: server.port, "HEAD", "/f")
        #expect(head.status == 500)
        #expect(head.body.isEmpty)
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/f").status == 200)
        #expect(server.requests.map(\.status) == [503, 429, 500, 200])
    }

    @Test func faultsDoNotApplyToUnknownPaths() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.status(503)])
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/nope").status == 404)
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/f").status == 503)
    }

    @Test func pathQueueComesBeforeGlobalQueue() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/a")
        server.serve(body, at: "/b")
        server.enqueueFaults([.status(500)])
        server.enqueueFaults([.status(502)], for: "a")
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/b").status == 500)
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/a").status == 502)
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/a").status == 200)
        server.enqueueFaults([.status(504)], for: "/a")
        server.clearFaults()
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/a").status == 200)
    }

    @Test func resetAfterEndsWithConnectionReset() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.resetAfter(bytes: 10)], for: "/f")
        let fd = try RawHTTPClient.startRequest(port: server.port, "GET /f HTTP/1.1\r\n\r\n", timeoutMilliseconds: 10_000)
        defer { close(fd) }
        let (data, ending) = RawHTTPClient.readAll(fd)
        #expect(ending == .failed(ECONNRESET))
        #expect(data.count <= 1000)  // never more than the head and 10 body bytes
        #expect(server.requests.first?.bodyBytesSent == 10)
        #expect(server.requests.first?.completed == false)
    }

    @Test func closeWithoutResponseSendsNothing() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.closeWithoutResponse], for: "/f")
        let fd = try RawHTTPClient.startRequest(port: server.port, "GET /f HTTP/1.1\r\n\r\n", timeoutMilliseconds: 10_000)
        defer { close(fd) }
        let (data, ending) = RawHTTPClient.readAll(fd)
        #expect(data.isEmpty)
        #expect(ending == .eof)
        #expect(server.requests.first?.status == 0)
        #expect(server.requests.first?.completed == false)
        #expect(server.requests.first?.fault == .closeWithoutResponse)
    }

    @Test func serviceUnavailableWithRetryAfter() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.serviceUnavailable(retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT")], for: "/f")
        let response = try RawHTTPClient.request(port: server.port, "GET", "/f")
        #expect(response.status == 503)
        #expect(response["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT")
    }

    @Test func contentEncodingAndMissingContentLength() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.contentEncoding("gzip"), .omitContentLength], for: "/f")
        let encoded = try RawHTTPClient.request(port: server.port, "GET", "/f", fields: [("Range", "bytes=10-")])
        #expect(encoded.status == 206)
        #expect(encoded["Content-Encoding"] == "gzip")
        #expect(encoded.body == Array(body[10...]))  // labelled gzip, but not encoded
        let unframed = try RawHTTPClient.request(port: server.port, "GET", "/f")
        #expect(unframed.status == 200)
        #expect(unframed["Content-Length"] == nil)
        #expect(unframed.body == body)
        #expect(unframed.ending == .eof)
    }

    @Test func corruptByteFlipsExactlyOneByte() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let resource = server.serve(body, at: "/f")
        server.enqueueFaults([.corruptByte(atOffset: 700), .corruptByte(atOffset: 5)], for: "/f")
        let corrupted = try RawHTTPClient.request(port: server.port, "GET", "/f")
        #expect(corrupted.status == 200)
        #expect(corrupted["ETag"] == resource.etag)
        var expected = body
        expected[700] ^= 0xFF
        #expect(corrupted.body == expected)
        // Offset 5 lies outside the requested range: the range arrives intact.
        let ranged = try RawHTTPClient.request(port: server.port, "GET", "/f", fields: [("Range", "bytes=10-")])
        #expect(ranged.body == Array(body[10...]))
    }

    @Test func corruptByteInFileBody() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("faulty-\(UUID().uuidString).bin")
        let content = sampleBytes(200_000, seed: 3)
        try Data(content).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        try server.serveFile(at: file, as: "/f")
        server.enqueueFaults([.corruptByte(atOffset: 150_000)], for: "/f")
        let response = try RawHTTPClient.request(port: server.port, "GET", "/f", fields: [("Range", "bytes=100000-")])
        var expected = Array(content[100_000...])
        expected[50_000] ^= 0xFF
        expectSameBytes(response.body, expected)
    }

    @Test func redirects() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.setRedirect(from: "/old", to: "/f")
        server.setRedirect(from: "/perm", to: "http://example.invalid/x", status: 308)
        server.enqueueFaults([.redirect(status: 307, location: "/elsewhere")], for: "/f")
        let moved = try RawHTTPClient.request(port: server.port, "GET", "/old", fields: [("Range", "bytes=1-")])
        #expect(moved.status == 302)
        #expect(moved["Location"] == "/f")
        let permanent = try RawHTTPClient.request(port: server.port, "GET", "/perm")
        #expect(permanent.status == 308)
        #expect(permanent["Location"] == "http://example.invalid/x")
        let injected = try RawHTTPClient.request(port: server.port, "GET", "/f")
        #expect(injected.status == 307)
        #expect(injected["Location"] == "/elsewhere")
        server.setRedirect(from: "/old", to: nil)
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/old").status == 404)
        #expect(server.requests.map(\.status) == [302, 308, 307, 404])
        #expect(server.requests[0].range == "bytes=1-")
    }

    @Test func ignoreRangeSendsFullBody() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let resource = server.serve(body, at: "/f")
        server.enqueueFaults([.ignoreRange], for: "/f")
        let response = try RawHTTPClient.request(
            port: server.port, "GET", "/f", fields: [("Range", "bytes=500-"), ("If-Range", resource.etag)])
        #expect(response.status == 200)
        #expect(response.body == body)
        #expect(response["Content-Range"] == nil)
    }

    @Test func changeETagInvalidatesOldValidatorForGood() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let old = server.serve(body, at: "/f")
        server.enqueueFaults([.changeETag], for: "/f")
        let changed = try RawHTTPClient.request(
            port: server.port, "GET", "/f", fields: [("Range", "bytes=500-"), ("If-Range", old.etag)])
        #expect(changed.status == 200)
        #expect(changed.body == body)
        let newTag = try #require(changed["ETag"])
        #expect(newTag != old.etag)
        #expect(server.resource(at: "/f")?.etag == newTag)
        #expect(changed["Last-Modified"] != HTTPDateSample.defaultLastModified)
        // From now on the new tag is the one that matches; the old one keeps failing.
        let resumed = try RawHTTPClient.request(
            port: server.port, "GET", "/f", fields: [("Range", "bytes=500-"), ("If-Range", newTag)])
        #expect(resumed.status == 206)
        #expect(resumed["ETag"] == newTag)
        let stale = try RawHTTPClient.request(
            port: server.port, "GET", "/f", fields: [("Range", "bytes=500-"), ("If-Range", old.etag)])
        #expect(stale.status == 200)
    }

    @Test func wrongContentRangeStartsElsewhere() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.wrongContentRange, .wrongContentRange, .wrongContentRange], for: "/f")
        let shifted = try RawHTTPClient.request(port: server.port, "GET", "/f", fields: [("Range", "bytes=500-")])
        #expect(shifted.status == 206)
        #expect(shifted["Content-Range"] == "bytes 499-999/1000")
        #expect(shifted.body == Array(body[499...]))
        let fromZero = try RawHTTPClient.request(port: server.port, "GET", "/f", fields: [("Range", "bytes=0-9")])
        #expect(fromZero["Content-Range"] == "bytes 1-9/1000")
        let unasked = try RawHTTPClient.request(port: server.port, "GET", "/f")
        #expect(unasked.status == 206)
        #expect(unasked["Content-Range"] == "bytes 1-999/1000")
        #expect(unasked.body == Array(body[1...]))
    }

    @Test func stallAfterHeadersHoldsUntilStop() throws {
        let server = try FaultyHTTPServer()
        server.serve(body, at: "/f")
        server.enqueueFaults([.stallAfterHeaders], for: "/f")
        let stalled = try RawHTTPClient.request(port: server.port, "GET", "/f", timeoutMilliseconds: 1_000, keepOpen: true)
        #expect(stalled.ending == .timedOut)
        #expect(stalled.status == 200)
        #expect(stalled.body.isEmpty)
        try #require(stalled.socket >= 0)
        defer { close(stalled.socket) }
        server.stop()  // must release the stalled connection
        RawHTTPClient.setReceiveTimeout(stalled.socket, milliseconds: 10_000)
        let (rest, ending) = RawHTTPClient.readAll(stalled.socket)
        #expect(rest.isEmpty)
        #expect(ending == .eof || ending == .failed(ECONNRESET))
        #expect(server.requests.first?.completed == false)
    }

    @Test func stallBeforeHeadersSendsNothing() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.stallBeforeHeaders], for: "/f")
        let fd = try RawHTTPClient.startRequest(port: server.port, "GET /f HTTP/1.1\r\n\r\n", timeoutMilliseconds: 1_000)
        defer { close(fd) }
        let (data, ending) = RawHTTPClient.readAll(fd)
        #expect(data.isEmpty)
        #expect(ending == .timedOut)
        server.stop()
        RawHTTPClient.setReceiveTimeout(fd, milliseconds: 10_000)
        let (rest, afterStop) = RawHTTPClient.readAll(fd)
        #expect(rest.isEmpty)
        #expect(afterStop == .eof || afterStop == .failed(ECONNRESET))
        #expect(server.requests.first?.completed == false)
        #expect(server.requests.first?.fault == .stallBeforeHeaders)
    }

    @Test func stallAfterBytesSendsThemThenHolds() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(body, at: "/f")
        server.enqueueFaults([.stallAfter(bytes: 10)], for: "/f")
        let stalled = try RawHTTPClient.request(port: server.port, "GET", "/f", timeoutMilliseconds: 1_000)
        #expect(stalled.ending == .timedOut)
        #expect(stalled.body == Array(body[..<10]))
        // The client gave up and closed: the server notices and serves the next request normally.
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/f").body == body)
    }

    @Test func trickleDeliversBodyIntact() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let content = sampleBytes(20_000)
        server.serve(content, at: "/f")
        server.enqueueFaults([.trickle(bytesPerSecond: 400_000)], for: "/f")
        let response = try RawHTTPClient.request(port: server.port, "GET", "/f")
        #expect(response.status == 200)
        expectSameBytes(response.body, content)
        #expect(server.requests.first?.completed == true)
    }

    @Test func stopReleasesTrickle() throws {
        let server = try FaultyHTTPServer()
        server.serve(sampleBytes(10_000), at: "/f")
        server.enqueueFaults([.trickle(bytesPerSecond: 1)], for: "/f")
        // The timeout must stay well below the 1 s gap between trickled bytes.
        let slow = try RawHTTPClient.request(port: server.port, "GET", "/f", timeoutMilliseconds: 200, keepOpen: true)
        #expect(slow.ending == .timedOut)
        #expect(slow.body.count < 10)
        try #require(slow.socket >= 0)
        defer { close(slow.socket) }
        server.stop()
        RawHTTPClient.setReceiveTimeout(slow.socket, milliseconds: 10_000)
        let (_, ending) = RawHTTPClient.readAll(slow.socket)
        #expect(ending == .eof || ending == .failed(ECONNRESET))
    }

    /// Whatever the fault, every byte a client receives is the resource's byte at the offset the
    /// response claims (except the one byte `corruptByte` flips), so a client that checks headers
    /// can always trust a body prefix.
    @Test func bodiesStayConsistentUnderRandomFaults() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let content = sampleBytes(50_000, seed: 5)
        server.serve(content, at: "/f")
        let kinds: [HTTPFault] = [
            .dropAfter(bytes: 777), .resetAfter(bytes: 1000), .ignoreRange, .changeETag, .wrongContentRange,
            .status(500), .tooManyRequests(retryAfter: "1"), .closeWithoutResponse, .omitContentLength,
            .contentEncoding("br"), .trickle(bytesPerSecond: 50_000_000),
        ]
        server.setRandomFaults(rate: 0.6, seed: 2024, kinds: kinds)
        var generator = SeededRandomNumberGenerator(seed: 9)
        for _ in 0..<120 {
            let start = Int(generator.next() % 60_000)  // sometimes past the end → 416
            let fd = try RawHTTPClient.startRequest(
                port: server.port, "GET /f HTTP/1.1\r\nRange: bytes=\(start)-\r\n\r\n", timeoutMilliseconds: 10_000)
            let (data, ending) = RawHTTPClient.readAll(fd)
            close(fd)
            let record = try #require(server.requests.last)
            if record.fault == .closeWithoutResponse {
                #expect(data.isEmpty)
                continue
            }
            let response = try RawHTTPClient.parse(data, ending: ending)
            #expect(response.status == record.status)
            var first = 0
            switch response.status {
            case 200: first = 0
            case 206:
                let range = try #require(response["Content-Range"])
                first = try #require(Int(range.dropFirst("bytes ".count).prefix { $0 != "-" }))
                if record.fault != .wrongContentRange { #expect(first == start) }
            case 416:
                #expect(start >= content.count)
                #expect(response["Content-Range"] == "bytes */\(content.count)")
                continue
            default:
                #expect([500, 429].contains(response.status))
                continue
            }
            #expect(first + response.body.count <= content.count)
            expectSameBytes(response.body, content[first..<min(content.count, first + response.body.count)])
            if let declared = response["Content-Length"].flatMap(Int.init), response.body.count < declared {
                #expect([.dropAfter(bytes: 777), .resetAfter(bytes: 1000)].contains(record.fault))
            }
        }
        #expect(Set(server.requests.compactMap(\.fault)).count >= 8)  // the mix really was mixed
    }

    @Test func seededRandomFaultsAreReproducible() throws {
        let kinds: [HTTPFault] = [.status(500), .status(503), .ignoreRange]
        func run(seed: UInt64) throws -> [HTTPFault?] {
            let server = try FaultyHTTPServer()
            defer { server.stop() }
            server.serve(body, at: "/f")
            server.setRandomFaults(rate: 0.5, seed: seed, kinds: kinds, for: "/f")
            for _ in 0..<24 { _ = try RawHTTPClient.request(port: server.port, "GET", "/f") }
            return server.requests.map(\.fault)
        }
        let first = try run(seed: 42)
        #expect(try run(seed: 42) == first)
        // The server applies exactly the script's sequence.
        var script = FaultScript.random(rate: 0.5, seed: 42, kinds: kinds)
        #expect(first == (0..<24).map { _ in script.nextFault() })
        #expect(first.contains(nil))
        #expect(first.contains { $0 != nil })
        #expect(try run(seed: 43) != first)
    }
}

@Suite("FaultyHTTPServer: recording and lifecycle")
struct FaultyHTTPServerLifecycleTests {
    @Test func recordsMethodPathAndHeadersCaseInsensitively() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let resource = server.serve(sampleBytes(64), at: "/f")
        _ = try RawHTTPClient.request(
            port: server.port, "GET", "/f",
            fields: [("range", "bytes=10-"), ("if-range", resource.etag), ("ACCEPT-ENCODING", "identity"), ("X-Twice", "1"), ("x-twice", "2")])
        let record = try #require(server.requests.first)
        #expect(record.index == 0)
        #expect(record.method == "GET")
        #expect(record.path == "/f")
        #expect(record.version == "HTTP/1.1")
        #expect(record.status == 206)
        #expect(record.fault == nil)
        #expect(record.ifRange == resource.etag)
        #expect(record.range == "bytes=10-")
        #expect(record.headers["Accept-Encoding"] == "identity")
        #expect(record.headers.contains("HOST"))
        #expect(record.headers.values(for: "X-TWICE") == ["1", "2"])
        #expect(record.headers.fields.first?.name == "Host")
        #expect(record.bodyBytesSent == 54)
        #expect(record.completed)
    }

    @Test func requestsAtLeastIsAHandshake() async throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(sampleBytes(10), at: "/f")
        server.enqueueFaults([.stallAfterHeaders], for: "/f")
        let waiter = Task { await server.requests(atLeast: 1) }
        let client = Task {
            // A long timeout: stop() is what must release the client, even on a loaded machine.
            try await onThread { try RawHTTPClient.request(port: server.port, "GET", "/f", timeoutMilliseconds: 120_000) }
        }
        let seen = await waiter.value
        #expect(seen.first?.fault == .stallAfterHeaders)
        server.stop()  // releases the stalled client long before its timeout
        let response = try await client.value
        #expect(response.ending == .eof || response.ending == .failed(ECONNRESET), "\(response.ending)")
        #expect(await server.requests(atLeast: 5).count == 1)  // returns at once after stop
    }

    @Test func malformedRequestsGet400() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(sampleBytes(10), at: "/f")
        for raw in ["garbage\r\n\r\n", "GET /f\r\n\r\n", "GET /f HTTP/1.1\r\nNoColon\r\n\r\n",
                    "GET /f HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET /f HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
                    "G(T /f HTTP/1.1\r\n\r\n", "\r\n\r\n"] {
            let response = try RawHTTPClient.exchange(port: server.port, raw: Array(raw.utf8))
            #expect(response.status == 400, "\(raw.debugDescription)")
        }
        let version = try RawHTTPClient.exchange(port: server.port, raw: Array("GET /f HTTP/2.0\r\n\r\n".utf8))
        #expect(version.status == 505)
        let bareLF = try RawHTTPClient.exchange(port: server.port, raw: Array("GET /f HTTP/1.0\nHost: x\n\n".utf8))
        #expect(bareLF.status == 200)
        #expect(server.requests.count == 9)
    }

    @Test func hugeHeadGets431() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(sampleBytes(10), at: "/f")
        let huge = "GET /f HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n"
        let response = try RawHTTPClient.exchange(port: server.port, raw: Array(huge.utf8))
        #expect(response.status == 431)
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/f").status == 200)
    }

    @Test func clientDisconnectingMidBodyDoesNotHurt() throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let content = sampleBytes(8 << 20)  // larger than the socket buffers
        server.serve(content, at: "/big", etag: "\"big\"")
        for _ in 0..<3 {
            let fd = try RawHTTPClient.connect(port: server.port)
            _ = RawHTTPClient.sendAll(fd, Array("GET /big HTTP/1.1\r\n\r\n".utf8))
            let (prefix, _) = RawHTTPClient.readAll(fd, limit: 1000)
            #expect(prefix.count == 1000)
            close(fd)  // the server is blocked in send: it gets EPIPE/ECONNRESET, not SIGPIPE
        }
        // A client that connects and leaves without a request.
        close(try RawHTTPClient.connect(port: server.port))
        let small = server.serve(sampleBytes(10), at: "/small")
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/small")["ETag"] == small.etag)
    }

    @Test func stopIsIdempotentAndClosesThePort() async throws {
        let server = try FaultyHTTPServer()
        server.serve(sampleBytes(10), at: "/f")
        #expect(try RawHTTPClient.request(port: server.port, "GET", "/f").status == 200)
        #expect(server.url(for: "f").absoluteString == "http://127.0.0.1:\(server.port)/f")
        #expect(server.baseURL.port == Int(server.port))
        #expect(!server.isStopped)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { server.stop() } }
        }
        server.stop()
        #expect(server.isStopped)
        #expect {
            _ = try RawHTTPClient.connect(port: server.port)
        } throws: { error in
            (error as? RawHTTPClient.ConnectError)?.errno == ECONNREFUSED
        }
    }

    @Test func deinitStopsTheServer() throws {
        var server: FaultyHTTPServer? = try FaultyHTTPServer()
        let port = try #require(server?.port)
        server?.serve(sampleBytes(10), at: "/f")
        #expect(try RawHTTPClient.request(port: port, "GET", "/f").status == 200)
        server = nil
        #expect(throws: RawHTTPClient.ConnectError.self) { try RawHTTPClient.connect(port: port) }
    }

    @Test func manyConcurrentClients() async throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        let content = sampleBytes(200_000)
        server.serve(content, at: "/f")
        server.setRandomFaults(rate: 0.3, seed: 1, kinds: [.dropAfter(bytes: 1234), .status(503)], for: "/f")
        let results = try await withThrowingTaskGroup(of: RawHTTPResponse.self) { group in
            for _ in 0..<16 {
                group.addTask { try RawHTTPClient.request(port: server.port, "GET", "/f") }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 16)
        for response in results {
            switch response.status {
            case 200 where response.body.count == content.count: expectSameBytes(response.body, content)
            case 200: expectSameBytes(response.body, content[..<1234])
            default: #expect(response.status == 503)
            }
        }
        let faults = server.requests.compactMap(\.fault)
        var script = FaultScript.random(rate: 0.3, seed: 1, kinds: [.dropAfter(bytes: 1234), .status(503)])
        #expect(faults == (0..<16).compactMap { _ in script.nextFault() })
    }
}

@Suite("FaultyHTTPServer: FaultScript")
struct FaultScriptTests {
    @Test func queueThenRandom() {
        var script = FaultScript(queue: [.status(500), .ignoreRange])
        #expect(!script.isEmpty)
        #expect(script.nextFault() == .status(500))
        #expect(script.nextFault() == .ignoreRange)
        #expect(script.nextFault() == nil)
        #expect(script.isEmpty)
        script.setRandom(rate: 1, seed: 3, kinds: [.changeETag])
        #expect((0..<10).allSatisfy { _ in script.nextFault() == .changeETag })
        script.setRandom(rate: 0, seed: 3, kinds: [.changeETag])
        #expect(script.isEmpty)
        #expect(script.nextFault() == nil)
    }

    @Test func rateIsRoughlyRespected() {
        var script = FaultScript.random(rate: 0.3, seed: 99, kinds: [.status(500), .status(503)])
        let faults = (0..<10_000).compactMap { _ in script.nextFault() }
        #expect((2_700...3_300).contains(faults.count))
        #expect(faults.contains(.status(500)) && faults.contains(.status(503)))
    }

    @Test func outOfRangeRatesAreClamped() {
        var script = FaultScript.random(rate: 7, seed: 1, kinds: [.ignoreRange])
        #expect(script.randomRate == 1)
        script.setRandom(rate: .nan, seed: 1, kinds: [.ignoreRange])
        #expect(script.randomRate == 0)
        script.setRandom(rate: -1, seed: 1, kinds: [.ignoreRange])
        #expect(script.nextFault() == nil)
    }
}

enum HTTPDateSample {
    static let defaultLastModified = "Tue, 14 Nov 2023 22:13:20 GMT"
}
