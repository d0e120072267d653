/// Why a ``DownloadQueue`` call was refused. Store failures are rethrown as the store's own
/// `JobStoreError`.
public enum DownloadQueueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The destination is not a `file:` URL.
    case invalidDestination(String)
    /// A URL, a mirror or a configured header field breaks the request-field rules
    /// (`RequestValidator` in RangeResume: http(s) only, no user information, no fragment,
    /// token-character field names, values without CR, LF or NUL, lengths, engine-owned fields).
    /// The message names the field, e.g. `mirrors[1]: …`. Nothing was journaled.
    case invalidArgument(String)
    /// ``DownloadQueue/start()`` was called on a queue that was stopped; create a new queue over
    /// the same store instead.
    case stopped

    /// A one-line human-readable form.
    public var description: String {
        switch self {
        case .invalidDestination(let what): "invalid destination: \(what)"
        case .invalidArgument(let what): "invalid argument: \(what)"
        case .stopped: "the download queue was stopped and cannot be restarted"
        }
    }
}
