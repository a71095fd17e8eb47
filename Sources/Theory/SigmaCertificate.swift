import Numerics

/// Certified decisions of inequalities of the form lhs ≤ c / σ_min(M)², the shape of
/// T3, T4 and T5, given the Gram matrix S = MᵀM in rationals.
///
/// For lhs > 0: lhs ≤ c/σ² ⇔ σ² ≤ t with t = c/lhs ⇔ λ_min(S − tI) ≤ 0 ⇔ S − tI is
/// not positive definite, which the exact inertia decides (`decide(gram:)`, no rounding
/// anywhere) or a certified count of S's eigenvalues above t (`decide(count:)`, MPFR
/// intervals then exact elimination). Either way the outcome is `holds` or `violated`.
enum SigmaCertificate {
    static func decide(lhs: Rational, numerator c: Rational, gram s: RationalMatrix,
                       matrixName: String) throws -> (Outcome, String) {
        if lhs.isZero { return (.holds, "left side is exactly 0") }
        let t = c / lhs
        let definite = try s.shiftingDiagonal(by: t).isPositiveDefinite()
        if definite {
            return (.violated, "\(matrixName)ᵀ\(matrixName) − tI is positive definite (exact inertia) for t = right numerator / left side ≈ \(t.doubleValue), so σ_min² > t")
        }
        return (.holds, "\(matrixName)ᵀ\(matrixName) − tI is not positive definite (exact inertia) for t = right numerator / left side ≈ \(t.doubleValue), so σ_min² ≤ t")
    }

    /// A certified bracket lo < λ_min(S) ≤ hi of a positive definite S (σ_min(M)² for S = MᵀM),
    /// with hi − lo ≤ 2^−`bits`·lo, by bisection on inertia counts of S − tI from `pencil` = (S, I)
    /// (MPFR intervals, exact where they cannot tell; `EigenvalueBrackets.bisected`), starting from
    /// the counts in `known`. For the side shown where M's Double σ_min is rounding noise or too
    /// far off, the comparison having decided. Throws on a singular S.
    static func smallestEigenvalue(of pencil: SymmetricPencil, bits: Int = 44, known: [Rational: Int] = [:]) throws -> (lo: Rational, hi: Rational) {
        let s = pencil.a, n = s.rows
        guard let bracket = try EigenvalueBrackets.bisected(index: n - 1, top: s.trace / Rational(n), bits: bits, known: known,
                                                           count: pencil.positiveCount) else {
            throw NumericsError.notPositiveDefinite(operation: "the smallest eigenvalue's bracket")
        }
        return bracket
    }

    /// The same decision from `count(t)`, how many of S's n eigenvalues exceed t (certified: the
    /// pencil (S, I)'s counts, MPFR intervals then exact elimination): S − tI is positive definite
    /// iff all n do. For S above `EigenvalueBrackets.cheapExactSize` (`countedByPencil`), whose
    /// fraction-free minors on heavy inputs took 30 s each at d = 48.
    static func decide(lhs: Rational, numerator c: Rational, size n: Int, count: (Rational) throws -> Int,
                       matrixName: String) throws -> (Outcome, String) {
        if lhs.isZero { return (.holds, "left side is exactly 0") }
        let t = c / lhs
        let above = try count(t)
        if above == n {
            return (.violated, "all \(n) eigenvalues of \(matrixName)ᵀ\(matrixName) exceed t = right numerator / left side ≈ \(t.doubleValue) (certified inertia count), so σ_min² > t")
        }
        return (.holds, "\(n - above) eigenvalue(s) of \(matrixName)ᵀ\(matrixName) lie at or below t = right numerator / left side ≈ \(t.doubleValue) (certified inertia count), so σ_min² ≤ t")
    }

    /// Whether S's decisions go to its pencil's counts (MPFR first) rather than exact minors:
    /// verdicts resting on them are then `.enclosure`.
    static func countedByPencil(_ s: RationalMatrix) -> Bool { s.rows > EigenvalueBrackets.cheapExactSize }

    /// The constant scale as an exact rational (1 for the theorem itself).
    static func exact(_ x: Double) -> Rational { Rational(exactly: x)! }
}

extension ModelError {
    /// Runs a Numerics call, mapping its error into a ModelError.
    public static func wrapping<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as NumericsError { throw ModelError.numerics(e) }
    }
}
