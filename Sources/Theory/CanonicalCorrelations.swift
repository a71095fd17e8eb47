import Numerics

/// Canonical correlations between two weighted samples X (N×p) and Y (N×q),
/// computed exactly (in the sense of direct linear algebra, not iteration): with
/// X̂ = W^{1/2}(X − centre) and Ŷ likewise, orthonormal bases U_X, U_Y of their
/// column spaces come from thin SVDs (directions with σ ≤ max(N,p)·ε·σ₁ are
/// dropped), and ρ₁ ≥ ρ₂ ≥ … are the singular values of U_Xᵀ U_Y, clamped to
/// [0, 1]. `centred` subtracts the weighted means (covariances); otherwise second
/// moments are used. Cost O(N(p² + q²)).
public struct CanonicalCorrelations: Sendable {
    /// ρ₁ ≥ … ≥ ρ_m, m = min(p, q), zeros standing for directions lost to rank.
    public let values: [Double]
    /// 1 − ρᵢ² for i = 1…q (Y's dimension, padded with 1 for ρ = 0), computed
    /// without cancellation as the squared singular values of the residual
    /// U_Y − U_X(U_XᵀU_Y), smallest first. Accurate to about ε² absolutely, where
    /// 1 − ρ² from ρ would carry an error of about ε.
    public let oneMinusSquared: [Double]
    public let centred: Bool

    public init(_ x: Matrix, _ y: Matrix, weights: [Double], centred: Bool) throws {
        guard x.rows == y.rows, weights.count == x.rows else {
            throw ModelError.shapeMismatch("CCA needs the same N rows in both samples and one weight per row")
        }
        let root = weights.map { $0.squareRoot() }
        func basis(_ m: Matrix) throws -> Matrix {
            let centredM = centred ? m.subtractingFromRows(m.weightedRowMean(weights)) : m
            let svd = try SingularValueDecomposition(centredM.scalingRows(by: root))
            let top = svd.singularValues.first ?? 0
            let tol = Matrix.rankTolerance(rows: m.rows, columns: m.columns, largest: top)
            let keep = svd.singularValues.filter { $0 > tol && top > 0 }.count
            return svd.u.leadingColumns(keep)
        }
        do {
            let ux = try basis(x), uy = try basis(y)
            let s = ux.columns == 0 || uy.columns == 0 ? [] : try ux.multiplied(by: uy, transposeSelf: true).singularValues()
            let m = min(x.columns, y.columns)
            values = (0..<m).map { $0 < s.count ? min(max(s[$0], 0), 1) : 0 }
            let residual = ux.columns == 0 ? uy : uy - ux.multiplied(by: ux.multiplied(by: uy, transposeSelf: true))
            let r = uy.columns == 0 ? [] : try residual.singularValues().reversed().map { min($0 * $0, 1) }
            oneMinusSquared = (0..<y.columns).map { $0 < r.count ? r[$0] : 1 }
        } catch let e as NumericsError { throw ModelError.numerics(e) }
        self.centred = centred
    }

    /// m_CCA, the mean canonical correlation (1 = linearly related).
    public var mean: Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }
}

extension ModelPair {
    /// Canonical correlations between the embeddings f₁ and f₂, weighted by w.
    public func embeddingCorrelations(centred: Bool) throws -> CanonicalCorrelations {
        try CanonicalCorrelations(first.embeddings, second.embeddings, weights: weights, centred: centred)
    }

    /// Canonical correlations between the unembeddings g₁ and g₂ over labels,
    /// uniformly weighted.
    public func unembeddingCorrelations(centred: Bool) throws -> CanonicalCorrelations {
        let k = first.labelCount
        return try CanonicalCorrelations(first.unembeddings, second.unembeddings,
                                         weights: Array(repeating: 1 / Double(k), count: k), centred: centred)
    }
}
