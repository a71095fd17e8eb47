import Foundation
import Harness
import Theory

/// An `--out` directory, created and proven writable before any work starts, so
/// a long run never ends by losing its result to a bad path.
struct OutputDirectory {
    let url: URL
    /// The files the command writes here, when declared: each is checked against the inputs
    /// before any work, and `path(_:)` asserts that a write uses one of them.
    let names: [String]?
    /// Whether this run created the directory (it did not exist before).
    let created: Bool

    /// `names`, when given, are the files the command will write; one that is one of its
    /// `inputs` (by any path) is refused before any work.
    init(_ path: String) throws { try self.init(path, writes: nil, inputs: []) }

    init(_ path: String, writes names: [String]?, inputs: [String]) throws {
        url = URL(fileURLWithPath: path)
        self.names = names
        created = !FileManager.default.fileExists(atPath: path)
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
        for name in names ?? [] {
            try refuseOverwritingInput(url.appendingPathComponent(name).path, inputs: inputs, what: "--out file \(name)")
        }
    }

    /// Removes the directory where this run created it and wrote nothing into it (a run with
    /// nothing to report), so that "nothing is written" holds.
    func removeIfCreatedAndEmpty() {
        guard created, (try? FileManager.default.contentsOfDirectory(atPath: url.path))?.isEmpty == true else { return }
        try? FileManager.default.removeItem(at: url)
    }

    func path(_ name: String) -> URL {
        assert(names?.contains(name) ?? true, "\(name) is written without being checked against the inputs: add it to `writes`")
        return url.appendingPathComponent(name)
    }

    /// Runs `write` into this directory; on failure says so on standard error (the
    /// result is still on standard output) instead of failing the command, whose
    /// exit status stays the verdict's.
    func attempt(_ command: String, _ write: (OutputDirectory) throws -> Void) {
        do { try write(self) } catch {
            FileHandle.standardError.write(Data(
                "\(command): could not write into \(url.path) (\(fileErrorSentence(error))); the report is on standard output\n".utf8))
        }
    }
}

/// Proves before any work starts that `path` can be written as a file (not a directory,
/// its folder exists and is writable, not a symbolic link), leaving no trace if it did not exist.
func requireWritableFile(_ path: String, what: String) throws {
    // "FILE/" names a directory (the system said "Is a directory", also where FILE was a file).
    if path.hasSuffix("/") { throw CLIError("cannot write the \(what) \(path): a name ending in \"/\" is a directory's; give the file's name") }
    // The write is atomic (a new file renamed over the path), so it would replace a link rather
    // than write through it: `--partial /dev/stdout` replaced the system's /dev/stdout link.
    var link = stat()
    if lstat(path, &link) == 0, (link.st_mode & S_IFMT) == S_IFLNK {
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map { " (to \($0))" } ?? ""
        throw CLIError("cannot write the \(what) \(path): it is a symbolic link\(target), which the atomic write would replace; give the file's own path")
    }
    // An existing directory, device or pipe would be replaced by the atomic write (or block opening it).
    let type = (try? FileManager.default.attributesOfItem(atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path))?[.type] as? FileAttributeType
    let existed = type != nil
    if type == .typeDirectory { throw CLIError("cannot write the \(what) \(path): it is a directory") }
    if let type, type != .typeRegular {
        throw CLIError("cannot write the \(what) \(path): it is not a regular file (a device, pipe or socket)")
    }
    guard let handle = fopen(path, "a") else {
        throw CLIError("cannot write the \(what) \(path): \(String(cString: strerror(errno)))")
    }
    fclose(handle)
    if !existed { unlink(path) }
}

/// Refuses an output path that names one of the command's input files (the same file by device
/// and inode, through any symlink or relative path): the atomic write would replace the user's
/// model or partial with the output.
func refuseOverwritingInput(_ output: String, inputs: [String], what: String) throws {
    guard let target = Theory.fileIdentity(output) else { return }
    if let input = inputs.first(where: { Theory.fileIdentity($0).map { $0 == target } ?? false }) {
        throw CLIError("the \(what) \(output) is the input file \(input): it would be overwritten; write it elsewhere")
    }
}
