// A child process for RangeResume tests that must run in another environment than the test
// process (e.g. a private mount namespace that trusts a test certificate authority):
// `RangeResumeChild URL DESTINATION` downloads URL with the default (URLSession) engine and
// prints one line: `ok <length> <sha256>`, `insecureRedirect <url>` or `error <description>`.
import Foundation
import RangeResume

let arguments = CommandLine.arguments
guard arguments.count == 3, let url = URL(string: arguments[1]) else {
    print("usage: RangeResumeChild URL DESTINATION")
    exit(2)
}
do {
    let result = try await RangeResumer().download(from: url, to: URL(fileURLWithPath: arguments[2]))
    print("ok \(result.length) \(result.sha256 ?? "-")")
    exit(0)
} catch RangeResumeError.insecureRedirect(let target) {
    print("insecureRedirect \(target.absoluteString)")
    exit(1)
} catch {
    print("error \(error)")
    exit(1)
}
