import CFastKernels

/// What one input contributes to the logit-level quantities of a pair of models,
/// from its two logit rows a (model A) and b (model B) of length k.
public struct LogitRowStatistics: Sendable, Equatable {
    /// KL(p_A ‖ p_B) and KL(p_B ‖ p_A) for this input.
    public var klAB: Double
    public var klBA: Double
    /// min_y log p_A(y) and min_y log p_B(y).
    public var minLogPA: Double
    public var minLogPB: Double
    /// Σ_y (a_y − b_y)²: the squared Aitchison distance when a and b are centred.
    public var squaredDifference: Double
    /// Whether KL(A‖B) / KL(B‖A) came within 10⁶ of their rounding error and
    /// must be recomputed from the whole rows by `klDivergence(logitsP:logitsQ:)`.
    public var klABNeedsRecomputation: Bool
    public var klBANeedsRecomputation: Bool
}

/// Streams the logit rows of one input in column blocks (labels in any grouping)
/// and yields its `LogitRowStatistics`: an online log-sum-exp per model (running
/// maximum m, Σ e^{x−m}, Σ e^{x−m}(a − b), rescaled when m grows), with two
/// exponentials per label. Lets the logits be produced as tall N×k_b blocks,
/// the shape in which dgemm runs fastest, without holding a full row.
///
/// Every logit enters less its model's running maximum (m_A, m_B), so nothing depends on
/// the logits' scale, only on their spread: with δ = (a − m_A) − (b − m_B) and
/// s = Σ e^{x−m} per model, KL(A‖B) = Σ e^{a−m_A} δ / s_A − log s_A + log s_B and
/// KL(B‖A) = −Σ e^{b−m_B} δ / s_B − log s_B + log s_A. (Forming a − b instead loses
/// ε·|logit| absolutely: 2 % of the KL at logits near 10¹⁵.) When a block raises a
/// maximum, the sums are rescaled and δ of the earlier labels moves by the change in
/// m_B − m_A, added through s. The rounding error is about 4ε(S + Σ p|δ| + |log s_A| +
/// |log s_B|), S the larger spread max − min of a row; a KL within 10⁶ of that bound is
/// flagged for recomputation with the cancellation-free kernel, so reported values keep
/// ~6 significant digits or better, and in practice far more.
public struct LogitRowAccumulator: Sendable {
    var state = logitbounds_screen_row(max_a: -.infinity, sum_a: 0, cross_a: 0, magnitude_a: 0,
                                       max_b: -.infinity, sum_b: 0, cross_b: 0, magnitude_b: 0,
                                       min_a: .infinity, min_b: .infinity, squares: 0)
    var maxA: Double { state.max_a }
    var sumA: Double { state.sum_a }
    var crossA: Double { state.cross_a }
    var magnitudeA: Double { state.magnitude_a }
    var maxB: Double { state.max_b }
    var sumB: Double { state.sum_b }
    var crossB: Double { state.cross_b }
    var magnitudeB: Double { state.magnitude_b }
    var minA: Double { state.min_a }
    var minB: Double { state.min_b }
    var squares: Double { state.squares }

    public init() {}

    /// Adds the labels of one block: a and b hold the same labels' logits. In C (CFastKernels'
    /// `logitbounds_screen_row_add`): four labels in four lanes, the exponential
    /// `exponentialOfNonPositive`'s operations; the terms of eight labels at once in AVX-512,
    /// else four in AVX2, where the CPU has them. `vectorWidth` caps the width (0: no vector
    /// instructions); the bits are the same at every width.
    public mutating func add(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>, vectorWidth: Int = 8) {
        guard a.count > 0 else { return }
        exp2Fractions.withUnsafeBufferPointer { t in
            logitbounds_screen_row_add(&state, a.baseAddress, b.baseAddress, a.count, t.baseAddress, Int32(vectorWidth))
        }
    }

    public var statistics: LogitRowStatistics {
        let logSumA = sumA.log, logSumB = sumB.log
        let shift = logSumA - logSumB
        let klAB = crossA / sumA - shift, klBA = crossB / sumB + shift
        let scale = Swift.max(maxA - minA, maxB - minB) + Swift.abs(logSumA) + Swift.abs(logSumB)
        let lseA = maxA + logSumA, lseB = maxB + logSumB
        let threshold = 1e6 * 4 * Double.ulpOfOne
        return LogitRowStatistics(
            klAB: Swift.max(klAB, 0), klBA: Swift.max(klBA, 0), minLogPA: minA - lseA, minLogPB: minB - lseB,
            squaredDifference: squares,
            klABNeedsRecomputation: klAB < threshold * (scale + magnitudeA / sumA),
            klBANeedsRecomputation: klBA < threshold * (scale + magnitudeB / sumB))
    }
}

