import Foundation
import Testing

@Suite("tightness and distill on the command line")
struct TightnessDistillCommandTests {
    static func temporaryDirectory(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UInt64.random(in: 0...UInt64.max))")
    }

    @Test("A planted false constant: tightness says so loudly, exits 1 and saves the pair, plot and report")
    func plantedViolation() throws {
        let dir = Self.temporaryDirectory("tightness")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try runTool(["tightness", "--statement", "T3", "--k", "8", "--d", "3", "--budget", "600s", "--evaluations", "3000",
                             "--constant-scale", "0.5", "--out", dir.path])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("CERTIFIED VIOLATION"))
        #expect(r.stdout.contains("**VIOLATED**"))
        for file in ["report.md", "tightness.json", "T3.svg", "T3-first.npz", "T3-second.npz"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), "\(file)")
        }
    }

    @Test("tightness --json on T6.sharp: the τ-curve stays at or below 2/τ and every point is certified")
    func t6JSON() throws {
        let r = try runTool(["tightness", "--statement", "T6.sharp", "--k", "5", "--tau", "1e-3", "--budget", "600", "--evaluations", "3000", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let statement = try #require((json["statements"] as? [[String: Any]])?.first)
        let curve = try #require(statement["tau_curve"] as? [[String: Any]])
        #expect(!curve.isEmpty)
        for point in curve {
            // 2/τ is attained only in the limit; 1e−12 relative for the three roundings of τ·ratio.
            #expect((point["times_tau"] as? Double ?? 3) <= 2 * (1 + 1e-12))
            #expect(point["certified"] as? String == "holds")
        }
        #expect(statement["best_ratio"] as? Double ?? 2 <= 1 + 1e-9)
    }

    @Test("distill --json on a tiny run exits 0 with aggregates for every objective")
    func distillJSON() throws {
        let r = try runTool(["distill", "--seeds", "1", "--points-per-arm", "20", "--teacher-epochs", "3",
                             "--student-epochs", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let aggregates = try #require(json["aggregates"] as? [[String: Any]])
        #expect(Set(aggregates.compactMap { $0["objective"] as? String }) == ["kl", "logit-centred", "logit-raw", "logit-abs"])
    }

    @Test("Bad arguments exit 2 with a message", arguments: [
        ["tightness", "--statement", "T9"],
        ["tightness", "--statement", "T3", "--budget", "soon"],
        ["tightness", "--statement", "T3", "--evaluations", "0"],
        ["tightness", "--statement", "T6", "--tau", "0.9"],
        ["tightness", "--statement", "T6", "--k", "20", "--tau", "0.1"],
        ["tightness", "--statement", "T3", "--k", "x"],
        ["tightness", "--statement", "T3", "--d", "30"],
        ["tightness", "--statement", "T10", "--d", "1", "--k", "4"],
        ["tightness", "--statement", "T10.frobenius"],
        ["distill", "--seeds", "0"],
        ["distill", "--objectives", "kl,mse"],
        ["distill", "--labels", "9", "--arms", "8"],
        ["distill", "--learning-rate", "-1"],
        ["distill", "--data", "/nonexistent.npz"],
        ["distill", "--text", "/nonexistent.txt"],
        ["distill", "--text", "/bin/sh"],
        ["distill", "--data", "a.npz", "--text", "b.txt"],
        ["distill", "--context", "0"],
        ["distill", "--students", "4,x"],
        ["distill", "--match-agreement", "1.5"],
        ["distill", "--teacher-dimension", "8"],
    ])
    func badArguments(arguments: [String]) throws {
        let r = try runTool(arguments)
        #expect(r.status == 2, "\(arguments): \(r.stderr)")
        #expect(!r.stderr.isEmpty)
    }
}
