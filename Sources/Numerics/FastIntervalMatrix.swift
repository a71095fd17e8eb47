/// A matrix of `FastInterval`s (row-major): an enclosure of one real matrix, or of
/// every matrix between its entries' ends. Products are interval sums of interval
/// products, so they enclose every product of enclosed matrices.
public struct FastIntervalMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    public var entries: [FastInterval]

    public init(rows: Int, columns: Int, entry: (Int, Int) -> FastInterval) {
        self.rows = rows
        self.columns = columns
        entries = (0..<(rows * columns)).map { entry($0 / columns, $0 % columns) }
    }

    /// The point enclosure of a Double matrix.
    public init(_ m: Matrix) {
        self.init(rows: m.rows, columns: m.columns) { FastInterval(m[$0, $1]) }
    }

    public subscript(i: Int, j: Int) -> FastInterval { entries[i * columns + j] }

    public var transposed: FastIntervalMatrix {
        FastIntervalMatrix(rows: columns, columns: rows) { self[$1, $0] }
    }

    /// The columns centred over the rows: A − 1·meanᵀ (G̃ = CG for unembeddings).
    public var subtractingColumnMeans: FastIntervalMatrix {
        let count = FastInterval(Double(rows))
        let means = (0..<columns).map { j in FastInterval.sum((0..<rows).map { self[$0, j] }) / count }
        return FastIntervalMatrix(rows: rows, columns: columns) { self[$0, $1] - means[$1] }
    }

    public func multiplied(by other: FastIntervalMatrix) -> FastIntervalMatrix {
        precondition(columns == other.rows, "FastIntervalMatrix: shapes differ")
        return FastIntervalMatrix(rows: rows, columns: other.columns) { i, j in
            FastInterval.sum((0..<columns).map { self[i, $0] * other[$0, j] })
        }
    }

    /// AᵀB without forming Aᵀ.
    public func transposeMultiplied(by other: FastIntervalMatrix) -> FastIntervalMatrix {
        precondition(rows == other.rows, "FastIntervalMatrix: shapes differ")
        return FastIntervalMatrix(rows: columns, columns: other.columns) { i, j in
            FastInterval.sum((0..<rows).map { self[$0, i] * other[$0, j] })
        }
    }

    /// The matrix of midpoints (for an approximate inverse).
    public var midpoints: Matrix { Matrix(rows: rows, columns: columns) { self[$0, $1].midpoint } }

    /// Enclosures of X = M⁻¹B for every M and B the intervals hold (Proofs/certificates.md §6),
    /// or nil when M is not shown nonsingular. With R ≈ mid(M)⁻¹ and X̃ = R·mid(B): if
    /// α = ‖I − RM‖∞ < 1 then every such M is nonsingular and, column by column,
    /// ‖x − x̃‖∞ ≤ ‖R(b − Mx̃)‖∞ / (1 − α). Cost O(n³ + n²·columns of B).
    public func solving(_ b: FastIntervalMatrix) -> FastIntervalMatrix? {
        precondition(rows == columns && b.rows == rows, "FastIntervalMatrix.solving: shapes differ")
        let n = rows
        guard let r = try? LUDecomposition(midpoints).inverse() else { return nil }
        let rm = FastIntervalMatrix(r).multiplied(by: self)
        var alpha = 0.0
        for i in 0..<n {
            var row = 0.0
            for j in 0..<n {
                let c = FastInterval(i == j ? 1 : 0) - rm[i, j]
                row = (row + max(abs(c.lo), abs(c.hi))).nextUp
            }
            alpha = max(alpha, row)
        }
        guard alpha < 1 else { return nil }
        let approximate = r.multiplied(by: b.midpoints)
        let residual = b.subtracting(multiplied(by: FastIntervalMatrix(approximate)))
        let corrected = FastIntervalMatrix(r).multiplied(by: residual)
        let slack = FastInterval(1) - FastInterval(alpha)
        return FastIntervalMatrix(rows: n, columns: b.columns) { i, j in
            let column = (0..<n).map { corrected[$0, j] }.map { max(abs($0.lo), abs($0.hi)) }.max()!
            let radius = (FastInterval(column) / slack).hi
            return FastInterval.roundedOut(approximate[i, j] - radius, approximate[i, j] + radius)
        }
    }

    public func subtracting(_ other: FastIntervalMatrix) -> FastIntervalMatrix {
        FastIntervalMatrix(rows: rows, columns: columns) { self[$0, $1] - other[$0, $1] }
    }
}

