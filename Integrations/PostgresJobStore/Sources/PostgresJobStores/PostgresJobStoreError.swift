/// What ``PostgresJobStore`` throws besides `JobStoreError` (the protocol's errors: lease lost,
/// illegal transition, unknown job, invalid argument) and the `PSQLError`s of PostgresNIO (the
/// server is unreachable, a statement failed).
public enum PostgresJobStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The database holds a schema version newer than this library knows: it was migrated by a
    /// newer release. Nothing was changed; upgrade the library instead (never downgrade a schema).
    case newerSchema(found: Int, supported: Int)
    /// A schema or table name is not a plain lowercase SQL identifier (`[a-z_][a-z0-9_]*`, at most
    /// 48 bytes, leaving room for the index names derived from it).
    case invalidIdentifier(String)
    /// A row read back from the table does not describe a valid job (for example an unknown
    /// `state`): someone wrote to the table behind the store's back.
    case corruptRow(reason: String)

    /// A one-line human-readable form.
    public var description: String {
        switch self {
        case .newerSchema(let found, let supported):
            "the job table has schema version \(found), newer than the supported version \(supported)"
        case .invalidIdentifier(let name): "\"\(name)\" is not a plain lowercase SQL identifier"
        case .corruptRow(let reason): "invalid job row: \(reason)"
        }
    }
}
