import Foundation

extension ChildProcess {
    /// The path of an executable built beside the running test binary: an `executableTarget`
    /// listed in the test target's dependencies (SwiftPM puts both in one products directory).
    ///
    /// On Linux the test binary is `/proc/self/exe`; on Apple platforms the tests run inside an
    /// `.xctest` bundle, which is climbed out of. The file may not exist (a target not built):
    /// ``init(executable:arguments:)`` then throws.
    public static func siblingExecutable(named name: String) -> URL {
        #if os(Linux)
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        #else
        let testBinary = Bundle.main.bundleURL.appending(path: "placeholder")
        #endif
        var directory = testBinary.deletingLastPathComponent()
        while directory.pathComponents.contains(where: { $0.hasSuffix(".xctest") }) {
            directory.deleteLastPathComponent()
        }
        return directory.appending(path: name)
    }
}
