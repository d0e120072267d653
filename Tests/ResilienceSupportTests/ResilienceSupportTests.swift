import Foundation
@testable import ResilienceSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("LockedValue")
struct LockedValueTests {
    @Test func threadsAndTasksNeverLoseAnUpdate() async {
        let counter = LockedValue(0)
        let threads = (0..<4).map { _ in
            let thread = Thread { for _ in 0..<10_000 { counter.withLock { $0 += 1 } } }
            thread.start()
            return thread
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { for _ in 0..<10_000 { counter.withLock { $0 += 1 } } } }
        }
        while threads.contains(where: { !$0.isFinished }) { try? await Task.sleep(for: .milliseconds(1)) }
        #expect(counter.withLock { $0 } == 80_000)
    }

    @Test func rethrowsTheBodysTypedError() {
        struct Refused: Error {}
        let value = LockedValue([1])
        #expect(throws: Refused.self) { try value.withLock { (_: inout [Int]) throws(Refused) in throw Refused() } }
        #expect(value.withLock { $0 } == [1])
    }
}

@Suite("CountWatchers")
struct CountWatchersTests {
    /// State whose count the test sets by hand.
    struct Counted: CountWatched {
        var countWatchers = CountWatchers()
        var watchedCount = 0
        var releasesWatchers = false
    }

    @Test func returnsAtOnceWhenTheCountIsReached() async {
        let state = LockedValue(Counted(watchedCount: 3))
        await state.waitForCount(atLeast: 3)
        await state.waitForCount(atLeast: 0)
    }

    @Test func releasesEachWatcherOnceItsCountIsReached() async {
        let state = LockedValue(Counted())
        let woken = LockedValue<[Int]>([])
        await withTaskGroup(of: Void.self) { group in
            for (index, count) in [2, 1, 2].enumerated() {
                group.addTask {
                    await state.waitForCount(atLeast: count)
                    woken.withLock { $0.append(count) }
                }
                await waitUntil { state.withLock { $0.countWatchers.count } == index + 1 }
            }
            let first = state.withLock { state in
                state.watchedCount = 1
                return state.satisfiedWatchers()
            }
            #expect(first.count == 1)
            for continuation in first { continuation.resume() }
            await waitUntil { woken.withLock { $0 } == [1] }
            let rest = state.withLock { state in
                state.watchedCount = 2
                return state.satisfiedWatchers()
            }
            #expect(rest.count == 2)
            for continuation in rest { continuation.resume() }
        }
        #expect(woken.withLock { $0 } == [1, 2, 2])
        #expect(state.withLock { $0.countWatchers.isEmpty })
    }

    @Test func closingReleasesEveryWatcher() async {
        let state = LockedValue(Counted())
        async let waiting: Void = state.waitForCount(atLeast: 100)
        await waitUntil { state.withLock { $0.countWatchers.count } == 1 }
        let released = state.withLock { state in
            state.releasesWatchers = true
            return state.satisfiedWatchers()
        }
        for continuation in released { continuation.resume() }
        await waiting
        #expect(state.withLock { $0.countWatchers.isEmpty })
        await state.waitForCount(atLeast: 100)  // closed: returns at once
    }

    @Test func cancellingAWatcherRemovesIt() async {
        let state = LockedValue(Counted())
        let task = Task { await state.waitForCount(atLeast: 5) }
        await waitUntil { state.withLock { $0.countWatchers.count } == 1 }
        task.cancel()
        await task.value
        #expect(state.withLock { $0.countWatchers.isEmpty })
    }

    private func waitUntil(_ condition: () -> Bool) async {
        while !condition() { await Task.yield() }
    }
}

@Suite("FileSystem")
struct FileSystemTests {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appending(path: "support-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    @Test func writeAtomicallyReplacesTheFileAndLeavesNoTemporary() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/state"
        try FileSystem.writeAtomically(Array("old".utf8), to: path)
        try FileSystem.writeAtomically(Array("new".utf8), to: path)
        #expect(FileManager.default.contents(atPath: path) == Data("new".utf8))
        #expect(!FileSystem.exists(path + ".tmp"))
        try FileSystem.syncDirectory(directory)
    }

    @Test func writeAllAndSizeAndTruncate() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/part"
        let fd = try FileSystem.openRegularFile(path)
        defer { FileSystem.close(fd) }
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 3 << 20, alignment: 16)
        defer { bytes.deallocate() }
        bytes.initializeMemory(as: UInt8.self, repeating: 7)
        try FileSystem.writeAll(fd, UnsafeRawBufferPointer(bytes), at: 10, path: path)
        try FileSystem.sync(fd, path: path)
        #expect(try FileSystem.size(of: fd, path: path) == 10 + 3 << 20)
        try FileSystem.truncate(fd, to: 4, path: path)
        #expect(try FileSystem.size(of: fd, path: path) == 4)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
    }

    @Test func openRegularFileRefusesASymbolicLinkAndADirectory() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let link = directory + "/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory + "/target")
        #expect(throws: SystemCallError("open", path: link, code: ELOOP)) { try FileSystem.openRegularFile(link) }
        #expect(throws: SystemCallError.self) { try FileSystem.openRegularFile(directory) }
    }

    @Test func tryLockFailsWhileAnotherOpenFileHoldsTheLock() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/lock"
        let first = try FileSystem.open(path, flags: O_RDWR | O_CREAT)
        let second = try FileSystem.open(path, flags: O_RDWR | O_CREAT)
        defer { FileSystem.close(second) }
        #expect(try FileSystem.tryLock(first, path: path))
        #expect(try !FileSystem.tryLock(second, path: path))
        FileSystem.close(first)
        #expect(try FileSystem.tryLock(second, path: path))
    }

    @Test func errorsNameTheCallThePathAndErrno() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let missing = directory + "/missing/file"
        #expect(throws: SystemCallError("open", path: missing, code: ENOENT)) { try FileSystem.open(missing, flags: O_RDONLY) }
        #expect(throws: SystemCallError("rename", path: missing, code: ENOENT)) {
            try FileSystem.rename(directory + "/nothing", missing)
        }
        try FileSystem.removeIfPresent(missing.replacingOccurrences(of: "/file", with: ""))
    }
}
