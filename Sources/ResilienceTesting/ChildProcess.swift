import Foundation
import ResilienceSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process for crash and multi-process tests: spawn it, read its stdout line by line,
/// write to its stdin, kill it with any signal, and await its exit.
///
/// Written on `posix_spawn` (no Foundation `Process`) so a test controls exactly what a crash
/// test needs: the pid, `SIGKILL` at a moment of its choosing, and an exit status that tells a
/// signal from an exit code.
///
/// ```swift
/// let child = try ChildProcess(executable: helperURL, arguments: ["--churn"])
/// let line = await child.nextLine()       // "ready"
/// child.kill(SIGKILL)
/// #expect(await child.exitStatus == .signaled(SIGKILL))
/// ```
///
/// Stdout is read by a thread of its own; stderr is inherited (it shows in the test log), or
/// written to a file given as `standardError` (to quote a crash message in a failure).
/// Creating one sets `SIGPIPE` to be ignored in the calling process, so that writing to a child
/// that died is an error, not the end of the test run.
public final class ChildProcess: Sendable {
    /// How a child process ended.
    public enum ExitStatus: Sendable, Hashable {
        /// It called `exit` with this code.
        case exited(Int32)
        /// A signal ended it.
        case signaled(Int32)
    }

    /// A failure to start the child.
    public struct SpawnError: Error, Sendable, Hashable {
        /// The `errno`-style code returned by `pipe` or `posix_spawn`.
        public let code: Int32
    }

    private struct State {
        var lines: [String] = []
        var partial: [UInt8] = []
        var readIndex = 0
        var closed = false
        var lineWaiters: [(id: UInt64, continuation: CheckedContinuation<String?, Never>)] = []
        var nextWaiterID: UInt64 = 0
        var status: ExitStatus?
        var exitWaiters: [CheckedContinuation<ExitStatus, Never>] = []
    }

    /// The child's process id.
    public let pid: pid_t
    private let stdinFD: Int32
    private let state = LockedValue(State())

    /// Starts `executable` with `arguments` (not including the program name) and the parent's
    /// environment. With `standardError`, the child's stderr goes to that file (created or
    /// truncated) instead of the parent's.
    ///
    /// - Throws: ``SpawnError`` if the pipes or the process cannot be created.
    public init(executable: URL, arguments: [String] = [], standardError: URL? = nil) throws(SpawnError) {
        // Close-on-exec, so that other children spawned meanwhile do not inherit these pipe ends
        // (an inherited write end would keep a child's stdout open after it died).
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0]
        guard makePipe(&input) == 0 else { throw SpawnError(code: errno) }
        guard makePipe(&output) == 0 else { throw SpawnError(code: errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        for fd in input + output { posix_spawn_file_actions_addclose(&actions, fd) }
        if let standardError {
            posix_spawn_file_actions_addopen(&actions, 2, standardError.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }

        let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
        let environment = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + environment { free(pointer) } }
        // Writing to a child that died must not kill the test process.
        _ = signal(SIGPIPE, SIG_IGN)
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable.path, &actions, nil, argv, environment)
        closeFD(input[0])
        closeFD(output[1])
        guard result == 0 else {
            closeFD(input[1])
            closeFD(output[0])
            throw SpawnError(code: result)
        }
        self.pid = pid
        self.stdinFD = input[1]
        let stdoutFD = output[0]
        Thread.detachNewThread { [self] in readLoop(stdoutFD) }
        Thread.detachNewThread { [self] in waitLoop() }
    }

    /// The next line the child wrote to stdout (without its newline), in order; `nil` once stdout
    /// is closed and every line was read, or when the calling task is cancelled (no line is
    /// consumed then).
    public func nextLine() async -> String? {
        let id = state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let line: String?? = state.withLock { state in
                    if Task.isCancelled { return .some(nil) }
                    if state.readIndex < state.lines.count {
                        defer { state.readIndex += 1 }
                        return .some(state.lines[state.readIndex])
                    }
                    if state.closed { return .some(nil) }
                    state.lineWaiters.append((id, continuation))
                    return nil
                }
                if let line { continuation.resume(returning: line) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                state.lineWaiters.firstIndex { $0.id == id }.map { state.lineWaiters.remove(at: $0) }
            }
            waiter?.continuation.resume(returning: nil)
        }
    }

    /// Every line the child has written so far, read or not.
    public var lines: [String] { state.withLock { $0.lines } }

    /// Writes `line` and a newline to the child's stdin. Errors (a dead child) are ignored.
    public func send(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(stdinFD, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    /// Sends `signal` (e.g. `SIGKILL`) to the child.
    public func kill(_ signal: Int32) {
        _ = sendSignal(pid, signal)
    }

    /// How the child ended; suspends until it has.
    public var exitStatus: ExitStatus {
        get async {
            await withCheckedContinuation { continuation in
                let status: ExitStatus? = state.withLock { state in
                    if let status = state.status { return status }
                    state.exitWaiters.append(continuation)
                    return nil
                }
                if let status { continuation.resume(returning: status) }
            }
        }
    }

    /// How the child ended, or `nil` while it runs (no suspension).
    var endedStatus: ExitStatus? { state.withLock { $0.status } }

    deinit { closeFD(stdinFD) }

    // MARK: - Threads

    private func readLoop(_ fd: Int32) {
        while let chunk = PipeReader.readSome(fd) {
            let waiters: [(CheckedContinuation<String?, Never>, String)] = state.withLock { state in
                state.partial.append(contentsOf: chunk)
                while let newline = state.partial.firstIndex(of: 0x0A) {
                    state.lines.append(String(decoding: state.partial[..<newline], as: UTF8.self))
                    state.partial.removeSubrange(...newline)
                }
                var ready: [(CheckedContinuation<String?, Never>, String)] = []
                while !state.lineWaiters.isEmpty, state.readIndex < state.lines.count {
                    ready.append((state.lineWaiters.removeFirst().continuation, state.lines[state.readIndex]))
                    state.readIndex += 1
                }
                return ready
            }
            for (continuation, line) in waiters { continuation.resume(returning: line) }
        }
        closeFD(fd)
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.lineWaiters.removeAll() }
            return state.lineWaiters.map(\.continuation)
        }
        for continuation in waiters { continuation.resume(returning: nil) }
    }

    private func waitLoop() {
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG are C macros; decode the status word by hand.
        let status: ExitStatus = raw & 0x7F == 0 ? .exited((raw >> 8) & 0xFF) : .signaled(raw & 0x7F)
        let waiters = state.withLock { state in
            state.status = status
            defer { state.exitWaiters.removeAll() }
            return state.exitWaiters
        }
        for continuation in waiters { continuation.resume(returning: status) }
    }
}

private func closeFD(_ fd: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}

private func makePipe(_ fds: inout [Int32]) -> Int32 {
    // `pipe2` is not exported by the Glibc module; set the flag right after creation. (A child
    // spawned by another thread in between could still inherit the pipe: spawn from one task.)
    guard pipe(&fds) == 0 else { return -1 }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return 0
}

private func sendSignal(_ pid: pid_t, _ signal: Int32) -> Int32 {
    #if canImport(Glibc)
    return Glibc.kill(pid, signal)
    #else
    return Darwin.kill(pid, signal)
    #endif
}
