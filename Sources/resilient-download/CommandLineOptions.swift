import Foundation

/// The parsed command line of `resilient-download` (parsed by hand: the package has no
/// dependencies).
struct CommandLineOptions: Equatable {
    /// What to do.
    enum Mode: Equatable {
        /// No arguments: the self-contained demo against a local faulty server.
        case demo
        /// `--help`.
        case help
        /// Download `urls` into `outputDirectory`.
        case download
    }

    var mode = Mode.demo
    var urls: [URL] = []
    var outputDirectory: String?
    var journal: String?
    var concurrency = 3
    var connections = 1
    var sha256: [String] = []
    var checkpointMiB = 64
    /// Retries after the first attempt of a file (`--retries`).
    var retries = 4
    /// Seconds without data that count as a stall (`--timeout`).
    var timeoutSeconds = 30

    /// A one-line reason the arguments were refused (exit status 64).
    struct UsageError: Error, Equatable, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    static let usage = """
        usage: resilient-download                       run the demo (local server, 25 % faults)
               resilient-download [--journal PATH] [--concurrency N] [--connections N]
                                  [--sha256 HEX]... [--checkpoint-mib N] [--retries N]
                                  [--timeout SECONDS] URL... -o DIR
               resilient-download --help

        Downloads each URL to DIR/<last path component>, resuming interrupted transfers. The
        journal (default DIR/.resilient-download.journal) remembers every job: run the
        command again after a crash or kill -9 and it continues where it stopped, at once. A
        new URL for the same file wins; the .part is kept if --sha256 is given (or the new
        URL's validator is known), else the file is fetched anew.

          -o, --output DIR     directory for the files (must exist)
          --journal PATH       the job journal
          --concurrency N      files downloaded at once (default 3)
          --connections N      connections per file (default 1); above 1, files of 4 MiB or
                               more from servers with ranges are fetched in segments
          --sha256 HEX         expected SHA-256 of a file; give it once per URL, in order
          --checkpoint-mib N   MiB between durable checkpoints of a .part (1 to 1024, default
                               64): at most this much (plus 1 MiB) is fetched again after kill -9
          --retries N          retries per file after its first attempt (0 to 100, default 4)
          --timeout SECONDS    no data for this long counts as a stall (default 30)
          -h, --help           print this help

        Exit status: 0 when every file is complete and verified, 1 when any failed (one line
        per failed URL on stderr), 64 for bad arguments.
        """

    /// Parses `arguments` (without the program name).
    static func parse(_ arguments: [String]) throws(UsageError) -> CommandLineOptions {
        var options = CommandLineOptions()
        if arguments.isEmpty { return options }
        options.mode = .download
        var index = 0
        func value(for flag: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count, !arguments[index].isEmpty else {
                throw UsageError(message: "\(flag) needs a value")
            }
            return arguments[index]
        }
        func number(for flag: String, in range: ClosedRange<Int>) throws(UsageError) -> Int {
            let text = try value(for: flag)
            guard let number = Int(text), range.contains(number) else {
                throw UsageError(message: "\(flag) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
            }
            return number
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-h", "--help":
                options.mode = .help
                return options
            case "-o", "--output": options.outputDirectory = try value(for: argument)
            case "--journal": options.journal = try value(for: argument)
            case "--concurrency": options.concurrency = try number(for: argument, in: 1...64)
            case "--connections": options.connections = try number(for: argument, in: 1...64)
            case "--checkpoint-mib": options.checkpointMiB = try number(for: argument, in: 1...1024)
            case "--retries": options.retries = try number(for: argument, in: 0...100)
            case "--timeout": options.timeoutSeconds = try number(for: argument, in: 1...3600)
            case "--sha256":
                let hex = try value(for: argument).lowercased()
                guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                    throw UsageError(message: "--sha256 needs 64 hexadecimal digits, not '\(hex)'")
                }
                options.sha256.append(hex)
            default:
                if argument.hasPrefix("-") { throw UsageError(message: "unknown option '\(argument)'") }
                guard let url = URL(string: argument), let scheme = url.scheme?.lowercased(),
                      scheme == "http" || scheme == "https", url.host != nil else {
                    throw UsageError(message: "not an http or https URL: '\(argument)'")
                }
                guard !url.lastPathComponent.isEmpty, url.lastPathComponent != "/" else {
                    throw UsageError(message: "URL has no file name to save as: '\(argument)'")
                }
                options.urls.append(url)
            }
            index += 1
        }
        guard !options.urls.isEmpty else { throw UsageError(message: "no URL given") }
        guard options.outputDirectory != nil else { throw UsageError(message: "no output directory given (-o DIR)") }
        guard options.sha256.isEmpty || options.sha256.count == options.urls.count else {
            throw UsageError(message: "give --sha256 once per URL (\(options.urls.count)), not \(options.sha256.count) times")
        }
        let names = options.urls.map(\.lastPathComponent)
        if let duplicate = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
            throw UsageError(message: "two URLs would both be saved as '\(duplicate)'")
        }
        return options
    }
}
