import Downloads
import Foundation
import JobStores
import RangeResume
import Testing

/// Issue 21: `DownloadQueue.enqueue` applies the request-field rules (`RequestValidator`) to the
/// URL, the mirrors and the configured header fields, so nothing bad ever reaches the journal;
/// `SegmentedDownload` applies them before it touches a file.
@Suite("Downloads request-field validation")
struct RequestFieldValidationTests {
    /// One row: what is enqueued, and the field the typed error must name (`nil`: accepted as is).
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var url: String
        var mirrors: [String] = []
        var headers: [String: String] = [:]
        var refusedField: String?
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "CR LF in a value", url: "http://127.0.0.1:9/f.bin", headers: ["X-A": "1\r\nX-Injected: yes"],
            refusedField: #"resumer.additionalHeaders["X-A"]"#),
        Row(name: "NUL in a value", url: "http://127.0.0.1:9/f.bin", headers: ["X-A": "\u{0}"],
            refusedField: #"resumer.additionalHeaders["X-A"]"#),
        Row(name: "LF in a name", url: "http://127.0.0.1:9/f.bin", headers: ["X-A\nX-B": "1"],
            refusedField: #"resumer.additionalHeaders["X-A\nX-B"]"#),
        Row(name: "empty name", url: "http://127.0.0.1:9/f.bin", headers: ["": "1"],
            refusedField: #"resumer.additionalHeaders[""]"#),
        Row(name: "name with a colon", url: "http://127.0.0.1:9/f.bin", headers: ["X:A": "1"],
            refusedField: #"resumer.additionalHeaders["X:A"]"#),
        Row(name: "name with a space", url: "http://127.0.0.1:9/f.bin", headers: ["X A": "1"],
            refusedField: #"resumer.additionalHeaders["X A"]"#),
        Row(name: "100 KB value", url: "http://127.0.0.1:9/f.bin", headers: ["X-Big": String(repeating: "v", count: 100_000)],
            refusedField: #"resumer.additionalHeaders["X-Big"]"#),
        Row(name: "engine-owned If-Range", url: "http://127.0.0.1:9/f.bin", headers: ["If-Range": "\"x\""],
            refusedField: #"resumer.additionalHeaders["If-Range"]"#),
        Row(name: "URL with userinfo", url: "http://u:p@127.0.0.1:9/f.bin", refusedField: "url"),
        Row(name: "URL with a fragment", url: "http://127.0.0.1:9/f.bin#x", refusedField: "url"),
        Row(name: "non-http scheme", url: "ftp://127.0.0.1:9/f.bin", refusedField: "url"),
        Row(name: "mirror with userinfo", url: "http://127.0.0.1:9/f.bin", mirrors: ["http://a.test/f", "http://u@b.test/f"],
            refusedField: "mirrors[1]"),
        Row(name: "non-http mirror", url: "http://127.0.0.1:9/f.bin", mirrors: ["gopher://a.test/f"], refusedField: "mirrors[0]"),
        Row(name: "encoded path", url: "http://127.0.0.1:9/a%20b.bin"),
        Row(name: "unicode path", url: "http://127.0.0.1:9/%C3%BCn%C3%AF.bin"),
        Row(name: "query with %2F", url: "http://127.0.0.1:9/f.bin?next=a%2Fb"),
        Row(name: "caller's User-Agent", url: "http://127.0.0.1:9/f.bin", headers: ["User-Agent": "Adopter/1.0"]),
    ]

    @Test(arguments: rows)
    func enqueue(row: Row) async throws {
        let store = InMemoryJobStore()
        let queue = DownloadQueue(store: store, configuration: .init(resumer: .init(additionalHeaders: row.headers)))
        let destination = URL(fileURLWithPath: "/tmp/enqueue-validation-\(UUID().uuidString).bin")
        let enqueue = {
            try await queue.enqueue(url: URL(string: row.url)!, mirrors: row.mirrors.map { URL(string: $0)! },
                                    destination: destination)
        }
        if let field = row.refusedField {
            let error = await #expect(throws: DownloadQueueError.self) { try await enqueue() }
            guard case .invalidArgument(let message)? = error else {
                Issue.record("expected invalidArgument, got \(String(describing: error))")
                return
            }
            #expect(message.hasPrefix(field), "\(message)")
            #expect(try await queue.jobs().isEmpty, "nothing may reach the journal")
        } else {
            let id = try await enqueue()
            let job = try #require(try await queue.jobs().first { $0.id == id })
            #expect(job.url.absoluteString == row.url)
        }
    }

    @Test(arguments: rows.filter { $0.mirrors.isEmpty && $0.refusedField != nil })
    func segmentedDownload(row: Row) async throws {
        let field = try #require(row.refusedField).replacingOccurrences(of: "resumer.", with: "transfer.")
        var configuration = SegmentedDownloadConfiguration()
        configuration.transfer.additionalHeaders = row.headers
        let destination = URL(fileURLWithPath: "/tmp/segmented-validation-\(UUID().uuidString).bin")
        let error = await #expect(throws: SegmentedDownloadError.self) {
            try await SegmentedDownload(configuration: configuration).download(from: URL(string: row.url)!, to: destination)
        }
        guard case .invalidArgument(let message)? = error else {
            Issue.record("expected invalidArgument, got \(String(describing: error))")
            return
        }
        #expect(message.hasPrefix(field), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: destination.path + ".part"))
    }
}
