import Foundation

/// Progress on standard error: a redrawn bar on a terminal, otherwise (or with
/// `plain`) a line at every 10 %.
final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let bar: Bool
    private let start = Date()
    private var lastDecile = -1
    private var lastDraw = Date.distantPast
    private let lock = NSLock()

    init(label: String, plain: Bool) {
        self.label = label
        bar = !plain && isatty(STDERR_FILENO) == 1
    }

    /// A phase starting: one line on standard error, with the time so far.
    func note(_ phase: String) {
        lock.lock(); defer { lock.unlock() }
        FileHandle.standardError.write(Data(String(format: "%@: %@ (%.1f s)\n", label, phase,
                                                   Date().timeIntervalSince(start)).utf8))
    }

    func update(_ done: Int, _ total: Int) {
        lock.lock(); defer { lock.unlock() }
        let fraction = total == 0 ? 1 : Double(done) / Double(total)
        let elapsed = Date().timeIntervalSince(start)
        if bar {
            guard done == total || Date().timeIntervalSince(lastDraw) > 0.1 else { return }
            lastDraw = Date()
            let width = 30, filled = Int(fraction * Double(width))
            let line = String(format: "\r%@ [%@%@] %3.0f%% %d/%d  %.1f s", label,
                              String(repeating: "#", count: filled), String(repeating: " ", count: width - filled),
                              fraction * 100, done, total, elapsed)
            FileHandle.standardError.write(Data(line.utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let decile = Int(fraction * 10)
            guard decile > lastDecile else { return }
            lastDecile = decile
            FileHandle.standardError.write(Data(String(format: "%@: %d/%d (%.0f%%) after %.1f s\n", label, done, total,
                                                       fraction * 100, elapsed).utf8))
        }
    }
}
