/// Why a ``DownloadQueue`` call was refused. Store failures are rethrown as the store's own
/// `JobStoreError`.
public enum DownloadQueueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The destination is not a `file:` URL.
    case invalidDestination(String)
    /// ``DownloadQueue/start()`` was called on a queue that was stopped; create a new queue over
    /// the same store instead.
    case stopped

    /// A one-line human-readable form.
    public var description: String {
        switch self {
        case .invalidDestination(let what): "invalid destination: \(what)"
        case .stopped: "the download queue was stopped and cannot be restarted"
        }
    }
}
