import Foundation
import Numerics
import Theory

/// Concepts the teacher encodes by construction (`measure`/`distill --teacher-concepts n`):
/// the top n principal directions u_j of f₁'s within-class covariance (class = the
/// teacher's predicted label), z_j(x) = [u_jᵀf₁(x) > its weighted median]. A linear probe
/// reads each from the teacher at ≈ 1, while the predicted label explains little of it:
/// the directions are those along which the embeddings vary most *within* a class.
public enum TeacherConcepts {
    /// One such concept: its direction and threshold, so it can be read on other inputs.
    public struct Direction: Sendable {
        public let name: String
        public let direction: [Double]
        public let threshold: Double
        public func values(_ f: Matrix) -> [Bool] { f.applied(to: direction).map { $0 > threshold } }
    }

    /// The n directions from embeddings f (rows weighted by w) and their predicted labels.
    public static func directions(embeddings f: Matrix, weights w: [Double], predicted: [Int], count n: Int) throws -> [Direction] {
        let d = f.columns
        guard (0...d).contains(n) else {
            throw ModelError.badProbe("--teacher-concepts must be at most the teacher's d = \(d), got \(n)")
        }
        guard n > 0 else { return [] }
        // The directions do not change when f is scaled or w multiplied by a constant: both are
        // brought near 1 first (f by a power of two where its squares would leave the Double
        // range, w by its largest), so that Σ_W neither overflows nor goes subnormal.
        let exponent = f.outOfRangeExponent, top = w.max() ?? 1
        let thresholdsFrom = f
        let f = f.scaled(byPowerOfTwo: -exponent)
        let w = top.isFinite && (top > 0x1p100 || top < 0x1p-100) ? w.map { $0 / top } : w
        // Class means under the weights, then Σ_W = Σᵢ wᵢ (fᵢ − μ_cᵢ)(fᵢ − μ_cᵢ)ᵀ.
        var means: [Int: (sum: [Double], weight: Double)] = [:]
        for i in 0..<f.rows {
            var entry = means[predicted[i]] ?? ([Double](repeating: 0, count: d), 0)
            for j in 0..<d { entry.sum[j] += w[i] * f[i, j] }
            entry.weight += w[i]
            means[predicted[i]] = entry
        }
        let centred = Matrix(rows: f.rows, columns: d) { i, j in
            // (A class whose weights all underflowed to 0 adds nothing, not 0/0.)
            let m = means[predicted[i]]!
            return m.weight > 0 ? (f[i, j] - m.sum[j] / m.weight) * w[i].squareRoot() : 0
        }
        let e = try ModelError.wrapping { try SymmetricEigendecomposition(centred.gram()) }
        // Eigenvalues decrease: the top directions are the first columns.
        return (0..<n).map { j in
            let u = (0..<d).map { e.eigenvectors[$0, j] }
            return Direction(name: "teacher-pc\(j + 1)", direction: u, threshold: weightedMedian(thresholdsFrom.applied(to: u), weights: w))
        }
    }

    /// The n concepts on the teacher's own inputs.
    public static func derive(_ teacher: SoftmaxModel, count n: Int, predicted: [Int]) throws -> [(name: String, values: [Bool])] {
        try directions(embeddings: teacher.embeddings, weights: teacher.weights, predicted: predicted, count: n).map {
            ($0.name, $0.values(teacher.embeddings))
        }
    }
}

