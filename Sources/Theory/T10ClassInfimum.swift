import Numerics

/// T10's bounds over one identifiability class (Proofs/T10-blind-measures.md, Parts 3
/// and 4). For a model M₁ with centred embedding covariance Σ ≻ 0 (λ_min its smallest
/// eigenvalue) and any A ∈ GL(d), the orbit member M₁·A = (F₁Aᵀ, G₁A⁻¹) has exactly M₁'s
/// conditionals, and
///   CKA(f₁, A f₁) ≥ λ_min(Σ) / ‖Σ‖_F                       (`.cka`)
///   ‖X̂ᵀŶ‖_* ≥ (λ_min(Σ) / tr Σ)^{1/2}, i.e.
///   Procrustes(f₁, A f₁) ≤ (2 − 2 (λ_min(Σ)/tr Σ)^{1/2})^{1/2}  (`.procrustes`),
/// both approached, never attained, as A Σ^{1/2} tends to a rank-one map along the
/// eigenvector of λ_min. With whitened embeddings (Σ = I) the constants are 1/√d and
/// √(2 − 2/√d).
///
/// lhs is the proven bound and rhs the measure (CKA, or the nuclear norm ‖X̂ᵀŶ‖_*) times
/// `constantScale`, so the theorem says ratio ≤ 1 and the tightness explorer pushes the
/// ratio up toward 1.
public struct T10ClassInfimum: Sendable {
    public enum Measure: String, Codable, Sendable, CaseIterable {
        case cka, procrustes
    }

    public let measure: Measure
    /// Multiplies the right side, the measure (1 = the theorem; below 1 plants a false
    /// statement, since the measure comes arbitrarily close to the bound).
    public let constantScale: Double

    public init(_ measure: Measure, constantScale: Double = 1) {
        self.measure = measure
        self.constantScale = constantScale
    }

    public var form: String {
        switch measure {
        case .cka: return "CKA(f₁, A f₁) ≥ λ_min(Σ)/‖Σ‖_F over A ∈ GL(d)"
        case .procrustes: return "‖X̂ᵀŶ‖_* ≥ (λ_min(Σ)/tr Σ)^{1/2} over A ∈ GL(d), i.e. Procrustes ≤ (2 − 2(λ_min/tr Σ)^{1/2})^{1/2}"
        }
    }

    /// The proven bound for a covariance Σ, in double precision (for reports and the
    /// search's objective; the certificate brackets λ_min exactly).
    public func bound(covariance sigma: Matrix) throws -> Double {
        let eig = try ModelError.wrapping { try SymmetricEigendecomposition(symmetrised(sigma)) }
        let smallest = max(eig.eigenvalues.last ?? 0, 0)
        switch measure {
        case .cka: return smallest / sigma.frobeniusNormSquared.squareRoot()
        case .procrustes:
            let trace = (0..<sigma.rows).reduce(0.0) { $0 + sigma[$1, $1] }
            return (smallest / trace).squareRoot()
        }
    }

    /// The orbit member M·A = (F Aᵀ, G A⁻¹) in exact rationals, beside M itself. Throws
    /// when A is not d×d or is singular (exactly).
    public static func orbitPair(_ model: SoftmaxModel, map a: Matrix) throws -> ExactModelPair {
        let d = model.dimension
        guard a.rows == d, a.columns == d else {
            throw ModelError.shapeMismatch("T10: the map must be \(d)×\(d) (the model's dimension), got \(a.rows)×\(a.columns)")
        }
        let first = try ExactModel(model)
        let exactMap = try ModelError.wrapping { try RationalMatrix(exactly: a) }
        let inverse: RationalMatrix
        do { inverse = try exactMap.inverse() } catch {
            throw ModelError.pairMismatch("T10: the map A is singular (exactly), so M·A is not in M's class")
        }
        let f = try first.embeddings.multiplied(by: exactMap.transposed)
        let g = try first.unembeddings.multiplied(by: inverse)
        return ExactModelPair(first, ExactModel(embeddings: f, unembeddings: g, weights: first.weights))
    }

