import CGMP

/// Fraction-free (Bareiss) elimination on GMP integers, behind the exact solve and
/// the exact definiteness tests.
///
/// Rational elimination reduces every intermediate to lowest terms, one gcd per
/// operation on numbers that grow with each step; this is what made exact
/// certification of d×d moment matrices cost millions of instructions. Here each row
/// is first scaled to integers (by the lcm of its denominators, a positive factor),
/// and Bareiss's update a_ij ← (a_kk a_ij − a_ik a_kj) / a_{k−1,k−1} keeps every entry
/// an integer minor of the scaled matrix, with exact divisions and no gcd. After step
/// k the pivot a_kk is the leading principal minor D_{k+1} of the scaled matrix.
/// Scaling row i by cᵢ > 0 multiplies D_k by Πᵢ≤ₖ cᵢ > 0, so the signs of the
/// leading minors (Sylvester's criterion, Jacobi's sign rule) are those of the
/// original matrix.
final class FractionFreeMatrix {
    let rows: Int
    let columns: Int
    private let entries: UnsafeMutablePointer<__mpz_struct>
    private let scratch: IntegerScratch

    /// [A | B] with every row scaled to integers (B may have no columns); with
    /// `commonDenominator`, every row by one factor, the lcm of all the denominators.
    init(_ a: RationalMatrix, augmentedWith b: RationalMatrix? = nil, commonDenominator: Bool = false) {
        let extra = b?.columns ?? 0
        rows = a.rows
        columns = a.columns + extra
        entries = .allocate(capacity: rows * columns)
        for t in 0..<(rows * columns) { __gmpz_init(entries + t) }
        scratch = IntegerScratch(count: 2 + rows)
        let factor = scratch[1]
        func entry(_ i: Int, _ j: Int) -> Rational { j < a.columns ? a[i, j] : b![i, j - a.columns] }
        for i in 0..<rows {
            let lcm = scratch[2 + i]
            __gmpz_set_ui(lcm, 1)
            for j in 0..<columns { __gmpz_lcm(lcm, lcm, denominatorOf(entry(i, j).value)) }
        }
        if commonDenominator, rows > 1 {
            for i in 1..<rows { __gmpz_lcm(scratch[2], scratch[2], scratch[2 + i]) }
            for i in 1..<rows { __gmpz_set(scratch[2 + i], scratch[2]) }
        }
        for i in 0..<rows {
            for j in 0..<columns {
                let x = entry(i, j)
                __gmpz_divexact(factor, scratch[2 + i], denominatorOf(x.value))
                __gmpz_mul(self[i, j], numeratorOf(x.value), factor)
            }
        }
    }

    /// tr(A·B) exactly (A m×n, B n×m): both scaled to integers by one denominator each, so
    /// the trace is one integer sum and one division (no product matrix, no gcd per term).
    static func traceOfProduct(_ a: RationalMatrix, _ b: RationalMatrix) -> Rational {
        precondition(a.columns == b.rows && a.rows == b.columns, "traceOfProduct: shapes differ")
        guard a.rows > 0, a.columns > 0 else { return .zero }
        let x = FractionFreeMatrix(a, commonDenominator: true), y = FractionFreeMatrix(b, commonDenominator: true)
        let z = IntegerScratch(count: 2)
        defer { z.release() }
        __gmpz_set_ui(z[0], 0)
        for i in 0..<a.rows {
            for j in 0..<a.columns { __gmpz_addmul(z[0], x[i, j], y[j, i]) }
        }
        // x and y own the scratch their scales live in: kept alive past these last reads.
        withExtendedLifetime((x, y)) { __gmpz_mul(z[1], x.scratch[2], y.scratch[2]) }
        return Rational(numerator: z[0], denominator: z[1])
    }

    /// tr(A·M·Aᵀ) exactly (A r×n, M n×n), likewise: Σᵢ Σⱼ Âᵢⱼ Σₗ M̂ⱼₗ Âᵢₗ / (L_A² L_M).
    static func traceOfCongruence(_ a: RationalMatrix, _ m: RationalMatrix) -> Rational {
        precondition(m.rows == m.columns && a.columns == m.rows, "traceOfCongruence: shapes differ")
        guard a.rows > 0, a.columns > 0 else { return .zero }
        let x = FractionFreeMatrix(a, commonDenominator: true), y = FractionFreeMatrix(m, commonDenominator: true)
        let z = IntegerScratch(count: 3)
        defer { z.release() }
        let (total, inner) = (z[0], z[1])
        __gmpz_set_ui(total, 0)
        for i in 0..<a.rows {
            for j in 0..<a.columns {
                __gmpz_set_ui(inner, 0)
                for l in 0..<a.columns { __gmpz_addmul(inner, y[j, l], x[i, l]) }
                __gmpz_addmul(total, x[i, j], inner)
            }
        }
        withExtendedLifetime((x, y)) {
            __gmpz_mul(z[2], x.scratch[2], x.scratch[2])
            __gmpz_mul(z[2], z[2], y.scratch[2])
        }
        return Rational(numerator: total, denominator: z[2])
    }

