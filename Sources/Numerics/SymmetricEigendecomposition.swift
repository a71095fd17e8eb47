import CLAPACKE

/// A = Q diag(λ) Qᵀ for a symmetric n×n matrix, eigenvalues in decreasing order,
/// Q orthogonal (its columns are the eigenvectors).
///
/// LAPACK `dsyevd` reads the upper triangle only. Eigenvalues carry an absolute
/// error of about ε‖A‖₂.
public struct SymmetricEigendecomposition: Sendable {
    public let eigenvalues: [Double]
    public let eigenvectors: Matrix

    public init(_ a: Matrix) throws {
        BLASThreads.ensureSerial()
        guard a.isSquare else {
            throw NumericsError.dimensionMismatch(operation: "symmetric eigendecomposition",
                                                  left: a.shape, right: a.shape)
        }
        try a.requireFinite("symmetric eigendecomposition")
        let n = a.rows
        guard n > 0 else { eigenvalues = []; eigenvectors = a; return }
        var work = a.storage
        var w = [Double](repeating: 0, count: n)
        try lapackCheck("dsyevd", LAPACKE_dsyevd(rowMajor, flag("V"), flag("U"), lapacke_index(n),
                                                  &work, lapacke_index(n), &w))
        let ascending = try Matrix(rows: n, columns: n, storage: work)
        let order = Array((0..<n).reversed())
        eigenvalues = order.map { w[$0] }
        eigenvectors = ascending.selectingColumns(order)
    }

    /// Q diag(λ) Qᵀ.
    public var reconstructed: Matrix {
        eigenvectors.scalingColumns(by: eigenvalues).multiplied(by: eigenvectors, transposeOther: true)
    }
}
