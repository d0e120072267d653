import ResilienceSupport
import Downloads
import Foundation
import ResilienceTesting
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Holds `flock` on a path through its own open file description, as another process would.
final class ForeignLock: Sendable {
    private let fd: Int32
    init(path: String, pid: Int32? = nil) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)  // not inherited by spawned children
        precondition(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0, "test could not take the lock")
        if let pid { _ = Array("\(pid)\n".utf8).withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
    }
    /// Writes `pid` as the holder's record, as `SharedDownload` does after taking the lock.
    func record(pid: Int32) { _ = Array("\(pid)\n".utf8).withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
    func release() { _ = close(fd) }
}

private let payload = Data("the one true file".utf8)
@Sendable private func isPayload(_ url: URL) -> Bool { (try? Data(contentsOf: url)) == payload }

/// The pids `onWait` was called with, from another task.
final class Announcements: Sendable {
    private let list = LockedValue<[Int32?]>([])
    var values: [Int32?] { list.withLock { $0 } }
    func append(_ pid: Int32?) { list.withLock { $0.append(pid) } }
}

/// Counts calls to a download closure running in another task.
final class CallCounter: Sendable {
    private let count = LockedValue(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}

@Suite("SharedDownload", .serialized)
struct SharedDownloadTests {
    @Test func downloadsWhenAloneAndThenReusesTheFile() async throws {
        let dir = try TemporaryDirectory()
        let shared = SharedDownload(destination: dir.url.appending(path: "tool.bin"))
        let calls = CallCounter()
        let first = try await shared.run(isValid: isPayload) { url in
            calls.increment()
            // The holder's record, for waiters' logs, while it holds the lock.
            #expect(try String(contentsOf: shared.lockFile, encoding: .utf8) == "\(getpid())\n")
            try payload.write(to: url)
        }
        let second = try await shared.run(isValid: isPayload) { _ in calls.increment() }
        #expect(first == .downloaded)
        #expect(second == .alreadyPresent)
        #expect(calls.value == 1)
        #expect(try String(contentsOf: shared.lockFile, encoding: .utf8) == "")   // cleared on release
    }

    @Test func invalidExistingFileIsReplaced() async throws {
        let dir = try TemporaryDirectory()
        let shared = SharedDownload(destination: dir.url.appending(path: "tool.bin"))
        try Data("corrupt".utf8).write(to: shared.destination)
        let outcome = try await shared.run(isValid: isPayload) { url in
            #expect(!FileManager.default.fileExists(atPath: url.path))  // the bad file is gone first
            try payload.write(to: url)
        }
        #expect(outcome == .downloaded)
        #expect(isPayload(shared.destination))
    }

    @Test func stillInvalidAfterDownloadThrows() async throws {
        let dir = try TemporaryDirectory()
        let shared = SharedDownload(destination: dir.url.appending(path: "tool.bin"))
        await #expect(throws: SharedDownloadError.invalidAfterDownload(shared.destination)) {
            try await shared.run(isValid: isPayload) { url in try Data("wrong".utf8).write(to: url) }
        }
        // The lock was released: a second process-like holder can take it.
        ForeignLock(path: shared.lockFile.path).release()
    }

    @Test func waiterUsesTheHoldersResult() async throws {
        let dir = try TemporaryDirectory()
        let shared = SharedDownload(destination: dir.url.appending(path: "tool.bin"), pollInterval: .milliseconds(100))
        let holder = ForeignLock(path: shared.lockFile.path)
        let clock = ManualClock()
        let calls = CallCounter()
        let waiter = Task {
            try await shared.run(clock: clock, isValid: isPayload) { _ in calls.increment() }
        }
        await clock.sleepers(atLeast: 1)           // the waiter found the lock taken
        try payload.write(to: shared.destination)  // the holder finishes ...
        holder.release()                           // ... and releases (or dies)
        clock.advance(by: .milliseconds(100))
        #expect(try await waiter.value == .downloadedByAnotherProcess)
        #expect(calls.value == 0)
    }

    @Test func waiterTakesOverWhenTheHolderLeavesNothing() async throws {
        let dir = try TemporaryDirectory()
        let shared = SharedDownload(destination: dir.url.appending(path: "tool.bin"), pollInterval: .milliseconds(100))
        let holder = ForeignLock(path: shared.lockFile.path)
        let clock = ManualClock()
        let waiter = Task {
            try await shared.run(clock: clock, isValid: isPayload) { url in try payload.write(to: url) }
        }
        for _ in 0..<5 {  // several polls while the holder still holds it
            await clock.sleepers(atLeast: 1)
            clock.advance(by: .milliseconds(100))
        }
        await clock.sleepers(atLeast: 1)
        holder.release()
        clock.advance(by: .milliseconds(100))
        #expect(try await waiter.value == .tookOver)
        #expect(isPayload(shared.destination))
    }

