extension Dictionary where Key == String, Value == String {
    /// These header fields with `fields` laid over them: a field of `fields` replaces one of the
    /// same name **ignoring case** (HTTP field names ignore case), so no name is sent twice.
    package func replacingFields(with fields: [String: String]) -> [String: String] {
        guard !fields.isEmpty else { return self }
        let replaced = Set(fields.keys.map { $0.lowercased() })
        return filter { !replaced.contains($0.key.lowercased()) }.merging(fields) { _, new in new }
    }
}
