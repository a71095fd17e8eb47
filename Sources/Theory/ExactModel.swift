import Numerics

/// A `SoftmaxModel` with every entry converted exactly to a rational (each finite
/// Double is a dyadic rational), so that quantities that are rational functions
/// of the model (centred logits, d_logit², d_rep², r(p, S), moments) can be
/// computed with no rounding.
///
/// The weights are the exact rationals of the given Doubles (`SoftmaxModel.givenWeights`)
/// divided by their exact sum; uniform weights are therefore exactly 1/N.
public struct ExactModel: Sendable {
    /// F, exactly (converted on first use: the exact checks take F's moments from
    /// the source Doubles on integers, so most never need F as rationals).
    public var embeddings: RationalMatrix {
        memo.value("F") { try! RationalMatrix(exactly: source!.embeddings) }
    }
    public let unembeddings: RationalMatrix
    public let weights: [Rational]
    /// G̃ = G − 1 ḡᵀ, exactly.
    public let centredUnembeddings: RationalMatrix
    /// The Double model this one converts, when there is one: exact products of its
    /// entries run on integers (`RationalMatrix.exactProduct`) instead of rationals.
    public let source: SoftmaxModel?
    let memo = PairCache()

    /// Λ = F Gᵀ, exactly (formed on first use).
    public var logits: RationalMatrix {
        memo.value("logits") {
            if let source, let product = try? RationalMatrix.exactProduct(source.embeddings, transposing: source.unembeddings) {
                return product
            }
            return try! embeddings.multiplied(by: unembeddings.transposed)
        }
    }

    /// Λ̃ = F G̃ᵀ = ΛC, exactly (computed on each use: the exact checks work from the
    /// raw logits, where centring folds into row formulas).
    public var centredLogits: RationalMatrix {
        let k = Rational(logits.columns)
        let rowMeans = (0..<logits.rows).map { i in Rational.sum((0..<logits.columns).map { logits[i, $0] }) / k }
        return RationalMatrix(rows: logits.rows, columns: logits.columns) { logits[$0, $1] - rowMeans[$0] }
    }

    public init(_ model: SoftmaxModel) throws {
        let g: RationalMatrix
        do {
            try model.embeddings.requireFinite("exact model")
            g = try RationalMatrix(exactly: model.unembeddings)
        } catch let e as NumericsError { throw ModelError.numerics(e) }
        let weights: [Rational]
        if let w0 = model.givenWeights.first, model.givenWeights.allSatisfy({ $0 == w0 }) {
            // Equal weights are each exactly 1/N (one rational, shared: rationals are immutable).
            weights = Array(repeating: Rational(1, model.weights.count), count: model.weights.count)
        } else {
            let raw = model.givenWeights.map { Rational(exactly: $0)! }
            let total = Rational.sum(raw)
            weights = raw.map { $0 / total }
        }
        self.init(embeddings: nil, unembeddings: g, weights: weights, source: model)
    }

    /// From exact parts; `source` is the Double model they convert, if any (then
    /// `embeddings` may be nil: it is converted from the source when first needed).
    init(embeddings: RationalMatrix?, unembeddings: RationalMatrix, weights: [Rational], source: SoftmaxModel? = nil) {
        precondition(embeddings != nil || source != nil, "ExactModel: F or its source is needed")
        if let embeddings { memo.seed("F", embeddings) }
        self.unembeddings = unembeddings
        self.weights = weights
        self.source = source
        let k = unembeddings.rows, d = unembeddings.columns
        let mean = (0..<d).map { j in Rational.sum((0..<k).map { unembeddings[$0, j] }) / Rational(k) }
        centredUnembeddings = RationalMatrix(rows: k, columns: d) { unembeddings[$0, $1] - mean[$1] }
    }

    public var labelCount: Int { unembeddings.rows }
    public var dimension: Int { unembeddings.columns }
    public var inputCount: Int { weights.count }


    /// Fᵀ W F, exactly: on integers from the source Doubles when there is one.
    public var embeddingMoment: RationalMatrix {
        memo.value("moment") {
            if let source, let m = try? RationalMatrix.exactWeightedCrossProduct(source.embeddings, source.embeddings,
                                                                                 weights: source.givenWeights) {
                return m
            }
            return embeddings.weightedGram(weights)
        }
    }

