import CGMP

/// d_logit² of two models given as Doubles, exactly, on integers:
///
///   d² = Σᵢ wᵢ ‖C(Λ₁ᵢ − Λ₂ᵢ)‖² = Σᵢ wᵢ (k Σ_y cᵢ_y² − (Σ_y cᵢ_y)²) / k,  c = F₁G₁ᵀ − F₂G₂ᵀ,
///
/// with wᵢ = rawᵢ / Σ raw from the stored Double weights. Centring is folded into
/// the row formula, so no centred logits are formed. Every raw logit is a dyadic
/// n·2^e (accumulated in Int128, as `RationalMatrix.exactProduct` does; a logit whose
/// products span more than Int128 holds is accumulated in GMP integers). Each row's
/// sums run at that row's smallest exponent, in machine integers when they fit and in
/// GMP integers (mpz: no gcd per operation) otherwise; Sᵢ is then brought to the
/// smallest exponent E overall, and one rational division ends it:
///   d² = (Σᵢ mᵢ2^{eᵢ−e₀} Sᵢ) · 2^{2E} / (k · Σᵢ mᵢ2^{eᵢ−e₀}),  rawᵢ = mᵢ2^{eᵢ}.
/// nil only for non-finite input.
public enum ExactLogitDistance {
    public static func squared(_ f1: Matrix, _ g1: Matrix, _ f2: Matrix, _ g2: Matrix, weights: [Double]) -> Rational? {
        precondition(f1.rows == f2.rows && g1.rows == g2.rows, "ExactLogitDistance: shapes differ")
        guard let a = Logits(f1, g1), let b = Logits(f2, g2) else { return nil }
        return squared(a, b, weights: weights)
    }

    /// d_logit² between two models' exact logits (equal shapes; one weight per row).
    public static func squared(_ first: Logits, _ second: Logits, weights: [Double]) -> Rational {
        let k = first.columns
        let (a, b) = (first.entries, second.entries)
        return weightedRowSum(first, second, weights: weights, divisor: k) { row, base, s, z in
            let (c, other, rowSum, rowSquares) = (z[0], z[1], z[2], z[3])
            if !machineRow(a[row], b[row], base: base, sum: rowSum, squares: rowSquares) {
                __gmpz_set_ui(rowSum, 0)
                __gmpz_set_ui(rowSquares, 0)
                for t in row {
                    setDifference(c, a[t], b[t], base: base, scratch: other)
                    __gmpz_add(rowSum, rowSum, c)
                    __gmpz_addmul(rowSquares, c, c)
                }
            }
            // Sᵢ = k Σc² − (Σc)²
            __gmpz_mul_ui(s, rowSquares, UInt(k))
            __gmpz_submul(s, rowSum, rowSum)
        }
    }

    /// E_x Σ_{l∈S} (c_l − c_p)², c = Λ₁ − Λ₂, exactly: T5's E_x Σ_{l∈S}(δ_l − δ_p)²
    /// (centring cancels in the differences, so the raw logits serve).
    public static func pivotSum(_ first: Logits, _ second: Logits, weights: [Double],
                                pivot: Int, subset: [Int]) -> Rational {
        let (a, b) = (first.entries, second.entries)
        return weightedRowSum(first, second, weights: weights, divisor: 1) { row, base, s, z in
            let (c, other, p) = (z[0], z[1], z[2])
            let i = row.lowerBound
            setDifference(p, a[i + pivot], b[i + pivot], base: base, scratch: other)
            __gmpz_set_ui(s, 0)
            for l in subset {
                setDifference(c, a[i + l], b[i + l], base: base, scratch: other)
                __gmpz_sub(c, c, p)
                __gmpz_addmul(s, c, c)
            }
        }
    }

