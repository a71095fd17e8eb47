import Numerics

/// T10 (THEORY.md §7), the half a harness can check case by case: the measures built
/// from the identifiability class do not see the second model's orbit. For a dyadic
/// map A (coordinates permuted cyclically, signs alternated, scaled by 2^{e_j} with
/// e = 3, −2, 1, 0, 3, −2, …; its inverse is dyadic too, so F₂Aᵀ and G₂A⁻¹ are exact in
/// Doubles and M₂·A has exactly M₂'s conditionals):
///   d_rep(M₁←M₂·A)² = d_rep(M₁←M₂)²   and   m_CCA(f₁, A f₂) = m_CCA(f₁, f₂).
/// The d_rep equality is certified exactly (A₁₂ picks up A⁻¹ and f₂ picks up A, so the
/// residual is the same rational); m_CCA is compared in double precision (relative
/// 1e−9; canonical correlations are invariant under invertible maps). The certificate
/// also records the other half of T10, the witness that linear CKA is *not*
/// invariant: its exact CKA² before and after the map.
///
/// lhs = |Δ d_rep²| + |Δ m_CCA|, rhs = 1e−9 · (d_rep² + 1) at the screen; certified:
/// lhs = |Δ d_rep²| exactly, rhs = 0.
public struct T10ClassInvariance: PairStatement {
    public let id = StatementID.T10
    public let form = "d_rep(M₁←M₂·A)² = d_rep(M₁←M₂)², m_CCA(f₁, A f₂) = m_CCA(f₁, f₂)"

    /// The map applied to the second model: the dyadic orbit move unless a test plants
    /// another (a map outside the orbit must be reported as a certified violation).
    let image: @Sendable (SoftmaxModel) throws -> SoftmaxModel

    public init(image: @escaping @Sendable (SoftmaxModel) throws -> SoftmaxModel = T10ClassInvariance.orbitImage) {
        self.image = image
    }

    /// The dyadic orbit image of the second model (exact in Doubles barring overflow).
    public static func orbitImage(_ model: SoftmaxModel) throws -> SoftmaxModel {
        let d = model.dimension
        let exponents = [3, -2, 1, 0]
        let scale = (0..<d).map { j -> Double in
            let e = exponents[j % exponents.count]
            let power = e >= 0 ? Double(1 << e) : 1 / Double(1 << -e)
            return j % 2 == 0 ? power : -power
        }
        // (F Aᵀ)[i, j] = scale_j · F[i, (j + 1) mod d]; (G A⁻¹)[y, j] = G[y, (j + 1) mod d] / scale_j.
        let f = Matrix(rows: model.inputCount, columns: d) { i, j in scale[j] * model.embeddings[i, (j + 1) % d] }
        let g = Matrix(rows: model.labelCount, columns: d) { y, j in model.unembeddings[y, (j + 1) % d] / scale[j] }
        return try SoftmaxModel(embeddings: f, unembeddings: g, weights: model.givenWeights)
    }

    func mapped(_ pair: ModelPair) throws -> ModelPair {
        try ModelPair(pair.first, image(pair.second))
    }

    public func screen(_ pair: ModelPair) throws -> Verdict {
        guard try pair.firstDiversity().sigmaMinUnembeddings > 0 else {
            return .inapplicable(id, form, level: .double, "G̃₁ does not have full column rank: d_rep is undefined")
        }
        let image = try mapped(pair)
        let (before, after) = (try pair.representationDissimilaritySquared(), try image.representationDissimilaritySquared())
        let (mcca, mccaImage) = (try pair.embeddingCorrelations(centred: true).mean, try image.embeddingCorrelations(centred: true).mean)
        let lhs = abs(before - after) + abs(mcca - mccaImage)
        let rhs = 1e-9 * (before + 1)
        return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated, lhs: lhs, rhs: rhs,
                       constant: 1e-9, constantName: "relative tolerance")
    }

    /// Where the exact level is affordable `certify` decides G̃₁'s rank itself, exactly: no screen
    /// (its Double d_rep² and m_CCA of both pairs fed nothing certified).
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? {
        pair.exactLevelAffordable ? nil : try screenedInapplicability(pair)
    }

    public func certify(_ pair: ModelPair) throws -> Verdict {
        let exact = try pair.exact()
        guard try exact.first.centredUnembeddingsHaveFullRank() else {
            return .inapplicable(id, form, level: .exact, "G̃₁ is exactly rank-deficient: d_rep is undefined")
        }
        // The image pair shares the first model's exact twin (its logits, moments and Gram).
        let image = ExactModelPair(exact.first, try ExactModel(try self.image(pair.second)))
        let difference = try exact.representationDissimilaritySquared() - image.representationDissimilaritySquared()
        let gap = difference.sign < 0 ? Rational.zero - difference : difference
        var witness = ""
        if let before = exact.certifiedLinearCKA()?.squared, let after = image.certifiedLinearCKA()?.squared {
            witness = before == after ? "; linear CKA² unchanged by this map (\(before.doubleValue))"
                : "; linear CKA² moved from \(before.doubleValue) to \(after.doubleValue) (exact): CKA is not a class function"
        }
        return Verdict(id: id, form: form, level: .exact, outcome: gap.isZero ? .holds : .violated,
                       lhs: gap.doubleValue, rhs: 0, constant: 0, constantName: "exact equality",
                       exactLHS: gap.exactString, certificate: "d_rep² before and after the map compared exactly" + witness,
                       lhsLog10: gap.log10Magnitude, rhsLog10: nil)
    }
}
