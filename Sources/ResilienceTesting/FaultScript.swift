/// The plan that decides which ``HTTPFault`` (if any) each request gets.
///
/// A script has two parts, consulted in this order for every request:
/// 1. a **queue**: the next queued fault is taken and removed;
/// 2. a **seeded random mode**: with probability `rate`, one of `kinds` picked uniformly.
///
/// The random mode draws from a ``SeededRandomNumberGenerator`` exactly twice per request that
/// reaches it, whether or not a fault is chosen, so the n-th request always gets the same answer
/// for the same seed, rate and kinds. The arithmetic is written here (no standard library
/// sampling), so the sequence is the same on every platform and toolchain.
///
/// ```swift
/// var script = FaultScript(queue: [.status(503)])
/// script.setRandom(rate: 0.3, seed: 42, kinds: [.dropAfter(bytes: 1000), .ignoreRange])
/// script.nextFault()   // .status(503), then random draws
/// ```
public struct FaultScript: Sendable, Hashable {
    /// The faults still queued, in the order they will be applied.
    public var queue: [HTTPFault]
    /// Probability in `0...1` that a request not served from the queue gets a random fault.
    public private(set) var randomRate: Double = 0
    /// The kinds the random mode picks from.
    public private(set) var randomKinds: [HTTPFault] = []
    private var generator = SeededRandomNumberGenerator(seed: 0)

    /// Creates a script with `queue` and the random mode off.
    public init(queue: [HTTPFault] = []) {
        self.queue = queue
    }

    /// Creates a script whose random mode is on (and whose queue is empty).
    public static func random(rate: Double, seed: UInt64, kinds: [HTTPFault]) -> FaultScript {
        var script = FaultScript()
        script.setRandom(rate: rate, seed: seed, kinds: kinds)
        return script
    }

    /// Turns the random mode on (or off with `rate` 0 or empty `kinds`) and restarts its
    /// sequence from `seed`. `rate` is clamped to `0...1`; NaN counts as 0.
    public mutating func setRandom(rate: Double, seed: UInt64, kinds: [HTTPFault]) {
        randomRate = rate.isNaN ? 0 : min(max(rate, 0), 1)
        randomKinds = kinds
        generator = SeededRandomNumberGenerator(seed: seed)
    }

    /// Whether the script can still produce a fault.
    public var isEmpty: Bool { queue.isEmpty && (randomRate == 0 || randomKinds.isEmpty) }

    /// The fault for the next request, or `nil` for a normal response. Consumes a queued fault
    /// or two random draws.
    public mutating func nextFault() -> HTTPFault? {
        if !queue.isEmpty { return queue.removeFirst() }
        guard randomRate > 0, !randomKinds.isEmpty else { return nil }
        // 53 random bits → a Double uniformly in [0, 1).
        let roll = Double(generator.next() >> 11) * 0x1p-53
        let pick = generator.next() % UInt64(randomKinds.count)
        return roll < randomRate ? randomKinds[Int(pick)] : nil
    }
}
