import Numerics

/// Two models on the same sample and label set, ready to be compared:
/// equal N, equal k, equal weights to max(1e−12, 8Nε) relative (d₁ ≠ d₂ is allowed); the
/// pair then uses the first model's weights for both.
public struct ModelPair: Sendable {
    public let first: SoftmaxModel
    public let second: SoftmaxModel
    /// Quantities computed once per pair and shared by every statement.
    let cache = PairCache()
    /// Which algorithms evaluate the pair's quantities.
    public let routes: Routes

    /// `automatic` picks the Gram/moment routes (GramRoutes.swift,
    /// `T7CanonicalCorrelationBound.momentTerms`) only at language-model scale;
    /// `largeScale` forces them, so tests can compare both on small pairs.
    public enum Routes: Sendable { case automatic, largeScale }

    /// Two models are compared on the same N inputs and k labels (checked from files' headers too,
    /// before their arrays are read).
    public static func requireComparable(inputs: (Int, Int), labels: (Int, Int)) throws {
        guard inputs.0 == inputs.1 else { throw ModelError.pairMismatch("N = \(inputs.0) inputs vs N = \(inputs.1)") }
        guard labels.0 == labels.1 else { throw ModelError.pairMismatch("k = \(labels.0) labels vs k = \(labels.1)") }
    }

    /// Two models' weights divided by their sums (`SoftmaxModel.weights`) agree input by input.
    /// Normalisation divides by a sum of N terms, whose rounding grows like N·ε: the tolerance
    /// grows with it, so equal weights never differ by N's rounding.
    static func requireAgreeingWeights(_ w1: [Double], _ w2: [Double]) throws {
        let tolerance = max(1e-12, 8 * Double(w1.count) * Double.ulpOfOne)
        if let i = w1.indices.first(where: { abs(w1[$0] - w2[$0]) > tolerance * max(w1[$0], w2[$0]) }) {
            throw ModelError.pairMismatch("input weights differ: divided by their sums, input \(i) has \(w1[i]) in the first model and \(w2[i]) in the second (they must agree to within \(tolerance) relative)")
        }
    }

    /// Two files' raw weights (nil: uniform) over all N inputs agree as a pair requires: a
    /// `--shard` run checks the whole files, not only its own rows, so that every shard of a
    /// pair with mismatched weights is refused alike.
    public static func requireAgreeingWeights(raw w1: [Double]?, _ w2: [Double]?, inputs n: Int) throws {
        try requireAgreeingWeights(SoftmaxModel.normalised(w1, count: n), SoftmaxModel.normalised(w2, count: n))
    }

    public init(_ first: SoftmaxModel, _ second: SoftmaxModel, routes: Routes = .automatic) throws {
        self.routes = routes
        try Self.requireComparable(inputs: (first.inputCount, second.inputCount), labels: (first.labelCount, second.labelCount))
        try Self.requireAgreeingWeights(first.weights, second.weights)
        self.first = first
        // One weight vector for the pair: the second model takes the first's
        // weights bit for bit, so d(M₁,M₂) and d(M₂,M₁) weigh inputs identically (the given
        // weights too, which the certified levels divide).
        self.second = first.weights == second.weights && first.givenWeights == second.givenWeights ? second
            : try SoftmaxModel(embeddings: second.embeddings, unembeddings: second.unembeddings, weightsOf: first)
    }

    /// The pair in the other order. Quantities already computed that the swap
    /// only relabels (the logit statistics, G̃ᵢ, their Grams) are handed over.
    public var swapped: ModelPair {
        let other = try! ModelPair(second, first, routes: routes)
        if let s = cache.peek("logitStatistics", as: LogitStatistics.self) { other.cache.seed("logitStatistics", s.swapped) }
        if let g = cache.peek("centredG", as: (first: Matrix, second: Matrix).self) {
            other.cache.seed("centredG", (first: g.second, second: g.first))
        }
        if let g = cache.peek("unembeddingGrams", as: UnembeddingGrams.self) { other.cache.seed("unembeddingGrams", g.swapped) }
        for centred in [false, true] {
            if let c = cache.peek("cca.\(centred)", as: CanonicalCorrelations.self) { other.cache.seed("cca.\(centred)", c.swapped) }
        }
        seedSwappedFastEnclosures(other)
        other.inheritWithholding(from: self)
        return other
    }

    public var weights: [Double] { first.weights }

    /// The exact (rational) twin of this pair, computed once.
    public func exact() throws -> ExactModelPair {
        try cache.value("exact") { try ExactModelPair(exactly: self) }
    }

