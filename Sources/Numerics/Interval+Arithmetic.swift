import CMPFR

/// Interval arithmetic with outward rounding, and the monotone transcendental
/// functions the theory needs (exp, expm1, log, log1p, log-sum-exp).
extension Interval {
    private func fresh() -> Interval { Interval(bits: bits) }

    public static func + (a: Interval, b: Interval) -> Interval {
        let r = a.fresh()
        mpfr_add(r.lo, a.lo, b.lo, MPFR_RNDD)
        mpfr_add(r.hi, a.hi, b.hi, MPFR_RNDU)
        return r
    }

    public static func - (a: Interval, b: Interval) -> Interval {
        let r = a.fresh()
        mpfr_sub(r.lo, a.lo, b.hi, MPFR_RNDD)
        mpfr_sub(r.hi, a.hi, b.lo, MPFR_RNDU)
        return r
    }

    public static prefix func - (a: Interval) -> Interval {
        let r = a.fresh()
        mpfr_neg(r.lo, a.hi, MPFR_RNDD)
        mpfr_neg(r.hi, a.lo, MPFR_RNDU)
        return r
    }

    /// The product: the extremes of the four endpoint products, each rounded outward.
    public static func * (a: Interval, b: Interval) -> Interval {
        extremes(a, b, mpfr_mul)
    }

    /// The quotient; the divisor must not contain 0 (`divided(by:)` checks).
    public static func / (a: Interval, b: Interval) -> Interval {
        precondition(!b.containsZero, "Interval: division by an interval containing 0")
        return extremes(a, b, mpfr_div)
    }

    private static func extremes(
        _ a: Interval, _ b: Interval,
        _ op: (mpfr_ptr?, mpfr_srcptr?, mpfr_srcptr?, mpfr_rnd_t) -> Int32
    ) -> Interval {
        let r = a.fresh()
        let scratch = a.fresh()
        mpfr_set_inf(r.lo, 1)
        mpfr_set_inf(r.hi, -1)
        for x in [a.lo, a.hi] {
            for y in [b.lo, b.hi] {
                _ = op(scratch.lo, x, y, MPFR_RNDD)
                _ = op(scratch.hi, x, y, MPFR_RNDU)
                if mpfr_nan_p(scratch.lo) == 0 { mpfr_min(r.lo, r.lo, scratch.lo, MPFR_RNDD) }
                if mpfr_nan_p(scratch.hi) == 0 { mpfr_max(r.hi, r.hi, scratch.hi, MPFR_RNDU) }
            }
        }
        return r
    }

    /// Sum of intervals (the point 0 for none).
    public static func sum<S: Sequence>(_ terms: S, bits: Int = Interval.defaultBits) -> Interval
    where S.Element == Interval {
        let r = Interval(bits: bits)
        mpfr_set_zero(r.lo, 1)
        mpfr_set_zero(r.hi, 1)
        for t in terms {
            mpfr_add(r.lo, r.lo, t.lo, MPFR_RNDD)
            mpfr_add(r.hi, r.hi, t.hi, MPFR_RNDU)
        }
        return r
    }

    /// exp, monotone increasing: [exp(lo)↓, exp(hi)↑].
    public var exp: Interval { increasing(mpfr_exp) }

    /// log, monotone increasing on (0, ∞); a lower endpoint ≤ 0 gives −∞ there.
    /// Throws when the whole interval is ≤ 0.
    public func log() throws -> Interval { try increasing(mpfr_log, above: 0, name: "log") }

    /// eˣ − 1, monotone increasing: [expm1(lo)↓, expm1(hi)↑], accurate for x near 0.
    public var expm1: Interval { increasing(mpfr_expm1) }

    /// log(1 + x), monotone increasing on (−1, ∞), accurate for x near 0; a lower
    /// endpoint ≤ −1 gives −∞ there. Throws when the whole interval is ≤ −1.
    public func log1p() throws -> Interval { try increasing(mpfr_log1p, above: -1, name: "log1p") }

    /// f on self for an increasing f: [f(lo)↓, f(hi)↑].
    private func increasing(_ f: (mpfr_ptr?, mpfr_srcptr?, mpfr_rnd_t) -> Int32) -> Interval {
        let r = fresh()
        _ = f(r.lo, lo, MPFR_RNDD)
        _ = f(r.hi, hi, MPFR_RNDU)
        return r
    }

