import Foundation
import Numerics
import Theory

/// What the theory allows for one teacher/student pair, beside what the search found.
///
/// - T3 ∘ T6.sharp: d_rep(A←B)² ≤ d_logit²/σ_min(G̃_A)² ≤ 2·min(KL(A‖B), KL(B‖A))/(τ σ_min(G̃_A)²),
///   τ the smallest probability of either model (Proofs/T3, Proofs/T6-sharp).
/// - T7 ∘ T6.sharp: with μ the d_A-th largest eigenvalue of the covariance of the
///   teacher's centred logits Λ̃_A, mean_{i ≤ d_A} ρᵢ² ≥ 1 − d_logit²/(d_A μ), and
///   m_CCA ≥ mean ρᵢ² (ρᵢ ∈ [0, 1]; for d_B < d_A the mean over d_B is larger still),
///   so m_CCA ≥ 1 − 2·min KL/(τ d_A μ).
/// Computed in double precision from the certified ends (KL upper ends, log τ lower
/// ends), so each bound is at least as large as the exact one up to the rounding of
/// σ_min and μ; informational, not a certificate. A bound is vacuous when it allows
/// everything: the scale-free d_rep bound ≥ the largest value any student reaches is
/// not known, so vacuity is reported for m_CCA (bound ≤ 0) and through τ itself.
public struct TheoryAllowance: Codable, Sendable {
    /// τ and log τ (τ itself underflows to 0 below e^−745).
    public let tau: Double
    public let logTau: Double
    public let sigmaMinCentredUnembeddings: Double
    public let muTeacher: Double
    /// Upper bounds on d_rep(A←B)² and on the scale-free ratio d_rep² / E‖f_A‖².
    public let dRepSquaredBound: Double
    public let scaleFreeDRepBound: Double
    /// Lower bound on m_CCA (centred); ≤ 0 means the theorem allows any m_CCA.
    public let mccaLowerBound: Double
    public let note: String

    enum CodingKeys: String, CodingKey {
        case tau, note, logTau = "log_tau"
        case sigmaMinCentredUnembeddings = "sigma_min_centred_unembeddings_teacher", muTeacher = "mu_teacher"
        case dRepSquaredBound = "d_rep_squared_bound", scaleFreeDRepBound = "scale_free_d_rep_bound"
        case mccaLowerBound = "mcca_lower_bound"
    }

    /// What the bounds need from the teacher alone, computed once per run.
    struct Teacher {
        let sigmaMin: Double
        let mu: Double
        let dimension: Int
        let embeddingNorm: Double

        init(_ teacher: SoftmaxModel) throws {
            sigmaMin = try ModelError.wrapping { try teacher.centredUnembeddings.singularValues() }.last ?? 0
            let centred = teacher.centredLogits
            let logitCovariance = centred.subtractingFromRows(centred.weightedRowMean(teacher.weights))
                .scalingRows(by: teacher.sqrtWeights)
            let spectrum = try ModelError.wrapping { try logitCovariance.singularValues() }.map { $0 * $0 }
            dimension = teacher.dimension
            mu = dimension <= spectrum.count ? spectrum[dimension - 1] : 0
            embeddingNorm = teacher.weightedEmbeddings.frobeniusNormSquared
        }
    }

    init(teacher: Teacher, summary: CertifiedSummary) {
        let logTau = min(summary.logTauA.lower, summary.logTauB.lower)
        tau = logTau.exp
        self.logTau = logTau
        let kl = min(summary.klAB.upper, summary.klBA.upper)
        let sigma = teacher.sigmaMin
        sigmaMinCentredUnembeddings = sigma
        muTeacher = teacher.mu
        let dA = teacher.dimension
        // 2·KL/τ in log space (τ may be far below the Double range).
        let logitBound = (0.6931471805599453 + kl.log - logTau).exp
        dRepSquaredBound = sigma > 0 ? logitBound / (sigma * sigma) : .infinity
        // The report's scale-free d_rep is the ratio d_rep² / E‖f_A‖² (not its root).
        scaleFreeDRepBound = dRepSquaredBound / teacher.embeddingNorm
        mccaLowerBound = muTeacher > 0 ? 1 - logitBound / (Double(dA) * muTeacher) : -.infinity
        var parts: [String] = []
        if mccaLowerBound <= 0 {
            let bound = logitBound.isFinite ? String(format: "%.3g", logitBound) : "e^\(String(format: "%.1f", 0.6931471805599453 + kl.log - logTau))"
            parts.append("T7 ∘ T6.sharp allows any m_CCA here: 2·KL/τ = \(bound) exceeds d_A·μ = \(String(format: "%.3g", Double(dA) * muTeacher))")
        }
        if tau < 1e-6 {
            parts.append("τ = \(Self.tauText(logTau)) is tiny (the pair is near one-hot somewhere), so 2/τ makes the KL-based bounds weak: the theorem, not the search, is the limit")
        }
        note = parts.isEmpty ? "the bounds are not vacuous for this pair" : parts.joined(separator: "; ")
    }

