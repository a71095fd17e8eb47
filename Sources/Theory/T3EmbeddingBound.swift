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

    public func screen(_ pair: ModelPair) throws -> Verdict {
        let diversity = try pair.firstDiversity()
        guard diversity.unembeddingsDiverse else {
            return .inapplicable(id, form, level: .double, "G̃₁ does not have full column rank")
        }
        let sigma = diversity.sigmaMinUnembeddings
        let lhs = try pair.representationDissimilaritySquared()
        let c = constantScale / (sigma * sigma)
        let rhs = c * (try pair.logitDistanceSquared())
        return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated,
                       lhs: lhs, rhs: rhs, constant: c, constantName: "\(constantScale)/σ_min(G̃₁)²")
    }

    public func certify(_ pair: ModelPair) throws -> Verdict {
        let exact = try ExactModelPair(pair)
        let gram = exact.first.centredUnembeddings.weightedGram()
        guard try SigmaCertificate.fullColumnRank(gram) else {
            return .inapplicable(id, form, level: .exact, "G̃₁ᵀG̃₁ is exactly singular: G̃₁ lacks full column rank")
        }
        let lhs = try exact.representationDissimilaritySquared()
        let numerator = SigmaCertificate.exact(constantScale) * exact.logitDistanceSquared
        let (outcome, why) = try SigmaCertificate.decide(lhs: lhs, numerator: numerator, gram: gram, matrixName: "G̃₁")
        let sigma = try pair.firstDiversity().sigmaMinUnembeddings
        let c = constantScale / (sigma * sigma)
        return Verdict(id: id, form: form, level: .exact, outcome: outcome, lhs: lhs.doubleValue,
                       rhs: c * exact.logitDistanceSquared.doubleValue, constant: c,
                       constantName: "\(constantScale)/σ_min(G̃₁)²", exactLHS: lhs.exactString, certificate: why)
    }
}
