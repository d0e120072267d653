import Downloads
import Foundation
import JobStores
import RangeResume
import ResilienceTesting

/// Collects a queue's events and lets a test suspend until they satisfy a condition: a
/// hand-shake (each new event re-checks the waiters), not a poll.
actor EventRecorder {
    private(set) var events: [DownloadQueueEvent] = []
    private var finished = false
    private var waiters: [(condition: @Sendable ([DownloadQueueEvent]) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []

    /// Starts recording `queue.events`.
    static func recording(_ queue: DownloadQueue) -> EventRecorder {
        let recorder = EventRecorder()
        let events = queue.events
        Task {
            for await event in events { await recorder.append(event) }
            await recorder.finish()
        }
        return recorder
    }

    private func append(_ event: DownloadQueueEvent) {
        events.append(event)
        let ready = waiters.filter { $0.condition(events) }
        waiters.removeAll { $0.condition(events) }
        for waiter in ready { waiter.continuation.resume() }
    }

    private func finish() {
        finished = true
        for waiter in waiters { waiter.continuation.resume() }
        waiters = []
    }

    /// Suspends until `condition` holds for the events so far (or the stream ends); returns them.
    @discardableResult
    func wait(until condition: @escaping @Sendable ([DownloadQueueEvent]) -> Bool) async -> [DownloadQueueEvent] {
        if !condition(events) && !finished {
            await withCheckedContinuation { waiters.append((condition, $0)) }
        }
        return events
    }

    /// Suspends until every job in `ids` had its terminal event; returns the events.
    @discardableResult
    func waitForTerminal(_ ids: some Collection<UUID> & Sendable) async -> [DownloadQueueEvent] {
        let wanted = Set(ids)
        return await wait { events in wanted.isSubset(of: Set(events.filter(\.isTerminal).map(\.id))) }
    }
}

extension [DownloadQueueEvent] {
    /// The retries scheduled, in order.
    var retries: [(id: UUID, at: Date, error: JobFailure)] {
        compactMap { if case let .retryScheduled(id, _, at, error) = $0 { (id, at, error) } else { nil } }
    }

    /// The largest number of attempts running at once (`started` minus ends of attempts).
    var maximumConcurrency: Int {
        var running = 0, peak = 0
        for event in self {
            switch event {
            case .started: running += 1
            case .retryScheduled, .completed, .failed, .cancelled, .leaseLost: running -= 1
            default: break
            }
            peak = Swift.max(peak, running)
        }
        return peak
    }
}

/// A fresh temporary directory, removed by `cleanup()`.
struct ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("downloadqueue-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    func cleanup() { try? FileManager.default.removeItem(at: url) }
}

/// `count` seeded pseudo-random bytes (eight per generator call, quick in debug builds).
func seededBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SeededRandomNumberGenerator(seed: seed)
    var words = [UInt64](repeating: 0, count: (count + 7) / 8)
    for index in words.indices { words[index] = generator.next() }
    return words.withUnsafeBytes { Array($0.prefix(count)) }
}

func contents(of url: URL) -> Data? {
    FileManager.default.contents(atPath: url.path)
}

func exists(_ url: URL) -> Bool {
    FileManager.default.fileExists(atPath: url.path)
}
