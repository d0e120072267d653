// swift-tools-version: 6.2
//
// DownloadResilience: download-resilience primitives for Swift.
// Zero package dependencies: only the toolchain (Foundation, FoundationNetworking,
// Dispatch, Glibc/Darwin, Synchronization, Swift Testing).
import PackageDescription

let package = Package(
    name: "DownloadResilience",
    platforms: [.macOS(.v15), .iOS(.v18), .tvOS(.v18), .watchOS(.v11), .visionOS(.v2)],
    products: [
        .library(name: "ResilienceRetry", targets: ["ResilienceRetry"]),
        .library(name: "ResilienceSemaphore", targets: ["ResilienceSemaphore"]),
        .library(name: "JobStores", targets: ["JobStores"]),
        .library(name: "Downloads", targets: ["Downloads"]),
        .library(name: "ResilienceTesting", targets: ["ResilienceTesting"]),
        .library(name: "RangeResume", targets: ["RangeResume"]),
        .library(name: "DownloadResilience", targets: ["DownloadResilience"]),
        .executable(name: "resilience-benchmarks", targets: ["ResilienceBenchmarks"]),
        .executable(name: "resilient-download", targets: ["resilient-download"]),
    ],
    targets: [
        // MARK: Library modules (see Documentation/Architecture.md for the module graph)
        // Internal, not a product: the one lock helper, the count hand-shake and the POSIX file
        // helpers that the modules share (`package` access).
        .target(name: "ResilienceSupport"),
        .target(name: "ResilienceRetry"),
        .target(name: "ResilienceSemaphore", dependencies: ["ResilienceSupport"]),
        .target(name: "JobStores", dependencies: ["ResilienceSupport"]),
        // SHA-256 on the CPU's SHA instructions (C, chosen at run time; see SHA256Hasher.swift).
        .target(name: "CSHA256"),
        .target(name: "RangeResume", dependencies: ["ResilienceSupport", "ResilienceRetry", "CSHA256"]),
        .target(name: "Downloads", dependencies: ["ResilienceSupport", "ResilienceRetry", "ResilienceSemaphore", "JobStores", "RangeResume"]),
        .target(name: "ResilienceTesting", dependencies: ["ResilienceSupport", "JobStores", "RangeResume"]),
        .target(name: "DownloadResilience", dependencies: ["ResilienceRetry", "ResilienceSemaphore", "JobStores", "RangeResume", "Downloads"]),

        // MARK: The demo and downloader (`swift run resilient-download`)
        .executableTarget(
            name: "resilient-download",
            dependencies: ["Downloads", "RangeResume", "JobStores", "ResilienceRetry", "ResilienceTesting"]
        ),

        // MARK: Benchmarks (build with -c release)
        .executableTarget(
            name: "ResilienceBenchmarks",
            dependencies: ["ResilienceRetry", "ResilienceSemaphore", "JobStores", "RangeResume", "ResilienceTesting", "Downloads"],
            path: "Benchmarks"
        ),

        // MARK: Tests
        .testTarget(name: "ResilienceRetryTests", dependencies: ["ResilienceRetry", "ResilienceTesting", "ResilienceSupport"]),
        .testTarget(name: "ResilienceSemaphoreTests", dependencies: ["ResilienceSemaphore", "ResilienceTesting", "ResilienceSupport"]),
        .testTarget(
            name: "RangeResumeTests",
            dependencies: ["ResilienceSupport", "RangeResume", "ResilienceRetry", "ResilienceTesting", "RangeResumeChild",
                           "CancelRaceChild"]
        ),
        .testTarget(
            name: "JobStoresTests",
            dependencies: ["JobStores", "ResilienceTesting", "ResilienceSupport", "JobStoreCrashChild"]
        ),
        .testTarget(
            name: "DownloadsTests",
            dependencies: [
                "Downloads", "ResilienceSupport", "ResilienceTesting", "SharedDownloadChild", "RangeResume", "JobStores", "ResilienceRetry",
                "DownloadQueueChild", "resilient-download", "SegmentedDownloadChild", "ConcurrentDownloadChild",
            ]
        ),
        .testTarget(name: "ResilienceTestingTests", dependencies: ["ResilienceTesting", "ResilienceSupport"]),
        .testTarget(name: "ResilienceSupportTests", dependencies: ["ResilienceSupport"]),

        // MARK: Child processes spawned by tests (built with the tests, not products)
        .executableTarget(
            name: "JobStoreCrashChild",
            dependencies: ["JobStores"],
            path: "Tests/Fixtures/JobStoreCrashChild"
        ),
        .executableTarget(
            name: "RangeResumeChild",
            dependencies: ["RangeResume"],
            path: "Tests/Fixtures/RangeResumeChild"
        ),
        .executableTarget(
            name: "SharedDownloadChild",
            dependencies: ["Downloads"],
            path: "Tests/Fixtures/SharedDownloadChild"
        ),
        .executableTarget(
            name: "SegmentedDownloadChild",
            dependencies: ["Downloads", "RangeResume"],
            path: "Tests/Fixtures/SegmentedDownloadChild"
        ),
        .executableTarget(
            name: "DownloadQueueChild",
            dependencies: ["Downloads", "JobStores", "ResilienceRetry"],
            path: "Tests/Fixtures/DownloadQueueChild"
        ),
        .executableTarget(
            name: "ConcurrentDownloadChild",
            dependencies: ["Downloads", "JobStores", "RangeResume"],
            path: "Tests/Fixtures/ConcurrentDownloadChild"
        ),
        .executableTarget(
            name: "CancelRaceChild",
            dependencies: ["RangeResume", "ResilienceTesting"],
            path: "Tests/Fixtures/CancelRaceChild"
        ),
    ],
    swiftLanguageModes: [.v6]
)
