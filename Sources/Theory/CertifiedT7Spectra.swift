import Numerics

/// Exact moments and certified eigenvalue brackets behind T7 (see
/// Proofs/T7-canonical-correlations.md), for the student f₁ and teacher f₂, λ̃₂.
///
/// M₁₁, M₂₂, M₂₁ (covariances when centred), T = G̃₂ᵀG̃₂, P = M₂₁M₁₁⁻¹M₁₂ and
/// R = tr(M₂₂T) − tr(PT) are exact rationals. qᵢ = 1 − ρᵢ² (ρ decreasing, padded) and
/// μᵢ are bracketed by inertia counts, each exact and certified (`SymmetricPencil`:
/// interval LDLᵀ in MPFR, exact elimination when a pivot interval contains 0):
/// #{q > s} = inertia₊((M₂₂ − P) − sM₂₂) and #{μ > t} = inertia₊(T − tM₂₂⁻¹)
/// = inertia₊(M₂₂TM₂₂ − tM₂₂).
/// The Double estimates that place the brackets come from the exact E = M₂₂ − P
/// (whose cancellation happened in rationals) as eig(L⁻¹EL⁻ᵀ) with M₂₂ = LLᵀ, so
/// they are relatively accurate even when q ≈ 1e−30. For d₂ = 1 the values are
/// exact: q = E/M₂₂, μ = T·M₂₂.
public struct CertifiedT7Spectra: Sendable {
    public let qLower: [Rational]
    public let qUpper: [Rational]
    public let muLower: [Rational]
    public let muUpper: [Rational]
    /// R, exactly.
    public let residual: Rational
    public let teacherDimension: Int
    /// `.exact` when d₂ = 1 (the values themselves are exact); otherwise the counts
    /// behind the brackets are certified with MPFR interval pivots (`SymmetricPencil`),
    /// so verdicts resting on them are `.enclosure`.
    public let level: VerdictLevel

    /// nil when M₁₁ or M₂₂ is exactly singular. `exactAtZero`: count exactly at 1 − ρᵢ² = 0 at
    /// once (`EigenvalueBrackets`), for pencils above 16 dimensions too.
    public init?(_ exact: ExactModelPair, centred: Bool, exactAtZero: Bool = false) throws {
        let teacher = exact.second
        let moments = exact.moments(centred: centred)
        let (m11, m22, m21) = (moments.m11, moments.m22, moments.m21)
        let t = teacher.centredUnembeddingGram
        // Gram matrices: exactly singular ⇔ not positive definite.
        guard try exact.first.embeddingMomentIsPositiveDefinite(centred: centred),
              try exact.second.embeddingMomentIsPositiveDefinite(centred: centred) else { return nil }
        let p = try m21.multiplied(by: m11.solve(m21.transposed))
        let e = m22 - p
        residual = try e.multiplied(by: t).trace
        teacherDimension = teacher.dimension
        level = teacher.dimension == 1 ? .exact : .enclosure
        if teacher.dimension == 1 {
            let q = e[0, 0] / m22[0, 0], mu = t[0, 0] * m22[0, 0]
            (qLower, qUpper, muLower, muUpper) = ([q], [q], [mu], [mu])
            return
        }
        // M₂₂ and E scaled by one power of two, T by another, each bringing its largest entry
        // near 1 when beyond 2^±100 (embeddings or unembeddings near the ends of the Double range:
        // M₂₂ in Double was 0 or ∞, "Cholesky: not positive definite"). Exact: the pencil
        // (E, M₂₂) does not change, and μ(2ᵃM₂₂, 2ᵇT) = 2^{a+b}μ, so μ is bracketed for the
        // scaled matrices and its brackets multiplied by 2^{−a−b} (μ itself may lie beyond the
        // Double range, where no Double estimate could place a bracket).
        let (a, b) = (-m22.outOfRangeExponent, -t.outOfRangeExponent)
        let (m22Scaled, tScaled) = (m22.scaled(byPowerOfTwo: a), t.scaled(byPowerOfTwo: b))
        // The Double estimates need M₂₂'s Double Cholesky, which fails where M₂₂ is of full rank
        // only exactly (heavy inputs nearly parallel: "certification failed: Cholesky" on nine of an
        // attack's pairs); the brackets then come from bisection on the counts alone.
        let estimates = try? ModelError.wrapping {
            let l = try CholeskyDecomposition(m22Scaled.doubleApproximation).l
            let lInverseE = try l.solve(e.scaled(byPowerOfTwo: a).doubleApproximation)
            let whitenedE = try l.solve(lInverseE.transposed)
            let q = try SymmetricEigendecomposition.eigenvalues(of: symmetrised(whitenedE)).reversed().map { max($0, 0) }
            let mu = try SymmetricEigendecomposition.eigenvalues(of: symmetrised(l.transposed * tScaled.doubleApproximation * l))
            return (q: Array(q), mu: mu)
        }
        let qPencil = SymmetricPencil(e, m22)
        // The pencil is singular at 0 wherever some ρᵢ = 1, and its exact count there took 29 s at
        // d = 48: asked of the embeddings' ranks first (`positiveCountAtZero`), once.
        lazy var atZero = Self.positiveCountAtZero(exact, centred: centred)
        func quickQ(_ s: Rational) -> Int? { s.isZero ? atZero : qPencil.intervalPositiveCount(at: s) }
        func countQ(_ s: Rational) throws -> Int {
            if s.isZero, let known = atZero { return known }
            return try qPencil.positiveCount(at: s)
        }
        let qDecreasing = try estimates.map {
            try EigenvalueBrackets(estimates: $0.q.reversed(), floor: 0, zeroScale: 1, trivialLower: .zero, trivialUpper: .one,
                                   quickCount: quickQ, exactAtZero: exactAtZero, count: countQ)
        } ?? EigenvalueBrackets(size: teacher.dimension, top: .one, bits: EigenvalueBrackets.fallbackBits, count: countQ)
        qLower = qDecreasing.lower.reversed()
        qUpper = qDecreasing.upper.reversed()
        // #{μ > s} = inertia₊(T − sM₂₂⁻¹) = inertia₊(M₂₂TM₂₂ − sM₂₂) (congruence by M₂₂),
        // which keeps the entries free of M₂₂⁻¹'s large denominators.
        let muPencil = SymmetricPencil(try m22Scaled.multiplied(by: tScaled).multiplied(by: m22Scaled), m22Scaled)
        let muTop = try m22Scaled.multiplied(by: tScaled).trace
        let mu = try estimates.map {
            try EigenvalueBrackets(estimates: $0.mu, floor: 0, trivialLower: .zero, trivialUpper: muTop,
                                   quickCount: muPencil.intervalPositiveCount, count: muPencil.positiveCount)
        } ?? EigenvalueBrackets(size: teacher.dimension, top: muTop, bits: EigenvalueBrackets.fallbackBits, count: muPencil.positiveCount)
        muLower = mu.lower.map { $0.scaled(byPowerOfTwo: -(a + b)) }
        muUpper = mu.upper.map { $0.scaled(byPowerOfTwo: -(a + b)) }
    }

