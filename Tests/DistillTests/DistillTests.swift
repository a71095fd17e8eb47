import Foundation
import Numerics
@testable import Plots
import Testing
@testable import Distill

@Suite("Distillation")
struct DistillTests {
    /// distill's names depend on the run, so inputs where they may go are refused before
    /// training: .md, .json and .svg files in the output folder and anything under models/,
    /// through symlinks too; other files there (a corpus beside the report) are not.
    @Test("mayWrite: .md/.json/.svg in the output folder and anything under models/, through links; not other files or folders")
    func mayWriteOverInputs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-maywrite-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out.appendingPathComponent("models/deep"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("alias").path, withDestinationPath: out.path)
        let cases: [(String, Bool)] = [
            (out.appendingPathComponent("report.md").path, true), (out.appendingPathComponent("fig.svg").path, true),
            (out.appendingPathComponent("distill.json").path, true), (out.appendingPathComponent("models/teacher.npz").path, true),
            (out.appendingPathComponent("models/deep/x.txt").path, true), (dir.appendingPathComponent("alias/notes.md").path, true),
            (out.appendingPathComponent("corpus.txt").path, false), (out.appendingPathComponent("data.npz").path, false),
            (dir.appendingPathComponent("report.md").path, false), (dir.appendingPathComponent("models/teacher.npz").path, false),
        ]
        for (file, expected) in cases {
            #expect(DistillReport.mayWrite(over: file, in: out) == expected, "\(file)")
            #expect(DistillReport.mayWrite(over: file, in: dir.appendingPathComponent("alias")) == expected, "\(file) via the linked folder")
        }
        #expect(cases.count == 10)
    }

    static func batch(seed: UInt64) -> (x: Matrix, labels: [Int], teacherLogits: Matrix) {
        var g = SeededGenerator(seed: seed)
        let x = g.gaussianMatrix(rows: 6, columns: 2)
        return (x, (0..<6).map { $0 % 5 }, g.gaussianMatrix(rows: 6, columns: 5, scale: 2))
    }

    static var losses: [(String, (Matrix, [Int]) -> Loss)] {
        [("cross-entropy", { _, labels in .crossEntropy(labels: labels) })]
            + DistillObjective.allCases.map { o in (o.rawValue, { t, _ in .distill(o, teacherLogits: t) }) }
    }

    @Test("Back-propagation matches central differences for every layer and every loss", arguments: 0..<5)
    func gradients(lossIndex: Int) throws {
        let (name, makeLoss) = Self.losses[lossIndex]
        let (x, labels, teacherLogits) = Self.batch(seed: 31)
        let loss = makeLoss(teacherLogits, labels)
        var model = MLP(input: 2, hidden: [5, 4], embedding: 3, labels: 5, seed: 32)
        let pass = model.forward(x)
        let analytic = model.backward(pass, input: x, logitGradient: loss.valueAndGradient(pass.logits).gradient).flattened
        let base = model.parameters
        // Parameter blocks: W₁, W₂, W₃, b₁, b₂, b₃, G — every one is probed.
        var checked = 0
        for i in base.indices {
            let h = 1e-6
            var plus = base, minus = base
            plus[i] += h; minus[i] -= h
            model.parameters = plus
            let up = loss.valueAndGradient(model.forward(x).logits).value
            model.parameters = minus
            let down = loss.valueAndGradient(model.forward(x).logits).value
            let numeric = (up - down) / (2 * h)
            #expect(abs(numeric - analytic[i]) <= 1e-6 * max(1, abs(numeric)), "\(name), parameter \(i): \(numeric) vs \(analytic[i])")
            checked += 1
        }
        #expect(checked == 2 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3 + 5 * 3)
    }

    @Test("The character model: gradients of the shared character table (codes repeated across positions) and of every layer under dropout, against central differences")
    func characterGradients() throws {
        var g = SeededGenerator(seed: 34)
        let characters = MLP.Characters(vocabulary: 6, dimension: 3, context: 4)
        var model = MLP(input: 0, hidden: [7, 5], embedding: 3, labels: 6, seed: 35, characters: characters)
        // Codes repeat within rows and across rows, so table rows gather several gradients.
        let x = Matrix(rows: 5, columns: 4) { i, j in Double((i + 2 * j) % 5) }
        let teacher = g.gaussianMatrix(rows: 5, columns: 6, scale: 2)
        var checked = 0
        for dropout in [0.0, 0.3] {
            let loss = Loss.distill(.kl, teacherLogits: teacher)
            func value(_ m: MLP) -> Double {
                var masks = SeededGenerator(seed: 36)   // the same masks at every evaluation
                return loss.valueAndGradient(m.forward(x, dropout: dropout, using: &masks).logits).value
            }
            var masks = SeededGenerator(seed: 36)
            let pass = model.forward(x, dropout: dropout, using: &masks)
            let analytic = model.backward(pass, input: x, logitGradient: loss.valueAndGradient(pass.logits).gradient).flattened
            let base = model.parameters
            #expect(base.count == 6 * 3 + 12 * 7 + 7 * 5 + 5 * 3 + 7 + 5 + 3 + 6 * 3)
            for i in base.indices {
                let h = 1e-6
                var plus = base, minus = base
                plus[i] += h; minus[i] -= h
                model.parameters = plus
                let up = value(model)
                model.parameters = minus
                let down = value(model)
                model.parameters = base
                let numeric = (up - down) / (2 * h)
                #expect(abs(numeric - analytic[i]) <= 1e-6 * max(1, abs(numeric)), "dropout \(dropout), parameter \(i): \(numeric) vs \(analytic[i])")
                checked += 1
            }
        }
        #expect(checked == 2 * (6 * 3 + 12 * 7 + 7 * 5 + 5 * 3 + 7 + 5 + 3 + 6 * 3))
    }

    @Test("Early stopping keeps the epoch of least validation loss and stops after the patience runs out (a planted validation curve)")
    func earlyStopping() throws {
        let (x, labels, _) = Self.batch(seed: 37)
        var options = TrainingOptions(epochs: 20, batchSize: 3, learningRate: 1e-2)
        options.patience = 3
        // Validation losses 5, 4, 2, 3, 2.5, 2.1, 9: the least is epoch 3; epochs 4–6 do
        // not beat it, so training stops after epoch 6.
        let planted = [5.0, 4, 2, 3, 2.5, 2.1, 9, 1, 1]
        var model = MLP(input: 2, hidden: [4], embedding: 3, labels: 5, seed: 38)
        var snapshots: [Int: [Double]] = [:]
        let history = try Trainer.train(&model, inputs: x, options: options, seed: 39, epochEnd: { epoch, m in
            snapshots[epoch] = m.parameters
            return planted[epoch - 1]
        }) { rows in .crossEntropy(labels: rows.map { labels[$0] }) }
        #expect(history.epochsRun == 6 && history.keptEpoch == 3 && history.validationLosses == Array(planted.prefix(6)))
        #expect(model.parameters == snapshots[3], "the model holds epoch 3's parameters")
        // Without patience every epoch runs and the last is kept.
        options.patience = nil
        options.epochs = 5
        var other = MLP(input: 2, hidden: [4], embedding: 3, labels: 5, seed: 38)
        let all = try Trainer.train(&other, inputs: x, options: options, seed: 39, epochEnd: { epoch, _ in planted[epoch - 1] }) { rows in
            .crossEntropy(labels: rows.map { labels[$0] })
        }
        #expect(all.epochsRun == 5 && all.keptEpoch == 5)
    }

    @Test("Each distillation loss is zero with zero gradient when the student's logits are the teacher's (KL and centred: up to a shift)")
    func lossesVanishAtTheTeacher() {
        let (_, _, t) = Self.batch(seed: 33)
        for o in DistillObjective.allCases {
            let shifted = Matrix(rows: t.rows, columns: t.columns) { i, j in t[i, j] + (o == .kl || o == .logitCentred ? Double(i) : 0) }
            let (value, gradient) = Loss.distill(o, teacherLogits: t).valueAndGradient(shifted)
            #expect(abs(value) < 1e-12 && gradient.maxAbs < 1e-12, "\(o)")
        }
    }

    /// The losses' values against their definitions written out here (THEORY.md §6): a loss
    /// that is always 0, KL in the wrong direction, raw computed as centred, or a sum in place
    /// of a mean all pass the gradient and vanishing tests; none passes this one.
    @Test("Each loss's value is its definition: KL(teacher‖student), centred and raw squared differences, the absolute mean, all averaged over the batch")
    func lossValues() {
        let (_, labels, t) = Self.batch(seed: 33)
        var g = SeededGenerator(seed: 34)
        let s = Matrix(rows: t.rows, columns: t.columns) { i, j in t[i, j] + g.gaussian() + Double(i) }   // per-row shifts too
        let (b, k) = (t.rows, t.columns)
        func softmax(_ row: [Double]) -> [Double] { let e = row.map { $0.exp }, z = e.reduce(0, +); return e.map { $0 / z } }
        var kl = 0.0, centred = 0.0, raw = 0.0, absolute = 0.0, crossEntropy = 0.0
        for i in 0..<b {
            let p = softmax(t.row(i)), q = softmax(s.row(i))
            kl += (0..<k).reduce(0) { $0 + p[$1] * (p[$1] / q[$1]).log }
            let d = (0..<k).map { s[i, $0] - t[i, $0] }, mean = d.reduce(0, +) / Double(k)
            centred += d.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            raw += d.reduce(0) { $0 + $1 * $1 }
            absolute += d.reduce(0) { $0 + abs($1) } / Double(k)
            crossEntropy -= q[labels[i]].log
        }
        let expected: [(Loss, Double)] = [
            (.distill(.kl, teacherLogits: t), kl / Double(b)), (.distill(.logitCentred, teacherLogits: t), centred / Double(b)),
            (.distill(.logitRaw, teacherLogits: t), raw / Double(b)), (.distill(.logitAbsolute, teacherLogits: t), absolute / Double(b)),
            (.crossEntropy(labels: labels), crossEntropy / Double(b)),
        ]
        for (loss, value) in expected {
            let got = loss.valueAndGradient(s).value
            #expect(abs(got - value) <= 1e-12 * max(1, abs(value)), "\(loss): \(got) vs \(value)")
        }
        // The per-row shifts separate raw from centred, and the direction of KL matters here.
        #expect(raw > centred * 1.5)
        let reverse = (0..<b).reduce(0.0) { total, i in
            let p = softmax(t.row(i)), q = softmax(s.row(i))
            return total + (0..<k).reduce(0) { $0 + q[$1] * (q[$1] / p[$1]).log }
        }
        #expect(abs(reverse - kl) > 1e-3 * kl)
    }

    static func smallConfiguration() -> DistillConfiguration {
        var c = DistillConfiguration()
        c.seeds = 2; c.pointsPerArm = 40
        c.teacherTraining.epochs = 20; c.studentTraining.epochs = 10
        c.students = [StudentShape(name: "tiny d=2", hidden: [8], embedding: 2),
                      StudentShape(name: "tiny d=4", hidden: [8], embedding: 4)]
        return c
    }

    @Test("A small run is deterministic under a fixed seed, whatever the number of workers")
    func deterministic() throws {
        let c = Self.smallConfiguration()
        let a = try DistillExperiment.run(c, workers: 2).result, b = try DistillExperiment.run(c, workers: 1).result
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(try encoder.encode(a.students) == encoder.encode(b.students))
        #expect(try encoder.encode(a.teachers) == encoder.encode(b.teachers))
        var other = c
        other.baseSeed = 2
        #expect(try encoder.encode(DistillExperiment.run(other).result.students) != encoder.encode(a.students))
    }

    /// `stop` answering true from its `after + 1`-th question to its `until`-th, counting the questions.
    final class CountedStop: @unchecked Sendable {
        private let lock = NSLock()
        private var asked = 0
        let after: Int, until: Int
        init(after: Int, until: Int = .max) { (self.after, self.until) = (after, until) }
        func callAsFunction() -> Bool { lock.lock(); defer { lock.unlock() }; asked += 1; return asked > after && asked <= until }
    }

    /// The small run asks `stop` once before each run and once before each of its mini-batches:
    /// 192 training rows in batches of 64 (3 a epoch), 20 teacher and 10 student epochs, so
    /// 61 questions a teacher and 31 a student.
    @Test("Interrupted: the runs that finished are reported as an uninterrupted run's, the rest named", .timeLimit(.minutes(5)))
    func interrupted() throws {
        let c = Self.smallConfiguration()
        let whole = try DistillExperiment.run(c, workers: 1).result
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        // Both teachers, three students, the fourth cut in its fourth epoch (after nine batches).
        let (cut, pictures) = try DistillExperiment.run(c, workers: 1, stop: CountedStop(after: 2 * 61 + 3 * 31 + 10).callAsFunction)
        let interruption = try #require(cut.interrupted)
        #expect(interruption.teachersNotFinished.isEmpty && cut.teachers.count == 2)
        #expect(try encoder.encode(cut.teachers) == encoder.encode(whole.teachers))
        let finished = Set(cut.students.map { "\($0.seed) \($0.shape) \($0.objective)" })
        #expect(finished.count == 3)
        #expect(interruption.studentsNotFinished.count == 16 - 3)
        #expect(interruption.studentsNotFinished.filter(\.started).map(\.epochsRun) == [3])
        #expect(interruption.drawnSeed == whole.teachers[0].seed)
        for student in cut.students {
            let same = whole.students.filter { $0.seed == student.seed && $0.shape == student.shape && $0.objective == student.objective && $0.stage == student.stage }
            #expect(try encoder.encode(same) == encoder.encode([student]), "\(student.shape) \(student.objective) \(student.stage)")
        }
        let named = Set(interruption.studentsNotFinished.map { "\($0.seed) \($0.shape) \($0.objective)" })
        #expect(named.isDisjoint(with: finished) && named.count + finished.count == 16)
        #expect(DistillReport.markdown(cut).contains("**Interrupted:** 2 of 2 teachers and 3 of 16 students finished; students not finished: seed 1 ("))
        #expect(DistillReport.markdown(cut).contains("cut in epoch 4 of at most 10, 4 not started; seed 2 ("))
        #expect(whole.interrupted == nil && !DistillReport.markdown(whole).contains("Interrupted"))
        // Every seed's students are short by the unfinished ones in the final stage's findings.
        #expect(cut.findings.contains { $0.hasPrefix("final") && $0.contains("Finished (interrupted): KL in") })

        // One teacher finished, the other cut: no student; the report and its figures are still
        // written (a log-scale figure with nothing to draw had looped for ever).
        let one = try DistillExperiment.run(c, workers: 1, stop: CountedStop(after: 61 + 30).callAsFunction)
        #expect(one.result.teachers.count == 1 && one.result.students.isEmpty)
        #expect(one.result.interrupted?.teachersNotFinished == [whole.teachers[1].seed])
        #expect(one.result.interrupted?.studentsNotFinished.count == 8)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("distill-cut-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try DistillReport.write(one.result, pictures: one.pictures, to: dir).map(\.lastPathComponent)
        #expect(files.contains("report.md") && files.contains("width-floor.svg"))
        let figure = try String(contentsOf: dir.appendingPathComponent("mcca.svg"), encoding: .utf8)
        #expect(figure.contains("0 values drawn. Interrupted: 0 of 16 students and 1 of 2 teachers finished."))
        let trace = try String(contentsOf: dir.appendingPathComponent("mcca-vs-agreement.svg"), encoding: .utf8)
        #expect(trace.contains(">Interrupted: 0 of 16 students and 1 of 2 teachers finished.<"))
        // The costliest first: the first seed's d = 4 students, each at its stages.
        let stages = cut.students.map { "student-\($0.shape)-\($0.objective.rawValue)-\($0.stage)" }
        #expect(pictures?.models.map(\.name).sorted() == stages.sorted() && cut.students.allSatisfy { $0.shape == "tiny d=4" && $0.seed == whole.teachers[0].seed })
        // No teacher finished: nothing to report.
        #expect { try DistillExperiment.run(c, workers: 1, stop: CountedStop(after: 60).callAsFunction) } throws: { error in
            if case DistillError.interrupted = error { return true } else { return false }
        }
        // The first teacher cut in its first batch, the second finished: every student of the second
        // seed, as an uninterrupted run's, drawn and traced from it.
        let second = try DistillExperiment.run(c, workers: 1, stop: CountedStop(after: 1, until: 2).callAsFunction)
        #expect(second.result.interrupted?.teachersNotFinished == [whole.teachers[0].seed] && second.result.interrupted?.drawnSeed == whole.teachers[1].seed)
        #expect(try encoder.encode(second.result.students) == encoder.encode(whole.students.filter { $0.seed == whole.teachers[1].seed }))
        #expect(second.result.traces.count == 8 && second.pictures?.models.count == whole.students.filter { $0.seed == whole.teachers[1].seed }.count)
        #expect(DistillReport.markdown(second.result).contains("the figures of one seed and the models are seed 2 ("))
    }

    @Test("A stage figure with nothing to draw has its frame and axis (no T12 ratio at the teacher's width; an interrupted run)", .timeLimit(.minutes(1)))
    func emptyFigure() {
        for logScale in [true, false] {
            for values: [Double] in [[], [.nan, -1, 0]] where logScale || values.isEmpty {
                let svg = SVGPanels.strips(title: "t", yLabel: "y", panels: ["final"], groups: ["d=4"], series: ["kl", "logit-raw"],
                                           colours: [0, 1], values: [[[[], values]]], logScale: logScale)
                #expect(svg.contains("0 values drawn") && svg.hasSuffix("</svg>\n"))
                #expect(svg.contains("no value at this stage"))
                #expect(svg.components(separatedBy: "stroke=\"#eee\"").count - 1 >= 2, "no axis ticks")
            }
        }
        // A range with no finite end has no tick (a log axis of no value had made the stride endless).
        #expect(SVGChart.ticks(-.infinity, 0, .log).isEmpty && SVGChart.ticks(.nan, 1, .linear).isEmpty && SVGChart.ticks(2, 1, .linear).isEmpty)
        #expect(SVGChart.ticks(0, 1, .log).count == 2)
    }

    @Test("Teacher concepts and T11: the teacher reads its own concepts, and no student's transported probe falls below its T11 floor")
    func teacherConceptsAndFloors() throws {
        var c = Self.smallConfiguration()
        c.seeds = 1; c.pointsPerArm = 60
        c.teacherConcepts = 2
        c.teacherTraining.epochs = 120; c.studentTraining.epochs = 120
        c.students = [StudentShape(name: "d=4", hidden: [16, 16], embedding: 4), StudentShape(name: "d=2", hidden: [8, 8], embedding: 2)]
        c.objectives = [.kl, .logitRaw]
        let result = try DistillExperiment.run(c).result
        // T12 on the test split: no student goes below its width's floor; the floor is 0 at the teacher's width.
        var narrow = 0
        for student in result.students {
            let d2 = student.dLogit * student.dLogit
            #expect(d2 >= student.widthFloor * (1 - 1e-12), "\(student.shape) \(student.objective) \(student.stage)")
            if student.embeddingDimension == 4 { #expect(student.widthFloor == 0 && student.floorRatio == nil) }
            else { #expect(student.widthFloor > 0 && student.floorRatio! >= 1 - 1e-12); narrow += 1 }
        }
        #expect(narrow >= 2)
        #expect(result.concepts == ["arm starts in the upper half-plane", "teacher-pc1", "teacher-pc2"])
        for teacher in result.teachers {
            #expect(try #require(teacher.probes["teacher-pc1"]) >= 0.95, "\(teacher.probes)")
            #expect(teacher.labelOnly.count == 3)
        }
        var checked = 0, nonVacuous = 0
        for student in result.students {
            for name in result.concepts {
                let transported = try #require(student.transportedProbes[name]), floor = try #require(student.floors[name])
                let floorKL = try #require(student.floorsKL[name])
                // T11 on the test split: a guarantee, not an estimate.
                #expect(transported >= floor - 1e-12 && transported >= floorKL - 1e-12, "\(student.shape) \(student.objective) \(name)")
                #expect(floorKL <= floor + 1e-12, "the KL form is never sharper than the logit form")
                if floor > 0 { nonVacuous += 1 }
                checked += 1
            }
        }
        #expect(checked == result.students.count * 3 && checked >= 4 * 3)
        #expect(nonVacuous > 0, "every floor was 0: the check never bit")
    }

    @Test("The report's JSON has every field for every objective and student shape")
    func jsonFields() throws {
        let (result, pictures) = try DistillExperiment.run(Self.smallConfiguration())
        let object = try JSONSerialization.jsonObject(with: Data(DistillReport.json(result).utf8)) as! [String: Any]
        let aggregates = (object["aggregates"] as! [[String: Any]]).filter { $0["stage"] as? String == "final" }
        #expect(aggregates.count == 2 * DistillObjective.allCases.count)
        for objective in DistillObjective.allCases {
            for shape in ["tiny d=2", "tiny d=4"] {
                let cell = try #require(aggregates.first { $0["objective"] as? String == objective.rawValue && $0["shape"] as? String == shape })
                let metrics = cell["metrics"] as! [String: [String: Double]]
                // floor_ratio is undefined (left out) where the student is as wide as the teacher (floor 0).
                for name in StudentMeasurement.metricNames where !(name == "floor_ratio" && shape == "tiny d=4") {
                    let m = try #require(metrics[name], "\(objective) \(shape) lacks \(name)")
                    #expect(m["mean"] != nil && m["std"] != nil)
                }
            }
        }
        let students = object["students"] as! [[String: Any]]
        #expect(students.filter { $0["stage"] as? String == "final" }.count == 2 * 2 * DistillObjective.allCases.count)
        let keys: Set = ["objective", "shape", "embedding_dimension", "seed", "stage", "epoch", "agreement", "test_accuracy", "kl",
                         "d_logit", "d_rep_scale_free", "mcca", "probes", "teacher_probes", "probe_accuracy", "teacher_probe_accuracy", "final_loss",
                         "transported_probes", "floors", "floors_kl", "width_floor"]
        for s in students { #expect(keys.isSubset(of: Set(s.keys))) }
        #expect(object["findings"] as? [String] != nil && object["teachers"] != nil)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("distill-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try DistillReport.write(result, pictures: pictures, to: dir).map(\.lastPathComponent)
        #expect(files.contains("report.md") && files.contains("mcca.svg") && files.contains("drep.svg"))
        #expect(files.contains { $0.hasPrefix("embeddings-") })
    }

    /// Adjacent arms are 1/A apart radially at every angle, so with per-coordinate noise σ
    /// the Bayes accuracy is about 1 − 2Φ(−1/(2Aσ)): 0.998 for A = 8, σ = 0.02. A teacher
    /// within 5 points of that is trained; 0.95 leaves room for a short test budget.
    @Test("The teacher reaches ≥ 0.95 test accuracy on 8 spiral arms")
    func teacherAccuracy() throws {
        let data = try Dataset(spirals: SpiralData(arms: 8, labels: 8, pointsPerArm: 150, seed: 7))
        var teacher = MLP(input: 2, hidden: [64, 64], embedding: 4, labels: 8, seed: 8)
        _ = try Trainer.trainClassifier(&teacher, data: data.train, options: TrainingOptions(epochs: 200, learningRate: 1e-2), seed: 9)
        let accuracy = Trainer.accuracy(teacher, data.test)
        #expect(accuracy >= 0.95, "\(accuracy)")
    }

    @Test("Bad configurations are typed errors")
    func badInput() {
        #expect(throws: DistillError.self) { try SpiralData(arms: 3, labels: 5) }
        var c = DistillConfiguration()
        c.labels = 4
        #expect(throws: DistillError.self) { try DistillExperiment.run(c) }
        #expect(throws: DistillError.self) {
            var m = MLP(input: 2, hidden: [3], embedding: 2, labels: 3, seed: 1)
            _ = try Trainer.train(&m, inputs: Matrix(rows: 2, columns: 2), options: TrainingOptions(epochs: 0), seed: 1) { _ in
                .crossEntropy(labels: [0, 1])
            }
        }
    }
}
