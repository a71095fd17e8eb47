import Numerics

/// T1: d_logit is a metric on conditionals: symmetric, satisfies the triangle
/// inequality, is zero iff the conditionals agree on the sample, and is
/// orbit-invariant. Proof: Proofs/T1-logit-metric.md.
///
/// Checked on triples (M₁, M₂, M₃). Exactly: with a = d₁₂², b = d₂₃², c = d₁₃²,
/// d₁₃ ≤ d₁₂ + d₂₃ ⇔ c − a − b ≤ 2√(ab) ⇔ (c − a − b ≤ 0) or (c − a − b)² ≤ 4ab,
/// a comparison of rationals. "Zero iff equal conditionals" is checked as
/// d_logit² = 0 ⇔ every row of Λ₁ − Λ₂ is constant (softmax is invariant exactly
/// under per-row shifts and nothing else).
public struct T1LogitMetric: Sendable {
    public let id = StatementID.T1
    public init() {}

    public func screenTriangle(_ m1: SoftmaxModel, _ m2: SoftmaxModel, _ m3: SoftmaxModel) throws -> Verdict {
        try screenTriangle(ModelPair(m1, m2), m3)
    }

    /// The screen on a pair (its memoised d₁₂) and a third model: d₂₃ and d₁₃ need
    /// only the centred logits (one product per model), not the pair statistics.
    public func screenTriangle(_ pair: ModelPair, _ m3: SoftmaxModel) throws -> Verdict {
        _ = try ModelPair(pair.first, m3)    // shapes and weights agree
        let d12 = try pair.logitDistance()
        let l2 = pair.centredLogits(ofFirst: false), l3 = m3.centredLogits
        let d23 = Self.weightedDistance(l2, l3, pair.weights)
        let d13 = Self.weightedDistance(pair.centredLogits(ofFirst: true), l3, pair.weights)
        let rhs = d12 + d23
        return Verdict(id: id, form: "d(M₁,M₃) ≤ d(M₁,M₂) + d(M₂,M₃)", level: .double,
                       outcome: d13 <= rhs ? .holds : .violated, lhs: d13, rhs: rhs, constant: 1, constantName: "1")
    }

    /// (Σᵢ wᵢ ‖aᵢ − bᵢ‖²)^{1/2} over rows.
    static func weightedDistance(_ a: Matrix, _ b: Matrix, _ w: [Double]) -> Double {
        var total = 0.0
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                for i in 0..<a.rows {
                    var row = 0.0
                    for t in (i * a.columns)..<((i + 1) * a.columns) { row += (pa[t] - pb[t]) * (pa[t] - pb[t]) }
                    total += w[i] * row
                }
            }
        }
        return total.squareRoot()
    }

    /// `rhsScale` s ≠ 1 checks d₁₃ ≤ s(d₁₂ + d₂₃) instead (a planted false statement
    /// when s < 1): c/s² takes the place of c.
    public func certifyTriangle(_ m1: SoftmaxModel, _ m2: SoftmaxModel, _ m3: SoftmaxModel,
                                rhsScale: Double = 1) throws -> Verdict {
        try certifyTriangle(ModelPair(m1, m2), m3, rhsScale: rhsScale)
    }

    /// The triangle check on a pair (its memoised exact d₁₂² and logits) and a third
    /// model. Each squared distance is exact (`ExactLogitDistance`); each model's exact
    /// logits are formed once.
    public func certifyTriangle(_ pair: ModelPair, _ m3: SoftmaxModel, rhsScale: Double = 1) throws -> Verdict {
        _ = try ModelPair(pair.first, m3)    // checks shapes and weights
        let l3 = m3.exactLogits
        let a = pair.exactLogitDistanceSquared()
        let b = ExactLogitDistance.squared(pair.exactLogits(ofFirst: false), l3, weights: pair.first.givenWeights)
        let c = ExactLogitDistance.squared(pair.exactLogits(ofFirst: true), l3, weights: pair.first.givenWeights)
        let s = Rational(exactly: rhsScale)!
        let excess = c / (s * s) - a - b
        let holds = excess.sign <= 0 || excess.squared <= Rational(4) * a * b
        let rhs = rhsScale * (a.doubleValue.squareRoot() + b.doubleValue.squareRoot())
        return Verdict(id: id, form: "d(M₁,M₃) ≤ d(M₁,M₂) + d(M₂,M₃)", level: .exact,
                       outcome: holds ? .holds : .violated, lhs: c.doubleValue.squareRoot(), rhs: rhs,
                       constant: 1, constantName: "1", exactLHS: c.exactString,
                       certificate: "squared distances exact; (c − a − b ≤ 0) or (c − a − b)² ≤ 4ab decided in rationals")
    }

    /// The triangle check from fast enclosures of the three squared distances: holds
    /// when √c's upper end is at most s(√a + √b)'s lower end, violated when the reverse
    /// separates; nil (escalate to `certifyTriangle`) otherwise, e.g. at the equality of
    /// orbit pairs.
    public func fastTriangle(_ pair: ModelPair, _ m3: SoftmaxModel, rhsScale: Double = 1) throws -> Verdict? {
        _ = try ModelPair(pair.first, m3)    // checks shapes and weights
        guard let e = pair.fastLogitDistance(), let l3 = FastLogits(m3) else { return nil }
        let w = pair.fastWeights()
        let (a, b, c) = (e.squared, e.second.logitDistanceSquared(to: l3, weights: w), e.first.logitDistanceSquared(to: l3, weights: w))
        let rhs = FastInterval(rhsScale) * (a.squareRoot + b.squareRoot)
        return Verdict.fast(id, "d(M₁,M₃) ≤ d(M₁,M₂) + d(M₂,M₃)", lhs: c.squareRoot, rhs: rhs, constant: rhsScale,
                            constantName: "\(rhsScale)")
    }

    /// Symmetry, exactly: d(M₁,M₂)² = d(M₂,M₁)².
    public func certifySymmetry(_ pair: ModelPair) throws -> Verdict {
        let forward = try ExactModelPair(pair).logitDistanceSquared
        let backward = try ExactModelPair(pair.swapped).logitDistanceSquared
        return Verdict(id: id, form: "d(M₁,M₂) = d(M₂,M₁)", level: .exact,
                       outcome: forward == backward ? .holds : .violated, lhs: forward.doubleValue,
                       rhs: backward.doubleValue, constant: 1, constantName: "1", exactLHS: forward.exactString,
                       certificate: "both squared distances exact")
    }

    /// Zero iff equal conditionals, exactly: d_logit² = 0 ⇔ Λ₁ − Λ₂ has constant rows.
    public func certifyZeroIffEqualConditionals(_ pair: ModelPair) throws -> Verdict {
        let exact = try ExactModelPair(pair)
        let zero = exact.logitDistanceSquared.isZero
        let difference = exact.first.logits - exact.second.logits
        let constantRows = (0..<difference.rows).allSatisfy { i in
            (1..<difference.columns).allSatisfy { difference[i, $0] == difference[i, 0] }
        }
        return Verdict(id: id, form: "d_logit = 0 ⇔ equal conditionals", level: .exact,
                       outcome: zero == constantRows ? .holds : .violated,
                       lhs: exact.logitDistanceSquared.doubleValue, rhs: 0, constant: 1, constantName: "1",
                       exactLHS: exact.logitDistanceSquared.exactString,
                       certificate: "d_logit² = 0 is \(zero); Λ₁ − Λ₂ has constant rows is \(constantRows)")
    }
}
