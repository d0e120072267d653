import Foundation
import JobStores
import ResilienceTesting
import Testing

/// Differential test of the heap-indexed `claimNext` against a naive model that scans every
/// job: seeded random operations, including `now` moving backwards, must give the same claims
/// and the same states.
@Suite("claimNext model")
struct ClaimOrderModelTests {
    /// The obvious O(n) implementation of the claim rules.
    struct Model {
        struct Entry {
            var job: DownloadJob
            let ordinal: Int
        }

        var entries: [Entry] = []

        mutating func enqueue(_ job: DownloadJob, now: Date) {
            var job = job
            job.createdAt = now
            job.nextAttemptAt = max(job.nextAttemptAt, now)
            entries.append(Entry(job: job, ordinal: entries.count))
        }

        mutating func expire(now: Date) -> [UUID] {
            let expired = entries.indices
                .filter { entries[$0].job.state == .running && entries[$0].job.leaseExpiresAt! <= now }
                .sorted { (entries[$0].job.leaseExpiresAt!, entries[$0].ordinal) < (entries[$1].job.leaseExpiresAt!, entries[$1].ordinal) }
            for index in expired {
                entries[index].job.state = entries[index].job.attempts >= entries[index].job.maxAttempts ? .failed : .retrying
                entries[index].job.nextAttemptAt = now
                entries[index].job.leaseOwner = nil
            }
            return expired.map { entries[$0].job.id }
        }

        mutating func claim(owner: String, lease: TimeInterval, now: Date) -> UUID? {
            _ = expire(now: now)
            let due = entries.indices.filter { entries[$0].job.state.isWaiting && entries[$0].job.nextAttemptAt <= now }
            guard let best = due.min(by: { a, b in
                let (x, y) = (entries[a], entries[b])
                if x.job.priority != y.job.priority { return x.job.priority > y.job.priority }
                if x.job.createdAt != y.job.createdAt { return x.job.createdAt < y.job.createdAt }
                return x.ordinal < y.ordinal
            }) else { return nil }
            entries[best].job.state = .running
            entries[best].job.attempts += 1
            entries[best].job.leaseOwner = owner
            entries[best].job.leaseExpiresAt = now + lease
            return entries[best].job.id
        }

        mutating func end(_ id: UUID, as state: JobState, retryAt: Date) {
            let index = entries.firstIndex { $0.job.id == id }!
            if state == .retrying, entries[index].job.attempts < entries[index].job.maxAttempts {
                entries[index].job.state = .retrying
                entries[index].job.nextAttemptAt = retryAt
            } else {
                entries[index].job.state = state == .retrying ? .failed : state
            }
            entries[index].job.leaseOwner = nil
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func heapIndexAgreesWithANaiveScan(seed: UInt64) async throws {
        var generator = SeededRandomNumberGenerator(seed: seed)
        let store = InMemoryJobStore()
        var model = Model()
        var clock: TimeInterval = 0
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        for step in 0..<1_500 {
            // Time mostly moves forward, sometimes back a little.
            clock += Double(Int.random(in: -2...5, using: &generator))
            let now = t0 + clock
            switch Int.random(in: 0..<10, using: &generator) {
            case 0..<3:
                let notBefore = Bool.random(using: &generator) ? now + Double(Int.random(in: 0...20, using: &generator)) : nil
                let job = DownloadJob(url: URL(string: "https://e.com/\(step)")!, destination: "/d/\(step)",
                                      priority: Int.random(in: 0..<4, using: &generator), maxAttempts: 3, notBefore: notBefore)
                try await store.enqueue(job, now: now)
                model.enqueue(job, now: now)
            case 3..<6:
                let lease = Double(Int.random(in: 1...15, using: &generator))
                let claimed = try await store.claimNext(owner: "w", leaseFor: .seconds(lease), now: now)?.id
                let expected = model.claim(owner: "w", lease: lease, now: now)
                #expect(claimed == expected, "step \(step): claimed \(String(describing: claimed)), model \(String(describing: expected))")
            case 6:
                #expect(await store.recoverExpiredLeases(now: now) == model.expire(now: now), "step \(step)")
            default:
                let running = model.entries.filter { $0.job.state == .running && $0.job.leaseExpiresAt! > now }
                guard let pick = running.randomElement(using: &generator)?.job.id else { continue }
                let failure = JobFailure(message: "x", isRetryable: true)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0:
                    try await store.complete(id: pick, owner: "w", now: now)
                    model.end(pick, as: .completed, retryAt: now)
                case 1:
                    let at = now + Double(Int.random(in: 0...10, using: &generator))
                    try await store.scheduleRetry(id: pick, owner: "w", at: at, error: failure, now: now)
                    model.end(pick, as: .retrying, retryAt: at)
                case 2:
                    try await store.cancel(id: pick, now: now)
                    model.end(pick, as: .cancelled, retryAt: now)
                default:
                    let renewed = try await store.renewLease(id: pick, owner: "w", leaseFor: .seconds(10), now: now)
                    let index = model.entries.firstIndex { $0.job.id == pick }!
                    model.entries[index].job.leaseExpiresAt = renewed.leaseExpiresAt
                }
            }
        }
        let states = Dictionary(uniqueKeysWithValues: await store.jobs(matching: .all).map { ($0.id, $0.state) })
        let expected = Dictionary(uniqueKeysWithValues: model.entries.map { ($0.job.id, $0.job.state) })
        #expect(states == expected)
    }
}
