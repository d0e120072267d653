import Foundation

/// Parsing of the HTTP `Retry-After` header (RFC 9110 §10.2.3).
///
/// The value is either delta-seconds (`120`) or an HTTP-date in any of the three forms of
/// RFC 9110 §5.6.7:
///
/// | form | example |
/// |---|---|
/// | IMF-fixdate (preferred) | `Sun, 06 Nov 1994 08:49:37 GMT` |
/// | obsolete RFC 850 | `Sunday, 06-Nov-94 08:49:37 GMT` |
/// | ANSI C `asctime()` | `Sun Nov  6 08:49:37 1994` |
///
/// Parsing is done by hand with fixed English month and day names and pure integer calendar
/// arithmetic: no `DateFormatter`, so no locale, time-zone or calendar setting can change the
/// result.
public enum RetryAfter {
    /// The largest delay accepted, in seconds: 2³¹ − 1 (about 68 years), the delta-seconds bound
    /// of RFC 9111 §1.2.2. Larger values are treated as garbage.
    public static let maximumSeconds: Int64 = 2_147_483_647

    /// The delay a `Retry-After` header value asks for.
    ///
    /// - Parameters:
    ///   - headerValue: the field value, surrounding white space allowed.
    ///   - now: the current wall time, used for HTTP-dates and the two-digit years of RFC 850.
    /// - Returns: the delay; `.zero` for a date at or before `now`; `nil` for an empty, malformed,
    ///   negative, fractional, overflowing or absurd value (over ``maximumSeconds``). Never traps.
    public static func parse(_ headerValue: String, now: Date) -> Duration? {
        let bytes = Array(headerValue.utf8.drop { $0 == 0x20 || $0 == 0x09 }.reversed()
            .drop { $0 == 0x20 || $0 == 0x09 }.reversed())
        guard !bytes.isEmpty else { return nil }
        if bytes.allSatisfy(isDigit) {
            guard let seconds = parseDigits(bytes[...]), seconds <= maximumSeconds else { return nil }
            return .seconds(seconds)
        }
        guard let epoch = parseHTTPDate(bytes, now: now) else { return nil }
        let nowSeconds = now.timeIntervalSince1970
        guard nowSeconds.isFinite else { return nil }
        let delta = Double(epoch) - nowSeconds
        if delta <= 0 { return .zero }
        guard delta <= Double(maximumSeconds) else { return nil }
        return .milliseconds(Int64((delta * 1000).rounded(.up)))
    }

    /// The Unix time of an HTTP-date in any of its three forms, or `nil` if `value` is not one.
    ///
    /// - Parameter now: needed only for the two-digit year of the RFC 850 form, which is read as
    ///   the most recent year with those digits that is not more than 50 years in the future.
    public static func parseHTTPDate(_ value: String, now: Date) -> Int64? {
        parseHTTPDate(Array(value.utf8), now: now)
    }

