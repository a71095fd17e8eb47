import Foundation

/// The memory a run may plan for: the machine's physical memory, lowered by the process's
/// control-group limit where one is set (a Slurm job's `--mem`, a container's limit, which
/// `ProcessInfo.physicalMemory` does not see), or set by `LOGITBOUNDS_MEMORY_LIMIT`
/// (bytes, or a number with K, M, G or T, powers of 1024; it replaces the others).
public enum MachineMemory {
    public struct InvalidLimit: Error, CustomStringConvertible {
        public let text: String
        public var description: String {
            "LOGITBOUNDS_MEMORY_LIMIT must be a number of bytes from 1 up to 2⁶⁰, optionally with K, M, G or T (powers of 1024; e.g. 16G), got \"\(text)\""
        }
    }

    /// The limit for this process; throws only on a malformed `LOGITBOUNDS_MEMORY_LIMIT`.
    public static func bytes() throws -> Double {
        try limit(physical: Double(ProcessInfo.processInfo.physicalMemory),
                  override: ProcessInfo.processInfo.environment["LOGITBOUNDS_MEMORY_LIMIT"],
                  cgroupMembership: try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
                  read: { try? String(contentsOfFile: $0, encoding: .utf8) })
    }

    /// The limit with the override given, else the physical memory lowered by every control
    /// group limit found: cgroup v2's `memory.max`, or v1's `memory.limit_in_bytes` under the
    /// memory controller, on the process's group and each of its ancestors (a parent's limit
    /// bounds its children). `read` returns a file's text (nil when absent).
    static func limit(physical: Double, override: String?, cgroupMembership: String?, read: (String) -> String?) throws -> Double {
        if let override { return try parse(override) }
        var limits = [physical]
        for line in (cgroupMembership ?? "").split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let path = String(fields[2])
            // v2 ("0::/path", memory.max) or v1's memory controller (memory.limit_in_bytes): the
            // limit of each directory from the group up to the mount's root (inside a container
            // the group's own path may not exist there, and the container's limit is the root's).
            let (root, file): (String, String)
            if fields[1].isEmpty { (root, file) = ("/sys/fs/cgroup", "memory.max") }
            else if fields[1].split(separator: ",").contains("memory") { (root, file) = ("/sys/fs/cgroup/memory", "memory.limit_in_bytes") }
            else { continue }
            var directory = path
            while true {
                limits.append(contentsOf: value(read("\(root)\(directory == "/" ? "" : directory)/\(file)")))
                guard directory != "/", let slash = directory.lastIndex(of: "/") else { break }
                directory = slash == directory.startIndex ? "/" : String(directory[..<slash])
            }
        }
        return limits.min()!
    }

    /// A limit file's number; none for "max", absence or anything else.
    static func value(_ text: String?) -> [Double] {
        guard let text, let v = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), v > 0 else { return [] }
        return [v]
    }

    /// "17179869184", "16G", "1.5T", "512M": bytes.
    static func parse(_ text: String) throws -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        let (number, scale) = trimmed.last.flatMap { units[$0] }.map { (String(trimmed.dropLast()), $0) } ?? (trimmed, 1)
        // Up to 2⁶⁰ bytes (an exbibyte): beyond, no machine, and counts derived from it overflow.
        // Decimal only ("0x100M" read as hexadecimal by Double(_:) was taken unannounced).
        guard number.allSatisfy({ "0123456789.E+-".contains($0) }),
              let v = Double(number), v.isFinite, v * scale >= 1, v * scale <= 0x1p60 else { throw InvalidLimit(text: text) }
        return v * scale
    }
}