    /// The bound decided from fast enclosures (Proofs/certificates.md), or nil when they
    /// cannot decide: A is proven nonsingular by a verified solve (so M·A is in M's class,
    /// T2's orbit), the centred weighted moments of f₁ and Af₁ are enclosed, λ_min(Σ) and
    /// the eigenvalues of M₂₁M₂₁ᵀ (the nuclear norm's squares) by `pencilEigenvalues`
    /// against I. O(N d² + d³) in Doubles, where the exact certificate inverts A and counts
    /// inertia in rationals (minutes at d = 64).
    public func fastCertify(_ model: SoftmaxModel, map a: Matrix) -> Verdict? {
        let d = model.dimension, f = model.embeddings
        guard a.rows == d, a.columns == d else { return nil }
        let map = FastIntervalMatrix(a), identity = FastIntervalMatrix(rows: d, columns: d) { FastInterval($0 == $1 ? 1 : 0) }
        guard map.solving(FastIntervalMatrix(rows: d, columns: 1) { _, _ in .zero }) != nil else { return nil }
        let total = FastInterval.sum(model.weights.map { FastInterval($0) })
        let w = model.weights.map { FastInterval($0) / total }
        let x = (0..<f.rows).map { i in (0..<d).map { FastInterval(f[i, $0]) } }
        let y = x.map { row in (0..<d).map { l in FastInterval.sum((0..<d).map { map[l, $0] * row[$0] }) } }
        func centred(_ rows: [[FastInterval]]) -> [[FastInterval]] {
            let mean = (0..<d).map { j in FastInterval.sum(rows.indices.map { w[$0] * rows[$0][j] }) }
            return rows.map { row in (0..<d).map { row[$0] - mean[$0] } }
        }
        let (cx, cy) = (centred(x), centred(y))
        func moment(_ u: [[FastInterval]], _ v: [[FastInterval]]) -> FastIntervalMatrix {
            FastIntervalMatrix(rows: d, columns: d) { p, q in FastInterval.sum(u.indices.map { w[$0] * u[$0][p] * v[$0][q] }) }
        }
        let sigma = moment(cx, cx), syy = moment(cy, cy), syx = moment(cy, cx)
        func trace(_ m: FastIntervalMatrix) -> FastInterval { FastInterval.sum((0..<d).map { m[$0, $0] }) }
        func frobenius(_ m: FastIntervalMatrix) -> FastInterval { FastInterval.sum(m.entries.map(\.squared)).squareRoot }
        guard let smallest = sigma.pencilEigenvalues(identity)?.first, smallest.lo > 0 else { return nil }
        let scale = FastInterval(constantScale)
        let lhs: FastInterval, rhs: FastInterval
        switch measure {
        case .cka:
            lhs = smallest / frobenius(sigma)
            rhs = scale * FastInterval.sum(syx.entries.map(\.squared)) / (frobenius(sigma) * frobenius(syy))
        case .procrustes:
            guard let squares = syx.multiplied(by: syx.transposed).pencilEigenvalues(identity) else { return nil }
            lhs = (smallest / trace(sigma)).squareRoot
            rhs = scale * FastInterval.sum(squares.map(\.squareRoot)) / (trace(sigma) * trace(syy)).squareRoot
        }
        let outcome: Outcome = lhs.hi < rhs.lo ? .holds : rhs.hi < lhs.lo ? .violated : .undecided
        guard outcome != .undecided else { return nil }
        return Verdict(id: .T10, form: form, level: .fastEnclosure, outcome: outcome, lhs: lhs.midpoint, rhs: rhs.midpoint,
                       constant: constantScale, constantName: "scale of the right side (the measure)",
                       certificate: "A nonsingular (verified solve), so M·A is in M's class; λ_min(Σ) ∈ \(smallest), the bound ∈ \(lhs), the measure (times the scale) ∈ \(rhs) by fast enclosures")
    }

    /// The bound certified: by fast enclosures (`fastCertify`) where they decide, else exactly
    /// (`exactCertify`).
    public func certify(_ model: SoftmaxModel, map a: Matrix) throws -> Verdict {
        if let fast = fastCertify(model, map: a) { return fast }
        return try exactCertify(model, map: a)
    }

