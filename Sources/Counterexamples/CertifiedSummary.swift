import Numerics
import Theory

/// An interval as JSON: guaranteed lower and upper ends (MPFR, rounded outward).
public struct IntervalValue: Codable, Sendable {
    public let lower: Double
    public let upper: Double
    init(_ i: Interval) { lower = i.lower; upper = i.upper }

    /// A double-precision value moved into this bracket where rounding left it outside (an m_CCA
    /// two units in the last place above its certified upper end, stop 53's review): the bracket
    /// holds the true value, so its nearer end is nearer to it. Unchanged without a bracket.
    static func clamp(_ x: Double, into bracket: IntervalValue?) -> Double {
        guard let bracket, !x.isNaN else { return x }
        return min(max(x, bracket.lower), bracket.upper)
    }
}

/// An exact rational with its nearest Double, and in scientific notation (which stays
/// right where the Double underflows to 0 or overflows).
public struct ExactValue: Codable, Sendable {
    public let rational: String
    public let double: Double
    public let scientific: String
    init(_ q: Rational) { rational = q.exactString; double = q.doubleValue; scientific = q.scientificString() }

    /// Three significant digits: from the Double where it holds the value, otherwise from
    /// the rational (a d_logit² of 10⁻⁶⁰⁰ is not shown as 0).
    /// Whether the exact value is positive (its Double may underflow to 0).
    public var isPositive: Bool { !rational.hasPrefix("-") && rational != "0" }

    public var text: String {
        double.isFinite && (double != 0 || scientific == "0") ? String(format: "%.3g", double) : scientific
    }
}

/// The certified numbers of one teacher (A) / student (B) pair, computed from the
/// exact Doubles of the models (the ones written to the .npz files).
/// Certified: KL (MPFR enclosures), log τ (enclosures), d_logit² and d_rep² (exact),
/// the centred m_CCA (`mcca_centered_certified`: an enclosure from exact inertia
/// counts), and each probe's accuracy (the fitted logistic probe's score signs decided
/// in rationals; the probe itself is fitted in double precision, so this is the
/// accuracy *of that probe*, a lower bound on the best linear probe's).
/// Double precision (to rounding): the m_CCA point values and the unembedding m_CCA.
public struct CertifiedSummary: Codable, Sendable {
    public let parameter: Double?
    public let klAB: IntervalValue
    public let klBA: IntervalValue
    public let logTauA: IntervalValue
    public let logTauB: IntervalValue
    public let dLogitSquared: ExactValue
    public let dRepABSquared: ExactValue
    public let dRepScaleFreeAB: Double
    public let mccaCentered: Double
    public let mccaUncentered: Double
    public let unembeddingMccaCentered: Double
    public let unembeddingMccaUncentered: Double
    public let mccaCenteredCertified: IntervalValue?
    /// Linear CKA and the Procrustes distance (THEORY.md §7): double values and certified
    /// enclosures (CKA² exact, Procrustes from exact inertia brackets of the nuclear norm).
    public let linearCKA: Double?
    public let linearCKACertified: IntervalValue?
    /// Linear CKA with the unbiased HSIC₁ estimator (double precision; nil for weighted
    /// inputs or N < 4: `UnbiasedLinearCKA`).
    public let linearCKAUnbiased: Double?
    public let procrustesDistance: Double?
    public let procrustesDistanceCertified: IntervalValue?
    public let probeAccuracyTeacher: Double
    public let probeAccuracyStudent: Double
    /// The share of the concept's more frequent value: what guessing achieves.
    public let probeChance: Double

    enum CodingKeys: String, CodingKey {
        case parameter, klAB = "kl_ab", klBA = "kl_ba", logTauA = "log_tau_a", logTauB = "log_tau_b"
        case dLogitSquared = "d_logit_squared", dRepABSquared = "d_rep_ab_squared"
        case dRepScaleFreeAB = "d_rep_scale_free_ab", mccaCentered = "mcca_centered", mccaUncentered = "mcca_uncentered"
        case unembeddingMccaCentered = "unembedding_mcca_centered", unembeddingMccaUncentered = "unembedding_mcca_uncentered"
        case probeAccuracyTeacher = "probe_accuracy_teacher", probeAccuracyStudent = "probe_accuracy_student"
        case mccaCenteredCertified = "mcca_centered_certified", probeChance = "probe_chance"
        case linearCKA = "linear_cka", linearCKACertified = "linear_cka_certified", linearCKAUnbiased = "linear_cka_unbiased"
        case procrustesDistance = "procrustes_distance", procrustesDistanceCertified = "procrustes_distance_certified"
    }

    public init(_ construction: Construction, parameter: Double? = nil) throws {
        let pair = construction.pair
        let exact = try pair.exact()
        let enclosed = try pair.certifiedDivergence()
        self.parameter = parameter
        klAB = IntervalValue(enclosed.klForward)
        klBA = IntervalValue(enclosed.klBackward)
        logTauA = IntervalValue(enclosed.logTauFirst)
        logTauB = IntervalValue(enclosed.logTauSecond)
        dLogitSquared = ExactValue(exact.logitDistanceSquared)
        let dRep = try exact.representationDissimilaritySquared()
        dRepABSquared = ExactValue(dRep)
        let norm = Rational.sum((0..<exact.first.inputCount).map { i in
            exact.weights[i] * Rational.sum((0..<exact.first.dimension).map { exact.first.embeddings[i, $0].squared })
        })
        dRepScaleFreeAB = (dRep / norm).doubleValue
        mccaCenteredCertified = try exact.certifiedMeanCanonicalCorrelation(centred: true).map(IntervalValue.init)
        mccaCentered = IntervalValue.clamp(try pair.embeddingCorrelations(centred: true).mean, into: mccaCenteredCertified)
        mccaUncentered = try pair.embeddingCorrelations(centred: false).mean
        unembeddingMccaCentered = try pair.unembeddingCorrelations(centred: true).mean
        unembeddingMccaUncentered = try pair.unembeddingCorrelations(centred: false).mean
        let similarity = try pair.similarityMeasures()
        let (ckaBracket, procrustesBracket) = (exact.certifiedLinearCKA().map { IntervalValue($0.enclosure) },
                                               try exact.certifiedProcrustesDistance().map(IntervalValue.init))
        (linearCKACertified, procrustesDistanceCertified) = (ckaBracket, procrustesBracket)
        linearCKA = similarity.linearCKA.map { IntervalValue.clamp($0, into: ckaBracket) }
        procrustesDistance = similarity.procrustesDistance.map { IntervalValue.clamp($0, into: procrustesBracket) }
        linearCKAUnbiased = pair.unbiasedLinearCKA().value
        probeAccuracyTeacher = try Self.exactProbeAccuracy(pair.first.embeddings, construction.concept)
        probeAccuracyStudent = try Self.exactProbeAccuracy(pair.second.embeddings, construction.concept)
        let ones = construction.concept.filter { $0 }.count
        probeChance = Double(max(ones, construction.concept.count - ones)) / Double(max(construction.concept.count, 1))
    }

    /// The fitted probe's accuracy with every prediction decided in rationals
    /// (falls back to the double count if a coefficient is not finite).
    static func exactProbeAccuracy(_ f: Matrix, _ concept: [Bool]) throws -> Double {
        let probe = try LinearProbe.fit(embeddings: f, concept: concept)
        return probe.exactAccuracy(on: f, concept: concept)?.doubleValue ?? probe.accuracy(on: f, concept: concept)
    }
}
