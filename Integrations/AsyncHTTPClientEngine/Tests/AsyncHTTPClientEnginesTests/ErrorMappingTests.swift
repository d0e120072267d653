import AsyncHTTPClient
import AsyncHTTPClientEngines
import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// Network failures end an exchange with the `URLError` codes the package's retry rules know, as
/// the built-in engines' do: a refused connection, a body cut short, a response that never came.
@Suite("AsyncHTTPClientEngine errors", .timeLimit(.minutes(1)))
struct ErrorMappingTests {
    /// The error `url` ends with on a fresh client (`nil`: a normal end).
    static func failure(of url: URL) async throws -> (any Error)? {
        try await withClient { client in
            let channel = TransportChannel()
            AsyncHTTPClientEngine(client: client).start(TransportRequest(url: url, headers: ["Accept-Encoding": "identity"]),
                                                        into: channel)
            var failure: (any Error)?
            do { while try await channel.next() != nil {} } catch { failure = error }
            channel.cancel(CancellationError())
            await channel.waitUntilReleased()
            return failure
        }
    }

    @Test func aRefusedConnectionIsCannotConnectToHost() async throws {
        let closed = try FaultyHTTPServer()
        let url = closed.url(for: "/f.bin")
        closed.stop()
        let error = try await Self.failure(of: url)
        #expect((error as? URLError)?.code == .cannotConnectToHost, "\(error.map { "\($0)" } ?? "no error")")
    }

    @Test(arguments: [HTTPFault.dropAfter(bytes: 10_000), .resetAfter(bytes: 10_000), .closeWithoutResponse])
    func aBodyCutShortIsNetworkConnectionLost(_ fault: HTTPFault) async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        server.serve([UInt8](repeating: 7, count: 50_000), at: "/f.bin")
        server.enqueueFaults([fault], for: "/f.bin")
        let error = try await Self.failure(of: server.url(for: "/f.bin"))
        #expect((error as? URLError)?.code == .networkConnectionLost, "\(fault): \(error.map { "\($0)" } ?? "no error")")
    }
}
