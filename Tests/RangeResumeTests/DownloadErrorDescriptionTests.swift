import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import RangeResume
import ResilienceRetry
import Testing

/// `DownloadErrorDescription.describe(_:url:)`: one short line per error, never a Foundation dump.
@Suite("DownloadErrorDescription")
struct DownloadErrorDescriptionTests {
    static let url = URL(string: "http://127.0.0.1:45275/big.bin")!

    @Test func linesReadAsCurlWordsThem() {
        let digestA = String(repeating: "9f86", count: 16), digestB = String(repeating: "2c26", count: 16)
        let cases: [(any Error, String)] = [
            (URLError(.cannotConnectToHost), "connection refused (127.0.0.1:45275)"),
            (URLError(.timedOut, userInfo: [NSURLErrorFailingURLErrorKey: URL(string: "https://example.com/x")!]),
             "timed out (example.com:443)"),
            (HTTPStatusError(status: 404, url: Self.url), "HTTP 404 Not Found"),
            (HTTPStatusError(status: 599), "HTTP 599"),
            (RangeResumeError.stalled(timeout: .seconds(30)), "no data for 30 s"),
            (RangeResumeError.stalled(timeout: .milliseconds(1500)), "no data for 1.5 s"),
            (RangeResumeError.fileSystem(operation: "pwrite", path: "/data/big.bin.part", errno: ENOSPC),
             "no space left on device (/data/big.bin.part); partial file kept"),
            (RangeResumeError.fileSystem(operation: "open", path: "/data/big.bin.part", errno: EACCES),
             "permission denied (/data/big.bin.part)"),
            (IntegrityError(mismatch: .sha256(expected: digestA, actual: digestB), isPermanent: false),
             "SHA-256 mismatch (expected \(digestA), got \(digestB))"),
            (CancellationError(), "cancelled"),
            (NSError(domain: "SomeDomain", code: 7, userInfo: ["a": "b"]), "SomeDomain error 7"),
            (NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC)), "no space left on device"),
        ]
        for (error, line) in cases {
            #expect(DownloadErrorDescription.describe(error, url: Self.url) == line)
        }
        #expect(DownloadErrorDescription.describe(URLError(.cannotConnectToHost)) == "connection refused (unknown host)")
    }
}
