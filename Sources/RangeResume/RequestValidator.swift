import Foundation

/// The one validation of every request field a caller controls: the URL (and mirrors) and
/// ``RangeResumer/Configuration/additionalHeaders``.
///
/// ``RangeResumer``, ``RangeFetcher``, both engines and `DownloadQueue.enqueue` call it, so a
/// request that could be bent — a header value that adds header lines of its own, a name that is
/// not a field name, a URL that would send a password in clear — is refused with
/// ``RangeResumeError/invalidArgument(_:)`` naming the field, before anything is sent or
/// journaled. Nothing is ever repaired silently. The rules:
///
/// | what | rule |
/// |---|---|
/// | URL scheme | `http` or `https` |
/// | URL host | present and non-empty |
/// | URL userinfo | none (`http://user:password@host/` is refused: it would travel in clear) |
/// | URL fragment | none (a `#fragment` is never sent; refused rather than dropped) |
/// | URL length | at most ``maximumURLBytes`` (8 KiB, RFC 9110 §4.1's recommended minimum) |
/// | field name | non-empty, RFC 9110 token characters only (``isTokenCharacter(_:)``), at most ``maximumNameBytes`` |
/// | field value | no CR, LF or NUL; at most ``maximumValueBytes`` (8 KiB) |
/// | names | unique ignoring case |
/// | engine-owned names | ``engineOwnedFields`` (`Host`, `Range`, `If-Range`, `Accept-Encoding`, `Connection`, `Content-Length`, `Transfer-Encoding`) are refused |
///
/// Any other field, `User-Agent` included, replaces the engine's default of the same name.
public enum RequestValidator {
    /// The longest URL accepted, in UTF-8 bytes of its percent-encoded form: 8192.
    public static let maximumURLBytes = 8192
    /// The longest header field name accepted, in bytes: 256.
    public static let maximumNameBytes = 256
    /// The longest header field value accepted, in UTF-8 bytes: 8192.
    public static let maximumValueBytes = 8192
    /// Fields only the engine sets (lowercased): request framing, ranges and the content coding.
    public static let engineOwnedFields: Set<String> = [
        "host", "range", "if-range", "accept-encoding", "connection", "content-length", "transfer-encoding",
    ]

    /// Checks a whole request a caller describes: `url`, each of `mirrors` (named `mirrors[i]`)
    /// and `headers` (named `headersField`), in that order.
    ///
    /// - Throws: ``RangeResumeError/invalidArgument(_:)`` naming the first field that breaks a rule.
    public static func validate(url: URL, mirrors: [URL] = [], headers: [String: String],
                                headersField: String = "additionalHeaders") throws(RangeResumeError) {
        try validate(url: url)
        for (index, mirror) in mirrors.enumerated() { try validate(url: mirror, field: "mirrors[\(index)]") }
        try validate(headers: headers, field: headersField)
    }

    /// Checks that `url` may be requested.
    ///
    /// - Parameter field: how the error names the URL, e.g. `url` or `mirrors[2]`.
    /// - Throws: ``RangeResumeError/invalidArgument(_:)`` naming `field` and the rule broken.
    public static func validate(url: URL, field: String = "url") throws(RangeResumeError) {
        let text = url.absoluteString
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw .invalidArgument("\(field): not an http(s) URL: \(String(text.prefix(200)))")
        }
        guard text.utf8.count <= maximumURLBytes else {
            throw .invalidArgument("\(field): longer than \(maximumURLBytes) bytes")
        }
        guard let host = url.host(percentEncoded: true), !host.isEmpty else {
            throw .invalidArgument("\(field): no host: \(text)")
        }
        guard url.user(percentEncoded: true) == nil, url.password(percentEncoded: true) == nil else {
            throw .invalidArgument("\(field): user information in a URL would be sent in clear; use an Authorization field")
        }
        guard url.fragment(percentEncoded: true) == nil else {
            throw .invalidArgument("\(field): a fragment (#…) is never sent; remove it")
        }
        guard requestTarget(of: url).utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }),
              host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalidArgument("\(field): characters that are not percent-encoded")
        }
    }

    /// Checks caller-supplied header fields (``RangeResumer/Configuration/additionalHeaders``).
    ///
    /// - Parameter field: how the error names the dictionary. Default `additionalHeaders`.
    /// - Throws: ``RangeResumeError/invalidArgument(_:)`` naming the field, e.g.
    ///   `additionalHeaders["X-A"]: value contains CR, LF or NUL`.
    public static func validate(headers: [String: String], field: String = "additionalHeaders") throws(RangeResumeError) {
        var seen: Set<String> = []
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            let label = "\(field)[\(String(reflecting: String(name.prefix(64))))]"
            try validateSyntax(name: name, value: value, label: label)
            let lowered = name.lowercased()
            guard !engineOwnedFields.contains(lowered) else {
                throw .invalidArgument("\(label): \(name) is set by the engine and cannot be overridden")
            }
            guard seen.insert(lowered).inserted else {
                throw .invalidArgument("\(label): the name appears twice (field names ignore case)")
            }
        }
    }

    /// Checks the syntax of every field of a request the engine is about to send (its own
    /// `Range`, `If-Range` and `Accept-Encoding` included): the engines' last line of defence.
    static func validateSyntax(of request: TransportRequest) throws(RangeResumeError) {
        try validate(url: request.url)
        for (name, value) in request.headers {
            try validateSyntax(name: name, value: value, label: "headers[\(String(reflecting: String(name.prefix(64))))]")
        }
    }

    private static func validateSyntax(name: String, value: String, label: String) throws(RangeResumeError) {
        guard !name.isEmpty else { throw .invalidArgument("\(label): empty field name") }
        guard name.utf8.count <= maximumNameBytes else {
            throw .invalidArgument("\(label): name longer than \(maximumNameBytes) bytes")
        }
        guard name.utf8.allSatisfy(isTokenCharacter) else {
            throw .invalidArgument("\(label): name has a character that is not an RFC 9110 token character")
        }
        guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) else {
            throw .invalidArgument("\(label): value contains CR, LF or NUL")
        }
        guard value.utf8.count <= maximumValueBytes else {
            throw .invalidArgument("\(label): value longer than \(maximumValueBytes) bytes")
        }
    }

    /// Whether `byte` is an RFC 9110 `tchar`: a letter, a digit or one of ``!#$%&'*+-.^_`|~``.
    public static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// The origin-form request target of `url`: its path and query exactly as percent-encoded in
    /// the URL (`/a%20b.bin?x=%2F`), `/` for an empty path.
    static func requestTarget(of url: URL) -> String {
        let path = url.path(percentEncoded: true)
        var target = path.isEmpty ? "/" : path
        if let query = url.query(percentEncoded: true) { target += "?" + query }
        return target
    }
}
