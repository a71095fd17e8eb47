import CLAPACKE

/// P A = L U with partial pivoting (`dgetrf`), for solving and inverting square
/// systems. A matrix whose reciprocal 1-norm condition estimate (`dgecon`) is below
/// `singularityThreshold` (default ε) is reported `singular`, not solved: the
/// answer would be noise.
public struct LUDecomposition: Sendable {
    let factors: [Double]
    let pivots: [lapacke_index]
    public let n: Int
    /// LAPACK's estimate of 1/κ₁(A).
    public let reciprocalCondition: Double

    public init(_ a: Matrix, singularityThreshold: Double = Double.ulpOfOne) throws {
        BLASThreads.ensureSerial()
        guard a.isSquare else {
            throw NumericsError.dimensionMismatch(operation: "LU", left: a.shape, right: a.shape)
        }
        try a.requireFinite("LU")
        let n = a.rows
        self.n = n
        var work = a.storage
        var ipiv = [lapacke_index](repeating: 0, count: n)
        guard n > 0 else { factors = []; pivots = []; reciprocalCondition = 1; return }
        let anorm = (0..<n).map { j in (0..<n).reduce(0.0) { $0 + abs(a[$1, j]) } }.max() ?? 0
        let info = LAPACKE_dgetrf(rowMajor, lapacke_index(n), lapacke_index(n), &work, lapacke_index(n), &ipiv)
        if info > 0 { throw NumericsError.singular(operation: "LU") }
        try lapackCheck("dgetrf", info)
        var rcond = 0.0
        try lapackCheck("dgecon", LAPACKE_dgecon(rowMajor, flag("1"), lapacke_index(n), &work,
                                                  lapacke_index(n), anorm, &rcond))
        if !(rcond >= singularityThreshold) { throw NumericsError.singular(operation: "LU") }
        factors = work
        pivots = ipiv
        reciprocalCondition = rcond
    }

    /// X with A X = B.
    public func solve(_ b: Matrix) throws -> Matrix {
        guard b.rows == n else {
            throw NumericsError.dimensionMismatch(operation: "LU solve", left: (n, n), right: b.shape)
        }
        try b.requireFinite("LU solve")
        var lu = factors
        var ipiv = pivots
        var x = b.storage
        if n > 0 && b.columns > 0 {
            try lapackCheck("dgetrs", LAPACKE_dgetrs(rowMajor, flag("N"), lapacke_index(n), lapacke_index(b.columns),
                                                      &lu, lapacke_index(n), &ipiv, &x, lapacke_index(b.columns)))
        }
        return try Matrix(rows: b.rows, columns: b.columns, storage: x)
    }

    /// A⁻¹ (`dgetri`).
    public func inverse() throws -> Matrix {
        var lu = factors
        var ipiv = pivots
        if n > 0 {
            try lapackCheck("dgetri", LAPACKE_dgetri(rowMajor, lapacke_index(n), &lu, lapacke_index(n), &ipiv))
        }
        return try Matrix(rows: n, columns: n, storage: lu)
    }
}

extension Matrix {
    /// X with self · X = b; throws `singular` for a (numerically) singular matrix.
    public func solve(_ b: Matrix) throws -> Matrix {
        try LUDecomposition(self).solve(b)
    }

    /// self⁻¹; throws `singular` for a (numerically) singular matrix.
    public func inverse() throws -> Matrix {
        try LUDecomposition(self).inverse()
    }
}
