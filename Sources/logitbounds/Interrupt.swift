import Foundation

/// The first SIGINT asks a long run to stop after the work in flight (it then
/// reports what it has, exit 130); a second one exits at once with 130.
final class Interrupt: @unchecked Sendable {
    static let shared = Interrupt()
    private let lock = NSLock()
    private var raised = false
    private var source: DispatchSourceSignal?

    /// Routes SIGINT to this flag (idempotent).
    func install(_ command: String) {
        lock.lock(); defer { lock.unlock() }
        guard source == nil else { return }
        signal(SIGINT, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        s.setEventHandler { [self] in
            if isRaised { Foundation.exit(130) }
            lock.lock(); raised = true; lock.unlock()
            FileHandle.standardError.write(Data(
                "\n\(command): interrupted: finishing the work in flight, then reporting it (interrupt again to quit at once)\n".utf8))
        }
        s.resume()
        source = s
    }

    var isRaised: Bool { lock.lock(); defer { lock.unlock() }; return raised }
}
