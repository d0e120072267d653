import Foundation
import PostgresNIO

/// Builds one SQL statement whose values travel as bind parameters (`$1`, `$2`, ...), never as
/// text, and whose wall time is either a bound `now` or the server's `statement_timestamp()`.
struct SQLBuilder {
    private(set) var sql = ""
    private(set) var binds = PostgresBindings()
    /// The SQL expression for "now" in this statement (bound once, reused).
    private(set) var now = "statement_timestamp()"

    /// A statement using the caller's `now`, or the server clock when `now` is `nil`.
    init(now: Date?) {
        if let now { self.now = bind(now) }
    }

    /// Appends a value as the next bind parameter and returns its placeholder, e.g. `"$3"`.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// Appends an optional value (`NULL` for `nil`) and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// The SQL for `now + duration` (microsecond precision, like `timestamptz`).
    mutating func now(plus duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let microseconds = seconds * 1_000_000 + attoseconds / 1_000_000_000_000
        return "(\(now) + \(bind(microseconds)) * interval '1 microsecond')"
    }

    /// Appends SQL text.
    mutating func append(_ text: String) { sql += text }

    /// The finished statement.
    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
