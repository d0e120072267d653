import Foundation
import RangeResume
import ResilienceRetry
import ResilienceSemaphore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One pass of a ``SegmentedDownload`` over a resource with a fixed length and validator: adopt
/// or plan the segments, drive them to completion, verify and rename. A restart (the resource
/// changed) ends the pass with a `RangeFetchError` whose `requiresRestart` is `true`.
struct SegmentedRun<C: Clock<Duration>>: Sendable {
    let download: SegmentedDownload
    let url: URL
    let paths: SegmentedDownload.Paths
    let total: Int64
    let validator: String
    let expectedSHA256: String?
    let clock: C
    let policy: RetryPolicy
    let restarts: Int
    let progress: (@Sendable (DownloadProgress) -> Void)?

    private var configuration: SegmentedDownloadConfiguration { download.configuration }

    /// How one segment task ended.
    private enum Outcome: Sendable {
        case finished
        /// Too many stalls or too-slow failures (the last one attached): split or relieve.
        case struggling(any Error)
        /// Retries exhausted with a retryable error: re-queue.
        case exhausted(any Error)
        /// Not retryable (or a restart, or cancellation): the download stops.
        case failed(any Error)
    }

    private struct Report: Sendable {
        var index: Int
        var outcome: Outcome
        var failedRequests: Int
    }

    private struct Stats {
        var splits = 0
        var relieved = 0
        var requeues = 0
        var failedRequests = 0
    }

    func run() async throws -> SegmentedDownloadResult {
        let fd = try SegmentFiles.openPart(paths.part)
        var open = true
        defer { if open { SegmentFiles.close(fd) } }
        let ledger = try prepare(fd)
        let resumedFrom = ledger.durableBytes
        let meter = SegmentProgressMeter(clock: clock, interval: configuration.transfer.progressInterval, total: total,
                                         resumedFrom: resumedFrom, restarts: restarts, callback: progress)
        meter.start()
        let stats = try await drive(ledger: ledger, fd: fd, meter: meter)

        // Verify: every segment complete, the length, the optional SHA-256.
        let segments = ledger.sidecar.segments
        let done = segments.reduce(Int64(0)) { $0 + $1.done }
        guard segments.allSatisfy(\.isComplete), done == total else {
            throw IncompleteDownloadError(expectedBytes: total, receivedBytes: done)
        }
        try SegmentFiles.sync(fd, path: paths.part)
        guard try SegmentFiles.size(fd, path: paths.part) == total else {
            throw IncompleteDownloadError(expectedBytes: total, receivedBytes: try SegmentFiles.size(fd, path: paths.part))
        }
        var digest: String?
        if configuration.transfer.computesSHA256 || expectedSHA256 != nil {
            digest = try SegmentFiles.sha256(fd, length: total, path: paths.part)
        }
        if let expectedSHA256, let digest, digest != expectedSHA256 {
            SegmentFiles.close(fd)
            open = false
            SegmentFiles.remove(paths.part)
            SegmentFiles.remove(paths.sidecar)
            SegmentFiles.syncDirectory(paths.directory)
            throw IntegrityError(mismatch: .sha256(expected: expectedSHA256, actual: digest), isPermanent: false)
        }
        _ = fchmod(fd, 0o644)
        SegmentFiles.close(fd)
        open = false
        try SegmentFiles.rename(paths.part, paths.destination)
        SegmentFiles.syncDirectory(paths.directory)
        SegmentFiles.remove(paths.sidecar)
        meter.finish(bytes: total)
        let result = DownloadResult(fileURL: URL(fileURLWithPath: paths.destination), length: total, sha256: digest,
                                    resumedFrom: resumedFrom, bytesReceived: meter.received, restarts: restarts)
        return SegmentedDownloadResult(download: result, isSegmented: true, segments: segments.count, splits: stats.splits,
                                       relievedSegments: stats.relieved, requeues: stats.requeues,
                                       failedRequests: stats.failedRequests)
    }

    /// Adopts the sidecar when it describes this URL, validator and length and the `.part` has
    /// that length; otherwise plans fresh segments — writing the new sidecar *before* the `.part`
    /// is truncated, so no crash pairs old claims with new bytes.
    private func prepare(_ fd: Int32) throws -> SegmentLedger {
        if let saved = SegmentSidecar.load(from: paths.sidecar), saved.url == url.absoluteString,
           saved.validator == validator, saved.length == total, try SegmentFiles.size(fd, path: paths.part) == total {
            return SegmentLedger(sidecar: saved, path: paths.sidecar)
        }
        let count = Int(min(Int64(configuration.connections), total / configuration.minimumSegmentSize))
        let sidecar = SegmentSidecar(url: url.absoluteString, validator: validator, length: total,
                                     segments: Segment.plan(total: total, count: count))
        try sidecar.save(to: paths.sidecar)
        SegmentFiles.remove(paths.resumerSidecar)
        SegmentFiles.syncDirectory(paths.directory)
        try SegmentFiles.truncate(fd, to: 0, path: paths.part)
        try SegmentFiles.truncate(fd, to: total, path: paths.part)
        return SegmentLedger(sidecar: sidecar, path: paths.sidecar)
    }

