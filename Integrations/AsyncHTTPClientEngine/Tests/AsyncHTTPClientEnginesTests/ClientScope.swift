import AsyncHTTPClient
import AsyncHTTPClientEngines

/// Runs `body` with a fresh `HTTPClient` made from `configuration`, and shuts the client down
/// afterwards whether `body` returned or threw (an `HTTPClient` must be shut down before it goes).
func withClient<T>(_ configuration: HTTPClient.Configuration = AsyncHTTPClientEngine.configuration(),
                   _ body: (HTTPClient) async throws -> T) async throws -> T {
    let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    let result: Result<T, any Error>
    do { result = .success(try await body(client)) } catch { result = .failure(error) }
    try await client.shutdown()
    return try result.get()
}