extension FastIntervalMatrix {
    /// Enclosures of the eigenvalues of the symmetric-definite pencil (A, B) — λ with
    /// Ax = λBx, for every symmetric A and positive definite B the intervals hold — in
    /// ascending order (Proofs/certificates.md §7), or nil when B is not shown positive
    /// definite. With X from the Double pencil (mid B = LLᵀ, X = L⁻ᵀV): the congruence
    /// (XᵀAX, XᵀBX) has the same eigenvalues; XᵀBX = I + E with ‖E‖_F ≤ ε < 1 and
    /// XᵀAX = D + F (D the midpoints' diagonal), so by Weyl λᵢ(XᵀAX) ∈ dᵢ ± ‖F‖_F and by
    /// Ostrowski λᵢ(pencil) = θᵢλᵢ(XᵀAX) with θᵢ ∈ [1/(1 + ε), 1/(1 − ε)]. Cost O(n³).
    public func pencilEigenvalues(_ b: FastIntervalMatrix) -> [FastInterval]? {
        precondition(rows == columns && b.rows == rows && b.columns == columns, "pencilEigenvalues: shapes differ")
        let n = rows
        guard let l = try? CholeskyDecomposition(b.midpoints).l, let lInverse = try? LUDecomposition(l).inverse() else { return nil }
        let whitened = lInverse.multiplied(by: midpoints).multiplied(by: lInverse, transposeOther: true)
        let symmetric = Matrix(rows: n, columns: n) { whitened[$0, $1] / 2 + whitened[$1, $0] / 2 }
        guard let e = try? SymmetricEigendecomposition(symmetric) else { return nil }
        let x = FastIntervalMatrix(lInverse.transposed.multiplied(by: e.eigenvectors))
        let xt = x.transposed
        let a = xt.multiplied(by: multiplied(by: x)), bx = xt.multiplied(by: b.multiplied(by: x))
        var epsilon = FastInterval.zero, offDiagonal = FastInterval.zero
        var centres: [Double] = []
        for i in 0..<n {
            centres.append(a[i, i].midpoint)
            for j in 0..<n {
                epsilon = epsilon + (bx[i, j] - FastInterval(i == j ? 1 : 0)).squared
                offDiagonal = offDiagonal + (a[i, j] - FastInterval(i == j ? centres[i] : 0)).squared
            }
        }
        let eps = epsilon.squareRoot.hi, radius = offDiagonal.squareRoot.hi
        guard eps < 1, radius.isFinite else { return nil }
        let theta = FastInterval(lo: (FastInterval(1) / (FastInterval(1) + FastInterval(eps))).lo,
                                 hi: (FastInterval(1) / (FastInterval(1) - FastInterval(eps))).hi)
        return centres.sorted().map { FastInterval.roundedOut($0 - radius, $0 + radius) * theta }
    }
}

