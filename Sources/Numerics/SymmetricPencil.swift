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

    /// How many eigenvalues of A − sB are positive (exactly).
    public func positiveCount(at s: Rational) throws -> Int {
        if let count = intervalPositiveCount(at: s) { return count }
        return try (a - s * b).symmetricInertia().positive
    }

    /// The count from interval LDLᵀ, or nil when a pivot interval contains 0.
    func intervalPositiveCount(at s: Rational) -> Int? {
        let (sLo, sHi) = (scratch, scratch + 1)
        mpfr_set_q(sLo, s.value, MPFR_RNDD)
        mpfr_set_q(sHi, s.value, MPFR_RNDU)
        // work = A − s·B (s·B endpoint-wise when s is a point, as Double candidates are)
        let pointS = mpfr_equal_p(sLo, sHi) != 0, negativeS = mpfr_sgn(sLo) < 0
        for t in 0..<(n * n) {
            if pointS {
                let (lo, hi) = negativeS ? (bI + 2 * t + 1, bI + 2 * t) : (bI + 2 * t, bI + 2 * t + 1)
                mpfr_mul(scratch + 2, lo, sLo, MPFR_RNDD)
                mpfr_mul(scratch + 3, hi, sLo, MPFR_RNDU)
            } else {
                multiply(scratch + 2, bI + 2 * t, sLo, sHi)
            }
            subtract(work + 2 * t, aI + 2 * t, scratch + 2)
        }
        var positive = 0
        for k in 0..<n {
            let pivot = work + 2 * (k * n + k)
            if mpfr_sgn(pivot) > 0 { positive += 1 }              // lo > 0
            else if mpfr_sgn(pivot + 1) >= 0 { return nil }       // lo ≤ 0 ≤ hi
            // Trailing block: M_ij −= M_ik · (M_kj / M_kk) for i, j > k.
            for j in (k + 1)..<n {
                divide(scratch + 4, work + 2 * (k * n + j), pivot)
                for i in (k + 1)..<n {
                    multiply(scratch + 6, work + 2 * (i * n + k), scratch + 4, scratch + 5)
                    subtract(work + 2 * (i * n + j), work + 2 * (i * n + j), scratch + 6)
                }
            }
        }
        return positive
    }

    /// r = x − y for intervals stored as (lo, hi) pairs (r may alias x).
    private func subtract(_ r: UnsafeMutablePointer<__mpfr_struct>, _ x: UnsafeMutablePointer<__mpfr_struct>,
                          _ y: UnsafeMutablePointer<__mpfr_struct>) {
        mpfr_sub(r, x, y + 1, MPFR_RNDD)
        mpfr_sub(r + 1, x + 1, y, MPFR_RNDU)
    }

    /// r = x · [yLo, yHi]: the extremes of the four endpoint products, rounded outward.
    private func multiply(_ r: UnsafeMutablePointer<__mpfr_struct>, _ x: UnsafeMutablePointer<__mpfr_struct>,
                          _ yLo: UnsafeMutablePointer<__mpfr_struct>, _ yHi: UnsafeMutablePointer<__mpfr_struct>) {
        extremes(r, x, yLo, yHi, mpfr_mul)
    }

    /// r = x / y, y not containing 0.
    private func divide(_ r: UnsafeMutablePointer<__mpfr_struct>, _ x: UnsafeMutablePointer<__mpfr_struct>,
                        _ y: UnsafeMutablePointer<__mpfr_struct>) {
        extremes(r, x, y, y + 1, mpfr_div)
    }

    private func extremes(_ r: UnsafeMutablePointer<__mpfr_struct>, _ x: UnsafeMutablePointer<__mpfr_struct>,
                          _ yLo: UnsafeMutablePointer<__mpfr_struct>, _ yHi: UnsafeMutablePointer<__mpfr_struct>,
                          _ op: (mpfr_ptr?, mpfr_srcptr?, mpfr_srcptr?, mpfr_rnd_t) -> Int32) {
        let (down, up, lo, hi) = (scratch + 8, scratch + 9, scratch + 10, scratch + 11)
        mpfr_set_inf(lo, 1)
        mpfr_set_inf(hi, -1)
        for u in [x, x + 1] {
            for v in [yLo, yHi] {
                _ = op(down, u, v, MPFR_RNDD)
                _ = op(up, u, v, MPFR_RNDU)
                mpfr_min(lo, lo, down, MPFR_RNDD)
                mpfr_max(hi, hi, up, MPFR_RNDU)
            }
        }
        mpfr_set(r, lo, MPFR_RNDD)
        mpfr_set(r + 1, hi, MPFR_RNDU)
    }
}
