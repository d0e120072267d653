import Downloads
import Foundation
import JobStores
@testable import RangeResume
import ResilienceRetry
import ResilienceSupport
import ResilienceTesting

/// The queue workload of the crash-state exploration: 20 jobs through a ``DownloadQueue`` on a
/// ``FileJournalJobStore`` (`.fsyncEachWrite`), downloading from the loopback
/// ``FaultyHTTPServer`` with 30 % seeded faults (so attempts are retried), recorded through the
/// `FileSystem` seam. Marks: `enqueued <id>` after `enqueue` returned, `completed <id>` when the
/// queue reported the completion (after the store acknowledged it: a conservative place).
/// Four downloads run at once, so the interleaving in the trace may differ between runs.
struct QueueCrashWorkload: Sendable {
    static let jobCount = 20
    static let size = 24_000
    static let journalName = "jobs.journal"

    let trace: [FileOperation]
    /// The body of each destination (a name in the recorded directory).
    let bodies: [String: [UInt8]]
    let ids: [UUID: String]

    static func record(in directory: String, server: FaultyHTTPServer, seed: UInt64) async throws -> QueueCrashWorkload {
        var bodies: [String: [UInt8]] = [:]
        for index in 0..<jobCount {
            let body = seededBytes(size, seed: seed &+ UInt64(index))
            server.serve(body, at: "/\(index).bin")
            bodies["\(index).bin"] = body
        }
        server.setRandomFaults(rate: 0.3, seed: seed, kinds: [.dropAfter(bytes: 20_000), .status(503), .resetAfter(bytes: 5_000)])
        let recorder = FileOperationRecorder.start(root: directory)
        defer { _ = recorder.stop() }
        let store = try FileJournalJobStore(path: directory + "/" + journalName)
        let policy = try RetryPolicy(maxAttempts: 100, backoff: .constant(.zero), maxRetryAfter: .zero)
        let resumer = RangeResumer.Configuration(checkpointInterval: 10_000, writeBatchSize: 16_384, progressInterval: .zero)
        let queue = DownloadQueue(store: store, configuration: .init(maxConcurrentDownloads: 4, retryPolicy: policy, resumer: resumer))
        // The one consumer of the queue's events: marks completions, ends when every job ended.
        let (allEnded, ended) = AsyncStream.makeStream(of: Void.self)
        let events = queue.events
        let marker = Task {
            var terminal = Set<UUID>()
            for await event in events {
                if case .completed(let id, _) = event { recorder.mark("completed \(id)") }
                if event.isTerminal { terminal.insert(event.id) }
                if terminal.count == jobCount { ended.finish() }
            }
            ended.finish()
        }
        try await queue.start()
        var ids: [UUID: String] = [:]
        for index in 0..<jobCount {
            let name = "\(index).bin"
            let id = try await queue.enqueue(url: server.url(for: "/" + name), destination: URL(fileURLWithPath: directory + "/" + name),
                                             expectedLength: Int64(size))
            recorder.mark("enqueued \(id)")
            ids[id] = name
        }
        for await _ in allEnded {}
        await queue.stop(graceful: true)
        marker.cancel()
        await store.close()
        server.clearFaults()
        return QueueCrashWorkload(trace: recorder.stop(), bodies: bodies, ids: ids)
    }

    /// Checks `state` (materialised in `directory`): the journal reopens; every acknowledged
    /// enqueue is there, every acknowledged completion is `completed`; a job the journal calls
    /// `completed` has its destination byte-exact; any destination present is byte-exact; no
    /// sidecar claims bytes its `.part` does not hold.
    func check(_ state: CrashState, in directory: String) async -> [String] {
        var problems: [String] = []
        for (name, body) in bodies {
            if let bytes = state.files[name], bytes.count != body.count || !CrashState.bytes(bytes, equal: body, over: 0..<body.count) {
                problems.append("destination \(name) exists with \(bytes.count) bytes but is not its body")
            }
            if let meta = state.files[name + ".part.meta"], let sidecar = ResumeSidecar(decoding: meta), sidecar.durable > 0,
               let part = state.files[name + ".part"], !CrashState.bytes(part, equal: body, over: 0..<Int(sidecar.durable)) {
                problems.append("the sidecar of \(name) claims \(sidecar.durable) bytes the .part does not hold")
            }
        }
        let store: FileJournalJobStore
        do {
            store = try FileJournalJobStore(path: directory + "/" + Self.journalName, compaction: .manual)
        } catch {
            return problems + ["the journal does not reopen: \(error)"]
        }
        let jobs = (try? await store.jobs(matching: .all)) ?? []
        await store.close()
        let recovered = Dictionary(jobs.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        if recovered.count != jobs.count { problems.append("a job is duplicated") }
        for job in jobs {
            guard let name = ids[job.id] else {
                problems.append("unknown job \(job.id)")
                continue
            }
            if job.state == .completed, state.files[name] == nil {
                problems.append("job \(name) is completed but its destination is missing")
            }
        }
        for mark in state.marks {
            let parts = mark.split(separator: " ")
            guard parts.count == 2, let id = UUID(uuidString: String(parts[1])) else { continue }
            if parts[0] == "enqueued", recovered[id] == nil { problems.append("lost acknowledged job \(ids[id] ?? "?")") }
            if parts[0] == "completed", recovered[id]?.state != .completed {
                problems.append("acknowledged completion of \(ids[id] ?? "?") lost: \(recovered[id]?.state.description ?? "missing")")
            }
        }
        return problems
    }
}