    /// τ for display: as a number while a Double holds it, else as e^{log τ}.
    public static func tauText(_ logTau: Double) -> String {
        logTau > -700 ? String(format: "%.3g", logTau.exp) : "e^\(String(format: "%.1f", logTau))"
    }
}

/// One ε of CE4's frontier: the certified student's numbers are `pairs[i]` of the
/// report (parameter = ε); this adds the search's side.
public struct CE4FrontierPoint: Codable, Sendable {
    public let epsilon: Double
    /// The objective's double value at the certified student (see `StudentObjectiveKind`).
    public let objectiveValue: Double
    /// The dissimilarity the frontier plots, and whether it is certified.
    public let dissimilarity: Double
    public let dissimilarityCertified: Bool
    public let start: String
    public let interpolation: Double
    public let theory: TheoryAllowance
    public let effort: CE4Search.SearchEffort

    enum CodingKeys: String, CodingKey {
        case epsilon, start, interpolation, theory, effort, dissimilarity
        case objectiveValue = "objective_value", dissimilarityCertified = "dissimilarity_certified"
    }
}

/// A student the user already has, placed against the frontier.
public struct CE4Reference: Codable, Sendable {
    public let file: String
    public let klAB: IntervalValue
    public let klBA: IntervalValue
    public let mccaCentered: Double
    public let mccaCenteredCertified: IntervalValue?
    public let dRepScaleFreeAB: Double

    enum CodingKeys: String, CodingKey {
        case file, klAB = "kl_ab", klBA = "kl_ba", mccaCentered = "mcca_centered"
        case mccaCenteredCertified = "mcca_centered_certified", dRepScaleFreeAB = "d_rep_scale_free_ab"
    }

    public init(teacher: SoftmaxModel, student: SoftmaxModel, file: String) throws {
        let construction = Construction(family: "reference", summary: "", parameters: [:],
                                        pair: try ModelPair(teacher, student),
                                        inputLabels: Array(repeating: 0, count: teacher.inputCount),
                                        concept: (0..<teacher.inputCount).map { $0 % 2 == 0 }, conceptName: "")
        let s = try CertifiedSummary(construction)
        self.file = file
        (klAB, klBA, mccaCentered, mccaCenteredCertified, dRepScaleFreeAB) =
            (s.klAB, s.klBA, s.mccaCentered, s.mccaCenteredCertified, s.dRepScaleFreeAB)
    }
}

/// CE4's search over one or several ε: what the report adds to the family's pairs.
public struct CE4SearchReport: Codable, Sendable {
    public let objective: StudentObjectiveKind
    public let dissimilarityName: String
    public let conceptSource: String
    public let studentDimension: Int
    public let settings: [String: String]
    public let frontier: [CE4FrontierPoint]
    public let reference: CE4Reference?
    /// The ε an interrupt left unsearched (empty when the run finished).
    public let notSearched: [Double]

    enum CodingKeys: String, CodingKey {
        case objective, settings, frontier, reference
        case dissimilarityName = "dissimilarity_name", conceptSource = "concept_source", studentDimension = "student_dimension"
        case notSearched = "not_searched"
    }
}

/// Runs CE4's search for each ε (largest first, each warm-starting the next) and
/// certifies every result. Returns one construction per ε, in the order given.
public struct CE4Frontier: Sendable {
    public var search = CE4Search()
    public var epsilons: [Double] = [1e-3]

    public init() {}

    public struct Result: Sendable {
        public let constructions: [Construction]
        public let report: CE4SearchReport
        public let summaries: [CertifiedSummary]
        /// True when a stop request cut the run short (the ε not reached are missing).
        public let interrupted: Bool
    }

