import ResilienceRetry

/// A completed body failed verification against the caller's expected length or SHA-256.
///
/// The `.part` file has already been deleted when this is thrown, so the next attempt starts
/// from byte 0. **Retryable once from zero, then permanent:** the first failure for a destination
/// is recorded in its sidecar (`integrity-failures=1`); if the download from zero fails
/// verification again, ``isPermanent`` is `true` and ``retryDecision`` is `.stop`. A successful
/// download, and the permanent failure itself, remove the sidecar and with it the count, so a
/// later call starts over.
public struct IntegrityError: Error, Sendable, Hashable, RetryClassifiable, CustomStringConvertible {
    /// What did not match.
    public enum Mismatch: Sendable, Hashable {
        /// The body (or the announced length) had `actual` bytes instead of `expected`.
        case length(expected: Int64, actual: Int64)
        /// The body's SHA-256 (lowercase hex) was `actual` instead of `expected`.
        case sha256(expected: String, actual: String)
    }

    /// What did not match.
    public let mismatch: Mismatch
    /// `true` when verification had already failed once for this destination and the download
    /// from zero failed again: the source itself does not match, retrying will not help.
    public let isPermanent: Bool

    /// Creates an error for `mismatch`.
    public init(mismatch: Mismatch, isPermanent: Bool) {
        self.mismatch = mismatch
        self.isPermanent = isPermanent
    }

    /// `.retry` the first time, `.stop` once ``isPermanent``.
    public var retryDecision: RetryDecision { isPermanent ? .stop : .retry }

    public var description: String {
        let what = switch mismatch {
        case .length(let expected, let actual): "length mismatch (expected \(expected) bytes, got \(actual))"
        case .sha256(let expected, let actual): "SHA-256 mismatch (expected \(expected), got \(actual))"
        }
        return what + (isPermanent ? ", permanent" : "")
    }
}
