#if os(Linux) || os(macOS)
import Foundation

extension ChildProcess {
    /// Every thread's stack of the running child, as gdb prints them
    /// (`gdb -p <pid> -batch -ex "thread apply all bt"`), for the failure message of a test that
    /// found the child hung. gdb is given 60 s (through `timeout` when installed).
    ///
    /// When gdb is not installed, or cannot attach, the text says so and why (for example
    /// `apt-get install gdb`, or a missing `CAP_SYS_PTRACE`), so a report is never silently empty.
    public func threadStacks() -> String {
        let gdbCandidates = ["/usr/bin/gdb", "/usr/local/bin/gdb", "/opt/homebrew/bin/gdb"]
        guard let gdb = gdbCandidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return "no thread stacks for pid \(pid): gdb is not installed (apt-get install gdb)"
        }
        let process = Process()
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/timeout") {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            process.arguments = ["60", gdb]
        } else {
            process.executableURL = URL(fileURLWithPath: gdb)
            process.arguments = []
        }
        process.arguments! += ["-p", "\(pid)", "-batch", "-nx", "-ex", "set pagination off", "-ex", "thread apply all bt"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return "no thread stacks for pid \(pid): gdb did not start (\(error))"
        }
        let data = PipeReader.readToEnd(output.fileHandleForReading.fileDescriptor)
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let status = process.terminationStatus
        return status == 0 ? text : text + "\n(gdb exited with status \(status); if it could not attach: ptrace needs CAP_SYS_PTRACE)"
    }
}
#endif