    /// (Σᵢ wᵢ Sᵢ) / (divisor · Σᵢ wᵢ) exactly, where `rowValue(row, base, S, scratch)`
    /// writes Sᵢ, a quadratic form in row i's exact differences c = a − b taken at
    /// 2^base (base = the row's smallest exponent), so Sᵢ stands for Sᵢ·2^{2·base}.
    /// Rows are brought to the smallest exponent overall; one rational division ends it.
    static func weightedRowSum(_ first: Logits, _ second: Logits, weights: [Double], divisor: Int,
                               _ rowValue: (Range<Int>, Int, UnsafeMutablePointer<__mpz_struct>, IntegerScratch) -> Void) -> Rational {
        let n = first.rows, k = first.columns
        precondition(second.rows == n && second.columns == k && weights.count == n, "ExactLogitDistance: shapes differ")
        let a = first.entries, b = second.entries
        let lowest = min(first.lowestExponent, second.lowestExponent)
        if lowest == Int.max { return .zero }   // both logit matrices are 0
        let w = weights.map(DyadicParts.init)
        let weightExponent = w.filter { $0.mantissa != 0 }.map(\.exponent).min() ?? 0

        let z = IntegerScratch(count: 4), rowScratch = IntegerScratch(count: 4)
        defer { z.release(); rowScratch.release() }
        let (s, weight, acc, total) = (z[0], z[1], z[2], z[3])
        for i in 0..<n {
            let row = (i * k)..<((i + 1) * k)
            // Each row at its own smallest exponent (then rescaled to `lowest`), so
            // machine-integer paths apply whenever the row's logits are alike.
            let rowBase = smallestExponent(a, b, row) ?? lowest
            rowValue(row, rowBase, s, rowScratch)
            __gmpz_mul_2exp(s, s, mp_bitcnt_t(2 * (rowBase - lowest)))
            guard w[i].mantissa != 0 else { continue }
            set(weight, Logit(Int128(w[i].mantissa), w[i].exponent, big: nil), weightExponent)
            __gmpz_addmul(acc, weight, s)
            __gmpz_add(total, total, weight)
        }
        // (acc · 2^{2·lowest}) / (divisor · total)
        let result = Rational()
        let num = numeratorOf(result.value), den = denominatorOf(result.value)
        __gmpz_set(num, acc)
        __gmpz_mul_ui(den, total, UInt(divisor))
        if lowest >= 0 { __gmpz_mul_2exp(num, num, mp_bitcnt_t(2 * lowest)) }
        else { __gmpz_mul_2exp(den, den, mp_bitcnt_t(-2 * lowest)) }
        __gmpq_canonicalize(result.value)
        return result
    }

    /// Σ_y c_y and Σ_y c_y² of one row's exact differences c = a − b at 2^base, in
    /// machine integers (c in Int128, c² summed in 256 bits), written to the two GMP
    /// integers. false, writing nothing, when a value does not fit.
    static func machineRow(_ a: ArraySlice<Logit>, _ b: ArraySlice<Logit>, base: Int,
                           sum: UnsafeMutablePointer<__mpz_struct>, squares: UnsafeMutablePointer<__mpz_struct>) -> Bool {
        func shifted(_ x: Logit) -> Int128? {
            guard x.big == nil else { return nil }
            if x.small == 0 { return 0 }
            let shift = x.exponent - base
            guard shift >= 0, shift < 120, x.small.magnitude.leadingZeroBitCount > shift + 1 else { return nil }
            return x.small << shift
        }
        var total: Int128 = 0
        var high: UInt128 = 0, low: UInt128 = 0
        for (x, y) in zip(a, b) {
            guard let p = shifted(x), let q = shifted(y) else { return false }
            let (c, o1) = p.subtractingReportingOverflow(q)
            guard !o1 else { return false }
            let (t, o2) = total.addingReportingOverflow(c)
            guard !o2 else { return false }
            total = t
            let product = c.magnitude.multipliedFullWidth(by: c.magnitude)
            let (l, carry) = low.addingReportingOverflow(product.low)
            low = l
            let (h1, o3) = high.addingReportingOverflow(product.high)
            let (h2, o4) = h1.addingReportingOverflow(carry ? 1 : 0)
            guard !o3, !o4 else { return false }
            high = h2
        }
        setInt128(sum, total)
        // squares = high·2^128 + low
        for (i, part) in [high >> 64, high & UInt128(UInt64.max), low >> 64, low & UInt128(UInt64.max)].enumerated() {
            if i == 0 { __gmpz_set_ui(squares, UInt(part)) } else {
                __gmpz_mul_2exp(squares, squares, 64)
                __gmpz_add_ui(squares, squares, UInt(part))
            }
        }
        return true
    }

