import Foundation

/// What ``RangeResumer`` does with a response head: the table "The resume state machine" of
/// `Documentation/RangeResume.md`, as pure code (no transport, no file). `ResumeAttempt` executes
/// the decision: file writes, the sidecar, the stream.
enum ResumeDecision: Sendable, Hashable {
    /// Write the body from byte 0 (the `.part` truncated first): a `200`, or a `206` from byte 0.
    /// `restarted`: a resume was asked for and the server answered with the whole entity
    /// (`Range` ignored, or the validator changed).
    case startFresh(validator: ResumeValidator?, length: Int64?, bodyLength: Int64?, restarted: Bool)
    /// Append the body to the `.part` from `offset`: a `206` that continues it exactly.
    case append(from: Int64, total: Int64, bodyLength: Int64, validator: ResumeValidator?)
    /// A `416` for a `.part` that already holds the whole entity: verify and finish, no body.
    case complete(total: Int64)
    /// Discard the `.part` and start over from byte 0 (`reason` for the error if it happens twice).
    case restart(String)
    /// A 2xx body in a `Content-Encoding` other than `identity`: refuse before writing.
    case refuseEncoding(String)
    /// The announced length is not the expected one: an integrity failure before any write.
    case lengthMismatch(expected: Int64, actual: Int64)
    /// The announced length is beyond the byte cap.
    case exceedsCap(Int64)
    /// Any other status: an `HTTPStatusError`, the `.part` untouched.
    case status(Int)

    /// Decides for `head`, the answer to a request that asked to resume at `offset` (0: a fresh
    /// request).
    ///
    /// - Parameters:
    ///   - knownLength: the entity length the sidecar recorded, if any.
    ///   - knownValidator: the validator the sidecar recorded, if any (an ETag that changed
    ///     restarts).
    ///   - expectedLength: the caller's expected length, if given.
    ///   - cap: the byte cap (`maxBytes`, by default `expectedLength`), if any.
    static func decide(head: TransportResponseHead, offset: Int64, knownLength: Int64?, knownValidator: ResumeValidator?,
                       expectedLength: Int64?, cap: Int64?) -> ResumeDecision {
        if (200..<300).contains(head.status), let coding = head.contentCoding { return .refuseEncoding(coding) }
        let contentLength = head["content-length"].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
        func capped(_ announced: Int64?) -> Bool { cap.map { limit in announced.map { $0 > limit } ?? false } ?? false }
        switch head.status {
        case 200:
            if let expectedLength, let contentLength, contentLength != expectedLength {
                return .lengthMismatch(expected: expectedLength, actual: contentLength)
            }
            if capped(contentLength), let cap { return .exceedsCap(cap) }
            return .startFresh(validator: ResumeValidator(head: head), length: contentLength, bodyLength: contentLength,
                               restarted: offset > 0)
        case 206:
            guard let value = head["content-range"], let range = ContentRange(value),
                  let first = range.first, let last = range.last else {
                return .restart("206 with unusable Content-Range \(head["content-range"] ?? "(none)")")
            }
            guard let total = range.total else { return .restart("206 with unknown total length") }
            if first != offset { return .restart("Content-Range starts at \(first), local size is \(offset)") }
            if let known = knownLength ?? expectedLength, known != total {
                return .restart("Content-Range total \(total), expected \(known)")
            }
            if let expectedLength, expectedLength != total {
                return .restart("Content-Range total \(total), expected \(expectedLength)")
            }
            if let contentLength, contentLength != last - first + 1 {
                return .restart("Content-Length \(contentLength) disagrees with Content-Range \(value)")
            }
            let validator = ResumeValidator(head: head)
            if offset > 0, case .etag(let saved) = knownValidator, case .etag(let now)? = validator, saved != now {
                return .restart("ETag changed from \(saved) to \(now)")
            }
            if capped(total), let cap { return .exceedsCap(cap) }
            let bodyLength = last - first + 1
            guard offset > 0 else {
                return .startFresh(validator: validator, length: total, bodyLength: bodyLength, restarted: false)
            }
            return .append(from: offset, total: total, bodyLength: bodyLength, validator: validator)
        case 416:
            if let value = head["content-range"], let range = ContentRange(value), range.first == nil,
               let total = range.total, offset > 0, offset == total,
               (knownLength ?? total) == total, (expectedLength ?? total) == total {
                return .complete(total: total)
            }
            return .restart("416 with Content-Range \(head["content-range"] ?? "(none)") at local size \(offset)")
        default:
            return .status(head.status)
        }
    }
}