/// One concept measured on a pair (`measure --concept`, THEORY.md §8): held-out probes on
/// both models, the baselines that say whether the teacher encodes it, and T11's floor on
/// the transported probe's accuracy. Accuracies are weighted by the inputs' weights.
public struct ConceptReport: Codable, Sendable {
    public let name: String
    public let source: String
    /// Why the concept cannot be measured (a constant concept), when it cannot.
    public let undefined: String?
    /// P_w(z = 1).
    public let positiveShare: Double
    /// max(P_w(z = 1), P_w(z = 0)): always answering the more common value.
    public let majority: Double
    /// Held-out accuracy of the best function of the teacher's predicted label (the
    /// majority value of z within each predicted class of the training folds).
    public let labelOnly: Double?
    /// Whether z is constant within every predicted class of the teacher.
    public let labelFunction: Bool
    /// Held-out (k-fold) probe accuracy on the teacher's and on the student's embeddings.
    public let teacherProbe: Double?
    public let studentProbe: Double?
    /// The teacher probe fitted on every input, scored on them: the probe T11 is about.
    public let teacherProbeInSample: Double?
    /// That probe transported to the student, (A₁₂ᵀu, b), scored on the student.
    public let transportedProbe: Double?
    /// P_w(ĉ₁ ≠ ĉ₂) of that probe and its transport.
    public let disagreement: Double?
    /// T11's floors on the transported probe's accuracy: teacher_probe_in_sample minus the
    /// best bound (covariance form, scalar ‖v‖²d_logit² form, KL form through T6.sharp),
    /// floored at 0; nil when T11 is inapplicable.
    public let floorLogit: Double?
    public let floorLogitScalar: Double?
    public let floorKL: Double?
    public let gamma: Gammas?
    /// vᵀΣ_δv = E_w[e²].
    public let residualVariance: Double?
    public let probeWeights: [Double]?
    public let probeBias: Double?
    /// teacher_probe ≥ label_only + 0.1.
    public let encodedBeyondLabel: Bool?
    /// floor_logit > majority + `vacuityMargin`.
    public let floorNonVacuous: Bool?
    /// T11 (covariance form) checked on this probe at its γ, with the level that decided it.
    public let t11: PairMeasurement.Bound?
    /// Why T11 says nothing here, when it does not (G̃_A without full column rank).
    public let note: String?

    public struct Gammas: Codable, Sendable {
        public let logit: Double?
        public let logitScalar: Double?
        public let kl: Double?
        enum CodingKeys: String, CodingKey { case logit, logitScalar = "logit_scalar", kl }

