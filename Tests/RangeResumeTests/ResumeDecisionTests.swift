import Foundation
@testable import RangeResume
import Testing

/// The resume table of `Documentation/RangeResume.md`, row by row, without a transport.
@Suite("ResumeDecision")
struct ResumeDecisionTests {
    static let etag = ResumeValidator.etag("\"v1\"")

    static func head(_ status: Int, _ fields: [String: String] = [:]) -> TransportResponseHead {
        TransportResponseHead(status: status, headers: fields)
    }

    static func decide(_ head: TransportResponseHead, offset: Int64 = 0, knownLength: Int64? = nil,
                       knownValidator: ResumeValidator? = nil, expectedLength: Int64? = nil, cap: Int64? = nil) -> ResumeDecision {
        ResumeDecision.decide(head: head, offset: offset, knownLength: knownLength, knownValidator: knownValidator,
                              expectedLength: expectedLength, cap: cap)
    }

    @Test func noSidecarAnd200StartsFresh() {
        #expect(Self.decide(Self.head(200, ["Content-Length": "1000", "ETag": "\"v1\""]))
                == .startFresh(validator: Self.etag, length: 1000, bodyLength: 1000, restarted: false))
        // No length announced (a close-delimited body): still fresh, length unknown.
        #expect(Self.decide(Self.head(200)) == .startFresh(validator: nil, length: nil, bodyLength: nil, restarted: false))
    }

    @Test func aMatching206AppendsFromTheLocalSize() {
        let head = Self.head(206, ["Content-Range": "bytes 400-999/1000", "Content-Length": "600", "ETag": "\"v1\""])
        #expect(Self.decide(head, offset: 400, knownLength: 1000, knownValidator: Self.etag)
                == .append(from: 400, total: 1000, bodyLength: 600, validator: Self.etag))
    }

    @Test(arguments: [
        (["Content-Range": "bytes 300-999/1000"], "starts at 300"),                              // another start
        (["Content-Range": "bytes 400-999/2000"], "total 2000"),                                 // another total
        (["Content-Range": "bytes 400-999/*"], "unknown total"),                                 // `*` total
        (["Content-Range": "bytes x-y/1000"], "unusable Content-Range"),                         // malformed
        ([:], "unusable Content-Range"),                                                         // none
        (["Content-Range": "bytes 400-999/1000", "ETag": "\"v2\""], "ETag changed"),             // changed ETag
        (["Content-Range": "bytes 400-999/1000", "Content-Length": "10"], "disagrees"),          // lying Content-Length
    ] as [([String: String], String)])
    func a206ThatDoesNotContinueThePartRestarts(fields: [String: String], reason: String) {
        guard case .restart(let why) = Self.decide(Self.head(206, fields), offset: 400, knownLength: 1000, knownValidator: Self.etag) else {
            Issue.record("expected a restart for \(fields)"); return
        }
        #expect(why.contains(reason), "\(why)")
    }

    @Test func a200ToAResumeStartsFreshAndCountsARestart() {
        #expect(Self.decide(Self.head(200, ["Content-Length": "1000"]), offset: 400, knownLength: 1000, knownValidator: Self.etag)
                == .startFresh(validator: nil, length: 1000, bodyLength: 1000, restarted: true))
    }

    @Test func a416ForACompletePartCompletesAndOtherwiseRestarts() {
        let full = Self.head(416, ["Content-Range": "bytes */1000"])
        #expect(Self.decide(full, offset: 1000, knownLength: 1000) == .complete(total: 1000))
        guard case .restart = Self.decide(full, offset: 600, knownLength: 1000) else { Issue.record("expected a restart"); return }
        guard case .restart = Self.decide(full, offset: 1000, knownLength: 1000, expectedLength: 1200) else {
            Issue.record("a 416 that disagrees with the expected length must restart"); return
        }
        guard case .restart = Self.decide(Self.head(416), offset: 1000) else { Issue.record("expected a restart"); return }
    }

    @Test(arguments: [200, 206])
    func anEncodedBodyIsRefusedBeforeAnythingElse(status: Int) {
        let head = Self.head(status, ["Content-Encoding": "gzip", "Content-Range": "bytes 0-9/10", "Content-Length": "10"])
        #expect(Self.decide(head, expectedLength: 99) == .refuseEncoding("gzip"))
    }

    @Test func aWrongAnnouncedLengthAndACapAreCheckedBeforeWriting() {
        #expect(Self.decide(Self.head(200, ["Content-Length": "1000"]), expectedLength: 999)
                == .lengthMismatch(expected: 999, actual: 1000))
        #expect(Self.decide(Self.head(200, ["Content-Length": "1000"]), cap: 500) == .exceedsCap(500))
        #expect(Self.decide(Self.head(206, ["Content-Range": "bytes 0-99/1000"]), cap: 500) == .exceedsCap(500))
    }

    @Test(arguments: [301, 304, 401, 404, 429, 500, 503])
    func anyOtherStatusIsAnHTTPError(status: Int) {
        #expect(Self.decide(Self.head(status, ["Content-Encoding": "gzip"]), offset: 400) == .status(status))
    }
}
