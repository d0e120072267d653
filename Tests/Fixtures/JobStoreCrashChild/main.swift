// The child process of the JobStores crash test (Tests/JobStoresTests/CrashTests.swift).
//
// Usage: JobStoreCrashChild <journal path> <seed> <target job count>
//
// Opens a FileJournalJobStore (.fsyncEachWrite), finishes the work of its killed predecessors,
// and churns jobs through every state until `target` jobs exist and none is active. After each
// call returns it prints one line, flushed at once, so the parent knows what was acknowledged:
//   OPEN <jobs>   E <id> (enqueued)   C <id> (completed)   R <id> (retry scheduled)
//   F <id> (failed)   X <id> (cancelled)   DONE
// The parent SIGKILLs it at random moments.
import Foundation
import JobStores
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SplitMix64, so each run's choices are reproducible from its seed.
struct Generator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Writes one line straight to file descriptor 1 (no stdio buffer to lose on SIGKILL).
func acknowledge(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    var done = 0
    while done < bytes.count {
        let written = bytes[done...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if written < 0 { if errno == EINTR { continue } else { exit(3) } }
        done += written
    }
}

let arguments = CommandLine.arguments
guard arguments.count == 4, let seed = UInt64(arguments[2]), let target = Int(arguments[3]) else {
    try? FileHandle.standardError.write(contentsOf: Data("usage: JobStoreCrashChild <journal> <seed> <target jobs>\n".utf8))
    exit(2)
}
var generator = Generator(state: seed)
let owner = "child-\(getpid())"

do {
    let store = try FileJournalJobStore(path: arguments[1], durability: .fsyncEachWrite)
    acknowledge("OPEN \(await store.count)")
    while true {
        if await store.count < target, Int.random(in: 0..<2, using: &generator) == 0 {
            let id = UUID()
            let job = DownloadJob(
                id: id, url: URL(string: "https://example.com/file/\(id)")!, destination: "/crash/\(id)",
                priority: Int.random(in: 0..<3, using: &generator), maxAttempts: 4
            )
            try await store.enqueue(job, now: Date())
            acknowledge("E \(id)")
        }
        // A 1 ms lease: a job left running (below, or by a killed predecessor) is reclaimable at once.
        guard let job = try await store.claimNext(owner: owner, leaseFor: .milliseconds(1), now: Date()) else {
            if await store.count >= target,
               try await store.jobs(matching: JobQuery(states: [.pending, .running, .retrying], limit: 1)).isEmpty {
                acknowledge("DONE")
                exit(0)
            }
            continue
        }
        try await store.recordProgress(id: job.id, owner: owner, bytesDone: 512, bytesTotal: 1024, now: Date())
        switch Int.random(in: 0..<10, using: &generator) {
        case 0..<5:
            try await store.complete(id: job.id, owner: owner, now: Date())
            acknowledge("C \(job.id)")
        case 5, 6:
            try await store.scheduleRetry(id: job.id, owner: owner, at: Date(), error: JobFailure(message: "503", isRetryable: true), now: Date())
            acknowledge("R \(job.id)")
        case 7:
            try await store.fail(id: job.id, owner: owner, error: JobFailure(message: "404", isRetryable: false), now: Date())
            acknowledge("F \(job.id)")
        case 8:
            try await store.cancel(id: job.id, now: Date())
            acknowledge("X \(job.id)")
        default:
            break  // abandoned while running, as if the worker hung: the lease expires
        }
    }
} catch {
    try? FileHandle.standardError.write(contentsOf: Data("JobStoreCrashChild: \(error)\n".utf8))
    exit(1)
}
