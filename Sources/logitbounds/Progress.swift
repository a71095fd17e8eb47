import Foundation

/// Progress on standard error: a redrawn bar on a terminal, otherwise (or with
/// `plain`) a line at every 10 %.
final class ProgressReporter: @unchecked Sendable {
    private let label: String
    private let bar: Bool
    private let start = Date()
    private var lastStep = -1
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
        report(fraction: total == 0 ? 1 : Double(done) / Double(total), count: "\(done)/\(total)")
    }

    /// Progress in units of work (any scale), with an estimate of the time left from the
    /// rate so far.
    func update(work done: Double, of total: Double) {
        report(fraction: total > 0 ? min(done / total, 1) : 1, count: nil)
    }

    private func report(fraction: Double, count: String?) {
        lock.lock(); defer { lock.unlock() }
        let elapsed = Date().timeIntervalSince(start)
        let left = fraction > 0.01 && fraction < 1 ? String(format: ", about %.0f s left", elapsed * (1 - fraction) / fraction) : ""
        let counted = count.map { " " + $0 } ?? ""
        if bar {
            guard fraction >= 1 || Date().timeIntervalSince(lastDraw) > 0.1 else { return }
            lastDraw = Date()
            let width = 30, filled = Int(fraction * Double(width))
            let line = String(format: "\r%@ [%@%@] %3.0f%%%@  %.1f s%@   ", label,
                              String(repeating: "#", count: filled), String(repeating: " ", count: width - filled),
                              fraction * 100, counted, elapsed, left)
            FileHandle.standardError.write(Data(line.utf8))
            if fraction >= 1 { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let step = Int(fraction * 20)   // a line every 5 %
            guard step > lastStep else { return }
            lastStep = step
            FileHandle.standardError.write(Data(String(format: "%@:%@ %.0f%% after %.1f s%@\n", label, counted,
                                                       fraction * 100, elapsed, left).utf8))
        }
    }
}
