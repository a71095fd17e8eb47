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

    /// F × 2^p and G × 2^−p: the same logits.
    static func scaled(_ m: SoftmaxModel, _ p: Int) throws -> SoftmaxModel {
        try SoftmaxModel(embeddings: m.embeddings.scaled(byPowerOfTwo: p), unembeddings: m.unembeddings.scaled(byPowerOfTwo: -p))
    }

    /// The concept [f₀ − f₂ > 0] of `pair`'s teacher, measured on `pair` and on `other` (the same
    /// inputs, rescaled), with the fast and exact levels allowed.
    static func measuredOnBoth(_ pair: ModelPair, _ other: ModelPair) throws -> (ConceptReport, ConceptReport) {
        let f = pair.first.embeddings
        let z = (0..<f.rows).map { f[$0, 0] - f[$0, 2] > 0 }
        let predicted = pair.first.predictedLabels()
        var options = ConceptReport.Options()
        (options.fastCertificate, options.exactCertificate) = (true, true)
        return (try ConceptReport.measure(pair, name: "z", source: "", values: z, predicted: predicted, options: options),
                try ConceptReport.measure(other, name: "z", source: "", values: z, predicted: predicted, options: options))
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

    /// F × 2^±k with G × 2^∓k leaves every logit as it is; the probes and the teacher's own
    /// concepts must not change either. At |f| ≈ 10¹⁵⁵ the probe's scale overflowed (every
    /// coefficient 0, accuracy the majority) and the within-class covariance was not finite;
    /// at 10⁻¹⁶⁰ it was subnormal and the concepts drifted (a hostile user's findings).
    @Test("Concepts of a pair scaled by 2^±530 (F up, G down, or the reverse): the same probes, concepts and T11 verdict",
          arguments: [515, -532])
    func scaledPairConcepts(power: Int) throws {
        let pair = try Self.pair(seed: 1207)
        let big = try ModelPair(Self.scaled(pair.first, power), Self.scaled(pair.second, power))
        let predicted = pair.first.predictedLabels()
        #expect(big.first.predictedLabels() == predicted)
        let concepts = try TeacherConcepts.derive(pair.first, count: 2, predicted: predicted)
        let scaledConcepts = try TeacherConcepts.derive(big.first, count: 2, predicted: predicted)
        #expect(concepts.map(\.values) == scaledConcepts.map(\.values))
        // (The fast level's Grams G̃ᵀG̃ leave the Double range at 2^∓1030: the exact level decides there.)
        let (a, b) = try Self.measuredOnBoth(pair, big)
        for (x, y, name) in [(a.teacherProbe, b.teacherProbe, "teacher"), (a.studentProbe, b.studentProbe, "student"),
                             (a.transportedProbe, b.transportedProbe, "transported"), (a.disagreement, b.disagreement, "disagreement")] {
            #expect(x != nil && x == y, "\(name): \(String(describing: x)) vs \(String(describing: y))")
        }
        #expect(try #require(a.teacherProbe) > a.majority + 0.1)
        // The probe's weights carry the scale: u·2^power is the unscaled probe's u.
        let u = try #require(a.probeWeights), v = try #require(b.probeWeights)
        #expect(zip(u, v).allSatisfy { abs($0 - Double(sign: .plus, exponent: power, significand: $1)) <= 1e-9 * max(1, abs($0)) }, "\(u) vs \(v)")
        #expect(a.t11?.outcome == b.t11?.outcome && a.t11?.certified == true && b.t11?.certified == true)
    }

    /// Teacher and student scaled in opposite directions (F₁ × 2^p, G₁ × 2^−p against F₂ × 2^−p,
    /// G₂ × 2^p): the logits are unchanged, A₁₂ = G̃₁⁺G̃₂ is 2^2p times the unscaled one (past the
    /// Double range at |p| = 600), and the transported probe's scores, the disagreement and
    /// every floor must not change. A₁₂ formed in Double gave a transported accuracy of 0.48
    /// for 0.94 (its scores 0 or ∞), and ‖v‖² as Σ(vᵢᵀu)²/σᵢ² was ∞/∞: the scalar floor 0.
    @Test("T11 on a pair scaled apart by up to 2^±1200: the same transported probe, disagreement, floors, residuals and verdict",
          arguments: [600, -600, 300])
    func pairScaledApart(power: Int) throws {
        let pair = try Self.pair(seed: 1207)
        let apart = try ModelPair(Self.scaled(pair.first, power), Self.scaled(pair.second, -power))
        let (a, b) = try Self.measuredOnBoth(pair, apart)
        #expect(try #require(a.transportedProbe) > 0.8)
        #expect(a.transportedProbe == b.transportedProbe && a.disagreement == b.disagreement,
                "transported \(String(describing: a.transportedProbe)) vs \(String(describing: b.transportedProbe))")
        for (x, y, name) in [(a.floorLogit, b.floorLogit, "logit"), (a.floorLogitScalar, b.floorLogitScalar, "scalar")] {
            let (x, y) = (try #require(x), try #require(y))
            #expect(abs(x - y) <= 1e-9, "\(name) floor: \(x) vs \(y)")
        }
        #expect(try #require(a.floorLogitScalar) > 0, "the scalar floor is not trivial on the unscaled pair")
        #expect(a.floorKL == b.floorKL && a.t11?.outcome == b.t11?.outcome && a.t11?.certified == true,
                "KL floor \(String(describing: a.floorKL)) vs \(String(describing: b.floorKL)), T11 \(String(describing: a.t11?.outcome)) vs \(String(describing: b.t11?.outcome))")
        // Every form's residual term: the probe's u scales as 2^−p and σ_min(G̃₁) too, so
        // ‖v‖²d² and (‖u‖/σ_min)²d² are unchanged (‖u‖² and σ_min² alone are 2^∓1200 apart).
        let (ta, tb) = (try ConceptTransfer(pair, probe: ProbeDirection(weights: try #require(a.probeWeights), bias: try #require(a.probeBias))),
                        try ConceptTransfer(apart, probe: ProbeDirection(weights: try #require(b.probeWeights), bias: try #require(b.probeBias))))
        for form in ConceptTransfer.Form.allCases {
            let (x, y) = (ta.residual(form), tb.residual(form))
            #expect(x > 0 && abs(x - y) <= 1e-9 * x, "\(form): \(x) vs \(y)")
        }
    }

    /// Both models' F × 10^±300: the logits and d_logit scale by 10^±300, d_logit² leaves the
    /// Double range (∞ or 0) and ‖v‖² goes the other way, while ‖v‖²·d_logit² is unchanged. The
    /// product of the squares was ∞·0 or 0·∞: the scalar floor 0 for 0.35 (attack finding); it is
    /// now (‖v‖·d_logit)², d_logit from the rescaled pass. Where that pass cannot say, no floor
    /// (never a residual of 0).
    @Test("T11's scalar and logit floors when d_logit² overflows or underflows: as unscaled", arguments: [1e300, 1e-300])
    func floorsBeyondTheSquares(scale: Double) throws {
        let unit = try Self.pair(seed: 1207)
        let scaled = try ModelPair(SoftmaxModel(embeddings: scale * unit.first.embeddings, unembeddings: unit.first.unembeddings),
                                   SoftmaxModel(embeddings: scale * unit.second.embeddings, unembeddings: unit.second.unembeddings))
        #expect(!scaled.logitSummary().distanceSquared.isNormal, "the premise: d_logit² leaves the normal range")
        let f = unit.first.embeddings
        let z = (0..<f.rows).map { f[$0, 0] - f[$0, 2] > 0 }
        let predicted = unit.first.predictedLabels()
        let (a, b) = (try ConceptReport.measure(unit, name: "z", source: "", values: z, predicted: predicted, options: .init()),
                      try ConceptReport.measure(scaled, name: "z", source: "", values: z, predicted: predicted, options: .init()))
        for (x, y, name) in [(a.floorLogit, b.floorLogit, "logit"), (a.floorLogitScalar, b.floorLogitScalar, "scalar")] {
            let (x, y) = (try #require(x), try #require(y))
            #expect(x > 0 && abs(x - y) <= 1e-9, "\(name) floor: \(x) unscaled, \(y) at \(scale)")
        }
    }

    /// Both models' F × 10⁻¹⁷ (logits near 10⁻¹⁷, models near uniform): the pass's double KL
    /// had cancelled to 0 (its kernel now takes b − a there) while the KL `measure` reports (its
    /// enclosure) was right. The KL floor came from the pass's KL: a residual of 0 put it at the in-sample
    /// accuracy (1.000, above the transported probe's 0.96), certified verdict beside it. It now
    /// uses the reported KL, and a KL lost to rounding gives no KL floor at all.
    @Test("The KL floor near uniform models: from the reported KL (as at 10⁻¹⁰), none where KL is lost")
    func klFloorNearUniform() throws {
        let unit = try Self.pair(seed: 1207, noise: 0.005)
        func scaled(_ s: Double) throws -> ModelPair {
            try ModelPair(SoftmaxModel(embeddings: s * unit.first.embeddings, unembeddings: unit.first.unembeddings),
                          SoftmaxModel(embeddings: s * unit.second.embeddings, unembeddings: unit.second.unembeddings))
        }
        // KL/d_logit² and τ settle once the models are near uniform: the floors at 10⁻¹⁰ and
        // 10⁻¹⁷ must agree.
        let (pair, tiny) = (try scaled(1e-10), try scaled(1e-17))
        let f = pair.first.embeddings
        let concept = PairMeasurement.NamedConcept(name: "z", source: "", values: (0..<f.rows).map { f[$0, 0] - f[$0, 2] > 0 })
        var options = PairMeasurement.Options(skipPivot: true, certification: .auto)
        options.concepts = [concept]
        let (a, b) = (try #require(try PairMeasurement.measure(pair, options: options).concepts?.first),
                      try #require(try PairMeasurement.measure(tiny, options: options).concepts?.first))
        let (x, y) = (try #require(a.floorKL), try #require(b.floorKL))
        #expect(x > 0 && abs(x - y) <= 1e-6, "KL floor \(x) at 10⁻¹⁰, \(y) at 10⁻¹⁷")
        let transported = try #require(b.transportedProbe)
        #expect(y <= transported)
        // The pass's KL at 10⁻¹⁷ is right (its kernel takes b − a where the logits lie far below
        // log k; it had cancelled to 0). Called on its own where the pass's KL is lost (logits
        // near 10⁻¹⁷⁰, KL near 10⁻³⁴⁰ underflows to 0): no KL floor rather than the in-sample accuracy.
        #expect(abs(tiny.logitSummary().kl - pair.logitSummary().kl * 1e-14) <= 1e-6 * pair.logitSummary().kl * 1e-14,
                "KL \(tiny.logitSummary().kl) at 10⁻¹⁷ against \(pair.logitSummary().kl) at 10⁻¹⁰")
        let lost = try scaled(1e-170)
        #expect(lost.logitSummary().kl == 0, "the premise: the pass's KL underflows")
        let alone = try ConceptReport.measure(lost, name: "z", source: "", values: concept.values,
                                              predicted: lost.first.predictedLabels(), options: .init())
        #expect(alone.floorKL == nil && alone.gamma?.kl == nil)
    }

    /// Weights 10³⁰⁰ and 10⁻³⁰⁰ alternating: the teacher's concepts are formed (the weights are
    /// brought near 1 first, and a class of negligible weight adds nothing rather than 0/0;
    /// this failed with "entry (0, 0) is not finite"), each split at the weighted median.
    @Test("The teacher's own concepts under weights 10^±300: formed, split at the weighted median")
    func teacherConceptsWideWeights() throws {
        var g = SeededGenerator(seed: 1209)
        let plain = ModelGenerator.model(labels: 10, dimension: 4, inputs: 300, using: &g)
        let predicted = plain.predictedLabels()
        // Every input of one predicted class light, the others heavy and light in turn.
        let lightClass = predicted[0]
        let heavy = (0..<300).map { predicted[$0] != lightClass && $0 % 2 == 0 }
        let teacher = try SoftmaxModel(embeddings: plain.embeddings, unembeddings: plain.unembeddings,
                                       weights: heavy.map { $0 ? 1e300 : 1e-300 })
        let concepts = try TeacherConcepts.derive(teacher, count: 2, predicted: predicted)
        #expect(concepts.count == 2)
        let heavyCount = heavy.filter { $0 }.count
        for c in concepts {
            // Split at the weighted median: half of the heavy inputs on each side.
            let heavyOn = (0..<300).filter { heavy[$0] && c.values[$0] }.count
            #expect(abs(2 * heavyOn - heavyCount) <= 2, "\(c.name): \(heavyOn) of \(heavyCount) heavy inputs above the median")
        }
    }

    /// Fewer inputs than folds: the cross-validation holds out one input at a time, and the
    /// report's fitting line says so (it said "5-fold" with N = 3).
    @Test("N below --concept-folds: the fitting line says leave-one-out")
    func fewerInputsThanFolds() throws {
        var g = SeededGenerator(seed: 1210)
        let teacher = ModelGenerator.model(labels: 3, dimension: 1, inputs: 4, using: &g)
        let pair = try ModelPair(teacher, ModelGenerator.perturb(teacher, by: 0.05, using: &g))
        var options = PairMeasurement.Options(skipPivot: true, certification: .never)
        options.concepts = [PairMeasurement.NamedConcept(name: "z", source: "", values: [true, false, true, false])]
        let m = try PairMeasurement.measure(pair, options: options)
        #expect(m.conceptFitting?.contains("only N = 4 inputs, so leave-one-out (4 folds)") == true, "\(m.conceptFitting ?? "")")
        options.conceptOptions.folds = 2
        #expect(try PairMeasurement.measure(pair, options: options).conceptFitting?.contains("leave-one-out") == false)
    }

    /// T11's verdict on a concept's probe: the fast enclosure where asked and deciding, the
    /// exact level where allowed, else the screen with the reason; a planted constant far too
    /// small is certified violated (which `measure` turns into exit 1).
    @Test("T11 on a concept: fast enclosure, else exact, else a screen that says why; a planted violation is certified")
    func t11VerdictLevels() throws {
        let pair = try Self.pair(seed: 1208, noise: 0.3)
        let f = pair.first.embeddings
        let z = (0..<f.rows).map { f[$0, 1] + f[$0, 3] > 0 }
        let report = try ConceptReport.measure(pair, name: "z", source: "", values: z, predicted: pair.first.predictedLabels(),
                                               options: ConceptReport.Options())
        let probe = ProbeDirection(weights: try #require(report.probeWeights), bias: try #require(report.probeBias))
        #expect(try #require(report.disagreement) > 0, "the planted case needs a disagreement")
        func verdict(scale: Double = 1, fast: Bool, exact: Bool) throws -> (Verdict, String?) {
            var options = ConceptReport.Options()
            (options.fastCertificate, options.exactCertificate) = (fast, exact)
            return try ConceptReport.t11Verdict(T11ConceptTransferBound(.covariance, constantScale: scale, probes: { _ in [probe] }), pair, options: options)
        }
        let (fast, fastNote) = try verdict(fast: true, exact: true)
        #expect(fast.level == .fastEnclosure && fast.outcome == .holds && fastNote == nil)
        let (exact, exactNote) = try verdict(fast: false, exact: true)
        #expect(exact.level == .exact && exact.outcome == .holds && exactNote == nil)
        let (screened, why) = try verdict(fast: false, exact: false)
        #expect(screened.level == .double && why?.contains("--certify never") == true)
        let (planted, _) = try verdict(scale: 1e-6, fast: true, exact: true)
        #expect(planted.outcome == .violated && planted.isCertified, "\(planted.outcome) \(planted.level)")
        let bound = PairMeasurement.Bound(planted)
        #expect(bound.certified && bound.holds == false)
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

    /// The fit scaled every input by one number, the rows' RMS norm: with one column ×10⁶ the
    /// others were near 10⁻⁶ of it, the ridge held their weights down, and a concept on them
    /// was read at chance (in-sample 0.583 on this sample).
    @Test("Probes on columns of very different scales: the same answers as on the unscaled columns", arguments: [1e6, 1e-6, 1e150])
    func badlyScaledColumns(factor: Double) throws {
        var g = SeededGenerator(seed: 1207)
        let f = g.gaussianMatrix(rows: 300, columns: 3)
        let concept = (0..<300).map { f[$0, 0] - f[$0, 2] > 0.1 }
        var scaled = f
        for i in 0..<300 { scaled[i, 1] *= factor }
        let (plain, skewed) = (try LinearProbe.fit(embeddings: f, concept: concept), try LinearProbe.fit(embeddings: scaled, concept: concept))
        #expect(abs(skewed.accuracy(on: scaled, concept: concept) - plain.accuracy(on: f, concept: concept)) <= 0.01,
                "in-sample \(skewed.accuracy(on: scaled, concept: concept)) against \(plain.accuracy(on: f, concept: concept)) unscaled")
        #expect(plain.accuracy(on: f, concept: concept) >= 0.99)
        let (a, b) = (try LinearProbe.crossValidatedAccuracy(embeddings: f, concept: concept, folds: 5, seed: 1),
                      try LinearProbe.crossValidatedAccuracy(embeddings: scaled, concept: concept, folds: 5, seed: 1))
        #expect(abs(a - b) <= 0.01 && b >= 0.97, "cross-validated \(b) against \(a) unscaled")
        // A power-of-two factor per column leaves the scaled design, and so every answer, as it was.
        var powers = f
        for i in 0..<300 { powers[i, 0] *= 0x1p40; powers[i, 2] *= 0x1p-30 }
        #expect(try LinearProbe.fit(embeddings: powers, concept: concept).predictions(powers) == plain.predictions(f))
        // The scaled rows keep RMS norm 1, as the ridge assumes (columns at RMS 1 alone made it √d).
        let design = LinearProbe.design(scaled, scales: LinearProbe.columnScales(scaled))
        let meanSquare = (0..<300).reduce(0.0) { total, i in total + (0..<3).reduce(0.0) { $0 + design[i, $1] * design[i, $1] } } / 300
        #expect(abs(meanSquare - 1) < 1e-12, "mean squared row norm \(meanSquare)")
    }

    /// A column near 10⁻³⁰⁷ scaled by its own RMS gave the direction a weight of +∞, and `measure`
    /// stopped ("bad probe: weights and bias must be finite"), also for a concept not on it.
    @Test("A column near the bottom of the Double range: finite directions, the concept measured", arguments: [1e-307, 1e-310])
    func tinyColumn(factor: Double) throws {
        let unit = try Self.pair(seed: 1207)
        func tiny(_ m: SoftmaxModel) throws -> SoftmaxModel {
            var f = m.embeddings
            for i in 0..<f.rows { f[i, 1] *= factor }
            return try SoftmaxModel(embeddings: f, unembeddings: m.unembeddings)
        }
        let pair = try ModelPair(tiny(unit.first), tiny(unit.second))
        let f = pair.first.embeddings
        let z = (0..<f.rows).map { f[$0, 0] - f[$0, 2] > 0 }
        let direction = try LinearProbe.fit(embeddings: f, concept: z).direction
        #expect(direction.weights.allSatisfy(\.isFinite) && direction.bias.isFinite, "\(direction.weights)")
        let report = try ConceptReport.measure(pair, name: "z", source: "", values: z, predicted: pair.first.predictedLabels(), options: .init())
        #expect(try #require(report.teacherProbeInSample) >= 0.99 && report.transportedProbe != nil)
    }

    /// One column of the teacher's F ×2ᵖ and of its G ×2⁻ᵖ leaves every logit as it was. G̃₁'s
    /// Double SVD then called G̃₁ rank-deficient from p = 50 ("σ_min = 0": no floors, while T3
    /// certified σ_min(G̃₁) > 0 in the same run), and below that the transport's norm ‖v‖, from
    /// G̃₁'s SVD as given, drifted (the scalar floor by 1.6·10⁻⁵ relative at p = 40). The rank
    /// test and ‖v‖ now measure each column against its own rounding level.
    ///
    /// With two columns scaled apart (column 1 by 2ᵖ, column 2 by 2^q), from p = 270, q = −270
    /// one power of two could not bring G̃₁'s columns near 1 together: QR's norms of the smallest
    /// underflowed and the transported probe read 0.617 for 0.990. The least-squares map now
    /// equilibrates its columns there.
    @Test("T11 on a teacher with columns scaled 2^±p (F's up, G's down): the same transported probe, floors and certified verdict",
          arguments: [(20, 0), (40, 0), (50, 0), (60, 0), (270, -270), (400, -400), (500, -500), (600, -600)])
    func columnScaledTeacher(p: Int, q: Int) throws {
        let plain = try Self.pair(seed: 1211)
        let scaled = try ModelPair(plain.first.scalingColumn(1, byPowerOfTwo: p).scalingColumn(2, byPowerOfTwo: q), plain.second)
        let (a, b) = try Self.measuredOnBoth(plain, scaled)
        let (floorA, floorB) = (try #require(a.floorLogit), try #require(b.floorLogit, "\(b.note ?? "")"))
        #expect(b.transportedProbe == a.transportedProbe && b.disagreement == a.disagreement)
        for (x, y) in [(floorA, floorB), (try #require(a.floorLogitScalar), try #require(b.floorLogitScalar))] {
            #expect(abs(x - y) <= 1e-12 * max(abs(x), 1e-300), "floor \(y) against \(x) unscaled")
        }
        #expect(floorA > 0 && a.floorLogitScalar ?? 0 > 0, "floors that say something (a floor clamped to 0 would compare equal)")
        let verdict = try #require(b.t11)
        #expect(verdict.outcome == "holds" && verdict.certified && verdict.level == a.t11?.level, "\(verdict.level) \(verdict.outcome) against \(a.t11?.level ?? "none")")
    }

    /// The screen's tolerance for a transported score had been κ(G̃₁)·ε·max|A₁₂ᵀu|·Σⱼ|f₂ᵢⱼ|: with
    /// a column of the student 2⁶⁰ apart (or of the teacher, still Double-diverse) it grew 2⁶⁰-fold
    /// and every sign was "unsure", so the screen read P_w(ĉ₁ ≠ ĉ₂) ≤ 1: "undecided" for a
    /// disagreement of 0.09. It now goes column by column, with κ no larger than the equilibrated G̃₁'s.
    @Test("T11's screen with a column of each model scaled 2^±p: the disagreement and verdict as unscaled", arguments: [30, 60])
    func screenWithColumnsScaled(p: Int) throws {
        let plain = try Self.pair(seed: 1211)
        let scaled = try ModelPair(plain.first.scalingColumn(1, byPowerOfTwo: p), plain.second.scalingColumn(2, byPowerOfTwo: -p))
        let f = plain.first.embeddings
        let z = (0..<f.rows).map { f[$0, 0] - f[$0, 2] > 0 }
        let predicted = plain.first.predictedLabels()
        let (a, b) = (try ConceptReport.measure(plain, name: "z", source: "", values: z, predicted: predicted, options: .init()),
                      try ConceptReport.measure(scaled, name: "z", source: "", values: z, predicted: predicted, options: .init()))
        let (va, vb) = (try #require(a.t11), try #require(b.t11))
        #expect(va.level == "screen" && vb.level == "screen")
        #expect(va.outcome == "holds" && vb.outcome == "holds" && vb.lhs == va.lhs, "\(vb.outcome): \(vb.lhs) against \(va.lhs)")
        #expect(b.disagreement == a.disagreement && a.disagreement ?? 0 > 0)
    }

    /// The screen's tolerance, against exact arithmetic: on T11's equality case the disagreeing
    /// inputs' transported scores are exactly 0 and ±rounding in Double (A₁₂ = I). Each of those
    /// must fall inside the tolerance (else the screen takes rounding for a sign), and every score
    /// outside it must have the exact score's sign — with the models' columns scaled apart too.
    @Test("T11's screen tolerance against the exact transported scores (columns 2^±p apart)", arguments: [(0, 0), (60, 0), (60, -60), (0, 60)])
    func screenToleranceAgainstExact(p: Int, q: Int) throws {
        var g = SeededGenerator(seed: 1104)
        let teacher = ModelGenerator.model(labels: 9, dimension: 4, inputs: 40, using: &g)
        let boundary = ModelGenerator.conceptBoundaryPair(teacher, using: &g)
        let pair = try ModelPair(boundary.first.scalingColumn(2, byPowerOfTwo: p), boundary.second.scalingColumn(2, byPowerOfTwo: q))
        let probe = ProbeDirection(weights: [1, 0, 0, 0], bias: 0)
        let t = try ConceptTransfer(pair, probe: probe)
        let exact = try ExactConceptTransfer(pair.exact(), probe: probe)
        var (outside, zeros) = (0, 0)
        for (i, s) in t.transportedScores.enumerated() {
            let sign = exact.scores[i].sign
            if sign == 0 {
                zeros += 1
                #expect(abs(s) <= t.scoreTolerance[i], "input \(i): exactly 0, computed \(s), tolerance \(t.scoreTolerance[i])")
            }
            if abs(s) > t.scoreTolerance[i] {
                outside += 1
                #expect((s > 0 ? 1 : -1) == sign, "input \(i): \(s) outside the tolerance, exact sign \(sign)")
            }
        }
        #expect(zeros >= 1 && outside >= 30, "\(zeros) exact zeros, \(outside) scores decided")
    }

    /// A constant column of G centres to rounding noise, not to 0: measured against its own
    /// rounding level it is rank deficiency, not a column 2⁵⁰ smaller than the others. An attack
    /// found floors printed for 12 345.678 beside columns near 1 (the SVD of G̃₁ as given took the
    /// noise for a direction) and for 0.7 with the column then scaled by 2¹⁰ (F's by 2⁻¹⁰), where
    /// the equilibrated SVD took it so by chance.
    @Test("A constant column of G: T11 inapplicable (σ_min = 0), not a badly scaled full rank",
          arguments: [(0.1, 0), (12_345.678, 0), (0.7, 10), (0.7, 30)])
    func constantUnembeddingColumn(value: Double, p: Int) throws {
        let plain = try Self.pair(seed: 1211)
        var g = plain.first.unembeddings
        for i in 0..<g.rows { g[i, 2] = value }
        let teacher = try SoftmaxModel(embeddings: plain.first.embeddings, unembeddings: g).scalingColumn(2, byPowerOfTwo: -p)
        let pair = try ModelPair(teacher, plain.second)
        // The case tested: centring leaves rounding noise, not an exact 0 (which any test would catch).
        #expect(pair.centredUnembeddings.first.column(2).contains { $0 != 0 }, "the constant centres to exactly 0")
        #expect(try !pair.firstUnembeddingsTransportable())
        let f = teacher.embeddings
        let z = (0..<f.rows).map { f[$0, 0] > 0 }
        let report = try ConceptReport.measure(pair, name: "z", source: "", values: z, predicted: teacher.predictedLabels(), options: .init())
        #expect(report.floorLogit == nil && report.note?.contains("σ_min = 0") == true, "\(report.note ?? "no note")")
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
