import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A body that ``FaultyHTTPServer`` serves at one path, with its validators.
///
/// In-memory bodies are kept as `[UInt8]`; file bodies are opened for each request and streamed
/// in 64 KiB chunks, so a multi-GiB file never sits in memory. The file's size is read when the
/// request arrives; do not change a file's contents while it is served (give it a new ETag, or
/// register it again, if you do).
public struct HTTPResource: Sendable, Hashable {
    /// Where the bytes come from.
    public enum Body: Sendable, Hashable {
        /// These bytes.
        case bytes([UInt8])
        /// The file at this filesystem path.
        case file(path: String)
    }

    /// The bytes served.
    public var body: Body
    /// The `ETag` field value, including quotes, e.g. `"5f2a-1000"` (strong) or `W/"x"` (weak;
    /// a weak tag never satisfies `If-Range`).
    public var etag: String
    /// The `Last-Modified` time; sent as an IMF-fixdate, so fractions of a second are dropped.
    public var lastModified: Date
    /// The `Content-Type` field value.
    public var contentType: String

    /// The default `Last-Modified` of in-memory bodies: 2023-11-14 22:13:20 UTC (a fixed
    /// value, the same as ``ManualClock``'s default date, so tests are reproducible).
    public static let defaultLastModified = Date(timeIntervalSince1970: 1_700_000_000)

    /// An in-memory body.
    ///
    /// - Parameters:
    ///   - etag: the entity tag; default: a strong tag derived from the content,
    ///     `"<size hex>-<FNV-1a 64 hex>"` (a cheap, non-cryptographic hash written in this
    ///     package), so equal bytes get equal tags.
    ///   - lastModified: default ``defaultLastModified``.
    ///   - contentType: default `application/octet-stream`.
    public init(
        bytes: [UInt8], etag: String? = nil, lastModified: Date = HTTPResource.defaultLastModified,
        contentType: String = "application/octet-stream"
    ) {
        self.body = .bytes(bytes)
        self.etag = etag ?? Self.contentETag(bytes)
        self.lastModified = lastModified
        self.contentType = contentType
    }

    /// An in-memory body from `Data` (copied once, at registration).
    public init(
        data: Data, etag: String? = nil, lastModified: Date = HTTPResource.defaultLastModified,
        contentType: String = "application/octet-stream"
    ) {
        self.init(bytes: [UInt8](data), etag: etag, lastModified: lastModified, contentType: contentType)
    }

    /// A body streamed from the file at `url`.
    ///
    /// - Parameters:
    ///   - etag: default: a strong tag `"<mtime hex>-<size hex>"` from the file's status at this
    ///     call (the same shape nginx uses).
    ///   - lastModified: default: the file's modification time.
    /// - Throws: ``FaultyHTTPServerError/fileUnavailable(path:errno:)`` if the file cannot be
    ///   examined or is not a regular file.
    public init(
        fileAt url: URL, etag: String? = nil, lastModified: Date? = nil,
        contentType: String = "application/octet-stream"
    ) throws(FaultyHTTPServerError) {
        let path = url.path
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .fileUnavailable(path: path, errno: errno)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .fileUnavailable(path: path, errno: EISDIR)
        }
        #if canImport(Darwin)
        let mtime = Int64(info.st_mtimespec.tv_sec)
        #else
        let mtime = Int64(info.st_mtim.tv_sec)
        #endif
        let size = Int64(info.st_size)
        self.body = .file(path: path)
        self.etag = etag ?? "\"\(String(mtime, radix: 16))-\(String(size, radix: 16))\""
        self.lastModified = lastModified ?? Date(timeIntervalSince1970: TimeInterval(mtime))
        self.contentType = contentType
    }

    /// The default strong entity tag of an in-memory body: size and FNV-1a 64 of the bytes.
    static func contentETag(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        bytes.withUnsafeBufferPointer { buffer in
            for byte in buffer {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        return "\"\(String(bytes.count, radix: 16))-\(String(hash, radix: 16))\""
    }
}
