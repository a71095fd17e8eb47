import CFastKernels
import CMPFR

/// The inertia of A − sB for symmetric rational A, B and many rational s, each count
/// certified: first by LDLᵀ without pivoting in MPFR interval arithmetic (outward
/// rounding), and by exact fraction-free elimination only when a pivot interval
/// contains 0.
///
/// Why it is sound: every interval operation encloses the exact result, so each
/// interval pivot encloses the exact pivot Dₖ/Dₖ₋₁ of A − sB (Dₖ its leading
/// principal minors). When no pivot interval contains 0, every exact pivot is
/// nonzero with the sign of its interval, and by Sylvester's law of inertia the
/// signs of the pivots are the signs of the eigenvalues. A and B are rounded to
/// intervals once; each count then costs O(n³) MPFR operations on numbers of
/// `bits` bits, where exact elimination on the rational entries (whose sizes
/// grow with every product that formed them) costs far more.
public final class SymmetricPencil {
    public let a: RationalMatrix
    public let b: RationalMatrix
    let n: Int
    let bits: Int
    /// A and B as intervals, then a working copy and temporaries: each an array of
    /// MPFR numbers [lo₀, hi₀, lo₁, hi₁, …] for the n×n entries.
    private let aI: UnsafeMutablePointer<__mpfr_struct>
    private let bI: UnsafeMutablePointer<__mpfr_struct>
    private let work: UnsafeMutablePointer<__mpfr_struct>
    private let scratch: UnsafeMutablePointer<__mpfr_struct>
    /// [s], [sBᵢⱼ], [Mₖⱼ/Mₖₖ], [product] as (lo, hi) pairs, then four temporaries.
    private static let scratchCount = 12

    public init(_ a: RationalMatrix, _ b: RationalMatrix, bits: Int = 128) {
        precondition(a.rows == a.columns && b.rows == b.columns && a.rows == b.rows, "SymmetricPencil: shapes")
        precondition((0..<a.rows).allSatisfy { i in (0..<i).allSatisfy { j in a[i, j] == a[j, i] && b[i, j] == b[j, i] } },
                     "SymmetricPencil: A and B must be symmetric")
        self.a = a
        self.b = b
        n = a.rows
        self.bits = bits
        logitbounds_mpfr_thread_uses()
        func make(_ count: Int) -> UnsafeMutablePointer<__mpfr_struct> {
            let p = UnsafeMutablePointer<__mpfr_struct>.allocate(capacity: count)
            for t in 0..<count { mpfr_init2(p + t, mpfr_prec_t(bits)) }
            return p
        }
        aI = make(2 * n * n)
        bI = make(2 * n * n)
        work = make(2 * n * n)
        scratch = make(Self.scratchCount)
        for t in 0..<(n * n) {
            mpfr_set_q(aI + 2 * t, a.entries[t].value, MPFR_RNDD)
            mpfr_set_q(aI + 2 * t + 1, a.entries[t].value, MPFR_RNDU)
            mpfr_set_q(bI + 2 * t, b.entries[t].value, MPFR_RNDD)
            mpfr_set_q(bI + 2 * t + 1, b.entries[t].value, MPFR_RNDU)
        }
    }

    deinit {
        for (p, count) in [(aI, 2 * n * n), (bI, 2 * n * n), (work, 2 * n * n), (scratch, Self.scratchCount)] {
            for t in 0..<count { mpfr_clear(p + t) }
            p.deallocate()
        }
    }

    /// How many eigenvalues of A − sB are positive (exactly): by the interval LDLᵀ at this
    /// pencil's precision, then at 4×, 16× … up to `finestBits`, then by exact elimination.
    /// Interval elimination widens its pivots by a factor that grows with n where A − sB is
    /// indefinite (diagonal pivoting lessens it): at d = 64, before that pivoting, every T7
    /// candidate was left open at 128 bits and went to exact elimination of 64×64 rationals (over
    /// 5 minutes for one pair); the widening is relative, so more bits close it at a small
    /// fraction of the exact cost.
    ///
    /// Nearby points need the same precision (a bisection's): after `skipAfter` counts in a row that
    /// this precision could not decide, counts go straight to the finer pencil, trying this one
    /// again every `retryEvery`-th count (a skipped precision's count is no less certain: every
    /// precision's interval count is exact where it decides). A heavy pair's 3 897 counts had each failed at 128 bits
    /// before deciding at 512 (a fifth of its time). The finest precision is never skipped (beyond
    /// it lies exact elimination).
    public func positiveCount(at s: Rational) throws -> Int {
        if failedInARow < Self.skipAfter || skippedSince >= Self.retryEvery || finer == nil {
            skippedSince = 0
            intervalAttempts += 1
            if let count = intervalPositiveCount(at: s) { failedInARow = 0; return count }
            failedInARow += 1
        } else {
            skippedSince += 1
        }
        if let finer { return try finer.positiveCount(at: s) }
        exactEliminations += 1
        return try (a - s * b).symmetricInertia().positive
    }

