/// What an operation run by ``retry(_:clock:now:random:isolation:onEvent:operation:)`` knows about
/// the attempt it is making.
public struct RetryAttempt: Sendable {
    /// The attempt number, 1-based: 1 is the first try, 2 the first retry.
    public let number: Int
    /// The error of the previous attempt; `nil` on the first.
    public let previousError: (any Error)?
    /// Time since the first attempt started, on the injected clock.
    public let elapsed: Duration

    /// Creates an attempt description (public for tests of code that takes a `RetryAttempt`).
    public init(number: Int, previousError: (any Error)? = nil, elapsed: Duration = .zero) {
        self.number = number
        self.previousError = previousError
        self.elapsed = elapsed
    }

    /// Whether this is the first try.
    public var isFirst: Bool { number == 1 }
}