    /// G̃ᵀG̃, exactly, formed once: the identifiability map's normal matrix and the rank tests
    /// of T2, T3, T7, T10 and T11 share it.
    public var centredUnembeddingGram: RationalMatrix {
        memo.value("gram") { centredUnembeddings.weightedGram() }
    }

    /// Whether G̃ has full column rank, exactly (G̃ᵀG̃ positive definite), decided once: G̃ = CG with
    /// C = I − 11ᵀ/k, so rank G̃ = rank[1 G] − 1 (C removes the direction 1, which lies in [1 G]'s
    /// column space): from `ModularRank` where it proves the rank (d + 1, or k < d + 1 labels), else
    /// by exact minors.
    public func centredUnembeddingsHaveFullRank() throws -> Bool {
        try memo.value("gramPositiveDefinite") {
            if let g = source?.unembeddings, let rank = Self.provenRank([g], ones: true, rows: Array(0..<g.rows)) { return rank == g.columns + 1 }
            return try centredUnembeddingGram.isPositiveDefinite()
        }
    }

    /// Whether the embedding second moment FᵀWF (the covariance Fᵀ(W − wwᵀ)F when `centred`, the
    /// weights summing to 1 exactly) is positive definite, decided once. It is XᵀX for X = W^{1/2}F
    /// (QW^{1/2}F, Q = I − √w√wᵀ), of rank rank F (rank[1 F] − 1) on the inputs of positive weight:
    /// `ModularRank` proves that rank where it reaches min(N, d + c) (full rank, or fewer inputs than
    /// columns: milliseconds, where exact minors of 48×48 heavy moments took 30 s), else exact
    /// minors decide.
    public func embeddingMomentIsPositiveDefinite(centred: Bool = false) throws -> Bool {
        try memo.value("momentPositiveDefinite.\(centred)") {
            if let source, let rank = Self.provenRank([source.embeddings], ones: centred,
                                                      rows: source.givenWeights.indices.filter { source.givenWeights[$0] > 0 }) {
                return rank == dimension + (centred ? 1 : 0)
            }
            let mean = embeddingMean
            return try (centred ? embeddingMoment - (try mean.multiplied(by: mean.transposed)) : embeddingMoment).isPositiveDefinite()
        }
    }

    /// The rank over ℚ of the blocks side by side (a column of ones first when `ones`) on `rows`,
    /// where `ModularRank` proves it (nil where its bound stays below min(rows, columns)).
    static func provenRank(_ blocks: [Matrix], ones: Bool, rows: [Int]) -> Int? {
        let first = ones ? 1 : 0
        let starts = blocks.reduce(into: [first]) { $0.append($0.last! + $1.columns) }
        guard let r = ModularRank.lowerBound(rows: rows.count, columns: starts.last!, entry: { i, j in
            guard j >= first else { return 1 }
            let b = starts.lastIndex { $0 <= j }!
            return blocks[b][rows[i], j - starts[b]]
        }), r.exact else { return nil }
        return r.rank
    }

    /// E_w f = Fᵀw, exactly (d×1).
    var embeddingMean: RationalMatrix {
        memo.value("mean") {
            if let source, let m = try? RationalMatrix.exactWeightedCrossProduct(
                source.embeddings, Matrix(rows: inputCount, columns: 1, repeating: 1), weights: source.givenWeights) {
                return m
            }
            return RationalMatrix(rows: dimension, columns: 1) { j, _ in
                Rational.sum((0..<inputCount).map { weights[$0] * embeddings[$0, j] })
            }
        }
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
        memo = PairCache()
    }

    /// Shared by copies, so a pair's moments are formed once.
    let memo: PairCache

    /// The embeddings' second moments (covariances when `centred`), exactly, formed once.
    public func moments(centred: Bool = false) -> ExactMoments {
        memo.value("moments.\(centred)") {
            // The covariances from the raw moments (formed once for both).
            if centred { return moments(centred: false).centred(first.embeddingMean, second.embeddingMean) }
            let m21: RationalMatrix
            if let a = second.source, let b = first.source,
               let fast = try? RationalMatrix.exactWeightedCrossProduct(a.embeddings, b.embeddings, weights: b.givenWeights) {
                m21 = fast
            } else {
                m21 = RationalMatrix(rows: second.dimension, columns: first.dimension) { i, j in
                    Rational.sum((0..<first.inputCount).map { weights[$0] * second.embeddings[$0, i] * first.embeddings[$0, j] })
                }
            }
            return ExactMoments(m11: first.embeddingMoment, m22: second.embeddingMoment, m21: m21)
        }
    }

