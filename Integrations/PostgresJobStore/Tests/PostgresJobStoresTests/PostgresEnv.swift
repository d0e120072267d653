import Foundation
import Testing
import PostgresJobStores
import PostgresNIO

/// The test server, from `POSTGRES_HOST`, `POSTGRES_PORT`, `POSTGRES_USER`, `POSTGRES_DB` (and
/// optionally `POSTGRES_PASSWORD`), as `scripts/with-postgres.sh` exports them. Without them
/// every test here is skipped and says why.
enum PostgresEnv {
    static let variables = ProcessInfo.processInfo.environment

    /// Whether a server is configured. Prints the reason the first time it is `false`.
    static let available: Bool = {
        let missing = ["POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_DB"].filter { variables[$0] == nil }
        if missing.isEmpty { return true }
        print("""
            PostgresJobStore tests SKIPPED: no PostgreSQL server configured (\(missing.joined(separator: ", ")) unset). \
            Run them with: bash scripts/with-postgres.sh swift test
            """)
        return false
    }()

    static let skipComment: Comment = "needs POSTGRES_HOST/PORT/USER/DB: run under scripts/with-postgres.sh"

    static func configuration(maximumConnections: Int) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: variables["POSTGRES_HOST"] ?? "127.0.0.1", port: Int(variables["POSTGRES_PORT"] ?? "") ?? 5432,
            username: variables["POSTGRES_USER"] ?? "postgres", password: variables["POSTGRES_PASSWORD"],
            database: variables["POSTGRES_DB"], tls: .disable
        )
        configuration.options.maximumConnections = maximumConnections
        return configuration
    }

    /// Runs `body` with a running client, then shuts the client down.
    static func withClient<Result: Sendable>(
        maximumConnections: Int = 8, _ body: @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        let client = PostgresClient(configuration: configuration(maximumConnections: maximumConnections))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }

    /// Runs `body` with a migrated store in a schema of its own (dropped afterwards), so tests
    /// running in parallel never see each other's jobs.
    static func withStore<Result: Sendable>(
        maximumConnections: Int = 8, timeSource: PostgresJobStore.TimeSource = .caller,
        _ body: @Sendable (PostgresJobStore) async throws -> Result
    ) async throws -> Result {
        try await withClient(maximumConnections: maximumConnections) { client in
            let schema = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
            let store = try PostgresJobStore(client: client, schema: String(schema), timeSource: timeSource)
            try await store.migrate()
            do {
                let result = try await body(store)
                try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \"\(schema)\" CASCADE"))
                return result
            } catch {
                _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \"\(schema)\" CASCADE"))
                throw error
            }
        }
    }
}

@Suite("Test environment")
struct PostgresEnvironmentTests {
    /// Skipping is for developers without a server; in CI (`CI=true`) these tests must run.
    @Test("in CI a PostgreSQL server is configured, so no PostgresJobStore test is skipped")
    func serverConfiguredInCI() {
        guard PostgresEnv.variables["CI"] == "true" else { return }
        #expect(PostgresEnv.available, "CI=true but no server: run the tests under scripts/with-postgres.sh")
    }
}
