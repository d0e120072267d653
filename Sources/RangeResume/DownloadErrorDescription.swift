import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ResilienceSupport

/// One short, stable line for any error a download meets, worded as curl words it — the form a
/// `DownloadQueue` stores as a job's `lastError` and `resilient-download` prints:
///
/// | error | line |
/// |-------|------|
/// | `URLError(.cannotConnectToHost)` | `connection refused (127.0.0.1:45275)` |
/// | `HTTPStatusError(status: 404)` | `HTTP 404 Not Found` |
/// | `RangeResumeError.stalled(timeout: .seconds(30))` | `no data for 30 s` |
/// | `IntegrityError` (SHA-256) | `SHA-256 mismatch (expected 9f86…, got 2c26…)` |
/// | `RangeResumeError.fileSystem` with `ENOSPC` | `no space left on device (/data/big.bin.part); partial file kept` |
///
/// `URLError`s (which Foundation prints as `Error Domain=NSURLErrorDomain Code=-1004 …`) get a
/// phrase per code and the host and port (from the error's failing URL, else `url`); the
/// package's own errors use their `description`; any other `NSError` is named by domain and
/// code. Never an `Error Domain=` dump.
public enum DownloadErrorDescription {
    /// The line for `error`. `url`, when given, is the URL the failed request went to: it names
    /// the host of a connection-level error that does not carry its failing URL.
    public static func describe(_ error: any Error, url: URL? = nil) -> String {
        switch error {
        case let error as URLError:
            return "\(phrase(for: error.code)) (\(endpoint(error.failingURL ?? url)))"
        case is CancellationError:
            return "cancelled"
        default:
            let text = String(describing: error)
            guard text.hasPrefix("Error Domain=") else { return text }
            let bridged = error as NSError
            if bridged.domain == NSPOSIXErrorDomain, let code = Int32(exactly: bridged.code) {
                return ErrnoDescription.text(code)
            }
            return "\(bridged.domain) error \(bridged.code)"
        }
    }

    /// `30 s`, `1.5 s`: a duration as a line shows it.
    public static func seconds(_ duration: Duration) -> String {
        let (whole, fraction) = duration.components
        if fraction == 0 { return "\(whole) s" }
        return String(format: "%.1f s", Double(whole) + Double(fraction) * 1e-18)
    }

    /// `host:port` of `url` (the scheme's default port when it names none), or `unknown host`.
    static func endpoint(_ url: URL?) -> String {
        guard let url, let host = url.host else { return "unknown host" }
        let port = url.port ?? (url.scheme?.lowercased() == "https" ? 443 : 80)
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// What went wrong, for the `URLError` codes the engines surface.
    static func phrase(for code: URLError.Code) -> String {
        switch code {
        case .cannotConnectToHost: "connection refused"
        case .cannotFindHost, .dnsLookupFailed: "host not found"
        case .timedOut: "timed out"
        case .networkConnectionLost: "connection lost"
        case .notConnectedToInternet: "no network"
        case .badServerResponse: "bad response from server"
        case .secureConnectionFailed: "TLS handshake failed"
        case .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateHasUnknownRoot,
             .serverCertificateNotYetValid: "untrusted server certificate"
        case .httpTooManyRedirects: "too many redirects"
        case .redirectToNonExistentLocation: "redirect without a location"
        case .unsupportedURL: "unsupported URL"
        case .cancelled: "cancelled"
        case .resourceUnavailable: "resource unavailable"
        case .zeroByteResource: "empty response"
        case .cannotDecodeRawData, .cannotDecodeContentData, .cannotParseResponse: "unreadable response"
        case .dataLengthExceedsMaximum: "response too large"
        default: "network error \(code.rawValue)"
        }
    }
}
