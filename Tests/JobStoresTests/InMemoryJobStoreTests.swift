import Foundation
import JobStores
import ResilienceTesting
import Testing

@Suite("InMemoryJobStore")
struct InMemoryJobStoreTests {
    @Test(arguments: JobStoreConformance.checks)
    func conformance(_ check: JobStoreConformance.Check) async throws {
        try await check.run { InMemoryJobStore() }
    }

    @Test func transitionTableIsTheDocumentedOne() {
        #expect(JobState.pending.successors == [.running, .cancelled])
        #expect(JobState.running.successors == [.retrying, .completed, .failed, .cancelled])
        #expect(JobState.retrying.successors == [.running, .cancelled])
        for terminal in [JobState.completed, .failed, .cancelled] {
            #expect(terminal.successors.isEmpty && terminal.isTerminal)
        }
    }

    @Test func longErrorMessagesAreCut() async throws {
        let store = InMemoryJobStore()
        let now = Date(timeIntervalSince1970: 0)
        let id = try await store.enqueue(DownloadJob(url: URL(string: "https://e.com/a")!, destination: "/a"), now: now)
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(1), now: now)
        try await store.fail(id: id, owner: "w", error: JobFailure(message: String(repeating: "é", count: 5000), isRetryable: false), now: now)
        let message = try #require(await store.job(id: id)?.lastError?.message)
        #expect(message.utf8.count <= JobFailure.maximumMessageBytes && message.utf8.count > 4000)
    }
}
