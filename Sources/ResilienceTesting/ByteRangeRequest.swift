/// How a `Range` header field applies to a representation of a known length (RFC 9110 §14).
///
/// Only a single `bytes` range is honoured; a multi-range request (`bytes=0-1,5-6`) is answered
/// with the full representation, which RFC 9110 §14.2 permits (a server may ignore `Range`).
enum ByteRangeRequest: Equatable, Sendable {
    /// No usable `Range`: absent, another unit, multiple ranges or invalid syntax → answer `200`.
    case ignored
    /// Serve these bytes (inclusive bounds, already clamped to the length) with `206`.
    case satisfiable(first: Int64, last: Int64)
    /// Answer `416` with `Content-Range: bytes */<length>`.
    case unsatisfiable

    /// Evaluates `header` (the `Range` field value, or `nil`) against `length` bytes.
    static func evaluate(_ header: String?, length: Int64) -> ByteRangeRequest {
        guard let header else { return .ignored }
        let value = Substring(header).trimmingWhitespace()
        guard let equals = value.firstIndex(of: "="),
              value[..<equals].trimmingWhitespace().lowercased() == "bytes"
        else { return .ignored }
        let spec = value[value.index(after: equals)...].trimmingWhitespace()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .ignored }
        let firstText = spec[..<dash]
        let lastText = spec[spec.index(after: dash)...]

        if firstText.isEmpty {
            // Suffix range: the last N bytes.
            guard let suffix = number(lastText) else { return .ignored }
            if suffix == 0 { return .unsatisfiable }
            if length == 0 { return .ignored }  // nothing to cut from: answer 200 with 0 bytes
            return .satisfiable(first: max(0, length - suffix), last: length - 1)
        }
        guard let first = number(firstText) else { return .ignored }
        var last = length - 1
        if !lastText.isEmpty {
            guard let parsed = number(lastText) else { return .ignored }
            if parsed < first { return .ignored }  // invalid range-spec: ignore the field
            last = min(parsed, length - 1)
        }
        if first >= length { return .unsatisfiable }
        return .satisfiable(first: first, last: last)
    }

    /// A non-negative decimal; values beyond `Int64.max` saturate. `nil` if not all digits.
    private static func number(_ text: Substring) -> Int64? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(text) ?? .max
    }
}
