import Foundation
import ResilienceTesting
import ResilienceRetry
import Testing

/// 1994-11-06 08:49:37 UTC, the example date of RFC 9110 §5.6.7.
private let rfcExampleEpoch: Int64 = 784_111_777

@Suite("RetryAfter")
struct RetryAfterTests {
    private let now1994 = Date(timeIntervalSince1970: TimeInterval(rfcExampleEpoch - 37))
    private let now2026 = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18

    @Test(arguments: [("120", 120), ("0", 0), (" 5 ", 5), ("\t7", 7), ("2147483647", 2_147_483_647)])
    func deltaSeconds(value: String, seconds: Int64) {
        #expect(RetryAfter.parse(value, now: now2026) == .seconds(seconds))
    }

    @Test(arguments: ["", "   ", "-1", "+5", "1.5", "1e3", "12abc", "abc", "2147483648",
                      "99999999999999999999999999999", "0x10", "5 5", "١٢"])
    func garbageDeltaIsNil(value: String) {
        #expect(RetryAfter.parse(value, now: now2026) == nil)
    }

    @Test func imfFixdate() {
        #expect(RetryAfter.parseHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT", now: now2026) == rfcExampleEpoch)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now1994) == .seconds(37))
    }

    @Test func obsoleteRFC850() {
        #expect(RetryAfter.parseHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT", now: now1994) == rfcExampleEpoch)
        #expect(RetryAfter.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: now1994) == .seconds(37))
    }

    @Test func rfc850TwoDigitYearIsAtMostFiftyYearsAhead() {
        // From 2026, "94" is 1994 (2094 would be more than 50 years ahead) and "70" is 2070.
        #expect(RetryAfter.parseHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT", now: now2026) == rfcExampleEpoch)
        #expect(RetryAfter.parseHTTPDate("Tuesday, 01-Jan-70 00:00:00 GMT", now: now2026) == 3_155_760_000)
        #expect(RetryAfter.parseHTTPDate("Thursday, 01-Jan-77 00:00:00 GMT", now: now2026) == 220_924_800)
    }

    @Test func asctime() {
        #expect(RetryAfter.parseHTTPDate("Sun Nov  6 08:49:37 1994", now: now2026) == rfcExampleEpoch)
        #expect(RetryAfter.parseHTTPDate("Wed Nov 16 08:49:37 1994", now: now2026) == rfcExampleEpoch + 10 * 86_400)
        #expect(RetryAfter.parse("Sun Nov  6 08:49:37 1994", now: now1994) == .seconds(37))
    }

    @Test func calendarArithmetic() {
        #expect(RetryAfter.parseHTTPDate("Thu, 01 Jan 1970 00:00:00 GMT", now: now2026) == 0)
        #expect(RetryAfter.parseHTTPDate("Thu, 29 Feb 2024 12:00:00 GMT", now: now2026) == 1_709_208_000)
        #expect(RetryAfter.parseHTTPDate("Tue, 29 Feb 2000 00:00:00 GMT", now: now2026) == 951_782_400)
        #expect(RetryAfter.parseHTTPDate("Fri, 31 Dec 1999 23:59:60 GMT", now: now2026) == 946_684_800)  // leap second
    }

    @Test func futureDateGivesRemainingTimeAndPastGivesZero() {
        let now = Date(timeIntervalSince1970: 1_709_208_000 - 90.25)
        #expect(RetryAfter.parse("Thu, 29 Feb 2024 12:00:00 GMT", now: now) == .milliseconds(90_250))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: now2026) == .zero)
        #expect(RetryAfter.parse("Thu, 29 Feb 2024 12:00:00 GMT", now: Date(timeIntervalSince1970: 1_709_208_000)) == .zero)
    }

    @Test(arguments: [
        "Sun, 31 Feb 2024 00:00:00 GMT",  // no such day
        "Fri, 29 Feb 2023 00:00:00 GMT",  // not a leap year
        "Sun, 06 Nov 1994 24:00:00 GMT",  // hour 24
        "Sun, 06 Nov 1994 08:60:37 GMT",  // minute 60
        "Sun, 06 Nov 1994 08:49:61 GMT",  // second 61
        "sun, 06 Nov 1994 08:49:37 GMT",  // names are case-sensitive
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun 06 Nov 1994 08:49:37 GMT",
        "Funday, 06-Nov-94 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",    // short day name with RFC 850 body
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",        // asctime day must be space-padded
        "Sun Nov  6 08:49:37 94",
        "Sun, 99 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT\u{0}",
        ",", "GMT", "Sun,", "Sun, ", "Sunday, ", "Sun ",
    ])
    func malformedDatesAreNil(value: String) {
        #expect(RetryAfter.parse(value, now: now2026) == nil)
    }

    @Test func absurdlyFarFutureIsNil() {
        #expect(RetryAfter.parse("Fri, 31 Dec 9999 23:59:59 GMT", now: now2026) == nil)
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:49:37 GMT", now: Date(timeIntervalSince1970: .nan)) == nil)
        #expect(RetryAfter.parse("Sunday, 06-Nov-94 08:49:37 GMT", now: Date(timeIntervalSince1970: .infinity)) == nil)
    }

    @Test func randomInputNeverTraps() {
        var g = SeededRandomNumberGenerator(seed: 77)
        let alphabet = Array("0123456789 ,:-SunMoTueWdhFrSaJnFbMrApyJlAgSpOcNvDGMTday\t\u{0}é".unicodeScalars)
        let valid = Array("Sun, 06 Nov 1994 08:49:37 GMT".unicodeScalars)
        var parsed = 0
        // 4,000 under ThreadSanitizer, where parsing is ~10× slower (a cooperative thread held
        // for tens of seconds); that pass looks for races, not parser crashes.
        for i in 0..<(Sanitizers.isThreadSanitizerActive ? 4_000 : 20_000) {
            var scalars: [Unicode.Scalar]
            if i % 2 == 0 {
                scalars = (0..<Int(g.next() % 40)).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] }
            } else {
                // Mutate a valid date in one place.
                scalars = valid
                let index = Int(g.next() % UInt64(scalars.count))
                scalars[index] = alphabet[Int(g.next() % UInt64(alphabet.count))]
            }
            var string = ""
            string.unicodeScalars.append(contentsOf: scalars)
            if let d = RetryAfter.parse(string, now: now2026) {
                #expect(d >= .zero && d <= .seconds(RetryAfter.maximumSeconds))
                parsed += 1
            }
        }
        #expect(parsed > 0)  // some mutations stay valid (e.g. a digit for a digit)
    }
}
