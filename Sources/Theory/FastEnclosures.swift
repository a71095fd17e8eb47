import Numerics

/// A model's logits Λ = FGᵀ as fast enclosures: P = fl(FGᵀ) and Q = fl(|F||G|ᵀ) by two
/// BLAS products, each entry [P − e, P + e] with e the a priori bound γ_d/(1 − γ_d)·Q + 2dη
/// (`FastInterval.withProductError`; Proofs/certificates.md §4, which holds in any
/// summation order, blocked and vectorised BLAS included, because Q is the computed sum
/// of the products' magnitudes |RN(f_j g_j)| = RN(|f_j||g_j|)). Kept as P and one radius per
/// row, the largest of its entries' bounds (the distances go by midpoints, §5 step 6); the
/// entries themselves are formed on request. Cost two N×k×d products at BLAS speed and O(N k).
/// nil when an entry or its bound is not finite.
public struct FastLogits: Sendable {
    public let rows: Int
    public let columns: Int
    /// P, row-major rows × columns.
    let products: [Double]
    /// Q, row-major, and γ_d/(1 − γ_d) (the entries' bounds).
    let absoluteProducts: [Double]
    let factor: Double
    let dimension: Int
    /// R_i ≥ |Λ_iy − P_iy| for every label y.
    let rowRadii: [Double]

    public init?(_ model: SoftmaxModel) {
        let f = model.embeddings, g = model.unembeddings
        let (n, k, d) = (f.rows, g.rows, f.columns)
        let p = f.multiplied(by: g, transposeOther: true)
        let q = f.absoluteValues.multiplied(by: g.absoluteValues, transposeOther: true)
        let factor = FastMath.productErrorFactor(d), floor = Double(2 * d) * Double.leastNonzeroMagnitude
        var radii = [Double](repeating: 0, count: n)
        guard p.storage.allSatisfy(\.isFinite) else { return nil }
        for i in 0..<n {
            let r = FastLogitSums.rowRadius(q.storage[(i * k)..<((i + 1) * k)], factor: factor, underflow: floor)
            guard r.isFinite else { return nil }
            radii[i] = r
        }
        (rows, columns, products, absoluteProducts, self.factor, dimension, rowRadii) = (n, k, p.storage, q.storage, factor, d, radii)
    }

    /// Every entry's enclosure [P − e, P + e], e from its own Q (row-major; the cross-checks).
    public var entries: [FastInterval] {
        products.indices.map { FastInterval.withProductError(products[$0], absoluteSum: absoluteProducts[$0], factor: factor, terms: dimension) }
    }

    /// Σᵢ wᵢ ‖C(Λᵢ − Λ'ᵢ)‖² (C centres over labels): d_logit² between two models, each row by
    /// midpoints and the two rows' radii (`MidpointRow.distanceSquared`).
    public func logitDistanceSquared(to other: FastLogits, weights w: [FastInterval]) -> FastInterval {
        let constants = MidpointRow.DistanceConstants(labels: columns)
        return products.withUnsafeBufferPointer { a in
            other.products.withUnsafeBufferPointer { b in
                FastInterval.sum((0..<rows).lazy.map { i in
                    w[i] * MidpointRow.distanceSquared(a.baseAddress! + i * columns, b.baseAddress! + i * columns, labels: columns,
                                                       radii: (rowRadii[i], other.rowRadii[i]), constants: constants)
                })
            }
        }
    }
}

/// A pair's logits and d_logit² as fast enclosures, with the input weights
/// wᵢ = rawᵢ/Σ raw (as the exact level defines them). Cost O(N k d).
public struct FastLogitDistance: Sendable {
    public let weights: [FastInterval]
    public let first: FastLogits
    public let second: FastLogits
    public let squared: FastInterval

    init?(_ pair: ModelPair) {
        guard let a = FastLogits(pair.first), let b = FastLogits(pair.second) else { return nil }
        weights = pair.fastWeights()
        (first, second) = (a, b)
        squared = a.logitDistanceSquared(to: b, weights: weights)
    }

    /// wᵢ = rawᵢ / Σ raw, enclosed, from `scaledWeightEnclosures`.
    static func normalisedWeights(_ raw: [Double]) -> [FastInterval] {
        let scaled = scaledWeightEnclosures(raw)
        let total = FastInterval.sum(scaled)
        return scaled.map { $0 / total }
    }

    /// rawᵢ·2^−e, e the largest weight's exponent, enclosed: exact, or where the scaling rounded
    /// (into the subnormals) between its neighbours. The ratios wᵢ/Σw are unchanged, and with the
    /// largest in [1, 2) no sum of them overflows (raw weights near 10³⁰⁸). Scaling back up is
    /// exact, so a rounded weight never passes for exact; its error is within one subnormal ulp
    /// (two roundings below 2⁻¹⁰²² stay within 3/4 of one), so its neighbours enclose it.
    static func scaledWeightEnclosures(_ raw: [Double]) -> [FastInterval] {
        let e = raw.max().map { Int($0.exponent) } ?? 0
        return raw.map { w in
            let s = Double(sign: .plus, exponent: -e, significand: w)
            return Double(sign: .plus, exponent: e, significand: s) == w ? FastInterval(s) : FastInterval(lo: max(0, s.nextDown), hi: s.nextUp)
        }
    }
}

