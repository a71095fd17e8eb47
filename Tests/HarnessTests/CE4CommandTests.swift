import Counterexamples
import Foundation
import ModelFiles
import Numerics
import Testing
import Theory

/// A `.npy` vector of float64 values (integer and bool dtypes are tested in DatasetTests).
func npyVector(_ values: [Double]) -> Data { NumpyArray(shape: [values.count], values: values).npyData() }

@Suite("CE4 search on the command line")
struct CE4CommandTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-ce4cmd-\(UInt32.random(in: 0...UInt32.max))")

    /// CE1's teacher at L = 16 and CE1's own student (exit 1: at this margin its
    /// KL(B‖A) = 1.3e−3 misses CE1's 1e−3 claim), written as files.
    func files() throws -> (teacher: String, student: String) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let r = try runTool(["counterexample", "--family", "CE1", "--sweep", "", "--margin", "16", "--out", dir.appendingPathComponent("ce1").path])
        #expect(r.status == 1, "\(r.stderr)")
        return (dir.appendingPathComponent("ce1/teacher.npz").path, dir.appendingPathComponent("ce1/student.npz").path)
    }

    @Test("A frontier over two ε with a concept file and a reference student: report, JSON, files, SVG")
    func frontier() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (teacher, student) = try files()
        let n = try ModelFile.read(URL(fileURLWithPath: teacher)).inputCount
        let concept = dir.appendingPathComponent("concept.npy")
        try npyVector((0..<n).map { $0 / 12 < 3 ? 1 : 0 }).write(to: concept)
        let out = dir.appendingPathComponent("ce4")
        let r = try runTool(["counterexample", "--family", "CE4", "--teacher", teacher, "--epsilon", "1e-2", "1e-3",
                             "--concept", concept.path, "--reference", student, "--starts", "4", "--evaluations", "200",
                             "--out", out.path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let pairs = try #require(json["pairs"] as? [[String: Any]])
        #expect(pairs.map { $0["parameter"] as? Double } == [1e-2, 1e-3])
        let search = try #require(json["search"] as? [String: Any])
        #expect(search["concept_source"] as? String == "given")
        #expect((search["frontier"] as? [[String: Any]])?.count == 2)
        for file in ["report.md", "report.json", "teacher.npz", "student.npz", "embeddings.svg", "frontier.svg"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "missing \(file)")
        }
        let markdown = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(markdown.contains("Your student"))
        #expect(markdown.contains("exact inertia"))
    }

    @Test("An interrupted CE4 search certifies and reports the ε in flight, then exits 130")
    func interrupted() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (teacher, _) = try files()
        let r = try runTool(["counterexample", "--family", "CE4", "--teacher", teacher, "--epsilon", "1e-2", "1e-3",
                             "--starts", "2", "--evaluations", "10000000", "--budget", "600", "--json"],
                            interruptAfter: 3, interruptOn: "CE4: searching", terminateAfter: 120)
        #expect(r.status == 130, "\(r.status): \(r.stderr.suffix(400))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let pairs = try #require(json["pairs"] as? [[String: Any]])
        #expect(pairs.map { $0["parameter"] as? Double } == [1e-2], "the first ε is reported, the second never started")
        let frontier = try #require((json["search"] as? [String: Any])?["frontier"] as? [[String: Any]])
        let effort = try #require(frontier.first?["effort"] as? [String: Any])
        #expect(effort["interrupted"] as? Bool == true && effort["stopped_by_time"] as? Bool == false, "\(effort)")
        #expect((json["search"] as? [String: Any])?["not_searched"] as? [Double] == [1e-3])
        #expect((pairs.first?["kl_ab"] as? [String: Double])?["upper"] ?? 1 <= 1e-2)
        // Interrupted in its only ε: still 130 (it exited 0).
        let only = try runTool(["counterexample", "--family", "CE4", "--teacher", teacher, "--epsilon", "1e-2",
                                "--starts", "2", "--evaluations", "10000000", "--budget", "600", "--json"],
                               interruptAfter: 3, interruptOn: "CE4: searching", terminateAfter: 120)
        #expect(only.status == 130, "\(only.status): \(only.stderr.suffix(300))")
    }

    @Test("--width-curve on the command line: its options take effect, others are refused, a teacher with no narrower width is refused")
    func widthCurve() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        func run(_ extra: [String]) throws -> (status: Int32, rows: [[String: Any]], stderr: String) {
            let r = try runTool(["counterexample", "--family", "CE4", "--width-curve", "--json"] + extra, terminateAfter: 120)
            let rows = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [[String: Any]] ?? []
            return (r.status, rows, r.stderr)
        }
        let short = try run(["--starts", "1", "--evaluations", "2"]), long = try run(["--starts", "2", "--evaluations", "300"])
        #expect(short.status == 0 && long.status == 0 && short.rows.count == 3 && long.rows.count == 3, "\(short.stderr) \(long.stderr)")
        // More search lowers the KL found at some width (the options reach the search).
        let kl = { (rows: [[String: Any]]) in rows.map { $0["kl_found"] as? Double ?? .nan } }
        #expect(zip(kl(long.rows), kl(short.rows)).contains { $0 < 0.9 * $1 }, "\(kl(long.rows)) vs \(kl(short.rows))")
        for (extra, words) in [(["--objective", "probe"], "--objective"), (["--tau-floor", "teacher"], "--tau-floor"),
                               (["--student-dimension", "2"], "--student-dimension"), (["--epsilon", "1e-3"], "--epsilon")] {
            let r = try run(extra)
            #expect(r.status == 2 && r.stderr.contains(words) && r.stderr.contains("takes none of"), "\(extra): \(r.stderr)")
        }
        // A teacher with d = 1: no narrower width at all.
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 71)
        let thin = dir.appendingPathComponent("thin.npz")
        try ModelFile.write(ModelGenerator.model(labels: 5, dimension: 1, inputs: 20, using: &g), to: thin)
        let none = try run(["--teacher", thin.path])
        #expect(none.status == 2 && none.stderr.contains("min(d, k − 1) = 1"), "\(none.stderr)")
    }

    /// An LM-sized teacher ran `--width-curve` and `--method fisher-null` for minutes at 10 GB
    /// (no limit there), and the search read the whole file before its N·k limit.
    @Test("A teacher beyond CE4's N·k limit is refused from its headers, before its arrays are read, on every CE4 path; so is a reference student of another N")
    func teacherBeyondLimit() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // N·k = 100 001 · 100 = 10 000 100; f's last entry is NaN, which a read would name first.
        let (n, k) = (100_001, 100)
        var f = (0..<n).map { Double($0 % 7) }
        f[n - 1] = .nan
        let big = dir.appendingPathComponent("big.npz")
        try ModelFile.write(arrays: [("f", NumpyArray(shape: [n, 1], values: f)),
                                     ("g", NumpyArray(shape: [k, 1], values: (0..<k).map(Double.init)))], to: big)
        for extra in [[], ["--method", "fisher-null"], ["--width-curve"]] {
            let r = try runTool(["counterexample", "--family", "CE4", "--teacher", big.path] + extra, terminateAfter: 60)
            #expect(r.status == 2 && r.stderr.contains("\(big.path): CE4 holds") && r.stderr.contains("N·k = 10000100 exceeds its limit of 10⁷") && !r.stderr.contains("nan"),
                    "\(extra): \(r.status) \(r.stderr)")
        }
        // A reference student whose N is not the teacher's is refused from its headers too.
        let (teacher, _) = try files()
        let r = try runTool(["counterexample", "--family", "CE4", "--teacher", teacher, "--reference", big.path, "--evaluations", "1"], terminateAfter: 60)
        #expect(r.status == 2 && r.stderr.contains("N = 100001 inputs and k = 100 labels") && !r.stderr.contains("nan"), "\(r.status) \(r.stderr)")
        // … and one of the teacher's N but another k.
        let teacherN = try ModelFile.shape(URL(fileURLWithPath: teacher)).inputs
        let otherK = dir.appendingPathComponent("other-k.npz")
        var g = SeededGenerator(seed: 53)
        try ModelFile.write(ModelGenerator.model(labels: 3, dimension: 2, inputs: teacherN, using: &g), to: otherK)
        let k3 = try runTool(["counterexample", "--family", "CE4", "--teacher", teacher, "--reference", otherK.path, "--evaluations", "1"], terminateAfter: 60)
        #expect(k3.status == 2 && k3.stderr.contains("k = 3 labels"), "\(k3.status) \(k3.stderr)")
        // Each library entry point refuses an in-memory teacher beyond the limit before any work.
        let huge = try SoftmaxModel(embeddings: Matrix(rows: n, columns: 1) { i, _ in Double(i % 7) },
                                    unembeddings: Matrix(rows: k, columns: 1) { i, _ in Double(i) })
        func refusedForSize(_ body: () throws -> Void) -> Bool {
            do { try body(); return false } catch let ModelError.refused(m) { return m.contains("exceeds its limit of 10⁷") } catch { return false }
        }
        #expect(refusedForSize { _ = try CE4FromTeacher().build(teacher: huge) })
        #expect(refusedForSize { _ = try WidthKLCurve().run(teacher: huge) })
        #expect(refusedForSize { _ = try CE4Frontier().run(teacher: huge, concept: nil, reference: nil) })
        // The library refuses the same shapes, and the limit itself is allowed; N·k overflowing Int too.
        #expect(throws: ModelError.self) { try CE4FromTeacher.requireSize(inputs: n, labels: k, dimension: 1) }
        #expect(throws: ModelError.self) { try CE4FromTeacher.requireSize(inputs: Int.max / 2, labels: 3, dimension: 1) }
        try CE4FromTeacher.requireSize(inputs: 100_000, labels: 100, dimension: 99)
        // A teacher of few logits but immense width (read whole, 1.7 GB, before "k ≥ d + 1" refused it).
        #expect(throws: ModelError.self) { try CE4FromTeacher.requireSize(inputs: 10, labels: 10, dimension: 5_000_001) }
        #expect(throws: ModelError.self) { try CE4FromTeacher.requireSize(inputs: 10, labels: 10, dimension: Int.max / 4) }
        try CE4FromTeacher.requireSize(inputs: 10, labels: 10, dimension: 5_000_000)
    }

    /// A hostile user's `counterexample --family CE4 --teacher out/teacher.npz --out out` replaced
    /// the teacher with the one written (exit 0). Every file the command writes is now checked
    /// against its inputs (teacher, reference student, concept, through any path) before the search.
    @Test("No --out file replaces an input: CE4's teacher, or a reference student behind a symlink, exits 2 with the inputs intact")
    func outputsNeverReplaceInputs() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (teacher, student) = try files()
        let (teacherBytes, studentBytes) = (try Data(contentsOf: URL(fileURLWithPath: teacher)), try Data(contentsOf: URL(fileURLWithPath: student)))
        // The same bytes may be written back (CE4 writes the teacher it read), so the files' identities are compared too.
        let identities = [fileIdentity(teacher), fileIdentity(student)]
        let base = ["counterexample", "--family", "CE4", "--starts", "1", "--evaluations", "20"]
        let same = try runTool(base + ["--teacher", teacher, "--out", dir.appendingPathComponent("ce1").path])
        #expect(same.status == 2 && same.stderr.contains("--out file teacher.npz") && same.stderr.contains("would be overwritten"), "\(same.status) \(same.stderr)")
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: out.appendingPathComponent("student.npz").path, withDestinationPath: student)
        let copy = dir.appendingPathComponent("teacher-copy.npz")
        try teacherBytes.write(to: copy)
        let linked = try runTool(base + ["--teacher", copy.path, "--reference", student, "--out", out.path])
        #expect(linked.status == 2 && linked.stderr.contains("--out file student.npz"), "\(linked.status) \(linked.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: teacher)) == teacherBytes && (try Data(contentsOf: URL(fileURLWithPath: student))) == studentBytes)
        #expect([fileIdentity(teacher), fileIdentity(student)] == identities && identities.allSatisfy { $0 != nil })
        // Elsewhere, the same search writes its files.
        let fine = try runTool(base + ["--teacher", copy.path, "--out", dir.appendingPathComponent("fine").path])
        #expect(fine.status == 0 && FileManager.default.fileExists(atPath: dir.appendingPathComponent("fine/teacher.npz").path), "\(fine.status) \(fine.stderr)")
    }

    @Test("Bad CE4 input exits 2 with a message naming the problem")
    func badInput() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (teacher, _) = try files()
        let n = try ModelFile.read(URL(fileURLWithPath: teacher)).inputCount
        let short = dir.appendingPathComponent("short.npy"), two = dir.appendingPathComponent("two.npy")
        let constant = dir.appendingPathComponent("constant.npy")
        try npyVector([1, 0, 1]).write(to: short)
        try npyVector((0..<n).map { Double($0 % 3) }).write(to: two)
        try npyVector(Array(repeating: 1, count: n)).write(to: constant)
        let cases: [([String], String)] = [
            (["--concept", short.path], "3 values, but the teacher has N = \(n)"),
            (["--concept", two.path], "is not 0 or 1"),
            (["--concept", constant.path], "constant"),
            (["--concept", teacher], "bad magic"),
            (["--epsilon", "0"], "positive finite"),
            (["--epsilon", "nan"], "positive finite"),
            (["--epsilon", "1e-3,inf"], "positive finite"),
            (["--objective", "cka"], "mcca, drep or probe"),
            (["--student-dimension", "0"], "1…64"),
            (["--budget", "-1"], "(0, 86400]"),
            (["--evaluations", "0"], "1…10⁷"),
            (["--starts", "1000"], "1…256"),
            (["--method", "fisher-null", "--epsilon", "1e-3", "1e-2"], "one --epsilon"),
        ]
        var refused = 0
        for (extra, message) in cases {
            let r = try runTool(["counterexample", "--family", "CE4", "--teacher", teacher, "--starts", "2", "--evaluations", "20"] + extra)
            #expect(r.status == 2, "\(extra): exit \(r.status), \(r.stderr)")
            #expect(r.stderr.contains(message), "\(extra): \(r.stderr)")
            refused += 1
        }
        #expect(refused == cases.count)
        let other = try runTool(["counterexample", "--family", "CE1", "--concept", "x.npy"])
        #expect(other.status == 2 && other.stderr.contains("applies to CE4 only"))
        let low = try runTool(["counterexample", "--family", "CE5", "--dimension", "1"])
        #expect(low.status == 2 && low.stderr.contains("2…64"), "\(low.stderr)")
        let wrongFamily = try runTool(["counterexample", "--family", "CE1", "--dimension", "4"])
        #expect(wrongFamily.status == 2 && wrongFamily.stderr.contains("CE5 only"))
    }
}
