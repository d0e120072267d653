import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension AsyncHTTPClientEngine {
    /// The error an exchange ends with for `error` from AsyncHTTPClient or SwiftNIO: a `URLError`
    /// where one fits (its `NSUnderlyingErrorKey` holds `error`), so the package's retry rules
    /// classify it as they classify the built-in engines' errors; `error` itself otherwise.
    ///
    /// | From | `URLError.Code` |
    /// |---|---|
    /// | connection refused, host or network unreachable, `NIOConnectionError` | `.cannotConnectToHost` |
    /// | remote closed (a truncated body, no response), the connection's end mid-body, reset, broken pipe, unclean TLS shutdown | `.networkConnectionLost` |
    /// | any other malformed HTTP (`HTTPParserError`) | `.badServerResponse` |
    /// | connect, read, TLS-handshake, pool or deadline timeouts | `.timedOut` |
    /// | other TLS failures (an untrusted certificate, a handshake error) | `.secureConnectionFailed` |
    /// | the client was shut down, or the request cancelled | `.cancelled` |
    public static func mapError(_ error: any Error) -> any Error {
        guard let code = urlErrorCode(for: error) else { return error }
        return URLError(code, userInfo: [NSUnderlyingErrorKey: error, NSLocalizedDescriptionKey: "\(error)"])
    }

    private static func urlErrorCode(for error: any Error) -> URLError.Code? {
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .remoteConnectionClosed: return .networkConnectionLost
            case .readTimeout, .writeTimeout, .connectTimeout, .tlsHandshakeTimeout, .deadlineExceeded,
                 .getConnectionFromPoolTimeout, .socksHandshakeTimeout, .httpProxyHandshakeTimeout:
                return .timedOut
            case .cancelled, .alreadyShutdown: return .cancelled
            default: return nil
            }
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EADDRNOTAVAIL: return .cannotConnectToHost
            case ECONNRESET, EPIPE, ECONNABORTED: return .networkConnectionLost
            case ETIMEDOUT: return .timedOut
            default: return nil
            }
        case is NIOConnectionError: return .cannotConnectToHost
        case let error as HTTPParserError:
            return error == .invalidEOFState ? .networkConnectionLost : .badServerResponse
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return .timedOut
            case .eof, .ioOnClosedChannel, .outputClosed, .alreadyClosed: return .networkConnectionLost
            default: return nil
            }
        case let error as NIOSSLError:
            if case .uncleanShutdown = error { return .networkConnectionLost }
            return .secureConnectionFailed
        case is BoringSSLError, is NIOSSLExtraError: return .secureConnectionFailed
        default: return nil
        }
    }
}
