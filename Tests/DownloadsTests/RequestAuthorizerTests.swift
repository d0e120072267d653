import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceRetry
import ResilienceSupport
import ResilienceTesting
import Testing

/// `RequestAuthorizer`: credentials asked for per attempt, refreshed once after a `401`, and
/// never written to the journal.
@Suite("RequestAuthorizer", .timeLimit(.minutes(2)))
struct RequestAuthorizerTests {
    /// Hands out `token-1`, then a new token on every refresh; records each call.
    final class RotatingTokens: RequestAuthorizer {
        struct Call: Sendable, Hashable { var url: URL; var refresh: Bool }
        private let state = LockedValue((generation: 1, calls: [Call]()))
        let failWith: (any Error & Sendable)?

        init(failWith: (any Error & Sendable)? = nil) { self.failWith = failWith }

        var calls: [Call] { state.withLock { $0.calls } }
        var current: String { state.withLock { "token-\($0.generation)" } }

        func authorizationHeaders(for url: URL, refresh: Bool) async throws -> [String: String] {
            if let failWith { throw failWith }
            let token = state.withLock { state -> String in
                state.calls.append(Call(url: url, refresh: refresh))
                if refresh { state.generation += 1 }
                return "token-\(state.generation)"
            }
            return ["Authorization": "Bearer \(token)"]
        }
    }

    struct Refused: Error, Hashable {}

    static let engines: [RangeResumer.Engine] = [.urlSession, .posixSockets]

