import Numerics

/// T3: if G̃₁ has full column rank, f₁ − A₁₂f₂ = G̃₁⁺(Λ̃₁ − Λ̃₂) row-wise, hence
/// d_rep(M₁←M₂)² ≤ d_logit² / σ_min(G̃₁)². Proof: Proofs/T3-embedding-bound.md.
///
/// `constantScale` multiplies the right side: 1 is the theorem; anything below 1
/// plants a false statement (used to show the checks can fail).
public struct T3EmbeddingBound: PairStatement {
    public let id = StatementID.T3
    public let form = "d_rep(M₁←M₂)² ≤ d_logit² / σ_min(G̃₁)²"
    public let constantScale: Double

    public init(constantScale: Double = 1) { self.constantScale = constantScale }

    package var bound: InverseSigmaBound {
        InverseSigmaBound(id: id, form: form, matrixName: "G̃₁", constantScale: constantScale,
                          fullRank: \.unembeddingsDiverse, sigmaMin: \.sigmaMinUnembeddings,
                          lhs: { try $0.representationDissimilaritySquared() },
                          exactLHS: { try $0.representationDissimilaritySquared() },
                          gram: { $0.first.centredUnembeddingGram },
                          exactFullRank: { try $0.first.centredUnembeddingsHaveFullRank() },
                          fast: { pair in
                              guard let i = pair.fastIdentifiability() else { return nil }
                              return (pair.fastMeanSquaredDifference(first: nil, second: i.map), i.sigmaMinSquaredUpper)
                          },
                          columnwiseFullRank: { (try? $0.firstUnembeddingsTransportable()) == true })
    }

    /// From d×d statistics alone (a merge of shards): A₁₂ from the enclosed Grams and d_rep²
    /// in its moment form tr M₁₁ − 2 tr(A₁₂M₂₁) + tr(A₁₂M₂₂A₁₂ᵀ), which cancels where d_rep² is
    /// far below tr M₁₁ (width ~ u·tr M₁₁) but needs no row. nil (escalate) when undecided.
    public func fastVerdict(_ s: FastMomentStatistics) -> Verdict? {
        guard let i = FastIdentifiability(grams: s.grams) else { return nil }
        return bound.fastVerdict(lhs: s.moments.residual(map: i.map), sigmaSquaredUpper: i.sigmaMinSquaredUpper,
                                 logitDistanceSquared: s.logitDistanceSquared)
    }

    public func screen(_ pair: ModelPair) throws -> Verdict { try bound.screen(pair) }
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? { try bound.inapplicability(pair) }
    public func certify(_ pair: ModelPair) throws -> Verdict { try bound.certify(pair) }
    public func fastCertify(_ pair: ModelPair) throws -> Verdict? { bound.fastCertify(pair) }
}