extension FastIntervalMatrix {
    /// Aᵀ diag(w) B enclosed, for Double matrices A (N×p), B (N×q) and enclosed positive
    /// weights w, from two BLAS products (Proofs/certificates.md §4): with w̃ the weights'
    /// midpoints, ρ their largest relative radius, A′ = fl(diag(w̃)A), P = fl(A′ᵀB) and
    /// Q = fl(|A′|ᵀ|B|) in any order and kernel,
    ///   |P − Aᵀdiag(w)B| ≤ [γ_N/(1 − γ_N) + (u + ρ)(1 + 2u)/(1 − γ_N)]·Q + 3Nη + η·Σᵢ|Bᵢq|.
    /// O(N p q) at dgemm speed, where an interval loop costs ~20× more. The whole line
    /// where a bound is not finite.
    /// (`boundScale` is for the soundness test, which plants a halved bound with it.)
    public static func weightedCrossProduct(_ a: Matrix, _ b: Matrix, weights w: [FastInterval], boundScale: Double = 1) -> FastIntervalMatrix {
        precondition(a.rows == b.rows && w.count == a.rows, "weightedCrossProduct: shapes differ")
        let n = a.rows
        let middle = w.map(\.midpoint)
        var rho = 0.0
        for (m, interval) in zip(middle, w) {
            guard m > 0 else { return FastIntervalMatrix(rows: a.columns, columns: b.columns) { _, _ in .entire } }
            rho = Swift.max(rho, (Swift.max(interval.hi - m, m - interval.lo).nextUp / m).nextUp)
        }
        // The proof needs u + ρ ≤ 1; weights this uncertain give no useful enclosure anyway.
        guard rho < 0.5 else { return FastIntervalMatrix(rows: a.columns, columns: b.columns) { _, _ in .entire } }
        let scaled = a.scalingRows(by: middle)
        let p = scaled.multiplied(by: b, transposeSelf: true)
        let q = scaled.absoluteValues.multiplied(by: b.absoluteValues, transposeSelf: true)
        let gamma = FastMath.productErrorFactor(n)
        let u = FastMath.unitRoundoff
        let factor = (boundScale * ((gamma + ((u + rho) * (1 + 2 * u)).nextUp / (1 - gamma).nextDown).nextUp * (1 + 1e-12))).nextUp
        let eta = Double.leastNonzeroMagnitude
        let columnSums = (0..<b.columns).map { j in (0..<n).reduce(0.0) { ($0 + abs(b[$1, j])).nextUp } }
        return FastIntervalMatrix(rows: a.columns, columns: b.columns) { i, j in
            let e = (((factor * q[i, j]).nextUp + 3 * Double(n) * eta).nextUp + (eta * columnSums[j]).nextUp).nextUp
            guard e.isFinite, p[i, j].isFinite else { return .entire }
            return FastInterval.roundedOut(p[i, j] - e, p[i, j] + e)
        }
    }

    /// A·Bᵀ for a Double matrix A (n×m) and every B in the interval matrix `b` (p×m),
    /// enclosed from three BLAS products (Proofs/certificates.md §4, "interval factor"):
    /// with B̂ the midpoints and R ≥ |B − B̂| the radii (rounded up), S = fl(AB̂ᵀ),
    /// Q = fl(|A||B̂|ᵀ) and T = fl(|A|Rᵀ) in any order and kernel,
    ///   |ABᵀ − S| ≤ γ_m/(1 − γ_m)·Q + 2mη + T/(1 − γ_m) + mη/2.
    /// O(n m p) at dgemm speed, where an interval loop costs ~20× more. An entry whose
    /// bound is not finite is the whole line.
    public static func pointTimesTransposed(_ a: Matrix, _ b: FastIntervalMatrix) -> FastIntervalMatrix {
        precondition(a.columns == b.columns, "pointTimesTransposed: A has \(a.columns) columns, B \(b.columns)")
        let m = a.columns
        let middle = b.midpoints
        var radius = Matrix(rows: b.rows, columns: b.columns)
        for t in b.entries.indices {
            let (x, c) = (b.entries[t], middle.storage[t])
            radius.storage[t] = Swift.max((x.hi - c).nextUp, (c - x.lo).nextUp, 0)
        }
        let absA = a.absoluteValues
        let s = a.multiplied(by: middle, transposeOther: true)
        let q = absA.multiplied(by: middle.absoluteValues, transposeOther: true)
        let r = absA.multiplied(by: radius, transposeOther: true)
        let gamma = FastMath.productErrorFactor(m)
        let spread = (1 + gamma).nextUp   // 1/(1 − γ_m) = 1 + γ_m/(1 − γ_m)
        let eta = Double.leastNonzeroMagnitude
        let floor = (Double(3 * m) * eta).nextUp
        return FastIntervalMatrix(rows: a.rows, columns: b.rows) { i, j in
            let e = (((gamma * q[i, j]).nextUp + (spread * r[i, j]).nextUp).nextUp + floor).nextUp
            guard e.isFinite, s[i, j].isFinite else { return .entire }
            return FastInterval.roundedOut(s[i, j] - e, s[i, j] + e)
        }
    }
}
