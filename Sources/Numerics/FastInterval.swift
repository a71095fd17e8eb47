/// A closed interval [lo, hi] of reals with Double endpoints that always contains
/// the true value of the expression that produced it — the fast certificate level,
/// between the double screen and MPFR's `Interval`.
///
/// Rounding model (Proofs/certificates.md §1): IEEE 754 binary64, round to nearest.
/// No rounding mode is switched. Each +, −, ×, ÷, √ is computed once to nearest and
/// its result x widened to [x⁻, x⁺] (the neighbouring Doubles): a real that rounds
/// to x lies between the midpoints x ± ulp/2, so inside [x⁻, x⁺] — for normal,
/// subnormal and zero results alike, and for overflow (a real rounding to +∞ is
/// above the largest finite Double, which is (+∞)⁻). exp and log come from
/// `FastMath`, kernels whose error is proven in Proofs/certificates.md §2–3.
///
/// An operation whose result is undefined (∞ − ∞, 0·∞) gives the whole line, so a
/// verdict resting on it is undecided, never wrong. Cost: a few Double operations
/// per operation (against MPFR's ~100 ns per operation), so an interval evaluation
/// of a statement runs at close to the screen's speed.
public struct FastInterval: Sendable, Equatable, CustomStringConvertible {
    public let lo: Double
    public let hi: Double

    /// [lo, hi] as given (lo ≤ hi; NaN gives the whole line).
    @inlinable
    public init(lo: Double, hi: Double) {
        if lo.isNaN || hi.isNaN { (self.lo, self.hi) = (-.infinity, .infinity) } else { (self.lo, self.hi) = (lo, hi) }
    }

    /// The point interval of an exact Double.
    @inlinable
    public init(_ x: Double) { self.init(lo: x, hi: x) }

    /// [lo⁻, hi⁺]: the endpoints of a computed-to-nearest result pushed one Double outward.
    @inlinable @inline(__always)
    public static func roundedOut(_ lo: Double, _ hi: Double) -> FastInterval {
        FastInterval(lo: lo.nextDown, hi: hi.nextUp)
    }

    public static let entire = FastInterval(lo: -.infinity, hi: .infinity)
    public static let zero = FastInterval(0)

    @inlinable @inline(__always)
    public var midpoint: Double { lo.isFinite && hi.isFinite ? lo / 2 + hi / 2 : (lo.isFinite ? lo : hi) }
    public var width: Double { (hi - lo).nextUp }
    /// The midpoint c and a radius r ≥ max(hi − c, c − lo) (each difference rounded and pushed
    /// one Double up): a point is its own midpoint with radius exactly 0.
    public var midpointAndRadius: (midpoint: Double, radius: Double) {
        if lo == hi { return (lo, 0) }
        let c = midpoint
        return (c, Swift.max((hi - c).nextUp, (c - lo).nextUp, 0))
    }
    @inlinable
    public func contains(_ x: Double) -> Bool { lo <= x && x <= hi }
    @inlinable
    public var containsZero: Bool { lo <= 0 && hi >= 0 }
    /// The intersection with [0, ∞) (for quantities known to be non-negative).
    @inlinable @inline(__always)
    public var clampedNonNegative: FastInterval { FastInterval(lo: Swift.max(lo, 0), hi: Swift.max(hi, 0)) }

    /// Every value of self ≤ every value of other.
    @inlinable
    public func isCertainlyAtMost(_ other: FastInterval) -> Bool { hi <= other.lo }
    /// Every value of self < every value of other.
    @inlinable
    public func isCertainlyBelow(_ other: FastInterval) -> Bool { hi < other.lo }

    public var description: String { "[\(lo), \(hi)]" }

    // MARK: arithmetic

    @inline(__always)
    @inlinable
    public static func + (a: FastInterval, b: FastInterval) -> FastInterval { roundedOut(a.lo + b.lo, a.hi + b.hi) }

    @inline(__always)
    @inlinable
    public static func - (a: FastInterval, b: FastInterval) -> FastInterval { roundedOut(a.lo - b.hi, a.hi - b.lo) }

    @inlinable
    public static prefix func - (a: FastInterval) -> FastInterval { FastInterval(lo: -a.hi, hi: -a.lo) }

    /// The product: the extremes of the four endpoint products, where an end at 0 times
    /// an unbounded end is 0 (every real in the other interval times 0 is 0).
    @inlinable @inline(__always)
    public static func * (a: FastInterval, b: FastInterval) -> FastInterval {
        @inline(__always) func times(_ x: Double, _ y: Double) -> Double { x == 0 || y == 0 ? 0 : x * y }
        if a.lo >= 0 && b.lo >= 0 { return roundedOut(times(a.lo, b.lo), times(a.hi, b.hi)).clampedNonNegative }
        let p = (times(a.lo, b.lo), times(a.lo, b.hi), times(a.hi, b.lo), times(a.hi, b.hi))
        return roundedOut(Swift.min(p.0, p.1, p.2, p.3), Swift.max(p.0, p.1, p.2, p.3))
    }

    /// a·b for a point b: two endpoint products chosen by b's sign (as `*`, an end at 0 times
    /// an unbounded end is 0).
    @inlinable @inline(__always)
    public static func times(_ a: FastInterval, point b: Double) -> FastInterval {
        @inline(__always) func times(_ x: Double) -> Double { x == 0 || b == 0 ? 0 : x * b }
        if b >= 0 { return a.lo >= 0 ? roundedOut(times(a.lo), times(a.hi)).clampedNonNegative : roundedOut(times(a.lo), times(a.hi)) }
        return roundedOut(times(a.hi), times(a.lo))
    }