    /// #{q > 0} = inertia₊(E), from ranks alone where they are proved; nil otherwise.
    /// E = M₂₂ − M₂₁M₁₁⁻¹M₁₂ = X₂ᵀ(I − Π)X₂ is positive semidefinite (X = W^{1/2}F, or QW^{1/2}F
    /// centred with Q = I − √w√wᵀ, the weights summing to 1 exactly; Π projects onto X₁'s columns),
    /// so inertia₊(E) = rank E = rank[X₁ X₂] − rank X₁ = rank[X₁ X₂] − d₁ (M₁₁ is positive definite).
    /// With X = W^{1/2}F and W positive on the inputs of positive weight, rank[X₁ X₂] is the rank of
    /// [F₁ F₂] on those inputs (the given weights', which the exact level divides: every input, where
    /// a normalised Double weight may have underflowed to 0); centred, rank(Q[X₁ X₂]) = rank[√w X₁ X₂] − 1 = rank[1 F₁ F₂] − 1 (Q
    /// removes the direction √w, which lies in that column space). `ModularRank` proves the rank
    /// when it reaches min(rows, columns): where N < d₁ + d₂, the case that makes the pencil singular.
    static func positiveCountAtZero(_ exact: ExactModelPair, centred: Bool) -> Int? {
        guard let f1 = exact.first.source?.embeddings, let f2 = exact.second.source?.embeddings,
              let w = exact.first.source?.givenWeights, exact.second.source?.givenWeights == w,
              let rank = ExactModel.provenRank([f1, f2], ones: centred, rows: w.indices.filter { w[$0] > 0 }) else { return nil }
        let count = rank - (centred ? 1 : 0) - f1.columns
        return (0...f2.columns).contains(count) ? count : nil
    }

    /// Bounds on Σᵢ qᵢ μ_{π(i)} for the pairing π (identity = decreasing μ with
    /// decreasing ρ, as in T7).
    public func pairedSum(_ other: CertifiedT7Spectra? = nil, reversedMu: Bool = false) -> (lower: Rational, upper: Rational) {
        let source = other ?? self
        let lower = reversedMu ? Array(source.muLower.reversed()) : source.muLower
        let upper = reversedMu ? Array(source.muUpper.reversed()) : source.muUpper
        let n = min(qLower.count, lower.count)
        let lo = Rational.sum((0..<n).map { Rational.max(qLower[$0], .zero) * Rational.max(lower[$0], .zero) })
        let hi = Rational.sum((0..<n).map { Rational.min(qUpper[$0], .one) * Rational.max(upper[$0], .zero) })
        return (lo, hi)
    }
}

extension ModelPair {
    /// The certified T7 spectra of this pair, memoised (nil when a moment matrix is singular).
    public func certifiedT7Spectra(centred: Bool, exactAtZero: Bool = false) throws -> CertifiedT7Spectra? {
        try cache.value("T7spectra.\(centred).\(exactAtZero)") { try CertifiedT7Spectra(exact(), centred: centred, exactAtZero: exactAtZero) }
    }
}

/// (A + Aᵀ)/2: removes the rounding asymmetry before a symmetric eigen-solver.
public func symmetrised(_ a: Matrix) -> Matrix { 0.5 * (a + a.transposed) }
