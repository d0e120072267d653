import Downloads
import Foundation
import JobStores
import RangeResume

/// Runs a set of jobs through a `DownloadQueue` to their end while showing progress **on
/// stderr** (stdout is for the summary): a live line per job when stderr is a terminal, plain
/// lines for state changes otherwise, nothing when quiet. Collects the figures of the summary.
struct DownloadSession {
    /// One file of the session.
    struct Item {
        let id: UUID
        let name: String
        let url: URL
        var expectedSHA256: String?
        var bytes: Int64 = 0
        var total: Int64?
        var attempts = 0
        var resumes = 0
        var status = "waiting"
        var result: DownloadResult?
        var failure: String?
        /// When the last plain progress line of this file was printed.
        var lastProgressLine: ContinuousClock.Instant?
        /// The smoothed rate of this file's current attempt.
        var rate = TransferRate()
        /// `host:port` of the source in use (shown once a mirror took over).
        var source: String?
        /// When the scheduled retry is due (the live line counts down to it).
        var retryAt: Date?

        var isVerified: Bool {
            guard let result else { return false }
            return expectedSHA256 == nil || result.sha256 == expectedSHA256
        }
    }

    var items: [Item]
    var retries = 0
    var failedAttempts = 0
    let isTerminal = isatty(2) == 1
    /// `-q`: no progress at all.
    let quiet: Bool
    private var drawnLines = 0
    private var lastDraw = ContinuousClock.now
    private var resumedAttempts: Set<String> = []

    init(items: [Item], quiet: Bool = false) {
        self.items = items
        self.quiet = quiet
    }

    /// What the session reacts to: the queue's events, and (on a terminal) a tick twice a second
    /// that redraws rates, ETAs and retry countdowns while no event comes.
    private enum Input: Sendable {
        case event(DownloadQueueEvent)
        case tick
    }

