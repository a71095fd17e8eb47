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

    @Test("tightness interrupted: the statement in flight cut short, certified and marked, those after it named, exit 130")
    func interrupted() throws {
        let dir = Self.temporaryDirectory("tightness-interrupted")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Uninterrupted, T3's Nelder–Mead would run its 100 000 evaluations (seconds); the
        // interrupt comes 0.3 s into its gradient search.
        let r = try runTool(["tightness", "--statement", "all", "--budget", "600", "--evaluations", "100000", "--json", "--out", dir.path],
                            interruptAfter: 0.3, interruptOn: "T3: adversarial search", terminateAfter: 240)
        #expect(r.status == 130, "\(r.stderr)")
        #expect(r.stderr.contains("finishing the work in flight"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["interrupted"] as? Bool == true)
        let statements = try #require(json["statements"] as? [[String: Any]])
        #expect(statements.map { $0["statement"] as? String } == ["T3"])
        let t3 = try #require(statements.first)
        let searches = try #require(t3["searches"] as? [[String: Any]])
        let evaluations = searches.compactMap { $0["evaluations"] as? Int }
        #expect(evaluations.count == 2 && evaluations[1] < 100_000, "\(searches)")
        #expect((t3["notes"] as? [String])?.contains { $0.hasPrefix("interrupted: the searches stopped when the interrupt came") } == true)
        let certified = try #require(t3["certified"] as? [String: Any])
        #expect(certified["outcome"] as? String == "holds" && certified["level"] as? String != "double", "\(certified)")
        #expect(json["not_explored"] as? [String] == ["T4", "T5.pair", "T5.averaged", "T6", "T6.sharp", "T7", "T7.corollary",
                                                       "T10.cka", "T10.procrustes", "T11", "T12"])
        let markdown = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(markdown.contains("**Interrupted:** 1 statement explored (T3 cut short: not reproducible to the bit); not explored: T4, T5.pair"))
        // Without an interrupt the document has neither key.
        let whole = try runTool(["tightness", "--statement", "T3", "--k", "5", "--d", "2", "--budget", "600", "--evaluations", "300", "--json"])
        let plain = try #require(try JSONSerialization.jsonObject(with: Data(whole.stdout.utf8)) as? [String: Any])
        #expect(whole.status == 0 && plain["interrupted"] == nil && plain["not_explored"] == nil, "\(whole.stderr)")
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

    /// At τ = 10⁻³⁰⁰, 1/τ² overflows: the curve printed d_logit²/KL = inf beside "holds".
    @Test("tightness T6 (1/τ²) at τ = 10⁻³⁰⁰: the curve’s ratios are finite, × τ within 2")
    func t6TinyTau() throws {
        let r = try runTool(["tightness", "--statement", "T6", "--k", "5", "--tau", "1e-300", "--budget", "600",
                             "--evaluations", "200000", "--json"], terminateAfter: 300)
        #expect(r.status == 0, "\(r.stderr.suffix(300))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let point = try #require(((json["statements"] as? [[String: Any]])?.first?["tau_curve"] as? [[String: Any]])?.first)
        let largest = try #require(point["largest_ratio"] as? Double), timesTau = try #require(point["times_tau"] as? Double)
        // 200 000 evaluations reach a pair with τ near the floor (where 1/τ² overflows).
        let pairTau = try #require(point["pair_tau"] as? Double)
        #expect(pairTau < 1e-290 && largest.isFinite && largest > 1e290 && timesTau > 1 && timesTau <= 2 * (1 + 1e-12), "\(point)")
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

    /// Ctrl-C in the students' phase: the finished runs reported and written, the rest named, exit
    /// 130 (it had killed the run with nothing written); in the teachers' phase: nothing to report.
    @Test("distill interrupted: exit 130 with the finished teachers and students, the rest named")
    func distillInterrupted() throws {
        let dir = Self.temporaryDirectory("distill-interrupted")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try runTool(["distill", "--seeds", "2", "--points-per-arm", "60", "--teacher-epochs", "40", "--json", "--out", dir.path],
                            interruptAfter: 0, interruptOn: "distill: 30%", terminateAfter: 240)
        #expect(r.status == 130, "\(r.stderr.suffix(400))")
        #expect(r.stderr.contains("stopping the training runs at their next mini-batch"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stderr.suffix(400))")
        let interrupted = try #require(json["interrupted"] as? [String: Any])
        let unfinished = try #require(interrupted["students_not_finished"] as? [[String: Any]])
        let finals = try #require(json["students"] as? [[String: Any]]).filter { $0["stage"] as? String == "final" }
        #expect(!unfinished.isEmpty && finals.count + unfinished.count == 2 * 3 * 4, "\(finals.count) + \(unfinished.count)")
        #expect((json["teachers"] as? [Any])?.count == 2)
        let report = try String(contentsOf: dir.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("**Interrupted:** 2 of 2 teachers and \(finals.count) of 24 students finished; students not finished: "))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("width-floor.svg").path))
        // The first progress line comes after a teacher's first epoch, of 5 000.
        // --out is not left behind, empty, when this run created it.
        let empty = dir.appendingPathComponent("nothing")
        let early = try runTool(["distill", "--seeds", "2", "--points-per-arm", "60", "--teacher-epochs", "5000", "--json", "--out", empty.path],
                                interruptAfter: 0, interruptOn: "distill: 0%", terminateAfter: 240)
        #expect(early.status == 130 && early.stdout.isEmpty && early.stderr.contains("interrupted before any teacher finished training: nothing to report"),
                "\(early.status) \(early.stderr.suffix(300))")
        #expect(!FileManager.default.fileExists(atPath: empty.path))
    }

    /// `distill --text` end to end on the command line (issue 26: only its refusals were run):
    /// the report's text sections, every export written, and the exported teacher and a
    /// student measured back with an exported concept.
    @Test("distill --text on a small corpus: report, JSON, exported models and concepts that measure reads")
    func distillText() throws {
        let dir = Self.temporaryDirectory("distill-text")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let sentence = "The licence grants you the right to copy (and to change) the Program, 3 times a day. "
        let corpus = dir.appendingPathComponent("corpus.txt")
        try String(repeating: sentence, count: 40).write(to: corpus, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out")
        let r = try runTool(["distill", "--text", corpus.path, "--context", "6", "--character-dimension", "4",
                             "--teacher-hidden", "32,32", "--teacher-dimension", "8", "--students", "4,8", "--teacher-epochs", "2",
                             "--student-epochs", "2", "--objectives", "kl,logit-raw", "--seeds", "1", "--out", out.path, "--json"],
                            terminateAfter: 240)
        #expect(r.status == 0, "\(r.stderr.suffix(400))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["students"] != nil && json["teachers"] != nil)
        let report = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        for words in ["n-gram test accuracy, 3 characters of context", "context ends inside a word", "bits per character", "## Settings"] {
            #expect(report.contains(words), "report lacks \(words)")
        }
        let models = out.appendingPathComponent("models")
        let teacher = models.appendingPathComponent("teacher.npz"), student = models.appendingPathComponent("student-d-4-logit-raw-final.npz")
        let concept = models.appendingPathComponent("concept-context-ends-inside-a-word.npy")
        for file in [teacher, student, concept] { #expect(FileManager.default.fileExists(atPath: file.path), "\(file.lastPathComponent)") }
        let measured = try runTool(["measure", teacher.path, student.path, "--concept", "word=\(concept.path)", "--json", "--no-pivot"], terminateAfter: 120)
        #expect(measured.status == 0, "\(measured.stderr.suffix(300))")
        let m = try #require(try JSONSerialization.jsonObject(with: Data(measured.stdout.utf8)) as? [String: Any])
        #expect((m["concepts"] as? [[String: Any]])?.first?["teacher_probe"] is Double)
        #expect((m["sizes"] as? [String: Any])?["d_b"] as? Int == 4)
    }

    /// `distill --text notes --out notes` replaced the corpus's report.md after training; the
    /// corpus's files are now checked against the report's names before any work.
    @Test("distill --text DIR --out DIR with a report.md in the corpus exits 2 before training, the corpus intact")
    func distillNeverReplacesItsCorpus() throws {
        let dir = Self.temporaryDirectory("distill-corpus")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let notes = Data(String(repeating: "A note on the licence, kept as report.md. ", count: 60).utf8)
        let file = dir.appendingPathComponent("report.md")
        try notes.write(to: file)
        let r = try runTool(["distill", "--text", dir.path, "--seeds", "1", "--teacher-epochs", "1", "--student-epochs", "1", "--out", dir.path],
                            terminateAfter: 120)
        #expect(r.status == 2 && r.stderr.contains("--out file report.md") && !r.stderr.contains("%"), "\(r.status) \(r.stderr.suffix(300))")
        #expect(try Data(contentsOf: file) == notes)
        // Names known only after training (models/…, figures): an input where they may go is
        // refused before training too (it trained, then refused at the write and exited 0).
        let models = dir.appendingPathComponent("out/models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        let model = models.appendingPathComponent("teacher.npz")
        try notes.write(to: model)
        let late = try runTool(["distill", "--text", model.path, "--seeds", "1", "--teacher-epochs", "1", "--student-epochs", "1",
                                "--out", dir.appendingPathComponent("out").path], terminateAfter: 120)
        #expect(late.status == 2 && late.stderr.contains("lies where distill writes") && !late.stderr.contains("%"), "\(late.status) \(late.stderr.suffix(300))")
        #expect(try Data(contentsOf: model) == notes)
    }

    /// Each refused for its own reason: every usage error exits 2 with some message, so the message
    /// is what shows which check refused (an option renamed would read "Unknown option").
    @Test("Bad arguments exit 2 with a message", arguments: [
        (["tightness", "--statement", "T9"], "--statement must be one of"),
        (["tightness", "--statement", "T3", "--budget", "soon"], "--budget must be a duration"),
        (["tightness", "--statement", "T3", "--evaluations", "0"], "--evaluations must be in 1…10⁸"),
        (["tightness", "--statement", "T6", "--tau", "0.9"], "--tau values must lie in (0, 1/2)"),
        (["tightness", "--statement", "T6", "--k", "20", "--tau", "0.1"], "no τ below 1/k"),
        (["tightness", "--statement", "T3", "--k", "x"], "--k must be integers"),
        (["tightness", "--statement", "T3", "--d", "30"], "--d must be in 1…64 and below every --k"),
        (["tightness", "--statement", "T10", "--d", "1", "--k", "4"], "T10 needs d ≥ 2"),
        (["tightness", "--statement", "T10.frobenius"], "got T10.frobenius"),
        (["distill", "--seeds", "0"], "--seeds must be between 1 and 100"),
        (["distill", "--students", "4,4"], "--students lists d = 4 twice"),
        (["distill", "--objectives", "kl,mse"], "got \"kl,mse\""),
        (["distill", "--labels", "9", "--arms", "8"], "need 2 ≤ --labels ≤ --arms"),
        (["distill", "--learning-rate", "-1"], "--learning-rate must lie in (0, 1)"),
        (["distill", "--data", "/nonexistent.npz"], "/nonexistent.npz: cannot read"),
        (["distill", "--text", "/nonexistent.txt"], "/nonexistent.txt: no such file"),
        (["distill", "--text", "/bin/sh"], "not UTF-8 text"),
        (["distill", "--data", "a.npz", "--text", "b.txt"], "give --data or --text, not both"),
        (["distill", "--context", "0"], "--context must be in 1…64"),
        (["distill", "--students", "4,x"], "got \"4,x\""),
        (["distill", "--match-agreement", "1.5"], "--match-agreement must be thresholds in (0, 1]"),
        (["distill", "--teacher-dimension", "8"], "the teacher's d = 8 needs k ≥ d + 1"),
    ])
    func badArguments(arguments: [String], message: String) throws {
        let r = try runTool(arguments)
        #expect(r.status == 2, "\(arguments): \(r.stderr)")
        #expect(r.stderr.contains(message) && !r.stderr.contains("Unknown option"), "\(arguments): \(r.stderr)")
    }
}
