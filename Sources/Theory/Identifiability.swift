import Numerics

/// The orbit action and the identifiability class (THEORY.md §2).
extension SoftmaxModel {
    /// M·(A, c) = (F Aᵀ, G A⁻¹ + 1cᵀ) for invertible A (d×d) and c ∈ R^d. Every
    /// member of the orbit has exactly the same conditionals. Throws `singular`
    /// when A is not invertible.
    public func acted(by a: Matrix, shift c: [Double]) throws -> SoftmaxModel {
        guard a.rows == dimension, a.columns == dimension, c.count == dimension else {
            throw ModelError.shapeMismatch("orbit action needs A \(dimension)×\(dimension) and c of length \(dimension)")
        }
        let inverse: Matrix
        do { inverse = try a.inverse() } catch let e as NumericsError { throw ModelError.numerics(e) }
        let f = embeddings.multiplied(by: a, transposeOther: true)
        let g = unembeddings.multiplied(by: inverse).subtractingFromRows(c.map { -$0 })
        return try SoftmaxModel(embeddings: f, unembeddings: g, weights: weights)
    }

    /// The singular values that diversity rests on.
    public func diversity() throws -> Diversity {
        let sf = try weightedEmbeddings.singularValues()
        let sg = try centredUnembeddings.singularValues()
        return Diversity(dimension: dimension, labelCount: labelCount,
                         embeddingSingularValues: sf, unembeddingSingularValues: sg)
    }

    /// A canonical representative of the identifiability class: from the thin SVD
    /// W^{1/2} Λ̃ = U Σ Vᵀ, F_c = W^{-1/2} U_d Σ_d and G̃_c = V_d, with each column's
    /// sign fixed so that its largest-magnitude entry of V is positive. Two diverse
    /// models with equal conditionals have equal canonical representatives (up to
    /// rounding) unless Σ has repeated singular values, where the basis is not unique.
    public func canonicalRepresentative() throws -> SoftmaxModel {
        let svd = try SingularValueDecomposition(centredLogits.scalingRows(by: sqrtWeights))
        let d = dimension
        var v = svd.v.leadingColumns(min(d, svd.v.columns))
        var u = svd.u.leadingColumns(v.columns).scalingColumns(by: Array(svd.singularValues.prefix(v.columns)))
        for j in 0..<v.columns {
            let column = v.column(j)
            let top = column.indices.max { abs(column[$0]) < abs(column[$1]) }!
            if column[top] < 0 {
                for i in 0..<v.rows { v[i, j] = -v[i, j] }
                for i in 0..<u.rows { u[i, j] = -u[i, j] }
            }
        }
        let f = u.scalingRows(by: sqrtWeights.map { 1 / $0 })
        return try SoftmaxModel(embeddings: f, unembeddings: v, weights: weights)
    }
}

/// Diversity (THEORY.md §2): rank(W^{1/2}F) = d and rank(G̃) = d, judged with the
/// default rank tolerance of `Matrix.rankTolerance`. Needs k ≥ d + 1, since G̃ has
/// rank at most k − 1.
public struct Diversity: Sendable {
    public let dimension: Int
    public let labelCount: Int
    public let embeddingSingularValues: [Double]
    public let unembeddingSingularValues: [Double]

    package init(dimension: Int, labelCount: Int, embeddingSingularValues: [Double], unembeddingSingularValues: [Double]) {
        self.dimension = dimension
        self.labelCount = labelCount
        self.embeddingSingularValues = embeddingSingularValues
        self.unembeddingSingularValues = unembeddingSingularValues
    }

    /// σ_min(W^{1/2}F) (0 when N < d).
    public var sigmaMinEmbeddings: Double {
        embeddingSingularValues.count < dimension ? 0 : embeddingSingularValues.last ?? 0
    }

    /// σ_min(G̃) (0 when k < d).
    public var sigmaMinUnembeddings: Double {
        unembeddingSingularValues.count < dimension ? 0 : unembeddingSingularValues.last ?? 0
    }

    /// Whether singular values `s` of a rows×d matrix, largest first, show full column rank d
    /// to the default rank tolerance (also the column-equilibrated tests of T3, T4 and T11).
    package static func fullRank(_ s: [Double], _ d: Int, rows: Int) -> Bool {
        guard s.count >= d, let top = s.first, top > 0 else { return false }
        return s[d - 1] > Matrix.rankTolerance(rows: rows, columns: d, largest: top)
    }

    public var embeddingsDiverse: Bool { Self.fullRank(embeddingSingularValues, dimension, rows: embeddingSingularValues.count) }
    public var unembeddingsDiverse: Bool { Self.fullRank(unembeddingSingularValues, dimension, rows: labelCount) }
    public var holds: Bool { embeddingsDiverse && unembeddingsDiverse }

    /// A sentence saying which condition fails, or nil when diversity holds.
    public var failure: String? {
        if labelCount < dimension + 1 {
            return "k = \(labelCount) labels cannot span d = \(dimension) centred directions (needs k ≥ d + 1)"
        }
        if !unembeddingsDiverse {
            return "centred unembeddings G̃ are rank-deficient (σ_min = \(sigmaMinUnembeddings))"
        }
        if !embeddingsDiverse {
            return "weighted embeddings W^{1/2}F are rank-deficient (σ_min = \(sigmaMinEmbeddings))"
        }
        return nil
    }
}

extension ModelPair {
    /// A₁₂ = G̃₁⁺ G̃₂ (d₁×d₂): the linear map the identifiability class fixes,
    /// computed from the unembeddings alone. If M₂ = M₁·(A, c) then A₁₂ = A⁻¹,
    /// and F₁ = F₂ A₁₂ᵀ.
    /// At language-model scale (`usesGramRoutes`) it is solved from the d×d Grams.
    public func identifiabilityMap() throws -> Matrix {
        try cache.value("A12") { try scaledIdentifiabilityMap().plain }
    }

    /// A₁₂ as a `ScaledMap` (`scaledLeastSquaresMap`), computed once per pair.
    package func scaledIdentifiabilityMap() throws -> ScaledMap {
        try cache.value("A12scaled") { try scaledLeastSquaresMap(reverse: false) }
    }

    /// Whether the two models lie in one identifiability class, to a relative
    /// tolerance: both diverse, equal d, and conditionals equal on the sample
    /// (d_logit ≤ tolerance · the centred logits' scale). See `ExactModelPair` for
    /// the exact decision.
    public func inSameClass(relativeTolerance: Double = 1e-10) throws -> Bool {
        guard first.dimension == second.dimension,
              try first.diversity().holds, try second.diversity().holds else { return false }
        let scale = max(centredLogits(ofFirst: true).scalingRows(by: first.sqrtWeights).frobeniusNormSquared, .leastNormalMagnitude)
        return try logitDistanceSquared() <= relativeTolerance * relativeTolerance * scale
    }
}
