import Numerics
import Testing
@testable import Measure
@testable import Theory

/// `measure --concept` in the library (THEORY.md §8): held-out probes, baselines, the
/// transported probe and T11's floors, each against an independent computation.
@Suite("Concepts: probes, baselines and T11 floors")
struct ConceptTests {
    static func pair(seed: UInt64, inputs: Int = 240, noise: Double = 0.05, weighted: Bool = false) throws -> ModelPair {
        var g = SeededGenerator(seed: seed)
        let raw: [Double]? = weighted ? (0..<inputs).map { _ in (0.5 * g.gaussian()).exp } : nil
        let teacher = ModelGenerator.model(labels: 10, dimension: 4, inputs: inputs, weights: raw, using: &g)
        return try ModelPair(teacher, ModelGenerator.perturb(teacher, by: noise, using: &g))
    }

    @Test("Every field against a direct computation (uniform and skewed weights)", arguments: [false, true])
    func fieldsAgainstDirect(weighted: Bool) throws {
        let pair = try Self.pair(seed: 1201, weighted: weighted)
        let f1 = pair.first.embeddings, w = pair.weights
        let z = (0..<f1.rows).map { f1[$0, 0] + 0.5 * f1[$0, 1] > 0.2 }
        let predicted = pair.first.predictedLabels()
        let report = try ConceptReport.measure(pair, name: "z", source: "test", values: z, predicted: predicted,
                                               options: ConceptReport.Options())
        // Majority and share.
        let share = zip(w, z).reduce(0) { $0 + ($1.1 ? $1.0 : 0) }
        #expect(abs(report.positiveShare - share) < 1e-12 && abs(report.majority - max(share, 1 - share)) < 1e-12)
        // The probe's own accuracy, recomputed from its published weights and bias.
        let u = try #require(report.probeWeights), b = try #require(report.probeBias)
        let m = f1.applied(to: u).map { $0 + b }
        let inSample = zip(w, zip(m, z)).reduce(0) { $0 + (($1.1.0 > 0) == $1.1.1 ? $1.0 : 0) }
        #expect(abs(try #require(report.teacherProbeInSample) - inSample) < 1e-12)
        // Transport by the SVD pseudo-inverse, scored on the student.
        let (g1, g2) = pair.centredUnembeddings
        let pinv = try g1.pseudoInverse()
        let a = pinv.multiplied(by: g2)
        let s = pair.second.embeddings.applied(to: a.transposed.applied(to: u)).map { $0 + b }
        let transported = zip(w, zip(s, z)).reduce(0) { $0 + (($1.1.0 > 0) == $1.1.1 ? $1.0 : 0) }
        let disagreement = zip(w, zip(m, s)).reduce(0) { $0 + (($1.1.0 > 0) != ($1.1.1 > 0) ? $1.0 : 0) }
        #expect(abs(try #require(report.transportedProbe) - transported) < 1e-12)
        #expect(abs(try #require(report.disagreement) - disagreement) < 1e-12)
        // The floors: brute force over every margin as γ, residual vᵀδ from the logits.
        let v = pinv.transposed.applied(to: u)
        let e = (pair.centredLogits(ofFirst: true) - pair.centredLogits(ofFirst: false)).applied(to: v)
        let residual = zip(w, e).reduce(0) { $0 + $1.0 * $1.1 * $1.1 }
        #expect(abs(try #require(report.residualVariance) - residual) <= 1e-8 * residual)
        let vNorm = v.reduce(0) { $0 + $1 * $1 }
        let stats = pair.logitStatistics()
        func best(_ r: Double) -> Double {
            m.map(abs).filter { $0 > 0 }.map { gamma in
                zip(w, m).reduce(0) { $0 + (abs($1.1) < gamma ? $1.0 : 0) } + r / (gamma * gamma)
            }.min().map { min($0, 1) } ?? 1
        }
        #expect(abs(try #require(report.floorLogit) - max(0, inSample - best(residual))) < 1e-9)
        #expect(abs(try #require(report.floorLogitScalar) - max(0, inSample - best(vNorm * (try pair.logitDistanceSquared())))) < 1e-9)
        #expect(abs(try #require(report.floorKL) - max(0, inSample - best(vNorm * 2 * stats.kl / stats.logTau.exp))) < 1e-9)
        #expect(report.floorNonVacuous == (report.floorLogit! > report.majority))
        #expect(report.t11?.holds == true)
        // The floor is a floor: the transported probe never does worse.
        #expect(transported >= report.floorLogit! - 1e-12)
        // Held-out probes: between the majority baseline's neighbourhood and 1.
        #expect(try #require(report.teacherProbe) > 0.9 && report.studentProbe! > 0.9)
    }

