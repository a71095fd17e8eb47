import Numerics

/// A `SoftmaxModel` with every entry converted exactly to a rational (each finite
/// Double is a dyadic rational), so that quantities that are rational functions
/// of the model (centred logits, d_logit², d_rep², r(p, S), moments) can be
/// computed with no rounding.
///
/// The weights are the exact rationals of the stored Doubles divided by their
/// exact sum; uniform weights are therefore exactly 1/N.
public struct ExactModel: Sendable {
    public let embeddings: RationalMatrix
    public let unembeddings: RationalMatrix
    public let weights: [Rational]
    /// G̃ = G − 1 ḡᵀ, exactly.
    public let centredUnembeddings: RationalMatrix
    /// Λ = F Gᵀ, exactly.
    public let logits: RationalMatrix

    /// Λ̃ = F G̃ᵀ = ΛC, exactly (computed on each use: the exact checks work from the
    /// raw logits, where centring folds into row formulas).
    public var centredLogits: RationalMatrix {
        let k = Rational(logits.columns)
        let rowMeans = (0..<logits.rows).map { i in Rational.sum((0..<logits.columns).map { logits[i, $0] }) / k }
        return RationalMatrix(rows: logits.rows, columns: logits.columns) { logits[$0, $1] - rowMeans[$0] }
    }

    public init(_ model: SoftmaxModel) throws {
        let f: RationalMatrix, g: RationalMatrix, logits: RationalMatrix
        do {
            f = try RationalMatrix(exactly: model.embeddings)
            g = try RationalMatrix(exactly: model.unembeddings)
            // Λ = FGᵀ on the Int128 dyadic fast path, then Λ̃ = ΛC by exact row centring.
            logits = try RationalMatrix.exactProduct(model.embeddings, transposing: model.unembeddings)
        } catch let e as NumericsError { throw ModelError.numerics(e) }
        let raw = model.weights.map { Rational(exactly: $0)! }
        let total = Rational.sum(raw)
        self.init(embeddings: f, unembeddings: g, weights: raw.map { $0 / total }, logits: logits)
    }

    /// From exact parts; `logits` = FGᵀ when already known (else computed).
    init(embeddings: RationalMatrix, unembeddings: RationalMatrix, weights: [Rational], logits: RationalMatrix? = nil) {
        self.embeddings = embeddings
        self.unembeddings = unembeddings
        self.weights = weights
        let k = unembeddings.rows, d = unembeddings.columns
        let mean = (0..<d).map { j in Rational.sum((0..<k).map { unembeddings[$0, j] }) / Rational(k) }
        centredUnembeddings = RationalMatrix(rows: k, columns: d) { unembeddings[$0, $1] - mean[$1] }
        self.logits = logits ?? (try! embeddings.multiplied(by: unembeddings.transposed))
    }

    public var labelCount: Int { unembeddings.rows }
    public var dimension: Int { embeddings.columns }
    public var inputCount: Int { embeddings.rows }


    /// Fᵀ W F, exactly; by the dyadic product (FᵀF)/N when the weights are uniform.
    public var embeddingMoment: RationalMatrix {
        if let first = weights.first, weights.allSatisfy({ $0 == first }), let doubles = exactDoubles(embeddings) {
            let t = doubles.transposed
            return first * (try! RationalMatrix.exactProduct(t, transposing: t))
        }
        return embeddings.weightedGram(weights)
    }

    /// The model with its embeddings replaced by F − 1 f̄ᵀ (weighted mean f̄).
    public var centringEmbeddings: ExactModel {
        let mean = (0..<dimension).map { j in Rational.sum((0..<inputCount).map { weights[$0] * embeddings[$0, j] }) }
        let f = RationalMatrix(rows: inputCount, columns: dimension) { embeddings[$0, $1] - mean[$1] }
        return ExactModel(embeddings: f, unembeddings: unembeddings, weights: weights)
    }
}

/// Two exact models compared: each method is the exact twin of a `ModelPair`
/// method of the same name.
public struct ExactModelPair: Sendable {
    public let first: ExactModel
    public let second: ExactModel

    /// The pair's memoised exact twin (see `ModelPair.exact()`).
    public init(_ pair: ModelPair) throws {
        self = try pair.exact()
    }

    init(exactly pair: ModelPair) throws {
        try self.init(ExactModel(pair.first), ExactModel(pair.second))
    }

    public init(_ first: ExactModel, _ second: ExactModel) {
        self.first = first
        self.second = second
    }

    /// Λ̃₁ − Λ̃₂, exactly (N×k; computed on each use).
    public var logitDifference: RationalMatrix { first.centredLogits - second.centredLogits }

    public var weights: [Rational] { first.weights }

