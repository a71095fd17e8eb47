import Numerics

/// T4: d_unemb(M₁←M₂)² ≤ d_logit² / σ_min(F̂₁)², F̂₁ = W^{1/2}F₁ of full column
/// rank. Proof: Proofs/T4-unembedding-bound.md.
public struct T4UnembeddingBound: PairStatement {
    public let id = StatementID.T4
    public let form = "d_unemb(M₁←M₂)² ≤ d_logit² / σ_min(W^{1/2}F₁)²"
    public let constantScale: Double

    public init(constantScale: Double = 1) { self.constantScale = constantScale }

    public func screen(_ pair: ModelPair) throws -> Verdict {
        let diversity = try pair.firstDiversity()
        guard diversity.embeddingsDiverse else {
            return .inapplicable(id, form, level: .double, "W^{1/2}F₁ does not have full column rank")
        }
        let sigma = diversity.sigmaMinEmbeddings
        let lhs = try pair.unembeddingDissimilaritySquared()
        let c = constantScale / (sigma * sigma)
        let rhs = c * (try pair.logitDistanceSquared())
        return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated,
                       lhs: lhs, rhs: rhs, constant: c, constantName: "\(constantScale)/σ_min(F̂₁)²")
    }

    public func certify(_ pair: ModelPair) throws -> Verdict {
        let exact = try ExactModelPair(pair)
        let gram = exact.first.embeddingMoment
        guard try SigmaCertificate.fullColumnRank(gram) else {
            return .inapplicable(id, form, level: .exact, "F₁ᵀWF₁ is exactly singular: F̂₁ lacks full column rank")
        }
        let lhs = try exact.unembeddingDissimilaritySquared()
        let numerator = SigmaCertificate.exact(constantScale) * exact.logitDistanceSquared
        let (outcome, why) = try SigmaCertificate.decide(lhs: lhs, numerator: numerator, gram: gram, matrixName: "F̂₁")
        let sigma = try pair.firstDiversity().sigmaMinEmbeddings
        let c = constantScale / (sigma * sigma)
        return Verdict(id: id, form: form, level: .exact, outcome: outcome, lhs: lhs.doubleValue,
                       rhs: c * exact.logitDistanceSquared.doubleValue, constant: c,
                       constantName: "\(constantScale)/σ_min(F̂₁)²", exactLHS: lhs.exactString, certificate: why)
    }
}
