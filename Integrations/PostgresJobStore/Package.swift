// swift-tools-version: 6.2
//
// PostgresJobStore: a `JobStore` backed by PostgreSQL, for fleets of workers on many machines.
// A separate package so the root DownloadResilience package keeps zero dependencies: only users
// who need PostgreSQL build postgres-nio.
import PackageDescription

let package = Package(
    name: "PostgresJobStore",
    platforms: [.macOS(.v15), .iOS(.v18), .tvOS(.v18), .watchOS(.v11), .visionOS(.v2)],
    products: [
        .library(name: "PostgresJobStores", targets: ["PostgresJobStores"]),
        .executable(name: "postgres-jobstore-benchmarks", targets: ["PostgresJobStoreBenchmarks"]),
        .executable(name: "postgres-jobstore-example", targets: ["QueueExample"]),
    ],
    dependencies: [
        // The root package, by path. `name:` keeps the product references independent of the
        // directory the repository is cloned into.
        .package(name: "DownloadResilience", path: "../.."),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
    ],
    targets: [
        .target(
            name: "PostgresJobStores",
            dependencies: [
                .product(name: "JobStores", package: "DownloadResilience"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),

        // MARK: Benchmarks (build with -c release; needs a server, see scripts/with-postgres.sh)
        .executableTarget(
            name: "PostgresJobStoreBenchmarks",
            dependencies: [
                "PostgresJobStores",
                .product(name: "JobStores", package: "DownloadResilience"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Benchmarks"
        ),

        // MARK: Example (see the README and Documentation/PostgresJobStore.md)
        .executableTarget(
            name: "QueueExample",
            dependencies: [
                "PostgresJobStores",
                .product(name: "JobStores", package: "DownloadResilience"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Examples/QueueExample"
        ),

        // MARK: Tests
        .testTarget(
            name: "PostgresJobStoresTests",
            dependencies: [
                "PostgresJobStores",
                "PostgresFleetWorker",
                .product(name: "ResilienceTesting", package: "DownloadResilience"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),

        // MARK: Worker processes spawned by the fleet test (built with the tests, not a product)
        .executableTarget(
            name: "PostgresFleetWorker",
            dependencies: [
                "PostgresJobStores",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/Fixtures/PostgresFleetWorker"
        ),
    ],
    swiftLanguageModes: [.v6]
)
