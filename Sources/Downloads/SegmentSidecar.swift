import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The checkpointed state of a ``SegmentedDownload``, next to the `.part` file
/// (`<destination>.part.segments`).
///
/// Format (UTF-8 text, one `key=value` per line; written atomically: temporary file, `fsync`,
/// `rename`):
/// ```
/// segmented-download=1
/// url=https://example.com/big.iso
/// validator="5f2b-1a2b3c"               (the If-Range value: strong ETag or Last-Modified)
/// length=268435456                     (the file's total length)
/// segment=0-67108863 16777216           (first-last byte, then bytes fsynced from first)
/// segment=67108864-134217727 0
/// ```
/// Segments cover `0..<length` without overlap, in any order. A `done` count is written only
/// after the bytes it covers were `fsync`ed, so after a crash every byte it claims is on disk;
/// bytes past it are fetched again, never trusted.
struct SegmentSidecar: Sendable, Hashable {
    var url: String
    var validator: String
    var length: Int64
    var segments: [Segment]

    static let formatLine = "segmented-download=1"

    func encoded() -> [UInt8] {
        var lines = [Self.formatLine, "url=\(url)", "validator=\(validator)", "length=\(length)"]
        for segment in segments { lines.append("segment=\(segment.first)-\(segment.last) \(segment.done)") }
        return Array((lines.joined(separator: "\n") + "\n").utf8)
    }

    init(url: String, validator: String, length: Int64, segments: [Segment]) {
        self.url = url
        self.validator = validator
        self.length = length
        self.segments = segments
    }

    /// Parses a sidecar; `nil` for anything malformed or whose segments do not tile the file.
    init?(decoding bytes: [UInt8]) {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        guard lines.first.map(String.init) == Self.formatLine else { return nil }
        var fields: [String: String] = [:]
        var segments: [Segment] = []
        for line in lines.dropFirst() {
            guard let equals = line.firstIndex(of: "=") else { return nil }
            let key = String(line[..<equals]), value = String(line[line.index(after: equals)...])
            if key == "segment" {
                let parts = value.split(separator: " ")
                guard parts.count == 2, let done = Int64(parts[1]) else { return nil }
                let bounds = parts[0].split(separator: "-")
                guard bounds.count == 2, let first = Int64(bounds[0]), let last = Int64(bounds[1]),
                      first >= 0, last >= first, done >= 0, done <= last - first + 1 else { return nil }
                segments.append(Segment(first: first, last: last, done: done))
            } else {
                fields[key] = value
            }
        }
        guard let url = fields["url"], let validator = fields["validator"], !validator.isEmpty,
              let length = fields["length"].flatMap({ Int64($0) }), length > 0 else { return nil }
        // The segments must tile 0..<length exactly.
        var expected: Int64 = 0
        for segment in segments.sorted(by: { $0.first < $1.first }) {
            guard segment.first == expected else { return nil }
            expected = segment.last + 1
        }
        guard expected == length else { return nil }
        self.init(url: url, validator: validator, length: length, segments: segments)
    }

    /// Reads the sidecar at `path`; `nil` when missing, unreadable or malformed.
    static func load(from path: String) -> SegmentSidecar? {
        guard let data = FileManager.default.contents(atPath: path), data.count < 1 << 20 else { return nil }
        return SegmentSidecar(decoding: Array(data))
    }

    /// Writes the sidecar atomically and durably (temporary file, `fsync`, `rename`).
    func save(to path: String) throws(SegmentedDownloadError) {
        try SegmentFiles.writeAtomically(encoded(), to: path)
    }
}