extension ModelPair {
    /// The pair's logits and d_logit² as fast enclosures, computed once; nil when a
    /// logit is not finite.
    public func fastLogitDistance() -> FastLogitDistance? {
        cache.value("fastLogitDistance") { FastLogitDistance(self) }
    }
}

/// T3's and T11's unembedding quantities as fast enclosures: M = G̃₁ᵀG̃₁, the
/// identifiability map A₁₂ = M⁻¹G̃₁ᵀG̃₂ (a verified solve, which also proves M
/// nonsingular, so G̃₁ has full column rank), and an upper bound on σ_min(G̃₁)² = λ_min(M)
/// (a Rayleigh quotient of M at the computed eigenvector).
/// Cost O(k d² + d³). nil when M is not shown nonsingular.
///
/// Where G̃₁ is so ill-conditioned (κ ≳ 10⁸) that M's enclosure holds singular matrices, small
/// pairs (the rows enclosed, not the Gram routes) are solved preconditioned (Proofs/certificates.md
/// §6, "Preconditioned identifiability"): X = VΣ⁻¹ from G̃₁'s Double SVD, Q = G̃₁X enclosed,
/// N = QᵀQ ≈ I; then M⁻¹ = XN⁻¹Xᵀ and A₁₂ = X·N⁻¹(QᵀG̃₂), and σ_min² ≤ ‖G̃₁z‖²/‖z‖² at the last
/// right singular vector z.
public struct FastIdentifiability: Sendable {
    public let gram: FastIntervalMatrix
    public let map: FastIntervalMatrix
    public let sigmaMinSquaredUpper: Double
    /// X (a point matrix) and N = (G̃₁X)ᵀ(G̃₁X) enclosed, when solved preconditioned.
    let preconditioner: (x: FastIntervalMatrix, n: FastIntervalMatrix)?

    init?(_ pair: ModelPair) {
        let grams = pair.fastUnembeddingGrams()
        if let plain = FastIdentifiability(grams: grams) {
            self = plain
        } else if !pair.usesGramRoutes, let preconditioned = FastIdentifiability(preconditioning: pair, grams: grams) {
            self = preconditioned
        } else {
            return nil
        }
    }

    /// From the enclosed Grams alone (a merge of shards).
    public init?(grams: FastUnembeddingGrams) {
        let m = grams.first
        guard let a = m.solvingEquilibrated(grams.cross) else { return nil }
        (gram, map, sigmaMinSquaredUpper, preconditioner) = (m, a, fastSmallestEigenvalueUpper(m), nil)
    }

    /// The preconditioned solve from the enclosed rows of G̃₁ and G̃₂; nil when G̃₁'s SVD
    /// fails or N is not shown nonsingular (which it is, with X, exactly when M is). X = VΣ⁻¹
    /// from G̃₁'s SVD, or where that fails from the SVD of G̃₁D (D = diag(2^eⱼ),
    /// `firstEquilibration`), X = D·V'Σ'⁻¹: with columns of G̃₁ 2⁵⁴⁰ apart in scale (F's the
    /// reverse: the same model) G̃₁'s own smallest σ is rounding noise and N was not shown
    /// nonsingular. Any nonsingular X gives M⁻¹ = X(XᵀMX)⁻¹Xᵀ, so either is sound.
    init?(preconditioning pair: ModelPair, grams: FastUnembeddingGrams) {
        guard let solved = Self(preconditioning: pair, grams: grams, equilibrated: false)
                ?? Self(preconditioning: pair, grams: grams, equilibrated: true) else { return nil }
        self = solved
    }

    private init?(preconditioning pair: ModelPair, grams: FastUnembeddingGrams, equilibrated: Bool) {
        let d = pair.first.dimension
        guard let (svd, e) = equilibrated ? try? pair.firstEquilibratedUnembeddingSVD()
                : (try? pair.firstUnembeddingSVD()).map({ ($0, [Int](repeating: 0, count: d)) }),
              svd.singularValues.count == d, svd.singularValues.allSatisfy({ $0 > 0 && $0.isFinite }) else { return nil }
        let x = Matrix(rows: d, columns: d) { i, j in Double(sign: .plus, exponent: e[i], significand: svd.v[i, j] / svd.singularValues[j]) }
        guard x.storage.allSatisfy(\.isFinite) else { return nil }
        let unembeddings = pair.fastUnembeddings(), point = FastIntervalMatrix(x)
        let q = unembeddings.first.multiplied(byPoint: x)
        let n = q.transposeMultiplied(by: q)
        guard let b = n.solving(q.transposeMultiplied(by: unembeddings.second)) else { return nil }
        // Any z ≠ 0 bounds σ_min² above by ‖G̃₁z‖²/‖z‖²; z the last right singular vector (times D).
        let z = (0..<d).map { Double(sign: .plus, exponent: e[$0], significand: svd.v[$0, d - 1]) }
        let g1 = unembeddings.first
        let image = FastInterval.sum((0..<g1.rows).lazy.map { i in
            FastInterval.sum((0..<d).lazy.map { FastInterval.times(g1[i, $0], point: z[$0]) }).squared
        })
        let rayleigh = (image / FastInterval.sum(z.lazy.map { FastInterval($0).squared })).hi
        (gram, map, preconditioner) = (grams.first, FastIntervalMatrix.product(x, b), (point, n))
        sigmaMinSquaredUpper = Swift.min(rayleigh.isNaN ? .infinity : rayleigh, fastSmallestEigenvalueUpper(grams.first))
    }

