import Foundation

/// Supplies credentials for each request, so that secrets never sit in a configuration, a job or
/// a journal.
///
/// ``RangeResumer`` (and `DownloadQueue`, through its configuration) asks before **every** attempt
/// and adds the fields returned to that attempt's request — after the configured
/// `additionalHeaders`, so a field returned here wins. When the server answers `401` (to the
/// response head, or to a later `Range` window of the URLSession engine), the resumer asks once
/// more with `refresh: true` and sends the request again, resuming with `Range` from the bytes
/// already durable; a second `401` in the same attempt is final (`HTTPStatusError` 401). The
/// same rule as Alamofire's `AuthenticationInterceptor`.
///
/// The fields go through the same checks as every caller-given field (`RequestValidator`: no
/// CR/LF/NUL, no `Host`, `Range`, …), and are dropped, like any `Authorization`, `Cookie` or
/// `Proxy-Authorization`, on a redirect to another origin.
///
/// ```swift
/// struct BearerToken: RequestAuthorizer {
///     let tokens: TokenSource   // your own actor that caches and renews a token
///     func authorizationHeaders(for url: URL, refresh: Bool) async throws -> [String: String] {
///         ["Authorization": "Bearer \(try await tokens.current(renew: refresh))"]
///     }
/// }
/// ```
public protocol RequestAuthorizer: Sendable {
    /// The header fields to add to the next request for `url`, e.g. `Authorization: Bearer …`.
    ///
    /// - Parameter refresh: `true` when the server answered `401` to the fields returned last:
    ///   return fresh ones (renew an expired token). `false` before an attempt's first request.
    /// - Throws: anything; the download ends with that error (the `.part` is kept).
    func authorizationHeaders(for url: URL, refresh: Bool) async throws -> [String: String]
}

extension RequestAuthorizer {
    /// ``authorizationHeaders(for:refresh:)``, checked by ``RequestValidator`` like every caller
    /// field (an error names `authorizer["Name"]`): what the resumer and the fetcher send.
    func checkedHeaders(for url: URL, refresh: Bool) async throws -> [String: String] {
        let credentials = try await authorizationHeaders(for: url, refresh: refresh)
        try RequestValidator.validate(headers: credentials, field: "authorizer")
        return credentials
    }
}
