import Foundation
import RangeResume

/// The package's redirect rules, as every engine that follows redirects applies them: `https` →
/// anything else is refused, and the credential fields never reach another origin (curl's rule).
enum RedirectRule {
    /// Header fields that carry credentials (lowercased).
    static let credentialFields: Set<String> = ["authorization", "cookie", "proxy-authorization"]

    /// Where `head` (the answer to a request for `url`) redirects to, or `nil` when it is not a
    /// redirect: a 3xx other than `304` with a `Location` that resolves against `url`.
    static func target(of head: TransportResponseHead, from url: URL) -> URL? {
        guard (300...399).contains(head.status), head.status != 304, let location = head["location"],
              let target = URL(string: location.trimmingCharacters(in: .whitespaces), relativeTo: url) else { return nil }
        return target.absoluteURL
    }

    /// Whether a redirect from `url` to `target` may be followed: to `https` always, to `http`
    /// only from `http`.
    static func allows(from url: URL, to target: URL) -> Bool {
        switch (url.scheme?.lowercased(), target.scheme?.lowercased()) {
        case (_, "https"?), ("http"?, "http"?): true
        default: false
        }
    }

    /// `headers` without the credential fields when `target`'s origin differs from `original`'s.
    static func headers(_ headers: [String: String], from original: URL, to target: URL) -> [String: String] {
        guard !sameOrigin(original, target) else { return headers }
        return headers.filter { !credentialFields.contains($0.key.lowercased()) }
    }

    /// Whether two URLs share scheme, host and port (the origin, RFC 6454; a URL without a
    /// scheme or host shares it with nothing).
    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        guard let origin = origin(of: a) else { return false }
        return origin == self.origin(of: b)
    }

    /// `scheme://host:port`, lowercased, with the scheme's default port filled in.
    static func origin(of url: URL) -> String? {
        guard let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else { return nil }
        return "\(scheme)://\(host):\(url.port ?? (scheme == "https" ? 443 : 80))"
    }
}
