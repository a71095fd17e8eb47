import Numerics

/// Guaranteed enclosures of a model's log-conditionals: each logit is the tightest
/// interval around its exact rational value Λ = FGᵀ (from `ExactModel`), then
/// log p = Λ − logSumExp(Λ) with outward rounding.
struct EnclosedConditionals {
    /// logProbabilities[i][y] ∋ log p(y | xᵢ).
    let logProbabilities: [[Interval]]

    init(_ model: ExactModel, bits: Int = Interval.defaultBits) {
        let logits = model.logits
        logProbabilities = (0..<logits.rows).map { i in
            let row = (0..<logits.columns).map { Interval(logits[i, $0], bits: bits) }
            let lse = Interval.logSumExp(row)
            return row.map { $0 - lse }
        }
    }

    /// An enclosure of min_y log p(y | xᵢ).
    func logTau(_ i: Int) -> Interval {
        logProbabilities[i].dropFirst().reduce(logProbabilities[i][0]) { Interval.min($0, $1) }
    }
}

/// Certified KL and τ for a pair.
public struct EnclosedDivergence: Sendable {
    /// KL(M₁‖M₂) and KL(M₂‖M₁), enclosed.
    public let klForward: Interval
    public let klBackward: Interval
    /// Per-input KL_x(M₁‖M₂), enclosed.
    public let klPerInput: [Interval]
    /// log τ(M₁), log τ(M₂), and per input log τ_x over both models, enclosed.
    public let logTauFirst: Interval
    public let logTauSecond: Interval
    public let logTauPerInput: [Interval]
    /// The exact input weights, enclosed.
    let weights: [Interval]

    public init(_ pair: ModelPair, bits: Int = Interval.defaultBits) throws {
        let exact = try pair.exact()
        weights = exact.weights.map { Interval($0, bits: bits) }
        let a = EnclosedConditionals(exact.first, bits: bits)
        let b = EnclosedConditionals(exact.second, bits: bits)
        // KL ≥ 0 (Gibbs' inequality), so the enclosure is intersected with [0, ∞).
        func kl(_ p: [Interval], _ logP: [Interval], _ logQ: [Interval]) -> Interval {
            Interval.sum((0..<p.count).map { p[$0] * (logP[$0] - logQ[$0]) }, bits: bits).clampedNonNegative
        }
        let n = pair.first.inputCount
        var forward: [Interval] = [], backward: [Interval] = []
        for i in 0..<n {
            let (logP, logQ) = (a.logProbabilities[i], b.logProbabilities[i])
            let q = logQ.map(\.exp)
            var f = kl(logP.map(\.exp), logP, logQ)
            var r = kl(q, logQ, logP)
            // The direct sums cancel to the logits' absolute rounding: where that leaves a
            // KL_x not pinned to 2⁻²⁰ of itself (near-equal rows, or a KL of e^−10⁵ beside
            // probabilities near 1), intersect with the relative-accuracy form.
            if f.isRelativelyWiderThan(0x1p-20) || r.isRelativelyWiderThan(0x1p-20),
               let relative = Self.relativeKL(exact.first.logits, exact.second.logits, row: i, probabilitiesSecond: q, bits: bits) {
                f = f.intersected(with: relative.forward)
                r = r.intersected(with: relative.backward)
            }
            forward.append(f)
            backward.append(r)
        }
        klPerInput = forward
        klForward = Interval.sum(zip(weights, klPerInput).map { $0 * $1 }, bits: bits)
        klBackward = Interval.sum(zip(weights, backward).map { $0 * $1 }, bits: bits)
        let tauA = (0..<n).map { a.logTau($0) }, tauB = (0..<n).map { b.logTau($0) }
        logTauFirst = tauA.dropFirst().reduce(tauA[0]) { Interval.min($0, $1) }
        logTauSecond = tauB.dropFirst().reduce(tauB[0]) { Interval.min($0, $1) }
        logTauPerInput = zip(tauA, tauB).map { Interval.min($0, $1) }
    }
}

