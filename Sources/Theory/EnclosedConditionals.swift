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
        func kl(_ p: [Interval], _ q: [Interval]) -> Interval {
            Interval.sum(zip(p, q).map { $0.exp * ($0 - $1) }, bits: bits).clampedNonNegative
        }
        let n = pair.first.inputCount
        klPerInput = (0..<n).map { kl(a.logProbabilities[$0], b.logProbabilities[$0]) }
        let backward = (0..<n).map { kl(b.logProbabilities[$0], a.logProbabilities[$0]) }
        klForward = Interval.sum(zip(weights, klPerInput).map { $0 * $1 }, bits: bits)
        klBackward = Interval.sum(zip(weights, backward).map { $0 * $1 }, bits: bits)
        let tauA = (0..<n).map { a.logTau($0) }, tauB = (0..<n).map { b.logTau($0) }
        logTauFirst = tauA.dropFirst().reduce(tauA[0]) { Interval.min($0, $1) }
        logTauSecond = tauB.dropFirst().reduce(tauB[0]) { Interval.min($0, $1) }
        logTauPerInput = zip(tauA, tauB).map { Interval.min($0, $1) }
    }
}
