import Foundation
import ResilienceSupport

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

/// What one URL answered for the content in the `.part`: its validator and announced length.
struct SourceRecord: Sendable, Hashable {
    var validator: ResumeValidator?
    var length: Int64?
}

/// The resume state persisted next to the `.part` file (`<destination>.part.meta`).
///
/// Format 2 (UTF-8 text, one `key=value` per line, unknown keys ignored, written atomically via a
/// temporary file, `fsync` and `rename`):
/// ```
/// rangeresume-sidecar=2
/// url=https://a.example.com/big.iso   (the URL the last bytes came from)
/// etag="5f2b-1a2b3c"                  (its validator: or last-modified=...; or neither)
/// length=1073741824                   (total length when known; absent otherwise)
/// durable=268435456                   (bytes of the .part that were fsynced before this file was written)
/// integrity-failures=0                (verification failures from zero; see IntegrityError)
/// mirror.1.url=https://b.example.com/big.iso   (another URL that served the same content, 1-based)
/// mirror.1.etag="77-abc"              (its own validator: or mirror.1.last-modified=...; or neither)
/// mirror.1.length=1073741824          (the length it announced, when known)
/// ```
/// Format 1 (written before mirrors existed) is the same without the `mirror.*` lines; it is
/// still read. `durable` is the only offset trusted after a crash: the `.part` is truncated to
/// it before resuming, whatever its size on disk. Validators are kept per URL: the one in
/// `etag=` belongs to `url=` only, `mirror.N.etag` to `mirror.N.url` only.
struct ResumeSidecar: Sendable, Hashable {
    var url: String
    var validator: ResumeValidator?
    var length: Int64?
    var durable: Int64
    var integrityFailures: Int
    /// Other URLs that served the bytes of this `.part`, with what each of them answered.
    var mirrors: [String: SourceRecord] = [:]

    static let formatLine = "rangeresume-sidecar=2"
    static let formatLines: Set<String> = ["rangeresume-sidecar=1", formatLine]
    /// The most mirror records kept (older ones beyond it are dropped).
    static let maximumMirrors = 64

    func encoded() -> [UInt8] {
        var lines = [Self.formatLine, "url=\(url)"]
        Self.append(validator, prefix: "", to: &lines)
        if let length { lines.append("length=\(length)") }
        lines.append("durable=\(durable)")
        lines.append("integrity-failures=\(integrityFailures)")
        for (number, key) in mirrors.keys.sorted().prefix(Self.maximumMirrors).enumerated() {
            let record = mirrors[key]!
            lines.append("mirror.\(number + 1).url=\(key)")
            Self.append(record.validator, prefix: "mirror.\(number + 1).", to: &lines)
            if let length = record.length { lines.append("mirror.\(number + 1).length=\(length)") }
        }
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    private static func append(_ validator: ResumeValidator?, prefix: String, to lines: inout [String]) {
        switch validator {
        case .etag(let tag): lines.append("\(prefix)etag=\(tag)")
        case .lastModified(let date): lines.append("\(prefix)last-modified=\(date)")
        case nil: break
        }
    }

    private static func validator(in fields: [String: String], prefix: String) -> ResumeValidator? {
        if let tag = fields[prefix + "etag"] { return .etag(tag) }
        if let date = fields[prefix + "last-modified"] { return .lastModified(date) }
        return nil
    }

    /// Parses a sidecar (format 1 or 2); `nil` for anything malformed (the resumer then starts
    /// from zero).
    init?(decoding bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        var fields: [String: String] = [:]
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let first = lines.first.map(String.init), Self.formatLines.contains(first) else { return nil }
        lines.removeFirst()
        for line in lines {
            guard let equals = line.firstIndex(of: "=") else { return nil }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard let url = fields["url"], let durable = fields["durable"].flatMap({ Int64($0) }), durable >= 0 else { return nil }
        self.url = url
        self.durable = durable
        validator = Self.validator(in: fields, prefix: "")
        if let text = fields["length"] {
            guard let value = Int64(text), value >= 0 else { return nil }
            length = value
        } else {
            length = nil
        }
        integrityFailures = fields["integrity-failures"].flatMap { Int($0) } ?? 0
        var number = 1
        while number <= Self.maximumMirrors, let mirror = fields["mirror.\(number).url"] {
            let prefix = "mirror.\(number)."
            var record = SourceRecord(validator: Self.validator(in: fields, prefix: prefix), length: nil)
            if let text = fields[prefix + "length"] {
                guard let value = Int64(text), value >= 0 else { return nil }
                record.length = value
            }
            if mirror != url { mirrors[mirror] = record }
            number += 1
        }
    }

    init(url: String, validator: ResumeValidator?, length: Int64?, durable: Int64, integrityFailures: Int) {
        self.url = url
        self.validator = validator
        self.length = length
        self.durable = durable
        self.integrityFailures = integrityFailures
    }

    /// Every URL this sidecar holds a record of: ``url`` and the mirrors.
    var sources: Set<String> { Set(mirrors.keys).union([url]) }

    /// Makes `newURL` the current source: the current one's record moves to ``mirrors`` and the
    /// validator becomes the one `newURL` answered before (or `nil`). Never moves a validator
    /// from one URL to another.
    mutating func switchSource(to newURL: String) {
        guard newURL != url else { return }
        mirrors[url] = SourceRecord(validator: validator, length: length)
        let record = mirrors.removeValue(forKey: newURL)
        url = newURL
        validator = record?.validator
    }

    /// Whether the bytes this sidecar describes may be continued from ``url`` (its current
    /// source, after ``switchSource(to:)``):
    /// - (a) ``url`` itself answered with a strong validator before: resume with it as `If-Range`;
    /// - (b) ``url`` has no validator recorded, but another URL of the sidecar served these bytes,
    ///   their total length is known, and the caller gave an expected SHA-256: resume with a plain
    ///   `Range` (the 206 must announce that total), and let the final hash catch a splice of
    ///   different content (an ``IntegrityError`` then restarts from zero);
    /// - otherwise: no.
    func isResumable(expectedSHA256: String?) -> Bool {
        validator != nil || splicesByDigest(expectedSHA256: expectedSHA256)
    }

    /// Rule (b) of ``isResumable(expectedSHA256:)``.
    func splicesByDigest(expectedSHA256: String?) -> Bool {
        validator == nil && !mirrors.isEmpty && length != nil && expectedSHA256 != nil
    }

    /// Reads the sidecar at `path`; `nil` when it is missing, unreadable or malformed.
    static func load(from path: String) -> ResumeSidecar? {
        guard let data = FileManager.default.contents(atPath: path), data.count < 64 << 10 else { return nil }
        return ResumeSidecar(decoding: Array(data))
    }

    func save(to path: String) throws(RangeResumeError) {
        try SystemCallError.map(RangeResumeError.init) { () throws(SystemCallError) in
            try FileSystem.writeAtomically(encoded(), to: path)
        }
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