    /// M⁻¹u, enclosed (nil when the solve cannot be verified): XN⁻¹Xᵀu when preconditioned.
    public func solving(_ u: [Double]) -> [FastInterval]? {
        let column = FastIntervalMatrix(rows: u.count, columns: 1) { i, _ in FastInterval(u[i]) }
        guard let (x, n) = preconditioner else { return gram.solvingEquilibrated(column)?.entries }
        return n.solving(x.transposeMultiplied(by: column)).map { x.multiplied(by: $0).entries }
    }
}

/// An upper bound on λ_min of the symmetric matrix enclosed by `m`: the Rayleigh quotient
/// zᵀMz/zᵀz, enclosed, at an approximate eigenvector z of λ_min(mid M) (any z bounds λ_min
/// above, so the bound is sound whatever z is; z only decides how tight): the computed
/// eigenvector up to 64 rows; above, inverse iteration (`inverseIterationUpper`), falling
/// back to the decomposition when it fails. +∞ when both fail. At most the smallest diagonal
/// entry's upper end (the quotient at a unit vector): for a Gram or moment whose columns lie far
/// apart in scale the computed eigenvector is off by about ε in every entry, and the quotient
/// there (ε²·‖M‖) lay far above λ_min ≈ the small column's Mⱼⱼ (a column of G̃₁ 2⁶⁰ below the
/// others put T3's right side 10⁵ below its value, and the fast enclosure could not decide).
public func fastSmallestEigenvalueUpper(_ m: FastIntervalMatrix) -> Double {
    let diagonal = (0..<m.rows).map { m[$0, $0].hi }.min() ?? .infinity
    return min(diagonal, eigenvectorQuotientUpper(m))
}

/// The Rayleigh quotient's upper end at the computed eigenvector of λ_min (`fastSmallestEigenvalueUpper`).
func eigenvectorQuotientUpper(_ m: FastIntervalMatrix) -> Double {
    let middle = m.midpoints
    if m.rows > 64, let upper = inverseIterationUpper(m, middle: middle) { return upper }
    let n = m.rows
    guard let e = try? SymmetricEigendecomposition(middle), let smallest = e.eigenvalues.indices.min(by: { e.eigenvalues[$0] < e.eigenvalues[$1] }) else {
        return .infinity
    }
    return rayleighQuotientUpper(m, (0..<n).map { e.eigenvectors[$0, smallest] })
}

/// The Rayleigh quotient's upper end at z after 40 steps of inverse iteration z ← (mid M)⁻¹z
/// (one LU factorisation, O(d²) a step, where a full decomposition costs O(d³) with a large
/// constant). Inverse iteration converges to the eigenvector of the eigenvalue of least
/// magnitude, which is λ_min for the positive semidefinite Grams and moments it is used on
/// (elsewhere the bound is still sound, only looser). nil when mid M is singular or the
/// quotient is not finite.
func inverseIterationUpper(_ m: FastIntervalMatrix, middle: Matrix) -> Double? {
    let n = m.rows
    guard let lu = try? LUDecomposition(middle, singularityThreshold: 0) else { return nil }
    // A start with a component along every eigenvector (generically), normalised each step.
    var z = Matrix(rows: n, columns: 1) { i, _ in 1 + 0.5 * Double((i * 7919) % 97) / 97 }
    for _ in 0..<40 {
        guard let next = try? lu.solve(z) else { break }
        let norm = next.storage.reduce(0.0) { max($0, abs($1)) }
        guard norm > 0, norm.isFinite else { break }
        z = Matrix(rows: n, columns: 1) { i, _ in next.storage[i] / norm }
    }
    let upper = rayleighQuotientUpper(m, z.storage)
    return upper.isFinite ? upper : nil
}

/// zᵀMz/zᵀz's upper end for every M in the enclosure.
func rayleighQuotientUpper(_ m: FastIntervalMatrix, _ vector: [Double]) -> Double {
    let z = vector.map { FastInterval($0) }
    let mz = (0..<m.rows).map { i in FastInterval.sum((0..<m.rows).lazy.map { m[i, $0] * z[$0] }) }
    return (FastInterval.sum(zip(z, mz).map { $0 * $1 }) / FastInterval.sum(z.map(\.squared))).hi
}

/// T4's quantities as fast enclosures: M₁₁ = F₁ᵀWF₁, B = M₁₁⁻¹F₁ᵀWF₂ (a verified solve,
/// proving F̂₁ = W^{1/2}F₁ of full column rank), d_unemb² = ‖G̃₁ − G̃₂Bᵀ‖²_F, and an upper
/// bound on σ_min(F̂₁)² = λ_min(M₁₁). Small pairs form G̃₁ − G̃₂Bᵀ entry by entry; at
/// language-model scale (`usesGramRoutes`) d_unemb² = tr S₁₁ − 2 tr(S₁₂Bᵀ) + tr(BS₂₂Bᵀ) from the
/// enclosed Grams, which cancels where d_unemb² ≪ tr S₁₁ (width ~ u·d·tr S₁₁) but keeps
/// nothing k×d. Cost O(N d² + k d² + d³). nil when M₁₁ is not shown nonsingular.
public struct FastUnembeddingDissimilarity: Sendable {
    public let squared: FastInterval
    public let sigmaMinSquaredUpper: Double