extension EnclosedDivergence {
    /// KL_x(M₁‖M₂) and KL_x(M₂‖M₁) of one row to relative accuracy, from the exact logit
    /// differences δ = Λ₁ − Λ₂ (Proofs/certificates.md §5, "Relative accuracy in MPFR"). With m the
    /// most probable label of M₂ (any label is correct; this one keeps s small), u_y = δ_y − δ_m
    /// exactly, s = Σ_{y≠m} q_y(e^{u_y} − 1) and v_y = u_y − log(1 + s) = log(p_y / q_y):
    /// KL(p‖q) = Σ_y q_y φ(v_y), φ(v) = v·eᵛ − (eᵛ − 1), and KL(q‖p) = Σ_y q_y ψ(v_y),
    /// ψ(v) = eᵛ − 1 − v. Every term is ≥ 0, and nothing is a difference of two numbers near
    /// log 1, so a KL of e^−10⁵ is enclosed as closely as one of 1. nil when log(1 + s) is
    /// undefined on its enclosure (s's enclosure reaching −1). `probabilitiesSecond`: the enclosed q_y.
    static func relativeKL(_ first: RationalMatrix, _ second: RationalMatrix, row i: Int,
                           probabilitiesSecond probabilities: [Interval], bits: Int) -> (forward: Interval, backward: Interval)? {
        let k = probabilities.count
        let m = (0..<k).max { probabilities[$0].upper < probabilities[$1].upper } ?? 0
        let deltaM = first[i, m] - second[i, m]
        let u = (0..<k).map { Interval(first[i, $0] - second[i, $0] - deltaM, bits: bits) }
        let s = Interval.sum((0..<k).lazy.filter { $0 != m }.map { probabilities[$0] * u[$0].expm1 }, bits: bits)
        guard let logNormaliser = try? s.log1p() else { return nil }
        let v = u.map { $0 - logNormaliser }
        let forward = Interval.sum((0..<k).map { probabilities[$0] * v[$0].valleyAtZero(forwardTerm) }, bits: bits)
        let backward = Interval.sum((0..<k).map { probabilities[$0] * v[$0].valleyAtZero(backwardTerm) }, bits: bits)
        return (forward, backward)
    }

    /// φ(v) = v·eᵛ − (eᵛ − 1) at a point interval; for |v| ≤ ½ intersected with its Taylor
    /// enclosure v²/2 + v³/3 ± v⁴/6, which keeps φ's relative accuracy where the difference
    /// cancels (|v| far below 2⁻ᵇⁱᵗˢ, e.g. logits of 10⁻³¹⁰).
    static func forwardTerm(_ v: Interval) -> Interval {
        let direct = v * v.exp - v.expm1
        return forwardTaylor(v).map(direct.intersected) ?? direct
    }

    /// ψ(v) = eᵛ − 1 − v at a point interval; for |v| ≤ ½ intersected with v²/2 + v³/6 ± v⁴/20.
    static func backwardTerm(_ v: Interval) -> Interval {
        let direct = v.expm1 - v
        return backwardTaylor(v).map(direct.intersected) ?? direct
    }

    static func forwardTaylor(_ v: Interval) -> Interval? { taylor(v, cubic: 3, remainder: 6) }
    static func backwardTaylor(_ v: Interval) -> Interval? { taylor(v, cubic: 6, remainder: 20) }

    /// v²/2 + v³/c ± v⁴/r for |v| ≤ ½ (Proofs/certificates.md §5: the series' terms from the
    /// fourth on sum to at most v⁴/6 for φ, v⁴/20 for ψ, in absolute value); nil beyond ½.
    private static func taylor(_ v: Interval, cubic c: Double, remainder r: Double) -> Interval? {
        guard v.lower >= -0.5 && v.upper <= 0.5, let half = Interval(exactly: 0.5, bits: v.bits),
              let cubic = Interval(exactly: c, bits: v.bits), let rest = Interval(exactly: r, bits: v.bits) else { return nil }
        let square = v.squared
        return half * square + square * v / cubic + (square.squared / rest).plusOrMinus
    }
}
