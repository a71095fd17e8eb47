import Foundation

/// An `--out` directory, created and proven writable before any work starts, so
/// a long run never ends by losing its result to a bad path.
struct OutputDirectory {
    let url: URL

    init(_ path: String) throws {
        url = URL(fileURLWithPath: path)
        // mkdir -p by hand, so a failure names its cause (errno), not an NSError code.
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: built, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw CLIError("cannot create the output directory \(path): \(built) is a file") }
                continue
            }
            guard mkdir(built, 0o755) == 0 || errno == EEXIST else {
                throw CLIError("cannot create the output directory \(path): \(String(cString: strerror(errno)))")
            }
        }
        let probe = url.appendingPathComponent(".logitbounds-write-test-\(getpid())")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data()) else {
            throw CLIError("the output directory \(path) is not writable")
        }
        try? FileManager.default.removeItem(at: probe)
    }

    func path(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// Runs `write`; on failure says so on standard error (the result is still on
    /// standard output) instead of failing the command, whose exit status stays
    /// the verdict's.
    func attempt(_ command: String, _ write: () throws -> Void) {
        do { try write() } catch {
            FileHandle.standardError.write(Data(
                "\(command): could not write into \(url.path) (\(fileErrorSentence(error))); the report is on standard output\n".utf8))
        }
    }
}

/// A file-system error as one sentence (never a raw NSError dump).
func fileErrorSentence(_ error: Error) -> String {
    let ns = error as NSError
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    return ns.localizedDescription
}

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

/// A JSON decoding error as one sentence: what is wrong and where.
func decodingSentence(_ error: Error) -> String {
    func path(_ context: DecodingError.Context) -> String {
        context.codingPath.isEmpty ? "at the top level" : "at " + context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error as? DecodingError {
    case let .keyNotFound(key, context)?: return "key \"\(key.stringValue)\" missing \(path(context))"
    case let .typeMismatch(_, context)?, let .valueNotFound(_, context)?: return "wrong value \(path(context))"
    case let .dataCorrupted(context)?: return context.codingPath.isEmpty ? "not valid JSON" : "bad value \(path(context))"
    case nil: return (error as NSError).localizedDescription
    @unknown default: return "unreadable"
    }
}
