import Foundation
@testable import Downloads
import JobStores
import ResilienceRetry
import Testing

/// `DownloadQueue`'s decision for an attempt's outcome, without a store, a queue or a network.
@Suite("AttemptRecord")
struct AttemptRecordTests {
    static let now = Date(timeIntervalSince1970: 1_900_000_000)
    static let lost = URLError(.networkConnectionLost)

    static func job(mirrors: [URL] = []) -> DownloadJob {
        var job = DownloadJob(url: URL(string: "http://a.example/f.bin")!, mirrors: mirrors, destination: "/tmp/f.bin")
        job.attempts = 2
        return job
    }

    @Test func aCancelRequestWinsOverEverything() {
        guard case .cancelled? = AttemptRecord.beforeSchedule(for: Self.lost, cancelRequested: true, taskCancelled: true,
                                                             stoppingAbruptly: true) else { Issue.record("expected cancelled"); return }
    }

    @Test func anAbruptStopReschedulesAtOnceAndAGracefulOneReportsTheJobLost() {
        guard case .interrupted(let failure)? = AttemptRecord.beforeSchedule(
            for: CancellationError(), cancelRequested: false, taskCancelled: true, stoppingAbruptly: true) else {
            Issue.record("expected interrupted"); return
        }
        #expect(failure.isRetryable)
        guard case .lost? = AttemptRecord.beforeSchedule(for: CancellationError(), cancelRequested: false, taskCancelled: true,
                                                        stoppingAbruptly: false) else { Issue.record("expected lost"); return }
    }

    @Test func aStoreRefusalIsALostJobAndAnOrdinaryErrorAsksTheSchedule() {
        let refused = JobStoreError.leaseLost(job: UUID(), owner: "w")
        guard case .lost? = AttemptRecord.beforeSchedule(for: refused, cancelRequested: false, taskCancelled: false,
                                                        stoppingAbruptly: false) else { Issue.record("expected lost"); return }
        #expect(AttemptRecord.beforeSchedule(for: Self.lost, cancelRequested: false, taskCancelled: false,
                                             stoppingAbruptly: false) == nil)
    }

    @Test func aRetryCarriesItsDueDateTheDelayAndTheMirrorToUseNext() throws {
        let mirror = URL(string: "http://b.example/f.bin")!
        let record = AttemptRecord.afterSchedule(.retry(after: .seconds(5)), error: HTTPStatusError(status: 503),
                                                 job: Self.job(mirrors: [mirror]), now: Self.now)
        guard case .retry(let at, let failure, let metadata, let next) = record else { Issue.record("expected a retry"); return }
        #expect(at == Self.now.addingTimeInterval(5))
        #expect(failure.isRetryable && failure.message.contains("503"))
        #expect(metadata[NextAttemptDecision.previousDelayKey] == "5000000000")
        #expect(metadata[MirrorRotation.metadataKey] == "1" && next == mirror)   // a 503 moves on to the mirror
        // Without mirrors the source stays, and no switch is reported.
        guard case .retry(_, _, let alone, nil) = AttemptRecord.afterSchedule(
            .retry(after: .seconds(1)), error: Self.lost, job: Self.job(), now: Self.now) else { Issue.record("expected a retry"); return }
        #expect(alone[MirrorRotation.metadataKey] == "0")
    }

    @Test(arguments: [true, false])
    func givingUpFailsTheJobSayingWhetherTheErrorWasTransient(isRetryable: Bool) {
        guard case .fail(let failure) = AttemptRecord.afterSchedule(.giveUp(isRetryable: isRetryable), error: Self.lost,
                                                                    job: Self.job(), now: Self.now) else {
            Issue.record("expected fail"); return
        }
        #expect(failure.isRetryable == isRetryable && !failure.message.isEmpty)
    }
}
