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
    static let bisectionLimit = 200

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

    /// What the certificates need of the first model, formed once: its centred weighted
    /// covariance Σ as a fast enclosure and (on first use, or by `withExact`) exactly.
    /// Every orbit member's moments follow from Σ and A (y = A x: Σ_yx = AΣ, Σ_yy = AΣAᵀ,
    /// exactly), so each map then costs O(d³), where forming M·A costs O(N d²) in intervals
    /// and far more in rationals (minutes at N = 10⁵).
    public struct Moments: Sendable {
        public let model: SoftmaxModel
        /// Σ enclosed (O(N d²) interval operations); nil when an entry is not finite.
        let fastSigma: FastIntervalMatrix?
        /// Σ exactly, when formed.
        private(set) var exactSigma: RationalMatrix?

        /// `enclosed: false` skips the fast enclosure (for the exact certificate alone).
        public init(_ model: SoftmaxModel, enclosed: Bool = true) {
            self.model = model
            guard enclosed else { fastSigma = nil; return }
            let f = model.embeddings, d = model.dimension
            let w = FastLogitDistance.normalisedWeights(model.givenWeights)
            let x = (0..<f.rows).map { i in (0..<d).map { FastInterval(f[i, $0]) } }
            let mean = (0..<d).map { j in FastInterval.sum(x.indices.map { w[$0] * x[$0][j] }) }
            let centred = x.map { row in (0..<d).map { row[$0] - mean[$0] } }
            let sigma = FastIntervalMatrix(rows: d, columns: d) { p, q in
                FastInterval.sum(centred.indices.map { w[$0] * centred[$0][p] * centred[$0][q] })
            }
            fastSigma = sigma.entries.allSatisfy { $0.lo.isFinite && $0.hi.isFinite } ? sigma : nil
        }

        /// These moments with Σ also formed exactly (O(N d²) rationals, once).
        public func withExact() throws -> Moments {
            var copy = self
            if copy.exactSigma == nil { copy.exactSigma = try Self.exactCovariance(model) }
            return copy
        }

        static func exactCovariance(_ model: SoftmaxModel) throws -> RationalMatrix {
            let first = try ExactModel(model)
            let mean = first.embeddingMean
            return first.embeddingMoment - (try ModelError.wrapping { try mean.multiplied(by: mean.transposed) })
        }
    }

    /// The bound decided from fast enclosures (Proofs/certificates.md), or nil when they
    /// cannot decide: A is proven nonsingular by a verified solve (so M·A is in M's class,
    /// T2's orbit); Σ is enclosed once (`Moments`), Σ_yx = AΣ and Σ_yy = AΣAᵀ by interval
    /// products, λ_min(Σ) and the eigenvalues of Σ_yxΣ_yxᵀ (the nuclear norm's squares) by
    /// `pencilEigenvalues` against I. O(d³) per map after Σ.
    public func fastCertify(_ model: SoftmaxModel, map a: Matrix) -> Verdict? {
        fastCertify(Moments(model), map: a)
    }

    public func fastCertify(_ moments: Moments, map a: Matrix) -> Verdict? {
        let d = moments.model.dimension
        guard a.rows == d, a.columns == d, let sigma = moments.fastSigma else { return nil }
        let map = FastIntervalMatrix(a), identity = FastIntervalMatrix(rows: d, columns: d) { FastInterval($0 == $1 ? 1 : 0) }
        guard map.solving(FastIntervalMatrix(rows: d, columns: 1) { _, _ in .zero }) != nil else { return nil }
        let syx = map.multiplied(by: sigma), syy = syx.multiplied(by: map.transposed)
        func trace(_ m: FastIntervalMatrix) -> FastInterval { FastInterval.sum((0..<d).lazy.map { m[$0, $0] }) }
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
        try certify(Moments(model), map: a)
    }

    public func certify(_ moments: Moments, map a: Matrix) throws -> Verdict {
        if let fast = fastCertify(moments, map: a) { return fast }
        return try exactCertify(moments, map: a)
    }

    /// The bound certified for (M, M·A): A is inverted in rationals (so M·A is in M's
    /// class: its logits are M's exactly) and the pair's moments formed from Σ and A
    /// exactly; λ_min(Σ) is bracketed by
    /// exact inertia counts of the rational Σ; CKA² is an exact rational and the nuclear
    /// norm an enclosure from exact eigenvalue brackets of M₂₁M₂₁ᵀ. For CKA the comparison
    /// lhs² against CKA² is then in rationals; for Procrustes in MPFR. Level: enclosure
    /// (λ_min is bracketed, not computed). Where the bracket cannot decide, it is bisected
    /// (at most `bisectionLimit` times: 200 halvings resolve a ratio 10⁻⁶⁰ from 1).
    public func exactCertify(_ model: SoftmaxModel, map a: Matrix) throws -> Verdict {
        try exactCertify(Moments(model, enclosed: false), map: a)
    }

    public func exactCertify(_ moments: Moments, map a: Matrix) throws -> Verdict {
        let d = moments.model.dimension
        guard a.rows == d, a.columns == d else {
            throw ModelError.shapeMismatch("T10: the map must be \(d)×\(d) (the model's dimension), got \(a.rows)×\(a.columns)")
        }
        // M·A's logits are F Aᵀ (G A⁻¹)ᵀ = F Gᵀ exactly once A⁻¹ exists in rationals, so
        // the pair is one class without forming its N×k logits; and with y = A x its
        // moments follow from M's: E y yᵀ = A E x xᵀ Aᵀ, E y xᵀ = A E x xᵀ, E y = A E x.
        // O(N d²) rationals for Σ, where forming M·A's logits took minutes at N = 20 000.
        let exactMap = try ModelError.wrapping { try RationalMatrix(exactly: a) }
        do { _ = try exactMap.inverse() } catch {
            throw ModelError.pairMismatch("T10: the map A is singular (exactly), so M·A is not in M's class")
        }
        let sigma = try moments.exactSigma ?? Moments.exactCovariance(moments.model)
        let mapped = try ModelError.wrapping { try exactMap.multiplied(by: sigma) }
        let cross = (syx: mapped, syy: try ModelError.wrapping { try mapped.multiplied(by: exactMap.transposed) })
        let estimate = try ModelError.wrapping { try SymmetricEigendecomposition(symmetrised(sigma.doubleApproximation)) }
            .eigenvalues.map { max($0, 0) }
        let brackets = try EigenvalueBrackets(estimates: [estimate.last!], floor: 0, trivialLower: .zero,
                                              trivialUpper: sigma.trace) { t in
            try ModelError.wrapping { try sigma.eigenvalueCount(above: t) } - (estimate.count - 1)
        }
        var (low, high) = (Rational.max(brackets.lower[0], .zero), brackets.upper[0])
        guard low.sign > 0 else {
            return .inapplicable(.T10, form, level: .enclosure, "Σ is singular (λ_min could not be shown positive): the embeddings are not diverse")
        }
        let scale = Rational(exactly: constantScale)!
        let frobenius = sigma.weightedFrobeniusSquared()
        // The right side (the measure) once; the left side from λ_min's bracket.
        let right: Interval, rightSquared: Rational?
        switch measure {
        case .cka:
            // CKA² = ‖M₂₁‖_F⁴ / (‖M₁₁‖_F² ‖M₂₂‖_F²), exactly.
            let crossSquared = cross.syx.weightedFrobeniusSquared(), other = cross.syy.weightedFrobeniusSquared()
            guard other.sign > 0 else {
                return .inapplicable(.T10, form, level: .enclosure, "the orbit image has zero variance")
            }
            rightSquared = scale * scale * (crossSquared * crossSquared / (frobenius * other))
            right = Interval(rightSquared!).squareRoot
        case .procrustes:
            right = Interval(scale) * (try certifiedNuclearNorm(cross.syx)) / Interval(sigma.trace * cross.syy.trace).squareRoot
            rightSquared = nil
        }
        func compare(_ low: Rational, _ high: Rational) -> (lhs: Interval, holds: Bool, violated: Bool) {
            switch measure {
            case .cka:
                // (λ/‖Σ‖_F)² against (scale·CKA)², both ends of λ's bracket, in rationals.
                let upperSquared = high * high / frobenius, lowerSquared = low * low / frobenius
                return (Interval(lower: Interval(lowerSquared).squareRoot.lower, upper: Interval(upperSquared).squareRoot.upper),
                        upperSquared < rightSquared!, lowerSquared > rightSquared!)
            case .procrustes:
                let below = Interval(low / sigma.trace).squareRoot, above = Interval(high / sigma.trace).squareRoot
                return (Interval(lower: below.lower, upper: above.upper), above.isCertainlyBelow(right), right.isCertainlyBelow(below))
            }
        }
        var (lhs, holds, violated) = compare(low, high)
        // The infimum is approached, never attained: a search that reaches it to rounding
        // leaves the sides within λ_min's first bracket. Bisect λ_min by exact inertia
        // counts (λ_min > t iff all d eigenvalues exceed t) until the comparison is decided.
        var bisections = 0
        // (For Procrustes the nuclear norm's enclosure can be the wider side: refining λ_min
        // below that width cannot decide.)
        func rightIsWider(_ lhs: Interval) -> Bool {
            measure == .procrustes && lhs.width < right.width
        }
        while !holds && !violated && bisections < Self.bisectionLimit && !rightIsWider(lhs) {
            let mid = (low + high) / Rational(2)
            if try ModelError.wrapping({ try sigma.eigenvalueCount(above: mid) }) == d { low = mid } else { high = mid }
            bisections += 1
            (lhs, holds, violated) = compare(low, high)
        }
        let refined = bisections > 0 ? " (bracket refined by \(bisections) bisections)" : ""
        let certificate: String
        switch measure {
        case .cka:
            certificate = "A⁻¹ exact, so M·A's logits are M's exactly; CKA² = \((rightSquared! / (scale * scale)).doubleValue) exactly; λ_min(Σ) ∈ [\(low.doubleBelow), \(high.doubleAbove)] by exact inertia counts\(refined); compared in rationals"
        case .procrustes:
            certificate = "A⁻¹ exact, so M·A's logits are M's exactly; ‖M₂₁‖_* enclosed from exact eigenvalue brackets; λ_min(Σ) ∈ [\(low.doubleBelow), \(high.doubleAbove)] by exact inertia counts\(refined); compared in MPFR"
        }
        let rhs = right
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
