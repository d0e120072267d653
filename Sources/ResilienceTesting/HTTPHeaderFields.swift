/// The header fields of a request as received: in order, with names as the client spelled them,
/// looked up case-insensitively (HTTP field names are case-insensitive).
public struct HTTPHeaderFields: Sendable, Hashable, Sequence, CustomStringConvertible {
    /// One field line.
    public struct Field: Sendable, Hashable {
        /// The field name as received, e.g. `If-Range`.
        public var name: String
        /// The value with surrounding whitespace removed.
        public var value: String

        /// Creates a field.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// All field lines in the order received (repeated names stay separate).
    public var fields: [Field]

    /// Creates a list from `fields`.
    public init(_ fields: [Field] = []) {
        self.fields = fields
    }

    /// The value of the first field called `name` (any case), or `nil`.
    public subscript(name: String) -> String? {
        let lowered = name.lowercased()
        return fields.first { $0.name.lowercased() == lowered }?.value
    }

    /// The values of every field called `name` (any case), in order.
    public func values(for name: String) -> [String] {
        let lowered = name.lowercased()
        return fields.filter { $0.name.lowercased() == lowered }.map(\.value)
    }

    /// Whether a field called `name` (any case) is present.
    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Iterates the fields in the order received.
    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// The fields as `Name: value` lines.
    public var description: String {
        fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }
}
