import Foundation

/// The first SIGINT asks a long run to stop after the work in flight (it then
/// reports what it has, exit 130); a second one exits at once with 130. Signals that
/// arrive together (within half a second: `timeout` or a terminal can deliver one to
/// the process and one to its group) count as one, so a single Ctrl-C never loses the
/// partial report.
final class Interrupt: @unchecked Sendable {
    static let shared = Interrupt()
    private let lock = NSLock()
    private var raised = false
    private var raisedAt = ContinuousClock.now
    private var source: DispatchSourceSignal?

    /// Routes SIGINT to this flag (idempotent); `stops` says what the interrupt stops (by
    /// default the work in flight finishes, then the report).
    func install(_ command: String, stops: String = "finishing the work in flight, then reporting it") {
        lock.lock(); defer { lock.unlock() }
        guard source == nil else { return }
        let s = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        s.setEventHandler { [self] in
            lock.lock()
            let again = raised, since = ContinuousClock.now - raisedAt
            if !raised { raised = true; raisedAt = .now }
            lock.unlock()
            if again {
                if since > .milliseconds(500) { Foundation.exit(130) }
                return
            }
            FileHandle.standardError.write(Data(
                "\n\(command): interrupted: \(stops) (interrupt again to quit at once)\n".utf8))
        }
        // On Linux the source's registration installs libdispatch's own handler for SIGINT (setting
        // SIG_IGN after it lost every Ctrl-C), so the default action stays until then and a Ctrl-C
        // in those milliseconds kills the run; install returns once the source is registered.
        // Ignored first, as before, a Ctrl-C in that window was lost: 6 of 40 tightness runs
        // interrupted 30 ms in ran their whole budget and exited 0. Elsewhere (kqueue) the signal
        // must be ignored for the source to see it without the process ending.
        let registered = DispatchSemaphore(value: 0)
        s.setRegistrationHandler { registered.signal() }
        #if !os(Linux)
        signal(SIGINT, SIG_IGN)
        #endif
        s.resume()
        _ = registered.wait(timeout: .now() + 2)
        source = s
    }

    var isRaised: Bool { lock.lock(); defer { lock.unlock() }; return raised }

    /// Unblocks the signals that end or interrupt a run (SIGINT, SIGTERM, SIGHUP, SIGQUIT), which a
    /// parent may have blocked in the mask this process inherits: Foundation's `Process` spawns with
    /// its calling thread's mask, and on a dispatch worker (a Swift test, a Swift tool driving
    /// logitbounds) that blocks nearly every signal. Such a run ignored SIGTERM (`timeout`, a batch
    /// system's end of a job) until SIGKILL, and the interrupt tests ran under a mask no shell
    /// gives. Called first in `main`: the threads created after inherit the unblocked mask.
    static func unblockInheritedSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
