/// Kernels for tiny square matrices (d ≲ 16), where LAPACKE's workspace queries and
/// allocation cost more than the arithmetic: used per pivot pair of T5.
public enum SmallMatrixKernels {
    /// Singular values (decreasing) by one-sided Jacobi (Hestenes): columns are
    /// rotated pairwise until mutually orthogonal; the singular values are then the
    /// column norms. High relative accuracy, also for small singular values of a
    /// well-scaled matrix. At most 40 sweeps.
    public static func singularValues(_ a: Matrix) -> [Double] {
        let m = a.rows, n = a.columns
        var u = a.transposed.storage   // row j of u is column j of a
        for _ in 0..<40 {
            var rotated = false
            for p in 0..<n {
                for q in (p + 1)..<n {
                    var alpha = 0.0, beta = 0.0, gamma = 0.0
                    for i in 0..<m {
                        let x = u[p * m + i], y = u[q * m + i]
                        alpha += x * x; beta += y * y; gamma += x * y
                    }
                    guard abs(gamma) > 1e-15 * (alpha * beta).squareRoot(), gamma != 0 else { continue }
                    rotated = true
                    let zeta = (beta - alpha) / (2 * gamma)
                    let t = (zeta >= 0 ? 1.0 : -1.0) / (abs(zeta) + (1 + zeta * zeta).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = c * t
                    for i in 0..<m {
                        let x = u[p * m + i], y = u[q * m + i]
                        u[p * m + i] = c * x - s * y
                        u[q * m + i] = s * x + c * y
                    }
                }
            }
            if !rotated { break }
        }
        let norms = (0..<n).map { j in (0..<m).reduce(0.0) { $0 + u[j * m + $1] * u[j * m + $1] }.squareRoot() }
        return norms.sorted(by: >)
    }

    /// X with A X = B by Gaussian elimination with partial pivoting (A square).
    /// The caller decides singularity beforehand (e.g. from `singularValues`).
    public static func solve(_ a: Matrix, _ b: Matrix) -> Matrix {
        precondition(a.rows == a.columns && b.rows == a.rows, "SmallMatrixKernels.solve: shapes")
        let n = a.rows, k = b.columns
        var lu = a.storage, x = b.storage
        for col in 0..<n {
            var pivot = col
            for r in (col + 1)..<n where abs(lu[r * n + col]) > abs(lu[pivot * n + col]) { pivot = r }
            if pivot != col {
                for j in 0..<n { lu.swapAt(col * n + j, pivot * n + j) }
                for j in 0..<k { x.swapAt(col * k + j, pivot * k + j) }
            }
            let d = lu[col * n + col]
            for r in (col + 1)..<n {
                let f = lu[r * n + col] / d
                guard f != 0 else { continue }
                for j in col..<n { lu[r * n + j] -= f * lu[col * n + j] }
                for j in 0..<k { x[r * k + j] -= f * x[col * k + j] }
            }
        }
        for col in stride(from: n - 1, through: 0, by: -1) {
            let d = lu[col * n + col]
            for j in 0..<k {
                var v = x[col * k + j]
                for c in (col + 1)..<n { v -= lu[col * n + c] * x[c * k + j] }
                x[col * k + j] = v / d
            }
        }
        return try! Matrix(rows: n, columns: k, storage: x)
    }
}