/// Both KL directions, both minimum log-probabilities and the squared difference
/// of two whole logit rows; flagged KL values are recomputed here with the
/// cancellation-free `klDivergence(logitsP:logitsQ:)`. Never negative.
public func logitRowStatistics(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>) -> LogitRowStatistics {
    precondition(a.count == b.count, "logitRowStatistics: rows of different lengths")
    var accumulator = LogitRowAccumulator()
    accumulator.add(a, b)
    return withRecomputedKL(accumulator.statistics, a, b)
}

/// The statistics with each KL direction that was flagged as cancelling recomputed by
/// the cancellation-free kernel from the whole rows a (model 1) and b (model 2).
public func withRecomputedKL(_ statistics: LogitRowStatistics, _ a: UnsafeBufferPointer<Double>,
                             _ b: UnsafeBufferPointer<Double>) -> LogitRowStatistics {
    var s = statistics
    if s.klABNeedsRecomputation { s.klAB = klDivergence(logitsP: Array(a), logitsQ: Array(b)) }
    if s.klBANeedsRecomputation { s.klBA = klDivergence(logitsP: Array(b), logitsQ: Array(a)) }
    s.klABNeedsRecomputation = false
    s.klBANeedsRecomputation = false
    return s
}

/// eˣ for x ≤ 0, branch-free so loops over it vectorise. x = (64n + j) ln2/64 + r
/// with |r| ≤ ln2/128 (Cody–Waite split), eˣ = 2ⁿ · 2^{j/64} · e^r, 2^{j/64} from a
/// 64-entry table and e^r from its Taylor polynomial of degree 6 (truncation
/// below 10⁻¹⁸ relative). Relative error about one ulp; results below e^−708
/// (≈ 3·10⁻³⁰⁸) are returned as 0, which changes no sum of terms that includes
/// e⁰ = 1 by more than that.
@inline(__always) public func exponentialOfNonPositive(_ x: Double) -> Double {
    exponentialOfNonPositive(SIMD4(repeating: x))[0]
}

/// 2^{j/64}, j = 0…63, each the Double nearest the true value.
let exp2Fractions: [Double] = (0..<64).map { Foundation_exp2(Double($0) / 64) }

/// `exponentialOfNonPositive` on four lanes at once.
@inline(__always) public func exponentialOfNonPositive(_ x: SIMD4<Double>) -> SIMD4<Double> {
    typealias V = SIMD4<Double>
    typealias U = SIMD4<UInt64>
    let floor = V(repeating: -708)
    let clamped = x.replacing(with: floor, where: x .< floor)
    let magic = V(repeating: 6_755_399_441_055_744.0) // 1.5·2⁵²: adding it rounds to an integer in the low bits
    let shifted = clamped * (64 / 0.6931471805599453) + magic
    let m = shifted - magic
    let r = (clamped - m * 0.010830424693267560) - m * 2.9815858269852933e-12
    var p = V(repeating: 1.0 / 720)
    p = p * r + V(repeating: 1.0 / 120)
    p = p * r + V(repeating: 1.0 / 24)
    p = p * r + V(repeating: 1.0 / 6)
    p = p * r + V(repeating: 0.5)
    p = p * r + V(repeating: 1)
    p = p * r + V(repeating: 1)
    let integer = unsafeBitCast(shifted, to: U.self) &- unsafeBitCast(magic, to: U.self)
    let j = integer & 63
    // n = (integer − j)/64 as a signed shift: move n + 1023 into the exponent field.
    let n = unsafeBitCast(unsafeBitCast(integer &- j, to: SIMD4<Int64>.self) &>> 6, to: U.self)
    let fraction = exp2Fractions.withUnsafeBufferPointer { t in
        V(t[Int(j[0])], t[Int(j[1])], t[Int(j[2])], t[Int(j[3])])
    }
    let value = p * fraction * unsafeBitCast((n &+ 1023) &<< 52, to: V.self)
    return value.replacing(with: 0, where: x .< floor)
}
