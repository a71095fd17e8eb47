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
        let (ascending, vectors) = try Self.dsyevd(a, vectors: true, operation: "symmetric eigendecomposition")
        guard a.rows > 0 else { eigenvalues = []; eigenvectors = a; return }
        let order = Array((0..<a.rows).reversed())
        eigenvalues = order.map { ascending[$0] }
        eigenvectors = try Matrix(rows: a.rows, columns: a.rows, storage: vectors).selectingColumns(order)
    }

    /// The eigenvalues alone, in decreasing order (`dsyevd` without vectors: the tridiagonal
    /// reduction and its QR iteration, about a third of the work of the full decomposition at
    /// n = 768). The same accuracy, ε‖A‖₂ absolute; the bits may differ from `eigenvalues`'s.
    public static func eigenvalues(of a: Matrix) throws -> [Double] {
        try dsyevd(a, vectors: false, operation: "symmetric eigenvalues").ascending.reversed()
    }

    /// LAPACK `dsyevd` on A's upper triangle: the eigenvalues ascending and, with `vectors`, the
    /// eigenvectors' columns in the same order (row-major storage; otherwise what LAPACK left).
    /// A must be square and finite; `operation` names it in the error.
    private static func dsyevd(_ a: Matrix, vectors: Bool, operation: String) throws -> (ascending: [Double], work: [Double]) {
        BLASThreads.ensureSerial()
        guard a.isSquare else {
            throw NumericsError.dimensionMismatch(operation: operation, left: a.shape, right: a.shape)
        }
        try a.requireFinite(operation)
        let n = a.rows
        guard n > 0 else { return ([], []) }
        var work = a.storage
        var w = [Double](repeating: 0, count: n)
        try lapackCheck("dsyevd", LAPACKE_dsyevd(rowMajor, flag(vectors ? "V" : "N"), flag("U"), lapacke_index(n),
                                                  &work, lapacke_index(n), &w))
        return (w, work)
    }

    /// Q diag(λ) Qᵀ.
    public var reconstructed: Matrix {
        eigenvectors.scalingColumns(by: eigenvalues).multiplied(by: eigenvectors, transposeOther: true)
    }
}
