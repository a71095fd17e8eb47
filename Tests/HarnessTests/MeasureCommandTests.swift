import Foundation
import ModelFiles
import Numerics
import Testing
import Measure
import Theory

@Suite("logitbounds measure")
struct MeasureCommandTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-measure-\(UInt32.random(in: 0...UInt32.max))")

    func files(inputs n: Int = 40, labels k: Int = 7, dimension d: Int = 3, studentInputs: Int? = nil) throws -> (String, String) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 77)
        let teacher = ModelGenerator.model(labels: k, dimension: d, inputs: n, scale: 2, using: &g)
        var student = ModelGenerator.perturb(teacher, by: 0.1, using: &g)
        if let m = studentInputs { student = ModelGenerator.model(labels: k, dimension: d, inputs: m, using: &g) }
        let tag = UUID().uuidString.prefix(8)
        let a = dir.appendingPathComponent("teacher-\(tag).npz"), b = dir.appendingPathComponent("student-\(tag).npz")
        try ModelFile.write(teacher, to: a)
        try ModelFile.write(student, to: b, format: NumpyFormat(precision: .float32, fortranOrder: true), compressed: true)
        return (a.path, b.path)
    }

    /// A file in the suite's directory that is not a zip archive.
    func garbageFile() throws -> URL {
        let garbage = dir.appendingPathComponent("garbage.npz")
        try Data("not a zip at all".utf8).write(to: garbage)
        return garbage
    }

    @Test("--json has every documented key, finite, and certified bounds that hold")
    func jsonKeys() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files()
        let r = try runTool(["measure", a, b, "--json", "--pivots", "5", "--subsets", "10"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        for key in ["d_logit", "d_logit_squared", "kl_ab", "kl_ba", "log_tau_a", "log_tau_b", "d_rep_ab", "d_rep_ba",
                    "d_rep_scale_free_ab", "d_unemb_ab", "mcca_centered", "mcca_uncentered"] {
            let value = try #require(json[key] as? Double, "missing \(key)")
            #expect(value.isFinite, "\(key) = \(value)")
        }
        let pivot = try #require(json["d_rep_pivot_squared"] as? [String: Any])
        for key in ["mean", "standard_error", "pairs_used", "pairs_skipped"] { #expect(pivot[key] != nil, "missing \(key)") }
        // Keys say what they hold; the earlier names stay one release as aliases with equal values.
        let alias = try #require(json["d_rep_pivot"] as? [String: Any])
        #expect(alias["mean"] as? Double == pivot["mean"] as? Double && alias["pairs_used"] as? Int == pivot["pairs_used"] as? Int)
        #expect(json["d_rep_ab_squared_scale_free"] as? Double == json["d_rep_scale_free_ab"] as? Double)
        #expect(pivot["pairs_used"] as? Int == 50)
        let correlations = try #require(json["canonical_correlations_centered"] as? [Double])
        #expect(correlations.count == 3 && correlations.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 })
        let bounds = try #require(json["bounds"] as? [[String: Any]])
        #expect(Set(bounds.compactMap { $0["id"] as? String }) == ["T3", "T4", "T5", "T6", "T7", "T12"])
        // Equal widths: T12's floor is 0, the row says so instead of a verdict.
        let t12 = try #require(bounds.first { $0["id"] as? String == "T12" })
        #expect(t12["outcome"] as? String == "inapplicable" && (t12["note"] as? String)?.contains("floor is 0") == true)
        for bound in bounds where bound["id"] as? String != "T12" {
            for key in ["id", "lhs", "rhs", "holds"] { #expect(bound[key] != nil, "bound missing \(key)") }
            #expect(bound["holds"] as? Bool == true && bound["certified"] as? Bool == true, "\(bound)")
        }
    }

    @Test("The values equal the theory core's on the same pair")
    func valuesMatchTheory() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files()
        let pair = try ModelPair(try ModelFile.read(URL(fileURLWithPath: a)), try ModelFile.read(URL(fileURLWithPath: b)))
        let r = try runTool(["measure", a, b, "--json", "--no-pivot"])
        let m = try ReportJSON.decode(PairMeasurement.self, from: Data(r.stdout.utf8))
        // The tool and this process run the same code, but d_rep B←A and KL(B‖A) are
        // reached by other calls here (the swapped pair): 1e−12 relative covers the
        // rounding of sums of N·k terms (≈ kε each) and of the least-squares maps.
        func near(_ x: Double, _ y: Double) -> Bool { abs(x - y) <= 1e-12 * max(abs(x), abs(y)) }
        #expect(near(m.dLogitSquared, try pair.logitDistanceSquared()))
        #expect(near(m.klAB, pair.klDivergence()) && near(m.klBA, pair.swapped.klDivergence()))
        #expect(near(m.dRepAB!, (try pair.representationDissimilaritySquared()).squareRoot()))
        #expect(near(m.dRepBA!, (try pair.swapped.representationDissimilaritySquared()).squareRoot()))
        #expect(near(m.mccaCentered, (try pair.embeddingCorrelations(centred: true)).mean))
        #expect(m.dRepPivot.mean == nil)
    }

    @Test("d_logit², KL and log τ agree with a naive computation from the arrays the test wrote")
    func independentValues() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files(inputs: 25, labels: 6, dimension: 2)
        let fa = try ModelFile.readArrays(URL(fileURLWithPath: a)), fb = try ModelFile.readArrays(URL(fileURLWithPath: b))
        // Naive: logits by triple loops, probabilities by exp / Σ exp, nothing shared with Theory.
        func logits(_ arrays: [String: NumpyArray]) -> [[Double]] {
            let f = arrays["f"]!, g = arrays["g"]!, d = f.shape[1]
            return (0..<f.shape[0]).map { i in (0..<g.shape[0]).map { y in (0..<d).reduce(0) { $0 + f.values[i * d + $1] * g.values[y * d + $1] } } }
        }
        let la = logits(fa), lb = logits(fb), n = la.count, k = la[0].count
        var dlogit = 0.0, klAB = 0.0, klBA = 0.0, tauA = 0.0
        for i in 0..<n {
            let ca = la[i].map { $0 - la[i].reduce(0, +) / Double(k) }, cb = lb[i].map { $0 - lb[i].reduce(0, +) / Double(k) }
            dlogit += zip(ca, cb).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(n)
            let za = la[i].reduce(0) { $0 + exp($1) }, zb = lb[i].reduce(0) { $0 + exp($1) }
            let pa = la[i].map { exp($0) / za }, pb = lb[i].map { exp($0) / zb }
            klAB += zip(pa, pb).reduce(0) { $0 + $1.0 * log($1.0 / $1.1) } / Double(n)
            klBA += zip(pb, pa).reduce(0) { $0 + $1.0 * log($1.0 / $1.1) } / Double(n)
            tauA = min(tauA, log(pa.min()!))
        }
        let r = try runTool(["measure", a, b, "--json", "--no-pivot"])
        let m = try ReportJSON.decode(PairMeasurement.self, from: Data(r.stdout.utf8))
        #expect(abs(m.dLogitSquared - dlogit) <= 1e-10 * dlogit)
        #expect(abs(m.klAB - klAB) <= 1e-8 * klAB && abs(m.klBA - klBA) <= 1e-8 * klBA)
        #expect(abs(m.logTauA - tauA) <= 1e-10 * abs(tauA))
    }

    /// Logits in the hundreds (1/τ² ≈ 10⁹¹⁴): the screen's right sides overflow. The table showed
    /// "inf" beside "holds" and a left/right of 0 or inf; certified, every side is a number or a
    /// scientific form with its level.
    @Test("T6 beyond the Double range: no inf in the table, screened or certified")
    func t6BeyondRangeTable() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 78)
        let teacher = ModelGenerator.model(labels: 5, dimension: 2, inputs: 20, scale: 2, using: &g)
        let student = ModelGenerator.perturb(teacher, by: 0.3, using: &g)
        let (a, b) = (dir.appendingPathComponent("a.npz"), dir.appendingPathComponent("b.npz"))
        for (model, url) in [(teacher, a), (student, b)] {
            try ModelFile.write(try SoftmaxModel(embeddings: 300 * model.embeddings, unembeddings: model.unembeddings), to: url)
        }
        var checked = 0
        for certify in ["never", "auto"] {
            let r = try runTool(["measure", a.path, b.path, "--no-pivot", "--certify", certify])
            #expect(r.status == 0, "\(r.stderr)")
            let rows = r.stdout.split(separator: "\n").filter { $0.hasPrefix("| T6 |") }
            #expect(rows.count == 4)
            for row in rows {
                let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                #expect(!cells.contains("inf") && !cells.contains("0") && !cells.contains("nan"), "--certify \(certify): \(row)")
                if certify == "auto" { #expect(row.contains("(certified bound)") && row.contains("holds"), "\(row)") }
                checked += 1
            }
        }
        #expect(checked == 8)
    }

    @Test("The human report is a readable table and --out writes report.md and report.json")
    func humanReport() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files()
        let out = dir.appendingPathComponent("out")
        let r = try runTool(["measure", a, b, "--out", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("| d_logit |") && r.stdout.contains("| T6 |") && r.stdout.contains("certified"))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("report.md").path))
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("report.json").path))
    }

    @Test("An explicit pivot-subset file is used as given, as text or JSON")
    func explicitPivots() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files()
        let text = dir.appendingPathComponent("pairs.txt"), json = dir.appendingPathComponent("pairs.json")
        let marked = dir.appendingPathComponent("pairs-bom.txt")
        try "# p l1 l2 l3\n0 1 2 3\n4, 5, 6, 0\n".write(to: text, atomically: true, encoding: .utf8)
        // A byte-order mark and a no-break space (refused as "got \"0 1 2 3\"", which looks valid).
        try "\u{FEFF}0 1 2 3\n4\u{00A0}5 6 0\n".write(to: marked, atomically: true, encoding: .utf8)
        try #"[{"pivot": 0, "subset": [1, 2, 3]}, {"pivot": 4, "subset": [5, 6, 0]}]"#.write(to: json, atomically: true, encoding: .utf8)
        let pair = try ModelPair(try ModelFile.read(URL(fileURLWithPath: a)), try ModelFile.read(URL(fileURLWithPath: b)))
        let expected = try pair.pivotDissimilarity(.explicit([PivotSubset(pivot: 0, subset: [1, 2, 3]),
                                                              PivotSubset(pivot: 4, subset: [5, 6, 0])]))
        // A pipe, which can be read once: the memory check before the run reads no subsets (it had
        // read them, and the run then found the pipe empty, or waited for a writer).
        let fifo = dir.appendingPathComponent("pairs.fifo")
        #expect(mkfifo(fifo.path, 0o644) == 0)
        let writer = Thread {
            guard let handle = FileHandle(forWritingAtPath: fifo.path) else { return }
            handle.write(Data("0 1 2 3\n4 5 6 0\n".utf8))
            try? handle.close()
        }
        writer.start()
        var read = 0
        for file in [text, json, marked, fifo] {
            let r = try runTool(["measure", a, b, "--json", "--pivot-subsets", file.path], terminateAfter: 60)
            #expect(r.status == 0, "\(file.lastPathComponent): \(r.stderr)")
            let m = try ReportJSON.decode(PairMeasurement.self, from: Data(r.stdout.utf8))
            #expect(m.dRepPivot.mean == expected.mean && m.dRepPivot.pairsUsed == 2)
            read += 1
        }
        #expect(read == 4)
    }

    @Test("A near-orbit pivot form: exact where the exact level may form, else flagged at the rounding level with its estimate")
    func nearOrbitPivotForm() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 78)
        let teacher = ModelGenerator.model(labels: 6, dimension: 3, inputs: 40, using: &g)
        var f = ModelGenerator.doubledOrbitImage(teacher).embeddings
        for i in f.storage.indices { f.storage[i] += 4e-15 * g.gaussian() }
        let student = try ModelGenerator.doubledOrbitImage(teacher).with(embeddings: f)
        let a = dir.appendingPathComponent("near-a.npz"), b = dir.appendingPathComponent("near-b.npz")
        try ModelFile.write(teacher, to: a)
        try ModelFile.write(student, to: b)
        let exactPair = try ModelPair(teacher, student).exact()
        let (pairs, _) = try ModelPair.pivotSubsets(.automatic(), labelCount: 6, dimension: 3)
        let truth = (Rational.sum(try pairs.map { try exactPair.pivotResidual($0) }) / Rational(pairs.count)).doubleValue
        func run(_ extra: [String]) throws -> (pivot: [String: Any], notes: [String]) {
            let r = try runTool(["measure", a.path, b.path, "--json"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            return (try #require(json["d_rep_pivot_squared"] as? [String: Any]), json["notes"] as? [String] ?? [])
        }
        let exact = try run([])
        let exactMean = try #require(exact.pivot["mean"] as? Double)
        #expect(abs(exactMean - truth) <= 1e-14 * truth && exact.pivot["rounding_error_estimate"] == nil, "\(exactMean) against \(truth)")
        #expect(exact.notes.contains("pivot form: \(pairs.count) pairs recomputed (the moment form cancelled, or its map was ill-conditioned), all exactly (rational moments and maps)"))
        let rounded = try run(["--certify", "never"])
        let mean = try #require(rounded.pivot["mean"] as? Double), estimate = try #require(rounded.pivot["rounding_error_estimate"] as? Double)
        #expect(mean != truth && abs(mean - truth) <= estimate && estimate > 1e-6 * mean, "\(mean) ± \(estimate) against \(truth)")
        #expect(rounded.notes.contains { $0.contains("d_rep,pivot² is known only to about ± ") && $0.contains("not a certificate") }, "\(rounded.notes)")
        let markdown = try runTool(["measure", a.path, b.path, "--certify", "never"])
        #expect(markdown.stdout.contains("every pair: no sampling error") && markdown.stdout.contains("**at the rounding level: known only to about ± "))
    }

    @Test("Bad files and mismatched pairs exit 2 naming the problem")
    func badInput() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, _) = try files()
        let (_, other) = try files(inputs: 40, studentInputs: 30)
        let garbage = try garbageFile()
        var cases: [([String], String)] = [
            (["measure", a, "/nonexistent.npz"], "/nonexistent.npz: cannot read"),
            (["measure", a, garbage.path], "not a NumPy .npz archive"),
            (["measure", a, other], "N = 40 inputs vs N = 30"),
            (["measure", a, try files(labels: 9).1], "k = 7 labels vs k = 9"),
            (["measure", a, a, "--certify", "sometimes"], "--certify must be"),
            (["measure", a, a, "--pivots", "0"], "--pivots must be in 1…100000"),
            (["measure", a, a, "--no-pivot", "--pivots", "3"], "--no-pivot contradicts"),
            (["measure", a, a, "--pivot-subsets", "/nonexistent.txt"], "/nonexistent.txt: cannot read: no such file"),
            (["measure", a, a, "--pivot-subsets", a + "/"], "not a directory"),
            (["measure", a], "Missing expected argument"),
        ]
        // Both files with k = 1 (a report of 0 ≤ 0 had come out with exit 0).
        var g = SeededGenerator(seed: 78)
        let single = dir.appendingPathComponent("k1.npz").path
        try ModelFile.write(SoftmaxModel(embeddings: g.gaussianMatrix(rows: 40, columns: 3), unembeddings: g.gaussianMatrix(rows: 1, columns: 3)),
                            to: URL(fileURLWithPath: single))
        let k1Partial = dir.appendingPathComponent("k1.json").path
        cases += [(["measure", single, single], "k = 1: a softmax over one label is constant"),
                  (["measure", single, single, "--shard", "1/2", "--partial", k1Partial], "k = 1: a softmax over one label is constant")]
        for (arguments, message) in cases {
            let r = try runTool(arguments)
            #expect(r.status == 2, "\(arguments): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: k1Partial), "a refused shard wrote its partial")
        // Pairs wrong for the pair's k = 7 and d = 3: refused from the headers with their line (or
        // place in a JSON list), before the models are read (they had been found after the whole
        // measurement, without a line); a NUL byte shown escaped.
        var refused = 0
        for (name, text, message) in [("bad.txt", "0 1 2 3\n0 1 2 99\n", "bad.txt:2: pivot 0 with subset [1, 2, 99]: label 99 is not below k = 7"),
                                      ("own.txt", "# p S\n\n4 1 4 2\n", "own.txt:3: pivot 4 with subset [1, 4, 2]: the subset holds its pivot"),
                                      ("twice.txt", "0 1 2 2\n", "twice.txt:1: pivot 0 with subset [1, 2, 2]: a label is repeated"),
                                      ("short.txt", "0 1 2 3\n0 1 2\n", "short.txt:2: pivot 0 with subset [1, 2]: 2 labels, where the subsets hold d = 3"),
                                      ("list.json", #"[{"pivot": 0, "subset": [1, 2, 3]}, {"pivot": 7, "subset": [1, 2, 3]}]"#,
                                       "list.json, pair 2 of the list: pivot 7 with subset [1, 2, 3]: label 7 is not below k = 7"),
                                      ("negative.json", #"[{"pivot": 0, "subset": [1, -2, 3]}]"#,
                                       "negative.json, pair 1 of the list: pivot 0 with subset [1, -2, 3]: label -2 is negative"),
                                      ("nul.txt", "0 1 2 3\u{0}\n", #"nul.txt:1: expected "p l1 … ld" (non-negative integers), got "0 1 2 3\0""#)] {
            let file = dir.appendingPathComponent(name)
            try text.write(to: file, atomically: true, encoding: .utf8)
            let r = try runTool(["measure", a, a, "--pivot-subsets", file.path])
            #expect(r.status == 2 && r.stderr.contains(message) && !r.stderr.contains("reading"), "\(name): \(r.stderr)")
            refused += 1
        }
        #expect(refused == 7)
        // A fraction where a label belongs is valid JSON, not "not valid JSON" (Foundation's word for it).
        var checked = 0
        for (text, message) in [(#"[{"pivot": 0, "subset": [1, 2.5, 3]}]"#, "a number does not fit its field"),
                                (#"[{"pivot": 1e30, "subset": [1, 2, 3]}]"#, "a number does not fit its field"),
                                (#"[{"pivot": 0, "subset": [1, 2, 3]"#, "not valid JSON"), ("[]", "no (p, S) pairs found"),
                                ("0 1 2 99999999999999999999\n", "label 99999999999999999999 is out of range")] {
            let file = dir.appendingPathComponent("pairs-\(checked).json")
            try text.write(to: file, atomically: true, encoding: .utf8)
            let r = try runTool(["measure", a, a, "--pivot-subsets", file.path])
            #expect(r.status == 2 && r.stderr.contains(message), "\(text): \(r.stderr)")
            checked += 1
        }
        #expect(checked == 5)
    }

    @Test("A pair beyond the memory a run may use, or of another N, is refused from the headers (exit 2, with the estimate); file errors come first; a malformed limit is refused")
    func memoryRefusal() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files()
        let (_, other) = try files(inputs: 40, studentInputs: 30)
        let garbage = try garbageFile()
        let partial = dir.appendingPathComponent("p.json").path
        let cases: [([String], String, Int32, String)] = [
            // N = 40, k = 7, d = 3: the process's baseline (31.5 MiB) and a few KB more (fewer for a
            // shard of 20 rows, fewest for one row).
            (["measure", a, b], "1K", 2, "the 1 KiB"),
            (["measure", a, b, "--shard", "1/2", "--partial", partial], "1K", 2, "(20 in this shard)"),
            (["measure", a, garbage.path], "1K", 2, "not a NumPy .npz archive"),
            (["measure", a, other], "1K", 2, "N = 40 inputs vs N = 30"),
            (["measure", a, b, "--shard", "1/9223372036854775807", "--partial", partial], "1K", 2, "need 1 ≤ i ≤ n ≤ N"),
            (["measure", a, b], "1e30T", 2, "LOGITBOUNDS_MEMORY_LIMIT must be"),
            (["measure", a, b, "--no-pivot"], "\(Int(MeasureMemory.baseline) + 20000)", 2, "at least 2 shards"),
            (["measure", a, b], "lots", 2, "LOGITBOUNDS_MEMORY_LIMIT must be a number of bytes from 1"),
            (["measure", a, b], "0.5", 2, "LOGITBOUNDS_MEMORY_LIMIT must be"), (["measure", a, b], "1e-300", 2, "LOGITBOUNDS_MEMORY_LIMIT must be"),
            (["measure", a, b], "-1G", 2, "LOGITBOUNDS_MEMORY_LIMIT must be"),
            (["measure", a, b, "--no-pivot"], "64G", 0, "d_logit"),
        ]
        var ran = 0
        for (arguments, limit, status, message) in cases {
            let r = try runTool(arguments, environment: ["LOGITBOUNDS_MEMORY_LIMIT": limit])
            #expect(r.status == status, "\(arguments) at \(limit): \(r.stderr)")
            #expect((status == 0 ? r.stdout : r.stderr).contains(message), "\(arguments) at \(limit): \(r.stderr)")
            // Refusals from the headers come before any reading (a student of another N was read whole first).
            if r.stderr.contains("needs about") || message.contains("inputs vs") {
                #expect(!r.stderr.contains("reading"), "refused after reading began: \(r.stderr)")
            }
            ran += 1
        }
        #expect(ran == cases.count)
        #expect(!FileManager.default.fileExists(atPath: partial))
        // Pivot subsets from a pipe, which the check before the run cannot read: counted once read,
        // before they are parsed or the models read (131 072 lines of d = 3 at 160 bytes a pair,
        // about 20 MiB; the default sample's 20 000 fit under the limit, so the first check passes).
        // The same lines from a regular file are refused by the first check. A refusal before the
        // pipe is read would leave the writer without a reader: SIGPIPE is ignored, the write throws.
        signal(SIGPIPE, SIG_IGN)
        let lines = String(repeating: "0 1 2 3\n", count: 1 << 17)
        let (fifo, file) = (dir.appendingPathComponent("many.fifo"), dir.appendingPathComponent("many.txt"))
        #expect(mkfifo(fifo.path, 0o644) == 0)
        try lines.write(to: file, atomically: true, encoding: .utf8)
        // The writer's whole text read before the refusal, which then names the same estimate as for the file.
        let written = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var wroteAll = false
        let writer = Thread {
            defer { written.signal() }
            guard let handle = FileHandle(forWritingAtPath: fifo.path) else { return }
            wroteAll = (try? handle.write(contentsOf: Data(lines.utf8))) != nil
            try? handle.close()
        }
        writer.start()
        let limit = "\(Int(MeasureMemory.baseline) + 4 << 20)"
        var estimates: [String] = []
        for source in [fifo, file] {
            let r = try runTool(["measure", a, b, "--pivot-subsets", source.path], terminateAfter: 60, environment: ["LOGITBOUNDS_MEMORY_LIMIT": limit])
            #expect(r.status == 2 && r.stderr.contains("needs about") && !r.stderr.contains("reading"), "\(source.lastPathComponent): \(r.stderr)")
            estimates.append(String(r.stderr.split(separator: "(").first ?? ""))
            ran += 1
        }
        #expect(written.wait(timeout: .now() + 10) == .success && wroteAll)
        #expect(estimates.count == 2 && estimates[0] == estimates[1] && estimates[0].contains("needs about"), "\(estimates)")
        // Where the pivot form does not run (d_A ≠ d_B), the subsets file is not read: the pair is measured.
        let (wide, _) = try files(dimension: 4)
        let bad = dir.appendingPathComponent("unused.txt")
        try "0 1 2 99\n".write(to: bad, atomically: true, encoding: .utf8)
        let unused = try runTool(["measure", a, wide, "--pivot-subsets", bad.path])
        #expect(unused.status == 0 && unused.stdout.contains("needs d_A = d_B"), "\(unused.stderr)")
        #expect(ran == cases.count + 2)
    }

    /// `--certify always` formed the exact level at any size, with no term for its exact logits in
    /// the memory estimate: past the memory it was killed part-way. An orbit pair (F·2, G/2: every
    /// bound needs the exact level) of N = 2 000, k = 200, d = 3, above the automatic size, under a
    /// limit that holds the run but not its exact logits: screened, with the reason in a note and
    /// no note pointing to `--certify always` (nor under `auto`, where it would not fit either);
    /// under 64 GiB, certified exactly.
    @Test("--certify always where its exact level does not fit in memory: screened with the reason, exact where it fits")
    func certifyAlwaysBeyondMemory() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 64)
        let (n, k) = (2000, 200)
        let f = g.gaussianMatrix(rows: n, columns: 3), u = g.gaussianMatrix(rows: k, columns: 3)
        let (a, b) = (dir.appendingPathComponent("t.npz"), dir.appendingPathComponent("o.npz"))
        let teacher = try SoftmaxModel(embeddings: f, unembeddings: u)
        try ModelFile.write(teacher, to: a)
        try ModelFile.write(ModelGenerator.doubledOrbitImage(teacher), to: b)
        let run = MeasureMemory.estimatedBytes(rows: n, inputs: n, labels: k, dimensions: (3, 3), workers: BLASThreads.cores, certifying: true)
        let limit = Int(run + MeasureMemory.exactLevelBytes(inputs: n, labels: k) / 2)
        var levels: [String: [String]] = [:]
        // `auto` at the same limit: no note points to --certify always, which would not fit either.
        let auto = try runTool(["measure", a.path, b.path, "--no-pivot", "--json"], environment: ["LOGITBOUNDS_MEMORY_LIMIT": "\(limit)"])
        let autoJSON = try #require(try JSONSerialization.jsonObject(with: Data(auto.stdout.utf8)) as? [String: Any])
        let autoNotes = (autoJSON["notes"] as? [String] ?? []) + (autoJSON["bounds"] as? [[String: Any]] ?? []).compactMap { $0["note"] as? String }
        #expect(autoNotes.contains { $0.contains("would not fit in memory") }
                && !autoNotes.contains { $0.contains("--certify always") && !$0.contains("would not fit in memory") }, "\(autoNotes)")
        for memory in ["\(limit)", "64G"] {
            let r = try runTool(["measure", a.path, b.path, "--certify", "always", "--no-pivot", "--json"], environment: ["LOGITBOUNDS_MEMORY_LIMIT": memory])
            #expect(r.status == 0, "\(memory): \(r.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let bounds = try #require(json["bounds"] as? [[String: Any]]), notes = try #require(json["notes"] as? [String])
            levels[memory] = bounds.compactMap { $0["level"] as? String }
            let denied = notes.contains { $0.hasPrefix("--certify always forms no exact or MPFR level on this pair") }
            #expect(denied == (memory != "64G"), "\(memory): \(notes)")
            let pointers = (notes + bounds.compactMap { $0["note"] as? String }).filter { $0.contains("--certify always") && !$0.hasPrefix("--certify always forms no") }
            #expect(memory == "64G" || pointers.isEmpty, "\(memory): notes still point to --certify always: \(pointers)")
        }
        #expect(levels["64G"]?.filter { $0 == "exact" }.count ?? 0 >= 7, "\(levels)")
        #expect(levels["\(limit)"].map { !$0.isEmpty && $0.allSatisfy { $0 == "screen" || $0 == "fast enclosure" } } == true, "\(levels)")
        // Within the automatic size (N = 300, k = 100: N·k·(d_A + d_B) = 1.8·10⁵) `auto` forms the exact
        // level only where it fits too: screened with the reason under the limit, exact beyond it.
        let (small, smallOrbit) = (dir.appendingPathComponent("s.npz"), dir.appendingPathComponent("so.npz"))
        let fs = f.selectingRows(Array(0..<300)), us = u.selectingRows(Array(0..<100))
        let smallTeacher = try SoftmaxModel(embeddings: fs, unembeddings: us)
        try ModelFile.write(smallTeacher, to: small)
        try ModelFile.write(ModelGenerator.doubledOrbitImage(smallTeacher), to: smallOrbit)
        let smallRun = MeasureMemory.estimatedBytes(rows: 300, inputs: 300, labels: 100, dimensions: (3, 3), workers: BLASThreads.cores, certifying: true)
        let smallLimit = Int(smallRun + MeasureMemory.exactLevelBytes(inputs: 300, labels: 100) / 2)
        var autoLevels: [String: [String]] = [:]
        for memory in ["\(smallLimit)", "64G"] {
            let r = try runTool(["measure", small.path, smallOrbit.path, "--no-pivot", "--json"], environment: ["LOGITBOUNDS_MEMORY_LIMIT": memory])
            #expect(r.status == 0, "\(memory): \(r.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let notes = try #require(json["notes"] as? [String])
            autoLevels[memory] = (json["bounds"] as? [[String: Any]] ?? []).compactMap { $0["level"] as? String }
            #expect(notes.contains { $0.hasPrefix("no exact or MPFR level on this pair, though it is within their automatic size") } == (memory != "64G"), "\(memory): \(notes)")
        }
        #expect(autoLevels["64G"]?.contains("exact") == true && autoLevels["\(smallLimit)"]?.contains("exact") == false, "\(autoLevels)")
    }

    @Test("The memory estimate's advice: sharding where the rows dominate, more memory where g does")
    func memoryAdvice() throws {
        let cores = 2, limit = 16e9
        // N = 10⁷ rows of d = 300: 48 GB of f; g is 10 labels.
        let rows = try #require(MeasureMemory.refusal(rows: 10_000_000, inputs: 10_000_000, labels: 10, dimensions: (300, 300), workers: cores, certifying: true, limit: limit))
        #expect(rows.contains("split the inputs into at least") && rows.contains("--shard i/"), "\(rows)")
        // The shard count named fits, one fewer does not.
        let named = try #require(Int(rows.split(separator: " ").drop { $0 != "least" }.dropFirst().first ?? ""))
        let need = { (m: Int) in MeasureMemory.estimatedBytes(rows: (10_000_000 + m - 1) / m, inputs: 10_000_000, labels: 10, dimensions: (300, 300), workers: cores, certifying: true) }
        #expect(need(named) <= limit && (1..<named).allSatisfy { need($0) > limit }, "\(named)")
        // k = 256 000, d = 4096: each g is 8.4 GB, held by every shard.
        let labels = try #require(MeasureMemory.refusal(rows: 4096, inputs: 4096, labels: 256_000, dimensions: (4096, 4096), workers: cores, certifying: true, limit: limit))
        #expect(labels.contains("no shard fits"), "\(labels)")
        // The passes use a worker a chunk or block, not a core: the language-model shape on 64 cores
        // needs what it needs on 7 (its certified pass has 7 blocks).
        #expect(MeasureMemory.estimatedBytes(rows: 4096, inputs: 4096, labels: 50_257, dimensions: (768, 768), workers: 64, certifying: true)
                == MeasureMemory.estimatedBytes(rows: 4096, inputs: 4096, labels: 50_257, dimensions: (768, 768), workers: 7, certifying: true))
        // The language-model bench's shape (1.8 GB) fits.
        #expect(MeasureMemory.refusal(rows: 4096, inputs: 4096, labels: 50_257, dimensions: (768, 768), workers: cores, certifying: true, limit: limit) == nil)
        // Within 7 % below … 9 % above the peaks measured on this 2-core machine (`/usr/bin/time`'s
        // maximum resident KiB; notes/benchmarks.md, stops 52–54): (N, k, d, rows read, certified, peak).
        // The last eight are shards of small d (stop 54), which the estimate put 3–5× low before it
        // counted a shard's copies of its rows, its interval moments' blocks and the process's baseline.
        let measured: [(Int, Int, Int, Int, Bool, Double)] = [
            (4096, 50_257, 768, 4096, false, 1_560_500), (4096, 50_257, 768, 4096, true, 1_742_764),
            (4096, 50_257, 768, 2048, false, 1_541_408), (4096, 50_257, 768, 2048, true, 1_744_080),
            (512, 100_000, 1024, 512, false, 3_508_080), (512, 100_000, 1024, 512, true, 3_636_212),
            (2048, 8192, 2048, 2048, false, 1_408_888), (2048, 8192, 2048, 2048, true, 2_402_484),
            (2048, 8192, 2048, 512, false, 1_055_956), (2048, 8192, 2048, 512, true, 2_031_604),
            (1024, 300_000, 1024, 1024, true, 10_165_448),
            (40_000, 10, 512, 40_000, true, 2_333_176), (2000, 50_000, 128, 2000, true, 1_190_008),
            (2000, 50_000, 128, 2000, false, 497_856),
            (200_000, 10, 32, 50_000, true, 131_892), (200_000, 10, 32, 50_000, false, 94_612),
            (200_000, 10, 32, 100_000, true, 199_212), (200_000, 10, 32, 100_000, false, 157_852),
            (50_000, 10, 128, 12_500, true, 143_680), (50_000, 10, 128, 12_500, false, 95_088),
            (50_000, 10, 128, 25_000, true, 256_944), (50_000, 10, 128, 25_000, false, 157_544),
            (200_000, 10, 8, 200_000, true, 356_084), (200_000, 10, 8, 200_000, false, 292_544),
        ]
        // Where the phases' buffers are not all held at once the estimate errs high: the shards of
        // k = 1 000, d = 8 (its screen's blocks are 60 % of it) by 10–65 %, the runs at N = 200 000,
        // d = 32 by 14–26 %; never low.
        let high: [(Int, Int, Int, Int, Bool, Double)] = [
            (200_000, 1000, 8, 50_000, true, 72_880), (200_000, 1000, 8, 50_000, false, 101_852),
            (200_000, 1000, 8, 100_000, true, 87_796), (200_000, 1000, 8, 100_000, false, 116_548),
            (200_000, 10, 32, 200_000, true, 701_796), (200_000, 10, 32, 200_000, false, 705_880),
        ]
        // Runs of small d (stop 65; perturbed pairs, "o" orbit pairs F·2, G/2), where the N×k logits
        // dominate: T7's terms and the enclosed logits (`wholeLogitBytes`), the exact logits of an
        // orbit pair within the automatic size, and the pivot form's |U|×|U| tables (pivot: whether it
        // ran). An estimate without the first put the orbit pair of N = 20 000 at 0.45 of its peak.
        let logits: [(Int, Int, Int, Bool, Bool, Double)] = [
            (10_000, 200, 3, true, true, 177_032), (20_000, 200, 3, true, true, 326_888), (30_000, 200, 3, true, true, 284_132),
            (80_000, 200, 3, true, true, 702_972), (1000, 4000, 3, true, true, 437_840), (4000, 500, 8, true, true, 194_384),
            (20_000, 200, 3, true, true, 326_432) /* o */, (20_000, 200, 3, false, true, 193_840),
            (1000, 4000, 3, false, true, 437_332), (80_000, 200, 3, false, true, 696_412),
            (1000, 4000, 3, true, false, 315_532), (1000, 4000, 3, true, false, 315_592) /* o */,
        ]
        // Runs that form the exact and MPFR levels (stop 65), against the run's estimate with a quarter
        // more and `exactLevelBytes`, which a run needs to fit before it forms them: the orbit pair of
        // N = k = 1 000, d = 1 (its exact logits), and near-ties (B = A's orbit image, F moved by 10⁻¹⁵
        // relative) of d = 3, k = 200 whose T6 is certified by MPFR, N = 1 000 (auto) and 4 000 (always).
        // `exactLevelBytes` at the exact logits' 160 bytes put the last at 0.34 of its peak.
        // And near-ties of k = 2 (the attack's N = 62 500, d = 8: 281 MiB), whose per-input intervals
        // dominate: 2.8 kB an input.
        var exactCompared = 0
        for (n, k, d, kib) in [(1000, 1000, 1, 230_040.0), (1000, 200, 3, 197_960), (4000, 200, 3, 689_736), (62_500, 2, 8, 281 * 1024)] {
            let run = MeasureMemory.estimatedBytes(rows: n, inputs: n, labels: k, dimensions: (d, d), workers: cores, certifying: true, pivoting: true)
            let ratio = (PairMeasurement.Options.runMargin * run + MeasureMemory.exactLevelBytes(inputs: n, labels: k)) / (kib * 1024)
            #expect(ratio >= 1 && ratio <= 4.5, "N = \(n), k = \(k), d = \(d): (1.25 run + exact level) / peak = \(ratio)")
            exactCompared += 1
        }
        #expect(exactCompared == 4)
        // The pivot sample's pairs (stop 65's attack; N = 100, k = 1 000): (d, rows, pairs, peak KiB).
        // An estimate without them put the shard of 10⁶ pairs at 0.06 of its peak.
        let pivotPairs: [(Int, Int, Int, Double)] = [
            (2, 100, 1_000_000, 180_576), (64, 100, 20_000, 82_052), (64, 50, 20_000, 150_356), (2, 50, 1_000_000, 943_044),
        ]
        var pairsCompared = 0
        for (d, rows, pairs, kib) in pivotPairs {
            let ratio = MeasureMemory.estimatedBytes(rows: rows, inputs: 100, labels: 1000, dimensions: (d, d), workers: cores, certifying: true,
                                                     pivoting: true, pivotPairs: pairs) / (kib * 1024)
            #expect(ratio >= 0.9 && ratio <= 1.2, "d = \(d), rows \(rows), \(pairs) pivot pairs: estimate / peak = \(ratio)")
            pairsCompared += 1
        }
        #expect(pairsCompared == 4)
        var compared = 0
        // The small-d runs lie 9 % below … 1 % above (the most below, N = 4 000, k = 500, d = 8, holds 146 MB
        // of heap against the 144 MB estimated for its logits; the rest of its 199 MB resident is what
        // the allocator kept of earlier phases).
        let cases = measured.map { ($0, false, 0.93, 1.09) } + high.map { ($0, false, 0.93, 1.7) }
            + logits.map { (n, k, d, certified, pivot, kib) in ((n, k, d, n, certified, kib), pivot, 0.9, 1.09) }
        for ((n, k, d, rows, certified, kib), pivot, lower, upper) in cases {
            let ratio = MeasureMemory.estimatedBytes(rows: rows, inputs: n, labels: k, dimensions: (d, d), workers: cores, certifying: certified,
                                                     pivoting: pivot) / (kib * 1024)
            #expect(ratio >= lower && ratio <= upper, "N = \(n), k = \(k), d = \(d), rows \(rows), certified \(certified), pivot \(pivot): estimate / peak = \(ratio)")
            compared += 1
        }
        #expect(compared == 42)
        // Row-route runs of k = 2 and 10 (stop 66, --no-pivot), of unequal widths, whose wider model's
        // copies an estimate of six copies of both put at 0.63 of the peak, and of equal widths
        // (N, k, dA, dB, certified, peak KiB). 16 % below to 33 % above: the two sides' copies run on
        // two threads, and what the allocator keeps of them varies from run to run by up to 10 %.
        let widths: [(Int, Int, Int, Int, Bool, Double)] = [
            (60_000, 2, 2, 60, false, 380_640), (60_000, 2, 2, 60, true, 358_944), (15_000, 2, 2, 60, false, 126_172),
            (15_000, 2, 2, 60, true, 114_332), (50_000, 2, 1, 200, false, 674_268), (50_000, 2, 1, 200, true, 808_540),
            (60_000, 2, 60, 60, false, 516_444), (60_000, 2, 60, 60, true, 492_084), (60_000, 10, 60, 60, false, 517_196),
            (60_000, 10, 60, 60, true, 492_544), (20_000, 10, 200, 200, false, 543_008), (20_000, 10, 200, 200, true, 550_284),
        ]
        for (n, k, da, db, certified, kib) in widths {
            let ratio = MeasureMemory.estimatedBytes(rows: n, inputs: n, labels: k, dimensions: (da, db), workers: cores, certifying: certified) / (kib * 1024)
            #expect(ratio >= 0.8 && ratio <= 1.4, "N = \(n), k = \(k), d = \(da) and \(db), certified \(certified): estimate / peak = \(ratio)")
            compared += 1
        }
        // One run on the moments route (k·(d_A² + d_B²) > 10⁸) whose rows dominate: its statistics'
        // copies of the rows and its covariances (stop 73, --no-pivot; peaks of the stop's binary,
        // whose unbiased CKA reads the covariances' Grams). An estimate without them put the first at
        // 0.56 of its peak.
        for (n, k, da, db, certified, kib) in [(100_000, 1000, 256, 256, false, 920_152.0), (100_000, 1000, 256, 256, true, 1_019_896),
                                               (200_000, 20_000, 64, 32, false, 488_972), (200_000, 20_000, 64, 32, true, 847_756)] {
            let ratio = MeasureMemory.estimatedBytes(rows: n, inputs: n, labels: k, dimensions: (da, db), workers: cores, certifying: certified) / (kib * 1024)
            #expect(ratio >= 0.95 && ratio <= 1.2, "N = \(n), k = \(k), d = \(da) and \(db), certified \(certified): estimate / peak = \(ratio)")
            compared += 1
        }
        #expect(compared == 58)
        // A weighted shard holds both files' whole w and their normalised copies: 32 bytes an input.
        let (plainShard, weightedShard, weightedRun) = (
            MeasureMemory.estimatedBytes(rows: 1000, inputs: 10_000, labels: 10, dimensions: (8, 8), workers: cores, certifying: true),
            MeasureMemory.estimatedBytes(rows: 1000, inputs: 10_000, labels: 10, dimensions: (8, 8), workers: cores, certifying: true, weighted: true),
            MeasureMemory.estimatedBytes(rows: 10_000, inputs: 10_000, labels: 10, dimensions: (8, 8), workers: cores, certifying: true, weighted: true))
        // The exact and MPFR levels' allowance: 800 bytes an input and label and 1 600 an input, four
        // times that where a factor's entries span more than 2⁶⁴ (an attack's columns scaled 10^±150
        // took 493 an input and label for the exact logits).
        var g = SeededGenerator(seed: 65)
        let plainModel = ModelGenerator.model(labels: 5, dimension: 3, inputs: 10, using: &g)
        let wideF = Matrix(rows: 10, columns: 3) { i, j in plainModel.embeddings[i, j] * (j == 0 ? 1e150 : j == 2 ? 1e-150 : 1) }
        let widePair = try ModelPair(SoftmaxModel(embeddings: wideF, unembeddings: plainModel.unembeddings), plainModel)
        let plainPair = try ModelPair(plainModel, plainModel)
        #expect(widePair.entriesSpanWideExponents && !plainPair.entriesSpanWideExponents)
        #expect(MeasureMemory.exactLevelBytes(inputs: 10, labels: 5) == 56_000 && MeasureMemory.exactLevelBytes(inputs: 10, labels: 5, wideExponents: true) == 224_000)
        #expect(weightedShard - plainShard == 320_000 && weightedRun == MeasureMemory.estimatedBytes(rows: 10_000, inputs: 10_000, labels: 10, dimensions: (8, 8), workers: cores, certifying: true))
    }
}

