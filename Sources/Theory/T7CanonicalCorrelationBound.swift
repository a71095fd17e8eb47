import Numerics

/// T7 (Proofs/T7-canonical-correlations.md). Model 1 is the student (embeddings
/// f₁), model 2 the teacher. R = min_M E_x‖Λ̃₂(x) − M f₁(x)‖² (with an intercept
/// in the centred version) satisfies
///   Σ_{i≤d₂} (1 − ρᵢ²) μᵢ ≤ R ≤ d_logit²,
/// ρ the canonical correlations of f₁, f₂ (padded with zeros to d₂), μ the top d₂
/// eigenvalues of E_x Λ̃₂Λ̃₂ᵀ (covariance when centred). `.corollary`:
///   1 − mean ρᵢ² ≤ d_logit² / (d₂ μ_{d₂}).
public struct T7CanonicalCorrelationBound: PairStatement {
    public enum Form: String, Sendable, CaseIterable { case traceBound, corollary }

    public let id = StatementID.T7
    public let variant: Form
    public let centred: Bool
    public let constantScale: Double

    public init(_ variant: Form = .traceBound, centred: Bool = false, constantScale: Double = 1) {
        self.variant = variant
        self.centred = centred
        self.constantScale = constantScale
    }

    public var form: String {
        let kind = centred ? " (centred)" : " (uncentred)"
        return (variant == .traceBound ? "Σ(1 − ρᵢ²)μᵢ ≤ R ≤ d_logit²" : "1 − mean ρᵢ² ≤ d_logit²/(d₂ μ_{d₂})") + kind
    }

    /// The double-precision ingredients.
    public struct Terms: Sendable {
        /// 1 − ρᵢ² for i = 1…d₂ (ρ decreasing), computed without cancellation.
        public let oneMinusRhoSquared: [Double]
        public let mu: [Double]
        public let residual: Double
        public let logitDistanceSquared: Double
        public var traceBound: Double { zip(oneMinusRhoSquared, mu).reduce(0) { $0 + $1.0 * $1.1 } }
        /// 1 − mean ρᵢ².
        public var oneMinusMeanRhoSquared: Double {
            oneMinusRhoSquared.reduce(0, +) / Double(oneMinusRhoSquared.count)
        }
    }

    /// The double-precision ingredients, memoised per pair and centring.
    public func terms(_ pair: ModelPair) throws -> Terms {
        try pair.cache.value("T7terms.\(centred)") { try computeTerms(pair) }
    }

    func computeTerms(_ pair: ModelPair) throws -> Terms {
        if pair.routes == .largeScale || Double(pair.first.inputCount) * Double(pair.first.labelCount) > Double(1 << 24) {
            return try momentTerms(pair)
        }
        let d2 = pair.second.dimension
        let w = pair.weights, root = pair.first.sqrtWeights
        let cca = try pair.embeddingCorrelations(centred: centred)
        let q = try pair.embeddingComplement(centred: centred)
        let teacher = pair.centredLogits(ofFirst: false)
        let t = centred ? WeightedCentring(teacher, weights: w, rowFactors: root).centred : teacher.scalingRows(by: root)
        // t = F̂₂G̃₂ᵀ lies in the span of the teacher's orthonormal basis U₂ (kept by the
        // CCA), so its singular values are those of the small U₂ᵀt; and R is the part
        // of t outside the student's span U₁: ‖t − U₁(U₁ᵀt)‖².
        let s = try ModelError.wrapping { try cca.basisY.multiplied(by: t, transposeSelf: true).singularValues() }
        let mu = (0..<d2).map { $0 < s.count ? s[$0] * s[$0] : 0 }
        let u1 = cca.basisX
        let residual = u1.columns == 0 ? t.frobeniusNormSquared
            : (t - u1.multiplied(by: u1.multiplied(by: t, transposeSelf: true))).frobeniusNormSquared
        return Terms(oneMinusRhoSquared: q, mu: mu, residual: residual,
                     logitDistanceSquared: try pair.logitDistanceSquared())
    }

