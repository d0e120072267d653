import Foundation
import RangeResume
import ResilienceRetry

/// How a ``DownloadQueue`` schedules, retries and runs its jobs. Every field has a default.
public struct DownloadQueueConfiguration: Sendable {
    /// The most downloads running at once in this queue (an `AsyncSemaphore`). At least 1;
    /// default 3.
    public var maxConcurrentDownloads: Int
    /// The most downloads running at once against one host (`URL.host`), or `nil` (default) for
    /// no per-host limit. A job that waits for its host's permit keeps one of the
    /// ``maxConcurrentDownloads`` permits meanwhile.
    public var maxConcurrentDownloadsPerHost: Int?
    /// Which errors are retried and how long to wait before the next attempt. The queue persists
    /// each attempt in the store instead of looping in memory: `maxAttempts` becomes the job's
    /// ``JobStores/DownloadJob/maxAttempts`` (unless `enqueue` overrides it), the backoff and a
    /// server's `Retry-After` (capped at `maxRetryAfter`) give ``JobStores/DownloadJob/nextAttemptAt``,
    /// `maxElapsed` counts from the job's `createdAt`, and a `budget` is drawn on for each retry.
    /// Default ``ResilienceRetry/RetryPolicy/default``.
    public var retryPolicy: RetryPolicy
    /// How long a claim of a job lasts without renewal. A process that dies holding jobs frees
    /// them this long after its last renewal. Default 60 s; at least 1 ms.
    public var leaseDuration: Duration
    /// How often a running job's lease is renewed (and its progress written to the store), on
    /// the queue's clock. Default: a third of ``leaseDuration``.
    public var leaseRenewalInterval: Duration
    /// Keep `<destination>.part` and its sidecar when a job is cancelled, so that a later job for
    /// the same destination resumes from them. Default `false`: both are removed.
    public var keepsPartialFilesOnCancel: Bool
    /// The settings of the `RangeResumer` that makes each attempt (stall timeout, minimum speed,
    /// checkpoint interval, progress interval — which throttles the queue's progress events).
    public var resumer: RangeResumer.Configuration
    /// The HTTP engine of every request (single-connection and segmented). Default
    /// `.urlSession`; any `HTTPTransport` fits through `RangeResumer.Engine.custom(_:)`.
    public var engine: RangeResumer.Engine
    /// Connections per download. With more than 1, each attempt is a ``SegmentedDownload`` over
    /// up to this many connections (falling back to one connection for small files and servers
    /// without ranges; segments are retried inside the attempt with the segmented defaults, on
    /// the queue's transfer clock). Default 1: each attempt is one `RangeResumer` download.
    public var connectionsPerDownload: Int
    /// Supplies credentials before every attempt of every job (and once more after a `401`),
    /// so that tokens never reach the store: see `RangeResume.RequestAuthorizer`. Segmented
    /// attempts (``connectionsPerDownload`` above 1) ask it before every range request.
    /// Default `nil`.
    public var authorizer: (any RequestAuthorizer)?
    /// The lease owner this queue claims jobs as. Unique per queue instance by default
    /// (`<host>:<pid>:<random>`); two live queues must never share one.
    public var owner: String

    /// Creates a configuration; see each property for its default. Out-of-range values are
    /// clamped (a concurrency below 1 becomes 1, a lease below 1 ms becomes 1 ms).
    public init(
        maxConcurrentDownloads: Int = 3,
        maxConcurrentDownloadsPerHost: Int? = nil,
        retryPolicy: RetryPolicy = .default,
        leaseDuration: Duration = .seconds(60),
        leaseRenewalInterval: Duration? = nil,
        keepsPartialFilesOnCancel: Bool = false,
        resumer: RangeResumer.Configuration = RangeResumer.Configuration(),
        owner: String? = nil,
        connectionsPerDownload: Int = 1,
        engine: RangeResumer.Engine = .urlSession,
        authorizer: (any RequestAuthorizer)? = nil
    ) {
        self.maxConcurrentDownloads = max(1, maxConcurrentDownloads)
        self.maxConcurrentDownloadsPerHost = maxConcurrentDownloadsPerHost.map { max(1, $0) }
        self.retryPolicy = retryPolicy
        self.leaseDuration = max(leaseDuration, .milliseconds(1))
        let renewal = leaseRenewalInterval ?? self.leaseDuration / 3
        self.leaseRenewalInterval = min(max(renewal, .milliseconds(1)), self.leaseDuration)
        self.keepsPartialFilesOnCancel = keepsPartialFilesOnCancel
        self.resumer = resumer
        self.engine = engine
        self.owner = owner ?? Self.uniqueOwner()
        self.connectionsPerDownload = max(1, connectionsPerDownload)
        self.authorizer = authorizer
    }

    /// `<host>:<pid>:<8 random hex digits>`.
    static func uniqueOwner() -> String {
        let host = ProcessInfo.processInfo.hostName
        let suffix = String(UInt32.random(in: .min ... .max), radix: 16)
        return "\(host):\(ProcessInfo.processInfo.processIdentifier):\(suffix)"
    }
}
