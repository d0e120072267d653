/// The last error recorded for a ``DownloadJob``: what went wrong and whether trying again may help.
public struct JobFailure: Sendable, Hashable, Codable, CustomStringConvertible {
    /// A human-readable message. Stores keep at most ``maximumMessageBytes`` UTF-8 bytes of it
    /// (longer messages are cut at a character boundary).
    public var message: String
    /// Whether the failure is transient (worth another attempt).
    public var isRetryable: Bool

    /// The most UTF-8 bytes of ``message`` a store keeps: 4 KiB.
    public static let maximumMessageBytes = 4096

    /// Creates a failure record.
    public init(message: String, isRetryable: Bool) {
        self.message = message
        self.isRetryable = isRetryable
    }

    /// A one-line human-readable form.

    public var description: String { "\(message) (\(isRetryable ? "retryable" : "not retryable"))" }

    /// This failure with its message cut to ``maximumMessageBytes``.
    var truncated: JobFailure {
        guard message.utf8.count > Self.maximumMessageBytes else { return self }
        var cut = ""
        var bytes = 0
        for character in message {
            let size = character.utf8.count
            if bytes + size > Self.maximumMessageBytes { break }
            cut.append(character)
            bytes += size
        }
        return JobFailure(message: cut, isRetryable: isRetryable)
    }
}
