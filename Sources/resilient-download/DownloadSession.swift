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

    /// Consumes `queue.events` until every item ended.
    mutating func run(_ queue: DownloadQueue) async {
        var open = Set(items.map(\.id))
        draw(force: true)
        for await event in queue.events {
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
            items[index].status = "attempt \(attempt)"
            plain("\(name): attempt \(attempt) started")
        case .progress(_, let progress):
            items[index].bytes = progress.bytes
            items[index].total = progress.totalBytes
            let now = ContinuousClock.now
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
            items[index].status = "retry in \(String(format: "%.1f", wait)) s"
            plain("\(name): \(error.message); retrying in \(String(format: "%.1f", wait)) s")
        case .switchedMirror(_, let url):
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
        for item in items {
            output += "\u{1B}[2K" + Self.liveLine(item) + "\n"
        }
        drawnLines = items.count
        try? FileHandle.standardError.write(contentsOf: Data(output.utf8))
    }

    private static func liveLine(_ item: Item) -> String {
        let width = 24
        let fraction = item.total.map { $0 > 0 ? Double(item.bytes) / Double($0) : 1 } ?? 0
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let size = item.total.map { "\(mebibytes(item.bytes))/\(mebibytes($0)) MiB" } ?? "\(mebibytes(item.bytes)) MiB"
        return "\(item.name.padding(toLength: 16, withPad: " ", startingAt: 0)) [\(bar)] \(size)  \(item.status)"
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
