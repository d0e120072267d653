import Foundation
import ResilienceTesting
import Testing

/// The error lines of `resilient-download` read as curl's do — on the retry lines, in the summary
/// table and on stderr — never as an `Error Domain=` dump. Drives the real binary with stdout and
/// stderr captured together.
@Suite("resilient-download error lines", .timeLimit(.minutes(3)))
struct ResilientDownloadErrorLineTests {
    enum Failure: String, CaseIterable { case refused, notFound, stall }

    @Test(arguments: Failure.allCases) func aFailureReadsAsOneShortLine(_ failure: Failure) async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        server.serve(seededBytes(200_000, seed: 5), at: "/f.bin")
        let url = server.url(for: "/f.bin")
        let expected: String
        switch failure {
        case .refused:
            server.stop()   // nothing listens on that port any more
            expected = "connection refused (127.0.0.1:\(url.port ?? 0))"
        case .notFound:
            server.removeResource(at: "/f.bin")
            expected = "HTTP 404 Not Found"
        case .stall:
            server.enqueueFaults([.stallAfter(bytes: 50_000), .stallAfter(bytes: 50_000)], for: "/f.bin")
            expected = "no data for 1 s"
        }
        let (lines, status) = try await ResilientDownloadKillTests.run(["--retries", "1", "--timeout", "1", url.absoluteString,
                                                        "-d", dir.url.path])
        let output = lines.joined(separator: "\n")
        #expect(status == .exited(1), "\(output)")
        #expect(!output.contains("Error Domain="), "\(output)")
        #expect(!output.contains("errno"), "\(output)")
        // stderr: the URL and the reason; the summary table: the reason.
        #expect(lines.contains("\(url.absoluteString): \(expected)"), "\(output)")
        #expect(lines.contains { $0.hasPrefix("f.bin ") && $0.hasSuffix("failed: \(expected)") }, "\(output)")
        if failure != .notFound {   // retried once: the retry line names the reason too
            #expect(lines.contains { $0.hasPrefix("f.bin: \(expected); retrying in ") }, "\(output)")
        }
    }
}
