import CLAPACKE

/// The thin QR decomposition A = Q R of an m×n matrix with m ≥ n: Q is m×n with
/// orthonormal columns, R is n×n upper triangular (Householder, `dgeqrf` + `dorgqr`).
public struct QRDecomposition: Sendable {
    public let q: Matrix
    public let r: Matrix

    public init(_ a: Matrix) throws {
        let (m, n) = a.shape
        guard m >= n else {
            throw NumericsError.invalidArgument("QR: needs at least as many rows as columns, got \(m)×\(n)")
        }
        try a.requireFinite("QR")
        guard n > 0 else { q = a; r = Matrix(rows: 0, columns: 0); return }
        var work = a.storage
        var tau = [Double](repeating: 0, count: n)
        try lapackCheck("dgeqrf", LAPACKE_dgeqrf(rowMajor, lapacke_index(m), lapacke_index(n), &work,
                                                  lapacke_index(n), &tau))
        let packed = try Matrix(rows: m, columns: n, storage: work)
        r = Matrix(rows: n, columns: n) { i, j in j >= i ? packed[i, j] : 0 }
        try lapackCheck("dorgqr", LAPACKE_dorgqr(rowMajor, lapacke_index(m), lapacke_index(n), lapacke_index(n),
                                                  &work, lapacke_index(n), &tau))
        q = try Matrix(rows: m, columns: n, storage: work)
    }
}
