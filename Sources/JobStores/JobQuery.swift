/// A filter for ``JobStore/jobs(matching:)``. Every non-`nil` field must match.
public struct JobQuery: Sendable, Hashable {
    /// Only jobs in one of these states.
    public var states: Set<JobState>?
    /// Only jobs with this destination.
    public var destination: String?
    /// Only jobs whose lease is held by this owner.
    public var leaseOwner: String?
    /// At most this many jobs (the oldest first).
    public var limit: Int?

    /// Creates a query; the default matches every job.
    public init(states: Set<JobState>? = nil, destination: String? = nil, leaseOwner: String? = nil, limit: Int? = nil) {
        self.states = states
        self.destination = destination
        self.leaseOwner = leaseOwner
        self.limit = limit
    }

    /// Every job.
    public static let all = JobQuery()

    /// Whether `job` matches.
    public func matches(_ job: DownloadJob) -> Bool {
        if let states, !states.contains(job.state) { return false }
        if let destination, job.destination != destination { return false }
        if let leaseOwner, job.leaseOwner != leaseOwner { return false }
        return true
    }
}