    @Test("A function of the teacher's label: label_function, and the label-only baseline reads it perfectly")
    func labelFunction() throws {
        let pair = try Self.pair(seed: 1202)
        let predicted = pair.first.predictedLabels()
        let z = predicted.map { $0 % 2 == 0 }
        let report = try ConceptReport.measure(pair, name: "even", source: "test", values: z, predicted: predicted,
                                               options: ConceptReport.Options())
        #expect(report.labelFunction)
        // Perfect except where a rare predicted class falls only in the held-out fold
        // (then the training folds' overall majority answers).
        #expect(try #require(report.labelOnly) >= 0.99)
        #expect(report.encodedBeyondLabel == false)
    }

    @Test("A constant concept is undefined, with no NaN anywhere")
    func constant() throws {
        let pair = try Self.pair(seed: 1203)
        let z = [Bool](repeating: true, count: pair.first.inputCount)
        let report = try ConceptReport.measure(pair, name: "one", source: "test", values: z, predicted: pair.first.predictedLabels(),
                                               options: ConceptReport.Options())
        #expect(report.undefined?.contains("constant") == true)
        #expect(report.teacherProbe == nil && report.floorLogit == nil && report.majority == 1)
    }

    @Test("The teacher's own concepts: read at ≥ 0.99 by the teacher's probe, beyond the label, deterministic")
    func teacherConcepts() throws {
        let pair = try Self.pair(seed: 1204, inputs: 400)
        let predicted = pair.first.predictedLabels()
        let concepts = try TeacherConcepts.derive(pair.first, count: 3, predicted: predicted)
        #expect(concepts.map(\.name) == ["teacher-pc1", "teacher-pc2", "teacher-pc3"])
        let again = try TeacherConcepts.derive(pair.first, count: 3, predicted: predicted)
        #expect(concepts.map(\.values) == again.map(\.values))
        var read = 0
        for concept in concepts {
            let share = Double(concept.values.filter { $0 }.count) / Double(concept.values.count)
            #expect(abs(share - 0.5) <= 0.01, "\(concept.name): split at the median, got \(share)")
            let report = try ConceptReport.measure(pair, name: concept.name, source: "teacher", values: concept.values,
                                                   predicted: predicted, options: ConceptReport.Options())
            #expect(try #require(report.teacherProbe) >= 0.99, "\(concept.name): \(report.teacherProbe!)")
            #expect(report.teacherProbeInSample! >= 0.99)
            read += 1
        }
        #expect(read == 3)
        #expect(throws: ModelError.self) { try TeacherConcepts.derive(pair.first, count: 5, predicted: predicted) }
    }

    @Test("Cross-validation: a separable concept is read at 1, a random one near chance; the folds are seeded")
    func crossValidation() throws {
        var g = SeededGenerator(seed: 1205)
        let f = g.gaussianMatrix(rows: 300, columns: 3)
        let separable = (0..<300).map { f[$0, 0] - f[$0, 2] > 0.1 }
        let random = (0..<300).map { _ in g.uniform() < 0.5 }
        #expect(try LinearProbe.crossValidatedAccuracy(embeddings: f, concept: separable, folds: 5, seed: 1) >= 0.98)
        let chance = try LinearProbe.crossValidatedAccuracy(embeddings: f, concept: random, folds: 5, seed: 1)
        #expect(chance > 0.35 && chance < 0.65, "\(chance)")
        let a = try LinearProbe.crossValidatedAccuracy(embeddings: f, concept: random, folds: 5, seed: 2)
        let b = try LinearProbe.crossValidatedAccuracy(embeddings: f, concept: random, folds: 5, seed: 2)
        #expect(a == b)
        // Every row is predicted exactly once, by a probe that did not see it.
        var seen: [Int] = [], firstFold: [[Int]] = []
        _ = LinearProbe.crossValidatedPredictions(rows: 23, folds: 5, seed: 3) { train, test in
            #expect(Set(train).isDisjoint(with: test) && train.count + test.count == 23)
            seen += test
            firstFold.append(test)
            return test.map { _ in true }
        }
        #expect(seen.sorted() == Array(0..<23), "\(seen.sorted())")
        // Another seed shuffles the folds differently.
        var otherFolds: [[Int]] = []
        _ = LinearProbe.crossValidatedPredictions(rows: 23, folds: 5, seed: 4) { _, test in otherFolds.append(test); return test.map { _ in true } }
        #expect(otherFolds.map { Set($0) } != firstFold.map { Set($0) })
    }

    @Test("G̃_A without full column rank: T11's floors are inapplicable (σ_min = 0), the probes still reported")
    func rankDeficient() throws {
        let g = try Matrix([[1, 2], [2, 4], [3, 6], [0, 0]])
        var gen = SeededGenerator(seed: 1206)
        let f = gen.gaussianMatrix(rows: 40, columns: 2)
        let teacher = try SoftmaxModel(embeddings: f, unembeddings: g)
        let pair = try ModelPair(teacher, teacher)
        let z = (0..<40).map { f[$0, 0] > 0 }
        let report = try ConceptReport.measure(pair, name: "z", source: "test", values: z, predicted: teacher.predictedLabels(),
                                               options: ConceptReport.Options())
        #expect(report.floorLogit == nil && report.note?.contains("σ_min = 0") == true)
        #expect(report.teacherProbe != nil)
    }
}
