import Numerics
import Theory

/// The inequalities the explorer measures, by the names the command line takes.
public enum TightnessStatement: String, CaseIterable, Codable, Sendable {
    case T3, T4
    case T5pair = "T5.pair"
    case T5averaged = "T5.averaged"
    case T6
    case T6sharp = "T6.sharp"
    case T7
    case T7corollary = "T7.corollary"
    case T10cka = "T10.cka"
    case T10procrustes = "T10.procrustes"
    case T11
    case T12

    /// T10's measure, for the two T10 statements (searched by `T10Explorer`, not as pairs).
    var classInfimumMeasure: T10ClassInfimum.Measure? {
        switch self {
        case .T10cka: return .cka
        case .T10procrustes: return .procrustes
        default: return nil
        }
    }

    /// The statement at a constant scale (1 is the theorem; below 1 plants a false one).
    /// nil for T10, whose statements are about a model and a map (`T10ClassInfimum`).
    public func statement(scale: Double, dimension d: Int) -> (any PairStatement)? {
        switch self {
        case .T3: return T3EmbeddingBound(constantScale: scale)
        case .T4: return T4UnembeddingBound(constantScale: scale)
        case .T5pair:
            return T5PivotBound(.subsetSum, constantScale: scale,
                                selection: .explicit([PivotSubset(pivot: 0, subset: Array(1...d))]))
        case .T5averaged: return T5PivotBound(.averaged, constantScale: scale)
        case .T6: return T6KLBound(.global, constantScale: scale)
        case .T6sharp: return T6KLBound(.sharp, constantScale: scale)
        case .T7: return T7CanonicalCorrelationBound(.traceBound, centred: false, constantScale: scale)
        case .T7corollary: return T7CanonicalCorrelationBound(.corollary, centred: false, constantScale: scale)
        case .T10cka, .T10procrustes: return nil
        case .T11: return T11ConceptTransferBound(.covariance, constantScale: scale, nonVacuousOnly: true)
        case .T12: return T12WidthFloorBound(constantScale: scale)
        }
    }

    /// The proven constant, in words.
    public var provenConstant: String {
        switch self {
        case .T3: return "1/σ_min(G̃₁)²"
        case .T4: return "1/σ_min(F̂₁)²"
        case .T5pair: return "σ_min(L₁)⁻² on the pair's own label sum (p = 0, S = {1..d})"
        case .T5averaged: return "κ·2d/(k−1), κ = max σ_min(L₁)⁻²"
        case .T6: return "1/τ²"
        case .T6sharp: return "2/τ"
        case .T7: return "1 (Σ(1−ρᵢ²)μᵢ ≤ d_logit²)"
        case .T7corollary: return "1 (1 − mean ρ² ≤ d_logit²/(d₂ μ_{d₂}))"
        case .T10cka: return "CKA ≥ λ_min(Σ)/‖Σ‖_F (1/√d whitened)"
        case .T10procrustes: return "Procrustes ≤ (2 − 2(λ_min(Σ)/tr Σ)^{1/2})^{1/2} (√(2 − 2/√d) whitened)"
        case .T11: return "1 (P_w(ĉ₁ ≠ ĉ₂) ≤ P_w(|m| < γ) + vᵀΣ_δv/γ² at the best γ; the harness's four probes per pair, non-vacuous ones only)"
        case .T12: return "1 (Σ_{i>d₂} σᵢ(W^{1/2}Λ̃₁)² ≤ d_logit², students of width d₂ = d − 1)"
        }
    }

    var isT6: Bool { self == .T6 || self == .T6sharp }

    /// What the sweep plots the ratio against.
    var parameterName: String {
        switch self {
        case .T3: return "σ_min(G̃₁)"
        case .T4: return "σ_min(F̂₁)"
        case .T6, .T6sharp: return "τ"
        case .T5pair, .T5averaged, .T7, .T7corollary, .T11, .T12: return "d_logit"
        case .T10cka, .T10procrustes: return "cond(A)"
        }
    }

    func parameter(_ pair: ModelPair) -> Double {
        switch self {
        case .T3: return (try? pair.first.diversity().sigmaMinUnembeddings) ?? .nan
        case .T4: return (try? pair.first.diversity().sigmaMinEmbeddings) ?? .nan
        case .T6, .T6sharp: return pair.logitStatistics().logTau.exp
        case .T5pair, .T5averaged, .T7, .T7corollary, .T11, .T12: return ((try? pair.logitDistanceSquared()) ?? .nan).squareRoot()
        case .T10cka, .T10procrustes: return .nan   // a property of the map, kept in T10Row.mapCondition
        }
    }
}