    private var failedInARow = 0, skippedSince = 0
    static let skipAfter = 4, retryEvery = 16
    /// How many counts `positiveCount` asked of this precision (for tests).
    package private(set) var intervalAttempts = 0

    /// How many counts went to exact elimination, this pencil's and its finer ones' (for tests).
    package var exactEliminationCount: Int { exactEliminations + (finerPencil?.exactEliminationCount ?? 0) }
    private var exactEliminations = 0

    /// The precision past which a count goes to exact elimination.
    public static let finestBits = 8192

    /// The same pencil at 4× the precision, made when first needed (nil past `finestBits`).
    private var finer: SymmetricPencil? {
        if finerPencil == nil, 4 * bits <= Self.finestBits { finerPencil = SymmetricPencil(a, b, bits: 4 * bits) }
        return finerPencil
    }
    private var finerPencil: SymmetricPencil?

    /// The count from interval LDLᵀ, or nil when a pivot interval contains 0.
    public func intervalPositiveCount(at s: Rational) -> Int? {
        guard eliminate(at: s) else { return nil }
        return (0..<n).filter { mpfr_sgn(work + 2 * ($0 * n + $0)) > 0 }.count
    }

    /// The pivot intervals of the interval LDLᵀ at s, exactly as rationals (for tests: each must
    /// hold the exact pivot); nil when one contains 0.
    func intervalPivots(at s: Rational) -> (order: [Int], pivots: [(lo: Rational, hi: Rational)])? {
        guard eliminate(at: s) else { return nil }
        return (order, order.map { k in pair(work + 2 * (k * n + k)) })
    }

    /// Interval LDLᵀ of A − sB into `work`, whose diagonal then holds the pivots; false when a
    /// pivot interval contains 0. Only the upper triangle is eliminated: A − sB is symmetric,
    /// so is every exact trailing block, and the enclosure of entry (i, j), i ≤ j, stands for
    /// (j, i) too.
    private func eliminate(at s: Rational) -> Bool {
        let (sLo, sHi) = (scratch, scratch + 1)
        mpfr_set_q(sLo, s.value, MPFR_RNDD)
        mpfr_set_q(sHi, s.value, MPFR_RNDU)
        // work = A − s·B on the upper triangle (s·B endpoint-wise when s is a point, as
        // Double candidates are).
        let pointS = mpfr_equal_p(sLo, sHi) != 0, negativeS = mpfr_sgn(sLo) < 0
        for i in 0..<n {
            for j in i..<n {
                let t = i * n + j
                if pointS {
                    let (lo, hi) = negativeS ? (bI + 2 * t + 1, bI + 2 * t) : (bI + 2 * t, bI + 2 * t + 1)
                    mpfr_mul(scratch + 2, lo, sLo, MPFR_RNDD)
                    mpfr_mul(scratch + 3, hi, sLo, MPFR_RNDU)
                } else {
                    multiply(scratch + 2, bI + 2 * t, sLo)
                }
                subtract(work + 2 * t, aI + 2 * t, scratch + 2)
            }
        }
        // Symmetric diagonal pivoting: each step takes the remaining diagonal interval farthest
        // from 0 (a congruence by a permutation, so the inertia is that of A − sB).
        var remaining = Array(0..<n)
        order.removeAll(keepingCapacity: true)
        func entry(_ i: Int, _ j: Int) -> UnsafeMutablePointer<__mpfr_struct> { work + 2 * (i <= j ? i * n + j : j * n + i) }
        while !remaining.isEmpty {
            // The candidate's end nearer 0 (lo when positive, hi when negative) measures its distance.
            var best: (position: Int, end: UnsafeMutablePointer<__mpfr_struct>)?
            for (r, i) in remaining.enumerated() {
                let d = entry(i, i)
                guard let end = mpfr_sgn(d) > 0 ? d : mpfr_sgn(d + 1) < 0 ? d + 1 : nil else { continue }
                if best.map({ mpfr_cmpabs(end, $0.end) > 0 }) ?? true { best = (r, end) }
            }
            guard let position = best?.position else { return false } // every diagonal interval holds 0
            let k = remaining.remove(at: position)
            order.append(k)
            let pivot = entry(k, k)
            // Trailing block: M_ij −= M_ki · (M_kj / M_kk) over the remaining i ≤ j.
            for j in remaining {
                divide(scratch + 4, entry(k, j), pivot)
                for i in remaining where i <= j {
                    multiply(scratch + 6, entry(k, i), scratch + 4)
                    subtract(entry(i, j), entry(i, j), scratch + 6)
                }
            }
        }
        return true
    }

    /// The order in which the last elimination took its pivots.
    private(set) var order: [Int] = []

    /// The interval (lo, hi) at `x` as exact rationals.
    private func pair(_ x: UnsafeMutablePointer<__mpfr_struct>) -> (lo: Rational, hi: Rational) {
        let (lo, hi) = (Rational(), Rational())
        mpfr_get_q(lo.value, x)
        mpfr_get_q(hi.value, x + 1)
        return (lo, hi)
    }

