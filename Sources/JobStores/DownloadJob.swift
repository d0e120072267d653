import Foundation

/// One download tracked by a ``JobStore``: what to fetch, where to put it, and where it stands.
///
/// Build one with ``init(id:url:mirrors:destination:expectedLength:expectedSHA256:priority:maxAttempts:notBefore:metadata:headers:)``
/// and pass it to ``JobStore/enqueue(_:now:)``; the store owns every other field from then on
/// (state, attempts, lease, progress, timestamps) and returns updated copies. A `DownloadJob` is
/// a value: a copy never changes behind your back.
public struct DownloadJob: Sendable, Hashable, Codable, Identifiable {
    /// Unique id, chosen by the caller (default: a random UUID).
    public var id: UUID
    /// Where to fetch the file.
    public var url: URL
    /// Alternative URLs serving the same bytes, tried by workers in order.
    public var mirrors: [URL]
    /// The local file path the download ends at. At most one non-terminal job per destination
    /// (see ``JobStore/enqueue(_:now:)``).
    public var destination: String
    /// The expected size in bytes, when known.
    public var expectedLength: Int64?
    /// The expected SHA-256 of the whole file, lowercase hex, when known.
    public var expectedSHA256: String?
    /// Higher runs first; ties go to the oldest job.
    public var priority: Int
    /// Where the job is in its lifecycle.
    public var state: JobState
    /// How many times a worker claimed the job (each claim starts an attempt).
    public var attempts: Int
    /// The most attempts: a retry or lease expiry after this many fails the job. At least 1.
    public var maxAttempts: Int
    /// The wall time before which a `pending`/`retrying` job is not claimed.
    public var nextAttemptAt: Date
    /// Bytes written to the destination so far, as last reported by the worker.
    public var bytesDone: Int64
    /// The total size as last reported by the worker, when known.
    public var bytesTotal: Int64?
    /// The error of the last failed attempt, if any.
    public var lastError: JobFailure?
    /// The worker holding the lease while `running`.
    public var leaseOwner: String?
    /// When the lease of a `running` job expires: after it, other workers may claim the job.
    public var leaseExpiresAt: Date?
    /// When the job was enqueued (the store's `now`).
    public var createdAt: Date
    /// When the job last changed (the store's `now`).
    public var updatedAt: Date
    /// Small caller data carried with the job (at most ``maximumMetadataBytes`` in UTF-8).
    public var metadata: [String: String]
    /// HTTP header fields sent with every request of this job (e.g. `Accept`, a `User-Agent`),
    /// persisted with it: **never put a secret here** — it is written to the store in clear. Give
    /// credentials through a `RequestAuthorizer` instead. At most ``maximumHeaderBytes`` in UTF-8;
    /// a queue checks the fields with `RequestValidator` before they reach the store.
    public var headers: [String: String]

    /// The most UTF-8 bytes of keys and values in ``metadata``: 64 KiB.
    public static let maximumMetadataBytes = 64 * 1024
    /// The most UTF-8 bytes of a URL, destination, SHA-256 or owner string: 8 KiB.
    public static let maximumStringBytes = 8 * 1024
    /// The most mirror URLs: 32.
    public static let maximumMirrors = 32
    /// The most UTF-8 bytes of names and values in ``headers``: 16 KiB.
    public static let maximumHeaderBytes = 16 * 1024

    /// Describes a new job to enqueue.
    ///
    /// - Parameters:
    ///   - notBefore: the earliest wall time of the first attempt; `nil` means as soon as enqueued.
    ///   - maxAttempts: default 5; values below 1 are rejected by `enqueue`.
    public init(
        id: UUID = UUID(),
        url: URL,
        mirrors: [URL] = [],
        destination: String,
        expectedLength: Int64? = nil,
        expectedSHA256: String? = nil,
        priority: Int = 0,
        maxAttempts: Int = 5,
        notBefore: Date? = nil,
        metadata: [String: String] = [:],
        headers: [String: String] = [:]
    ) {
        self.id = id
        self.url = url
        self.mirrors = mirrors
        self.destination = destination
        self.expectedLength = expectedLength
        self.expectedSHA256 = expectedSHA256
        self.priority = priority
        self.state = .pending
        self.attempts = 0
        self.maxAttempts = maxAttempts
        self.nextAttemptAt = notBefore ?? .distantPast
        self.bytesDone = 0
        self.bytesTotal = nil
        self.lastError = nil
        self.leaseOwner = nil
        self.leaseExpiresAt = nil
        self.createdAt = .distantPast
        self.updatedAt = .distantPast
        self.metadata = metadata
        self.headers = headers
    }

    private enum CodingKeys: String, CodingKey {
        case id, url, mirrors, destination, expectedLength, expectedSHA256, priority, state, attempts, maxAttempts
        case nextAttemptAt, bytesDone, bytesTotal, lastError, leaseOwner, leaseExpiresAt, createdAt, updatedAt, metadata
        case headers
    }

    /// Decodes a job; `headers` may be missing (jobs encoded before it existed have none).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(UUID.self, forKey: .id)
        url = try c.decode(URL.self, forKey: .url)
        mirrors = try c.decode([URL].self, forKey: .mirrors)
        destination = try c.decode(String.self, forKey: .destination)
        expectedLength = try c.decodeIfPresent(Int64.self, forKey: .expectedLength)
        expectedSHA256 = try c.decodeIfPresent(String.self, forKey: .expectedSHA256)
        priority = try c.decode(Int.self, forKey: .priority)
        state = try c.decode(JobState.self, forKey: .state)
        attempts = try c.decode(Int.self, forKey: .attempts)
        maxAttempts = try c.decode(Int.self, forKey: .maxAttempts)
        nextAttemptAt = try c.decode(Date.self, forKey: .nextAttemptAt)
        bytesDone = try c.decode(Int64.self, forKey: .bytesDone)
        bytesTotal = try c.decodeIfPresent(Int64.self, forKey: .bytesTotal)
        lastError = try c.decodeIfPresent(JobFailure.self, forKey: .lastError)
        leaseOwner = try c.decodeIfPresent(String.self, forKey: .leaseOwner)
        leaseExpiresAt = try c.decodeIfPresent(Date.self, forKey: .leaseExpiresAt)
        createdAt = try c.decode(Date.self, forKey: .createdAt)
        updatedAt = try c.decode(Date.self, forKey: .updatedAt)
        metadata = try c.decode([String: String].self, forKey: .metadata)
        headers = try c.decodeIfPresent([String: String].self, forKey: .headers) ?? [:]
    }
}