    init?(_ pair: ModelPair) {
        let moments = pair.fastEmbeddingMoments()
        if pair.usesGramRoutes {
            self.init(moments: moments, grams: pair.fastUnembeddingGrams())
            return
        }
        let m11 = moments.m11
        guard let b = m11.solvingEquilibrated(moments.m21.transposed) else { return nil }   // d₁×d₂
        let (g1, g2) = (pair.fastUnembeddings().first, pair.fastUnembeddings().second)
        let mapped = g2.multiplied(by: b.transposed)
        self.init(squared: FastInterval.sum(g1.entries.indices.map { (g1.entries[$0] - mapped.entries[$0]).squared }),
                  sigmaMinSquaredUpper: fastSmallestEigenvalueUpper(m11))
    }

    init(squared: FastInterval, sigmaMinSquaredUpper: Double) {
        (self.squared, self.sigmaMinSquaredUpper) = (squared, sigmaMinSquaredUpper)
    }

    /// From the enclosed moments and Grams alone (the language-model route, a merge of shards).
    public init?(moments: FastEmbeddingMoments, grams: FastUnembeddingGrams) {
        let m11 = moments.m11
        guard let b = m11.solvingEquilibrated(moments.m21.transposed) else { return nil }   // d₁×d₂
        let trace = FastInterval.sum((0..<grams.first.rows).lazy.map { grams.first[$0, $0] })
        let cross = FastInterval.sum(grams.cross.entries.indices.map { grams.cross.entries[$0] * b.entries[$0] })
        let bs = b.multiplied(by: grams.second)
        let quadratic = FastInterval.sum(bs.entries.indices.map { bs.entries[$0] * b.entries[$0] })
        self.init(squared: (trace - FastInterval(2) * cross + quadratic).clampedNonNegative,
                  sigmaMinSquaredUpper: fastSmallestEigenvalueUpper(m11))
    }
}

/// The embedding moments M₁₁ = E f₁f₁ᵀ, M₂₁ = E f₂f₁ᵀ, M₂₂ = E f₂f₂ᵀ as fast enclosures
/// (`FastIntervalMatrix.weightedCrossProducts`: two BLAS products each, on every core),
/// and r(A) = E‖f₁ − Af₂‖² = tr M₁₁ − 2 tr(AM₂₁) + tr(AM₂₂Aᵀ) from them in O(d³) per map —
/// for T5's averaged form, which needs r at every pivot pair. It cancels where r is far
/// below tr M₁₁ (width ~ u·tr M₁₁); the direct form (`T3EmbeddingBound`) does not.
public struct FastEmbeddingMoments: Sendable {
    public let m11: FastIntervalMatrix
    public let m21: FastIntervalMatrix
    public let m22: FastIntervalMatrix

    public init(m11: FastIntervalMatrix, m21: FastIntervalMatrix, m22: FastIntervalMatrix) {
        (self.m11, self.m21, self.m22) = (m11, m21, m22)
    }

    /// The moments of the swapped pair.
    var swapped: FastEmbeddingMoments { FastEmbeddingMoments(m11: m22, m21: m21.transposed, m22: m11) }

    init(_ pair: ModelPair, weights w: [FastInterval]) {
        let m = FastIntervalMatrix.weightedCrossProductsInBlocks([(0, 0), (1, 0), (1, 1)], of: [pair.first.embeddings, pair.second.embeddings], weights: w)
        (m11, m21, m22) = (m[0], m[1], m[2])
    }

    /// E‖f₁ − A f₂‖² = tr M₁₁ − 2 tr(A M₂₁) + tr(A M₂₂ Aᵀ) (d_rep² for A = A₁₂, T5's r(p, S)
    /// for A = A_{p,S}).
    public func residual(map a: FastIntervalMatrix) -> FastInterval { meanSquaredDifference(first: nil, second: a) }

    /// E‖B₁f₁ − B₂f₂‖² = tr(B₁M₁₁B₁ᵀ) − 2 tr(B₂M₂₁B₁ᵀ) + tr(B₂M₂₂B₂ᵀ), B₁ = I when nil; each
    /// trace of a product XY… as Σᵢⱼ (XM)ᵢⱼ Yᵢⱼ. Cancels where the value is far below its terms
    /// (width ~ u times them).
    public func meanSquaredDifference(first b1: FastIntervalMatrix?, second b2: FastIntervalMatrix) -> FastInterval {
        func pairedSum(_ x: FastIntervalMatrix, _ y: FastIntervalMatrix) -> FastInterval {
            FastInterval.sum(x.entries.indices.map { x.entries[$0] * y.entries[$0] })
        }
        let b2m21 = b2.multiplied(by: m21), b2m22 = b2.multiplied(by: m22)
        let first = b1.map { pairedSum($0.multiplied(by: m11), $0) } ?? FastInterval.sum((0..<m11.rows).map { m11[$0, $0] })
        let cross = b1.map { pairedSum(b2m21, $0) } ?? FastInterval.sum((0..<b2.rows).map { b2m21[$0, $0] })
        return (first - FastInterval(2) * cross + pairedSum(b2m22, b2)).clampedNonNegative
    }
}

