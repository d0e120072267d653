#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which sanitizer runtime, if any, the running process was built with — so a test can scale a
/// heavy workload down where the sanitizer makes it 5–15× slower (and say so), instead of
/// starving every other test of CPU.
public enum Sanitizers {
    /// Whether ThreadSanitizer's runtime is loaded (`swift test --sanitize=thread`): its entry
    /// point `__tsan_init` resolves in the process.
    public static let isThreadSanitizerActive: Bool = dlsym(nil, "__tsan_init") != nil
}
