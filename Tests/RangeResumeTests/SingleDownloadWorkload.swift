import Foundation
@testable import RangeResume
import ResilienceRetry
import ResilienceSupport
import ResilienceTesting

/// The single-download workload of the crash-state exploration: a ``RangeResumer`` download
/// with frequent checkpoints, cut once mid-body (the connection is lost) and resumed to
/// completion, recorded through the `FileSystem` seam. The transport is scripted (fixed chunks,
/// so the trace is the same on every run); the loopback ``FaultyHTTPServer`` serves the same
/// body and validator for the downloads that finish recovered states.
///
/// The body is not a multiple of the 4,096-byte block, nor are its checkpoints aligned to one, so
/// a crash can keep part of a write.
struct SingleDownloadWorkload: Sendable {
    static let fileName = "file.bin"
    static let etag = "\"crash-states-v1\""
    static let configuration = RangeResumer.Configuration(checkpointInterval: 30_000, writeBatchSize: 16_384, progressInterval: .zero)

    let trace: [FileOperation]
    let body: [UInt8]
    let url: URL

    /// Records the two attempts in `directory` (empty); `server` then serves the same body.
    static func record(in directory: String, server: FaultyHTTPServer, size: Int, seed: UInt64) async throws -> SingleDownloadWorkload {
        let body = randomBytes(size, seed: seed)
        server.setResource(HTTPResource(bytes: body, etag: etag), at: "/file.bin")
        let url = server.url(for: "/file.bin")
        let origin = Origin(body: body, etag: etag)
        let transport = ScriptedTransport([origin.full(cut: size * 2 / 3, ending: .fail(.networkConnectionLost), chunk: 5_000)])
        let destination = URL(fileURLWithPath: directory + "/" + fileName)
        let resumer = RangeResumer(configuration: configuration, transport: transport)
        let recorder = FileOperationRecorder.start(root: directory)
        defer { _ = recorder.stop() }
        do {
            _ = try await resumer.download(from: url, to: destination)
        } catch {
            recorder.mark("cut: \(error)")
        }
        let durable = ResumeSidecar.load(from: destination.path + ".part.meta")?.durable ?? 0
        transport.append([origin.partial(from: Int(durable))])
        let result = try await resumer.download(from: url, to: destination)
        recorder.mark("completed, resumed from \(result.resumedFrom)")
        return SingleDownloadWorkload(trace: recorder.stop(), body: body, url: url)
    }

    /// Whether `bytes` starts with the first `count` bytes of the body.
    func holdsPrefix(_ bytes: [UInt8], _ count: Int) -> Bool {
        CrashState.bytes(bytes, equal: body, over: 0..<count)
    }

    /// Checks `state` (materialised in `directory`): an existing destination is byte-exact; a
    /// sidecar never claims bytes the `.part` does not hold; recovery keeps exactly a prefix of
    /// the body, cuts the rest and says how much. With `download`, then finishes the download
    /// from the loopback server and checks the file.
    func check(_ state: CrashState, in directory: String, download: Bool) async -> [String] {
        var problems: [String] = []
        let destination = directory + "/" + Self.fileName
        if let bytes = state.files[Self.fileName], bytes.count != body.count || !holdsPrefix(bytes, body.count) {
            problems.append("the destination exists with \(bytes.count) bytes but is not the body")
        }
        let part = state.files[Self.fileName + ".part"]
        if let meta = state.files[Self.fileName + ".part.meta"], let sidecar = ResumeSidecar(decoding: meta), sidecar.durable > 0 {
            let claimed = Int(sidecar.durable)
            if let part, !holdsPrefix(part, claimed) {
                problems.append("the sidecar claims \(claimed) bytes the .part (\(part.count) bytes) does not hold")
            } else if part == nil, state.files[Self.fileName] == nil {
                problems.append("the sidecar claims \(claimed) bytes but there is no .part")
            }
        }
        problems += recover(part: part, destination: destination)
        if download, problems.isEmpty {
            do {
                _ = try await RangeResumer(configuration: Self.configuration, engine: .posixSockets)
                    .download(from: url, to: URL(fileURLWithPath: destination))
                if fileBytes(URL(fileURLWithPath: destination)) != body { problems.append("the resumed download is not the body") }
            } catch {
                problems.append("the resumed download threw \(error)")
            }
        }
        return problems
    }

    /// Runs ``PartRecovery`` on the materialised `.part` (which held `part`).
    private func recover(part: [UInt8]?, destination: String) -> [String] {
        do {
            let file = try PartFile(path: destination + ".part")
            defer { file.close() }
            let recovery = try PartRecovery.recover(file, metaPath: destination + ".part.meta", url: url.absoluteString, mirrors: [],
                                                    expectedLength: nil, expectedSHA256: nil)
            let before = part?.count ?? 0
            let after = Int(try file.size)
            if after != Int(recovery.offset) || Int(recovery.truncatedBytes) != before - after {
                return ["recovery kept \(recovery.offset) and reported \(recovery.truncatedBytes) cut; the .part went \(before) -> \(after)"]
            }
            if let part, !holdsPrefix(part, after) {
                return ["recovery kept \(after) bytes that are not the body's prefix (a splice)"]
            }
            return []
        } catch {
            return ["recovery threw \(error)"]
        }
    }
}
