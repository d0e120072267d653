import Synchronization

/// The recording seam of ``FileSystem``: while a recorder runs, every call of ``FileSystem`` on a
/// path under its `root` (and every descriptor opened there) is appended to its trace as a
/// ``FileOperation``.
///
/// Process-wide rather than injected, so that no initialiser of the durable structures (journal,
/// `.part` file, sidecars, `SharedDownload`) needs a new parameter, and calls from any thread or
/// dispatch queue are seen. Recorders filter by path, so tests running in parallel under other
/// directories do not disturb each other. Production cost when no recorder runs: one relaxed
/// atomic load per call (no lock, no allocation).
///
/// Descriptors are mapped to paths at `open` and unmapped just before `close` (while the number
/// is still ours), so a number reused by another test after the close is never attributed here.
package final class FileOperationRecorder: Sendable {
    /// How many recorders run: the one word the production path reads.
    @usableFromInline static let activeCount = Atomic<Int>(0)
    private static let running = LockedValue<[FileOperationRecorder]>([])

    /// The directory recorded (absolute, without a trailing slash).
    package let root: String
    private struct State {
        var descriptors: [Int32: String] = [:]
        var operations: [FileOperation] = []
    }
    private let state = LockedValue(State())

    private init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    /// Starts recording the calls under `root`.
    package static func start(root: String) -> FileOperationRecorder {
        let recorder = FileOperationRecorder(root: root)
        running.withLock { $0.append(recorder) }
        activeCount.add(1, ordering: .relaxed)
        return recorder
    }

    /// Stops recording and returns the trace.
    package func stop() -> [FileOperation] {
        let removed = Self.running.withLock { list in
            let before = list.count
            list.removeAll { $0 === self }
            return before != list.count
        }
        if removed { Self.activeCount.subtract(1, ordering: .relaxed) }
        return operations
    }

    /// The trace so far.
    package var operations: [FileOperation] { state.withLock { $0.operations } }

    /// Appends a workload's label (see ``FileOperation/mark(_:)``).
    package func mark(_ label: String) {
        state.withLock { $0.operations.append(.mark(label)) }
    }

    // MARK: Called by FileSystem

    /// Whether any recorder runs (the fast check before every other call here).
    @inlinable @inline(__always)
    package static var isActive: Bool { activeCount.load(ordering: .relaxed) != 0 }

    /// `path` relative to `root`, or `nil` if outside it.
    private func relative(_ path: String) -> String? {
        if path == root { return "." }
        guard path.hasPrefix(root + "/") else { return nil }
        return String(path.dropFirst(root.count + 1))
    }

    private static func each(_ body: (FileOperationRecorder) -> Void) {
        for recorder in running.withLock({ $0 }) { body(recorder) }
    }

    /// A descriptor was opened on `path` with `flags`.
    package static func opened(_ fd: Int32, path: String, creating: Bool, truncating: Bool) {
        each { recorder in
            guard let name = recorder.relative(path) else { return }
            recorder.state.withLock {
                $0.descriptors[fd] = name
                $0.operations.append(.open(path: name, creating: creating, truncating: truncating))
            }
        }
    }

    /// `fd` is about to be closed.
    package static func closing(_ fd: Int32) {
        each { recorder in _ = recorder.state.withLock { $0.descriptors.removeValue(forKey: fd) } }
    }

    /// A call on descriptor `fd` succeeded; `make` builds its record from the file's path.
    package static func record(fd: Int32, _ make: (String) -> FileOperation) {
        each { recorder in
            recorder.state.withLock { state in
                guard let name = state.descriptors[fd] else { return }
                state.operations.append(make(name))
            }
        }
    }

    /// A call on `path` succeeded; `make` builds its record from the relative path.
    package static func record(path: String, _ make: (String) -> FileOperation) {
        each { recorder in
            guard let name = recorder.relative(path) else { return }
            recorder.state.withLock { $0.operations.append(make(name)) }
        }
    }

    /// `from` was renamed to `to`: recorded, and the descriptors open on `from` now name `to`
    /// (a write through them changes the renamed file).
    package static func renamed(_ from: String, to: String) {
        each { recorder in
            guard let source = recorder.relative(from), let target = recorder.relative(to) else { return }
            recorder.state.withLock { state in
                for (fd, name) in state.descriptors where name == source { state.descriptors[fd] = target }
                state.operations.append(.rename(from: source, to: target))
            }
        }
    }
}
