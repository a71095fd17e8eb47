import CLAPACKE

/// The thin QR decomposition A = Q R of an m×n matrix with m ≥ n: Q is m×n with
/// orthonormal columns, R is n×n upper triangular (Householder, `dgeqrf` + `dorgqr`).
public struct QRDecomposition: Sendable {
    public let q: Matrix
    public let r: Matrix

    public init(_ a: Matrix) throws {
        let (m, n) = a.shape
        try Self.requireFactorable(a)
        guard n > 0 else { q = a; r = Matrix(rows: 0, columns: 0); return }
        // LAPACK's own column-major routines on A's transpose (which is A in column-major
        // order), with the workspace given: the same computation LAPACKE's row-major
        // wrappers run, without their two transpositions, checks and workspace queries
        // per call, which cost as much as the factorisation on the small N×d matrices
        // of the harness.
        var (columns, tau, work) = try Self.factor(a)
        r = Self.triangle(columns, rows: m, columns: n)
        var (mm, nn, k, lda, lwork, info) = (lapacke_index(m), lapacke_index(n), lapacke_index(n), lapacke_index(m),
                                             lapacke_index(work.count), lapacke_index(0))
        dorgqr_(&mm, &nn, &k, &columns, &lda, &tau, &work, &lwork, &info)
        try lapackCheck("dorgqr", info)
        q = try Matrix(rows: n, columns: m, storage: columns).transposed
    }

    /// R alone (n×n upper triangular, A = QR with m ≥ n), without forming Q: AᵀA = RᵀR, and
    /// A's singular values and right singular vectors are R's.
    public static func triangularFactor(of a: Matrix) throws -> Matrix {
        try requireFactorable(a)
        guard a.columns > 0 else { return Matrix(rows: 0, columns: 0) }
        return triangle(try factor(a).columns, rows: a.rows, columns: a.columns)
    }

    /// m ≥ n and every entry finite; BLAS set serial (the factorisation's bits do not depend
    /// on the worker count).
    private static func requireFactorable(_ a: Matrix) throws {
        BLASThreads.ensureSerial()
        guard a.rows >= a.columns else {
            throw NumericsError.invalidArgument("QR: needs at least as many rows as columns, got \(a.rows)×\(a.columns)")
        }
        try a.requireFinite("QR")
    }

    /// R (n×n, zeros below the diagonal) from `factor`'s column-major m×n result.
    static func triangle(_ columns: [Double], rows m: Int, columns n: Int) -> Matrix {
        Matrix(rows: n, columns: n) { i, j in j >= i ? columns[j * m + i] : 0 }
    }

    /// `dgeqrf` on A (m ≥ n ≥ 1) in column-major order: the reflections below the diagonal, R
    /// on and above it, the reflections' scalars, and a workspace of at least `workspace`
    /// Doubles (reused by `dorgqr` and `dormqr`).
    static func factor(_ a: Matrix, workspace: Int = 0) throws -> (columns: [Double], tau: [Double], work: [Double]) {
        let (m, n) = a.shape
        var columns = a.transposed.storage
        var tau = [Double](repeating: 0, count: n)
        var work = [Double](repeating: 0, count: max(64 * n, workspace))
        var (mm, nn, lda, lwork, info) = (lapacke_index(m), lapacke_index(n), lapacke_index(m),
                                          lapacke_index(work.count), lapacke_index(0))
        dgeqrf_(&mm, &nn, &columns, &lda, &tau, &work, &lwork, &info)
        try lapackCheck("dgeqrf", info)
        return (columns, tau, work)
    }
}