    /// The bound certified for (M, M·A): the pair is formed in rationals and its logits
    /// checked equal exactly (d_logit² = 0, so it is one class); λ_min(Σ) is bracketed by
    /// exact inertia counts of the rational Σ; CKA² is an exact rational and the nuclear
    /// norm an enclosure from exact eigenvalue brackets of M₂₁M₂₁ᵀ. For CKA the comparison
    /// lhs² against CKA² is then in rationals; for Procrustes in MPFR. Level: enclosure
    /// (λ_min is bracketed, not computed).
    public func exactCertify(_ model: SoftmaxModel, map a: Matrix) throws -> Verdict {
        let pair = try Self.orbitPair(model, map: a)
        guard pair.logitDifference.weightedFrobeniusSquared(pair.first.weights).isZero else {
            throw ModelError.pairMismatch("T10: the orbit image's logits differ from the model's (internal error)")
        }
        let sigma = pair.moments(centred: true).m11
        guard sigma.trace.sign > 0 else {
            return .inapplicable(.T10, form, level: .enclosure, "the embeddings have zero variance: CKA and Procrustes are undefined")
        }
        let estimate = try ModelError.wrapping { try SymmetricEigendecomposition(symmetrised(sigma.doubleApproximation)) }
            .eigenvalues.map { max($0, 0) }
        let brackets = try EigenvalueBrackets(estimates: [estimate.last!], floor: 0, trivialLower: .zero,
                                              trivialUpper: sigma.trace) { t in
            try ModelError.wrapping { try sigma.eigenvalueCount(above: t) } - (estimate.count - 1)
        }
        let (low, high) = (Rational.max(brackets.lower[0], .zero), brackets.upper[0])
        guard low.sign > 0 else {
            return .inapplicable(.T10, form, level: .enclosure, "Σ is singular (λ_min could not be shown positive): the embeddings are not diverse")
        }
        let scale = Rational(exactly: constantScale)!
        let certificate: String
        let lhs: Interval, rhs: Interval
        let holds: Bool, violated: Bool
        switch measure {
        case .cka:
            guard let cka = pair.certifiedLinearCKA() else {
                return .inapplicable(.T10, form, level: .enclosure, "the orbit image has zero variance")
            }
            let frobenius = sigma.weightedFrobeniusSquared()
            // (λ/‖Σ‖_F)² against (scale·CKA)², both ends of λ's bracket, in rationals.
            let upperSquared = high * high / frobenius, lowerSquared = low * low / frobenius
            let right = scale * scale * cka.squared
            holds = upperSquared < right
            violated = lowerSquared > right
            lhs = Interval(lower: Interval(lowerSquared).squareRoot.lower, upper: Interval(upperSquared).squareRoot.upper)
            rhs = Interval(right).squareRoot
            certificate = "pair formed in rationals, d_logit² = 0 exactly; CKA² = \(cka.squared.doubleValue) exactly; λ_min(Σ) ∈ [\(low.doubleValue), \(high.doubleValue)] by exact inertia counts; compared in rationals"
        case .procrustes:
            let m = pair.moments(centred: true)
            let nuclear = try certifiedNuclearNorm(m.m21)
            rhs = Interval(scale) * nuclear / Interval(m.m11.trace * m.m22.trace).squareRoot
            lhs = Interval(lower: (Interval(low / sigma.trace)).squareRoot.lower,
                           upper: (Interval(high / sigma.trace)).squareRoot.upper)
            holds = lhs.upper < rhs.lower
            violated = lhs.lower > rhs.upper
            certificate = "pair formed in rationals, d_logit² = 0 exactly; ‖M₂₁‖_* enclosed from exact eigenvalue brackets; λ_min(Σ) ∈ [\(low.doubleValue), \(high.doubleValue)] by exact inertia counts; compared in MPFR"
        }
        return Verdict(id: .T10, form: form, level: .enclosure, outcome: holds ? .holds : violated ? .violated : .undecided,
                       lhs: lhs.midpoint, rhs: rhs.midpoint, constant: constantScale, constantName: "scale of the right side (the measure)",
                       certificate: certificate)
    }
}

/// ‖M‖_* = Σ √λᵢ(M Mᵀ) (on the smaller side), each eigenvalue bracketed from exact
/// inertia counts and the square roots enclosed in MPFR.
func certifiedNuclearNorm(_ m: RationalMatrix) throws -> Interval {
    let small = m.rows <= m.columns ? m : m.transposed
    let gram = try small.multiplied(by: small.transposed)
    let estimates = try ModelError.wrapping { try SymmetricEigendecomposition(symmetrised(gram.doubleApproximation)) }
        .eigenvalues.map { max($0, 0) }
    let pencil = SymmetricPencil(gram, RationalMatrix.identity(gram.rows))
    let brackets = try EigenvalueBrackets(estimates: estimates, floor: 0, trivialLower: .zero, trivialUpper: gram.trace) {
        try pencil.positiveCount(at: $0)
    }
    let lower = Interval.sum(brackets.lower.map { Interval(Rational.max($0, .zero)).squareRoot })
    let upper = Interval.sum(brackets.upper.map { Interval($0).squareRoot })
    return Interval(lower: lower.lower, upper: upper.upper)
}
