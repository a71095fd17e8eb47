import Numerics

/// T4: d_unemb(M₁←M₂)² ≤ d_logit² / σ_min(F̂₁)², F̂₁ = W^{1/2}F₁ of full column
/// rank. Proof: Proofs/T4-unembedding-bound.md.
public struct T4UnembeddingBound: PairStatement {
    public let id = StatementID.T4
    public let form = "d_unemb(M₁←M₂)² ≤ d_logit² / σ_min(W^{1/2}F₁)²"
    public let constantScale: Double

    public init(constantScale: Double = 1) { self.constantScale = constantScale }

    package var bound: InverseSigmaBound {
        InverseSigmaBound(id: id, form: form, matrixName: "F̂₁", constantScale: constantScale,
                          fullRank: \.embeddingsDiverse, sigmaMin: \.sigmaMinEmbeddings,
                          lhs: { try $0.unembeddingDissimilaritySquared() },
                          exactLHS: { try $0.unembeddingDissimilaritySquared() },
                          gram: { $0.moments().m11 },
                          exactFullRank: { try $0.first.embeddingMomentIsPositiveDefinite() },
                          fast: { pair in pair.fastUnembeddingDissimilarity().map { ($0.squared, $0.sigmaMinSquaredUpper) } },
                          columnwiseFullRank: { $0.firstEmbeddingsFullRankColumnwise() })
    }

    public func screen(_ pair: ModelPair) throws -> Verdict { try bound.screen(pair) }
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? { try bound.inapplicability(pair) }
    public func certify(_ pair: ModelPair) throws -> Verdict { try bound.certify(pair) }
    public func fastCertify(_ pair: ModelPair) throws -> Verdict? { bound.fastCertify(pair) }

    /// From d×d statistics alone (a merge of shards): B by a verified solve on the enclosed
    /// moments, d_unemb² from the enclosed Grams. nil (escalate) when undecided.
    public func fastVerdict(_ s: FastMomentStatistics) -> Verdict? {
        guard let u = FastUnembeddingDissimilarity(moments: s.moments, grams: s.grams) else { return nil }
        return bound.fastVerdict(lhs: u.squared, sigmaSquaredUpper: u.sigmaMinSquaredUpper, logitDistanceSquared: s.logitDistanceSquared)
    }
}