    /// The centred logit difference Λ̃₁ − Λ̃₂ = (F₁G₁ᵀ − F₂G₂ᵀ)C, each row centred
    /// exactly and every entry then rounded once (within ~1 ulp), not computed from
    /// rounded logits: for near-equal models, and for orbit pairs whose raw logits
    /// differ by a large per-row constant, the latter is rounding noise. Row i is
    /// (k·cᵢ − Σ_y cᵢ_y)/k with cᵢ the exact raw difference, in GMP integers at the
    /// row's smallest exponent. nil only for non-finite input.
    public static func centredDifferences(_ f1: Matrix, _ g1: Matrix, _ f2: Matrix, _ g2: Matrix) -> Matrix? {
        guard let first = Logits(f1, g1), let second = Logits(f2, g2) else { return nil }
        let (a, b, k) = (first.entries, second.entries, g1.rows)
        var out = Matrix(rows: f1.rows, columns: k)
        let z = IntegerScratch(count: k + 2)
        defer { z.release() }
        let (sum, scaled) = (z[k], z[k + 1])
        for i in 0..<f1.rows {
            let row = (i * k)..<((i + 1) * k)
            let base = smallestExponent(a, b, row) ?? 0
            __gmpz_set_ui(sum, 0)
            for (y, t) in row.enumerated() {
                setDifference(z[y], a[t], b[t], base: base, scratch: scaled)
                __gmpz_add(sum, sum, z[y])
            }
            for y in 0..<k {
                __gmpz_mul_ui(scaled, z[y], UInt(k))
                __gmpz_sub(scaled, scaled, sum)
                var exponent = 0
                let mantissa = __gmpz_get_d_2exp(&exponent, scaled)
                out[i, y] = scale(mantissa, exponent + base) / Double(k)
            }
        }
        return out
    }

    /// x·2^e without overflow in the intermediate power.
    static func scale(_ x: Double, _ e: Int) -> Double {
        var v = x, e = e
        while e > 1000 { v *= 0x1p1000; e -= 1000 }
        while e < -1000 { v *= 0x1p-1000; e += 1000 }
        return v * Double(sign: .plus, exponent: e, significand: 1)
    }

    /// One exact logit n·2^e: n in Int128, or (`big` ≠ nil) that GMP integer.
    struct Logit {
        let small: Int128
        let exponent: Int
        let big: UnsafeMutablePointer<__mpz_struct>?
        init(_ small: Int128, _ exponent: Int, big: UnsafeMutablePointer<__mpz_struct>?) {
            self.small = small; self.exponent = exponent; self.big = big
        }
        var isZero: Bool { big == nil && small == 0 }
    }

    /// Every entry of Λ = FGᵀ exactly, row-major: computed once per model and shared
    /// by every distance that model takes part in (T1's triangle uses three).
    public struct Logits: @unchecked Sendable {
        let entries: [Logit]
        /// Owns the GMP integers of entries that overflow Int128.
        let big: BigEntries
        public let rows: Int
        public let columns: Int
        /// The smallest exponent among the nonzero entries (Int.max when all are 0).
        let lowestExponent: Int

