// swift-tools-version: 6.1
//
// DownloadResilience: download-resilience primitives for Swift.
// Zero package dependencies: only the toolchain (Foundation, FoundationNetworking,
// Dispatch, Glibc/Darwin, Synchronization, Swift Testing).
import PackageDescription

let package = Package(
    name: "DownloadResilience",
    platforms: [.macOS(.v15), .iOS(.v18), .tvOS(.v18), .watchOS(.v11), .visionOS(.v2)],
    products: [
        .library(name: "Retry", targets: ["Retry"]),
        .library(name: "ResilienceTesting", targets: ["ResilienceTesting"]),
        .library(name: "RangeResume", targets: ["RangeResume"]),
        .library(name: "DownloadResilience", targets: ["DownloadResilience"]),
        .executable(name: "resilience-benchmarks", targets: ["ResilienceBenchmarks"]),
    ],
    targets: [
        // MARK: Library modules (see Documentation/Architecture.md for the module graph)
        .target(name: "Retry"),
        .target(name: "ResilienceTesting"),
        .target(name: "RangeResume", dependencies: ["Retry"]),
        .target(name: "DownloadResilience", dependencies: ["Retry", "RangeResume"]),

        // MARK: Benchmarks (build with -c release)
        .executableTarget(
            name: "ResilienceBenchmarks",
            dependencies: ["Retry", "ResilienceTesting", "RangeResume"],
            path: "Benchmarks"
        ),

        // MARK: Tests
        .testTarget(name: "RetryTests", dependencies: ["Retry", "ResilienceTesting"]),
        .testTarget(name: "ResilienceTestingTests", dependencies: ["ResilienceTesting"]),
        .testTarget(name: "RangeResumeTests", dependencies: ["RangeResume", "Retry", "ResilienceTesting"]),
    ],
    swiftLanguageModes: [.v6]
)
