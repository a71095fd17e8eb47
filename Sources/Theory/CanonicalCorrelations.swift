import Numerics

/// Canonical correlations between two weighted samples X (N×p) and Y (N×q),
/// computed exactly (in the sense of direct linear algebra, not iteration): with
/// X̂ = W^{1/2}(X − centre) and Ŷ likewise, orthonormal bases U_X, U_Y of their
/// column spaces, and ρ₁ ≥ ρ₂ ≥ … the singular values of U_Xᵀ U_Y, clamped to
/// [0, 1]. A basis comes from a Householder QR when R's diagonal shows full rank
/// (min |r_ii| > 10⁻⁸ max |r_ii|), otherwise from a thin SVD that drops
/// directions with σ ≤ max(N,p)·ε·max(σ₁, s): s = ‖W^{1/2}X‖_F uncentred, and centred the
/// scale its centring rounds at (`WeightedCentring.roundingScaleSquared`: about the centred
/// norm, in two passes around an offset). `centred` subtracts the weighted means
/// (covariances); otherwise second moments are used. Cost O(N(p² + q²)).
public struct CanonicalCorrelations: Sendable {
    /// ρ₁ ≥ … ≥ ρ_m, m = min(p, q), zeros standing for directions lost to rank.
    public let values: [Double]
    public let centred: Bool
    /// The orthonormal bases and C = U_XᵀU_Y, kept for the complements below.
    package let basisX: Matrix, basisY: Matrix, cross: Matrix

    /// 1 − ρᵢ² for i = 1…q (Y's dimension, padded with 1 for ρ = 0), computed
    /// without cancellation as the squared singular values of the residual
    /// U_Y − U_X(U_XᵀU_Y), smallest first. Accurate to about ε² absolutely, where
    /// 1 − ρ² from ρ would carry an error of about ε. O(N q²) per call.
    public var oneMinusSquared: [Double] {
        get throws { try Self.complement(basisX, basisY, cross) }
    }

    /// The same for X's side: i = 1…p, from U_X − U_Y(U_YᵀU_X).
    public var oneMinusSquaredX: [Double] {
        get throws { try Self.complement(basisY, basisX, cross.transposed) }
    }

    /// 1 − ρ² on `to`'s side, padded with 1 to its dimension.
    static func complement(_ from: Matrix, _ to: Matrix, _ cross: Matrix) throws -> [Double] {
        guard to.columns > 0 else { return [] }
        let residual = from.columns == 0 ? to : to - from.multiplied(by: cross)
        let r = try ModelError.wrapping { try residual.singularValues() }.reversed().map { min($0 * $0, 1) }
        return (0..<to.columns).map { $0 < r.count ? r[$0] : 1 }
    }

    public init(_ x: Matrix, _ y: Matrix, weights: [Double], centred: Bool) throws {
        guard x.rows == y.rows, weights.count == x.rows else {
            throw ModelError.shapeMismatch("CCA needs the same N rows in both samples and one weight per row")
        }
        let root = weights.map { $0.squareRoot() }
        @Sendable func basis(_ m: Matrix) throws -> Matrix {
            // Each column scaled by the power of two bringing its uncentred weighted norm into
            // [1, 2): exact, the column space unchanged, and Householder's Q the same bits where
            // the rank test passed anyway; but a column 2⁵⁰ smaller than the others (F's column
            // scaled, G's the other way: the same model) is measured against its own rounding,
            // not taken for rank deficiency (T7's μ_{d₂} read 0, m_CCA lost a correlation).
            var raw = m.scalingRows(by: root)
            let exponents = raw.columnEquilibration
            let (scaled, scale): (Matrix, Double)
            if centred {
                // Centred after the columns' powers of two (exact, so the same bits as centring
                // before them), in two passes where an offset needs them (`WeightedCentring`).
                // A column taken twice is then brought near norm 1 again by its spread, not by its
                // offset: spreads 10⁻¹ and 10⁻¹⁴ of their offsets are both resolved (this, not the
                // floor's scale, which stays near the equilibrated norm, is what resolves them).
                var centring = WeightedCentring(m.scalingColumns(byPowersOfTwo: exponents), weights: weights, rowFactors: root)
                let again = (0..<m.columns).map { j in centring.corrected[j] ? Matrix.equilibration(norms: [centring.spreadSquared[j].squareRoot()])[0] : 0 }
                centring.centred.scaleColumns(byPowersOfTwo: again)
                (scaled, scale) = (centring.centred, centring.roundingScale(afterColumnPowers: again))
            } else {
                raw.scaleColumns(byPowersOfTwo: exponents)
                (scaled, scale) = (raw, raw.frobeniusNorm)
            }
            // A direction of the centred data is resolved only above the scale its centring
            // rounds at: constant embeddings centre to rounding noise, which is no direction at
            // all (it was a basis of noise, ρ = 1). One pass rounded at the uncentred data's
            // scale, which dropped real variance around a large offset.
            let floor = Matrix.rankTolerance(rows: m.rows, columns: m.columns, largest: scale)
            if scaled.rows >= scaled.columns, scaled.columns > 0 {
                let qr = try QRDecomposition(scaled)
                let diagonal = (0..<scaled.columns).map { abs(qr.r[$0, $0]) }
                if let top = diagonal.max(), top > 0, diagonal.min()! > max(1e-8 * top, floor) { return qr.q }
            }
            let svd = try SingularValueDecomposition(scaled)
            let top = svd.singularValues.first ?? 0
            let tol = max(Matrix.rankTolerance(rows: m.rows, columns: m.columns, largest: top), floor)
            let keep = svd.singularValues.filter { $0 > tol && top > 0 }.count
            return svd.u.leadingColumns(keep)
        }
        do {
            // The two bases on two workers (each QR or SVD runs serial BLAS: the same values).
            let (ux, uy) = try BLASThreads.bothSides(flops: 4 * Double(x.rows) * Double(x.columns * x.columns + y.columns * y.columns)) {
                try basis($0 == 0 ? x : y)
            }
            let c = ux.multiplied(by: uy, transposeSelf: true)
            let s = ux.columns == 0 || uy.columns == 0 ? [] : try c.singularValues()
            let m = min(x.columns, y.columns)
            values = (0..<m).map { $0 < s.count ? min(max(s[$0], 0), 1) : 0 }
            (basisX, basisY, cross) = (ux, uy, c)
        } catch let e as NumericsError { throw ModelError.numerics(e) }
        self.centred = centred
    }

