/// One byte range of a ``SegmentedDownload``: bytes `first...last` of the file, of which the
/// first `done` are written **and `fsync`ed** to the `.part` file.
struct Segment: Sendable, Hashable {
    var first: Int64
    var last: Int64
    var done: Int64

    /// Bytes in the segment.
    var length: Int64 { last - first + 1 }
    /// Bytes still to fetch.
    var remaining: Int64 { length - done }
    /// The absolute offset the next request starts at.
    var next: Int64 { first + done }
    var isComplete: Bool { done >= length }

    /// `count` contiguous segments covering `0..<total` (the first ones one byte longer when
    /// `total` does not divide evenly). `count` is clamped to `1...total`.
    static func plan(total: Int64, count: Int) -> [Segment] {
        let parts = Int64(max(1, min(Int64(count), total)))
        let base = total / parts, extra = total % parts
        var segments: [Segment] = []
        var start: Int64 = 0
        for index in 0..<parts {
            let length = base + (index < extra ? 1 : 0)
            segments.append(Segment(first: start, last: start + length - 1, done: 0))
            start += length
        }
        return segments
    }

    /// Splits the remaining bytes in two halves: `self` keeps the first (ending earlier) and the
    /// second is returned, or `nil` when either half would be shorter than `minimum`.
    mutating func split(minimum: Int64) -> Segment? {
        guard remaining >= 2 * max(1, minimum) else { return nil }
        let middle = next + remaining / 2
        let tail = Segment(first: middle, last: last, done: 0)
        last = middle - 1
        return tail
    }
}
