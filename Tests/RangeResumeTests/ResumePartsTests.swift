import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import RangeResume
import ResilienceSupport
import Synchronization
import Testing

/// The small parts of the resumer: sidecar format, Content-Range parsing, the bounded channel,
/// the redirect rule.
@Suite("RangeResume parts")
struct ResumePartsTests {
    @Test func sidecarRoundTripsAndRejectsGarbage() throws {
        let sidecar = ResumeSidecar(url: "https://example.test/a b", validator: .etag("\"x=y\""), length: 42,
                                    durable: 7, integrityFailures: 1)
        #expect(ResumeSidecar(decoding: sidecar.encoded()) == sidecar)
        let dated = ResumeSidecar(url: "u", validator: .lastModified("Tue, 15 Nov 1994 08:12:31 GMT"), length: nil,
                                  durable: 0, integrityFailures: 0)
        #expect(ResumeSidecar(decoding: dated.encoded()) == dated)
        #expect(String(decoding: sidecar.encoded(), as: UTF8.self).hasPrefix("rangeresume-sidecar=2\nurl="))
        for garbage in ["", "hello", "rangeresume-sidecar=1\nurl=u\n", "rangeresume-sidecar=1\nurl=u\ndurable=-1\n",
                        "rangeresume-sidecar=1\nurl=u\ndurable=1\nlength=x\n", "rangeresume-sidecar=3\nurl=u\ndurable=1\n"] {
            #expect(ResumeSidecar(decoding: Array(garbage.utf8)) == nil, "\(garbage)")
        }
    }

    @Test func contentRangeParsing() {
        let full = ContentRange("bytes 100-199/1000")
        #expect(full?.first == 100 && full?.last == 199 && full?.total == 1000)
        #expect(ContentRange("bytes */1000")?.first == nil && ContentRange("bytes */1000")?.total == 1000)
        #expect(ContentRange("bytes 0-9/*")?.total == nil)
        for bad in ["", "bytes", "bytes */*", "bytes 5-4/10", "bytes 0-10/10", "items 0-1/2", "bytes -1-2/3", "bytes 0-1"] {
            #expect(ContentRange(bad) == nil, "\(bad)")
        }
    }

    @Test func validatorRules() {
        #expect(ResumeValidator(head: .init(status: 200, headers: ["ETag": "\"s\""])) == .etag("\"s\""))
        #expect(ResumeValidator(head: .init(status: 200, headers: ["etag": "W/\"w\"", "Last-Modified": "d"])) == nil)
        #expect(ResumeValidator(head: .init(status: 200, headers: ["Last-Modified": "d"])) == .lastModified("d"))
        #expect(ResumeValidator(head: .init(status: 200, headers: [:])) == nil)
    }

    @Test func sendBlocksTheProducerSoTheQueueStaysBounded() async throws {
        let channel = TransportChannel(limit: 1000)
        let chunks = 200
        let producerDone = AsyncStream.makeStream(of: Void.self)
        let producer = Thread {
            for index in 0..<chunks { channel.send(.body(Data(repeating: UInt8(truncatingIfNeeded: index), count: 300))) }
            channel.finish()
            producerDone.continuation.yield()
            producerDone.continuation.finish()
        }
        producer.start()
        var received = 0
        var ordered = true
        while let event = try await channel.next() {
            guard case .body(let data) = event else { continue }
            ordered = ordered && data.first == UInt8(truncatingIfNeeded: received / 300)
            received += data.count
        }
        for await _ in producerDone.stream {}
        #expect(received == chunks * 300 && ordered)
        #expect(channel.peakQueuedBytes <= 1000 + 300)
    }

    @Test func cancelReleasesABlockedProducerAndDropsLateEvents() async throws {
        let channel = TransportChannel(limit: 100)
        let cancelled = LockedValue(false)
        channel.setCancelHandler { cancelled.withLock { $0 = true } }
        let producerDone = AsyncStream.makeStream(of: Int.self)
        let producer = Thread {
            var sent = 0
            while channel.send(.body(Data(count: 60))) { sent += 1 }
            producerDone.continuation.yield(sent)
            producerDone.continuation.finish()
        }
        producer.start()
        _ = try await channel.next()
        channel.cancel(RangeResumeError.stalled(timeout: .seconds(1)))
        var sent: Int?
        for await value in producerDone.stream { sent = value }
        #expect(sent != nil)
        #expect(cancelled.withLock { $0 })
        #expect(!channel.offer(.body(Data(count: 1))))
        await #expect(throws: RangeResumeError.stalled(timeout: .seconds(1))) { _ = try await channel.next() }
    }

    @Test func socketEngineParsesResponseHeads() throws {
        let url = URL(string: "http://example.test/x")!
        let text = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nETag:  \"a\" \r\nVary: a\r\nVary: b\r\n\r\nBODY"
        let bytes = Array(text.utf8)
        let end = try #require(SocketExchange.headEnd(bytes))
        #expect(Array(bytes[end...]) == Array("BODY".utf8))
        let head = try #require(SocketExchange.parseHead(Array(bytes[..<end]), url: url))
        #expect(head.status == 206 && head["content-range"] == "bytes 5-9/10" && head["ETag"] == "\"a\"" && head["vary"] == "a, b")
        #expect(SocketExchange.headEnd(Array("HTTP/1.1 200 OK\r\n".utf8)) == nil)
        for bad in ["HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 abc\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "HTTP/1.1 999 X\r\n\r\n"] {
            #expect(SocketExchange.parseHead(Array(bad.utf8), url: url) == nil, "\(bad)")
        }
    }

    @Test func httpsToHttpRedirectIsRefused() throws {
        let refused = LockedValue<URL?>(nil)
        var answers: [URL?] = []
        for target in ["http://example.test/b", "https://other.test/c", "file:///etc/passwd"] {
            answers.append(SessionDelegate.redirect(from: URL(string: "https://example.test/a")!,
                                                    to: URLRequest(url: URL(string: target)!), refused: refused)?.url)
        }
        #expect(answers == [nil, URL(string: "https://other.test/c"), nil])
        #expect(refused.withLock { $0 } == URL(string: "file:///etc/passwd"))
    }

    /// curl's rule: credentials never follow a redirect to another origin (scheme, host or port).
    @Test(arguments: [
        ("http://127.0.0.1:8080/b", true),
        ("http://localhost:8080/b", false),
        ("http://127.0.0.1:8081/b", false),
        ("https://127.0.0.1:8080/b", false),
    ])
    func redirectKeepsCredentialsOnlyWithinTheOrigin(target: String, keeps: Bool) throws {
        var request = URLRequest(url: URL(string: target)!)
        request.setValue("Bearer secret", forHTTPHeaderField: "Authorization")
        request.setValue("session=1", forHTTPHeaderField: "Cookie")
        request.setValue("Basic x", forHTTPHeaderField: "Proxy-Authorization")
        request.setValue("kept", forHTTPHeaderField: "X-Trace")
        let followed = try #require(SessionDelegate.redirect(from: URL(string: "http://127.0.0.1:8080/a")!, to: request,
                                                             refused: LockedValue<URL?>(nil)))
        for field in ["Authorization", "Cookie", "Proxy-Authorization"] {
            #expect((followed.value(forHTTPHeaderField: field) != nil) == keeps, "\(field) to \(target)")
        }
        #expect(followed.value(forHTTPHeaderField: "X-Trace") == "kept")
    }
}
