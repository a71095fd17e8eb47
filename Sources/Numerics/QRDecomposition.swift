import CLAPACKE

/// The thin QR decomposition A = Q R of an m×n matrix with m ≥ n: Q is m×n with
/// orthonormal columns, R is n×n upper triangular (Householder, `dgeqrf` + `dorgqr`).
public struct QRDecomposition: Sendable {
    public let q: Matrix
    public let r: Matrix

    public init(_ a: Matrix) throws {
        BLASThreads.ensureSerial()
        let (m, n) = a.shape
        guard m >= n else {
            throw NumericsError.invalidArgument("QR: needs at least as many rows as columns, got \(m)×\(n)")
        }
        try a.requireFinite("QR")
        guard n > 0 else { q = a; r = Matrix(rows: 0, columns: 0); return }
        // LAPACK's own column-major routines on A's transpose (which is A in column-major
        // order), with the workspace given: the same computation LAPACKE's row-major
        // wrappers run, without their two transpositions, checks and workspace queries
        // per call, which cost as much as the factorisation on the small N×d matrices
        // of the harness.
        var columns = a.transposed.storage
        var tau = [Double](repeating: 0, count: n)
        var work = [Double](repeating: 0, count: 64 * n)
        var (mm, nn, lda, lwork, info) = (lapacke_index(m), lapacke_index(n), lapacke_index(m),
                                          lapacke_index(64 * n), lapacke_index(0))
        dgeqrf_(&mm, &nn, &columns, &lda, &tau, &work, &lwork, &info)
        try lapackCheck("dgeqrf", info)
        r = Matrix(rows: n, columns: n) { i, j in j >= i ? columns[j * m + i] : 0 }
        var k = nn
        dorgqr_(&mm, &nn, &k, &columns, &lda, &tau, &work, &lwork, &info)
        try lapackCheck("dorgqr", info)
        q = try Matrix(rows: n, columns: m, storage: columns).transposed
    }
}