    /// f on self for an f increasing on (a, ∞): −∞ at a lower endpoint ≤ a; throws when hi ≤ a.
    private func increasing(_ f: (mpfr_ptr?, mpfr_srcptr?, mpfr_rnd_t) -> Int32, above a: Int, name: String) throws -> Interval {
        guard mpfr_cmp_si(hi, a) > 0 else {
            throw NumericsError.invalidArgument("Interval \(name): argument \(self) is not above \(a)")
        }
        let r = fresh()
        if mpfr_cmp_si(lo, a) > 0 { _ = f(r.lo, lo, MPFR_RNDD) } else { mpfr_set_inf(r.lo, -1) }
        _ = f(r.hi, hi, MPFR_RNDU)
        return r
    }

    /// g(self) for a function g with g(0) = 0 that decreases on (−∞, 0] and increases on
    /// [0, ∞) (so g ≥ 0), given as its enclosure at a point (`pointEnclosure`): the lower end is
    /// g at the endpoint nearest 0 (0 when self holds 0), the upper end the larger of g at the
    /// two endpoints. An undefined end (NaN, e.g. ∞ − ∞ at an infinite endpoint) is widened:
    /// 0 below, +∞ above.
    public func valleyAtZero(_ pointEnclosure: (Interval) -> Interval) -> Interval {
        let r = fresh()
        let atLower = pointEnclosure(point(lo)), atUpper = pointEnclosure(point(hi))
        if mpfr_sgn(lo) > 0 {
            mpfr_set(r.lo, atLower.lo, MPFR_RNDD)
        } else if mpfr_sgn(hi) < 0 {
            mpfr_set(r.lo, atUpper.lo, MPFR_RNDD)
        } else {
            mpfr_set_zero(r.lo, 1)
        }
        if mpfr_nan_p(r.lo) != 0 || mpfr_sgn(r.lo) < 0 { mpfr_set_zero(r.lo, 1) }
        // An inverted enclosure (lo > hi: every corner product undefined, as (−∞)·0 in φ at −∞)
        // is as unknown as a NaN one.
        func undefined(_ g: Interval) -> Bool { g.hasNaN || mpfr_cmp3(g.lo, g.hi, 1) > 0 }
        if undefined(atLower) || undefined(atUpper) {
            mpfr_set_inf(r.hi, 1)
        } else {
            mpfr_max(r.hi, atLower.hi, atUpper.hi, MPFR_RNDU)
        }
        return r
    }

    /// The point interval [x, x] of one endpoint (exact: the same precision).
    private func point(_ x: UnsafeMutablePointer<__mpfr_struct>) -> Interval {
        let r = fresh()
        mpfr_set(r.lo, x, MPFR_RNDD)
        mpfr_set(r.hi, x, MPFR_RNDU)
        return r
    }

    /// √ of the non-negative part, monotone: [√max(lo, 0)↓, √max(hi, 0)↑]. For a
    /// quantity known to be ≥ 0 whose enclosure dips below 0 by rounding.
    public var squareRoot: Interval {
        let r = clampedNonNegative
        mpfr_sqrt(r.lo, r.lo, MPFR_RNDD)
        mpfr_sqrt(r.hi, r.hi, MPFR_RNDU)
        return r
    }

    /// [min lo, min hi]: the enclosure of min(a, b).
    public static func min(_ a: Interval, _ b: Interval) -> Interval {
        let r = a.fresh()
        mpfr_min(r.lo, a.lo, b.lo, MPFR_RNDD)
        mpfr_min(r.hi, a.hi, b.hi, MPFR_RNDU)
        return r
    }

    /// [−m, m] with m the largest |x| on self: an error term "± self".
    public var plusOrMinus: Interval {
        let r = fresh()
        mpfr_abs(r.hi, hi, MPFR_RNDU)
        mpfr_abs(r.lo, lo, MPFR_RNDU)
        mpfr_max(r.hi, r.hi, r.lo, MPFR_RNDU)
        mpfr_neg(r.lo, r.hi, MPFR_RNDD)
        return r
    }