/// What to explore and for how long.
public struct TightnessConfiguration: Sendable {
    /// Label counts: the T6 τ-curve uses every one; other statements use the first.
    public var labels: [Int] = [20]
    public var dimension = 4
    public var inputs = 8
    /// τ floors for T6 (those ≥ 1/k are skipped for that k).
    public var taus: [Double] = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]
    /// Wall-clock seconds per statement.
    public var budgetSeconds = 20.0
    public var seed: UInt64 = 1
    /// Multiplies every statement's right side (1 = the theorems; < 1 plants a false constant).
    public var constantScale = 1.0
    /// Most cases the random sweep draws (it also stops at a fifth of the budget).
    public var sweepCases = 600
    /// Most objective evaluations of each Nelder–Mead search (nil: until the budget runs
    /// out). With a limit, every search stops by counts — the gradient method always runs
    /// a fixed starts × iterations — and a run is reproducible to the bit whenever the
    /// budget, now only a safety cap, is not reached first.
    public var evaluationLimit: Int?
    public var gradient = GradientAscent()
    public var nelderMead = NelderMead()
    /// Asked by every search's deadline: once it answers true (an interrupt) the searches stop
    /// as at the end of the budget, and the candidates found so far are certified.
    public var stop: @Sendable () -> Bool = { false }

    public init() {}
}

/// One generated case of the random sweep.
public struct SweepPoint: Codable, Sendable {
    public let generator: String
    public let seed: UInt64
    /// The plot's x value (see `TightnessStatement.parameterName`).
    public let parameter: Double
    /// left side / right side.
    public let ratio: Double
    /// For T6, d_logit²/KL (the quantity the τ-curve plots); otherwise the ratio.
    public let plotted: Double
}

/// The sweep's ratios for one generator.
public struct GeneratorSummary: Codable, Sendable {
    public let generator: String
    public let cases: Int
    public let median: Double
    public let max: Double
}

public struct SweepSummary: Codable, Sendable {
    public let byGenerator: [GeneratorSummary]
    public let cases: Int
    public let applicable: Int
    public let median: Double
    public let quantile90: Double
    public let quantile99: Double
    public let max: Double
    public let worst: SweepPoint?
}

/// One optimiser run (for T6, at one (k, τ)).
public struct SearchSummary: Codable, Sendable {
    public let method: SearchResult.Method
    public let bestRatio: Double
    public let evaluations: Int
    public let starts: Int
    public let labels: Int
    public let tau: Double?
}

/// T6 only: the largest d_logit²/KL found with every probability ≥ τ.
public struct TauPoint: Codable, Sendable {
    public let labels: Int
    /// The floor imposed on every probability.
    public let tau: Double
    /// The best pair's own τ (≥ the floor).
    public let pairTau: Double
    /// d_logit²/KL of the best pair, from its stored logits.
    public let largestRatio: Double
    /// largestRatio · pairTau: at most 2 by T6.sharp.
    public let timesTau: Double
    /// largestRatio · pairTau²: at most 1 by T6.
    public let timesTauSquared: Double
    /// The statement's certified verdict on that pair.
    public let certified: Outcome
    public let foundBy: SearchResult.Method
}

public struct CertifiedCheck: Codable, Sendable {
    public let outcome: Outcome
    public let level: VerdictLevel
    public let lhs: Double
    public let rhs: Double
    public let ratio: Double
    public let certificate: String?

    init(_ v: Verdict) {
        outcome = v.outcome; level = v.level; lhs = v.lhs; rhs = v.rhs; ratio = v.ratio; certificate = v.certificate
    }
}

/// Everything the explorer learnt about one statement.
public struct TightnessResult: Codable, Sendable {
    public let statement: TightnessStatement
    public let form: String
    public let provenConstant: String
    public let labels: Int
    public let dimension: Int
    public let inputs: Int
    public let constantScale: Double
    public let sweep: SweepSummary
    public let sweepPoints: [SweepPoint]
    public let searches: [SearchSummary]
    /// The largest ratio found: lhs/rhs of the best pair at the certified level (every
    /// candidate is certified; the double screen only ranks within each search).
    public let bestRatio: Double
    public let foundBy: SearchResult.Method
    /// The best pair's ratio recomputed at the certified level.
    public let certified: CertifiedCheck
    public let tauCurve: [TauPoint]?
    /// T6 only: the constants against d_logit² at trained-model τ.
    public let vacuity: [VacuityRow]?
    /// T7 only: its quantities on random and near-distilled pairs.
    public let t7Closeness: [T7ClosenessRow]?
    /// T10 only: each searched teacher's proven extremum, what was found, certified.
    public let classInfimum: [T10Row]?
    public let notes: [String]
    public let seconds: Double
    /// The maximising pair (saved as model files by the report writer).
    public var bestPair: ModelPair? { storedPair?.pair }
    let storedPair: PairBox?

