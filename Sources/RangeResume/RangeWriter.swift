import Foundation
import ResilienceSupport

/// The write side of one range: a batch buffer flushed with `pwrite` at increasing offsets, and
/// `fsync` checkpoints.
struct RangeWriter {
    let fileDescriptor: Int32
    let start: Int64
    let checkpointInterval: Int64
    private var batch: UnsafeMutableRawBufferPointer
    private var batchCount = 0
    /// Bytes of the range written to the file (not necessarily durable).
    private(set) var flushed: Int64 = 0
    /// Bytes of the range `fsync`ed.
    private(set) var durable: Int64 = 0

    init(fileDescriptor: Int32, start: Int64, batchSize: Int, checkpointInterval: Int64) {
        self.fileDescriptor = fileDescriptor
        self.start = start
        self.checkpointInterval = checkpointInterval
        self.batch = .allocate(byteCount: batchSize, alignment: 16)
    }

    /// Bytes received so far (written or buffered).
    var position: Int64 { flushed + Int64(batchCount) }

    func deallocate() { batch.deallocate() }

    mutating func append(_ bytes: UnsafeRawBufferPointer, onDurable: (Int64) -> Void) throws(RangeResumeError) {
        var offset = 0
        while offset < bytes.count {
            let take = min(batch.count - batchCount, bytes.count - offset)
            (batch.baseAddress! + batchCount).copyMemory(from: bytes.baseAddress! + offset, byteCount: take)
            batchCount += take
            offset += take
            if batchCount == batch.count {
                try flush()
                if flushed - durable >= checkpointInterval { try sync(onDurable: onDurable) }
            }
        }
    }

    /// Writes what is buffered, `fsync`s and reports the durable count (if it grew).
    mutating func finish(onDurable: (Int64) -> Void) throws(RangeResumeError) {
        try flush()
        if flushed > durable { try sync(onDurable: onDurable) }
    }

    private mutating func flush() throws(RangeResumeError) {
        guard batchCount > 0 else { return }
        let pending = UnsafeRawBufferPointer(rebasing: batch[..<batchCount])
        try SystemCallError.map(RangeResumeError.init) { () throws(SystemCallError) in
            try FileSystem.writeAll(fileDescriptor, pending, at: start + flushed, path: "fd \(fileDescriptor)")
        }
        flushed += Int64(batchCount)
        batchCount = 0
    }

    private mutating func sync(onDurable: (Int64) -> Void) throws(RangeResumeError) {
        try SystemCallError.map(RangeResumeError.init) { () throws(SystemCallError) in
            try FileSystem.sync(fileDescriptor, path: "fd \(fileDescriptor)")
        }
        durable = flushed
        onDurable(durable)
    }
}
