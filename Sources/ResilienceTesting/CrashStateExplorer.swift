import ResilienceSupport

/// ALICE-style crash-state exploration (Pillai et al., "All File Systems Are Not Created Equal",
/// OSDI 2014): from a trace recorded by `FileOperationRecorder`, builds the states a power loss
/// can leave on disk and hands each to a checker that runs the real recovery on it.
///
/// ## Persistence model (close to ext4 `data=ordered`, but weaker where ext4 is lenient)
/// - The crash can happen after any operation of the trace; nothing after it happened.
/// - A write not yet covered by an `fsync`/`fdatasync` of its file may be lost, kept, or kept only
///   in part, at `blockSize` granularity: each block of the file reaches the disk as the page
///   cache held it at some moment, so the unsynced writes to one block persist as a prefix, in
///   order, and different blocks independently (a lost block before a kept one reads as zeros
///   when the kept one extended the file). A truncate may be lost or kept on its own.
/// - Unsynced changes to different files (and to different blocks of one file) may persist in any
///   combination: their order is not preserved.
/// - A creation, rename or unlink is durable only after an `fsync` of its directory. Unsynced ones
///   persist as a prefix, in order, per directory (the metadata journal commits in order); a
///   rename may thus be durable while the renamed file's unsynced data is not.
/// - Everything before a completed `fsync`/`fdatasync` of a file stays, and every directory change
///   before a completed `fsync` of the directory.
///
/// Exhaustive when the whole space has at most ``exhaustiveLimit`` states (and at most twice the
/// sample size asked for); else a seeded sample
/// (``SeededRandomNumberGenerator``) of distinct states: two choices that apply the same
/// changes with the same acknowledged marks are one state, checked once.
///
/// Package-level, not public: the recording seam is `FileSystem`'s, so only this package's
/// durable structures can be traced.
package struct CrashStateExplorer: Sendable {
    /// The recorded trace.
    package let trace: [FileOperation]
    /// The granularity at which an unsynced write may be torn.
    package let blockSize: Int
    /// The largest space explored exhaustively.
    package var exhaustiveLimit = 20_000
    private let units: PersistenceUnits

    /// An explorer of `trace`; `initialFiles` were on disk (durable) when recording started.
    package init(trace: [FileOperation], initialFiles: [String: [UInt8]] = [:], blockSize: Int = 4096) {
        self.trace = trace
        self.blockSize = blockSize
        self.units = PersistenceUnits(trace: trace, initialFiles: initialFiles, blockSize: blockSize)
    }

    /// Checks distinct crash states (all of them, or `samples` drawn with `seed`) with `check`,
    /// which returns the invariants a state breaks (empty: none).
    package func explore(
        workload: String, samples: Int, seed: UInt64, check: (CrashState) async -> [String]
    ) async -> CrashExplorationReport {
        var report = CrashExplorationReport(workload: workload, traceLength: trace.count, seed: seed)
        var seen = Set<UInt64>()
        var base = Base(crashPoint: -1, names: [:], contents: [:])
        func visit(_ choice: Choice) async {
            guard seen.insert(choice.key).inserted else { return }
            if base.crashPoint != choice.crashPoint { base = self.base(crashPoint: choice.crashPoint) }
            let state = build(choice, on: base)
            report.statesExplored += 1
            // Mostly synchronous work: give other tasks sharing this executor a turn now and then.
            if report.statesExplored % 8 == 0 { await Task.yield() }
            let messages = await check(state)
            guard !messages.isEmpty else { return }
            report.violationCount += 1
            if report.violations.count < 5 {
                let prefix = trace[max(0, state.crashPoint - 8)..<state.crashPoint].map(\.description)
                report.violations.append(.init(crashPoint: state.crashPoint, tracePrefix: prefix,
                                               dropped: state.dropped, messages: messages))
            }
        }
        let pendings = (0...trace.count).map(pending(crashPoint:))
        // A smaller sample (ThreadSanitizer's) also lowers the bar for exhaustive exploration.
        let limit = min(exhaustiveLimit, 2 * samples)
        let counts = pendings.map { $0.count(limit: limit) }
        let total = counts.reduce(0) { $0 > limit ? $0 : $0 + $1 }
        if total <= limit {
            report.exhaustive = true
            for crashPoint in 0...trace.count {
                for index in 0..<counts[crashPoint] {
                    var rest = index
                    await visit(choose(pendings[crashPoint]) { radix in
                        defer { rest /= radix }
                        return rest % radix
                    })
                }
            }
            return report
        }
        // Sampled in batches sorted by crash point, so that each durable base is built once. Half
        // the crash points are drawn uniformly, half in proportion to their number of states
        // (capped), so that large spaces get most samples and small ones are still visited.
        var cumulative: [Int] = []
        for count in counts { cumulative.append((cumulative.last ?? 0) + min(count, 1_000)) }
        var random = SeededRandomNumberGenerator(seed: seed)
        func crashPoint() -> Int {
            if Bool.random(using: &random) { return Int.random(in: 0...trace.count, using: &random) }
            let target = Int.random(in: 0..<cumulative.last!, using: &random)
            var low = 0, high = cumulative.count - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] > target { high = middle } else { low = middle + 1 }
            }
            return low
        }
        var attempts = 0
        while report.statesExplored < samples, attempts < samples * 20 {
            let batch = (0..<1_000).map { _ in
                (crashPoint: crashPoint(), keep: Self.keepProbabilities.randomElement(using: &random)!,
                 seed: random.next())
            }.sorted { $0.crashPoint < $1.crashPoint }
            attempts += batch.count
            for draw in batch where report.statesExplored < samples {
                var choices = SeededRandomNumberGenerator(seed: draw.seed)
                await visit(choose(pendings[draw.crashPoint]) { radix in
                    if draw.keep == 0 || draw.keep == 1 { return draw.keep == 0 ? 0 : radix - 1 }
                    if radix == 2 { return Double.random(in: 0..<1, using: &choices) < draw.keep ? 1 : 0 }
                    return Int.random(in: 0..<radix, using: &choices)
                })
            }
        }
        return report
    }

    /// How likely a sampled state keeps each unsynced unit: one value drawn per state, so that
    /// samples range from "everything unsynced lost" to "everything kept".
    static let keepProbabilities = [0, 0.05, 0.25, 0.5, 0.5, 0.75, 0.95, 1]

    /// What a crash after `crashPoint` operations leaves open: the unsynced units, by group (in
    /// trace order within each) and on their own, and the key of its durable part.
    struct Pending {
        let crashPoint: Int
        var groups: [[Int]] = []
        var singles: [Int] = []
        var key: UInt64 = 0

        /// The number of states (capped past `limit`).
        func count(limit: Int) -> Int {
            var count = 1
            for group in groups { count = min(count * (group.count + 1), limit + 1) }
            for _ in singles { count = min(count * 2, limit + 1) }
            return count
        }
    }

    func pending(crashPoint: Int) -> Pending {
        var pending = Pending(crashPoint: crashPoint)
        var marks = 0
        for operation in trace[..<crashPoint] { if case .mark = operation { marks += 1 } }
        pending.key = UInt64(marks) &* 0x9E37_79B9_7F4A_7C15
        var groupSlots: [Int: Int] = [:]
        for (index, unit) in units.units.enumerated() where unit.operation < crashPoint {
            if unit.durableAt < crashPoint {
                pending.key &+= Self.word(index)
            } else if let group = unit.group {
                if let slot = groupSlots[group] { pending.groups[slot].append(index) } else {
                    groupSlots[group] = pending.groups.count
                    pending.groups.append([index])
                }
            } else {
                pending.singles.append(index)
            }
        }
        return pending
    }

    /// Which unsynced units one crash state keeps.
    struct Choice {
        let crashPoint: Int
        /// Indices into the units of the unsynced ones kept, in trace order.
        var kept: [Int] = []
        var dropped: [Int] = []
        /// Identifies the resulting state: a sum of per-unit random words over every unit applied
        /// (durable or kept), and the number of marks before the crash point.
        var key: UInt64 = 0
    }

    /// The durable part of every state of a crash after `crashPoint` operations: for each file
    /// and directory, the changes before its last sync (a prefix of its changes, so they can be
    /// applied before the unsynced ones).
    struct Base {
        let crashPoint: Int
        var names: [String: Int]
        var contents: [Int: [UInt8]]
    }

    func base(crashPoint: Int) -> Base {
        var base = Base(crashPoint: crashPoint, names: units.initialNames,
                        contents: Dictionary(uniqueKeysWithValues: units.initialContents.enumerated().map { ($0, $1) }))
        for unit in units.units where unit.operation < crashPoint && unit.durableAt < crashPoint {
            Self.apply(unit.change, names: &base.names, contents: &base.contents)
        }
        return base
    }

    /// The choice of a crash after `pending.crashPoint` operations in which `choose(radix)`
    /// decides, for each group (a directory, a block of a file) in turn, how many of its unsynced
    /// changes persist (`0..<radix`, a prefix) and then, for each unsynced truncate, whether it
    /// persists (radix 2, 1 = kept).
    func choose(_ pending: Pending, choose: (Int) -> Int) -> Choice {
        var choice = Choice(crashPoint: pending.crashPoint)
        choice.key = pending.key
        for group in pending.groups {
            let kept = choose(group.count + 1)
            choice.kept += group[..<kept]
            choice.dropped += group[kept...]
        }
        for index in pending.singles {
            if choose(2) == 1 { choice.kept.append(index) } else { choice.dropped.append(index) }
        }
        for index in choice.kept { choice.key &+= Self.word(index) }
        choice.kept.sort()
        return choice
    }

    /// The state of `choice`: its unsynced kept units applied on `base`.
    func build(_ choice: Choice, on base: Base) -> CrashState {
        var names = base.names
        var contents = base.contents
        for index in choice.kept { Self.apply(units.units[index].change, names: &names, contents: &contents) }
        let marks = trace[..<choice.crashPoint].compactMap { operation -> String? in
            if case .mark(let label) = operation { label } else { nil }
        }
        let dropped = choice.dropped.map { index in
            let unit = units.units[index]
            return Self.describe(unit.change, of: trace[unit.operation])
        }
        return CrashState(crashPoint: choice.crashPoint, files: names.mapValues { contents[$0] ?? [] }, marks: marks, dropped: dropped)
    }

    /// A fixed pseudo-random word for unit `index` (SplitMix64 of it).
    private static func word(_ index: Int) -> UInt64 {
        var z = UInt64(index) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private static func apply(_ change: PersistenceUnits.Change, names: inout [String: Int], contents: inout [Int: [UInt8]]) {
        switch change {
        case .directory(_, .link(let name, let inode)): names[name] = inode
        case .directory(_, .rename(let from, let to)): if let inode = names.removeValue(forKey: from) { names[to] = inode }
        case .directory(_, .unlink(let name)): names.removeValue(forKey: name)
        case .data(let inode, let change): apply(change, to: &contents[inode, default: []])
        }
    }

    /// Applies a data change with bulk copies (quick in debug builds too).
    private static func apply(_ change: PersistenceUnits.DataChange, to bytes: inout [UInt8]) {
        switch change {
        case .truncate(let length):
            let length = Int(length)
            if length < bytes.count { bytes.removeSubrange(length...) } else {
                bytes.append(contentsOf: [UInt8](repeating: 0, count: length - bytes.count))
            }
        case .write(let offset, let data):
            guard !data.isEmpty else { return }
            let offset = Int(offset)
            if bytes.count < offset + data.count { bytes.append(contentsOf: [UInt8](repeating: 0, count: offset + data.count - bytes.count)) }
            bytes.withUnsafeMutableBytes { target in
                data.withUnsafeBytes { source in
                    (target.baseAddress! + offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
                }
            }
        }
    }

    private static func describe(_ change: PersistenceUnits.Change, of operation: FileOperation) -> String {
        switch change {
        case .directory, .data(_, .truncate): operation.description
        case .data(_, .write(let offset, let bytes)): "\(operation) (block @\(offset) +\(bytes.count) B)"
        }
    }
}
