import Foundation
import ModelFiles
import Numerics
import Testing
import Measure
import Theory

@Suite("logitbounds measure --concept")
struct MeasureConceptCommandTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-concept-\(UInt32.random(in: 0...UInt32.max))")

    /// A teacher, a student near it, and concept files: a direction of f_A, a function of
    /// the teacher's label, a constant, and broken ones.
    func files() throws -> (a: String, b: String, pair: ModelPair, concepts: [String: String]) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 1301)
        let teacher = ModelGenerator.model(labels: 9, dimension: 4, inputs: 200, scale: 2, using: &g)
        let student = ModelGenerator.perturb(teacher, by: 0.05, using: &g)
        let a = dir.appendingPathComponent("teacher.npz"), b = dir.appendingPathComponent("student.npz")
        try ModelFile.write(teacher, to: a)
        try ModelFile.write(student, to: b)
        let f = teacher.embeddings, predicted = teacher.predictedLabels()
        var values: [String: [Double]] = [
            "direction": (0..<200).map { f[$0, 1] - f[$0, 3] > 0 ? 1 : 0 },
            "even": predicted.map { $0 % 2 == 0 ? 1 : 0 },
            "constant": [Double](repeating: 1, count: 200),
            "short": [Double](repeating: 1, count: 199),
            "nan": [Double](repeating: 0, count: 200),
            "three": [Double](repeating: 0, count: 200),
        ]
        values["nan"]![3] = .nan
        values["three"]![5] = 3
        var paths: [String: String] = [:]
        for (name, v) in values {
            let url = dir.appendingPathComponent("\(name).npy")
            try npyVector(v).write(to: url)
            paths[name] = url.path
        }
        return (a.path, b.path, try ModelPair(teacher, student), paths)
    }

    @Test("Every JSON field of every concept, checked against the library computed independently of the tool")
    func endToEnd() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b, pair, c) = try files()
        let r = try runTool(["measure", a, b, "--json", "--no-pivot", "--concept", "direction=\(c["direction"]!)",
                             "--concept", "even=\(c["even"]!)", "--concept", "constant=\(c["constant"]!)", "--teacher-concepts", "2"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((json["concept_fitting"] as? String)?.contains("5-fold") == true)
        let concepts = try #require(json["concepts"] as? [[String: Any]])
        #expect(concepts.map { $0["name"] as? String } == ["direction", "even", "constant", "teacher-pc1", "teacher-pc2"])
        let keys: Set<String> = ["name", "source", "undefined", "positive_share", "majority", "label_only", "label_function",
                                 "teacher_probe", "student_probe", "teacher_probe_in_sample", "transported_probe", "disagreement",
                                 "floor_logit", "floor_logit_scalar", "floor_kl", "gamma", "residual_variance", "probe_weights",
                                 "probe_bias", "encoded_beyond_label", "floor_non_vacuous", "t11", "note"]
        for concept in concepts { #expect(Set(concept.keys) == keys, "\(concept["name"] ?? "?")") }
        let predicted = pair.first.predictedLabels()
        let derived = try TeacherConcepts.derive(pair.first, count: 2, predicted: predicted)
        let values: [String: [Bool]] = [
            "direction": (0..<200).map { pair.first.embeddings[$0, 1] - pair.first.embeddings[$0, 3] > 0 },
            "even": predicted.map { $0 % 2 == 0 },
            "teacher-pc1": derived[0].values, "teacher-pc2": derived[1].values,
        ]
        var checked = 0
        for concept in concepts {
            let name = concept["name"] as! String
            guard let z = values[name] else {
                #expect((concept["undefined"] as? String)?.contains("constant") == true)
                #expect(concept["teacher_probe"] is NSNull && concept["floor_logit"] is NSNull)
                continue
            }
            let expected = try ConceptReport.measure(pair, name: name, source: "", values: z, predicted: predicted,
                                                     options: ConceptReport.Options())
            func near(_ key: String, _ value: Double?) {
                let got = concept[key] as? Double
                #expect(got != nil && value != nil && abs(got! - value!) <= 1e-12 * max(1, abs(value!)), "\(name).\(key): \(String(describing: got)) vs \(String(describing: value))")
            }
            near("majority", expected.majority); near("label_only", expected.labelOnly)
            near("teacher_probe", expected.teacherProbe); near("student_probe", expected.studentProbe)
            near("teacher_probe_in_sample", expected.teacherProbeInSample); near("transported_probe", expected.transportedProbe)
            near("disagreement", expected.disagreement); near("floor_logit", expected.floorLogit)
            near("floor_logit_scalar", expected.floorLogitScalar); near("floor_kl", expected.floorKL)
            near("residual_variance", expected.residualVariance); near("probe_bias", expected.probeBias)
            // Foundation's JSON reader may round a Double's last digit: compare to 1e−12.
            let weights = try #require(concept["probe_weights"] as? [Double]), expectedWeights = try #require(expected.probeWeights)
            #expect(weights.count == expectedWeights.count
                    && zip(weights, expectedWeights).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
            #expect(concept["label_function"] as? Bool == expected.labelFunction)
            let t11 = try #require(concept["t11"] as? [String: Any])
            // The fast enclosure decides first (the exact level only where it cannot).
            #expect(t11["holds"] as? Bool == true && t11["certified"] as? Bool == true && t11["level"] as? String == "fast enclosure",
                    "\(name): \(t11)")
            checked += 1
        }
        #expect(checked == 4)
        #expect(concepts[1]["label_function"] as? Bool == true && concepts[0]["label_function"] as? Bool == false)
        let markdown = try runTool(["measure", a, b, "--no-pivot", "--concept", "direction=\(c["direction"]!)"])
        #expect(markdown.status == 0 && markdown.stdout.contains("## Concepts") && markdown.stdout.contains("| direction |"))
    }

    @Test("An interrupt measures the concepts whose probes were all fitted, each as an uninterrupted run does, and names the rest in order")
    func interruptedConcepts() throws {
        var g = SeededGenerator(seed: 1302)
        let teacher = ModelGenerator.model(labels: 9, dimension: 4, inputs: 200, scale: 2, using: &g)
        let pair = try ModelPair(teacher, ModelGenerator.perturb(teacher, by: 0.05, using: &g))
        let f = teacher.embeddings, predicted = teacher.predictedLabels()
        var options = PairMeasurement.Options()
        options.concepts = [PairMeasurement.NamedConcept(name: "direction", source: "test", values: (0..<200).map { f[$0, 1] - f[$0, 3] > 0 }),
                            PairMeasurement.NamedConcept(name: "even", source: "test", values: predicted.map { $0 % 2 == 0 })]
        options.teacherConcepts = 3
        // One worker: the questions come in one order on any machine (with many cores every side
        // would share each limit).
        options.conceptWorkers = 1
        let names = ["direction", "even", "teacher-pc1", "teacher-pc2", "teacher-pc3"]
        let whole = try PairMeasurement.measure(pair, options: options)
        #expect(whole.conceptsNotMeasured == nil && whole.concepts?.map(\.name) == names)
        let expected = Dictionary(uniqueKeysWithValues: (whole.concepts ?? []).map { ($0.name, $0) })
        // `stop` answers true from its (limit + 1)th question on: before each side's probes, and
        // before each Newton step of each fit.
        final class Countdown: @unchecked Sendable {
            let lock = NSLock(), limit: Int
            var asked = 0
            init(_ limit: Int) { self.limit = limit }
            func stop() -> Bool { lock.lock(); defer { lock.unlock() }; asked += 1; return asked > limit }
        }
        var partial = 0, checked = 0
        for limit in [0, 1, 20, 60, 120, 250, 500, 1_000_000] {
            let countdown = Countdown(limit)
            let m = try PairMeasurement.measure(pair, options: options, stop: { countdown.stop() })
            let measured = (m.concepts ?? []).map(\.name), unmeasured = m.conceptsNotMeasured ?? []
            // Every concept is either measured or named, each list in the given order.
            #expect((measured + unmeasured).sorted() == names.sorted(), "limit \(limit)")
            #expect(measured == names.filter(measured.contains) && unmeasured == names.filter(unmeasured.contains))
            if limit == 0 { #expect(measured.isEmpty && unmeasured == names) }
            if limit == 1_000_000 { #expect(unmeasured.isEmpty && m.conceptsNotMeasured == nil) }
            if !measured.isEmpty && !unmeasured.isEmpty { partial += 1 }
            for c in m.concepts ?? [] {
                let e = try #require(expected[c.name])
                for (x, y) in [(c.teacherProbe, e.teacherProbe), (c.studentProbe, e.studentProbe), (c.floorLogit, e.floorLogit),
                               (c.transportedProbe, e.transportedProbe), (c.labelOnly, e.labelOnly)] {
                    #expect(x != nil && y != nil && abs(x! - y!) <= 1e-12, "\(c.name) at limit \(limit)")
                }
                checked += 1
            }
        }
        #expect(partial >= 2, "runs cut part-way: \(partial)")
        #expect(checked >= 8, "concepts compared: \(checked)")
    }

    @Test("measure --teacher-concepts interrupted: exit 130, the concepts measured reported, the rest named in the JSON and the report")
    func interruptedCommand() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 1303)
        // Sixty concepts of d = 60 at N = 3 000 per two cores: about 4 s of probes on two cores in a
        // release build and 35 s in the tests' debug build, interrupted 0.3 s into them; the rows
        // grow with the cores, so that the probes outlast 0.3 s on any machine and build.
        let rows = 3_000 * max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
        let teacher = ModelGenerator.model(labels: 61, dimension: 60, inputs: rows, using: &g)
        let a = dir.appendingPathComponent("teacher.npz"), b = dir.appendingPathComponent("student.npz")
        try ModelFile.write(teacher, to: a)
        try ModelFile.write(ModelGenerator.perturb(teacher, by: 0.05, using: &g), to: b)
        let out = dir.appendingPathComponent("report")
        let r = try runTool(["measure", a.path, b.path, "--json", "--no-pivot", "--teacher-concepts", "60", "--out", out.path],
                            interruptAfter: 0.3, interruptOn: "concepts (probes", terminateAfter: 240)
        #expect(r.status == 130, "\(r.stderr)")
        #expect(r.stderr.contains("skipping the concepts not yet fitted") && r.stderr.contains("not measured"), "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let measured = try #require(json["concepts"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        let unmeasured = try #require(json["concepts_not_measured"] as? [String])
        #expect(!unmeasured.isEmpty && measured.count + unmeasured.count == 60, "\(measured.count) measured, \(unmeasured.count) not")
        #expect((measured + unmeasured).sorted() == (1...60).map { "teacher-pc\($0)" }.sorted())
        #expect(json["d_logit_squared"] as? Double != nil && (json["bounds"] as? [Any])?.isEmpty == false)
        let markdown = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(markdown.contains("**Interrupted:** \(measured.count) of 60 concepts measured; not measured: \(unmeasured[0])"))
        let saved = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as? [String: Any])
        #expect(saved["concepts_not_measured"] as? [String] == unmeasured)
        // Interrupted while the files are read (the handler is in place before): the distances and
        // bounds all the same, no concept (it had killed the run).
        let early = try runTool(["measure", a.path, b.path, "--json", "--no-pivot", "--teacher-concepts", "3"],
                                interruptAfter: 0, interruptOn: "measure: reading", terminateAfter: 240)
        let partial = try #require(try JSONSerialization.jsonObject(with: Data(early.stdout.utf8)) as? [String: Any], "\(early.status) \(early.stderr)")
        #expect(early.status == 130 && (partial["concepts"] as? [Any])?.isEmpty == true
                && partial["concepts_not_measured"] as? [String] == ["teacher-pc1", "teacher-pc2", "teacher-pc3"], "\(early.stderr)")
        #expect(partial["d_logit_squared"] as? Double == json["d_logit_squared"] as? Double)
    }

    @Test("Bad concept input exits 2 naming the file and the problem, before any report")
    func badInput() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b, _, c) = try files()
        let cases: [([String], String)] = [
            (["--concept", "s=\(c["short"]!)"], "199 values"),
            (["--concept", "n=\(c["nan"]!)"], "nan at index 3"),
            (["--concept", "t=\(c["three"]!)"], "3.0 at index 5"),
            (["--concept", "x=\(c["even"]!)", "--concept", "x=\(c["direction"]!)"], "given twice"),
            (["--concept", "missing=\(dir.path)/nope.npy"], "nope.npy"),
            (["--concept", "noequals"], "NAME=FILE"),
            (["--teacher-concepts", "9"], "exceeds the teacher's d = 4"),
            (["--teacher-concepts", "0"], "1…64"),
            (["--concept-folds", "1"], "2…20"),
            (["--concept", "x=\(c["even"]!)", "--shard", "1/2", "--partial", "\(dir.path)/p.json"], "not available in a sharded measure"),
        ]
        for (arguments, message) in cases {
            let r = try runTool(["measure", a, b] + arguments, terminateAfter: 60)
            #expect(r.status == 2, "\(arguments): exit \(r.status)")
            #expect(r.stderr.contains(message), "\(arguments): \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(arguments): printed a report")
        }
    }
}
