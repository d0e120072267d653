import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ResilienceRetry
import ResilienceTesting
import Testing

/// The README's retry snippet claims that a 429/503's `Retry-After` sets the wait: its
/// `HTTPStatusError` is built from a real URLSession response exactly as written there
/// (`headers: http.allHeaderFields as? [String: String] ?? [:]`), and the default classifier
/// must read the server's value from it.
@Suite("README retry snippet")
struct ReadmeRetrySnippetTests {
    @Test(arguments: [HTTPFault.serviceUnavailable(retryAfter: "7"), .tooManyRequests(retryAfter: "12")])
    func retryAfterFromAURLSessionResponseIsHonoured(fault: HTTPFault) async throws {
        let server = try FaultyHTTPServer()
        defer { server.stop() }
        server.serve(Array("body".utf8), at: "/file.bin")
        server.enqueueFaults([fault], for: "/file.bin")
        let url = server.url(for: "/file.bin")
        let (_, response) = try await URLSession.shared.data(from: url)
        let http = try #require(response as? HTTPURLResponse)
        let error = HTTPStatusError(status: http.statusCode,
                                    headers: http.allHeaderFields as? [String: String] ?? [:], url: url)
        let seconds: Int64 = if case .tooManyRequests = fault { 12 } else { 7 }
        #expect(RetryClassifier.default.classify(error, now: Date()) == .retryAfter(.seconds(seconds)))
    }
}