        /// Every key written, null where the bound is trivial (no γ beats 1).
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(logit, forKey: .logit)
            try c.encode(logitScalar, forKey: .logitScalar)
            try c.encode(kl, forKey: .kl)
        }
    }

    /// Every key written (null where a value does not exist), so readers see one schema.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name); try c.encode(source, forKey: .source); try c.encode(undefined, forKey: .undefined)
        try c.encode(positiveShare, forKey: .positiveShare); try c.encode(majority, forKey: .majority)
        try c.encode(labelOnly, forKey: .labelOnly); try c.encode(labelFunction, forKey: .labelFunction)
        try c.encode(teacherProbe, forKey: .teacherProbe); try c.encode(studentProbe, forKey: .studentProbe)
        try c.encode(teacherProbeInSample, forKey: .teacherProbeInSample); try c.encode(transportedProbe, forKey: .transportedProbe)
        try c.encode(disagreement, forKey: .disagreement); try c.encode(floorLogit, forKey: .floorLogit)
        try c.encode(floorLogitScalar, forKey: .floorLogitScalar); try c.encode(floorKL, forKey: .floorKL)
        try c.encode(gamma, forKey: .gamma); try c.encode(residualVariance, forKey: .residualVariance)
        try c.encode(probeWeights, forKey: .probeWeights); try c.encode(probeBias, forKey: .probeBias)
        try c.encode(encodedBeyondLabel, forKey: .encodedBeyondLabel); try c.encode(floorNonVacuous, forKey: .floorNonVacuous)
        try c.encode(t11, forKey: .t11); try c.encode(note, forKey: .note)
    }

    enum CodingKeys: String, CodingKey {
        case name, source, undefined, positiveShare = "positive_share", majority, labelOnly = "label_only"
        case labelFunction = "label_function", teacherProbe = "teacher_probe", studentProbe = "student_probe"
        case teacherProbeInSample = "teacher_probe_in_sample", transportedProbe = "transported_probe", disagreement
        case floorLogit = "floor_logit", floorLogitScalar = "floor_logit_scalar", floorKL = "floor_kl", gamma
        case residualVariance = "residual_variance", probeWeights = "probe_weights", probeBias = "probe_bias"
        case encodedBeyondLabel = "encoded_beyond_label", floorNonVacuous = "floor_non_vacuous", t11, note
    }

    /// A floor must exceed the majority baseline by more than this to count as non-vacuous:
    /// both are sums of weights in Double, and a floor equal to the baseline (a probe no better
    /// than the majority, no disagreement) differed from it by rounding (10⁻¹⁴) and was flagged.
    public static let vacuityMargin = 1e-9

    /// How the probes are fitted and scored.
    public struct Options: Sendable {
        public var folds = 5
        public var seed: UInt64 = 0
        /// The levels tried on T11's verdict, in order: the fast enclosure (any size), then
        /// the exact level; neither leaves the double-precision screen.
        public var fastCertificate = false
        public var exactCertificate = false
        /// The exact level beyond its automatic size (`--certify always`) does not fit in memory.
        public var exactLevelDenied = false
        /// KL(A‖B) and log τ for the KL form's floor: the values `measure` reports (refined or
        /// enclosed where the pass's double KL cancels); the pass's own when nil.
        public var divergence: (kl: Double, logTau: Double)? = nil
        public init() {}

        public var fitting: String {
            "logistic regression (IRLS, intercept, ridge 1e−6), \(folds)-fold cross-validation on the pair's inputs, folds shuffled with seed \(seed)"
        }
    }

    /// One side's probes for a concept: fitted on every row, and its held-out accuracy by
    /// cross-validation (each fold warm-started from the probe on every row: the same
    /// optima in a third of the Newton steps).
    public struct SideProbe: Sendable {
        public let probe: LinearProbe
        public let heldOut: Double
    }

    /// `stop` abandons the fits (`CancellationError`) once it answers true.
    public static func sideProbe(_ f: Matrix, values z: [Bool], weights w: [Double], options: Options,
                                 stop: @Sendable () -> Bool = { false }) throws -> SideProbe {
        let (probe, heldOut) = try LinearProbe.fitAndCrossValidate(embeddings: f, concept: z, weights: w, folds: options.folds,
                                                                   seed: options.seed, stop: stop)
        return SideProbe(probe: probe, heldOut: heldOut)
    }

    /// Measures one concept; `predicted` are the teacher's predicted labels. `sides` (the
    /// teacher's and the student's `sideProbe`) may be computed beforehand, e.g. in parallel.
    public static func measure(_ pair: ModelPair, name: String, source: String, values z: [Bool], predicted: [Int],
                               options: Options, sides: (teacher: SideProbe, student: SideProbe)? = nil) throws -> ConceptReport {
        let w = pair.weights, total = w.reduce(0, +)
        precondition(z.count == w.count && predicted.count == w.count, "concept: one value per input")
        let positive = zip(w, z).reduce(0) { $0 + ($1.1 ? $1.0 : 0) } / total
        var classes: [Int: Set<Bool>] = [:]
        for (y, v) in zip(predicted, z) { classes[y, default: []].insert(v) }
        let labelFunction = classes.values.allSatisfy { $0.count == 1 }
        let majority = max(positive, 1 - positive)
        guard positive > 0 && positive < 1 else {
            let constant = z.allSatisfy { $0 == z.first }
            let why = constant ? "constant concept: every input has the value \(z.first == true ? 1 : 0)"
                : "the inputs of value \(positive > 0 ? 0 : 1) are lost in the total weight (their share is below its rounding in double precision): the concept is constant under the weights"
            return ConceptReport(name: name, source: source, undefined: why,
                                 positiveShare: positive, majority: majority, labelOnly: nil, labelFunction: labelFunction,
                                 teacherProbe: nil, studentProbe: nil, teacherProbeInSample: nil, transportedProbe: nil,
                                 disagreement: nil, floorLogit: nil, floorLogitScalar: nil, floorKL: nil, gamma: nil,
                                 residualVariance: nil, probeWeights: nil, probeBias: nil, encodedBeyondLabel: nil,
                                 floorNonVacuous: nil, t11: nil, note: nil)
        }
        let f1 = pair.first.embeddings, f2 = pair.second.embeddings
        let labelOnly = LinearProbe.agreement(
            LinearProbe.crossValidatedPredictions(rows: z.count, folds: options.folds, seed: options.seed) { train, test in
                labelOnlyPredictions(train: train, test: test, predicted: predicted, values: z, weights: w)
            }, z, weights: w)
        let teacherSide = try sides?.teacher ?? sideProbe(f1, values: z, weights: w, options: options)
        let studentSide = try sides?.student ?? sideProbe(f2, values: z, weights: w, options: options)
        let probe = teacherSide.probe, teacherProbe = teacherSide.heldOut, studentProbe = studentSide.heldOut
        let inSample = probe.accuracy(on: f1, concept: z, weights: w)
        let direction = probe.direction
        let transfer: ConceptTransfer
        do { transfer = try ConceptTransfer(pair, probe: direction) } catch {
            // σ_min(G̃₁) = 0, or A₁₂ left to the rounding of labels far apart in scale: no transport.
            let note: String
            switch error {
            case let ModelError.inapplicable(why): note = "T11 inapplicable (σ_min = 0): \(why)"
            case let ModelError.undetermined(why): note = "T11 not evaluated: A₁₂ = G̃₁⁺G̃₂ is not determined in Double (\(why))"
            default: throw error
            }
            return ConceptReport(name: name, source: source, undefined: nil, positiveShare: positive, majority: majority,
                                 labelOnly: labelOnly, labelFunction: labelFunction, teacherProbe: teacherProbe,
                                 studentProbe: studentProbe, teacherProbeInSample: inSample, transportedProbe: nil,
                                 disagreement: nil, floorLogit: nil, floorLogitScalar: nil, floorKL: nil, gamma: nil,
                                 residualVariance: nil, probeWeights: direction.weights, probeBias: direction.bias,
                                 encodedBeyondLabel: teacherProbe >= labelOnly + 0.1, floorNonVacuous: nil, t11: nil,
                                 note: note)
        }
        let transported = LinearProbe.agreement(transfer.transportedScores.map { $0 > 0 }, z, weights: w)
        // KL form: d_logit² ≤ 2 KL(A‖B)/τ (T6.sharp), so vᵀΣ_δv ≤ ‖v‖²·2KL/τ.
        let stats = pair.logitSummary()
        let (klValue, logTau) = options.divergence ?? (stats.kl, stats.logTau)
        let klResidual = transfer.klResidual(kl: klValue, logTau: logTau)
        let covariance = transfer.bound(.covariance)
        let scalar = transfer.bound(.scalar)
        // No KL floor where KL is lost to rounding (`klResidual`).
        let klLost = klResidual == nil
        let kl = transfer.bound(residual: klResidual.map { $0.isFinite ? $0 : .infinity } ?? .infinity)
        func floor(_ bound: (value: Double, gamma: Double?)) -> Double { bound.gamma == nil ? 0 : max(0, inSample - bound.value / total) }
        let statement = T11ConceptTransferBound(.covariance, probes: { _ in [direction] })
        let (verdict, verdictNote) = try t11Verdict(statement, pair, options: options)
        return ConceptReport(
            name: name, source: source, undefined: nil, positiveShare: positive, majority: majority, labelOnly: labelOnly,
            labelFunction: labelFunction, teacherProbe: teacherProbe, studentProbe: studentProbe,
            teacherProbeInSample: inSample, transportedProbe: transported, disagreement: transfer.disagreement / total,
            floorLogit: floor(covariance), floorLogitScalar: floor(scalar), floorKL: klLost ? nil : floor(kl),
            gamma: Gammas(logit: covariance.gamma, logitScalar: scalar.gamma, kl: klLost ? nil : kl.gamma),
            residualVariance: transfer.residualSecondMoment, probeWeights: direction.weights, probeBias: direction.bias,
            encodedBeyondLabel: teacherProbe >= labelOnly + 0.1, floorNonVacuous: floor(covariance) > majority + Self.vacuityMargin,
            t11: PairMeasurement.Bound(verdict, note: verdictNote), note: nil)
    }

    /// T11's verdict on one probe: the fast enclosure where it decides, else the exact level
    /// where allowed, else the screen, with a note saying why it is not certified.
    static func t11Verdict(_ statement: T11ConceptTransferBound, _ pair: ModelPair,
                           options: Options) throws -> (Verdict, String?) {
        if options.fastCertificate, let fast = try? statement.fastCertify(pair) { return (fast, nil) }
        if options.exactCertificate { return (try statement.certify(pair), nil) }
        let screened = try statement.screen(pair)
        guard screened.outcome != .inapplicable else { return (screened, nil) }
        return (screened, options.fastCertificate
            ? "double-precision screen: the fast enclosure could not decide, and "
                + (options.exactLevelDenied ? "the exact level (--certify always) does not fit in memory"
                    : "the exact level needs N·k·(d_A+d_B) ≤ 2·10⁶ and d_A + d_B ≤ \(ModelPair.exactWidthLimit) (here \(String(format: "%.3g", pair.exactLevelSize)) and \(pair.first.dimension + pair.second.dimension)) or --certify always")
            : "double-precision screen; not certified (--certify never)")
    }

    /// The label-only baseline on one fold: within each predicted class, the weighted
    /// majority value of z on the training rows (the training rows' overall majority for a
    /// class absent from them).
    public static func labelOnlyPredictions(train: [Int], test: [Int], predicted: [Int], values z: [Bool], weights w: [Double]) -> [Bool] {
        var votes: [Int: Double] = [:]
        var overall = 0.0
        for i in train {
            let vote = z[i] ? w[i] : -w[i]
            votes[predicted[i], default: 0] += vote
            overall += vote
        }
        return test.map { i in (votes[predicted[i]] ?? overall) > 0 }
    }
}
