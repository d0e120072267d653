import Foundation
import RangeResume

/// The parsed command line of `resilient-download` (parsed by hand: the package has no
/// dependencies).
struct CommandLineOptions: Equatable {
    /// What to do.
    enum Mode: Equatable {
        /// No arguments: the self-contained demo against a local faulty server.
        case demo
        /// `--help`.
        case help
        /// `--version`.
        case version
        /// Download `urls` (into `directory`, or to `outputFile`).
        case download
    }

    var mode = Mode.demo
    var urls: [URL] = []
    /// `--mirror`: other URLs serving the same bytes as the single URL, tried after it.
    var mirrors: [URL] = []
    /// `-d/--dir`: where the files go (created if missing); default the current directory.
    var directory: String?
    /// `-o/--output`: the file name of a single URL (relative to `directory` when given).
    var outputFile: String?
    var journal: String?
    var concurrency = 3
    var connections = 1
    var sha256: [String] = []
    var checkpointMiB = 64
    /// Retries after the first attempt of a file (`--retries`).
    var retries = 4
    /// Seconds without data that count as a stall (`--timeout`).
    var timeoutSeconds = 30
    /// `-q/--quiet`: no progress and no summary; failures still go to stderr.
    var quiet = false
    /// `-H/--header "Name: value"` (repeatable): sent with every request, after validation.
    var headers: [String: String] = [:]
    /// `--engine urlsession|sockets`.
    var engine = RangeResumer.Engine.urlSession

    /// A one-line reason the arguments were refused (exit status 64).
    struct UsageError: Error, Equatable, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// What `--version` prints.
    static let version = "resilient-download (DownloadResilience, unreleased)"

    /// What `--help` prints: at most 80 columns.
    static let usage = """
        usage: resilient-download [options] URL...
               resilient-download              run the demo (local server, 25 % faults)

        Downloads each URL, resuming interrupted transfers. The journal remembers every
        job: after a crash or kill -9, run the command again and it continues at once.
        A new URL for the same file wins; the .part is kept when --sha256 is given.

          -d, --dir DIR        save into DIR, created if missing (default: .)
          -o, --output FILE    save the single URL as FILE (relative to -d DIR)
          --journal PATH       the job journal (default DIR/.resilient-download.journal)
          --concurrency N      files downloaded at once (1 to 64, default 3)
          --connections N      connections per file (1 to 64, default 1); above 1,
                               files of 4 MiB or more are fetched in segments
          --sha256 HEX         expected SHA-256 of a file; once per URL, in order
          --mirror URL         another URL with the same bytes as the single URL
                               (repeatable), tried after a connection error or a 5xx
          --checkpoint-mib N   MiB between durable checkpoints (1 to 1024, default 64)
          --retries N          retries per file after the first attempt (default 4)
          --timeout SECONDS    no data for this long counts as a stall (default 30)
          -H, --header 'N: V'  send this header field too (repeatable)
          --engine NAME        urlsession (default; http, https, redirects) or
                               sockets (plain http only; fastest, least memory)
          -q, --quiet          print nothing but failures (on stderr)
          -h, --help           print this help
          --version            print the version

        Progress goes to stderr, the summary table to stdout.

        Examples:
          resilient-download https://example.com/big.iso
          resilient-download -d ~/Downloads --sha256 HEX https://example.com/big.iso
          resilient-download -o latest.iso https://example.com/big-2026-12.iso
          resilient-download -q -d out https://a.example/1.bin https://a.example/2.bin

        Exit status: 0 when every file is complete and verified; 1 when any failed
        (one line per failed URL on stderr); 64 for bad arguments.
        """

