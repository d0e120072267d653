/// One file-system call of the durable structures, as ``FileOperationRecorder`` records it: the
/// input of the crash-state explorer (`CrashStateExplorer` in `ResilienceTesting`).
///
/// Paths are relative to the recorder's root (`"."` is the root itself). Only calls that
/// succeeded are recorded, in the order they returned.
package enum FileOperation: Sendable, Hashable {
    /// `open`; `creating` with `O_CREAT` (a new directory entry if the name was absent),
    /// `truncating` with `O_TRUNC`.
    case open(path: String, creating: Bool, truncating: Bool)
    /// `pwrite` of `bytes` at `offset`.
    case write(path: String, offset: Int64, bytes: [UInt8])
    /// `ftruncate` to `length`.
    case truncate(path: String, length: Int64)
    /// `fsync` (`dataOnly: false`) or `fdatasync` (`dataOnly: true`) of the file.
    case sync(path: String, dataOnly: Bool)
    /// `fsync` of a directory: its renames, creations and unlinks become durable.
    case syncDirectory(path: String)
    /// `rename(from, to)`.
    case rename(from: String, to: String)
    /// `unlink`.
    case unlink(path: String)
    /// Not a system call: a label the workload put in the trace (e.g. "this job is
    /// acknowledged"), so a checker knows what had returned before a crash point.
    case mark(String)
}

extension FileOperation: CustomStringConvertible {
    /// One line for a trace listing, e.g. `pwrite jobs.journal @16 +57 B`.
    package var description: String {
        switch self {
        case .open(let path, let creating, let truncating):
            "open \(path)\(creating ? " O_CREAT" : "")\(truncating ? " O_TRUNC" : "")"
        case .write(let path, let offset, let bytes): "pwrite \(path) @\(offset) +\(bytes.count) B"
        case .truncate(let path, let length): "ftruncate \(path) to \(length)"
        case .sync(let path, let dataOnly): "\(dataOnly ? "fdatasync" : "fsync") \(path)"
        case .syncDirectory(let path): "fsync directory \(path)"
        case .rename(let from, let to): "rename \(from) -> \(to)"
        case .unlink(let path): "unlink \(path)"
        case .mark(let label): "# \(label)"
        }
    }
}
