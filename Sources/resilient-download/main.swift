// resilient-download: the DownloadResilience demo and a small resumable downloader.
// Run with no arguments for the demo, or `--help` for usage.
import Foundation
import RangeResume

let status: Int32
do {
    let options = try CommandLineOptions.parse(Array(CommandLine.arguments.dropFirst()))
    switch options.mode {
    case .help:
        print(CommandLineOptions.usage)
        status = 0
    case .version:
        print(CommandLineOptions.version)
        status = 0
    case .demo:
        status = try await DemoRun.run()
    case .download:
        status = try await URLRun.run(options)
    }
} catch let error as CommandLineOptions.UsageError {
    printError("resilient-download: \(error.message) (see --help)")
    status = 64
} catch {
    printError("resilient-download: \(DownloadErrorDescription.describe(error))")
    status = 1
}
exit(status)