    /// The same terms from d×d moments, for N·k beyond 2²⁴ where the N×k teacher
    /// logits would not fit: with F̂ᵢ = W^{1/2}Fᵢ (centred when `centred`),
    /// Mᵢⱼ = F̂ᵢᵀF̂ⱼ and S₂₂ = G̃₂ᵀG̃₂, E_x Λ̃₂Λ̃₂ᵀ = G̃₂M₂₂G̃₂ᵀ has the nonzero
    /// eigenvalues of M₂₂^{1/2}S₂₂M₂₂^{1/2}, and R = tr(S₂₂(M₂₂ − M₂₁M₁₁⁺M₁₂)).
    /// R cancels when it is far below tr(S₂₂M₂₂) (error ~ε·tr(S₂₂M₂₂)).
    package func momentTerms(_ pair: ModelPair) throws -> Terms {
        let w = pair.weights, root = pair.first.sqrtWeights
        let q = try pair.embeddingComplement(centred: centred)
        func hat(_ f: Matrix) -> Matrix { centred ? WeightedCentring(f, weights: w, rowFactors: root).centred : f.scalingRows(by: root) }
        let f1 = hat(pair.first.embeddings), f2 = hat(pair.second.embeddings)
        let m11 = f1.gram(), m22 = f2.gram(), m12 = f1.multiplied(by: f2, transposeSelf: true)
        let s22 = pair.usesGramRoutes ? try pair.unembeddingGrams().s22 : pair.centredUnembeddings.second.gram()
        return try ModelError.wrapping {
            try Self.momentTerms(oneMinusRhoSquared: q, m11Inverse: try m11.pseudoInverse(), m22: m22,
                                 m22Eigen: try SymmetricEigendecomposition(m22), m12: m12, s22: s22,
                                 logitDistanceSquared: try pair.logitDistanceSquared())
        }
    }

    /// The terms from the moments, given M₁₁⁺ and the decomposition of M₂₂.
    package static func momentTerms(oneMinusRhoSquared q: [Double], m11Inverse: Matrix, m22: Matrix, m22Eigen e: SymmetricEigendecomposition,
                                    m12: Matrix, s22: Matrix, logitDistanceSquared: Double) throws -> Terms {
        momentTerms(oneMinusRhoSquared: q, spectrum: try momentSpectrum(m11Inverse: m11Inverse, m22: m22, m22Eigen: e, m12: m12, s22: s22),
                    logitDistanceSquared: logitDistanceSquared)
    }

    /// μ and R from the moments: the part of `momentTerms` that decomposes and multiplies, which
    /// needs neither 1 − ρ² nor d_logit² (merged shard statistics form it beside the canonical
    /// correlations).
    package static func momentSpectrum(m11Inverse: Matrix, m22: Matrix, m22Eigen e: SymmetricEigendecomposition,
                                       m12: Matrix, s22: Matrix) throws -> (mu: [Double], residual: Double) {
        try ModelError.wrapping {
            let rootM22 = e.eigenvectors.scalingColumns(by: e.eigenvalues.map { max($0, 0).squareRoot() })
                .multiplied(by: e.eigenvectors, transposeOther: true)
            let mu = try SymmetricEigendecomposition.eigenvalues(of: rootM22.multiplied(by: s22).multiplied(by: rootM22))
                .map { max($0, 0) }
            let explained = m12.multiplied(by: m11Inverse.multiplied(by: m12), transposeSelf: true)
            let unexplained = m22 - explained
            var residual = 0.0
            for t in s22.storage.indices { residual += s22.storage[t] * unexplained.storage[t] }
            return (mu, max(residual, 0))
        }
    }

    /// The terms from `momentSpectrum`'s μ and R.
    package static func momentTerms(oneMinusRhoSquared q: [Double], spectrum: (mu: [Double], residual: Double),
                                    logitDistanceSquared: Double) -> Terms {
        Terms(oneMinusRhoSquared: q, mu: spectrum.mu, residual: spectrum.residual, logitDistanceSquared: logitDistanceSquared)
    }

