// The umbrella module: `import DownloadResilience` gives every production module of the package.
//
// It has no code of its own. `ResilienceTesting` is deliberately not re-exported: it is a test
// utility product (ManualClock, the faulty HTTP server) that only tests, benchmarks and demos
// should import, so it never ends up linked into an app by accident.
@_exported import ResilienceRetry
@_exported import Downloads
@_exported import ResilienceSemaphore
@_exported import JobStores
@_exported import RangeResume
