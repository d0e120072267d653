extension Array where Element == RecordedRequest {
    /// The requests with the URLSession engine's **window continuations** folded into the request
    /// that began them, for tests that count a client's attempts.
    ///
    /// The URLSession engine fetches a body in `Range` windows (`RangeResumer.Engine.urlSession`):
    /// after its first request, it asks for `bytes=N-M` where `N` is one past the last byte of the
    /// request before, with `If-Range`. Such a request, answered `206` after a `206` for the same
    /// path, is folded: the first request's record stays (its head fields, status and `Range`), and
    /// its ``RecordedRequest/bodyBytesSent`` and ``RecordedRequest/completed`` become the totals
    /// of the whole run of windows. Every other request is kept as it is, in order.
    public func mergingRangeWindows() -> [RecordedRequest] {
        var merged: [RecordedRequest] = []
        var lastByte: Int?                      // last byte asked for by the previous request
        for request in self {
            let range = request.range.flatMap(Self.firstAndLast)
            if let previous = merged.last, previous.status == 206, request.status == 206,
               request.path == previous.path, request.ifRange != nil,
               let range, let lastByte, range.first == lastByte + 1 {
                merged[merged.count - 1].bodyBytesSent += request.bodyBytesSent
                merged[merged.count - 1].completed = request.completed
            } else {
                merged.append(request)
            }
            lastByte = range?.last
        }
        return merged
    }

    /// `bytes=a-b` as `(a, b)`; `nil` for any other form.
    private static func firstAndLast(_ value: String) -> (first: Int, last: Int)? {
        guard value.hasPrefix("bytes=") else { return nil }
        let parts = value.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let first = Int(parts[0]), let last = Int(parts[1]) else { return nil }
        return (first, last)
    }
}