        /// nil for non-finite input.
        public init?(_ f: Matrix, _ g: Matrix) {
            precondition(f.columns == g.columns, "ExactLogitDistance.Logits: F and G differ in dimension")
            guard f.storage.allSatisfy(\.isFinite), g.storage.allSatisfy(\.isFinite) else { return nil }
            let big = BigEntries()
            entries = RationalMatrix.dyadicRowProducts(f, g) { _, _, x, z in
                RationalMatrix.dyadicDotParts(x, z).map { Logit($0.0, $0.1, big: nil) } ?? big.dot(x, z)
            }
            self.big = big
            rows = f.rows
            columns = g.rows
            var lowest = Int.max
            for entry in entries where !entry.isZero { lowest = min(lowest, entry.exponent) }
            lowestExponent = lowest
        }
    }

    /// The smallest exponent among the nonzero logits of both models in `row`.
    static func smallestExponent(_ a: [Logit], _ b: [Logit], _ row: Range<Int>) -> Int? {
        var lowest = Int.max
        for t in row {
            if !a[t].isZero { lowest = min(lowest, a[t].exponent) }
            if !b[t].isZero { lowest = min(lowest, b[t].exponent) }
        }
        return lowest == Int.max ? nil : lowest
    }

    /// z = (x − y) · 2^{−base}, exactly (`scratch` is overwritten).
    static func setDifference(_ z: UnsafeMutablePointer<__mpz_struct>, _ x: Logit, _ y: Logit, base: Int,
                              scratch: UnsafeMutablePointer<__mpz_struct>) {
        set(z, x, base)
        set(scratch, y, base)
        __gmpz_sub(z, z, scratch)
    }

    /// z = value · 2^{e − base} (e ≥ base).
    static func set(_ z: UnsafeMutablePointer<__mpz_struct>, _ entry: Logit, _ base: Int) {
        if let big = entry.big {
            __gmpz_set(z, big)
        } else {
            setInt128(z, entry.small)
        }
        if !entry.isZero { __gmpz_mul_2exp(z, z, mp_bitcnt_t(entry.exponent - base)) }
    }

    static func setInt128(_ z: UnsafeMutablePointer<__mpz_struct>, _ n: Int128) {
        let magnitude = n.magnitude
        __gmpz_set_ui(z, UInt(truncatingIfNeeded: magnitude >> 64))
        __gmpz_mul_2exp(z, z, 64)
        __gmpz_add_ui(z, z, UInt(truncatingIfNeeded: magnitude))
        if n < 0 { __gmpz_neg(z, z) }
    }
}

/// Logits that overflow Int128, held as GMP integers and freed with their owner.
final class BigEntries {
    private var values: [UnsafeMutablePointer<__mpz_struct>] = []

    /// Σ xⱼyⱼ in GMP integers at the smallest exponent of its products.
    func dot(_ x: ArraySlice<DyadicParts>, _ y: ArraySlice<DyadicParts>) -> ExactLogitDistance.Logit {
        let total = UnsafeMutablePointer<__mpz_struct>.allocate(capacity: 1)
        let term = UnsafeMutablePointer<__mpz_struct>.allocate(capacity: 1)
        __gmpz_init(total); __gmpz_init(term)
        let lowest = RationalMatrix.accumulateDot(x, y, into: total, term: term)
        __gmpz_clear(term); term.deallocate()
        values.append(total)
        return ExactLogitDistance.Logit(0, lowest, big: total)
    }

    deinit {
        for v in values { __gmpz_clear(v); v.deallocate() }
    }
}

/// A few GMP integers for one computation, initialised to 0 and freed together.
final class IntegerScratch {
    let storage: UnsafeMutablePointer<__mpz_struct>
    let count: Int

    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: count)
        for i in 0..<count { __gmpz_init(storage + i) }
    }

    subscript(i: Int) -> UnsafeMutablePointer<__mpz_struct> { storage + i }

    func release() {
        for i in 0..<count { __gmpz_clear(storage + i) }
        storage.deallocate()
    }
}
