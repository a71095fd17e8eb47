import CGMP

extension RationalMatrix {
    /// The exact product A·Bᵀ of two Double matrices (A is m×n, B is p×n).
    ///
    /// Every Double is m·2ᵉ with |m| < 2⁵³, so each entry Σⱼ AᵢⱼBₖⱼ is a sum of
    /// dyadic products of 106-bit mantissas. The fast path accumulates them in
    /// Int128 at a common exponent (shifts and sums overflow-checked); an entry that
    /// does not fit falls back to GMP rationals. Either way the result is exact.
    /// Costs O(m p n) machine operations instead of O(m p n) GMP calls.
    public static func exactProduct(_ a: Matrix, transposing b: Matrix) throws -> RationalMatrix {
        guard a.columns == b.columns else {
            throw NumericsError.dimensionMismatch(operation: "exact product", left: a.shape, right: b.shape)
        }
        try a.requireFinite("exact product")
        try b.requireFinite("exact product")
        let entries = dyadicRowProducts(a, b) { i, k, row, col in
            dyadicDot(row, col) ?? Rational.sum((0..<a.columns).map {
                Rational(exactly: a[i, $0])! * Rational(exactly: b[k, $0])!
            })
        }
        return RationalMatrix(rows: a.rows, columns: b.rows, entries: entries)
    }

    /// entry(i, k, row i of A, row k of B) for every (i, k) in row-major order, the rows
    /// given as dyadic parts (A and B have equal column counts).
    static func dyadicRowProducts<T>(_ a: Matrix, _ b: Matrix,
                                     _ entry: (Int, Int, ArraySlice<DyadicParts>, ArraySlice<DyadicParts>) -> T) -> [T] {
        let aParts = a.storage.map(DyadicParts.init), bParts = b.storage.map(DyadicParts.init)
        let n = a.columns
        var out: [T] = []
        out.reserveCapacity(a.rows * b.rows)
        for i in 0..<a.rows {
            for k in 0..<b.rows {
                out.append(entry(i, k, aParts[(i * n)..<((i + 1) * n)], bParts[(k * n)..<((k + 1) * n)]))
            }
        }
        return out
    }

    /// Σ xⱼyⱼ exactly in Int128 at a common exponent, or nil on overflow.
    static func dyadicDot(_ x: ArraySlice<DyadicParts>, _ y: ArraySlice<DyadicParts>) -> Rational? {
        dyadicDotParts(x, y).map { Rational($0.0, exponent: $0.1) }
    }

    /// Σ xⱼyⱼ as n·2^e with n in Int128 (0 as (0, 0)), or nil on overflow.
    static func dyadicDotParts(_ x: ArraySlice<DyadicParts>, _ y: ArraySlice<DyadicParts>) -> (Int128, Int)? {
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeBufferPointer { yp -> (Int128, Int)? in
                var lowest = Int.max
                for j in 0..<xp.count where xp[j].mantissa != 0 && yp[j].mantissa != 0 {
                    lowest = min(lowest, xp[j].exponent + yp[j].exponent)
                }
                if lowest == Int.max { return (0, 0) }
                var total: Int128 = 0
                for j in 0..<xp.count where xp[j].mantissa != 0 && yp[j].mantissa != 0 {
                    let shift = xp[j].exponent + yp[j].exponent - lowest
                    guard shift < 20 else { return nil }     // 106 + 20 bits < 127
                    let product = Int128(xp[j].mantissa) * Int128(yp[j].mantissa)
                    let (sum, overflow) = total.addingReportingOverflow(product << shift)
                    guard !overflow else { return nil }
                    total = sum
                }
                return (total, lowest)
            }
        }
    }
}

/// A finite Double as mantissa · 2^exponent with |mantissa| < 2⁵³ (odd, or 0).
struct DyadicParts {
    let mantissa: Int64
    let exponent: Int

    init(_ x: Double) {
        guard x != 0 else { mantissa = 0; exponent = 0; return }
        var m = Int64(x.significandBitPattern | (x.isNormal ? 1 << 52 : 0))
        var e = Int(x.exponentBitPattern) - 1075 + (x.isNormal ? 0 : 1)
        let zeros = m.trailingZeroBitCount
        m >>= zeros
        e += zeros
        mantissa = x < 0 ? -m : m
        exponent = e
    }
}

extension Rational {
    /// n · 2^e exactly.
    convenience init(_ n: Int128, exponent e: Int) {
        self.init()
        let magnitude = n.magnitude
        let high = UInt(truncatingIfNeeded: magnitude >> 64), low = UInt(truncatingIfNeeded: magnitude)
        let num = numeratorOf(value)
        __gmpz_set_ui(num, high)
        __gmpz_mul_2exp(num, num, 64)
        __gmpz_add_ui(num, num, low)
        if n < 0 { __gmpz_neg(num, num) }
        if e >= 0 {
            __gmpz_mul_2exp(num, num, mp_bitcnt_t(e))
        } else {
            let den = denominatorOf(value)
            __gmpz_set_ui(den, 1)
            __gmpz_mul_2exp(den, den, mp_bitcnt_t(-e))
            __gmpq_canonicalize(value)
        }
    }
}

/// mpq_numref and mpq_denref (C macros): an mpq_t is its numerator then its denominator.
@inline(__always) func numeratorOf(_ q: UnsafeMutablePointer<__mpq_struct>) -> UnsafeMutablePointer<__mpz_struct> {
    UnsafeMutableRawPointer(q).assumingMemoryBound(to: __mpz_struct.self)
}

@inline(__always) func denominatorOf(_ q: UnsafeMutablePointer<__mpq_struct>) -> UnsafeMutablePointer<__mpz_struct> {
    numeratorOf(q).advanced(by: 1)
}