    /// p·t for finite p with p.lo ≥ 0 (a probability, a weight) and finite t: two endpoint
    /// products chosen by t's signs instead of four.
    @inlinable @inline(__always)
    public static func nonNegativeTimes(_ p: FastInterval, _ t: FastInterval) -> FastInterval {
        roundedOut(t.lo >= 0 ? p.lo * t.lo : p.hi * t.lo, t.hi >= 0 ? p.hi * t.hi : p.lo * t.hi)
    }

    /// The quotient; a divisor containing 0 gives the whole line.
    @inlinable @inline(__always)
    public static func / (a: FastInterval, b: FastInterval) -> FastInterval {
        guard !b.containsZero else { return .entire }
        let q = (a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi)
        if q.0.isNaN || q.1.isNaN || q.2.isNaN || q.3.isNaN { return .entire }
        return roundedOut(Swift.min(q.0, q.1, q.2, q.3), Swift.max(q.0, q.1, q.2, q.3))
    }

    /// x² (tighter than x·x when the interval straddles 0).
    @inlinable @inline(__always)
    public var squared: FastInterval {
        if lo >= 0 { return FastInterval.roundedOut(lo * lo, hi * hi).clampedNonNegative }
        if hi <= 0 { return FastInterval.roundedOut(hi * hi, lo * lo).clampedNonNegative }
        return FastInterval(lo: 0, hi: Swift.max(lo * lo, hi * hi).nextUp)
    }

    /// √x of the non-negative part (IEEE's square root is correctly rounded).
    @inlinable
    public var squareRoot: FastInterval {
        let c = clampedNonNegative
        return FastInterval(lo: Swift.max(c.lo.squareRoot().nextDown, 0), hi: c.hi.squareRoot().nextUp)
    }

    public var magnitude: FastInterval {
        containsZero ? FastInterval(lo: 0, hi: Swift.max(-lo, hi)) : (lo > 0 ? self : -self)
    }

    @inlinable @inline(__always)
    public static func min(_ a: FastInterval, _ b: FastInterval) -> FastInterval {
        FastInterval(lo: Swift.min(a.lo, b.lo), hi: Swift.min(a.hi, b.hi))
    }

    @inlinable @inline(__always)
    public static func max(_ a: FastInterval, _ b: FastInterval) -> FastInterval {
        FastInterval(lo: Swift.max(a.lo, b.lo), hi: Swift.max(a.hi, b.hi))
    }

    /// exp, monotone: [exp⁻(lo), exp⁺(hi)] from `FastMath`.
    @inlinable @inline(__always)
    public var exp: FastInterval { FastInterval(lo: FastMath.expLower(lo), hi: FastMath.expUpper(hi)) }

    /// log, monotone; the part of self at or below 0 maps to −∞.
    @inlinable
    public var log: FastInterval { FastInterval(lo: FastMath.logLower(lo), hi: FastMath.logUpper(hi)) }

    /// The sum of intervals (0 for none).
    @inlinable public static func sum<S: Sequence>(_ terms: S) -> FastInterval where S.Element == FastInterval {
        var lo = 0.0, hi = 0.0
        for t in terms { lo = (lo + t.lo).nextDown; hi = (hi + t.hi).nextUp }
        return FastInterval(lo: lo, hi: hi)
    }

    /// log Σ exp(xᵢ), enclosed: m + log Σ exp(xᵢ − m) with m the largest upper end
    /// (so no term overflows). The empty sum's log is −∞.
    public static func logSumExp(_ terms: [FastInterval]) -> FastInterval {
        guard let m = terms.map(\.hi).max(), m.isFinite else {
            return terms.isEmpty ? FastInterval(-.infinity) : .entire
        }
        let shift = FastInterval(m)
        return shift + sum(terms.map { ($0 - shift).exp }).log
    }
}

extension FastInterval {
    /// An enclosure of the dot product Σ aᵢbᵢ of two Double vectors, computed in Double
    /// in any order with an a priori error bound (Proofs/certificates.md §4):
    ///   |fl(aᵀb) − aᵀb| ≤ γₙ/(1 − γₙ) · fl(|a|ᵀ|b|) + 2nη,  γₙ = nu/(1 − nu),
    /// u = 2⁻⁵³, η = 2⁻¹⁰⁷⁴ (each product's underflow). Holds for every summation
    /// order and with or without fused multiply-adds, so it also covers BLAS's
    /// blocked, vectorised sums. Needs nu < 0.01 (n below 9·10¹³).
    public static func dot(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>, strideB: Int = 1) -> FastInterval {
        var s = 0.0, t = 0.0
        for i in 0..<a.count {
            let p = a[i] * b[i * strideB]
            s += p
            t += abs(p)
        }
        return withProductError(s, absoluteSum: t, terms: a.count)
    }

    /// [s − e, s + e] with e the a priori bound of a computed sum s of n products whose
    /// magnitudes summed to t (computed too): γₙ/(1 − γₙ)·t + 2nη, rounded up.
    /// (`boundScale` is for the soundness test, which plants a halved bound with it.)
    @inline(__always)
    public static func withProductError(_ s: Double, absoluteSum t: Double, terms n: Int, boundScale: Double = 1) -> FastInterval {
        withProductError(s, absoluteSum: t, factor: boundScale * FastMath.productErrorFactor(n), terms: n)
    }

    /// The same with the factor γₙ/(1 − γₙ) computed once by the caller (many sums of n).
    @inline(__always)
    public static func withProductError(_ s: Double, absoluteSum t: Double, factor: Double, terms n: Int) -> FastInterval {
        let e = ((factor * t).nextUp + Double(2 * n) * Double.leastNonzeroMagnitude).nextUp
        guard s.isFinite, e.isFinite else { return .entire }
        return roundedOut(s - e, s + e)
    }
}