    // MARK: - Implementation

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].map { Array($0.utf8) }
    private static let shortDays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map { Array($0.utf8) }
    private static let longDays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                   "Saturday", "Sunday"].map { Array($0.utf8) }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// Decimal digits to a number; `nil` when not all digits or beyond `Int64` (never traps).
    private static func parseDigits(_ digits: ArraySlice<UInt8>) -> Int64? {
        guard !digits.isEmpty else { return nil }
        var value: Int64 = 0
        for byte in digits {
            guard isDigit(byte) else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(byte - 0x30))
            if o1 || o2 { return nil }
            value = sum
        }
        return value
    }

    /// A tiny cursor over the header bytes.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        var isAtEnd: Bool { index == bytes.count }

        mutating func expect(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        mutating func word() -> ArraySlice<UInt8> {
            let start = index
            while index < bytes.count, (bytes[index] | 0x20) >= 0x61, (bytes[index] | 0x20) <= 0x7A { index += 1 }
            return bytes[start..<index]
        }

        /// Exactly `count` digits.
        mutating func number(digits count: Int) -> Int64? {
            guard index + count <= bytes.count else { return nil }
            let value = RetryAfter.parseDigits(bytes[index..<(index + count)])
            if value != nil { index += count }
            return value
        }
    }

    private static func parseHTTPDate(_ bytes: [UInt8], now: Date) -> Int64? {
        var scanner = Scanner(bytes: bytes)
        let dayName = Array(scanner.word())
        if scanner.expect(0x2C) { // ","
            guard scanner.expect(0x20) else { return nil }
            if shortDays.contains(dayName) { return imfFixdate(&scanner) }
            if longDays.contains(dayName) { return rfc850(&scanner, now: now) }
            return nil
        }
        guard shortDays.contains(dayName), scanner.expect(0x20) else { return nil }
        return asctime(&scanner)
    }

    /// `06 Nov 1994 08:49:37 GMT` (after `Sun, `).
    private static func imfFixdate(_ s: inout Scanner) -> Int64? {
        guard let day = s.number(digits: 2), s.expect(0x20),
              let month = month(&s), s.expect(0x20),
              let year = s.number(digits: 4), s.expect(0x20),
              let time = timeOfDay(&s), s.expect(0x20),
              gmt(&s), s.isAtEnd else { return nil }
        return epochSeconds(year: year, month: month, day: day, secondsOfDay: time)
    }

    /// `06-Nov-94 08:49:37 GMT` (after `Sunday, `).
    private static func rfc850(_ s: inout Scanner, now: Date) -> Int64? {
        guard let day = s.number(digits: 2), s.expect(0x2D),
              let month = month(&s), s.expect(0x2D),
              let twoDigitYear = s.number(digits: 2), s.expect(0x20),
              let time = timeOfDay(&s), s.expect(0x20),
              gmt(&s), s.isAtEnd else { return nil }
        // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century.
        let nowSeconds = now.timeIntervalSince1970
        let nowYear = nowSeconds.isFinite && abs(nowSeconds) < 1e15
            ? civilYear(fromEpochSeconds: Int64(nowSeconds.rounded(.down))) : 2000
        var year = (nowYear / 100) * 100 + twoDigitYear
        if year > nowYear + 50 { year -= 100 }
        return epochSeconds(year: year, month: month, day: day, secondsOfDay: time)
    }

    /// `Nov  6 08:49:37 1994` (after `Sun `); the day is space-padded or two digits.
    private static func asctime(_ s: inout Scanner) -> Int64? {
        guard let month = month(&s), s.expect(0x20) else { return nil }
        let day: Int64?
        if s.expect(0x20) { day = s.number(digits: 1) } else { day = s.number(digits: 2) }
        guard let day, s.expect(0x20),
              let time = timeOfDay(&s), s.expect(0x20),
              let year = s.number(digits: 4), s.isAtEnd else { return nil }
        return epochSeconds(year: year, month: month, day: day, secondsOfDay: time)
    }

    private static func month(_ s: inout Scanner) -> Int64? {
        let name = Array(s.word())
        return months.firstIndex(of: name).map { Int64($0 + 1) }
    }

    private static func gmt(_ s: inout Scanner) -> Bool {
        s.word().elementsEqual("GMT".utf8)
    }

    /// `HH:MM:SS` as seconds of the day; a leap second (`:60`) is accepted.
    private static func timeOfDay(_ s: inout Scanner) -> Int64? {
        guard let hour = s.number(digits: 2), s.expect(0x3A),
              let minute = s.number(digits: 2), s.expect(0x3A),
              let second = s.number(digits: 2),
              hour < 24, minute < 60, second <= 60 else { return nil }
        return hour * 3600 + minute * 60 + second
    }

    private static func isLeapYear(_ year: Int64) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    /// Unix time of a proleptic-Gregorian UTC date, or `nil` for an impossible date.
    private static func epochSeconds(year: Int64, month: Int64, day: Int64, secondsOfDay: Int64) -> Int64? {
        let lengths: [Int64] = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), day >= 1, day <= lengths[Int(month - 1)] else { return nil }
        return daysFromCivil(year: year, month: month, day: day) * 86_400 + secondsOfDay
    }

    /// Days since 1970-01-01 (H. Hinnant's `days_from_civil`, public-domain algorithm).
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The UTC year containing a Unix time (inverse of `daysFromCivil`, year only).
    private static func civilYear(fromEpochSeconds seconds: Int64) -> Int64 {
        let days = (seconds >= 0 ? seconds : seconds - 86_399) / 86_400 + 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }
}
