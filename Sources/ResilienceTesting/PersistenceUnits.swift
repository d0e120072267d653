import ResilienceSupport

/// A recorded trace cut into the smallest pieces a crash can keep or lose (the input of
/// ``CrashStateExplorer``): each write split at block boundaries, each truncate, and each
/// directory change (creation, rename, unlink), with the trace position of the sync that makes
/// it durable.
///
/// Names are resolved to inodes as the program saw them (a rename moves the inode, an unlink
/// detaches it), so data written through a descriptor follows the file, not the name.
struct PersistenceUnits: Sendable {
    /// A change to one inode's bytes.
    enum DataChange: Sendable {
        case write(offset: Int64, bytes: ArraySlice<UInt8>)
        case truncate(length: Int64)
    }

    /// A change to one directory's entries.
    enum DirectoryChange: Sendable {
        case link(name: String, inode: Int)
        case rename(from: String, to: String)
        case unlink(name: String)
    }

    enum Change: Sendable {
        case data(inode: Int, DataChange)
        case directory(path: String, DirectoryChange)
    }

    struct Unit: Sendable {
        /// The index in the trace of the call it comes from.
        let operation: Int
        let change: Change
        /// Units of one group persist as a prefix, in order: the changes of one directory (its
        /// metadata is journaled in order), the writes to one block of one file (the disk gets
        /// the block as the page cache held it at some moment). `nil`: on its own (a truncate).
        let group: Int?
        /// The index of the first later sync that makes it durable (`Int.max`: none).
        var durableAt = Int.max
    }

    /// The files present before the trace, by inode (inodes `0..<initial.count`).
    let initialNames: [String: Int]
    let initialContents: [[UInt8]]
    private(set) var units: [Unit] = []

    /// Cuts `trace`; `initialFiles` are the files present when recording started.
    init(trace: [FileOperation], initialFiles: [String: [UInt8]], blockSize: Int) {
        let sorted = initialFiles.sorted { $0.key < $1.key }
        initialNames = Dictionary(uniqueKeysWithValues: sorted.enumerated().map { ($1.key, $0) })
        initialContents = sorted.map(\.value)
        var names = initialNames
        var nextInode = sorted.count
        var pendingData: [Int: [Int]] = [:]
        var pendingDirectory: [String: [Int]] = [:]
        var groups: [String: Int] = [:]
        func groupID(_ name: String) -> Int {
            if let id = groups[name] { return id }
            groups[name] = groups.count
            return groups.count - 1
        }
        func add(_ index: Int, _ change: Change) {
            let group: Int?
            switch change {
            case .data(let inode, let data):
                pendingData[inode, default: []].append(units.count)
                if case .write(let offset, _) = data { group = groupID("block \(inode):\(Int(offset) / blockSize)") } else { group = nil }
            case .directory(let path, _):
                pendingDirectory[path, default: []].append(units.count)
                group = groupID("directory \(path)")
            }
            units.append(Unit(operation: index, change: change, group: group))
        }
        for (index, operation) in trace.enumerated() {
            switch operation {
            case .open(let path, let creating, let truncating):
                if names[path] == nil, creating {
                    names[path] = nextInode
                    add(index, .directory(path: Self.directory(of: path), .link(name: path, inode: nextInode)))
                    nextInode += 1
                } else if truncating, let inode = names[path] {
                    add(index, .data(inode: inode, .truncate(length: 0)))
                }
            case .write(let path, let offset, let bytes):
                guard let inode = names[path] else { continue }
                var start = 0
                while start < bytes.count {
                    let position = Int(offset) + start
                    let end = min(bytes.count, start + blockSize - position % blockSize)
                    add(index, .data(inode: inode, .write(offset: Int64(position), bytes: bytes[start..<end])))
                    start = end
                }
            case .truncate(let path, let length):
                guard let inode = names[path] else { continue }
                add(index, .data(inode: inode, .truncate(length: length)))
            case .sync(let path, _):
                guard let inode = names[path] else { continue }
                for unit in pendingData.removeValue(forKey: inode) ?? [] { units[unit].durableAt = index }
            case .syncDirectory(let path):
                for unit in pendingDirectory.removeValue(forKey: path) ?? [] { units[unit].durableAt = index }
            case .rename(let from, let to):
                guard let inode = names.removeValue(forKey: from) else { continue }
                names[to] = inode
                add(index, .directory(path: Self.directory(of: to), .rename(from: from, to: to)))
            case .unlink(let path):
                guard names.removeValue(forKey: path) != nil else { continue }
                add(index, .directory(path: Self.directory(of: path), .unlink(name: path)))
            case .mark:
                continue
            }
        }
    }

    /// The directory holding the relative `path` (`"."` for the root).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }
}
