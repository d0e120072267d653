import Foundation
import RangeResume
#if canImport(Glibc)
import Glibc
#endif

/// `RangeResume` figures: SHA-256 throughput against `sha256sum` on the same file in the same run.
///
/// Environment: `RANGERESUME_BENCH_MIB` sets the file size in MiB (default 1024).
enum RangeResumeBenchmarks {
    static func run() async {
        let mebibytes = Int(ProcessInfo.processInfo.environment["RANGERESUME_BENCH_MIB"] ?? "") ?? 1024
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("rangeresume-bench-\(getpid())")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("random.bin")
        guard writeRandomFile(file.path, mebibytes: mebibytes) else {
            print("rangeresume: could not write \(file.path); skipped")
            return
        }
        let bytes = Double(mebibytes) * 1_048_576

        // Warm the page cache once so both sides read from memory.
        _ = hashFile(file.path)
        let start = nanos()
        let ours = hashFile(file.path)
        let oursSeconds = Double(nanos() - start) / 1e9
        let peerStart = nanos()
        let peer = runTool("/usr/bin/sha256sum", [file.path])
        let peerSeconds = Double(nanos() - peerStart) / 1e9
        let peerDigest = peer.map { String($0.prefix(64)) }
        if peerDigest != ours { print("rangeresume: DIGEST MISMATCH ours \(ours ?? "nil") sha256sum \(peerDigest ?? "nil")") }
        report("sha256.\(mebibytes)MiB.throughput", bytes / oursSeconds / 1e6, "MB/s",
               peer: ("sha256sum", peer == nil ? 0 : bytes / peerSeconds / 1e6))
    }

    /// Fills `path` with `mebibytes` MiB of pseudo-random bytes (xorshift; content is irrelevant).
    static func writeRandomFile(_ path: String, mebibytes: Int) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var block = [UInt64](repeating: 0, count: 131_072)
        for _ in 0..<mebibytes {
            for index in block.indices {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                block[index] = state
            }
            let written = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == 1_048_576 else { return false }
        }
        return true
    }

    /// The SHA-256 hex of the file at `path`, read in 4 MiB pieces.
    static func hashFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 { return nil }
            if count == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return hasher.finalizeHex()
    }

    /// Runs `tool` and returns its standard output, or `nil` if it could not run or failed.
    static func runTool(_ tool: String, _ arguments: [String]) -> String? {
        guard FileManager.default.isExecutableFile(atPath: tool) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
