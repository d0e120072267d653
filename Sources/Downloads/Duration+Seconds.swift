import Foundation

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }

    /// `interval` seconds rounded to the nearest microsecond (wall-clock `Date` arithmetic is
    /// only that precise), never negative.
    static func rounded(seconds interval: TimeInterval) -> Duration {
        guard interval > 0 else { return .zero }
        return .microseconds(Int64((interval * 1e6).rounded()))
    }
}
