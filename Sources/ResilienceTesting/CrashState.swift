import Foundation

/// One state a power loss can leave, built by ``CrashStateExplorer`` from a recorded trace: the
/// files on disk (relative path → bytes) after the crash, and what the program had been told
/// before it (the trace's marks).
package struct CrashState: Sendable {
    /// How many operations of the trace had returned when the power went.
    package let crashPoint: Int
    /// The durable files, by path relative to the recorded root.
    package let files: [String: [UInt8]]
    /// The labels the workload marked before the crash point, in order (what was acknowledged).
    package let marks: [String]
    /// The calls before the crash point whose effect (or one block of it) this state dropped.
    package let dropped: [String]

    /// Whether `bytes` equals `expected` over `range` (both long enough; compared with `memcmp`,
    /// quick in debug builds). An empty range always matches.
    package static func bytes(_ bytes: [UInt8], equal expected: [UInt8], over range: Range<Int>) -> Bool {
        guard range.lowerBound >= 0, bytes.count >= range.upperBound, expected.count >= range.upperBound else { return false }
        guard !range.isEmpty else { return true }
        return bytes.withUnsafeBytes { file in
            expected.withUnsafeBytes { memcmp(file.baseAddress! + range.lowerBound, $0.baseAddress! + range.lowerBound, range.count) == 0 }
        }
    }

    /// Creates a fresh directory for recording a workload or materialising states: under
    /// `/dev/shm` when it exists (memory: `fsync` costs nothing there, and the model, not the
    /// disk, decides what survives), else under the temporary directory. The caller removes it.
    package static func makeScratchDirectory(prefix: String) throws -> String {
        var isDirectory: ObjCBool = false
        let memory = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory) && isDirectory.boolValue
        let parent = memory ? "/dev/shm" : FileManager.default.temporaryDirectory.path
        let path = parent + "/\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Empties `directory` and writes ``files`` into it (mode 0600), ready for recovery.
    package func materialise(into directory: String) throws {
        let manager = FileManager.default
        for name in try manager.contentsOfDirectory(atPath: directory) {
            try manager.removeItem(atPath: directory + "/" + name)
        }
        for (path, bytes) in files {
            let full = directory + "/" + path
            if path.contains("/") {
                try manager.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            }
            guard manager.createFile(atPath: full, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
                throw CocoaError(.fileWriteUnknown)
            }
        }
    }
}
