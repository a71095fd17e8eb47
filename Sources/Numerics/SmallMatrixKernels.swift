import CLAPACKE

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
        var norms = [Double](repeating: 0, count: n)
        u.withUnsafeMutableBufferPointer { u in
            norms.withUnsafeMutableBufferPointer { norms in
                jacobiColumnNorms(u.baseAddress!, rows: m, columns: n, norms: norms.baseAddress!)
            }
        }
        return norms.map { $0.squareRoot() }.sorted(by: >)
    }

    /// The same Jacobi for columns of length at most 8, each held in one SIMD8 register
    /// (zero-padded): the dot products and rotations of the d ≤ 8 pivot matrices of T5
    /// run eight lanes at once. On return `norms[j]` is the squared norm of column j.
    public static func jacobiColumnNorms(_ columns: inout [SIMD8<Double>], rows m: Int, norms: inout [Double]) {
        precondition(m <= 8 && norms.count == columns.count, "jacobiColumnNorms: columns of length ≤ 8")
        let n = columns.count
        let tolerance = max(1e-15, Double(m) * .ulpOfOne)
        columns.withUnsafeMutableBufferPointer { columns in
            norms.withUnsafeMutableBufferPointer { norms in
                for _ in 0..<40 {
                    for j in 0..<n { norms[j] = (columns[j] * columns[j]).sum() }
                    var rotated = false
                    for p in 0..<n {
                        for q in (p + 1)..<n {
                            let gamma = (columns[p] * columns[q]).sum()
                            guard let (c, s) = rotate(&norms[p], &norms[q], gamma, tolerance: tolerance) else { continue }
                            rotated = true
                            let (x, y) = (columns[p], columns[q])
                            columns[p] = c * x - s * y
                            columns[q] = s * x + c * y
                        }
                    }
                    if !rotated { break }
                }
                for j in 0..<n { norms[j] = (columns[j] * columns[j]).sum() }
            }
        }
    }

    /// The Jacobi rotation (cos, sin) that makes two columns with squared norms α, β
    /// and inner product γ orthogonal, with α and β updated to the rotated columns'
    /// squared norms (α − tγ, β + tγ); nil when the columns already count as orthogonal
    /// (|γ| ≤ tolerance·√(αβ)).
    @inline(__always)
    static func rotate(_ alpha: inout Double, _ beta: inout Double, _ gamma: Double,
                       tolerance: Double) -> (Double, Double)? {
        guard abs(gamma) > tolerance * (alpha * beta).squareRoot(), gamma != 0 else { return nil }
        let zeta = (beta - alpha) / (2 * gamma)
        let t = (zeta >= 0 ? 1.0 : -1.0) / (abs(zeta) + (1 + zeta * zeta).squareRoot())
        let c = 1 / (1 + t * t).squareRoot()
        alpha = max(alpha - t * gamma, 0)
        beta += t * gamma
        return (c, c * t)
    }

    /// One-sided Jacobi in place on the n columns of length m stored one after the
    /// other in `u` (column j at u[j·m ..< (j+1)·m]); on return `norms` holds the
    /// squared column norms, i.e. the squared singular values (unsorted).
    public static func jacobiColumnNorms(_ u: UnsafeMutablePointer<Double>, rows m: Int, columns n: Int,
                                         norms: UnsafeMutablePointer<Double>) {
        // Columns count as orthogonal once |γ| is at the level of γ's own rounding
        // error (about m·ε·√(αβ)); a fixed 1e−15 cannot be met for m ≳ 10.
        let tolerance = max(1e-15, Double(m) * .ulpOfOne)
        for _ in 0..<40 {
            // Squared column norms, recomputed each sweep and updated (exactly in
            // exact arithmetic) by each rotation: α' = α − tγ, β' = β + tγ.
            for j in 0..<n {
                var t = 0.0
                for i in 0..<m { t += u[j * m + i] * u[j * m + i] }
                norms[j] = t
            }
            var rotated = false
            for p in 0..<n {
                for q in (p + 1)..<n {
                    var gamma = 0.0
                    for i in 0..<m { gamma += u[p * m + i] * u[q * m + i] }
                    guard let (c, s) = rotate(&norms[p], &norms[q], gamma, tolerance: tolerance) else { continue }
                    rotated = true
                    for i in 0..<m {
                        let x = u[p * m + i], y = u[q * m + i]
                        u[p * m + i] = c * x - s * y
                        u[q * m + i] = s * x + c * y
                    }
                }
            }
            if !rotated { break }
        }
        for j in 0..<n {
            var t = 0.0
            for i in 0..<m { t += u[j * m + i] * u[j * m + i] }
            norms[j] = t
        }
    }

    /// Singular values (decreasing) of an m×n matrix with few columns (or, transposed,
    /// few rows): Householder QR reduces it to the n×n triangle R, which has the same
    /// singular values, and one-sided Jacobi finishes on R. Backward stable like
    /// LAPACK's dgesdd (absolute error about ε·σ₁), with no workspace queries or
    /// allocations beyond one copy: for the tall N×d and k×d matrices of small models.
    public static func singularValuesOfThin(_ a: Matrix) -> [Double] {
        let tall = a.rows >= a.columns ? a : a.transposed
        let m = tall.rows, n = tall.columns
        guard n > 0 else { return [] }
        var c = tall.transposed.storage    // column j of the matrix at c[j*m ..< (j+1)*m]
        var r = [Double](repeating: 0, count: n * n), norms = [Double](repeating: 0, count: n)
        c.withUnsafeMutableBufferPointer { c in
            r.withUnsafeMutableBufferPointer { r in
                norms.withUnsafeMutableBufferPointer { norms in
                    householderR(c.baseAddress!, rows: m, columns: n, r: r.baseAddress!)
                    // Jacobi on the rows of R (the columns of Rᵀ), which QR has already
                    // nearly diagonalised: few sweeps.
                    jacobiColumnNorms(r.baseAddress!, rows: n, columns: n, norms: norms.baseAddress!)
                }
            }
        }
        return norms.map { $0.squareRoot() }.sorted(by: >)
    }

    /// X⁺Y for a tall X (m×n, m ≥ n) of clearly full column rank: Householder QR of X,
    /// the same reflections applied to Y, then R B = (QᵀY)₁…ₙ by back substitution.
    /// Backward stable, with no AᵀA (whose condition number would be squared) and no
    /// SVD. nil when min |rᵢᵢ| ≤ 10⁻⁸ max |rᵢᵢ|: near rank deficiency is left to the
    /// SVD pseudo-inverse and its rank tolerance.
    ///
    /// With `columnScales` sⱼ (each column's rounding level, e.g. the norm of the data it was
    /// computed from) the test is on |rⱼⱼ|/sⱼ instead. Householder QR is column-wise backward
    /// stable, and its reflections and back substitution scale exactly with a power-of-two
    /// column scaling, so only this test depended on the columns' scales: one column of X 2⁵⁰
    /// smaller than the others made a well-conditioned X "nearly rank-deficient".
    ///
    /// Beyond `unblockedLimit` multiply-adds the same Householder QR runs blocked in LAPACK
    /// (`dgeqrf`, `dormqr`, `dtrtrs`): the column-by-column kernel passes over the whole
    /// m×(n+p) block once per column, memory-bound (30 s for X⁺Y at 40 000×512).
    public static func fullRankLeastSquares(_ x: Matrix, _ y: Matrix, columnScales: [Double]? = nil) -> Matrix? {
        let m = x.rows, n = x.columns, p = y.columns
        guard m >= n, n > 0, y.rows == m else { return nil }
        if Double(m) * Double(n) * Double(n + p) > unblockedLimit { return blockedFullRankLeastSquares(x, y, columnScales: columnScales) }
        var c = x.transposed.storage + y.transposed.storage   // n + p columns of length m
        var r = [Double](repeating: 0, count: n * n)
        var b = [Double](repeating: 0, count: n * p)
        let solved: Bool = c.withUnsafeMutableBufferPointer { c in
            r.withUnsafeMutableBufferPointer { r in
                householderR(c.baseAddress!, rows: m, columns: n, r: r.baseAddress!, extraColumns: p)
                guard clearlyFullRank((0..<n).map { abs(r[$0 * n + $0]) }, columnScales: columnScales) else { return false }
                for l in 0..<p {
                    for i in stride(from: n - 1, through: 0, by: -1) {
                        var v = c[(n + l) * m + i]
                        for j in (i + 1)..<n { v -= r[i * n + j] * b[j * p + l] }
                        b[i * p + l] = v / r[i * n + i]
                    }
                }
                return true
            }
        }
        return solved ? try! Matrix(rows: n, columns: p, storage: b) : nil
    }

    /// The size (m·n·(n + p) multiply-adds) above which `fullRankLeastSquares` runs LAPACK's
    /// blocked QR: below it the kernel's lack of workspace queries and copies wins.
    public static let unblockedLimit = 4_000_000.0

    /// `fullRankLeastSquares` in LAPACK: the same reflections, blocked, with the same rank test.
    static func blockedFullRankLeastSquares(_ x: Matrix, _ y: Matrix, columnScales: [Double]? = nil) -> Matrix? {
        let m = x.rows, n = x.columns, p = y.columns
        // dormqr runs blocked with 64 columns of C per block and its 65×64 triangular factor.
        // dgeqrf fails only on an argument out of range (a programming error), never on values.
        var (a, tau, work) = try! QRDecomposition.factor(x, workspace: 64 * max(n, p, 1) + 65 * 64)
        guard clearlyFullRank((0..<n).map { abs(a[$0 * m + $0]) }, columnScales: columnScales) else { return nil }
        guard p > 0 else { return Matrix(rows: n, columns: 0) }
        var c = y.transposed.storage    // column-major m×p
        let (mm, nn, pp) = (lapacke_index(m), lapacke_index(n), lapacke_index(p))
        let applied = LAPACKE_dormqr_work(LAPACK_COL_MAJOR, flag("L"), flag("T"), mm, pp, nn, &a, mm, &tau, &c, mm,
                                          &work, lapacke_index(work.count))
        precondition(applied == 0, "dormqr: argument \(-applied) rejected")
        // dtrtrs's info > 0 is an exactly zero diagonal entry, which the rank test has excluded.
        guard LAPACKE_dtrtrs_work(LAPACK_COL_MAJOR, flag("U"), flag("N"), flag("N"), nn, pp, &a, mm, &c, mm) == 0 else { return nil }
        return Matrix(rows: n, columns: p) { i, j in c[j * m + i] }
    }

    /// X⁺Y for a tall X whose rows lie far apart in scale (W^{1/2}F with one input's weight 10⁵⁰
    /// times the others'): Householder QR with X's rows sorted by decreasing largest entry and
    /// its columns pivoted (`dgeqp3`), which is backward stable row by row (Cox and Higham 1998:
    /// each row perturbed relative to its own size), where unsorted QR and the SVD are so only
    /// relative to the whole matrix, so the light rows' information is lost beside a heavy one.
    /// Sorting permutes the equations, so the solution is the same.
    ///
    /// nil unless every pivot stands clear of the rounding of the rows it was formed from:
    /// |rⱼⱼ| > 10⁻⁸·‖(αᵢ)ᵢ≥ⱼ‖, αᵢ the sorted rows' largest entries (the row-wise counterpart of
    /// `clearlyFullRank`). Two heavy rows parallel to rounding fail it: what they leave to be
    /// determined is their rounding, not the light rows.
    public static func rowSortedLeastSquares(_ x: Matrix, _ y: Matrix) -> Matrix? {
        let m = x.rows, n = x.columns, p = y.columns
        guard m >= n, n > 0, y.rows == m else { return nil }
        let levels = x.rowLargest
        let order = (0..<m).sorted { levels[$0] > levels[$1] || (levels[$0] == levels[$1] && $0 < $1) }
        var a = [Double](repeating: 0, count: m * n), c = [Double](repeating: 0, count: m * max(p, 1))
        for (i, source) in order.enumerated() {
            for j in 0..<n { a[j * m + i] = x[source, j] }
            for l in 0..<p { c[l * m + i] = y[source, l] }
        }
        // ‖(αᵢ)ᵢ≥ⱼ‖ for each j, on levels scaled by the largest (squares of entries near 10±³⁰⁸).
        guard let top = levels.max(), top > 0, top.isFinite else { return nil }
        var trailing = [Double](repeating: 0, count: n + 1), sum = 0.0
        for i in stride(from: m - 1, through: 0, by: -1) {
            let t = levels[order[i]] / top
            sum += t * t
            if i < n { trailing[i] = top * sum.squareRoot() }
        }
        let (mm, nn, pp) = (lapacke_index(m), lapacke_index(n), lapacke_index(p))
        var pivots = [lapacke_index](repeating: 0, count: n), tau = [Double](repeating: 0, count: n)
        var work = [Double](repeating: 0, count: 3 * n + 1 + 64 * (n + 1) + 64 * max(p, 1) + 65 * 64)
        // dgeqp3 fails only on an argument out of range (a programming error), never on values.
        let factored = LAPACKE_dgeqp3_work(LAPACK_COL_MAJOR, mm, nn, &a, mm, &pivots, &tau, &work, lapacke_index(work.count))
        precondition(factored == 0, "dgeqp3: argument \(-factored) rejected")
        guard (0..<n).allSatisfy({ abs(a[$0 * m + $0]) > 1e-8 * trailing[$0] }) else { return nil }
        guard p > 0 else { return Matrix(rows: n, columns: 0) }
        let applied = LAPACKE_dormqr_work(LAPACK_COL_MAJOR, flag("L"), flag("T"), mm, pp, nn, &a, mm, &tau, &c, mm,
                                          &work, lapacke_index(work.count))
        precondition(applied == 0, "dormqr: argument \(-applied) rejected")
        guard LAPACKE_dtrtrs_work(LAPACK_COL_MAJOR, flag("U"), flag("N"), flag("N"), nn, pp, &a, mm, &c, mm) == 0 else { return nil }
        // Row i of the pivoted solution is row pivots[i] − 1 of X⁺Y.
        var b = [Double](repeating: 0, count: n * p)
        for i in 0..<n { for l in 0..<p { b[Int(pivots[i] - 1) * p + l] = c[l * m + i] } }
        return try! Matrix(rows: n, columns: p, storage: b)
    }

    /// R's diagonal shows clear full rank: min |rᵢᵢ| > 10⁻⁸ max |rᵢᵢ| > 0, each |rᵢᵢ| first divided
    /// by its column's scale when given (near rank deficiency is left to the SVD and its rank
    /// tolerance).
    static func clearlyFullRank(_ diagonal: [Double], columnScales: [Double]? = nil) -> Bool {
        let relative = columnScales.map { scales in zip(diagonal, scales).map { $1 > 0 ? $0 / $1 : 0 } } ?? diagonal
        guard let top = relative.max(), top > 0, top.isFinite else { return false }
        return relative.min()! > 1e-8 * top
    }

    /// The triangle R (n×n, row-major, zeros below the diagonal) of a Householder QR of
    /// the m×n matrix (m ≥ n) whose columns lie one after another in `c` (overwritten);
    /// the reflections are applied to `extraColumns` further columns of `c` as well
    /// (they end as Qᵀ times themselves).
    public static func householderR(_ c: UnsafeMutablePointer<Double>, rows m: Int, columns n: Int,
                                    r: UnsafeMutablePointer<Double>, extraColumns: Int = 0) {
        for t in 0..<(n * n) { r[t] = 0 }
        for j in 0..<n {
            let x = j * m
            var norm = 0.0
            for i in j..<m { norm += c[x + i] * c[x + i] }
            if !(norm.isNormal && norm.isFinite) {
                // Squares that underflow or overflow: the same sum on scaled entries.
                var scale = 0.0
                for i in j..<m { scale = max(scale, abs(c[x + i])) }
                norm = 0
                if scale > 0 { for i in j..<m { let t = c[x + i] / scale; norm += t * t } }
                norm = scale * scale * norm
            }
            if norm > 0 {
                norm = norm.squareRoot()
                let alpha = c[x + j] > 0 ? -norm : norm
                // v = x − αe₁ (in place); H = I − 2vvᵀ/vᵀv maps x to αe₁.
                c[x + j] -= alpha
                var vv = 0.0
                for i in j..<m { vv += c[x + i] * c[x + i] }
                if vv > 0 {
                    for l in (j + 1)..<(n + extraColumns) {
                        let y = l * m
                        var dot = 0.0
                        for i in j..<m { dot += c[x + i] * c[y + i] }
                        let f = 2 * dot / vv
                        for i in j..<m { c[y + i] -= f * c[x + i] }
                    }
                }
                r[j * n + j] = alpha
            }
            for l in (j + 1)..<n { r[j * n + l] = c[l * m + j] }
        }
    }

    /// X with A X = B by Gaussian elimination with partial pivoting (A square).
    /// The caller decides singularity beforehand (e.g. from `singularValues`).
    public static func solve(_ a: Matrix, _ b: Matrix) -> Matrix {
        precondition(a.rows == a.columns && b.rows == a.rows, "SmallMatrixKernels.solve: shapes")
        var lu = a.storage, x = b.storage
        lu.withUnsafeMutableBufferPointer { lu in
            x.withUnsafeMutableBufferPointer { x in
                solveInPlace(lu.baseAddress!, a.rows, x.baseAddress!, b.columns)
            }
        }
        return try! Matrix(rows: a.rows, columns: b.columns, storage: x)
    }

    /// The same in place on row-major buffers: `lu` (n×n) is overwritten by its
    /// factors and `x` (n×k) from B to X.
    public static func solveInPlace(_ lu: UnsafeMutablePointer<Double>, _ n: Int,
                                    _ x: UnsafeMutablePointer<Double>, _ k: Int) {
        for col in 0..<n {
            var pivot = col
            for r in (col + 1)..<n where abs(lu[r * n + col]) > abs(lu[pivot * n + col]) { pivot = r }
            if pivot != col {
                for j in 0..<n { swap(&lu[col * n + j], &lu[pivot * n + j]) }
                for j in 0..<k { swap(&x[col * k + j], &x[pivot * k + j]) }
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
    }
}

/// Many small square systems, solved in place without LAPACKE's row-major copies:
/// `a` holds A (n×n) and `b` holds B (n×m), both column-major. Used by the pivot
/// form, which solves tens of thousands of d×d systems.
public struct ColumnMajorSolver {
    public let n: Int
    var pivots: [lapacke_index]
    var work: [Double]
    var integerWork: [lapacke_index]

    public init(dimension n: Int) {
        BLASThreads.ensureSerial()
        self.n = n
        pivots = [lapacke_index](repeating: 0, count: n)
        work = [Double](repeating: 0, count: 4 * n)
        integerWork = [lapacke_index](repeating: 0, count: n)
    }

    /// Overwrites `b` with A⁻¹B and `a` with A's LU factors. Returns false (and
    /// leaves `b` unspecified) when A is singular to working precision: LAPACK's
    /// reciprocal 1-norm condition estimate below `threshold` (default ε), the
    /// same test as `LUDecomposition`.
    public mutating func solve(_ a: inout [Double], _ b: inout [Double], rightHandSides m: Int,
                               threshold: Double = Double.ulpOfOne) -> Bool {
        precondition(a.count == n * n && b.count == n * m, "ColumnMajorSolver: shapes")
        let norm = columnMajorOneNorm(a, n, upperSymmetric: false)
        let order = lapacke_index(n)
        guard LAPACKE_dgetrf_work(LAPACK_COL_MAJOR, order, order, &a, order, &pivots) == 0 else { return false }
        var rcond = 0.0
        guard LAPACKE_dgecon_work(LAPACK_COL_MAJOR, flag("1"), order, &a, order, norm, &rcond, &work, &integerWork) == 0,
              rcond >= threshold else { return false }
        return LAPACKE_dgetrs_work(LAPACK_COL_MAJOR, flag("N"), order, lapacke_index(m), &a, order, &pivots, &b, order) == 0
    }
}

/// Inverses of many small symmetric positive definite matrices, in place and
/// column-major (`dpotrf`, `dpocon`, `dpotri` work routines: no copies, no
/// workspace queries).
public struct PositiveDefiniteInverter {
    public let n: Int
    var work: [Double]
    var integerWork: [lapacke_index]

    public init(dimension n: Int) {
        BLASThreads.ensureSerial()
        self.n = n
        work = [Double](repeating: 0, count: 3 * n)
        integerWork = [lapacke_index](repeating: 0, count: n)
    }

    /// Overwrites the upper triangle of `a` with that of A⁻¹. Returns false when A
    /// is not positive definite or its reciprocal condition estimate is below
    /// `threshold`.
    public mutating func invert(_ a: inout [Double], threshold: Double) -> Bool {
        precondition(a.count == n * n, "PositiveDefiniteInverter: shape")
        let norm = columnMajorOneNorm(a, n, upperSymmetric: true)
        let order = lapacke_index(n)
        guard LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, flag("U"), order, &a, order) == 0 else { return false }
        var rcond = 0.0
        guard LAPACKE_dpocon_work(LAPACK_COL_MAJOR, flag("U"), order, &a, order, norm, &rcond, &work, &integerWork) == 0,
              rcond >= threshold else { return false }
        return LAPACKE_dpotri_work(LAPACK_COL_MAJOR, flag("U"), order, &a, order) == 0
    }
}

/// ‖A‖₁ (largest absolute column sum) of a column-major n×n matrix; with
/// `upperSymmetric`, A is symmetric and only its upper triangle is read, as
/// LAPACK's 'U' routines read it (the lower entries may be stale).
func columnMajorOneNorm(_ a: [Double], _ n: Int, upperSymmetric: Bool) -> Double {
    var norm = 0.0
    for j in 0..<n {
        var s = 0.0
        for i in 0..<n {
            let entry = upperSymmetric && i > j ? a[i * n + j] : a[j * n + i]
            s += Swift.abs(entry)
        }
        norm = Swift.max(norm, s)
    }
    return norm
}
