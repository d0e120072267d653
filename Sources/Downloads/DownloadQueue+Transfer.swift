import Foundation
import RangeResume

extension DownloadQueue {
    /// One attempt's transfer: `resumer` over one connection, or a ``SegmentedDownload`` over up
    /// to `connections` when ``DownloadQueueConfiguration/connectionsPerDownload`` is above 1
    /// (with the resumer's settings for every request). A single connection resumes across
    /// `mirrors` (see `RangeResumer.download(from:mirrors:to:…)`); a segmented download fetches
    /// every segment from `url`, the mirror this attempt uses.
    nonisolated static func transfer(
        with resumer: RangeResumer, connections: Int,
        from url: URL, mirrors: [URL], to destination: URL, expectedLength: Int64?, expectedSHA256: String?,
        clock: some Clock<Duration>, progress: @escaping @Sendable (DownloadProgress) -> Void
    ) async throws -> DownloadResult {
        guard connections > 1 else {
            return try await resumer.download(from: url, mirrors: mirrors, to: destination, expectedLength: expectedLength,
                                              expectedSHA256: expectedSHA256, clock: clock, progress: progress)
        }
        let segmented = SegmentedDownload(configuration: SegmentedDownloadConfiguration(
            connections: connections, transfer: resumer.configuration), engine: resumer.engine, authorizer: resumer.authorizer)
        return try await segmented.download(from: url, to: destination, expectedLength: expectedLength,
                                            expectedSHA256: expectedSHA256, clock: clock, progress: progress).download
    }
}

extension RangeResumer {
    /// This resumer with `headers` added to its configuration's `additionalHeaders` (a field of
    /// the same name, ignoring case, replaces the configured one): a job's own fields.
    func adding(headers: [String: String]) -> RangeResumer {
        guard !headers.isEmpty else { return self }
        var configuration = self.configuration
        configuration.additionalHeaders = configuration.additionalHeaders.replacingFields(with: headers)
        return RangeResumer(configuration: configuration, engine: engine, authorizer: authorizer)
    }
}
