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

    /// The eigenvalues alone, in decreasing order (`dsyevd` without vectors: the tridiagonal
    /// reduction and its QR iteration, about a third of the work of the full decomposition at
    /// n = 768). The same accuracy, ε‖A‖₂ absolute; the bits may differ from `eigenvalues`'s.
    public static func eigenvalues(of a: Matrix) throws -> [Double] {
        BLASThreads.ensureSerial()
        guard a.isSquare else {
            throw NumericsError.dimensionMismatch(operation: "symmetric eigenvalues", left: a.shape, right: a.shape)
        }
        try a.requireFinite("symmetric eigenvalues")
        let n = a.rows
        guard n > 0 else { return [] }
        var work = a.storage
        var w = [Double](repeating: 0, count: n)
        try lapackCheck("dsyevd", LAPACKE_dsyevd(rowMajor, flag("N"), flag("U"), lapacke_index(n),
                                                  &work, lapacke_index(n), &w))
        return w.reversed()
    }

    /// Q diag(λ) Qᵀ.
    public var reconstructed: Matrix {
        eigenvectors.scalingColumns(by: eigenvalues).multiplied(by: eigenvectors, transposeOther: true)
    }
}
