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

    public func terms(_ pair: ModelPair) throws -> Terms {
        let d2 = pair.second.dimension
        let w = pair.weights, root = pair.first.sqrtWeights
        let q = try CanonicalCorrelations(pair.first.embeddings, pair.second.embeddings, weights: w,
                                          centred: centred).oneMinusSquared
        var teacher = pair.second.centredLogits
        var student = pair.first.embeddings
        if centred {
            teacher = teacher.subtractingFromRows(teacher.weightedRowMean(w))
            student = student.subtractingFromRows(student.weightedRowMean(w))
        }
        let t = teacher.scalingRows(by: root)
        let s = try ModelError.wrapping { try t.singularValues() }
        let mu = (0..<d2).map { $0 < s.count ? s[$0] * s[$0] : 0 }
        let sHat = student.scalingRows(by: root)
        let fit = try ModelError.wrapping { try sHat.pseudoInverse() }.multiplied(by: t)
        let residual = (t - sHat.multiplied(by: fit)).frobeniusNormSquared
        return Terms(oneMinusRhoSquared: q, mu: mu, residual: residual,
                     logitDistanceSquared: try pair.logitDistanceSquared())
    }

    public func screen(_ pair: ModelPair) throws -> Verdict {
        let t = try terms(pair)
        let d2 = Double(pair.second.dimension)
        switch variant {
        case .traceBound:
            let lhs = t.traceBound, rhs = constantScale * t.logitDistanceSquared
            return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated, lhs: lhs,
                           rhs: rhs, constant: constantScale, constantName: "R = \(t.residual)")
        case .corollary:
            guard let last = t.mu.last, last > 0 else {
                return .inapplicable(id, form, level: .double, "μ_{d₂} = 0: the teacher's centred logits span fewer than d₂ directions")
            }
            let lhs = t.oneMinusMeanRhoSquared
            let c = constantScale / (d2 * last)
            let rhs = c * t.logitDistanceSquared
            return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated, lhs: lhs,
                           rhs: rhs, constant: c, constantName: "\(constantScale)/(d₂ μ_{d₂})")
        }
    }

    /// Exact moments: M₁₁ = E f₁f₁ᵀ, M₂₂ = E f₂f₂ᵀ, M₂₁ = E f₂f₁ᵀ (covariances when
    /// centred), T = G̃₂ᵀG̃₂. Then P = M₂₁M₁₁⁻¹M₁₂ gives #{ρ² > t} = inertia⁺(P − tM₂₂),
    /// #{μ > t} = inertia⁺(T − tM₂₂⁻¹), and R = tr(M₂₂T) − tr(PT), all exact.
    public func certify(_ pair: ModelPair) throws -> Verdict {
        let exact = try ExactModelPair(pair)
        let student = centred ? exact.first.centringEmbeddings : exact.first
        let teacher = centred ? exact.second.centringEmbeddings : exact.second
        let w = exact.weights
        let m11 = student.embeddingMoment, m22 = teacher.embeddingMoment
        let m21 = RationalMatrix(rows: teacher.dimension, columns: student.dimension) { i, j in
            Rational.sum((0..<student.inputCount).map { w[$0] * teacher.embeddings[$0, i] * student.embeddings[$0, j] })
        }
        let gt = teacher.centredUnembeddings
        let tMatrix = gt.weightedGram()
        guard let m11Inverse = try? m11.inverse(), let m22Inverse = try? m22.inverse() else {
            return .inapplicable(id, form, level: .exact, "an embedding second-moment matrix is exactly singular")
        }
        let p = try m21.multiplied(by: m11Inverse).multiplied(by: m21.transposed)
        let residual = try m22.multiplied(by: tMatrix).trace - p.multiplied(by: tMatrix).trace
        let dl2 = exact.logitDistanceSquared
        let screenTerms = try terms(pair)
        // q = 1 − ρ²: #{q > s} = inertia⁺((1 − s)M₂₂ − P); brackets in decreasing q.
        let qDecreasing = try EigenvalueBrackets(estimates: screenTerms.oneMinusRhoSquared.reversed(), floor: 1e-30,
                                                 trivialLower: .zero, trivialUpper: .one) {
            try ((Rational.one - $0) * m22 - p).symmetricInertia().positive
        }
        let qLower = Array(qDecreasing.lower.reversed()), qUpper = Array(qDecreasing.upper.reversed())
        let mu = try EigenvalueBrackets(estimates: screenTerms.mu, floor: 1e-30 * (screenTerms.mu.first ?? 1),
                                        trivialLower: .zero, trivialUpper: try m22.multiplied(by: tMatrix).trace) {
            try (tMatrix - $0 * m22Inverse).symmetricInertia().positive
        }
        let scale = SigmaCertificate.exact(constantScale)
        let clampLower = { (x: Rational) in Rational.max(x, .zero) }
        switch variant {
        case .traceBound:
            if teacher.dimension == 1 {
                let outcome: Outcome = residual <= scale * dl2 ? .holds : .violated
                return Verdict(id: id, form: form, level: .exact, outcome: outcome, lhs: residual.doubleValue,
                               rhs: (scale * dl2).doubleValue, constant: constantScale,
                               constantName: "R = \(residual.doubleValue) (exact)", exactLHS: residual.exactString,
                               certificate: "d₂ = 1: Σ(1−ρ²)μ = R exactly; compared with d_logit² in rationals")
            }
            let upper = Rational.sum((0..<qUpper.count).map { Rational.min(qUpper[$0], .one) * clampLower(mu.upper[$0]) })
            let lowerBound = Rational.sum((0..<qLower.count).map { clampLower(qLower[$0]) * clampLower(mu.lower[$0]) })
            let outcome: Outcome
            if residual > dl2 || lowerBound > scale * dl2 { outcome = .violated }
            else if upper <= scale * dl2 { outcome = .holds }
            else { outcome = .undecided }
            return Verdict(id: id, form: form, level: .exact, outcome: outcome, lhs: screenTerms.traceBound,
                           rhs: (scale * dl2).doubleValue, constant: constantScale,
                           constantName: "R = \(residual.doubleValue) (exact)", exactLHS: nil,
                           certificate: "Σ(1−ρ²)μ ∈ [\(lowerBound.doubleValue), \(upper.doubleValue)] from exact inertia brackets; R and d_logit² exact")
        case .corollary:
            let d2 = Rational(teacher.dimension)
            guard let muLast = mu.upper.last, let muLastLower = mu.lower.last, muLastLower.sign > 0 else {
                return .inapplicable(id, form, level: .exact, "μ_{d₂} not certified positive")
            }
            var oneMinusMeanUpper = Rational.sum(qUpper.map { Rational.min($0, .one) }) / d2
            var oneMinusMeanLower = Rational.sum(qLower.map(clampLower)) / d2
            var muUpper = muLast, muLower = muLastLower
            if teacher.dimension == 1 {
                // Exact: 1 − ρ² = (M₂₂ − P)/M₂₂ and μ = T·M₂₂.
                oneMinusMeanUpper = (m22[0, 0] - p[0, 0]) / m22[0, 0]
                oneMinusMeanLower = oneMinusMeanUpper
                muUpper = tMatrix[0, 0] * m22[0, 0]
                muLower = muUpper
            }
            let outcome: Outcome
            if oneMinusMeanUpper * d2 * muUpper <= scale * dl2 { outcome = .holds }
            else if oneMinusMeanLower * d2 * muLower > scale * dl2 { outcome = .violated }
            else { outcome = .undecided }
            let v = try screen(pair)
            return Verdict(id: id, form: form, level: .exact, outcome: outcome, lhs: v.lhs, rhs: v.rhs,
                           constant: v.constant, constantName: v.constantName,
                           certificate: "1 − mean ρ² ≤ \(oneMinusMeanUpper.doubleValue), μ_{d₂} ≤ \(muUpper.doubleValue) by exact inertia; d_logit² exact")
        }
    }
}