    /// The size N·k·(d₁ + d₂) up to which the exact and MPFR levels are run without being
    /// asked (`measure`'s automatic certification; shortcuts that form exact logits).
    public static let exactSizeLimit = 2e6

    /// N·k·(d₁ + d₂), the size `exactSizeLimit` bounds.
    public var exactLevelSize: Double {
        Double(first.inputCount) * Double(first.labelCount) * Double(first.dimension + second.dimension)
    }

    /// Whether the pair is within `exactSizeLimit` and its exact level is not withheld
    /// (`withholdExactLevel`): the shortcuts that form exact logits ask this.
    public var exactLevelAffordable: Bool { exactLevelSize <= Self.exactSizeLimit && !exactLevelWithheld }

    /// The width d₁ + d₂ up to which the exact level's d×d rational work (the embeddings' moments,
    /// least-squares maps, Grams and their solves: d_rep, d_unemb, T3–T5, T7, T11, T12) runs
    /// without being asked. It grows faster than (d₁ + d₂)³, which N·k·(d₁ + d₂) does not see at
    /// small k: at N = 1 000, k = 2 (stop 66) d₁ = d₂ = 50 took 1.6 s, 100 took 19 s, 200 did not
    /// finish in 300 s, and 500 ran for minutes on d_unemb alone. The exact logits (T6, d_logit²)
    /// need no such work.
    public static let exactWidthLimit = 100

    /// d₁ + d₂ ≤ `exactWidthLimit`.
    public var withinExactWidth: Bool { first.dimension + second.dimension <= Self.exactWidthLimit }

    /// `exactLevelAffordable`, and the exact level's d×d rational work not withheld
    /// (`withholdExactMoments`): the shortcuts that form that work ask this.
    public var exactMomentsAffordable: Bool { exactLevelAffordable && !exactMomentsWithheld }

    /// Whether `withholdExactMoments` was called on this pair (or the pair it was swapped or balanced from).
    public var exactMomentsWithheld: Bool { cache.peek("exactMomentsWithheld", as: Bool.self) ?? false }

    /// Forms none of the exact level's d×d rational work on this pair, its swaps and its balanced
    /// pair from now on (the exact logits still form): `measure --certify auto` beyond
    /// `exactWidthLimit`. `verify` and `--certify always` do not call it.
    public func withholdExactMoments() { cache.seed("exactMomentsWithheld", true) }

    /// This pair withholds what `other` withholds (`withholdExactLevel`, `withholdExactMoments`): a
    /// pair made from it (swapped, balanced) inherits them.
    public func inheritWithholding(from other: ModelPair) {
        if other.exactLevelWithheld { withholdExactLevel() }
        if other.exactMomentsWithheld { withholdExactMoments() }
    }

    /// Whether `withholdExactLevel` was called on this pair (or the pair it was swapped or balanced from).
    public var exactLevelWithheld: Bool { cache.peek("exactLevelWithheld", as: Bool.self) ?? false }

    /// Forms no exact level on this pair, its swaps and its balanced pair from now on, whatever its
    /// size: `measure` where the exact and MPFR levels would not fit in memory (the exact logits of
    /// an orbit pair at N = k = 1 000, d = 1 had formed under a limit that denied them).
    public func withholdExactLevel() { cache.seed("exactLevelWithheld", true) }

    /// d_logit², exactly, computed once: on GMP integers from the Doubles
    /// (`ExactLogitDistance`).
    public func exactLogitDistanceSquared() -> Rational {
        cache.value("exactLogitDistance") {
            ExactLogitDistance.squared(exactLogits(ofFirst: true), exactLogits(ofFirst: false), weights: first.givenWeights)
        }
    }

    /// E_x Σ_{l∈S}(δ_l − δ_p)² exactly (T5's subset sum), on integers from the
    /// exact logits.
    public func exactPivotLogitSum(_ ps: PivotSubset) -> Rational {
        ExactLogitDistance.pivotSum(exactLogits(ofFirst: true), exactLogits(ofFirst: false), weights: first.givenWeights,
                                    pivot: ps.pivot, subset: ps.subset)
    }

    /// The first or second model's logits FGᵀ, exactly, computed once.
    public func exactLogits(ofFirst: Bool) -> ExactLogitDistance.Logits {
        cache.value(ofFirst ? "exactLogits1" : "exactLogits2") { (ofFirst ? first : second).exactLogits }
    }

    /// Diversity of the first and second model, computed once each.
    public func firstDiversity() throws -> Diversity { try cache.value("diversity1") { try diversity(ofFirst: true) } }
    public func secondDiversity() throws -> Diversity { try cache.value("diversity2") { try diversity(ofFirst: false) } }
}
