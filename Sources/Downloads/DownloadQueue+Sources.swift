import Foundation
import JobStores

extension DownloadQueue {
    /// Gives the open job `id` the URL and mirrors of `requested` (the job an `enqueue` call
    /// described) when they differ: the caller's URLs win. The replaced URLs are kept in the
    /// job's metadata as where its `.part` may have come from (see
    /// ``MirrorRotation/resumableSources(of:)``), and the mirror index restarts at the new `url`.
    func adoptSources(of requested: DownloadJob, forOpenJob id: UUID) async throws {
        guard let open = try await store.job(id: id), !open.state.isTerminal,
              open.url != requested.url || open.mirrors != requested.mirrors else { return }
        let metadata = [MirrorRotation.metadataKey: "0",
                        MirrorRotation.replacedSourcesKey: MirrorRotation.replacedSourcesValue(replacing: open, with: requested)]
        try await store.updateSources(id: id, url: requested.url, mirrors: requested.mirrors, metadata: metadata, now: now())
    }
}
