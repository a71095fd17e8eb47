import Numerics

/// Exact decisions of inequalities of the form lhs ≤ c / σ_min(M)², the shape of
/// T3, T4 and T5, given the Gram matrix S = MᵀM in rationals.
///
/// For lhs > 0: lhs ≤ c/σ² ⇔ σ² ≤ t with t = c/lhs ⇔ λ_min(S − tI) ≤ 0 ⇔ S − tI is
/// not positive definite, which the exact inertia decides. No rounding anywhere,
/// so the outcome is always `holds` or `violated`.
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
    /// (MPFR intervals, exact where they cannot tell; `EigenvalueBrackets.bisected`). For the side
    /// shown where M's Double σ_min is rounding noise or too far off, the exact comparison having
    /// decided. Throws on a singular S.
    static func smallestEigenvalue(of pencil: SymmetricPencil, bits: Int = 44) throws -> (lo: Rational, hi: Rational) {
        let s = pencil.a, n = s.rows
        guard let bracket = try EigenvalueBrackets.bisected(index: n - 1, top: s.trace / Rational(n), bits: bits,
                                                           count: pencil.positiveCount) else {
            throw NumericsError.notPositiveDefinite(operation: "the smallest eigenvalue's bracket")
        }
        return bracket
    }

    /// Whether S is exactly positive definite (M of full column rank).
    static func fullColumnRank(_ s: RationalMatrix) throws -> Bool {
        try s.isPositiveDefinite()
    }

    /// The constant scale as an exact rational (1 for the theorem itself).
    static func exact(_ x: Double) -> Rational { Rational(exactly: x)! }
}

extension ModelError {
    /// Runs a Numerics call, mapping its error into a ModelError.
    public static func wrapping<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as NumericsError { throw ModelError.numerics(e) }
    }
}