/// T7's spectra as fast enclosures (Proofs/certificates.md §7), model 1 the student:
/// 1 − ρᵢ² as the eigenvalues of the pencil (M₂₂ − M₂₁M₁₁⁻¹M₁₂, M₂₂) (ascending, so ρ
/// descending, padded with ρ = 0 when d₁ < d₂), μ as those of (M₂₂S₂₂M₂₂, M₂₂) — the
/// nonzero eigenvalues of E Λ̃₂Λ̃₂ᵀ = G̃₂M₂₂G̃₂ᵀ, S₂₂ = G̃₂ᵀG̃₂ — descending, and
/// R = tr(S₂₂(M₂₂ − M₂₁M₁₁⁻¹M₁₂)). Centred: the moments are covariances. nil when M₁₁ or
/// M₂₂ is not shown nonsingular, or a pencil's enclosure fails.
public struct FastT7Spectra: Sendable {
    public let oneMinusRhoSquared: [FastInterval]
    public let mu: [FastInterval]
    public let residual: FastInterval
    /// M₂₂ (a covariance when centred), M₁₁⁻¹M₁₂ enclosed and S₂₂, kept for `tightened`.
    let secondMoment: FastIntervalMatrix
    let regression: FastIntervalMatrix
    let s22: FastIntervalMatrix

    init?(_ pair: ModelPair, centred: Bool) {
        let w = pair.fastWeights()
        // E f = Fᵀw, by BLAS with its bound (a product with a column of ones).
        func mean(_ f: Matrix) -> [FastInterval] {
            FastIntervalMatrix.weightedCrossProductInBlocks(f, Matrix(rows: f.rows, columns: 1, repeating: 1), weights: w).entries
        }
        self.init(moments: pair.fastEmbeddingMoments(), means: centred ? (mean(pair.first.embeddings), mean(pair.second.embeddings)) : nil,
                  s22: pair.fastUnembeddingGrams().second)
    }

    /// From enclosed moments (and the means, for the centred form: nil is uncentred) and the
    /// second model's Gram S₂₂ alone (a merge of shards).
    public init?(moments raw: FastEmbeddingMoments, means: (first: [FastInterval], second: [FastInterval])?, s22: FastIntervalMatrix) {
        var (m11, m21, m22) = (raw.m11, raw.m21, raw.m22)
        if let (a, b) = means {
            m11 = FastIntervalMatrix(rows: a.count, columns: a.count) { m11[$0, $1] - a[$0] * a[$1] }
            m21 = FastIntervalMatrix(rows: b.count, columns: a.count) { m21[$0, $1] - b[$0] * a[$1] }
            m22 = FastIntervalMatrix(rows: b.count, columns: b.count) { m22[$0, $1] - b[$0] * b[$1] }
        }
        // Equilibrated where M₁₁'s diagonal spreads: a column of the first model's F 2⁶⁰ larger
        // than the others (G's 2⁶⁰ smaller: the same model) had left T7 to MPFR.
        guard let y = m11.solvingEquilibrated(m21.transposed) else { return nil }
        let schur = m22.subtracting(m21.multiplied(by: y))
        // Both pencils against M₂₂: its whitening formed once.
        guard let whitening = m22.pencilWhitening(), let q = schur.pencilEigenvalues(m22, whitening: whitening),
              let mu = m22.multiplied(by: s22).multiplied(by: m22).pencilEigenvalues(m22, whitening: whitening) else { return nil }
        oneMinusRhoSquared = q.map { FastInterval(lo: min(max($0.lo, 0), 1), hi: min(max($0.hi, 0), 1)) }
        self.mu = mu.reversed().map(\.clampedNonNegative)
        residual = FastInterval.sum(s22.entries.indices.map { s22.entries[$0] * schur.entries[$0] }).clampedNonNegative
        (secondMoment, regression, self.s22) = (m22, y, s22)
    }

    init(oneMinusRhoSquared: [FastInterval], mu: [FastInterval], residual: FastInterval, from base: FastT7Spectra) {
        (self.oneMinusRhoSquared, self.mu, self.residual) = (oneMinusRhoSquared, mu, residual)
        (secondMoment, regression, s22) = (base.secondMoment, base.regression, base.s22)
    }