    /// `text` as an `http`/`https` URL with a host.
    static func httpURL(_ text: String) throws(UsageError) -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", url.host != nil else {
            throw UsageError(message: "not an http or https URL: '\(text)'")
        }
        return url
    }

    /// `Name: value` as a header field, checked by the library's own rules (`RequestValidator`:
    /// no CR/LF, no field the engine owns, such as `Range` or `Host`).
    static func headerField(_ text: String) throws(UsageError) -> (String, String) {
        guard let colon = text.firstIndex(of: ":") else {
            throw UsageError(message: "-H needs 'Name: value', not '\(text)'")
        }
        let name = String(text[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        do {
            try RequestValidator.validate(headers: [name: value], field: "-H")
        } catch {
            throw UsageError(message: "\(DownloadErrorDescription.describe(error))")
        }
        return (name, value)
    }

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
            case "--version":
                options.mode = .version
                return options
            case "-q", "--quiet": options.quiet = true
            case "-d", "--dir": options.directory = try value(for: argument)
            case "-o", "--output": options.outputFile = try value(for: argument)
            case "--journal": options.journal = try value(for: argument)
            case "--concurrency": options.concurrency = try number(for: argument, in: 1...64)
            case "--connections": options.connections = try number(for: argument, in: 1...64)
            case "--checkpoint-mib": options.checkpointMiB = try number(for: argument, in: 1...1024)
            case "--retries": options.retries = try number(for: argument, in: 0...100)
            case "--timeout": options.timeoutSeconds = try number(for: argument, in: 1...3600)
            case "--mirror": options.mirrors.append(try httpURL(try value(for: argument)))
            case "-H", "--header":
                let (name, fieldValue) = try headerField(try value(for: argument))
                if options.headers.keys.contains(where: { $0.lowercased() == name.lowercased() }) {
                    throw UsageError(message: "-H '\(name)' is given twice")
                }
                options.headers[name] = fieldValue
            case "--engine":
                switch try value(for: argument).lowercased() {
                case "urlsession": options.engine = .urlSession
                case "sockets": options.engine = .posixSockets
                case let other: throw UsageError(message: "--engine is urlsession or sockets, not '\(other)'")
                }
            case "--sha256":
                let hex = try value(for: argument).lowercased()
                guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                    throw UsageError(message: "--sha256 needs 64 hexadecimal digits, not '\(hex)'")
                }
                options.sha256.append(hex)
            default:
                if argument.hasPrefix("-") { throw UsageError(message: "unknown option '\(argument)'") }
                let url = try httpURL(argument)
                guard !url.lastPathComponent.isEmpty, url.lastPathComponent != "/" else {
                    throw UsageError(message: "URL has no file name to save as: '\(argument)'")
                }
                options.urls.append(url)
            }
            index += 1
        }
        guard !options.urls.isEmpty else { throw UsageError(message: "no URL given") }
        guard options.mirrors.isEmpty || options.urls.count == 1 else {
            throw UsageError(message: "--mirror goes with a single URL, but \(options.urls.count) were given")
        }
        guard options.mirrors.count <= 32 else { throw UsageError(message: "at most 32 mirrors") }
        if let file = options.outputFile {
            guard options.urls.count == 1 else {
                throw UsageError(message: "-o names one file, but \(options.urls.count) URLs were given (use -d DIR)")
            }
            guard !file.hasSuffix("/") else { throw UsageError(message: "-o names a file, not a directory: '\(file)' (use -d DIR)") }
            guard options.directory == nil || !file.hasPrefix("/") else {
                throw UsageError(message: "-o '\(file)' is an absolute path: it cannot be combined with -d")
            }
        }
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

extension CommandLineOptions {
    /// Where `url` is saved: `-o` (relative to `-d`, else to the current
    /// directory), else `-d` (default the current directory) plus the URL's last path component.
    func destination(for url: URL) -> URL {
        let directory = URL(fileURLWithPath: self.directory ?? ".", isDirectory: true)
        guard let outputFile else { return directory.appendingPathComponent(url.lastPathComponent).standardizedFileURL }
        let file = outputFile.hasPrefix("/") ? URL(fileURLWithPath: outputFile)
            : URL(fileURLWithPath: outputFile, relativeTo: directory)
        return file.standardizedFileURL
    }
}
