/// What reopening a `.part` and its sidecar decides before any request is sent: the prefix of
/// the `.part` that is kept (the sidecar's `durable` offset, when the sidecar describes a
/// resumable `.part` of this URL or one of its mirrors) and what is cut.
///
/// The `.part` is truncated to the kept prefix: bytes past the last checkpoint were never
/// `fsync`ed before the sidecar was written, so after a power loss they may be holes or stale.
struct PartRecovery: Sendable, Hashable {
    /// The sidecar adopted (switched to the requested URL), or `nil` to start from zero.
    var sidecar: ResumeSidecar?
    /// The verification failures counted by a sidecar of this download, if one was found.
    var integrityFailures: Int?
    /// Bytes of the `.part` kept: where the download continues.
    var offset: Int64
    /// Bytes cut from the end of the `.part`.
    var truncatedBytes: Int64

    /// Recovers the open `.part` with the sidecar at `metaPath` for a download of `url` (with
    /// `mirrors`, `expectedLength` and `expectedSHA256` as given to the resumer).
    static func recover(
        _ part: PartFile, metaPath: String, url: String, mirrors: Set<String>, expectedLength: Int64?, expectedSHA256: String?
    ) throws(RangeResumeError) -> PartRecovery {
        let size = try part.size
        var failures: Int?
        if var saved = ResumeSidecar.load(from: metaPath), !saved.sources.isDisjoint(with: mirrors.union([url])) {
            failures = saved.integrityFailures
            saved.switchSource(to: url)
            let lengthAgrees = saved.length == nil || expectedLength == nil || saved.length == expectedLength
            if saved.isResumable(expectedSHA256: expectedSHA256), saved.durable > 0, size >= saved.durable, lengthAgrees {
                // Bytes past the last checkpoint were never fsynced before the sidecar: not trusted.
                if size > saved.durable { try part.truncate(to: saved.durable) }
                return PartRecovery(sidecar: saved, integrityFailures: failures, offset: saved.durable,
                                    truncatedBytes: size - saved.durable)
            }
        }
        if size > 0 { try part.truncate(to: 0) }
        return PartRecovery(sidecar: nil, integrityFailures: failures, offset: 0, truncatedBytes: size)
    }
}
