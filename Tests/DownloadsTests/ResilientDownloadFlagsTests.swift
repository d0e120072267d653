import Foundation
import RangeResume
import ResilienceTesting
import Testing

/// The flags users bring from curl, wget and aria2c: `-d DIR` (created), `-o FILE`, `-q`,
/// `--version`, `--help` within 80 columns, and progress on stderr with stdout left to the
/// summary. Drives the real binary.
@Suite("resilient-download flags", .timeLimit(.minutes(2)))
struct ResilientDownloadFlagsTests {
    /// Runs the CLI with stdout captured and stderr written to `stderrFile`.
    static func run(_ arguments: [String], stderrFile: URL) async throws -> (stdout: [String], stderr: [String], status: ChildProcess.ExitStatus) {
        let child = try ChildProcess(executable: ResilientDownloadKillTests.executable, arguments: arguments,
                                     standardError: stderrFile)
        var lines: [String] = []
        while let line = await child.nextLine() { lines.append(line) }
        let status = await child.exitStatus
        let errors = (try? String(contentsOf: stderrFile, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        return (lines, errors, status)
    }

    @Test func dirIsCreatedAndProgressGoesToStderrNotStdout() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let body = seededBytes(300_000, seed: 9)
        server.serve(body, at: "/f.bin")
        let target = dir.file("new/nested")
        let run = try await Self.run([server.url(for: "/f.bin").absoluteString, "-d", target.path],
                                     stderrFile: dir.file("stderr.txt"))
        #expect(run.status == .exited(0), "\(run.stdout + run.stderr)")
        #expect(contents(of: target.appendingPathComponent("f.bin")) == Data(body))
        #expect(exists(target.appendingPathComponent(".resilient-download.journal")))
        #expect(run.stderr.contains { $0.hasPrefix("f.bin: ") && $0.hasSuffix(" bytes") }, "\(run.stderr)")
        #expect(run.stderr.contains { $0.hasPrefix("f.bin: complete") }, "\(run.stderr)")
        #expect(!run.stdout.contains { $0.hasPrefix("f.bin: ") }, "\(run.stdout)")
        #expect(run.stdout.contains { $0.hasPrefix("files 1/1 complete") }, "\(run.stdout)")
    }

    @Test func outputNamesTheFileOfASingleURL() async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let body = seededBytes(100_000, seed: 10)
        server.serve(body, at: "/f.bin")
        let run = try await Self.run(["-q", "-o", "renamed.bin", "-d", dir.url.path, server.url(for: "/f.bin").absoluteString],
                                     stderrFile: dir.file("stderr.txt"))
        #expect(run.status == .exited(0))
        #expect(contents(of: dir.file("renamed.bin")) == Data(body))
        #expect(!exists(dir.file("f.bin")))
        // -q: nothing at all on success.
        #expect(run.stdout.isEmpty && run.stderr.isEmpty, "\(run.stdout + run.stderr)")
        // -o naming an existing directory is refused.
        let refused = try await Self.run(["-o", dir.url.path, server.url(for: "/f.bin").absoluteString],
                                         stderrFile: dir.file("stderr.txt"))
        #expect(refused.status == .exited(64) && refused.stderr.count == 1, "\(refused.stderr)")
    }

    @Test(arguments: ["urlsession", "sockets"])
    func headersReachTheServerOnTheEngineChosen(engine: String) async throws {
        let server = try FaultyHTTPServer(); defer { server.stop() }
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let body = seededBytes(200_000, seed: 11)
        server.serve(body, at: "/h.bin")
        let run = try await Self.run(["-q", "--engine", engine, "-H", "X-Token: abc 123", "--header", "Accept-Language:de",
                                      "-d", dir.url.path, server.url(for: "/h.bin").absoluteString],
                                     stderrFile: dir.file("stderr.txt"))
        #expect(run.status == .exited(0), "\(run.stdout + run.stderr)")
        #expect(contents(of: dir.file("h.bin")) == Data(body))
        let sent = try #require(server.requests(for: "/h.bin").first)
        #expect(sent.headers["X-Token"] == "abc 123" && sent.headers["Accept-Language"] == "de")
        // The engine shows in what it sends: URLSession asks for a first window, the socket engine for all of it.
        #expect(sent.range == (engine == "sockets" ? nil : RangeResumer.Engine.urlSession.rangeField(from: 0)))
    }

    @Test(arguments: [["-H", "NoColon"], ["-H", "Range: bytes=0-"], ["-H", "X-A: 1", "-H", "x-a: 2"],
                      ["-H", "X-A: line\r\nX-Injected: 1"], ["--engine", "curl"]])
    func badHeaderOrEngineExits64WithOneLine(flags: [String]) async throws {
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let run = try await Self.run(flags + ["http://127.0.0.1:9/f.bin"], stderrFile: dir.file("stderr.txt"))
        #expect(run.status == .exited(64) && run.stderr.count == 1, "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }

    @Test func aMirrorServesTheFileWhenTheURLAnswers503() async throws {
        let primary = try FaultyHTTPServer(), mirror = try FaultyHTTPServer()
        let dir = try ScratchDirectory()
        defer { primary.stop(); mirror.stop(); dir.cleanup() }
        let body = seededBytes(200_000, seed: 11)
        primary.serve(body, at: "/f.bin")
        mirror.serve(body, at: "/f.bin")
        primary.enqueueFaults([.status(503), .status(503)], for: "/f.bin")
        let run = try await Self.run(["--retries", "2", "-d", dir.url.path, "--mirror", mirror.url(for: "/f.bin").absoluteString,
                                      primary.url(for: "/f.bin").absoluteString], stderrFile: dir.file("stderr.txt"))
        #expect(run.status == .exited(0), "\(run.stdout + run.stderr)")
        #expect(contents(of: dir.file("f.bin")) == Data(body))
        #expect(run.stderr.contains("f.bin: next attempt from mirror \(mirror.url(for: "/f.bin").absoluteString)"), "\(run.stderr)")
        #expect(run.stderr.contains { $0.hasPrefix("f.bin: HTTP 503 Service Unavailable; retrying in ") }, "\(run.stderr)")
        #expect(primary.requests(for: "/f.bin").count == 1 && mirror.requests(for: "/f.bin").count >= 1)
        // --mirror with two URLs is refused.
        let refused = try await Self.run(["--mirror", mirror.url(for: "/f.bin").absoluteString, "-d", dir.url.path,
                                          primary.url(for: "/a.bin").absoluteString, primary.url(for: "/b.bin").absoluteString],
                                         stderrFile: dir.file("stderr.txt"))
        #expect(refused.status == .exited(64) && refused.stderr.count == 1, "\(refused.stderr)")
    }

    @Test func versionAndHelp() async throws {
        let dir = try ScratchDirectory(); defer { dir.cleanup() }
        let version = try await Self.run(["--version"], stderrFile: dir.file("stderr.txt"))
        #expect(version.status == .exited(0) && version.stdout.count == 1)
        #expect(version.stdout.first?.hasPrefix("resilient-download") == true)
        let help = try await Self.run(["--help"], stderrFile: dir.file("stderr.txt"))
        #expect(help.status == .exited(0))
        let wide = help.stdout.filter { $0.count > 80 }
        #expect(wide.isEmpty, "\(wide)")
        #expect(help.stdout.contains { $0.contains("-d, --dir DIR") } && help.stdout.contains { $0.contains("Exit status") })
    }
}
