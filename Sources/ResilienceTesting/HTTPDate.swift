import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// IMF-fixdate (RFC 9110 §5.6.7) formatting and parsing, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
///
/// Written with `gmtime_r`/`timegm` instead of `DateFormatter` (locale-free, fast, thread-safe).
/// Only the IMF-fixdate form is parsed; the obsolete RFC 850 and asctime forms give `nil`.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Formats `date` (rounded down to the second) as an IMF-fixdate.
    static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let day = days[Int(parts.tm_wday)]
        let month = months[Int(parts.tm_mon)]
        return "\(day), \(two(parts.tm_mday)) \(month) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    /// Parses an IMF-fixdate; `nil` for anything else.
    static func parse(_ text: String) -> Date? {
        // "Sun, 06 Nov 1994 08:49:37 GMT"
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0].count == 4, parts[0].hasSuffix(","),
              days.contains(String(parts[0].dropLast())), parts[5] == "GMT",
              parts[1].count == 2, let day = Int32(parts[1]),
              let month = months.firstIndex(of: String(parts[2])),
              parts[3].count == 4, let year = Int32(parts[3])
        else { return nil }
        let clock = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
              let hour = Int32(clock[0]), let minute = Int32(clock[1]), let second = Int32(clock[2]),
              (1...31).contains(day), (0...23).contains(hour), (0...59).contains(minute),
              (0...60).contains(second)
        else { return nil }
        var parts2 = tm()
        parts2.tm_year = year - 1900
        parts2.tm_mon = Int32(month)
        parts2.tm_mday = day
        parts2.tm_hour = hour
        parts2.tm_min = minute
        parts2.tm_sec = second
        let seconds = timegm(&parts2)
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}