    /// x·y or x/y of two Double intervals by this pencil's interval operations, exactly as
    /// rationals (for tests of every sign case).
    func intervalOperation(_ x: (Double, Double), _ y: (Double, Double), divide: Bool) -> (lo: Rational, hi: Rational) {
        let (a, b) = (scratch + 2, scratch + 4)
        mpfr_set_d(a, x.0, MPFR_RNDD); mpfr_set_d(a + 1, x.1, MPFR_RNDU)
        mpfr_set_d(b, y.0, MPFR_RNDD); mpfr_set_d(b + 1, y.1, MPFR_RNDU)
        if divide { self.divide(scratch + 6, a, b) } else { multiply(scratch + 6, a, b) }
        return pair(scratch + 6)
    }

    /// r = x − y for intervals stored as (lo, hi) pairs (r may alias x).
    private func subtract(_ r: UnsafeMutablePointer<__mpfr_struct>, _ x: UnsafeMutablePointer<__mpfr_struct>,
                          _ y: UnsafeMutablePointer<__mpfr_struct>) {
        mpfr_sub(r, x, y + 1, MPFR_RNDD)
        mpfr_sub(r + 1, x + 1, y, MPFR_RNDU)
    }

    /// r = x·y for intervals (lo, hi), by the signs of the ends: two endpoint products, four
    /// only when both straddle 0 (r must alias neither).
    private func multiply(_ r: UnsafeMutablePointer<__mpfr_struct>, _ x: UnsafeMutablePointer<__mpfr_struct>,
                          _ y: UnsafeMutablePointer<__mpfr_struct>) {
        let (xl, xh, yl, yh) = (x, x + 1, y, y + 1)
        let xNonNegative = mpfr_sgn(xl) >= 0, xNonPositive = mpfr_sgn(xh) <= 0
        let yNonNegative = mpfr_sgn(yl) >= 0, yNonPositive = mpfr_sgn(yh) <= 0
        func ends(_ a: UnsafeMutablePointer<__mpfr_struct>, _ b: UnsafeMutablePointer<__mpfr_struct>,
                  _ c: UnsafeMutablePointer<__mpfr_struct>, _ d: UnsafeMutablePointer<__mpfr_struct>) {
            mpfr_mul(r, a, b, MPFR_RNDD)
            mpfr_mul(r + 1, c, d, MPFR_RNDU)
        }
        if xNonNegative {
            if yNonNegative { ends(xl, yl, xh, yh) } else if yNonPositive { ends(xh, yl, xl, yh) } else { ends(xh, yl, xh, yh) }
        } else if xNonPositive {
            if yNonNegative { ends(xl, yh, xh, yl) } else if yNonPositive { ends(xh, yh, xl, yl) } else { ends(xl, yh, xl, yl) }
        } else if yNonNegative {
            ends(xl, yh, xh, yh)
        } else if yNonPositive {
            ends(xh, yl, xl, yl)
        } else {
            // Both straddle 0: lo = min(xl·yh, xh·yl), hi = max(xl·yl, xh·yh).
            let t = scratch + 8
            mpfr_mul(r, xl, yh, MPFR_RNDD)
            mpfr_mul(t, xh, yl, MPFR_RNDD)
            mpfr_min(r, r, t, MPFR_RNDD)
            mpfr_mul(r + 1, xl, yl, MPFR_RNDU)
            mpfr_mul(t, xh, yh, MPFR_RNDU)
            mpfr_max(r + 1, r + 1, t, MPFR_RNDU)
        }
    }

    /// r = x / y, y not containing 0 (r must alias neither): by the signs of the ends.
    private func divide(_ r: UnsafeMutablePointer<__mpfr_struct>, _ x: UnsafeMutablePointer<__mpfr_struct>,
                        _ y: UnsafeMutablePointer<__mpfr_struct>) {
        let (xl, xh, yl, yh) = (x, x + 1, y, y + 1)
        let positive = mpfr_sgn(yl) > 0
        precondition(positive || mpfr_sgn(yh) < 0, "SymmetricPencil: division by an interval holding 0")
        func ends(_ a: UnsafeMutablePointer<__mpfr_struct>, _ b: UnsafeMutablePointer<__mpfr_struct>,
                  _ c: UnsafeMutablePointer<__mpfr_struct>, _ d: UnsafeMutablePointer<__mpfr_struct>) {
            mpfr_div(r, a, b, MPFR_RNDD)
            mpfr_div(r + 1, c, d, MPFR_RNDU)
        }
        let xNonNegative = mpfr_sgn(xl) >= 0, xNonPositive = mpfr_sgn(xh) <= 0
        if positive {
            if xNonNegative { ends(xl, yh, xh, yl) } else if xNonPositive { ends(xl, yl, xh, yh) } else { ends(xl, yl, xh, yl) }
        } else {
            if xNonNegative { ends(xh, yh, xl, yl) } else if xNonPositive { ends(xh, yl, xl, yh) } else { ends(xh, yh, xl, yh) }
        }
    }
}