    @Test(arguments: engines)
    func a401IsAnsweredWithFreshCredentialsOnceAndTheDownloadResumes(engine: RangeResumer.Engine) async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let body = seededBytes(300_000, seed: 41)
        server.serve(body, at: "/a.bin")
        // The first response is cut mid-body; the resume is refused with 401 (the token expired).
        server.enqueueFaults([.dropAfter(bytes: 100_000), .status(401)], for: "/a.bin")
        let tokens = RotatingTokens()
        let resumer = RangeResumer(engine: engine, authorizer: tokens)
        let destination = dir.file("a.bin")
        await #expect(throws: IncompleteDownloadError.self) { try await resumer.download(from: server.url(for: "/a.bin"), to: destination) }
        let result = try await resumer.download(from: server.url(for: "/a.bin"), to: destination)
        #expect(contents(of: destination) == Data(body))
        #expect(result.resumedFrom > 0)
        let sent = server.requests(for: "/a.bin").mergingRangeWindows()
        try #require(sent.count == 3, "\(sent)")
        #expect(sent.map { $0.headers["Authorization"] } == ["Bearer token-1", "Bearer token-1", "Bearer token-2"])
        #expect(sent[1].status == 401 && sent[2].status == 206)
        // Both resumes asked for the same offset: the 401 cost no byte.
        #expect(sent[1].range == sent[2].range && sent[2].range == engine.rangeField(from: result.resumedFrom))
        #expect(tokens.calls.map(\.refresh) == [false, false, true])
    }

    @Test(arguments: engines)
    func aSecond401WithFreshCredentialsIsFinal(engine: RangeResumer.Engine) async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        server.serve(seededBytes(10_000, seed: 42), at: "/b.bin")
        server.enqueueFaults([.status(401), .status(401), .status(401)], for: "/b.bin")
        let tokens = RotatingTokens()
        let resumer = RangeResumer(engine: engine, authorizer: tokens)
        let error = await #expect(throws: HTTPStatusError.self) {
            try await resumer.download(from: server.url(for: "/b.bin"), to: dir.file("b.bin"))
        }
        #expect(error?.status == 401 && error?.isTransient == false)
        #expect(server.requests(for: "/b.bin").count == 2 && tokens.calls.map(\.refresh) == [false, true])
    }

    @Test func withoutAnAuthorizerA401IsFinalAtOnce() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        server.serve(seededBytes(10_000, seed: 43), at: "/c.bin")
        server.enqueueFaults([.status(401)], for: "/c.bin")
        await #expect(throws: HTTPStatusError.self) {
            try await RangeResumer().download(from: server.url(for: "/c.bin"), to: dir.file("c.bin"))
        }
        #expect(server.requests(for: "/c.bin").count == 1)
    }

    @Test func whatTheAuthorizerThrowsEndsTheDownloadBeforeAnyRequest() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        server.serve(seededBytes(10_000, seed: 44), at: "/d.bin")
        let resumer = RangeResumer(authorizer: RotatingTokens(failWith: Refused()))
        await #expect(throws: Refused.self) { try await resumer.download(from: server.url(for: "/d.bin"), to: dir.file("d.bin")) }
        #expect(server.requests.isEmpty)
    }

    struct Injecting: RequestAuthorizer {
        func authorizationHeaders(for url: URL, refresh: Bool) async throws -> [String: String] {
            ["Authorization": "Bearer x\r\nX-Injected: 1"]
        }
    }

    @Test func credentialsAreCheckedLikeEveryCallerField() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        server.serve(seededBytes(10_000, seed: 45), at: "/e.bin")
        let error = await #expect(throws: RangeResumeError.self) {
            try await RangeResumer(authorizer: Injecting()).download(from: server.url(for: "/e.bin"), to: dir.file("e.bin"))
        }
        guard case .invalidArgument(let reason)? = error else { Issue.record("expected invalidArgument, got \(String(describing: error))"); return }
        #expect(reason.hasPrefix("authorizer["))
        #expect(server.requests.isEmpty)
    }

    /// The issue's case: a token expires mid-download in a `DownloadQueue` over a journal. The
    /// retry refreshes it, the download resumes from its offset, and no byte of any token is in
    /// the journal file.
    @Test func aTokenThatExpiresMidDownloadIsRefreshedAndNeverJournaled() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let body = seededBytes(400_000, seed: 46)
        server.serve(body, at: "/q.bin")
        server.enqueueFaults([.dropAfter(bytes: 150_000), .status(401)], for: "/q.bin")
        let journal = dir.file("jobs.journal").path
        let store = try FileJournalJobStore(path: journal)
        let tokens = RotatingTokens()
        let clock = ManualClock()
        let configuration = DownloadQueueConfiguration(
            retryPolicy: try RetryPolicy(maxAttempts: 3, backoff: .constant(.seconds(1))), authorizer: tokens)
        let queue = DownloadQueue(store: store, configuration: configuration, clock: clock, now: clock.dateSource)
        let events = EventRecorder.recording(queue)
        let id = try await queue.enqueue(url: server.url(for: "/q.bin"), destination: dir.file("q.bin"),
                                         metadata: ["note": "no secrets here"])
        try await queue.start()
        _ = await events.wait { !$0.retries.isEmpty }
        await clock.sleepers(atLeast: 1)
        clock.advance(by: .seconds(1))
        let seen = await events.waitForTerminal([id])
        await queue.stop(graceful: true)
        await store.close()

        #expect(contents(of: dir.file("q.bin")) == Data(body))
        let resumedFrom = seen.compactMap { if case let .completed(_, result) = $0 { result.resumedFrom } else { nil } }.first
        #expect((resumedFrom ?? 0) > 0)
        let sent = server.requests(for: "/q.bin").mergingRangeWindows()
        #expect(sent.map { $0.headers["Authorization"] } == ["Bearer token-1", "Bearer token-1", "Bearer token-2"])
        let file = try #require(FileManager.default.contents(atPath: journal))
        for secret in ["token-1", "token-2", "Bearer"] {
            #expect(file.range(of: Data(secret.utf8)) == nil, "the journal holds \(secret)")
        }
        #expect(file.range(of: Data("no secrets here".utf8)) != nil)   // the check can see what is there
    }

    /// A segmented download asks before every range request; a 401 to one of them (the probe
    /// here) is answered with fresh credentials and that request sent again.
    @Test func aSegmentedDownloadRefreshesOnA401AndAuthorizesEveryRange() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let body = seededBytes(6 << 20, seed: 48)
        server.serve(body, at: "/s.bin")
        server.enqueueFaults([.status(401)], for: "/s.bin")
        let tokens = RotatingTokens()
        let download = SegmentedDownload(configuration: SegmentedDownloadConfiguration(connections: 3), authorizer: tokens)
        let result = try await download.download(from: server.url(for: "/s.bin"), to: dir.file("s.bin"))
        #expect(result.isSegmented && contents(of: dir.file("s.bin")) == Data(body))
        let sent = server.requests(for: "/s.bin")
        #expect(sent.first?.status == 401 && sent.first?.headers["Authorization"] == "Bearer token-1")
        #expect(sent.dropFirst().allSatisfy { $0.headers["Authorization"] == "Bearer token-2" }, "\(sent.map { $0.headers["Authorization"] })")
        #expect(tokens.calls.filter(\.refresh).count == 1 && tokens.calls.count == sent.count)   // one ask per request
    }

    /// Credentials from the authorizer are dropped on a redirect to another origin, like any
    /// `Authorization` field (curl's rule).
    @Test func aCrossOriginRedirectDropsTheAuthorizersCredentials() async throws {
        let origin = try FaultyHTTPServer(); defer { origin.stop() }
        let other = try FaultyHTTPServer(); defer { other.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let body = seededBytes(20_000, seed: 47)
        other.serve(body, at: "/f.bin")
        origin.setRedirect(from: "/f.bin", to: other.url(for: "/f.bin").absoluteString)
        _ = try await RangeResumer(authorizer: RotatingTokens()).download(from: origin.url(for: "/f.bin"), to: dir.file("f.bin"))
        #expect(contents(of: dir.file("f.bin")) == Data(body))
        #expect(origin.requests.first?.headers["Authorization"] == "Bearer token-1")
        #expect(other.requests.allSatisfy { $0.headers["Authorization"] == nil } && !other.requests.isEmpty)
    }
}