    /// Upper ends of 1 − ρᵢ² and R without the Schur complement's cancellation, from the rows
    /// (Proofs/certificates.md §7, "T7 near equal models"): for any Double B̃ ≈ M₁₁⁻¹M₁₂ and
    /// centre c, E_up = E_w (r − c)(r − c)ᵀ with r = f₂ − B̃ᵀf₁ (c = 0 uncentred, ≈ E_w r centred)
    /// is ⪰ the Schur complement E, so λᵢ(E_up, M₂₂) ≥ 1 − ρᵢ² and tr(S₂₂E_up) ≥ R; E_up is
    /// enclosed with the error of r, about u relative to r itself, where the complement
    /// M₂₂ − M₂₁M₁₁⁻¹M₁₂ loses everything below u·‖M₂₂‖ (near-equal models: 1 − ρ² ~ 10⁻¹⁶).
    /// The lower ends stay this spectra's. O(N d₁ d₂ + N d₂²); nil when the pencil fails.
    /// `plantedScale` < 1 shrinks E_up (a planted bug: the tests show its upper ends then miss).
    func tightened(rows first: Matrix, _ second: Matrix, weights w: [FastInterval], centred: Bool, plantedScale: Double = 1) -> FastT7Spectra? {
        let (n, d1, d2) = (first.rows, first.columns, second.columns)
        let b = regression.midpoints   // d₁×d₂
        guard b.storage.allSatisfy(\.isFinite) else { return nil }
        func residualRow(_ i: Int, _ j: Int) -> Double {
            var v = second[i, j]
            for l in 0..<d1 { v -= b[l, j] * first[i, l] }
            return v
        }
        var c = [Double](repeating: 0, count: d2)
        if centred {
            for i in 0..<n { for j in 0..<d2 { c[j] += w[i].midpoint * residualRow(i, j) } }
        }
        guard c.allSatisfy(\.isFinite) else { return nil }
        var upper = [FastInterval](repeating: .zero, count: d2 * d2)
        var r = [FastInterval](repeating: .zero, count: d2)
        for i in 0..<n {
            for j in 0..<d2 {
                var v = FastInterval(second[i, j]) - FastInterval(c[j])
                for l in 0..<d1 { v = v - FastInterval.times(FastInterval(first[i, l]), point: b[l, j]) }
                r[j] = v
            }
            for a in 0..<d2 {
                upper[a * d2 + a] = upper[a * d2 + a] + FastInterval.nonNegativeTimes(w[i], r[a].squared)
                let weighted = w[i] * r[a]
                for e in (a + 1)..<d2 { upper[a * d2 + e] = upper[a * d2 + e] + weighted * r[e] }
            }
        }
        for a in 0..<d2 { for e in 0..<a { upper[a * d2 + e] = upper[e * d2 + a] } }
        let bound = FastIntervalMatrix(rows: d2, columns: d2) { FastInterval(plantedScale) * upper[$0 * d2 + $1] }
        guard bound.entries.allSatisfy({ $0.lo.isFinite && $0.hi.isFinite }), let q = bound.pencilEigenvalues(secondMoment) else { return nil }
        let residualUpper = FastInterval.sum(s22.entries.indices.map { s22.entries[$0] * bound.entries[$0] }).hi
        // Each true value is at most its upper end here and within the old enclosure: the
        // intersection keeps the old lower ends. An upper end below an old lower end would mean
        // one of the two is wrong: nothing is decided from them then.
        guard zip(oneMinusRhoSquared, q).allSatisfy({ $1.hi >= $0.lo }), residualUpper >= residual.lo else { return nil }
        let tightenedQ = zip(oneMinusRhoSquared, q).map { old, new in FastInterval(lo: old.lo, hi: Swift.min(old.hi, new.hi)) }
        return FastT7Spectra(oneMinusRhoSquared: tightenedQ, mu: mu,
                             residual: FastInterval(lo: residual.lo, hi: Swift.min(residual.hi, residualUpper)), from: self)
    }
}

/// Both models' centred unembeddings G̃ = CG, enclosed entry by entry (k×d intervals), for
/// small pairs' T4 and their Grams.
public struct FastUnembeddings: Sendable {
    public let first: FastIntervalMatrix
    public let second: FastIntervalMatrix

    init(_ pair: ModelPair) {
        first = FastIntervalMatrix(pair.first.unembeddings).subtractingColumnMeans
        second = FastIntervalMatrix(pair.second.unembeddings).subtractingColumnMeans
    }
}

/// The centred unembeddings' Grams S₁₁ = G̃₁ᵀG̃₁, S₁₂ = G̃₁ᵀG̃₂ and S₂₂ = G̃₂ᵀG̃₂, enclosed
/// once per pair for T3, T4, T7, T11 and T12. Small pairs: products of the enclosed G̃
/// (`FastUnembeddings`). At language-model scale (`usesGramRoutes`): the pair's own BLAS
/// Grams with norm bounds (`FastIntervalMatrix.centredCrossProduct`), O(k d) beyond them and
/// nothing k×d kept.
public struct FastUnembeddingGrams: Sendable {
    public let first: FastIntervalMatrix
    public let cross: FastIntervalMatrix
    public let second: FastIntervalMatrix

    public init(first: FastIntervalMatrix, cross: FastIntervalMatrix, second: FastIntervalMatrix) {
        (self.first, self.cross, self.second) = (first, cross, second)
    }

    /// The Grams of the swapped pair.
    var swapped: FastUnembeddingGrams { FastUnembeddingGrams(first: second, cross: cross.transposed, second: first) }

    /// From the BLAS Grams S₁₁, S₁₂, S₂₂ of the centred unembeddings and each model's column
    /// bounds (`FastIntervalMatrix.centredCrossProduct`): the language-model route, and a merge
    /// of the partials that carry them.
    public init(columns: (first: CentredColumns, second: CentredColumns), products: (Matrix, Matrix, Matrix)) {
        let (c1, c2) = columns
        self.init(first: FastIntervalMatrix.centredCrossProduct(c1, c1, product: products.0),
                  cross: FastIntervalMatrix.centredCrossProduct(c1, c2, product: products.1),
                  second: FastIntervalMatrix.centredCrossProduct(c2, c2, product: products.2))
    }

