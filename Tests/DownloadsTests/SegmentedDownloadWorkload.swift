import Foundation
@testable import Downloads
import RangeResume
import ResilienceRetry
import ResilienceSupport
import ResilienceTesting

/// The segmented workload of the crash-state exploration: a ``SegmentedDownload`` of three
/// segments from the loopback ``FaultyHTTPServer``, cut once (a connection drops, no retry) and
/// resumed to completion, recorded through the `FileSystem` seam. Segments write concurrently, so
/// the interleaving of their writes in the trace may differ between runs; every run's trace is
/// explored with the same seed and invariants.
struct SegmentedDownloadWorkload: Sendable {
    static let fileName = "big.bin"
    static let immediate = try! RetryPolicy(maxAttempts: 20, backoff: .constant(.zero), maxRetryAfter: .zero)

    let trace: [FileOperation]
    let body: [UInt8]
    let url: URL

    static func configuration(policy: RetryPolicy = immediate, maxRequeues: Int = 16) -> SegmentedDownloadConfiguration {
        SegmentedDownloadConfiguration(connections: 3, segmentationThreshold: 0, minimumSegmentSize: 32 << 10, retryPolicy: policy,
                                       maxRequeues: maxRequeues,
                                       transfer: .init(checkpointInterval: 20_000, writeBatchSize: 16_384, progressInterval: .zero))
    }

    /// Records the cut run and the completing run in `directory` (empty) against `server`.
    static func record(in directory: String, server: FaultyHTTPServer, size: Int, seed: UInt64) async throws -> SegmentedDownloadWorkload {
        let body = seededBytes(size, seed: seed)
        _ = server.serve(body, at: "/big.bin")
        let url = server.url(for: "/big.bin")
        let destination = URL(fileURLWithPath: directory + "/" + fileName)
        // The probe, then the first segment's request drops after 40,000 bytes.
        server.enqueueFaults([.corruptByte(atOffset: Int.max), .dropAfter(bytes: 40_000)], for: "/big.bin")
        let recorder = FileOperationRecorder.start(root: directory)
        defer { _ = recorder.stop() }
        do {
            _ = try await SegmentedDownload(configuration: configuration(policy: try RetryPolicy(maxAttempts: 1), maxRequeues: 0),
                                            engine: .posixSockets)
                .download(from: url, to: destination, clock: ManualClock())
        } catch {
            recorder.mark("cut: \(error)")
        }
        let result = try await SegmentedDownload(configuration: configuration(), engine: .posixSockets)
            .download(from: url, to: destination, clock: ManualClock())
        recorder.mark("completed, resumed from \(result.download.resumedFrom)")
        return SegmentedDownloadWorkload(trace: recorder.stop(), body: body, url: url)
    }

    /// Checks `state` (materialised in `directory`): an existing destination is byte-exact and
    /// the `.part.segments` sidecar claims, for every segment, only bytes the `.part` holds (what
    /// the download adopts on restart without re-fetching). With `download`, then finishes the
    /// download from the loopback server and checks the file.
    func check(_ state: CrashState, in directory: String, download: Bool) async -> [String] {
        var problems: [String] = []
        if let bytes = state.files[Self.fileName], bytes.count != body.count || !CrashState.bytes(bytes, equal: body, over: 0..<body.count) {
            problems.append("the destination exists with \(bytes.count) bytes but is not the body")
        }
        if let meta = state.files[Self.fileName + ".part.segments"], let sidecar = SegmentSidecar(decoding: meta) {
            let part = state.files[Self.fileName + ".part"]
            let adopted = part?.count == body.count && sidecar.length == Int64(body.count)
            for segment in sidecar.segments where segment.done > 0 && adopted {
                let claimed = Int(segment.first)..<Int(segment.first + segment.done)
                if !CrashState.bytes(part ?? [], equal: body, over: claimed) {
                    problems.append("the sidecar claims bytes \(claimed) the .part does not hold")
                }
            }
        }
        if download, problems.isEmpty {
            let destination = URL(fileURLWithPath: directory + "/" + Self.fileName)
            do {
                _ = try await SegmentedDownload(configuration: Self.configuration(), engine: .posixSockets)
                    .download(from: url, to: destination, clock: ManualClock())
                if contents(of: destination) != Data(body) { problems.append("the resumed download is not the body") }
            } catch {
                problems.append("the resumed download threw \(error)")
            }
        }
        return problems
    }
}
