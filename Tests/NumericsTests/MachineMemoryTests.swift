import Testing
@testable import Numerics

@Suite("The memory a run may use")
struct MachineMemoryTests {
    @Test("The physical memory, lowered by cgroup v1 and v2 limits (a parent's too); an override; malformed overrides refused")
    func limits() throws {
        let gib = 0x1p30
        let files = [
            "/sys/fs/cgroup/memory/job/7/memory.limit_in_bytes": "\(Int(8 * gib))\n",
            "/sys/fs/cgroup/slurm/job_9/memory.max": "max\n",
            "/sys/fs/cgroup/slurm/memory.max": "\(Int(6 * gib))\n",
            "/sys/fs/cgroup/memory.max": "\(Int(12 * gib))",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712",
            "/sys/fs/cgroup/memory/slurm/uid_0/job_5/memory.limit_in_bytes": "\(Int(3 * gib))",
            "/sys/fs/cgroup/memory/slurm/uid_0/job_5/step_0/task_0/memory.limit_in_bytes": "9223372036854771712",
        ]
        let read = { (path: String) in files[path] }
        let physical = 24 * gib
        let cases: [(String?, Double)] = [
            (nil, physical),
            ("4:memory:/job/7\n0::/\n", 8 * gib),
            ("0::/slurm/job_9\n", 6 * gib),            // the parent's limit; the group's own is "max"
            ("0::/elsewhere\n", 12 * gib),              // the root's
            ("4:cpu,memory:/\n", physical),             // v1's unlimited root
            ("4:memory:/slurm/uid_0/job_5/step_0/task_0\n", 3 * gib),   // v1: the job's limit on an ancestor
            ("garbage\n1:name=systemd:/\n", physical),
        ]
        for (membership, expected) in cases {
            #expect(try MachineMemory.limit(physical: physical, override: nil, cgroupMembership: membership, read: read) == expected, "\(membership ?? "none")")
        }
        for (text, expected) in [("16G", 16 * gib), ("512m", 512 * 0x1p20), ("1.5T", 1.5 * 0x1p40), ("1000", 1000), ("1e3K", 1000 * 0x1p10)] {
            #expect(try MachineMemory.limit(physical: physical, override: text, cgroupMembership: "0::/slurm/job_9\n", read: read) == expected, "\(text)")
        }
        var refused = 0
        for text in ["", "G", "-1G", "0", "lots", "inf", "nan", "1e400", "16GB", "1e30T", "1025P", "0x100M", "0x1p20"] {
            #expect(throws: MachineMemory.InvalidLimit.self, "\(text)") { try MachineMemory.limit(physical: physical, override: text, cgroupMembership: nil, read: read) }
            refused += 1
        }
        #expect(refused == 13)
    }
}
