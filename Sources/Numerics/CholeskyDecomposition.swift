import CLAPACKE

/// A = L Lᵀ for a symmetric positive definite matrix, L lower triangular (`dpotrf`,
/// lower triangle read). Throws `notPositiveDefinite` when a pivot is not positive.
public struct CholeskyDecomposition: Sendable {
    public let l: Matrix

    public init(_ a: Matrix) throws {
        BLASThreads.ensureSerial()
        guard a.isSquare else {
            throw NumericsError.dimensionMismatch(operation: "Cholesky", left: a.shape, right: a.shape)
        }
        try a.requireFinite("Cholesky")
        let n = a.rows
        var work = a.storage
        if n > 0 {
            let info = LAPACKE_dpotrf(rowMajor, flag("L"), lapacke_index(n), &work, lapacke_index(n))
            if info > 0 { throw NumericsError.notPositiveDefinite(operation: "Cholesky") }
            try lapackCheck("dpotrf", info)
        }
        let packed = try Matrix(rows: n, columns: n, storage: work)
        l = Matrix(rows: n, columns: n) { i, j in j <= i ? packed[i, j] : 0 }
    }

    /// L⁻¹, lower triangular, by LAPACK `dtrtri`: L's row-major storage is Lᵀ in column-major
    /// order, whose inverse (L⁻¹)ᵀ written there is L⁻¹ read row-major, so no transposition
    /// (n³/3 flops, where an LU factorisation and inverse of L took about 2n³). Throws
    /// `singular` when a diagonal entry of L is 0.
    public func inverseFactor() throws -> Matrix {
        BLASThreads.ensureSerial()
        let n = l.rows
        var inverse = l.storage
        if n > 0 {
            let info = LAPACKE_dtrtri_work(LAPACK_COL_MAJOR, flag("U"), flag("N"), lapacke_index(n), &inverse, lapacke_index(n))
            if info > 0 { throw NumericsError.singular(operation: "Cholesky factor inverse") }
            try lapackCheck("dtrtri", info)
        }
        return try Matrix(rows: n, columns: n, storage: inverse)
    }

    /// Solves L Lᵀ X = B by two triangular solves (`dpotrs`).
    public func solve(_ b: Matrix) throws -> Matrix {
        guard b.rows == l.rows else {
            throw NumericsError.dimensionMismatch(operation: "Cholesky solve", left: l.shape, right: b.shape)
        }
        var factor = l.storage
        var x = b.storage
        if b.columns > 0 && l.rows > 0 {
            try lapackCheck("dpotrs", LAPACKE_dpotrs(rowMajor, flag("L"), lapacke_index(l.rows),
                                                      lapacke_index(b.columns), &factor, lapacke_index(l.rows),
                                                      &x, lapacke_index(b.columns)))
        }
        return try Matrix(rows: b.rows, columns: b.columns, storage: x)
    }
}
