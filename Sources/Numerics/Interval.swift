import Foundation
import CFastKernels
import CMPFR

/// A closed interval [lo, hi] of reals with MPFR endpoints, kept by directed
/// rounding so that it always contains the true value of the expression that
/// produced it: every lower endpoint is rounded toward −∞, every upper toward +∞.
///
/// Each value owns its heap-allocated MPFR numbers (precision `bits`, default 256),
/// so MPFR's in-place calls never alias Swift storage. Values are immutable once
/// made; operations return new intervals. Endpoints may be ±∞ (for example the
/// log of an interval touching 0).
public final class Interval: @unchecked Sendable {
    let lo: UnsafeMutablePointer<__mpfr_struct>
    let hi: UnsafeMutablePointer<__mpfr_struct>
    public let bits: Int

    public static let defaultBits = 256

    init(bits: Int) {
        self.bits = bits
        // MPFR's per-thread caches are freed when this thread exits (CFastKernels/mpfr_threads.c).
        logitbounds_mpfr_thread_uses()
        lo = .allocate(capacity: 1)
        hi = .allocate(capacity: 1)
        mpfr_init2(lo, mpfr_prec_t(bits))
        mpfr_init2(hi, mpfr_prec_t(bits))
    }

    deinit {
        mpfr_clear(lo)
        mpfr_clear(hi)
        lo.deallocate()
        hi.deallocate()
    }

    /// The point interval [x, x] of an exact Double (NaN is refused).
    public convenience init?(exactly x: Double, bits: Int = Interval.defaultBits) {
        guard !x.isNaN else { return nil }
        self.init(bits: bits)
        mpfr_set_d(lo, x, MPFR_RNDD)
        mpfr_set_d(hi, x, MPFR_RNDU)
    }

    /// The tightest interval at this precision containing the rational q.
    public convenience init(_ q: Rational, bits: Int = Interval.defaultBits) {
        self.init(bits: bits)
        mpfr_set_q(lo, q.value, MPFR_RNDD)
        mpfr_set_q(hi, q.value, MPFR_RNDU)
    }

    /// [a, b] from Double endpoints (a ≤ b).
    public convenience init(lower a: Double, upper b: Double, bits: Int = Interval.defaultBits) {
        precondition(a <= b, "Interval: lower endpoint above upper")
        self.init(bits: bits)
        mpfr_set_d(lo, a, MPFR_RNDD)
        mpfr_set_d(hi, b, MPFR_RNDU)
    }

    /// The lower endpoint rounded down to a Double: a guaranteed lower bound.
    public var lower: Double { mpfr_get_d(lo, MPFR_RNDD) }
    /// The upper endpoint rounded up to a Double: a guaranteed upper bound.
    public var upper: Double { mpfr_get_d(hi, MPFR_RNDU) }
    /// The midpoint, rounded to nearest: for display. Halved in MPFR before it is rounded, so
    /// that an interval near 1.8·10³⁰⁸ does not overflow and a subnormal one does not lose its
    /// last bit (the sum was rounded to a Double, then halved).
    public var midpoint: Double {
        let m = Interval(bits: bits)
        mpfr_add(m.lo, lo, hi, MPFR_RNDN)
        mpfr_div_2ui(m.lo, m.lo, 1, MPFR_RNDN)
        return mpfr_get_d(m.lo, MPFR_RNDN)
    }

    /// hi − lo rounded up.
    public var width: Double {
        let w = Interval(bits: bits)
        mpfr_sub(w.hi, hi, lo, MPFR_RNDU)
        return mpfr_get_d(w.hi, MPFR_RNDU)
    }

    /// Whether an endpoint is NaN (an undefined operation, e.g. ∞ − ∞): such an interval
    /// encloses nothing known, so every comparison below is false on it (MPFR's own
    /// comparisons return 0, "equal", against NaN — a "holds" that was never shown).
    public var hasNaN: Bool { mpfr_nan_p(lo) != 0 || mpfr_nan_p(hi) != 0 }

    /// Whether the Double x lies in [lo, hi].
    public func contains(_ x: Double) -> Bool {
        !hasNaN && !x.isNaN && mpfr_cmp_d(lo, x) <= 0 && mpfr_cmp_d(hi, x) >= 0
    }

