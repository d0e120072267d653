import Dispatch

/// A task executor with one thread of its own (a serial dispatch queue), for long, mostly
/// synchronous test work — file I/O, reopening stores, thousands of states — that must not hold
/// the cooperative pool (two threads on a 2-core machine) while the rest of a test run waits.
///
/// Run work on it with `withTaskExecutorPreference(executor) { … }`: the task and its child
/// tasks, and the default actors they call, then run on this executor's thread (SE-0417).
package final class DedicatedThreadExecutor: TaskExecutor {
    private let queue: DispatchQueue

    /// An executor whose jobs run, one at a time, on a queue labelled `label`.
    package init(label: String) {
        queue = DispatchQueue(label: label)
    }

    /// Runs `job` on the executor's queue.
    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
