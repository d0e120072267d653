import Foundation
import JobStores

extension JobStoreConformance {
    /// `updateSources`: an open job gets the new URL and mirrors with its metadata merged, its
    /// state and lease unchanged; a terminal job, an unknown id and too many mirrors are refused,
    /// and a refusal changes nothing.
    static func updateSources(_ store: any JobStore) async throws {
        let id = try await store.enqueue(newJob("a"), now: at(0))
        let claimed = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(0))
        let url = URL(string: "https://moved.example.com/a")!, mirror = URL(string: "https://mirror.example.com/a")!
        let updated = try await store.updateSources(id: id, url: url, mirrors: [mirror], metadata: ["mirror": "0"], now: at(1))
        try require(updated.url == url && updated.mirrors == [mirror], "the URLs were not replaced: \(updated.url) \(updated.mirrors)")
        try require(updated.metadata == ["name": "a", "mirror": "0"], "the metadata was not merged: \(updated.metadata)")
        try require(updated.state == .running && updated.leaseOwner == "w" && updated.leaseExpiresAt == claimed?.leaseExpiresAt
                    && updated.attempts == 1, "the state or lease changed: \(updated.state) \(String(describing: updated.leaseOwner))")
        try require(try await fetch(store, id) == updated, "the update was not stored as returned")

        let tooMany = Array(repeating: mirror, count: DownloadJob.maximumMirrors + 1)
        try await requireError({ if case .invalidArgument = $0 { true } else { false } }, "invalidArgument for too many mirrors") {
            try await store.updateSources(id: id, url: url, mirrors: tooMany, metadata: [:], now: at(2))
        }
        let ghost = UUID()
        try await requireError({ if case .unknownJob(ghost) = $0 { true } else { false } }, "unknownJob") {
            try await store.updateSources(id: ghost, url: url, mirrors: [], metadata: [:], now: at(2))
        }
        try await store.complete(id: id, owner: "w", now: at(3))
        let done = try await fetch(store, id)
        try await requireError(isIllegal, "illegalTransition for a completed job") {
            try await store.updateSources(id: id, url: URL(string: "https://late.example.com/a")!, mirrors: [], metadata: [:], now: at(4))
        }
        try require(try await fetch(store, id) == done, "a refused updateSources changed the job")
    }
}

extension JobStoreConformance {
    /// A job's `headers` are stored with it as given, survive the job's transitions and are
    /// refused over ``JobStores/DownloadJob/maximumHeaderBytes``.
    static func headersPersist(_ store: any JobStore) async throws {
        var job = newJob("h")
        job.headers = ["Accept": "application/octet-stream", "X-Trace": "a b\tc"]
        let id = try await store.enqueue(job, now: at(0))
        try require(try await fetch(store, id).headers == job.headers, "headers were not stored as given")
        _ = try await store.claimNext(owner: "w", leaseFor: .seconds(30), now: at(0))
        try await store.scheduleRetry(id: id, owner: "w", at: at(5), error: JobFailure(message: "x", isRetryable: true),
                                      metadata: ["k": "v"], now: at(1))
        try require(try await fetch(store, id).headers == job.headers, "a transition changed the headers")
        var huge = newJob("huge")
        huge.headers = ["X-Big": String(repeating: "a", count: DownloadJob.maximumHeaderBytes)]
        try await requireError({ if case .invalidArgument = $0 { true } else { false } }, "invalidArgument for oversized headers") {
            try await store.enqueue(huge, now: at(2))
        }
        let count = try await store.jobs(matching: .all).count
        try require(try await fetch(store, id).headers == job.headers && count == 1, "a refused enqueue changed the store")
    }
}