    /// Whether the rational q lies in [lo, hi].
    public func contains(_ q: Rational) -> Bool {
        !hasNaN && mpfr_cmp_q(lo, q.value) <= 0 && mpfr_cmp_q(hi, q.value) >= 0
    }

    /// Certainly below: every point of self is < every point of other.
    public func isCertainlyBelow(_ other: Interval) -> Bool { !hasNaN && !other.hasNaN && mpfr_cmp3(hi, other.lo, 1) < 0 }
    /// Certainly at most: every point of self is ≤ every point of other.
    public func isCertainlyAtMost(_ other: Interval) -> Bool { !hasNaN && !other.hasNaN && mpfr_cmp3(hi, other.lo, 1) <= 0 }

    /// Whether 0 < lo.
    public var isPositive: Bool { !hasNaN && mpfr_sgn(lo) > 0 }
    /// Whether lo ≤ 0 ≤ hi (true for a NaN end: it may hold anything).
    public var containsZero: Bool { hasNaN || (mpfr_sgn(lo) <= 0 && mpfr_sgn(hi) >= 0) }
}

extension Interval {
    /// (hi − lo)/max(|lo|, |hi|), formed in MPFR and rounded up, so that it is finite for an
    /// interval beyond the Double range (KL near 10³¹⁰, whose Double width and ends are both ∞
    /// and passed a Double test of width ≤ 10⁻⁶·|hi|). 0 for [0, 0]; NaN for a NaN end.
    public var relativeWidth: Double {
        guard !hasNaN else { return .nan }
        let w = Interval(bits: bits), m = Interval(bits: bits)
        mpfr_sub(w.hi, hi, lo, MPFR_RNDU)
        mpfr_abs(m.lo, lo, MPFR_RNDU)
        mpfr_abs(m.hi, hi, MPFR_RNDU)
        mpfr_max(m.hi, m.lo, m.hi, MPFR_RNDU)
        guard mpfr_sgn(m.hi) != 0 else { return 0 }
        mpfr_div(w.hi, w.hi, m.hi, MPFR_RNDU)
        return mpfr_get_d(w.hi, MPFR_RNDU)
    }

    /// The midpoint in scientific notation from its MPFR mantissa and exponent (`digits`
    /// significant), at any magnitude: "1.234e+310".
    public func midpointScientific(digits: Int = 6) -> String {
        let m = Interval(bits: bits)
        mpfr_add(m.lo, lo, hi, MPFR_RNDN)
        mpfr_div_2ui(m.lo, m.lo, 1, MPFR_RNDN)
        return Self.scientific(m.lo, digits: digits)
    }

    /// An MPFR number in scientific notation: its sign, then 10^(log₁₀ of its mantissa in
    /// [0.5, 1) plus its binary exponent·log₁₀ 2), finite however large the exponent.
    static func scientific(_ x: UnsafeMutablePointer<__mpfr_struct>, digits: Int) -> String {
        if mpfr_nan_p(x) != 0 { return "nan" }
        if mpfr_inf_p(x) != 0 { return mpfr_sgn(x) > 0 ? "inf" : "-inf" }
        if mpfr_sgn(x) == 0 { return "0" }
        var exponent = 0
        let mantissa = mpfr_get_d_2exp(&exponent, x, MPFR_RNDN)
        let l = Foundation.log10(Swift.abs(mantissa)) + Double(exponent) * Foundation.log10(2.0)
        return (mantissa < 0 ? "-" : "") + Rational.scientific(log10: l, digits: digits)
    }
}

extension Interval: CustomStringConvertible {
    /// "[lo, hi]" with 17 significant digits, rounded outward; an end beyond the Double range in
    /// scientific notation from its mantissa and exponent (it had read "[0.0, inf]").
    public var description: String {
        func end(_ x: UnsafeMutablePointer<__mpfr_struct>, _ rounded: Double) -> String {
            let beyond = mpfr_number_p(x) != 0
                && (mpfr_cmp_d(x, .greatestFiniteMagnitude) > 0 || mpfr_cmp_d(x, -.greatestFiniteMagnitude) < 0)
            return beyond ? Self.scientific(x, digits: 12) : "\(rounded)"
        }
        return "[\(end(lo, lower)), \(end(hi, upper))]"
    }
}