    /// self ∩ other, for two enclosures of one quantity. Disjoint enclosures (one of them
    /// wrong) give their hull instead, which holds the value if either does; one with a NaN
    /// end (enclosing nothing known) gives the other.
    public func intersected(with other: Interval) -> Interval {
        if hasNaN { return other }
        if other.hasNaN { return self }
        let r = fresh()
        mpfr_max(r.lo, lo, other.lo, MPFR_RNDD)
        mpfr_min(r.hi, hi, other.hi, MPFR_RNDU)
        if mpfr_cmp3(r.lo, r.hi, 1) > 0 {
            mpfr_min(r.lo, lo, other.lo, MPFR_RNDD)
            mpfr_max(r.hi, hi, other.hi, MPFR_RNDU)
        }
        return r
    }

    /// Whether the enclosure fails to pin its value to the relative width `fraction`:
    /// lo ≤ 0, hi = +∞, or hi − lo > fraction·hi (computed in MPFR: no underflow to Double).
    public func isRelativelyWiderThan(_ fraction: Double) -> Bool {
        guard !hasNaN, mpfr_sgn(lo) > 0, mpfr_inf_p(hi) == 0 else { return true }
        let w = fresh()
        mpfr_sub(w.hi, hi, lo, MPFR_RNDU)
        mpfr_mul_d(w.lo, hi, fraction, MPFR_RNDD)
        return mpfr_cmp3(w.hi, w.lo, 1) > 0
    }

    /// self ∩ [0, ∞): for a quantity known to be non-negative (a KL divergence, a
    /// square), whose enclosure may dip below 0 by rounding.
    public var clampedNonNegative: Interval {
        let r = fresh()
        // The zero is a named value kept alive across both calls: a temporary's storage may be
        // freed as soon as its pointer is read, before mpfr reads through it (a use after free
        // that made T6's MPFR certificate print −0.0 or 0.0 at random, and crash under
        // MALLOC_PERTURB_).
        let zero = Interval(exactly: 0, bits: bits)!
        withExtendedLifetime(zero) {
            mpfr_max(r.lo, lo, zero.lo, MPFR_RNDD)
            mpfr_max(r.hi, hi, zero.hi, MPFR_RNDU)
        }
        return r
    }

    /// The square, which is never negative: [0, …] when self contains 0.
    public var squared: Interval {
        let r = self * self
        if containsZero { mpfr_set_zero(r.lo, 1) }
        return r
    }

    /// log Σ exp(xᵢ), enclosed. The function is increasing in every argument, so
    /// its value on the box lies between its values at the lower corner and at the
    /// upper corner. Each corner is evaluated as m + log1p(Σ_{i≠j} exp(xᵢ − m)),
    /// with m = x_j the largest value, every operation rounded in that corner's
    /// direction: log1p keeps the tail of a near-one-hot distribution (e^−10000
    /// beside 1) that log(1 + …) would round away. No overflow: MPFR's exponent
    /// range is huge.
    public static func logSumExp(_ x: [Interval]) -> Interval {
        precondition(!x.isEmpty, "logSumExp of no terms")
        let bits = x[0].bits
        let r = Interval(bits: bits)
        corner(x.map(\.lo), into: r.lo, rounding: MPFR_RNDD, bits: bits)
        corner(x.map(\.hi), into: r.hi, rounding: MPFR_RNDU, bits: bits)
        return r
    }

    private static func corner(_ values: [UnsafeMutablePointer<__mpfr_struct>],
                               into out: UnsafeMutablePointer<__mpfr_struct>,
                               rounding: mpfr_rnd_t, bits: Int) {
        let scratch = Interval(bits: bits)
        let (term, acc) = (scratch.hi, out)
        var top = 0
        for (i, v) in values.enumerated() where mpfr_cmp3(v, values[top], 1) > 0 { top = i }
        let m = values[top]
        // Every value −∞ (each term's exp is 0): the log of the sum is −∞, not (−∞) − (−∞) = NaN.
        if mpfr_inf_p(m) != 0 && mpfr_sgn(m) < 0 {
            mpfr_set_inf(acc, -1)
            return
        }
        mpfr_set_zero(acc, 1)
        for (i, v) in values.enumerated() where i != top {
            mpfr_sub(term, v, m, rounding)
            mpfr_exp(term, term, rounding)
            mpfr_add(acc, acc, term, rounding)
        }
        mpfr_log1p(acc, acc, rounding)
        mpfr_add(acc, acc, m, rounding)
    }
}
