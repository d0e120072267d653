import Foundation

/// What ``RangeFetcher/probe(_:clock:)`` learned about a URL from one `GET` with
/// `Range: bytes=0-0`: whether ranges are honoured, the total length and the validator.
public struct RangeProbe: Sendable, Hashable {
    /// The URL that answered (after redirects followed by the engine).
    public var url: URL
    /// Whether the server answered `206` with a usable `Content-Range: bytes 0-0/<total>`.
    public var supportsRanges: Bool
    /// The resource's length in bytes, from `Content-Range` (or `Content-Length` of a `200`),
    /// `nil` when the server did not say.
    public var totalLength: Int64?
    /// The value to send as `If-Range`: a strong `ETag`, else `Last-Modified`; `nil` when the
    /// response had neither (a weak `ETag` is never used, RFC 9110 §13.1.5).
    public var validator: String?

    /// Creates a probe result.
    public init(url: URL, supportsRanges: Bool, totalLength: Int64?, validator: String?) {
        self.url = url
        self.supportsRanges = supportsRanges
        self.totalLength = totalLength
        self.validator = validator
    }

    /// Whether a download may be split into ranges fetched separately: ranges are honoured, the
    /// length is known and a validator guards against splicing two versions of the resource.
    public var isSegmentable: Bool { supportsRanges && totalLength != nil && validator != nil }
}
