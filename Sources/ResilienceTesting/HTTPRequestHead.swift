/// The request line and header fields of one HTTP/1.x request, parsed by ``FaultyHTTPServer``.
struct HTTPRequestHead: Sendable {
    var method: String
    var target: String
    var version: String
    var headers: HTTPHeaderFields

    /// The resource path as sent: the target without query or fragment, and without an
    /// absolute-form `scheme://authority` prefix (still percent-encoded).
    var rawPath: String {
        var rest = Substring(target)
        if let scheme = rest.range(of: "://") {
            rest = rest[scheme.upperBound...]
            rest = rest.firstIndex(of: "/").map { rest[$0...] } ?? "/"
        }
        if let cut = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<cut] }
        return String(rest)
    }

    /// The resource path as a server looks it up: ``rawPath`` percent-decoded (as UTF-8), or
    /// `nil` when it cannot be — a malformed `%` escape, bytes that are not UTF-8, a NUL, or a
    /// `.` / `..` segment after decoding (`/a/%2E%2E/b` too). Such a request gets `400`.
    var path: String? {
        let raw = Array(rawPath.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            if raw[index] == UInt8(ascii: "%") {
                guard index + 2 < raw.count, let high = Self.hexValue(raw[index + 1]), let low = Self.hexValue(raw[index + 2])
                else { return nil }
                bytes.append(high << 4 | low)
                index += 3
            } else {
                bytes.append(raw[index])
                index += 1
            }
        }
        guard !bytes.contains(0), let decoded = String(validating: bytes, as: UTF8.self) else { return nil }
        let segments = decoded.split(separator: "/", omittingEmptySubsequences: false)
        guard !segments.contains(where: { $0 == ".." || $0 == "." }) else { return nil }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Why a head could not be parsed, as the status to answer.
    enum ParseError: Error { case badRequest, versionNotSupported }

    /// Parses `bytes`: everything before the blank line that ends the head. Lines may end in
    /// CRLF or a bare LF (RFC 9112 §2.2 allows recipients to accept it).
    static func parse(_ bytes: ArraySlice<UInt8>) throws(ParseError) -> HTTPRequestHead {
        // Split the bytes, not a String: in Swift "\r\n" is one Character and would not split.
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            Substring(String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line, as: UTF8.self))
        }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard let requestLine = lines.first else { throw .badRequest }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty,
              parts[0].allSatisfy(isTokenCharacter)
        else { throw .badRequest }
        let version = String(parts[2])
        guard version.hasPrefix("HTTP/"), version.count == 8 else { throw .badRequest }
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else { throw .versionNotSupported }

        var fields: [HTTPHeaderFields.Field] = []
        for line in lines.dropFirst() {
            // Obsolete line folding and whitespace before the colon are rejected (RFC 9112 §5).
            guard let colon = line.firstIndex(of: ":"), let first = line.first, first != " ", first != "\t"
            else { throw .badRequest }
            let name = line[..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenCharacter) else { throw .badRequest }
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            fields.append(.init(name: String(name), value: String(value)))
        }
        return HTTPRequestHead(
            method: String(parts[0]), target: String(parts[1]), version: version,
            headers: HTTPHeaderFields(fields))
    }

    /// RFC 9110 `tchar`.
    private static func isTokenCharacter(_ character: Character) -> Bool {
        guard character.isASCII, let ascii = character.asciiValue else { return false }
        if character.isLetter || character.isNumber { return true }
        return "!#$%&'*+-.^_`|~".utf8.contains(ascii)
    }
}

extension Substring {
    /// Removes leading and trailing spaces and tabs (HTTP's optional whitespace).
    func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }
}