    init(_ pair: ModelPair) {
        if pair.usesGramRoutes, let grams = try? pair.unembeddingGrams() {
            self.init(columns: pair.centredColumns(), products: (grams.s11, grams.s12, grams.s22))
        } else {
            let u = pair.fastUnembeddings()
            self.init(first: u.first.transposeMultiplied(by: u.first), cross: u.first.transposeMultiplied(by: u.second),
                      second: u.second.transposeMultiplied(by: u.second))
        }
    }
}

extension ModelPair {
    /// The centred unembeddings as fast enclosures, computed once.
    public func fastUnembeddings() -> FastUnembeddings {
        cache.value("fastUnembeddings") { FastUnembeddings(self) }
    }

    /// Both models' centred-unembedding column bounds (`CentredColumns`, for the Grams by norm
    /// bounds), one model per core, computed once.
    public func centredColumns() -> (first: CentredColumns, second: CentredColumns) {
        cache.value("centredColumns") {
            let (g1, g2) = centredUnembeddings
            let columns = (try? BLASThreads.parallelMap(2, workers: BLASThreads.cores) { CentredColumns($0 == 0 ? g1 : g2) })
                ?? [CentredColumns(g1), CentredColumns(g2)]
            return (columns[0], columns[1])
        }
    }

    /// Whether this pair's Grams were enclosed by norm bounds (`centredColumns` formed), rather
    /// than as products of enclosed k×d matrices.
    public var formedNormBoundedGrams: Bool {
        cache.peek("centredColumns", as: (first: CentredColumns, second: CentredColumns).self) != nil
    }

    /// The centred unembeddings' Grams as fast enclosures, computed once.
    public func fastUnembeddingGrams() -> FastUnembeddingGrams {
        cache.value("fastUnembeddingGrams") { FastUnembeddingGrams(self) }
    }

    /// The input weights wᵢ = rawᵢ/Σ raw, enclosed, computed once.
    public func fastWeights() -> [FastInterval] {
        cache.value("fastWeights") { FastLogitDistance.normalisedWeights(first.givenWeights) }
    }

    /// Whether the fast level holds N×k enclosed logits (`FastLogits`, P and Q: 16 bytes a logit
    /// and model): up to N·k = 2²² logits (64 MiB a model) and N·k·(d₁ + d₂) = 2·10⁸ (CIFAR shape
    /// is 10⁵ logits and 10⁸). Above either, d_logit² comes from the streamed pass, which keeps a
    /// block of rows at a time: at N = 50, k = 10⁶ the whole matrices took 3.3 GB.
    public var fastLogitsFit: Bool {
        Double(first.inputCount) * Double(first.labelCount) <= 0x1p22 && exactLevelSize <= 2e8
    }

    /// d_logit² enclosed: from the enclosed logits where they fit (`fastLogitsFit`), else
    /// from the streamed pass (`fastLogitSums`), which keeps nothing N×k. nil when a logit
    /// or its error bound is not finite.
    public func fastLogitDistanceSquared() -> FastInterval? {
        cache.value("fastLogitDistanceSquared") { fastLogitsFit ? fastLogitDistance()?.squared : fastLogitSums()?.logitDistanceSquared }
    }

    /// Whether d_logit² is exactly 0 (the exact orbit pairs), asked only where the fast enclosure
    /// reaches 0 and the exact level is affordable. There the fast certificates whose right side
    /// is then 0 (a 0 ≤ 0 no enclosure decides) go straight to the exact level, without the
    /// enclosures they cannot use.
    public var logitDistanceIsExactlyZero: Bool {
        guard exactLevelAffordable, let d = fastLogitDistanceSquared(), d.lo <= 0 else { return false }
        return exactLogitDistanceSquared().isZero
    }

    /// The pair in the other order (T7's, whose student is the second model), formed after
    /// d_logit²'s fast enclosure and, with `moments`, the unembedding Grams and embedding
    /// moments, which the swap is handed (`seedSwappedFastEnclosures`). Swapped first, each
    /// order formed its own: above `fastLogitsFit`, two streamed passes over the N×k logits.
    public func swappedAfterFastEnclosures(moments: Bool) -> ModelPair {
        _ = fastLogitDistanceSquared()
        if moments { _ = (fastUnembeddingGrams(), fastEmbeddingMoments()) }
        return swapped
    }

    /// The fast enclosures that do not depend on the order of the pair, or that swap with
    /// it, seeded into the swapped pair (T7 runs on it) so that it does not recompute them.
    func seedSwappedFastEnclosures(_ other: ModelPair) {
        if let d = cache.peek("fastLogitDistanceSquared", as: FastInterval?.self) { other.cache.seed("fastLogitDistanceSquared", d as Any) }
        if let w = cache.peek("fastWeights", as: [FastInterval].self) { other.cache.seed("fastWeights", w) }
        if let g = cache.peek("fastUnembeddingGrams", as: FastUnembeddingGrams.self) { other.cache.seed("fastUnembeddingGrams", g.swapped) }
        if let m = cache.peek("fastMoments", as: FastEmbeddingMoments.self) { other.cache.seed("fastMoments", m.swapped) }
    }

    /// T7's spectra as fast enclosures, computed once per centring.
    public func fastT7Spectra(centred: Bool) -> FastT7Spectra? {
        cache.value("fastT7.\(centred)") { FastT7Spectra(self, centred: centred) }
    }

