#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `errno` values in words, for the one-line descriptions of the package's public errors:
/// `no space left on device (/data/big.bin.part)` rather than `errno 28`.
package enum ErrnoDescription {
    /// The C library's message for `code`, starting lowercase (e.g. `"no space left on device"`);
    /// `"error <code>"` when it has none.
    package static func text(_ code: Int32) -> String {
        guard let message = strerror(code) else { return "error \(code)" }
        let text = String(cString: message)
        guard let first = text.first else { return "error \(code)" }
        return first.lowercased() + text.dropFirst()
    }

    /// `"<text> (<path>)"`, e.g. `"permission denied (/data/big.bin.part)"`.
    package static func describe(_ code: Int32, path: String) -> String {
        "\(text(code)) (\(path))"
    }
}
