import Foundation
import JobStores

/// The argument checks of `JobStore`, as the in-process stores apply them, so that this store
/// rejects exactly what they reject (the conformance suite checks it).
enum EnqueueValidation {
    /// Throws `JobStoreError.invalidArgument` for a job `enqueue` must refuse.
    static func check(_ job: DownloadJob) throws(JobStoreError) {
        let limit = DownloadJob.maximumStringBytes
        if job.destination.isEmpty { throw .invalidArgument("destination must not be empty") }
        if job.maxAttempts < 1 { throw .invalidArgument("maxAttempts must be at least 1") }
        if (job.expectedLength ?? 0) < 0 { throw .invalidArgument("expectedLength must not be negative") }
        let strings = [job.destination, job.url.absoluteString, job.expectedSHA256 ?? ""] + job.mirrors.map(\.absoluteString)
        if strings.contains(where: { $0.utf8.count > limit }) {
            throw .invalidArgument("a URL, destination or SHA-256 is longer than \(limit) bytes")
        }
        if job.mirrors.count > DownloadJob.maximumMirrors {
            throw .invalidArgument("more than \(DownloadJob.maximumMirrors) mirrors")
        }
        let metadataBytes = job.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if metadataBytes > DownloadJob.maximumMetadataBytes {
            throw .invalidArgument("metadata is larger than \(DownloadJob.maximumMetadataBytes) bytes")
        }
        let headerBytes = job.headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if headerBytes > DownloadJob.maximumHeaderBytes {
            throw .invalidArgument("headers are larger than \(DownloadJob.maximumHeaderBytes) bytes")
        }
        let maps = [job.metadata, job.headers]
        if strings.contains(where: { $0.utf8.contains(0) })
            || maps.contains(where: { $0.contains(where: { $0.key.utf8.contains(0) || $0.value.utf8.contains(0) }) }) {
            throw .invalidArgument("PostgreSQL text cannot hold NUL characters")
        }
    }

    /// Throws `JobStoreError.invalidArgument` for new sources `updateSources` must refuse.
    static func check(url: URL, mirrors: [URL], metadata: [String: String]) throws(JobStoreError) {
        let limit = DownloadJob.maximumStringBytes
        let strings = [url.absoluteString] + mirrors.map(\.absoluteString)
        if strings.contains(where: { $0.utf8.count > limit }) { throw .invalidArgument("a URL is longer than \(limit) bytes") }
        if mirrors.count > DownloadJob.maximumMirrors { throw .invalidArgument("more than \(DownloadJob.maximumMirrors) mirrors") }
        let metadataBytes = metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if metadataBytes > DownloadJob.maximumMetadataBytes {
            throw .invalidArgument("metadata is larger than \(DownloadJob.maximumMetadataBytes) bytes")
        }
        if strings.contains(where: { $0.utf8.contains(0) })
            || metadata.contains(where: { $0.key.utf8.contains(0) || $0.value.utf8.contains(0) }) {
            throw .invalidArgument("PostgreSQL text cannot hold NUL characters")
        }
    }

    /// Throws for an empty or oversized lease owner.
    static func check(owner: String) throws(JobStoreError) {
        if owner.isEmpty { throw .invalidArgument("owner must not be empty") }
        if owner.utf8.count > DownloadJob.maximumStringBytes {
            throw .invalidArgument("owner is longer than \(DownloadJob.maximumStringBytes) bytes")
        }
        if owner.utf8.contains(0) { throw .invalidArgument("PostgreSQL text cannot hold NUL characters") }
    }

    /// Throws for a lease that is not positive.
    static func check(lease: Duration) throws(JobStoreError) {
        if lease <= .zero { throw .invalidArgument("leaseFor must be positive") }
    }

    /// `failure` with its message cut to `JobFailure.maximumMessageBytes` at a character boundary
    /// (NUL characters, which PostgreSQL text cannot hold, become U+FFFD).
    static func truncated(_ failure: JobFailure) -> JobFailure {
        var message = failure.message.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}")
        while message.utf8.count > JobFailure.maximumMessageBytes { message.removeLast() }
        return JobFailure(message: message, isRetryable: failure.isRetryable)
    }
}
