import Foundation
import RangeResume
import ResilienceSupport
import ResilienceTesting

/// An in-memory HTTP origin for the queue simulation: files of seeded bytes with strong ETags,
/// answered with real `Range`/`If-Range` semantics (200, 206, 416), and per-request faults drawn
/// from a generator **per file**. One job downloads each file and its requests are sequential, so
/// a file's fault plan is a pure function of the seed, whatever the interleaving between jobs.
final class SimulatedServer: Sendable {
    struct File: Sendable {
        /// Every version served so far, oldest first (for splice detection); the last is current.
        var versions: [[UInt8]]
        var generator: SeededRandomNumberGenerator
        var requests = 0
        /// Bumped with each replacement, unless the server has the ``Defect/keepsETagOnReplace`` defect.
        var etagVersion = 1
        var etag: String { "\"v\(etagVersion)\"" }
    }

    /// A server bug on purpose, to prove the simulation's checks can fail.
    enum Defect: Sendable {
        /// Replaces a file's bytes with as many new ones but keeps its ETag: a resume then splices
        /// two versions.
        case keepsETagOnReplace
    }

    private struct State {
        var files: [String: File] = [:]
        var faults: [SimulatedFault: Int] = [:]
        var requests = 0
    }

    private let state = LockedValue(State())
    /// The chance in percent that a request gets a fault.
    let faultPercent: Int
    let maxFileSize: Int

    let defect: Defect?

    init(faultPercent: Int, maxFileSize: Int, defect: Defect? = nil) {
        self.faultPercent = faultPercent
        self.maxFileSize = maxFileSize
        self.defect = defect
    }

    /// Serves `bytes` at `path`, with its own fault generator seeded by `seed`.
    func serve(_ bytes: [UInt8], at path: String, seed: UInt64) {
        state.withLock { $0.files[path] = File(versions: [bytes], generator: SeededRandomNumberGenerator(seed: seed)) }
    }

    /// Every version of the file at `path`, oldest first.
    func versions(at path: String) -> [[UInt8]] { state.withLock { $0.files[path]?.versions ?? [] } }

    /// Faults injected so far, by kind.
    var faults: [SimulatedFault: Int] { state.withLock { $0.faults } }

    /// Requests answered so far.
    var requestCount: Int { state.withLock { $0.requests } }

    /// The answer to `request`, with this request's fault (if any) applied.
    func respond(to request: TransportRequest) -> SimulatedResponse {
        state.withLock { state in
            state.requests += 1
            let path = request.url.path
            guard var file = state.files[path] else {
                return SimulatedResponse(head: TransportResponseHead(status: 404, headers: ["content-length": "0"]),
                                         body: [], end: .complete)
            }
            file.requests += 1
            let fault = drawFault(&file.generator)
            if fault == .replaced {
                // The defective server keeps the length too, so nothing but the ETag could tell.
                let size = defect == .keepsETagOnReplace ? file.versions[file.versions.count - 1].count
                    : Int.random(in: 1...maxFileSize, using: &file.generator)
                file.versions.append(seededBytes(size, seed: file.generator.next()))
                if defect != .keepsETagOnReplace { file.etagVersion += 1 }
            }
            if let fault { state.faults[fault, default: 0] += 1 }
            var response = answer(request, file: file)
            if let fault { apply(fault, to: &response, using: &file.generator) }
            state.files[path] = file
            return response
        }
    }

    private func drawFault(_ generator: inout SeededRandomNumberGenerator) -> SimulatedFault? {
        guard Int.random(in: 0..<100, using: &generator) < faultPercent else { return nil }
        return SimulatedFault.allCases.randomElement(using: &generator)
    }

    /// The faultless answer: `Range: bytes=N-` honoured unless `If-Range` names another ETag.
    private func answer(_ request: TransportRequest, file: File) -> SimulatedResponse {
        let bytes = file.versions[file.versions.count - 1], etag = file.etag
        var headers = ["etag": etag, "accept-ranges": "bytes"]
        var offset: Int?
        for (name, value) in request.headers where name.lowercased() == "range" {
            if value.hasPrefix("bytes="), value.hasSuffix("-") { offset = Int(value.dropFirst(6).dropLast()) }
        }
        let ifRange = request.headers.first { $0.key.lowercased() == "if-range" }?.value
        if let start = offset, ifRange == nil || ifRange == etag {
            guard start < bytes.count else {
                headers["content-range"] = "bytes */\(bytes.count)"
                headers["content-length"] = "0"
                return SimulatedResponse(head: TransportResponseHead(status: 416, headers: headers), body: [], end: .complete)
            }
            headers["content-range"] = "bytes \(start)-\(bytes.count - 1)/\(bytes.count)"
            headers["content-length"] = String(bytes.count - start)
            return SimulatedResponse(head: TransportResponseHead(status: 206, headers: headers),
                                     body: Array(bytes[start...]), end: .complete)
        }
        headers["content-length"] = String(bytes.count)
        return SimulatedResponse(head: TransportResponseHead(status: 200, headers: headers), body: bytes, end: .complete)
    }

    private func apply(_ fault: SimulatedFault, to response: inout SimulatedResponse,
                       using generator: inout SeededRandomNumberGenerator) {
        response.fault = fault
        let cut = response.body.isEmpty ? 0 : Int.random(in: 0..<response.body.count, using: &generator)
        switch fault {
        case .reset:
            response.body = Array(response.body.prefix(cut))
            response.end = .failure(URLError(.networkConnectionLost))
        case .stall:
            response.body = Array(response.body.prefix(cut))
            response.end = .stall
        case .shortBody:
            response.body = Array(response.body.prefix(cut))
        case .serverError:
            response = status(Bool.random(using: &generator) ? 500 : 503, fault: fault)
        case .tooManyRequests:
            response = status(429, fault: fault)
            response.head.headers["retry-after"] = String(Int.random(in: 1...40, using: &generator))
        case .notFound:
            response = status(404, fault: fault)
        case .lyingContentLength:
            let length = Int(response.head["content-length"] ?? "0") ?? 0
            response.head.headers["content-length"] = String(length + Int.random(in: 1...100, using: &generator))
        case .lyingContentRange:
            guard response.head.status == 200 || response.head.status == 206, response.body.count > 1,
                  let total = response.head["content-length"].flatMap(Int.init) else { return }
            // Claims the body starts one byte later than asked, and sends the bytes to match.
            let start = (response.head.status == 206 ? (Int(response.head["content-range"]?
                .split(separator: " ").last?.split(separator: "-").first ?? "") ?? 0) : 0) + 1
            let fileLength = response.head.status == 206
                ? Int(response.head["content-range"]?.split(separator: "/").last ?? "") ?? total : total
            response.head.status = 206
            response.head.headers["content-range"] = "bytes \(start)-\(fileLength - 1)/\(fileLength)"
            response.head.headers["content-length"] = String(fileLength - start)
            response.body = Array(response.body.dropFirst())
        case .replaced, .crash:
            break
        }
    }

    private func status(_ code: Int, fault: SimulatedFault) -> SimulatedResponse {
        SimulatedResponse(head: TransportResponseHead(status: code, headers: ["content-length": "0"]), body: [],
                          end: .complete, fault: fault)
    }
}
