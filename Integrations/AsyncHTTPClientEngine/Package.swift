// swift-tools-version: 6.2
//
// AsyncHTTPClientEngine: an `HTTPTransport` over swift-server/async-http-client, for Linux
// servers (https through the client's TLS configuration, HTTP/2, proxies). A separate package so
// the root DownloadResilience package keeps zero dependencies: only users who want
// AsyncHTTPClient build it and SwiftNIO.
import PackageDescription

let package = Package(
    name: "AsyncHTTPClientEngine",
    platforms: [.macOS(.v15), .iOS(.v18), .tvOS(.v18), .watchOS(.v11), .visionOS(.v2)],
    products: [
        .library(name: "AsyncHTTPClientEngines", targets: ["AsyncHTTPClientEngines"]),
        .executable(name: "asynchttpclient-engine-benchmarks", targets: ["AsyncHTTPClientEngineBenchmarks"]),
    ],
    dependencies: [
        // The root package, by path. `name:` keeps the product references independent of the
        // directory the repository is cloned into.
        .package(name: "DownloadResilience", path: "../.."),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Already in AsyncHTTPClient's graph; named here for the error types the engine maps.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.100.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
    ],
    targets: [
        .target(
            name: "AsyncHTTPClientEngines",
            dependencies: [
                .product(name: "RangeResume", package: "DownloadResilience"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),

        // MARK: Benchmarks (build with -c release; needs nginx, openssl and curl)
        .executableTarget(
            name: "AsyncHTTPClientEngineBenchmarks",
            dependencies: [
                "AsyncHTTPClientEngines",
                .product(name: "RangeResume", package: "DownloadResilience"),
                .product(name: "ResilienceTesting", package: "DownloadResilience"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Benchmarks"
        ),

        // MARK: Tests
        .testTarget(
            name: "AsyncHTTPClientEnginesTests",
            dependencies: [
                "AsyncHTTPClientEngines",
                .product(name: "RangeResume", package: "DownloadResilience"),
                .product(name: "Downloads", package: "DownloadResilience"),
                .product(name: "JobStores", package: "DownloadResilience"),
                .product(name: "ResilienceTesting", package: "DownloadResilience"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
