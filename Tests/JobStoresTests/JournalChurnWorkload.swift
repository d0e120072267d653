import Foundation
import JobStores
import ResilienceSupport
import ResilienceTesting

/// The journal workload of the crash-state exploration: a seeded churn of jobs through every
/// state on a ``FileJournalJobStore`` with aggressive automatic compaction (plus explicit
/// ``FileJournalJobStore/compact()`` calls, marked `compacted`), recorded through the
/// `FileSystem` seam. After every call that returned, the trace gets a mark
/// `<job id> <fingerprint>`. With `.fsyncEachWrite` that change is then durable; with `.none`
/// only the changes before a completed compaction are.
struct JournalChurnWorkload: Sendable {
    /// The recorded trace.
    let trace: [FileOperation]
    /// Every change the workload made, in order: the job, its fingerprint after the change and
    /// the index of its mark among the trace's marks.
    let history: [(id: UUID, fingerprint: String, mark: Int)]
    /// The durability the store ran with.
    let durability: FileJournalJobStore.Durability

    static let journalName = "jobs.journal"

    /// What the checker compares: the state and counters of a job.
    static func fingerprint(_ job: DownloadJob) -> String {
        "\(job.state)/\(job.attempts)/\(job.bytesDone)"
    }

    /// Runs `steps` seeded steps in `directory` (empty) while recording.
    static func record(
        in directory: String, steps: Int, seed: UInt64, durability: FileJournalJobStore.Durability = .fsyncEachWrite
    ) async throws -> JournalChurnWorkload {
        let recorder = FileOperationRecorder.start(root: directory)
        var history: [(id: UUID, fingerprint: String, mark: Int)] = []
        var marks = 0
        do {
            let store = try FileJournalJobStore(
                path: directory + "/" + journalName, durability: durability,
                compaction: .init(growthFactor: 1.5, minimumJournalBytes: 1_024))
            var random = SeededRandomNumberGenerator(seed: seed)
            var running: [UUID] = []
            var open: [UUID] = []
            let base = Date(timeIntervalSince1970: 1_700_000_000)
            for step in 0..<steps {
                let now = base.addingTimeInterval(Double(step))
                var changed: UUID?
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<3:
                    let id = UUID(uuid: Self.uuidBytes(&random))
                    _ = try await store.enqueue(
                        DownloadJob(id: id, url: URL(string: "https://example.com/\(step)")!, destination: "/tmp/f\(step)", maxAttempts: 3),
                        now: now)
                    open.append(id)
                    changed = id
                case 3, 4:
                    if let job = try await store.claimNext(owner: "w", leaseFor: .seconds(600), now: now) {
                        running.append(job.id)
                        changed = job.id
                    }
                case 5:
                    if let id = running.randomElement(using: &random) {
                        try await store.recordProgress(id: id, owner: "w", bytesDone: Int64(step) * 100, bytesTotal: nil, now: now)
                        changed = id
                    }
                case 6:
                    if let id = running.popLast() {
                        try await store.complete(id: id, owner: "w", now: now)
                        changed = id
                    }
                case 7:
                    if let id = running.popLast() {
                        let failure = JobFailure(message: "reset \(step)", isRetryable: true)
                        _ = try await store.scheduleRetry(id: id, owner: "w", at: now, error: failure, now: now)
                        changed = id
                    }
                case 8:
                    if let id = open.randomElement(using: &random), let job = try await store.job(id: id), !job.state.isTerminal {
                        try await store.cancel(id: id, now: now)
                        running.removeAll { $0 == id }
                        changed = id
                    }
                default:
                    try await store.compact()
                    recorder.mark("compacted")
                    marks += 1
                }
                if let changed, let job = try await store.job(id: changed) {
                    history.append((changed, fingerprint(job), marks))
                    recorder.mark("\(changed) \(fingerprint(job))")
                    marks += 1
                }
            }
            await store.close()
        } catch {
            _ = recorder.stop()
            throw error
        }
        return JournalChurnWorkload(trace: recorder.stop(), history: history, durability: durability)
    }

    private static func uuidBytes(_ random: inout SeededRandomNumberGenerator) -> uuid_t {
        let high = random.next(), low = random.next()
        return withUnsafeBytes(of: (high, low)) { $0.load(as: uuid_t.self) }
    }

    /// Reopens the journal of `state` (materialised in `directory`) and returns the broken
    /// invariants: a lost or changed acknowledged job, an unknown job, a failed recovery, or a
    /// truncation recovery did not report.
    func check(_ state: CrashState, in directory: String) async -> [String] {
        let store: FileJournalJobStore
        do {
            store = try FileJournalJobStore(path: directory + "/" + Self.journalName, compaction: .manual)
        } catch {
            return ["recovery threw \(error)"]
        }
        // The marks before this count are durable: all of them with an fsync per change, else
        // those before the last completed compaction.
        let durableMarks = durability == .none ? (state.marks.lastIndex(of: "compacted") ?? 0) : state.marks.count
        let problems = await verify(store, acknowledged: durableMarks)
        await store.close()
        return problems
    }

    private func verify(_ store: FileJournalJobStore, acknowledged: Int) async -> [String] {
        var problems: [String] = []
        let report = store.recoveryReport
        if report.truncatedBytes > 0, report.truncationReason == nil {
            problems.append("recovery truncated \(report.truncatedBytes) bytes without a reason")
        }
        guard let jobs = try? await store.jobs(matching: .all) else { return problems + ["reading the store failed"] }
        let recovered = Dictionary(jobs.map { ($0.id, Self.fingerprint($0)) }, uniquingKeysWith: { first, _ in first })
        if recovered.count != jobs.count { problems.append("a job is duplicated") }
        var byJob: [UUID: [(index: Int, fingerprint: String)]] = [:]
        for change in history { byJob[change.id, default: []].append((change.mark, change.fingerprint)) }
        for id in recovered.keys where byJob[id] == nil { problems.append("unknown job \(id)") }
        for (id, changes) in byJob {
            let lastAcknowledged = changes.lastIndex { $0.index < acknowledged }
            let allowed = changes[(lastAcknowledged ?? 0)...].map(\.fingerprint)
            guard let found = recovered[id] else {
                if let lastAcknowledged { problems.append("lost acknowledged job \(id) (\(changes[lastAcknowledged].fingerprint))") }
                continue
            }
            if !allowed.contains(found) {
                problems.append("job \(id) is \(found), acknowledged \(lastAcknowledged.map { changes[$0].fingerprint } ?? "none")")
            }
        }
        return problems
    }
}