    /// Runs segment tasks until every segment has finished (counted, not inferred from an empty
    /// queue), re-queueing, splitting and relieving as needed.
    private func drive(ledger: SegmentLedger, fd: Int32, meter: SegmentProgressMeter<C>) async throws -> Stats {
        let semaphore = AsyncSemaphore(permits: configuration.connections)
        let canRelieve = configuration.transfer.minimumSpeed != nil
        let result: Result<Stats, any Error> = await withTaskGroup(of: Report.self) { group in
            var stats = Stats()
            var relieved = Set<Int>()
            func launch(_ index: Int) {
                let isRelieved = relieved.contains(index)
                group.addTask {
                    await runSegment(index, relieved: isRelieved, ledger: ledger, fd: fd, meter: meter, semaphore: semaphore)
                }
            }
            var finished = 0
            for index in 0..<ledger.count {
                if ledger.segment(index).isComplete { finished += 1 } else { launch(index) }
            }
            var failure: (any Error)?
            while finished < ledger.count, failure == nil, let report = await group.next() {
                stats.failedRequests += report.failedRequests
                switch report.outcome {
                case .finished:
                    finished += 1
                case .struggling(let last):
                    if let tail = ledger.split(report.index, minimum: configuration.minimumSegmentSize) {
                        stats.splits += 1
                        launch(report.index)
                        launch(tail)
                    } else if canRelieve && !relieved.contains(report.index) {
                        relieved.insert(report.index)
                        stats.relieved += 1
                        launch(report.index)
                    } else {
                        stats.requeues += 1
                        if stats.requeues > configuration.maxRequeues {
                            failure = last
                        } else {
                            launch(report.index)
                        }
                    }
                case .exhausted(let error):
                    stats.requeues += 1
                    if stats.requeues > configuration.maxRequeues { failure = error } else { launch(report.index) }
                case .failed(let error):
                    failure = error
                }
            }
            if let failure {
                group.cancelAll()
                // Prefer a restart signal over the cancellations it causes.
                var chosen = failure
                for await report in group {
                    if case .failed(let error as RangeFetchError) = report.outcome, error.requiresRestart,
                       !((chosen as? RangeFetchError)?.requiresRestart ?? false) {
                        chosen = error
                    }
                }
                return .failure(chosen)
            }
            if Task.isCancelled && finished < ledger.count { return .failure(CancellationError()) }
            return .success(stats)
        }
        return try result.get()
    }

    /// Fetches one segment under the retry policy, from its last durable byte each attempt.
    private func runSegment(_ index: Int, relieved: Bool, ledger: SegmentLedger, fd: Int32,
                            meter: SegmentProgressMeter<C>, semaphore: AsyncSemaphore) async -> Report {
        var transfer = configuration.transfer
        if relieved { transfer.minimumSpeed = nil }
        let fetcher = RangeFetcher(configuration: transfer, engine: download.engine, authorizer: download.authorizer)
        var failed = 0
        var struggles = 0
        do {
            try await semaphore.withPermit {
                try await retry(policy, clock: clock) { _ in
                    let segment = ledger.segment(index)
                    guard !segment.isComplete else { return }
                    do {
                        try await fetcher.fetch(
                            from: url, bytes: segment.next...segment.last, totalLength: total, validator: validator,
                            into: fd, clock: clock, onReceive: { meter.add($0) },
                            onDurable: { ledger.checkpoint(index, done: segment.done + $0) })
                    } catch {
                        failed += 1
                        switch error {
                        case RangeResumeError.stalled, RangeResumeError.tooSlow:
                            struggles += 1
                            if struggles >= configuration.struggleLimit { throw SegmentStruggle(last: error) }
                        default: break
                        }
                        throw error
                    }
                }
            }
            return Report(index: index, outcome: .finished, failedRequests: failed)
        } catch let struggle as SegmentStruggle {
            return Report(index: index, outcome: .struggling(struggle.last), failedRequests: failed)
        } catch {
            let retryable = !(error is CancellationError) && !Task.isCancelled
                && !((error as? RangeFetchError)?.requiresRestart ?? false)
                && policy.classifier.classify(error, now: Date()) != .stop
            return Report(index: index, outcome: retryable ? .exhausted(error) : .failed(error), failedRequests: failed)
        }
    }
}