    /// The exact product A·B: row i of A scaled by its denominators' lcm Lᵢ and
    /// column j of B by Kⱼ, so (AB)ᵢⱼ = (Σₗ A'ᵢₗB'ₗⱼ) / (Lᵢ Kⱼ) with integer sums.
    static func product(_ a: RationalMatrix, _ b: RationalMatrix) -> RationalMatrix {
        let left = FractionFreeMatrix(a)
        let right = FractionFreeMatrix(b.transposed)
        let z = IntegerScratch(count: 1)
        defer { z.release() }
        var out: [Rational] = []
        out.reserveCapacity(a.rows * b.columns)
        for i in 0..<a.rows {
            for j in 0..<b.columns {
                __gmpz_set_ui(z[0], 0)
                for l in 0..<a.columns { __gmpz_addmul(z[0], left[i, l], right[j, l]) }
                let x = Rational()
                __gmpz_set(numeratorOf(x.value), z[0])
                __gmpz_mul(denominatorOf(x.value), left.rowScales[i], right.rowScales[j])
                __gmpq_canonicalize(x.value)
                out.append(x)
            }
        }
        return RationalMatrix(rows: a.rows, columns: b.columns, entries: out)
    }

    deinit {
        for t in 0..<(rows * columns) { __gmpz_clear(entries + t) }
        entries.deallocate()
        scratch.release()
    }

    subscript(i: Int, j: Int) -> UnsafeMutablePointer<__mpz_struct> { entries + (i * columns + j) }

    /// Lᵢ: the factor row i was scaled by.
    var rowScales: [UnsafeMutablePointer<__mpz_struct>] { (0..<rows).map { scratch[2 + $0] } }

    static func sign(_ z: UnsafePointer<__mpz_struct>) -> Int {
        z.pointee._mp_size < 0 ? -1 : (z.pointee._mp_size > 0 ? 1 : 0)
    }

    /// One Bareiss step on the trailing block: rows and columns after k, using
    /// pivot a_kk and the previous pivot (nil before the first step).
    private func eliminate(below k: Int, previous: UnsafeMutablePointer<__mpz_struct>?) {
        let t = scratch[0]
        for i in (k + 1)..<rows {
            for j in (k + 1)..<columns {
                __gmpz_mul(t, self[k, k], self[i, j])
                __gmpz_submul(t, self[i, k], self[k, j])
                if let previous { __gmpz_divexact(self[i, j], t, previous) } else { __gmpz_swap(self[i, j], t) }
            }
            __gmpz_set_ui(self[i, k], 0)
        }
    }

    /// Signs of the leading principal minors D₁, …, D_n of the square part, computed
    /// without pivoting; the list stops at (and includes) the first zero minor.
    func leadingMinorSigns() -> [Int] {
        var signs: [Int] = []
        for k in 0..<rows {
            let s = Self.sign(self[k, k])
            signs.append(s)
            if s == 0 { break }
            eliminate(below: k, previous: k > 0 ? self[k - 1, k - 1] : nil)
        }
        return signs
    }

    /// X with A X = B for the augmented [A | B] (A square), by Bareiss elimination
    /// with row pivoting and fraction-free back substitution: with d the last pivot
    /// (± det of the scaled A), y = d·x is an integer vector (Cramer's rule), found
    /// from U_ii yᵢ = d b'ᵢ − Σ_{j>i} U_ij y_j by exact division. nil when A is singular.
    func solve() -> RationalMatrix? {
        let n = rows, m = columns - rows
        for k in 0..<n {
            guard let p = (k..<n).first(where: { Self.sign(self[$0, k]) != 0 }) else { return nil }
            if p != k { for j in 0..<columns { __gmpz_swap(self[p, j], self[k, j]) } }
            if k + 1 < n { eliminate(below: k, previous: k > 0 ? self[k - 1, k - 1] : nil) }
        }
        let d = self[n - 1, n - 1]
        let y = IntegerScratch(count: n * max(m, 1) + 1)
        defer { y.release() }
        let t = y[n * max(m, 1)]
        var out: [Rational] = []
        out.reserveCapacity(n * m)
        for c in 0..<m {
            for i in stride(from: n - 1, through: 0, by: -1) {
                __gmpz_mul(t, d, self[i, n + c])
                for j in (i + 1)..<n { __gmpz_submul(t, self[i, j], y[j * m + c]) }
                __gmpz_divexact(y[i * m + c], t, self[i, i])
            }
        }
        for i in 0..<n {
            for c in 0..<m {
                let x = Rational()
                __gmpz_set(numeratorOf(x.value), y[i * m + c])
                __gmpz_set(denominatorOf(x.value), d)
                __gmpq_canonicalize(x.value)
                out.append(x)
            }
        }
        return RationalMatrix(rows: n, columns: m, entries: out)
    }
}

extension RationalMatrix {
    /// tr(A·B) exactly, for A m×n and B n×m, without forming the product (`FractionFreeMatrix`).
    public static func traceOfProduct(_ a: RationalMatrix, _ b: RationalMatrix) -> Rational {
        FractionFreeMatrix.traceOfProduct(a, b)
    }

    /// tr(A·M·Aᵀ) exactly, for A r×n and a square M n×n, without forming a product.
    public static func traceOfCongruence(_ a: RationalMatrix, _ m: RationalMatrix) -> Rational {
        FractionFreeMatrix.traceOfCongruence(a, m)
    }
}

extension Rational {
    /// n/d in lowest terms, for GMP integers with d > 0.
    convenience init(numerator n: UnsafePointer<__mpz_struct>, denominator d: UnsafePointer<__mpz_struct>) {
        self.init()
        __gmpz_set(numeratorOf(value), n)
        __gmpz_set(denominatorOf(value), d)
        __gmpq_canonicalize(value)
    }
}
