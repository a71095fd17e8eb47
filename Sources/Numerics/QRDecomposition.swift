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
        var (columns, tau, work) = try Self.factor(a)
        r = Matrix(rows: n, columns: n) { i, j in j >= i ? columns[j * m + i] : 0 }
        var (mm, nn, k, lda, lwork, info) = (lapacke_index(m), lapacke_index(n), lapacke_index(n), lapacke_index(m),
                                             lapacke_index(work.count), lapacke_index(0))
        dorgqr_(&mm, &nn, &k, &columns, &lda, &tau, &work, &lwork, &info)
        try lapackCheck("dorgqr", info)
        q = try Matrix(rows: n, columns: m, storage: columns).transposed
    }

    /// R alone (n×n upper triangular, A = QR with m ≥ n), without forming Q: AᵀA = RᵀR, and
    /// A's singular values and right singular vectors are R's.
    public static func triangularFactor(of a: Matrix) throws -> Matrix {
        BLASThreads.ensureSerial()
        let (m, n) = a.shape
        guard m >= n else {
            throw NumericsError.invalidArgument("QR: needs at least as many rows as columns, got \(m)×\(n)")
        }
        try a.requireFinite("QR")
        let columns = try factor(a).columns
        return Matrix(rows: n, columns: n) { i, j in j >= i ? columns[j * m + i] : 0 }
    }

    /// `dgeqrf` on A in column-major order: the reflections below the diagonal, R on and
    /// above it, the reflections' scalars, and the workspace (reused by `dorgqr`).
    private static func factor(_ a: Matrix) throws -> (columns: [Double], tau: [Double], work: [Double]) {
        let (m, n) = a.shape
        var columns = a.transposed.storage
        var tau = [Double](repeating: 0, count: n)
        var work = [Double](repeating: 0, count: 64 * n)
        var (mm, nn, lda, lwork, info) = (lapacke_index(m), lapacke_index(n), lapacke_index(m),
                                          lapacke_index(64 * n), lapacke_index(0))
        dgeqrf_(&mm, &nn, &columns, &lda, &tau, &work, &lwork, &info)
        try lapackCheck("dgeqrf", info)
        return (columns, tau, work)
    }
}