    public var certifiedViolation: Bool { certified.outcome == .violated && certified.level != .double }

    enum CodingKeys: String, CodingKey {
        case statement, form, provenConstant, labels, dimension, inputs, constantScale, sweep, sweepPoints, searches,
             bestRatio, foundBy, certified, tauCurve, vacuity, t7Closeness, notes, seconds
        case classInfimum = "t10_rows"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        statement = try c.decode(TightnessStatement.self, forKey: .statement)
        form = try c.decode(String.self, forKey: .form)
        provenConstant = try c.decode(String.self, forKey: .provenConstant)
        labels = try c.decode(Int.self, forKey: .labels)
        dimension = try c.decode(Int.self, forKey: .dimension)
        inputs = try c.decode(Int.self, forKey: .inputs)
        constantScale = try c.decode(Double.self, forKey: .constantScale)
        sweep = try c.decode(SweepSummary.self, forKey: .sweep)
        sweepPoints = try c.decode([SweepPoint].self, forKey: .sweepPoints)
        searches = try c.decode([SearchSummary].self, forKey: .searches)
        bestRatio = try c.decode(Double.self, forKey: .bestRatio)
        foundBy = try c.decode(SearchResult.Method.self, forKey: .foundBy)
        certified = try c.decode(CertifiedCheck.self, forKey: .certified)
        tauCurve = try c.decodeIfPresent([TauPoint].self, forKey: .tauCurve)
        vacuity = try c.decodeIfPresent([VacuityRow].self, forKey: .vacuity)
        t7Closeness = try c.decodeIfPresent([T7ClosenessRow].self, forKey: .t7Closeness)
        classInfimum = try c.decodeIfPresent([T10Row].self, forKey: .classInfimum)
        notes = try c.decode([String].self, forKey: .notes)
        seconds = try c.decode(Double.self, forKey: .seconds)
        storedPair = nil
    }

    init(statement: TightnessStatement, form: String, labels: Int, dimension: Int, inputs: Int, constantScale: Double,
         sweep: SweepSummary, sweepPoints: [SweepPoint], searches: [SearchSummary], bestRatio: Double,
         foundBy: SearchResult.Method, certified: CertifiedCheck, tauCurve: [TauPoint]?, vacuity: [VacuityRow]?,
         t7Closeness: [T7ClosenessRow]?, classInfimum: [T10Row]? = nil, notes: [String],
         seconds: Double, pair: ModelPair?) {
        self.statement = statement; self.form = form; provenConstant = statement.provenConstant
        self.labels = labels; self.dimension = dimension; self.inputs = inputs; self.constantScale = constantScale
        self.sweep = sweep; self.sweepPoints = sweepPoints; self.searches = searches; self.bestRatio = bestRatio
        self.foundBy = foundBy; self.certified = certified; self.tauCurve = tauCurve; self.vacuity = vacuity; self.t7Closeness = t7Closeness
        self.classInfimum = classInfimum
        self.notes = notes
        self.seconds = seconds; storedPair = pair.map(PairBox.init)
    }
}

/// Holds a pair inside a Sendable, Codable-excluded field.
final class PairBox: Sendable {
    let pair: ModelPair
    init(_ pair: ModelPair) { self.pair = pair }
}

public enum TightnessError: Error, CustomStringConvertible {
    case badConfiguration(String)
    case nothingApplicable(String)
    /// The budget ran out before any candidate was searched.
    case nothingSearched(String)

    public var description: String {
        switch self {
        case .badConfiguration(let s): return "tightness: \(s)"
        case .nothingApplicable(let s): return "tightness: no admissible pair found for \(s) (every candidate broke the statement's hypotheses or could not be decided)"
        case .nothingSearched(let s): return "tightness: the budget ran out before any candidate for \(s) was searched; raise --budget"
        }
    }
}