    /// The corollary's μ_{d₂} can be 0 in Double where it is positive exactly (the teacher's
    /// inputs heavy and nearly parallel: "inapplicable" on nine of an attack's pairs whose bound the
    /// certified spectra decide). Within the exact level's size that is asked exactly (μ_{d₂} > 0 ⇔
    /// G̃₂ of full column rank and M₂₂ positive definite): not decided then.
    public func screen(_ pair: ModelPair) throws -> Verdict {
        let v = verdict(try terms(pair), secondDimension: pair.second.dimension, labels: pair.first.labelCount)
        guard variant == .corollary, v.outcome == .inapplicable, pair.second.dimension < pair.first.labelCount,
              pair.exactMomentsAffordable, let exact = try? pair.exact(),
              (try? exact.second.centredUnembeddingsHaveFullRank()) == true,
              (try? exact.second.embeddingMomentIsPositiveDefinite(centred: centred)) == true else { return v }
        return .undecided(id, form, level: .double,
                          "μ_{d₂} is 0 in Double, but it is positive exactly (G̃₂ of full column rank, the teacher's second moment positive definite): not decided by the screen")
    }

    /// The trace bound has no hypothesis its screen could find failing. The corollary needs
    /// μ_{d₂} > 0: where the fast enclosure (`fastT7Spectra`, which the fast certificate uses
    /// next anyway) proves it, without the Double terms (canonical correlations and SVDs, 5 % of
    /// `verify`, used for nothing else when certifying); elsewhere the screen answers.
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? {
        guard variant == .corollary else { return nil }
        if let last = pair.fastT7Spectra(centred: centred)?.mu.last, last.lo > 0 { return nil }
        return try screenedInapplicability(pair)
    }

