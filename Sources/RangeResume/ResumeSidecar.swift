import Foundation

/// What validates a resume: the value sent as `If-Range`.
///
/// Only a **strong** `ETag` or, when the response has no `ETag` at all, its `Last-Modified`
/// (RFC 9110 §13.1.5: weak entity tags are never used with `If-Range`).
enum ResumeValidator: Sendable, Hashable {
    case etag(String)
    case lastModified(String)

    /// The validator of a response, or `nil` when it has none usable for `If-Range`.
    init?(head: TransportResponseHead) {
        if let tag = head["etag"]?.trimmingCharacters(in: .whitespaces), !tag.isEmpty {
            guard !tag.hasPrefix("W/") else { return nil }
            self = .etag(tag)
        } else if let date = head["last-modified"]?.trimmingCharacters(in: .whitespaces), !date.isEmpty {
            self = .lastModified(date)
        } else {
            return nil
        }
    }

    var ifRangeValue: String {
        switch self {
        case .etag(let tag): tag
        case .lastModified(let date): date
        }
    }
}

/// The resume state persisted next to the `.part` file (`<destination>.part.meta`).
///
/// Format (UTF-8 text, one `key=value` per line, unknown keys ignored, written atomically via a
/// temporary file, `fsync` and `rename`):
/// ```
/// rangeresume-sidecar=1
/// url=https://example.com/big.iso
/// etag="5f2b-1a2b3c"                  (or last-modified=Tue, 15 Nov 1994 08:12:31 GMT; or neither)
/// length=1073741824                   (total length when known; absent otherwise)
/// durable=268435456                   (bytes of the .part that were fsynced before this file was written)
/// integrity-failures=0                (verification failures from zero; see IntegrityError)
/// ```
/// `durable` is the only offset trusted after a crash: the `.part` is truncated to it before
/// resuming, whatever its size on disk.
struct ResumeSidecar: Sendable, Hashable {
    var url: String
    var validator: ResumeValidator?
    var length: Int64?
    var durable: Int64
    var integrityFailures: Int

    static let formatLine = "rangeresume-sidecar=1"

    func encoded() -> [UInt8] {
        var lines = [Self.formatLine, "url=\(url)"]
        switch validator {
        case .etag(let tag): lines.append("etag=\(tag)")
        case .lastModified(let date): lines.append("last-modified=\(date)")
        case nil: break
        }
        if let length { lines.append("length=\(length)") }
        lines.append("durable=\(durable)")
        lines.append("integrity-failures=\(integrityFailures)")
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    /// Parses a sidecar; `nil` for anything malformed (the resumer then starts from zero).
    init?(decoding bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var fields: [String: String] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard lines.first.map(String.init) == Self.formatLine else { return nil }
        lines.removeFirst()
        for line in lines {
            guard let equals = line.firstIndex(of: "=") else { return nil }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let url = fields["url"], let durable = fields["durable"].flatMap({ Int64($0) }), durable >= 0 else { return nil }
        self.url = url
        self.durable = durable
        if let tag = fields["etag"] {
            validator = .etag(tag)
        } else if let date = fields["last-modified"] {
            validator = .lastModified(date)
        } else {
            validator = nil
        }
        if let text = fields["length"] {
            guard let value = Int64(text), value >= 0 else { return nil }
            length = value
        } else {
            length = nil
        }
        integrityFailures = fields["integrity-failures"].flatMap { Int($0) } ?? 0
    }

    init(url: String, validator: ResumeValidator?, length: Int64?, durable: Int64, integrityFailures: Int) {
        self.url = url
        self.validator = validator
        self.length = length
        self.durable = durable
        self.integrityFailures = integrityFailures
    }

    /// Reads the sidecar at `path`; `nil` when it is missing, unreadable or malformed.
    static func load(from path: String) -> ResumeSidecar? {
        guard let data = FileManager.default.contents(atPath: path), data.count < 64 << 10 else { return nil }
        return ResumeSidecar(decoding: Array(data))
    }

    func save(to path: String) throws(RangeResumeError) {
        try FileSystem.writeAtomically(encoded(), to: path)
    }
}

/// `Content-Range` of a 206 (`bytes 100-199/1000`) or 416 (`bytes */1000`) response.
struct ContentRange: Sendable, Hashable {
    /// First and last byte positions, `nil` for the unsatisfied form `bytes */N`.
    var first: Int64?
    var last: Int64?
    /// The complete length, `nil` for `*`.
    var total: Int64?

    init?(_ value: String) {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes ") else { return nil }
        let spec = trimmed.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard let slash = spec.firstIndex(of: "/") else { return nil }
        let range = spec[..<slash], length = spec[spec.index(after: slash)...]
        if length == "*" {
            total = nil
        } else {
            guard let value = Int64(length), value >= 0 else { return nil }
            total = value
        }
        if range == "*" {
            guard total != nil else { return nil }
            first = nil
            last = nil
        } else {
            let parts = range.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let first = Int64(parts[0]), let last = Int64(parts[1]),
                  first >= 0, last >= first, total.map({ last < $0 }) ?? true else { return nil }
            self.first = first
            self.last = last
        }
    }
}