    /// Consumes `queue.events` until every item ended.
    mutating func run(_ queue: DownloadQueue) async {
        var open = Set(items.map(\.id))
        let (inputs, sink) = AsyncStream.makeStream(of: Input.self)
        let forward = Task {
            for await event in queue.events { sink.yield(.event(event)) }
            sink.finish()
        }
        let live = isTerminal && !quiet
        let ticker = Task {
            while live, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                sink.yield(.tick)
            }
        }
        defer {
            forward.cancel()
            ticker.cancel()
        }
        draw(force: true)
        for await input in inputs {
            guard case .event(let event) = input else {
                draw(force: true)
                continue
            }
            guard let index = items.firstIndex(where: { $0.id == event.id }) else { continue }
            apply(event, to: index)
            if event.isTerminal { open.remove(event.id) }
            draw(force: !isProgress(event))
            if open.isEmpty { break }
        }
        draw(force: true)
    }

    private func isProgress(_ event: DownloadQueueEvent) -> Bool {
        if case .progress = event { return true }
        return false
    }

    private mutating func apply(_ event: DownloadQueueEvent, to index: Int) {
        let name = items[index].name
        switch event {
        case .enqueued, .recovered:
            return
        case .started(_, let attempt):
            items[index].attempts = attempt
            items[index].retryAt = nil
            items[index].rate = TransferRate()
            items[index].status = "attempt \(attempt)"
            plain("\(name): attempt \(attempt) started")
        case .progress(_, let progress):
            items[index].bytes = progress.bytes
            items[index].total = progress.totalBytes
            let now = ContinuousClock.now
            items[index].rate.record(bytes: progress.bytes, at: now)
            if items[index].lastProgressLine.map({ $0.duration(to: now) >= .seconds(1) }) ?? true {
                // At most one a second per file; a crash test watches these to know how far it got.
                items[index].lastProgressLine = now
                plain("\(name): \(progress.bytes)/\(progress.totalBytes.map(String.init) ?? "?") bytes")
            }
            if progress.resumedFrom > 0, resumedAttempts.insert("\(index)/\(items[index].attempts)").inserted {
                items[index].resumes += 1
                plain("\(name): resumed at byte \(progress.resumedFrom)")
            }
        case .retryScheduled(_, _, let at, let error):
            retries += 1
            failedAttempts += 1
            let wait = max(0, at.timeIntervalSinceNow)
            items[index].retryAt = at
            items[index].status = "retry in \(String(format: "%.1f", wait)) s"
            plain("\(name): \(error.message); retrying in \(String(format: "%.1f", wait)) s")
        case .switchedMirror(_, let url):
            items[index].source = url.host.map { host in url.port.map { "\(host):\($0)" } ?? host }
            plain("\(name): next attempt from mirror \(url.absoluteString)")
        case .completed(_, let result):
            items[index].result = result
            items[index].bytes = result.length
            items[index].total = result.length
            items[index].status = items[index].isVerified ? "done, verified" : "done, SHA-256 MISMATCH"
            let source = result.sourceURL.map { " from \($0.absoluteString)" } ?? ""
            plain("\(name): complete\(source), \(result.length) bytes, SHA-256 \(result.sha256 ?? "-")")
        case .failed(_, let failure):
            failedAttempts += 1
            items[index].failure = failure.message
            items[index].status = "FAILED"
            plain("\(name): failed: \(failure.message)")
        case .cancelled:
            items[index].failure = "cancelled"
            items[index].status = "cancelled"
        case .leaseLost:
            items[index].failure = "another process took the job over"
            items[index].status = "taken over"
        }
    }

    /// A line for a log (non-terminal output only).
    private func plain(_ line: String) {
        guard !isTerminal, !quiet else { return }
        try? FileHandle.standardError.write(contentsOf: Data((line + "\n").utf8))   // unbuffered: a reader sees each line as it happens
    }

    /// Redraws the live block (terminal only), at most ten times a second unless forced.
    private mutating func draw(force: Bool) {
        guard isTerminal, !quiet else { return }
        let now = ContinuousClock.now
        guard force || lastDraw.duration(to: now) >= .milliseconds(100) else { return }
        lastDraw = now
        var output = drawnLines > 0 ? "\u{1B}[\(drawnLines)A" : ""
        let lines = items.map { Self.liveLine($0) } + (items.count > 1 ? [totalLine()] : [])
        for line in lines {
            output += "\u{1B}[2K" + line + "\n"
        }
        drawnLines = lines.count
        try? FileHandle.standardError.write(contentsOf: Data(output.utf8))
    }

    /// `name [#####.....]  42%  12.3/40.0 MiB  85.2 MB/s  ETA 0:03  attempt 2 (via host:port)`.
    static func liveLine(_ item: Item, now: Date = Date()) -> String {
        let width = 20
        let fraction = item.total.map { $0 > 0 ? min(1, Double(item.bytes) / Double($0)) : 1 }
        let filled = Int(((fraction ?? 0) * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let percent = fraction.map { String(format: "%3.0f%%", $0 * 100) } ?? "  ?%"
        let size = item.total.map { "\(mebibytes(item.bytes))/\(mebibytes($0)) MiB" } ?? "\(mebibytes(item.bytes)) MiB"
        var status = item.status
        if let retryAt = item.retryAt, item.result == nil {
            status = "retry in \(Int(max(0, retryAt.timeIntervalSince(now)).rounded(.up))) s"
        }
        var line = "\(item.name.padding(toLength: 16, withPad: " ", startingAt: 0)) [\(bar)] \(percent)  \(size)"
        if item.result == nil, item.failure == nil, item.retryAt == nil, item.attempts > 0 {
            let left = item.total.flatMap { item.rate.secondsLeft(for: $0 - item.bytes) }
            line += "  \(TransferRate.format(bytesPerSecond: item.rate.bytesPerSecond))  ETA \(TransferRate.format(secondsLeft: left))"
        }
        line += "  \(status)"
        if let source = item.source { line += " (via \(source))" }
        return line
    }

    /// `total  2/5 done  120.0/300.0 MiB  40%  210.4 MB/s  ETA 0:01`: all files together.
    func totalLine() -> String {
        let done = items.filter { $0.result != nil }.count
        let bytes = items.reduce(Int64(0)) { $0 + $1.bytes }
        let known = items.allSatisfy { $0.total != nil }
        let total = items.reduce(Int64(0)) { $0 + ($1.total ?? 0) }
        let rate = items.filter { $0.result == nil && $0.retryAt == nil }.compactMap(\.rate.bytesPerSecond).reduce(0, +)
        var line = "total  \(done)/\(items.count) done  "
        if known, total > 0 {
            line += "\(Self.mebibytes(bytes))/\(Self.mebibytes(total)) MiB  \(String(format: "%3.0f%%", Double(bytes) / Double(total) * 100))"
        } else {
            line += "\(Self.mebibytes(bytes)) MiB"
        }
        guard done < items.count else { return line }
        let left = known && rate > 0 ? Double(total - bytes) / rate : nil
        return line + "  \(TransferRate.format(bytesPerSecond: rate > 0 ? rate : nil))  ETA \(TransferRate.format(secondsLeft: left))"
    }

    static func mebibytes(_ bytes: Int64) -> String {
        String(format: "%.1f", Double(bytes) / 1_048_576)
    }

    /// The summary table and totals line.
    func summary(elapsed: Duration, faults: Int) -> String {
        var lines = ["", "file              bytes      attempts  resumes  SHA-256"]
        for item in items {
            let verdict = item.result == nil ? "failed: \(item.failure ?? "?")"
                : item.isVerified ? (item.expectedSHA256 == nil ? "computed" : "verified") : "MISMATCH"
            lines.append(item.name.padding(toLength: 18, withPad: " ", startingAt: 0)
                + String(item.result?.length ?? item.bytes).padding(toLength: 11, withPad: " ", startingAt: 0)
                + String(item.attempts).padding(toLength: 10, withPad: " ", startingAt: 0)
                + String(item.resumes).padding(toLength: 9, withPad: " ", startingAt: 0)
                + verdict)
        }
        let complete = items.filter { $0.result != nil }.count
        let verified = items.filter { $0.result != nil && $0.expectedSHA256 != nil && $0.isVerified }.count
        let withHash = items.filter { $0.expectedSHA256 != nil }.count
        let bytes = items.reduce(Int64(0)) { $0 + ($1.result?.length ?? 0) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        lines.append("")
        lines.append("files \(complete)/\(items.count) complete, \(bytes) bytes (\(Self.mebibytes(bytes)) MiB), "
            + "faults met \(faults), retries \(retries), resumes \(items.reduce(0) { $0 + $1.resumes }), "
            + "SHA-256 verified \(verified)/\(withHash), elapsed \(String(format: "%.2f", seconds)) s")
        return lines.joined(separator: "\n")
    }
}