    /// The screen's verdict from its terms (also used by merged shard statistics).
    package func verdict(_ t: Terms, secondDimension: Int, labels: Int) -> Verdict {
        let d2 = Double(secondDimension)
        switch variant {
        case .traceBound:
            let lhs = t.traceBound, rhs = constantScale * t.logitDistanceSquared
            return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated, lhs: lhs,
                           rhs: rhs, constant: constantScale, constantName: "R = \(t.residual)")
        case .corollary:
            // The centred logits span at most k − 1 directions, so μ_{d₂} = 0 exactly when d₂ ≥ k,
            // whatever rounding leaves in its Double value (10⁻³⁰ at k = 2, d₂ = 2 gave "holds").
            guard let last = t.mu.last, last > 0, secondDimension < labels else {
                return .inapplicable(id, form, level: .double, "μ_{d₂} = 0: the teacher's centred logits span fewer than d₂ directions")
            }
            let lhs = t.oneMinusMeanRhoSquared
            let c = constantScale / (d2 * last)
            let rhs = c * t.logitDistanceSquared
            return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated, lhs: lhs,
                           rhs: rhs, constant: c, constantName: "\(constantScale)/(d₂ μ_{d₂})")
        }
    }

    /// Both sides from fast enclosures (`FastT7Spectra`): "holds" needs R's and the left
    /// side's upper ends below d_logit²'s lower end (times the scale); "violated" either
    /// link crossing certainly. nil (escalate) otherwise.
    /// Where they overlap, the upper ends are tightened from the rows (near-equal models, whose
    /// 1 − ρᵢ² and R the moments' Schur complement loses) before escalating.
    public func fastCertify(_ pair: ModelPair) throws -> Verdict? {
        guard let spectra = pair.fastT7Spectra(centred: centred), let d = pair.fastLogitDistanceSquared() else { return nil }
        if let v = fastVerdict(spectra, logitDistanceSquared: d) { return v }
        return pair.fastT7SpectraFromRows(centred: centred).flatMap { fastVerdict($0, logitDistanceSquared: d) }
    }

    /// From d×d statistics alone (a merge of shards), model 1 the student (pass the measured
    /// pair's statistics swapped). nil (escalate) when undecided.
    public func fastVerdict(_ s: FastMomentStatistics) -> Verdict? {
        s.t7Spectra(centred: centred).flatMap { fastVerdict($0, logitDistanceSquared: s.logitDistanceSquared) }
    }

    /// From spectra already enclosed (the two forms without centring share one).
    public func fastVerdict(_ spectra: FastT7Spectra, logitDistanceSquared d: FastInterval) -> Verdict? {
        let scale = FastInterval(constantScale)
        if spectra.residual.lo > d.hi {
            return Verdict.fast(id, form, lhs: spectra.residual, rhs: d, constant: 1, constantName: "R against d_logit² (fast enclosures)")
        }
        guard spectra.residual.hi <= d.lo else { return nil }
        switch variant {
        case .traceBound:
            let lhs = FastInterval.sum(zip(spectra.oneMinusRhoSquared, spectra.mu).map { $0 * $1 })
            return Verdict.fast(id, form, lhs: lhs, rhs: scale * d, constant: constantScale,
                                constantName: "R ∈ \(spectra.residual) (fast enclosures)")
        case .corollary:
            guard let last = spectra.mu.last, last.lo > 0 else { return nil }
            let d2 = FastInterval(Double(spectra.mu.count))
            let lhs = FastInterval.sum(spectra.oneMinusRhoSquared) / d2
            return Verdict.fast(id, form, lhs: lhs, rhs: scale * d / (d2 * last), constant: constantScale / (Double(spectra.mu.count) * last.midpoint),
                                constantName: "\(constantScale)/(d₂ μ_{d₂}), μ_{d₂} ∈ \(last)")
        }
    }

    /// The equality case of exact orbit pairs, decided from d×d exact moments without the
    /// certified spectra: when d_logit² = 0 exactly, d₁ = d₂, both (centred, if `centred`)
    /// second moments M₁₁, M₂₂ are positive definite, and E‖f₂ − Af₁‖² = tr M₂₂ − tr(M₂₁M₁₁⁻¹M₁₂)
    /// is exactly 0 (A = M₂₁M₁₁⁻¹), then f₂ = Af₁ on the sample with A invertible (M₂₂ = AM₁₁Aᵀ),
    /// so f₁ and f₂ span the same space, every canonical correlation is 1 and Σ(1 − ρᵢ²)μᵢ = 0;
    /// R = 0 (M = G̃₂A fits Λ̃₂ = G̃₂f₂ exactly). Both forms then hold with equality: 0 ≤ s·0.
    /// The corollary's right side d_logit²/(d₂μ_{d₂}) needs μ_{d₂} > 0, i.e. G̃₂ of full column
    /// rank (with M₂₂ positive definite), checked exactly. nil when any condition fails: the
    /// spectra decide.
    func certifyExactOrbit(_ pair: ModelPair) throws -> Verdict? {
        guard pair.first.dimension == pair.second.dimension, pair.exactLogitDistanceSquared().isZero else { return nil }
        let exact = try pair.exact()
        let m = exact.moments(centred: centred)
        guard try exact.first.embeddingMomentIsPositiveDefinite(centred: centred),
              try exact.second.embeddingMomentIsPositiveDefinite(centred: centred) else { return nil }
        let residual = m.m22.trace - (try m.m21.multiplied(by: try m.m11.solve(m.m21.transposed))).trace
        guard residual.isZero else { return nil }
        if variant == .corollary {
            guard try exact.second.centredUnembeddingsHaveFullRank() else { return nil }
        }
        return Verdict(id: id, form: form, level: .exact, outcome: .holds, lhs: 0, rhs: 0, constant: constantScale,
                       constantName: "\(constantScale)", exactLHS: "0",
                       certificate: "exact orbit pair: d_logit² = 0, f₂ = Af₁ with E‖f₂ − Af₁‖² = 0 and both second moments positive definite, all exactly; so every ρᵢ = 1, "
                           + (variant == .traceBound ? "Σ(1−ρ²)μ = R = d_logit² = 0" : "1 − mean ρ² = 0 = d_logit²/(d₂μ_{d₂}) with μ_{d₂} > 0 (G̃₂ of full column rank)"))
    }

    /// Certified with `CertifiedT7Spectra`: exact R and d_logit², and certified inertia
    /// brackets on 1 − ρᵢ² and μᵢ (exact values when d₂ = 1); exact orbit pairs first by
    /// `certifyExactOrbit`.
    /// Above 16 dimensions the brackets of 1 − ρᵢ² = 0 stop at 10⁻¹³ rather than count exactly
    /// at 0 (78 s at d = 64); where that leaves the bound undecided (a student that is the
    /// teacher's map up to rounding, d_logit² near 10⁻²³), they are formed again counting 0 exactly.
    public func certify(_ pair: ModelPair) throws -> Verdict {
        if let orbit = try certifyExactOrbit(pair) { return orbit }
        guard let spectra = try pair.certifiedT7Spectra(centred: centred) else {
            return .inapplicable(id, form, level: .exact, "an embedding second-moment matrix is exactly singular")
        }
        let first = try verdict(spectra, pair)
        // Only where some 1 − ρᵢ² was left in [0, 10⁻¹³] (not a counts-only bracket, whose zeros are
        // [0, 0]); a failure of the second attempt leaves the first verdict.
        let leftAboveZero = zip(spectra.qLower, spectra.qUpper).contains { $0.0.isZero && $0.1.sign > 0 }
        guard first.outcome == .undecided, pair.second.dimension > EigenvalueBrackets.cheapExactSize, leftAboveZero,
              let exactAtZero = try? pair.certifiedT7Spectra(centred: centred, exactAtZero: true),
              let second = try? verdict(exactAtZero, pair) else { return first }
        return second
    }

    /// The certified verdict from one set of spectra.
    func verdict(_ spectra: CertifiedT7Spectra, _ pair: ModelPair) throws -> Verdict {
        let dl2 = pair.exactLogitDistanceSquared()
        let scale = SigmaCertificate.exact(constantScale)
        switch variant {
        case .traceBound:
            let (lower, upper) = spectra.pairedSum()
            let outcome: Outcome
            if spectra.residual > dl2 || lower > scale * dl2 { outcome = .violated }
            else if upper <= scale * dl2 { outcome = .holds }
            else { outcome = .undecided }
            return Verdict(id: id, form: form, level: spectra.level, outcome: outcome, lhs: upper.doubleAbove,
                           rhs: (scale * dl2).doubleValue, constant: constantScale,
                           constantName: "R = \(spectra.residual.doubleValue) (exact)",
                           exactLHS: lower == upper ? lower.exactString : nil,
                           certificate: "Σ(1−ρ²)μ ∈ [\(lower.doubleBelow), \(upper.doubleAbove)] by certified inertia brackets; R and d_logit² exact",
                           lhsLog10: upper.log10Magnitude, rhsLog10: (scale * dl2).log10Magnitude)
        case .corollary:
            let d2 = Rational(spectra.teacherDimension)
            guard let muLower = spectra.muLower.last, let muUpper = spectra.muUpper.last, muLower.sign > 0 else {
                // μ_{d₂} > 0 exactly iff G̃₂ has full column rank (M₂₂ is positive definite here):
                // then only its bracket reaches 0, and the bound is undecided, not inapplicable.
                if (try? pair.exact().second.centredUnembeddingsHaveFullRank()) == true {
                    return Verdict(id: id, form: form, level: spectra.level, outcome: .undecided, lhs: .nan, rhs: .nan, constant: .nan,
                                   constantName: "", certificate: "μ_{d₂} > 0 exactly (G̃₂ of full column rank), but its certified bracket reaches 0")
                }
                return .inapplicable(id, form, level: .exact, "μ_{d₂} = 0 exactly: G̃₂ lacks full column rank")
            }
            let meanQUpper = Rational.sum(spectra.qUpper.map { Rational.min($0, .one) }) / d2
            let meanQLower = Rational.sum(spectra.qLower.map { Rational.max($0, .zero) }) / d2
            let outcome: Outcome
            if meanQUpper * d2 * muUpper <= scale * dl2 { outcome = .holds }
            else if meanQLower * d2 * muLower > scale * dl2 { outcome = .violated }
            else { outcome = .undecided }
            return Verdict(id: id, form: form, level: spectra.level, outcome: outcome, lhs: meanQUpper.doubleAbove,
                           rhs: (scale * dl2 / (d2 * muUpper)).doubleBelow, constant: constantScale / (d2 * muUpper).doubleValue,
                           constantName: "\(constantScale)/(d₂ μ_{d₂}), μ_{d₂} ≤ \(muUpper.reportString) (certified)",
                           certificate: "1 − mean ρ² ∈ [\(meanQLower.doubleBelow), \(meanQUpper.doubleAbove)], μ_{d₂} ∈ [\(muLower.doubleBelow), \(muUpper.doubleAbove)] by certified inertia; d_logit² exact",
                           lhsLog10: meanQUpper.log10Magnitude, rhsLog10: (scale * dl2 / (d2 * muUpper)).log10Magnitude)
        }
    }
}