    /// d_logit², exactly: Σᵢ wᵢ (Σ_y cᵢ_y² − (Σ_y cᵢ_y)²/k) on the raw difference
    /// c = Λ₁ − Λ₂ (‖Cc‖² = ‖c‖² − (1ᵀc)²/k), so no centred logits are formed.
    public var logitDistanceSquared: Rational {
        let c = first.logits - second.logits, k = Rational(c.columns)
        return Rational.sum((0..<c.rows).map { i in
            let row = (0..<c.columns).map { c[i, $0] }
            let total = Rational.sum(row)
            return weights[i] * (Rational.sum(row.map(\.squared)) - total.squared / k)
        })
    }

    /// A₁₂ = G̃₁⁺G̃₂ = (G̃₁ᵀG̃₁)⁻¹G̃₁ᵀG̃₂, exactly; throws `singular` when G̃₁ is not of
    /// full column rank (exactly).
    public func identifiabilityMap() throws -> RationalMatrix {
        try Self.leastSquaresMap(first.centredUnembeddings, second.centredUnembeddings, weights: nil)
    }

    /// (Xᵀ D X)⁻¹ Xᵀ D Y with D = diag(weights) (identity when nil): the exact
    /// least-squares map from Y's columns to X's.
    static func leastSquaresMap(_ x: RationalMatrix, _ y: RationalMatrix, weights: [Rational]?) throws -> RationalMatrix {
        let xt = RationalMatrix(rows: x.columns, columns: x.rows) { i, j in weights.map { $0[j] * x[j, i] } ?? x[j, i] }
        do {
            return try xt.multiplied(by: x).solve(xt.multiplied(by: y))
        } catch let e as NumericsError { throw ModelError.numerics(e) }
    }

    /// E_x ‖f₁(x) − A f₂(x)‖² for a given map A (d₁×d₂), exactly.
    public func representationResidual(map a: RationalMatrix) -> Rational {
        let mapped = try! second.embeddings.multiplied(by: a.transposed)
        return (first.embeddings - mapped).weightedFrobeniusSquared(weights)
    }

    /// d_rep(M₁←M₂)² with A₁₂ = G̃₁⁺G̃₂, exactly.
    public func representationDissimilaritySquared() throws -> Rational {
        representationResidual(map: try identifiabilityMap())
    }

    /// d_unemb(M₁←M₂)² = ‖G̃₁ − G̃₂Bᵀ‖² with B = (F₁ᵀWF₁)⁻¹F₁ᵀWF₂, exactly.
    public func unembeddingDissimilaritySquared() throws -> Rational {
        let b = try Self.leastSquaresMap(first.embeddings, second.embeddings, weights: weights)
        let mapped = try! second.centredUnembeddings.multiplied(by: b.transposed)
        return (first.centredUnembeddings - mapped).weightedFrobeniusSquared()
    }

    /// L_j(p, S) exactly.
    static func pivotMatrix(_ g: RationalMatrix, _ ps: PivotSubset) -> RationalMatrix {
        RationalMatrix(rows: ps.subset.count, columns: g.columns) { i, j in g[ps.subset[i], j] - g[ps.pivot, j] }
    }

    /// L₁(p, S) exactly.
    public func firstPivotMatrix(_ ps: PivotSubset) -> RationalMatrix {
        Self.pivotMatrix(first.unembeddings, ps)
    }

    /// A_{p,S} = L₁⁻¹L₂ exactly; throws `singular` when L₁ is singular.
    public func pivotMap(_ ps: PivotSubset) throws -> RationalMatrix {
        do {
            return try firstPivotMatrix(ps).solve(Self.pivotMatrix(second.unembeddings, ps))
        } catch let e as NumericsError { throw ModelError.numerics(e) }
    }

    /// r(p, S) = E_x ‖f₁ − A_{p,S} f₂‖², exactly.
    public func pivotResidual(_ ps: PivotSubset) throws -> Rational {
        representationResidual(map: try pivotMap(ps))
    }

    /// E_x Σ_{l∈S} (δ_l − δ_p)² with δ = Λ̃₁ − Λ̃₂, exactly: T5's first right side
    /// before the factor σ_min(L₁)⁻². Centring cancels in δ_l − δ_p, so it is read
    /// from the raw logits.
    public func pivotLogitSum(_ ps: PivotSubset) -> Rational {
        let a = first.logits, b = second.logits
        return Rational.sum((0..<first.inputCount).map { i in
            let pivot = a[i, ps.pivot] - b[i, ps.pivot]
            return weights[i] * Rational.sum(ps.subset.map { (a[i, $0] - b[i, $0] - pivot).squared })
        })
    }
}

/// The matrix as Doubles when every entry is exactly a Double (as for a model's own
/// F and G), else nil.
func exactDoubles(_ m: RationalMatrix) -> Matrix? {
    var out = Matrix(rows: m.rows, columns: m.columns)
    for t in m.entries.indices {
        let x = m.entries[t].doubleValue
        guard x.isFinite, Rational(exactly: x)! == m.entries[t] else { return nil }
        out.storage[t] = x
    }
    return out
}
