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
        let scratch = IntegerScratch(count: 2)
        defer { scratch.release() }
        let entries = dyadicRowProducts(a, b) { _, _, row, col in
            dyadicDot(row, col) ?? {
                let lowest = accumulateDot(row, col, into: scratch[0], term: scratch[1])
                return Rational(integer: scratch[0], exponent: lowest)
            }()
        }
        return RationalMatrix(rows: a.rows, columns: b.rows, entries: entries)
    }

    /// XᵀDY exactly, for Double matrices X (N×p) and Y (N×q) and positive Double
    /// weights w with D = diag(w)/Σw: the weighted cross moment E_w[x yᵀ] of the rows.
    ///
    /// Uniform weights give XᵀY/N on the Int128 path of `exactProduct`. Otherwise each
    /// entry Σᵢ wᵢxᵢⱼyᵢₗ is a sum of three-factor dyadic products (159-bit mantissas),
    /// accumulated in GMP integers at its smallest exponent, then divided by the exact
    /// Σw. No rational is formed per term, so there is no gcd until the end.
    public static func exactWeightedCrossProduct(_ x: Matrix, _ y: Matrix, weights: [Double]) throws -> RationalMatrix {
        guard x.rows == y.rows, weights.count == x.rows else {
            throw NumericsError.dimensionMismatch(operation: "exact weighted cross product", left: x.shape, right: y.shape)
        }
        try x.requireFinite("exact weighted cross product")
        try y.requireFinite("exact weighted cross product")
        guard weights.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw NumericsError.invalidArgument("exact weighted cross product: weights must be positive and finite")
        }
        let n = x.rows
        if let w0 = weights.first, weights.allSatisfy({ $0 == w0 }) {
            return Rational(1, max(n, 1)) * (try exactProduct(x.transposed, transposing: y.transposed))
        }
        let w = weights.map(DyadicParts.init)
        let xt = x.transposed.storage.map(DyadicParts.init), yt = y.transposed.storage.map(DyadicParts.init)
        let scratch = IntegerScratch(count: 2)
        defer { scratch.release() }
        let (total, term) = (scratch[0], scratch[1])
        let weightSum = Rational.sum(weights.map { Rational(exactly: $0)! })
        var entries: [Rational] = []
        entries.reserveCapacity(x.columns * y.columns)
        for j in 0..<x.columns {
            for l in 0..<y.columns {
                var lowest = Int.max
                for i in 0..<n where xt[j * n + i].mantissa != 0 && yt[l * n + i].mantissa != 0 {
                    lowest = Swift.min(lowest, w[i].exponent + xt[j * n + i].exponent + yt[l * n + i].exponent)
                }
                __gmpz_set_ui(total, 0)
                for i in 0..<n where lowest != Int.max && xt[j * n + i].mantissa != 0 && yt[l * n + i].mantissa != 0 {
                    let (a, b) = (xt[j * n + i], yt[l * n + i])
                    ExactLogitDistance.setInt128(term, Int128(a.mantissa) * Int128(b.mantissa))
                    __gmpz_mul_si(term, term, Int(w[i].mantissa))
                    __gmpz_mul_2exp(term, term, mp_bitcnt_t(w[i].exponent + a.exponent + b.exponent - lowest))
                    __gmpz_add(total, total, term)
                }
                entries.append(Rational(integer: total, exponent: lowest == Int.max ? 0 : lowest) / weightSum)
            }
        }
        return RationalMatrix(rows: x.columns, columns: y.columns, entries: entries)
    }

    /// total = Σ xⱼyⱼ · 2^{−lowest} in GMP integers, where lowest (returned) is the
    /// smallest exponent of a nonzero product (0 when there is none); `term` is scratch.
    static func accumulateDot(_ x: ArraySlice<DyadicParts>, _ y: ArraySlice<DyadicParts>,
                              into total: UnsafeMutablePointer<__mpz_struct>,
                              term: UnsafeMutablePointer<__mpz_struct>) -> Int {
        let pairs = zip(x, y).filter { $0.0.mantissa != 0 && $0.1.mantissa != 0 }
        let lowest = pairs.map { $0.0.exponent + $0.1.exponent }.min() ?? 0
        __gmpz_set_ui(total, 0)
        for (p, q) in pairs {
            ExactLogitDistance.setInt128(term, Int128(p.mantissa) * Int128(q.mantissa))
            __gmpz_mul_2exp(term, term, mp_bitcnt_t(p.exponent + q.exponent - lowest))
            __gmpz_add(total, total, term)
        }
        return lowest
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
    /// z · 2^e exactly, for a GMP integer z.
    convenience init(integer z: UnsafePointer<__mpz_struct>, exponent e: Int) {
        self.init()
        __gmpz_set(numeratorOf(value), z)
        multiplyByPowerOfTwo(e)
    }

    /// n · 2^e exactly.
    convenience init(_ n: Int128, exponent e: Int) {
        self.init()
        ExactLogitDistance.setInt128(numeratorOf(value), n)
        multiplyByPowerOfTwo(e)
    }

    /// self ← self · 2^e, for a freshly made integer-valued self (denominator 1).
    private func multiplyByPowerOfTwo(_ e: Int) {
        let num = numeratorOf(value)
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