    /// Λ̃₁ − Λ̃₂, exactly (N×k; computed on each use).
    public var logitDifference: RationalMatrix { first.centredLogits - second.centredLogits }

    public var weights: [Rational] { first.weights }

    /// d_logit², exactly: Σᵢ wᵢ (Σ_y cᵢ_y² − (Σ_y cᵢ_y)²/k) on the raw difference
    /// c = Λ₁ − Λ₂ (‖Cc‖² = ‖c‖² − (1ᵀc)²/k), so no centred logits are formed; once per pair.
    /// (A `ModelPair`'s `exactLogitDistanceSquared()` is the same value by its dyadic route.)
    public var logitDistanceSquared: Rational {
        memo.value("logitDistanceSquared") {
            let c = first.logits - second.logits, k = Rational(c.columns)
            return Rational.sum((0..<c.rows).map { i in
                let row = (0..<c.columns).map { c[i, $0] }
                let total = Rational.sum(row)
                return weights[i] * (Rational.sum(row.map(\.squared)) - total.squared / k)
            })
        }
    }

    /// A₁₂ = G̃₁⁺G̃₂ = (G̃₁ᵀG̃₁)⁻¹G̃₁ᵀG̃₂, exactly; throws `singular` when G̃₁ is not of
    /// full column rank (exactly).
    /// Formed once per pair (T2, T3, T5, T10 and T11 ask for it).
    public func identifiabilityMap() throws -> RationalMatrix {
        try memo.value("A12") {
            do {
                return try first.centredUnembeddingGram.solve(first.centredUnembeddings.transposed.multiplied(by: second.centredUnembeddings))
            } catch let e as NumericsError { throw ModelError.numerics(e) }
        }
    }

    /// E_x ‖f₁(x) − A f₂(x)‖² for a given map A (d₁×d₂), exactly, from the moments.
    public func representationResidual(map a: RationalMatrix) -> Rational {
        moments().residual(map: a)
    }

    /// d_rep(M₁←M₂)² with A₁₂ = G̃₁⁺G̃₂, exactly.
    public func representationDissimilaritySquared() throws -> Rational {
        try memo.value("dRepSquared") { representationResidual(map: try identifiabilityMap()) }
    }

    /// d_unemb(M₁←M₂)² = ‖G̃₁ − G̃₂Bᵀ‖² with B = (F₁ᵀWF₁)⁻¹F₁ᵀWF₂ = M₁₁⁻¹M₁₂, exactly.
    public func unembeddingDissimilaritySquared() throws -> Rational {
        let m = moments()
        let b = try ModelError.wrapping { try m.m11.solve(m.m21.transposed) }
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

/// A pair's embedding second moments, exactly: M₁₁ = E f₁f₁ᵀ, M₂₂ = E f₂f₂ᵀ and
/// M₂₁ = E f₂f₁ᵀ (d₂×d₁), or the covariances. Every least-squares quantity of the
/// exact checks (d_rep, d_unemb, r(p, S), T7's R and spectra) needs only these, so
/// the N inputs are visited once, on integers, and the rest is d×d rational algebra.
public struct ExactMoments: Sendable {
    public let m11: RationalMatrix
    public let m22: RationalMatrix
    public let m21: RationalMatrix

    /// The covariances, given the means μ₁ = E f₁ and μ₂ = E f₂ (columns).
    func centred(_ mean1: RationalMatrix, _ mean2: RationalMatrix) -> ExactMoments {
        ExactMoments(m11: m11 - (try! mean1.multiplied(by: mean1.transposed)),
                     m22: m22 - (try! mean2.multiplied(by: mean2.transposed)),
                     m21: m21 - (try! mean2.multiplied(by: mean1.transposed)))
    }

    /// E‖f₁ − A f₂‖² = tr M₁₁ − 2 tr(A M₂₁) + tr(A M₂₂ Aᵀ), exactly (A is d₁×d₂); each trace
    /// one integer sum, without the products.
    public func residual(map a: RationalMatrix) -> Rational {
        m11.trace - Rational(2) * RationalMatrix.traceOfProduct(a, m21) + RationalMatrix.traceOfCongruence(a, m22)
    }
}