    /// The holder takes the lock first and records its pid a moment later: a waiter that comes in
    /// between names the pid once it is written (this read "waiting ?" before, flaking the
    /// eight-process test under TSan), and says `nil` only if the lock is gone first.
    @Test func theWaitIsAnnouncedWithThePidTheHolderRecordsAfterLocking() async throws {
        let dir = try TemporaryDirectory()
        let shared = SharedDownload(destination: dir.url.appending(path: "tool.bin"), pollInterval: .milliseconds(100))
        let holder = ForeignLock(path: shared.lockFile.path)        // locked, no pid recorded yet
        let clock = ManualClock()
        let announced = Announcements()
        let waiter = Task {
            try await shared.run(clock: clock, isValid: isPayload, onWait: { announced.append($0) }) {
                url in try payload.write(to: url)
            }
        }
        await clock.sleepers(atLeast: 1)
        #expect(announced.values.isEmpty)
        holder.record(pid: 4242)
        clock.advance(by: .milliseconds(100))
        await clock.sleepers(atLeast: 1)
        #expect(announced.values == [4242])
        holder.release()
        clock.advance(by: .milliseconds(100))
        #expect(try await waiter.value == .tookOver)
        #expect(announced.values == [4242])               // once

        let silent = ForeignLock(path: shared.lockFile.path)        // never records a pid
        try FileManager.default.removeItem(at: shared.destination)
        let second = Task {
            try await shared.run(clock: clock, isValid: isPayload, onWait: { announced.append($0) }) {
                url in try payload.write(to: url)
            }
        }
        await clock.sleepers(atLeast: 1)
        silent.release()
        clock.advance(by: .milliseconds(100))
        #expect(try await second.value == .tookOver)
        #expect(announced.values == [4242, nil])
    }

    @Test func waitingIsBoundedByTheTimeout() async throws {
        let dir = try TemporaryDirectory()
        let shared = SharedDownload(destination: dir.url.appending(path: "tool.bin"),
                                    lockTimeout: .seconds(30), pollInterval: .milliseconds(250))
        let holder = ForeignLock(path: shared.lockFile.path, pid: 4242)
        defer { holder.release() }
        let clock = ManualClock()
        await #expect(throws: SharedDownloadError.lockTimeout(holderPID: 4242, waited: .seconds(30))) {
            try await clock.run {
                try await shared.run(clock: clock, isValid: isPayload) { _ in Issue.record("must not download") }
            }
        }
        #expect(clock.now.offset == .seconds(30))
    }

    @Test func cancellingAWaiterThrowsCancellation() async throws {
        let dir = try TemporaryDirectory()
        let shared = SharedDownload(destination: dir.url.appending(path: "tool.bin"))
        let holder = ForeignLock(path: shared.lockFile.path)
        defer { holder.release() }
        let clock = ManualClock()
        let waiter = Task { try await shared.run(clock: clock, isValid: isPayload) { _ in } }
        await clock.sleepers(atLeast: 1)
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
    }

    @Test func lockFileInAMissingDirectoryIsATypedError() async throws {
        let shared = SharedDownload(destination: URL(fileURLWithPath: "/nonexistent-\(UUID())/x"))
        await #expect(throws: SharedDownloadError.self) {
            try await shared.run(isValid: { _ in false }) { _ in }
        }
    }

    /// Eight real processes need one file; the one that downloads is SIGKILLed mid-download. The
    /// kernel releases its lock, exactly one waiter takes over, the other six use its result.
    @Test(.timeLimit(.minutes(2)))
    func eightProcessesOneDownloaderKilled() async throws {
        let dir = try TemporaryDirectory()
        let destination = dir.url.appending(path: "shared.bin")
        let byteCount = 1 << 20
        let children = try (0..<8).map { _ in
            try ChildProcess(executable: ChildProcess.siblingExecutable(named: "SharedDownloadChild"),
                             arguments: [destination.path, String(byteCount)])
        }
        // Each child's first line: exactly one downloads (and blocks until told to finish), the
        // seven others wait for it, naming its pid.
        var firstLines: [String] = []
        for child in children { firstLines.append(await child.nextLine() ?? "<closed>") }
        let downloaderIndex = try #require(firstLines.firstIndex { $0.hasPrefix("downloading") })
        let first = children[downloaderIndex]
        #expect(firstLines.filter { $0 == "waiting \(first.pid)" }.count == 7, "\(firstLines)")
        first.kill(SIGKILL)
        #expect(await first.exitStatus == .signaled(SIGKILL))

        let others = children.filter { $0 !== first }
        let second = try #require(await firstChild(in: others, printing: "downloading"))
        second.send("go")
        var outcomes: [String] = []
        for child in others {
            #expect(await child.exitStatus == .exited(0), "child \(child.pid): \(child.lines)")
            outcomes.append(contentsOf: child.lines.filter { $0.hasPrefix("outcome ") })
        }
        #expect(outcomes.filter { $0 == "outcome tookOver" }.count == 1)
        #expect(outcomes.filter { $0 == "outcome downloadedByAnotherProcess" }.count == 6)
        let downloads = children.flatMap(\.lines).filter { $0.hasPrefix("downloading") }
        #expect(downloads.count == 2)  // the killed one and the one that took over
        #expect(!FileManager.default.fileExists(atPath: destination.path + ".part"))
        let data = try Data(contentsOf: destination)
        #expect(data.count == byteCount)
        #expect(data == Data((0..<byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }))
    }
}

/// The first child (in time) whose next line starts with `prefix`. Reads every child's first
/// line concurrently; the others' lines stay readable through `lines`.
private func firstChild(in children: [ChildProcess], printing prefix: String) async -> ChildProcess? {
    await withTaskGroup(of: ChildProcess?.self) { group in
        for child in children {
            group.addTask {
                while let line = await child.nextLine() {
                    if line.hasPrefix(prefix) { return child }
                }
                return nil
            }
        }
        defer { group.cancelAll() }
        while let result = await group.next() {
            if let child = result { return child }
        }
        return nil
    }
}