    private init(values: [Double], centred: Bool, basisX: Matrix, basisY: Matrix, cross: Matrix) {
        self.values = values
        self.centred = centred
        self.basisX = basisX
        self.basisY = basisY
        self.cross = cross
    }

    /// The correlations of (Y, X): the same ρ, the two sides exchanged.
    public var swapped: CanonicalCorrelations {
        CanonicalCorrelations(values: values, centred: centred, basisX: basisY, basisY: basisX, cross: cross.transposed)
    }

    /// m_CCA, the mean canonical correlation (1 = linearly related).
    public var mean: Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }
}

extension ModelPair {
    /// Canonical correlations between the embeddings f₁ and f₂, weighted by w.
    /// Computed once per pair and centring.
    public func embeddingCorrelations(centred: Bool) throws -> CanonicalCorrelations {
        try cache.value("cca.\(centred)") {
            try CanonicalCorrelations(first.embeddings, second.embeddings, weights: weights, centred: centred)
        }
    }

    /// `embeddingCorrelations(centred:)`'s 1 − ρ² on the second model's side (`oneMinusSquared`, an
    /// SVD of N×d₂), computed once per pair and centring.
    package func embeddingComplement(centred: Bool) throws -> [Double] {
        try cache.value("ccaComplement.\(centred)") { try embeddingCorrelations(centred: centred).oneMinusSquared }
    }

    /// Canonical correlations between the unembeddings g₁ and g₂ over labels,
    /// uniformly weighted.
    public func unembeddingCorrelations(centred: Bool) throws -> CanonicalCorrelations {
        let k = first.labelCount
        return try CanonicalCorrelations(first.unembeddings, second.unembeddings,
                                         weights: Array(repeating: 1 / Double(k), count: k), centred: centred)
    }
}

extension ExactModelPair {
    /// A certified enclosure of m_CCA between the two models' embeddings: the mean
    /// of ρ₁ … ρ_m, m = min(d₁, d₂), with each 1 − ρᵢ² bracketed by exact inertia
    /// counts of the rational pencil (`CertifiedT7Spectra`, from the exact weighted
    /// moments) and ρᵢ = √(1 − qᵢ) enclosed with outward rounding. nil when a
    /// moment matrix is exactly singular (m_CCA then depends on the rank convention).
    public func certifiedMeanCanonicalCorrelation(centred: Bool) throws -> Interval? {
        guard let spectra = try CertifiedT7Spectra(self, centred: centred) else { return nil }
        let m = min(first.dimension, second.dimension)
        guard m > 0 else { return nil }
        let rho = (0..<m).map { i in
            Interval(lower: (Interval(Rational.one - spectra.qUpper[i])).squareRoot.lower,
                     upper: (Interval(Rational.one - spectra.qLower[i])).squareRoot.upper)
        }
        return Interval.sum(rho) / Interval(Rational(m))
    }
}