    public func run(teacher: SoftmaxModel, concept given: (values: [Bool], name: String)?, reference: (SoftmaxModel, String)?,
                    progress: ((String) -> Void)? = nil, stop: (@Sendable () -> Bool)? = nil) throws -> Result {
        try CE4FromTeacher.requireDiverse(teacher)
        let concept: (values: [Bool], name: String)
        let conceptSource: String
        if let given {
            guard given.values.count == teacher.inputCount else {
                throw ModelError.shapeMismatch("the concept has \(given.values.count) values but the teacher has N = \(teacher.inputCount) inputs")
            }
            guard given.values.contains(true), given.values.contains(false) else {
                throw ModelError.badProbe("the concept is constant (all \(given.values[0] ? 1 : 0)): nothing to probe")
            }
            concept = given
            conceptSource = "given"
        } else {
            let grouping = try LabelGrouping(teacher: teacher)
            concept = (grouping.concept, grouping.name)
            conceptSource = "the teacher's most linearly recoverable grouping of labels (R² = \(String(format: "%.4f", grouping.rSquared)))"
        }
        let labels = teacher.predictedLabels()
        let teacherConstants = try TheoryAllowance.Teacher(teacher)
        var byEpsilon: [Double: (Construction, CE4FrontierPoint, CertifiedSummary)] = [:]
        var warm: SoftmaxModel?
        var interrupted = false
        for epsilon in Set(epsilons).sorted(by: >) {
            if stop?() ?? false { interrupted = true; break }
            progress?("CE4: searching ε = \(epsilon) (\(search.starts) starts, \(search.evaluationsPerStart) evaluations each, budget \(search.timeBudget) s)")
            let outcome = try search.run(teacher: teacher, epsilon: epsilon, concept: concept.values, warm: warm, stop: stop)
            if outcome.effort.interrupted { interrupted = true }   // cut short, even as the last ε
            warm = outcome.student
            let construction = Construction(
                family: "CE4",
                summary: "search for the student within certified KL ≤ \(epsilon) both ways that maximises \(search.objective.dissimilarityName) (best start: \(outcome.start))",
                parameters: ["epsilon": "\(epsilon)", "objective": search.objective.rawValue, "seed": "\(search.seed)",
                             "starts": "\(search.starts)", "evaluations_per_start": "\(search.evaluationsPerStart)",
                             "student_dimension": "\(outcome.student.dimension)"],
                pair: outcome.pair, inputLabels: labels,
                concept: concept.values, conceptName: concept.name)
            let summary = try CertifiedSummary(construction, parameter: epsilon)
            let (dissimilarity, certified): (Double, Bool)
            switch search.objective {
            case .mcca:
                if let bracket = summary.mccaCenteredCertified { (dissimilarity, certified) = (1 - bracket.upper, true) }
                else { (dissimilarity, certified) = (1 - summary.mccaCentered, false) }
            case .drep: (dissimilarity, certified) = (summary.dRepScaleFreeAB, true)
            case .probe: (dissimilarity, certified) = (1 - outcome.objectiveValue, false)
            }
            let point = CE4FrontierPoint(epsilon: epsilon, objectiveValue: outcome.objectiveValue, dissimilarity: dissimilarity,
                                         dissimilarityCertified: certified, start: outcome.start,
                                         interpolation: outcome.interpolation,
                                         theory: TheoryAllowance(teacher: teacherConstants, summary: summary), effort: outcome.effort)
            byEpsilon[epsilon] = (construction, point, summary)
            progress?("CE4: ε = \(epsilon): \(search.objective.dissimilarityName) = \(String(format: "%.4g", dissimilarity)) (\(outcome.effort.evaluations) evaluations, \(String(format: "%.1f", outcome.effort.seconds)) s)")
        }
        var seen = Set<Double>()
        let order = epsilons.filter { byEpsilon[$0] != nil && seen.insert($0).inserted }
        guard !order.isEmpty else {
            throw ModelError.refused("CE4: interrupted before the first ε was searched")
        }
        let ref = try reference.map { try CE4Reference(teacher: teacher, student: $0.0, file: $0.1) }
        let report = CE4SearchReport(
            objective: search.objective, dissimilarityName: search.objective.dissimilarityName,
            conceptSource: conceptSource, studentDimension: search.studentDimension ?? teacher.dimension,
            settings: ["starts": "\(search.starts)", "evaluations_per_start": "\(search.evaluationsPerStart)",
                       "time_budget_seconds": "\(search.timeBudget)", "workers": "\(search.workers)",
                       "seed": "\(search.seed)", "margin": "\(search.margin)", "learning_rate": "\(search.learningRate)",
                       "inner_steps": "\(search.innerSteps)",
                       "student_log_tau_floor": search.studentLogTauFloor.map { "\($0)" } ?? "none"],
            frontier: order.sorted().map { byEpsilon[$0]!.1 }, reference: ref,
            notSearched: Set(epsilons).filter { byEpsilon[$0] == nil }.sorted())
        return Result(constructions: order.map { byEpsilon[$0]!.0 }, report: report,
                      summaries: order.map { byEpsilon[$0]!.2 }, interrupted: interrupted)
    }
}