    /// `fastT7Spectra` with the upper ends from the rows (`FastT7Spectra.tightened`), computed
    /// once, up to N·(d₁ + d₂)·d₂ = 2·10⁷ interval operations (a fraction of a second); above,
    /// nil (the moment form's verdict stands or escalates).
    public func fastT7SpectraFromRows(centred: Bool) -> FastT7Spectra? {
        guard Double(first.inputCount) * Double(first.dimension + second.dimension) * Double(second.dimension) <= 2e7 else { return nil }
        return cache.value("fastT7rows.\(centred)") {
            fastT7Spectra(centred: centred)?.tightened(rows: first.embeddings, second.embeddings, weights: fastWeights(), centred: centred)
        }
    }

    /// The embedding moments as fast enclosures, computed once.
    public func fastEmbeddingMoments() -> FastEmbeddingMoments {
        cache.value("fastMoments") { FastEmbeddingMoments(self, weights: fastWeights()) }
    }

    /// E_w ‖B₁f₁ − B₂f₂‖² for enclosed B₁ (I when nil) and B₂: d_rep² for B₂ = A₁₂, T5's r(p, S)
    /// for B₂ = A_{p,S}, its subset logit sums for (L₁, L₂). From the rows (F Bᵀ by BLAS with its
    /// bound, then O(N d) interval operations) while they keep N×d intervals up to 2²⁵ entries;
    /// beyond, the moment form (d×d; it cancels where the value is far below tr M₁₁).
    public func fastMeanSquaredDifference(first b1: FastIntervalMatrix?, second b2: FastIntervalMatrix) -> FastInterval {
        first.inputCount * max(first.dimension, second.dimension) <= 1 << 25
            ? fastMeanSquaredDifferenceFromRows(first: b1, second: b2)
            : fastEmbeddingMoments().meanSquaredDifference(first: b1, second: b2)
    }

    /// The same from the rows at any size, in blocks of about 2¹⁹ entries per product (at least
    /// 64 rows), so that the N×d products are never held whole: at N = 4 096, d = 768 they were
    /// 50 MB of fresh memory, dear on virtual machines (notes/benchmarks.md, stop 48). The rows
    /// are summed in order.
    func fastMeanSquaredDifferenceFromRows(first b1: FastIntervalMatrix?, second b2: FastIntervalMatrix) -> FastInterval {
        let w = fastWeights(), f1 = first.embeddings, f2 = second.embeddings
        let step = Swift.max(64, (1 << 19) / Swift.max(f1.columns, f2.columns, b2.rows, 1))
        var total = FastInterval.zero
        for start in stride(from: 0, to: f1.rows, by: step) {
            let rows = Array(start..<Swift.min(f1.rows, start + step))
            let block1 = f1.selectingRows(rows)
            let right = FastIntervalMatrix.pointTimesTransposed(f2.selectingRows(rows), b2)
            let left = b1.map { FastIntervalMatrix.pointTimesTransposed(block1, $0) }
            for r in rows.indices {
                var row = FastInterval.zero
                for l in 0..<right.columns { row = row + ((left?[r, l] ?? FastInterval(block1[r, l])) - right[r, l]).squared }
                total = total + w[start + r] * row
            }
        }
        return total
    }

    /// T4's fast enclosures, computed once.
    public func fastUnembeddingDissimilarity() -> FastUnembeddingDissimilarity? {
        cache.value("fastUnembedding") { FastUnembeddingDissimilarity(self) }
    }

    /// The pair's fast identifiability enclosures, computed once.
    public func fastIdentifiability() -> FastIdentifiability? {
        cache.value("fastIdentifiability") { FastIdentifiability(self) }
    }
}

/// A pair's d×d statistics as fast enclosures — the embedding moments and means under the
/// normalised weights, the centred unembeddings' Grams, d_logit² — from which T3 (in its
/// moment form), T4, T7 and T12 are decided without the rows: how a merge of shards'
/// partials certifies them.
public struct FastMomentStatistics: Sendable {
    public let moments: FastEmbeddingMoments
    public let meanFirst: [FastInterval]
    public let meanSecond: [FastInterval]
    public let grams: FastUnembeddingGrams
    public let logitDistanceSquared: FastInterval
    public let labels: Int

    public init(moments: FastEmbeddingMoments, meanFirst: [FastInterval], meanSecond: [FastInterval], grams: FastUnembeddingGrams,
                logitDistanceSquared: FastInterval, labels: Int) {
        (self.moments, self.meanFirst, self.meanSecond, self.grams) = (moments, meanFirst, meanSecond, grams)
        (self.logitDistanceSquared, self.labels) = (logitDistanceSquared, labels)
    }

    /// The statistics of the swapped pair (T7 runs with the student as model 1).
    public var swapped: FastMomentStatistics {
        FastMomentStatistics(moments: moments.swapped, meanFirst: meanSecond, meanSecond: meanFirst, grams: grams.swapped,
                             logitDistanceSquared: logitDistanceSquared, labels: labels)
    }

    /// T7's spectra, model 1 the student (call it on the measured pair's statistics swapped).
    public func t7Spectra(centred: Bool) -> FastT7Spectra? {
        FastT7Spectra(moments: moments, means: centred ? (meanFirst, meanSecond) : nil, s22: grams.second)
    }

    public var firstDimension: Int { meanFirst.count }
    public var secondDimension: Int { meanSecond.count }
}
