/// A matrix of `FastInterval`s (row-major): an enclosure of one real matrix, or of
/// every matrix between its entries' ends. Products go by midpoints and radii with a
/// proven bound (Proofs/certificates.md §4), so they enclose every product of enclosed
/// matrices: as dgemm calls when large, as plain loops when small.
public struct FastIntervalMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    public var entries: [FastInterval]

    public init(rows: Int, columns: Int, entry: (Int, Int) -> FastInterval) {
        self.rows = rows
        self.columns = columns
        // Row by row, without a division per entry (this init builds every product's result).
        entries = [FastInterval](unsafeUninitializedCapacity: rows * columns) { buffer, count in
            for i in 0..<rows {
                for j in 0..<columns { buffer.initializeElement(at: count, to: entry(i, j)); count += 1 }
            }
        }
    }

    init(rows: Int, columns: Int, entries: [FastInterval]) {
        precondition(entries.count == rows * columns, "FastIntervalMatrix: \(entries.count) entries for \(rows)×\(columns)")
        (self.rows, self.columns, self.entries) = (rows, columns, entries)
    }

    /// The point enclosure of a Double matrix.
    public init(_ m: Matrix) {
        self.init(rows: m.rows, columns: m.columns) { FastInterval(m[$0, $1]) }
    }

    public subscript(i: Int, j: Int) -> FastInterval { entries[i * columns + j] }

    /// Entry (i, j) times 2^(r[i] + c[j]) (D_r·self·D_c for diagonal powers of two): each end
    /// scaled exactly, and pushed one Double outward where it leaves the normal range (a
    /// subnormal result is rounded; an overflow to ±∞ becomes the largest finite on its inner
    /// side), so every scaled value stays enclosed.
    public func scaled(rows r: [Int], columns c: [Int]) -> FastIntervalMatrix {
        precondition(r.count == rows && c.count == columns, "scaled: one exponent per row and per column")
        func end(_ x: Double, _ e: Int, down: Bool) -> Double {
            let y = Double(sign: .plus, exponent: e, significand: x)
            return y.isNormal || x == 0 || x.isInfinite ? y : down ? y.nextDown : y.nextUp
        }
        return FastIntervalMatrix(rows: rows, columns: columns) { i, j in
            let e = r[i] + c[j], x = self[i, j]
            return e == 0 ? x : FastInterval(lo: end(x.lo, e, down: true), hi: end(x.hi, e, down: false))
        }
    }

    public var transposed: FastIntervalMatrix {
        FastIntervalMatrix(rows: columns, columns: rows) { self[$1, $0] }
    }

    /// The columns centred over the rows: A − 1·meanᵀ (G̃ = CG for unembeddings).
    public var subtractingColumnMeans: FastIntervalMatrix {
        let count = FastInterval(Double(rows))
        let means = (0..<columns).map { j in FastInterval.sum((0..<rows).lazy.map { self[$0, j] }) / count }
        return FastIntervalMatrix(rows: rows, columns: columns) { self[$0, $1] - means[$1] }
    }

    /// Products with at least this many multiply-adds go to BLAS by midpoints and radii
    /// (`midpointRadiusProduct`); smaller ones run the same bound as plain loops
    /// (`midpointRadiusLoop`), cheaper than BLAS calls at these sizes.
    public static let blasProductThreshold = 1 << 15

    public func multiplied(by other: FastIntervalMatrix) -> FastIntervalMatrix {
        precondition(columns == other.rows, "FastIntervalMatrix: shapes differ")
        if rows * columns * other.columns >= Self.blasProductThreshold {
            return Self.midpointRadiusProduct(self, transposeFirst: false, other)
        }
        return Self.midpointRadiusLoop(self, transposeFirst: false, other)
    }

    /// `multiplied(by: FastIntervalMatrix(b))` for a Double matrix B: the same Doubles where B is
    /// free of NaN (a NaN entry is a midpoint here, the whole line there: both enclose, the
    /// affected entries are the whole line either way), without forming B's point intervals and
    /// taking them apart again (at d = 768 that was 10–20 ms a
    /// product, and T7's fast spectra take eleven such products each).
    public func multiplied(byPoint b: Matrix) -> FastIntervalMatrix {
        precondition(columns == b.rows, "FastIntervalMatrix: shapes differ")
        guard rows * columns * b.columns >= Self.blasProductThreshold else { return multiplied(by: FastIntervalMatrix(b)) }
        return Self.midpointRadiusProduct(Factor(self), transposeFirst: false, Factor(point: b))
    }

    /// `FastIntervalMatrix(a).multiplied(by: b)` for a Double matrix A, likewise.
    public static func product(_ a: Matrix, _ b: FastIntervalMatrix) -> FastIntervalMatrix {
        precondition(a.columns == b.rows, "FastIntervalMatrix: shapes differ")
        guard a.rows * a.columns * b.columns >= blasProductThreshold else { return FastIntervalMatrix(a).multiplied(by: b) }
        return midpointRadiusProduct(Factor(point: a), transposeFirst: false, Factor(b))
    }

    /// op(A)·B by midpoints and radii as `midpointRadiusProduct` (Proofs/certificates.md §4, the
    /// same bound: it holds for the three products summed in any order), with the products as
    /// plain loops instead of dgemm calls: the small products (d ≤ 32) of the verified solves,
    /// pivot maps and moment forms, about four times cheaper than the interval loop.
    /// `boundScale` < 1 plants a bound too small (the tests show it caught).
    public static func midpointRadiusLoop(_ a: FastIntervalMatrix, transposeFirst: Bool, _ b: FastIntervalMatrix,
                                          boundScale: Double = 1) -> FastIntervalMatrix {
        let (m, n) = transposeFirst ? (a.columns, a.rows) : (a.rows, a.columns)
        precondition(n == b.rows, "midpointRadiusLoop: inner dimensions \(n) and \(b.rows) differ")
        let p = b.columns
        let gamma = FastMath.productErrorFactor(n)   // ≥ γ_n
        let widen = (boundScale * (1 + gamma).nextUp).nextUp   // 1/(1 − γ_n) ≤ 1 + γ_n/(1 − γ_n), rounded up
        let floor = (Double(2 * n) * Double.leastNonzeroMagnitude).nextUp
        // Â, R_A in op(A)'s layout (m×n); B̂ and Z₁ = (|B̂| + R_B)⁺, Z₂ = ((γ|B̂|)⁺ + R_B)⁺ (n×p).
        // Scratch on the stack for these small sizes (one allocation, the result, per product).
        let out = withUnsafeTemporaryAllocation(of: Double.self, capacity: max(1, 2 * m * n + 3 * n * p)) { scratch -> [FastInterval] in
            let am = scratch.baseAddress!, ar = am + m * n, bm = ar + m * n, z1 = bm + n * p, z2 = z1 + n * p
            for i in 0..<m {
                for l in 0..<n {
                    (am[i * n + l], ar[i * n + l]) = (transposeFirst ? a.entries[l * a.columns + i] : a.entries[i * n + l]).midpointAndRadius
                }
            }
            for t in 0..<(n * p) {
                let (c, r) = b.entries[t].midpointAndRadius
                bm[t] = c
                z1[t] = (abs(c) + r).nextUp
                z2[t] = ((gamma * abs(c)).nextUp + r).nextUp
            }
            return [FastInterval](unsafeUninitializedCapacity: m * p) { buffer, count in
                for i in 0..<m {
                    for j in 0..<p {
                        var s = 0.0, t = 0.0, v = 0.0
                        for l in 0..<n {
                            let x = am[i * n + l], y = l * p + j
                            s += x * bm[y]
                            t += ar[i * n + l] * z1[y]
                            v += abs(x) * z2[y]
                        }
                        let e = ((widen * (t + v).nextUp).nextUp + floor).nextUp
                        (buffer.baseAddress! + i * p + j).initialize(to: e.isFinite && s.isFinite ? FastInterval.roundedOut(s - e, s + e) : .entire)
                    }
                }
                count = m * p
            }
        }
        return FastIntervalMatrix(rows: m, columns: p, entries: out)
    }

    /// AᵀB without forming Aᵀ.
    public func transposeMultiplied(by other: FastIntervalMatrix) -> FastIntervalMatrix {
        precondition(rows == other.rows, "FastIntervalMatrix: shapes differ")
        if rows * columns * other.columns >= Self.blasProductThreshold {
            return Self.midpointRadiusProduct(self, transposeFirst: true, other)
        }
        return Self.midpointRadiusLoop(self, transposeFirst: true, other)
    }

    /// B̂ and R ≥ |B − B̂| entrywise for every B the intervals hold: B̂ the midpoints, each
    /// radius max(hi − B̂, B̂ − lo) rounded and pushed one Double up; a point entry is its own
    /// midpoint with radius exactly 0 (so that point factors take the one-radius products).
    public var midpointsAndRadii: (midpoints: Matrix, radii: Matrix) {
        var middle = Matrix(rows: rows, columns: columns), radius = middle
        middle.storage.withUnsafeMutableBufferPointer { m in
            radius.storage.withUnsafeMutableBufferPointer { r in
                for t in entries.indices { (m[t], r[t]) = entries[t].midpointAndRadius }
            }
        }
        return (middle, radius)
    }

    /// op(A)·B for every A and B the intervals hold, from BLAS products of midpoints and
    /// radii (Proofs/certificates.md §4, "Interval products by midpoints and radii"): with n
    /// the inner dimension, S = fl(ÂB̂), T = fl(R_A·Z₁), Z₁ = (|B̂| + R_B)⁺, and
    /// V = fl(|Â|·Z₂), Z₂ = (γ_n|B̂| + R_B)⁺, in any order and kernel,
    ///   |AB − S| ≤ (T + V)/(1 − γ_n) + 2nη.
    /// When one side is a point the two radius products merge into one: three dgemm calls
    /// for two interval factors, two when one is a point (the rounding term γ_n|Â||B̂| rides
    /// along with a radius product instead of taking its own). An entry whose bound or
    /// midpoint is not finite is the whole line.
    public static func midpointRadiusProduct(_ a: FastIntervalMatrix, transposeFirst: Bool, _ b: FastIntervalMatrix,
                                             boundScale: Double = 1) -> FastIntervalMatrix {
        midpointRadiusProduct(Factor(a), transposeFirst: transposeFirst, Factor(b), boundScale: boundScale)
    }

    /// A factor of `midpointRadiusProduct`: its midpoints, and its radii unless they are all 0
    /// (a point matrix, whose entries are their own midpoints).
    struct Factor {
        let midpoints: Matrix
        let radii: Matrix?

        init(_ m: FastIntervalMatrix) {
            let (middle, radius) = m.midpointsAndRadii
            (midpoints, radii) = (middle, radius.storage.contains { $0 != 0 } ? radius : nil)
        }

        init(point m: Matrix) { (midpoints, radii) = (m, nil) }
    }

    static func midpointRadiusProduct(_ a: Factor, transposeFirst: Bool, _ b: Factor, boundScale: Double = 1) -> FastIntervalMatrix {
        let (am, bm) = (a.midpoints, b.midpoints)
        let (rowsOut, inner) = transposeFirst ? (am.columns, am.rows) : (am.rows, am.columns)
        precondition(inner == bm.rows, "midpointRadiusProduct: inner dimensions \(inner) and \(bm.rows) differ")
        let gamma = FastMath.productErrorFactor(inner)   // ≥ γ_n
        let s = am.multiplied(by: bm, transposeSelf: transposeFirst)
        // Entrywise (x + y)⁺ of non-negative terms, each rounded up.
        func sum(_ x: Matrix, _ scaleX: Double, _ y: Matrix?) -> Matrix {
            var out = x
            out.storage.withUnsafeMutableBufferPointer { o in
                for t in o.indices {
                    let first = scaleX == 1 ? abs(o[t]) : (scaleX * abs(o[t])).nextUp
                    o[t] = y.map { (first + $0.storage[t]).nextUp } ?? first
                }
            }
            return out
        }
        let spread: Matrix
        switch (a.radii, b.radii) {
        case (nil, let br):
            spread = am.absoluteValues.multiplied(by: sum(bm, gamma, br), transposeSelf: transposeFirst)
        case (let ar?, nil):
            spread = sum(am, gamma, ar).multiplied(by: bm.absoluteValues, transposeSelf: transposeFirst)   // (γ|Â| + R_A)|B̂|
        case (let ar?, let br?):
            var t = ar.multiplied(by: sum(bm, 1, br), transposeSelf: transposeFirst)
            let v = am.absoluteValues.multiplied(by: sum(bm, gamma, br), transposeSelf: transposeFirst)
            for k in t.storage.indices { t.storage[k] = (t.storage[k] + v.storage[k]).nextUp }
            spread = t
        }
        let widen = (boundScale * (1 + gamma).nextUp).nextUp   // 1/(1 − γ_n) ≤ 1 + γ_n/(1 − γ_n)
        let floor = (Double(2 * inner) * Double.leastNonzeroMagnitude).nextUp
        return FastIntervalMatrix(rows: rowsOut, columns: bm.columns) { i, j in
            let t = i * bm.columns + j
            let e = ((widen * spread.storage[t]).nextUp + floor).nextUp
            guard e.isFinite, s.storage[t].isFinite else { return .entire }
            return FastInterval.roundedOut(s.storage[t] - e, s.storage[t] + e)
        }
    }

    /// The matrix of midpoints (for an approximate inverse).
    public var midpoints: Matrix { Matrix(rows: rows, columns: columns) { self[$0, $1].midpoint } }

    /// Enclosures of X = M⁻¹B for every M and B the intervals hold (Proofs/certificates.md §6),
    /// or nil when M is not shown nonsingular. With R ≈ mid(M)⁻¹ and X̃ = R·mid(B): if
    /// α = ‖I − RM‖∞ < 1 then every such M is nonsingular and, column by column,
    /// ‖x − x̃‖∞ ≤ ‖R(b − Mx̃)‖∞ / (1 − α). Cost O(n³ + n²·columns of B).
    /// For n ≤ 2 the inverse's closed form in interval arithmetic decides first (`closedFormSolve`).
    public func solving(_ b: FastIntervalMatrix) -> FastIntervalMatrix? {
        precondition(rows == columns && b.rows == rows, "FastIntervalMatrix.solving: shapes differ")
        if rows <= 2, let x = closedFormSolve(b) { return x }
        return contractionSolve(b)
    }

    /// M⁻¹B for a second moment or Gram M (symmetric, its diagonal the columns' squared norms),
    /// solved on D·M·D where the diagonal spreads beyond 2¹⁶ (D = diag(2^eⱼ) bringing it near 1,
    /// `Matrix.momentEquilibration`; exact, ends pushed outward only where they leave the normal
    /// range): M⁻¹B = D·(DMD)⁻¹·(DB). A column of the data 2⁶⁰ apart from the others (the same
    /// model, the other factor scaled back) had left M not shown nonsingular; within 2⁸ the
    /// plain `solving`.
    public func solvingEquilibrated(_ b: FastIntervalMatrix) -> FastIntervalMatrix? {
        let e = midpoints.momentEquilibration
        guard Matrix.spread(e) > 8 else { return solving(b) }
        let none = [Int](repeating: 0, count: b.columns)
        return scaled(rows: e, columns: e).solving(b.scaled(rows: e, columns: none))?.scaled(rows: e, columns: none)
    }

    /// M⁻¹B for n ≤ 2 by the inverse's closed form evaluated in interval arithmetic
    /// (Proofs/certificates.md §6, "Closed form"): b/m for n = 1; for n = 2, with
    /// det = m₀₀m₁₁ − m₀₁m₁₀, x₀ = (m₁₁b₀ − m₀₁b₁)/det and x₁ = (m₀₀b₁ − m₁₀b₀)/det. Interval
    /// arithmetic encloses each expression's range over the boxes, so a determinant that excludes
    /// 0 proves every M nonsingular and the result holds every M⁻¹B. nil when the determinant's
    /// enclosure reaches 0 or an end is not finite (the contraction form then tries). The
    /// harness's pivot matrices are mostly 1×1 and 2×2, where this replaces an approximate
    /// inverse and three products. `planted` ≠ 0 shifts the result by that many of its widths
    /// (a planted bug: the tests show it caught).
    func closedFormSolve(_ b: FastIntervalMatrix, planted: Double = 0) -> FastIntervalMatrix? {
        let n = rows, m = b.columns
        let out: [FastInterval]
        if n == 1 {
            let pivot = entries[0]
            guard !pivot.containsZero else { return nil }
            out = b.entries.map { $0 / pivot }
        } else {
            let (m00, m01, m10, m11) = (entries[0], entries[1], entries[2], entries[3])
            let det = m00 * m11 - m01 * m10
            guard !det.containsZero else { return nil }
            out = (0..<(2 * m)).map { t in
                let (i, j) = (t / m, t % m)
                let (b0, b1) = (b.entries[j], b.entries[m + j])
                return (i == 0 ? m11 * b0 - m01 * b1 : m00 * b1 - m10 * b0) / det
            }
        }
        guard out.allSatisfy({ $0.lo.isFinite && $0.hi.isFinite }) else { return nil }
        if planted != 0 { return FastIntervalMatrix(rows: n, columns: m, entries: out.map { FastInterval(lo: $0.lo + planted * $0.width, hi: $0.hi + planted * $0.width) }) }
        return FastIntervalMatrix(rows: n, columns: m, entries: out)
    }

    /// M⁻¹B by the contraction of §6 (any n).
    func contractionSolve(_ b: FastIntervalMatrix) -> FastIntervalMatrix? {
        let n = rows
        guard let (r, alpha) = contraction(), alpha < 1 else { return nil }
        let approximate = r.multiplied(by: b.midpoints)
        let residual = b.subtracting(multiplied(byPoint: approximate))
        let corrected = Self.product(r, residual)
        let slack = FastInterval(1) - FastInterval(alpha)
        // ‖R(b_j − Mx̃_j)‖∞ / (1 − α), one per column.
        let radii = (0..<b.columns).map { j in
            (FastInterval((0..<n).reduce(0.0) { Swift.max($0, abs(corrected[$1, j].lo), abs(corrected[$1, j].hi)) }) / slack).hi
        }
        guard corrected.entries.allSatisfy({ $0.lo.isFinite && $0.hi.isFinite }), approximate.storage.allSatisfy(\.isFinite) else { return nil }
        return FastIntervalMatrix(rows: n, columns: b.columns) { i, j in
            FastInterval.roundedOut(approximate[i, j] - radii[j], approximate[i, j] + radii[j])
        }
    }

    /// Whether every matrix the intervals hold is nonsingular, shown as `solving` shows it
    /// (α = ‖I − R·M‖∞ < 1 for an approximate inverse R), without solving anything.
    public var isProvenNonsingular: Bool {
        precondition(rows == columns, "isProvenNonsingular: not square")
        return contraction().map { $0.alpha < 1 } ?? false
    }

    /// An approximate inverse R of the midpoints and α ≥ ‖I − R·M‖∞ over every M the intervals
    /// hold (rows' sums rounded up); nil when R or α is not finite (an end that overflowed or
    /// is NaN proves nothing, and max would drop a NaN).
    func contraction() -> (r: Matrix, alpha: Double)? {
        guard let r = Self.approximateInverse(midpoints) else { return nil }
        let rm = Self.product(r, self)
        var alpha = 0.0
        for i in 0..<rows {
            var row = 0.0
            for j in 0..<columns {
                let c = FastInterval(i == j ? 1 : 0) - rm[i, j]
                row = (row + max(abs(c.lo), abs(c.hi))).nextUp
            }
            guard row.isFinite else { return nil }
            alpha = max(alpha, row)
        }
        return (r, alpha)
    }

    /// An approximate inverse (any will do: α decides), by Gaussian elimination with partial
    /// pivoting for n ≤ 32 (no LAPACK call for the many tiny systems), LAPACK above; nil when it
    /// is not finite.
    static func approximateInverse(_ m: Matrix) -> Matrix? {
        let n = m.rows
        guard n <= 32 else { return try? LUDecomposition(m).inverse() }
        var lu = m.storage
        var x = [Double](repeating: 0, count: n * n)
        for i in 0..<n { x[i * n + i] = 1 }
        SmallMatrixKernels.solveInPlace(&lu, n, &x, n)
        guard x.allSatisfy(\.isFinite) else { return nil }
        return try? Matrix(rows: n, columns: n, storage: x)
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
    /// `whitening`: B's `pencilWhitening`, when several pencils share B (formed here otherwise).
    public func pencilEigenvalues(_ b: FastIntervalMatrix, whitening: Matrix? = nil) -> [FastInterval]? {
        precondition(rows == columns && b.rows == rows && b.columns == columns, "pencilEigenvalues: shapes differ")
        let n = rows
        guard let lInverse = whitening ?? b.pencilWhitening() else { return nil }
        precondition(lInverse.rows == n && lInverse.columns == n, "pencilEigenvalues: the whitening's shape differs")
        let whitened = lInverse.multiplied(by: midpoints).multiplied(by: lInverse, transposeOther: true)
        let symmetric = Matrix(rows: n, columns: n) { whitened[$0, $1] / 2 + whitened[$1, $0] / 2 }
        guard let e = try? SymmetricEigendecomposition(symmetric) else { return nil }
        let x = lInverse.transposed.multiplied(by: e.eigenvectors), xt = x.transposed
        let a = Self.product(xt, multiplied(byPoint: x)), bx = Self.product(xt, b.multiplied(byPoint: x))
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
    /// L⁻¹ for the Cholesky factor L of this (B's) midpoints, mid B = LLᵀ: what
    /// `pencilEigenvalues(_:whitening:)` of any pencil (A, B) starts from (any approximation
    /// serves the enclosure, which checks XᵀBX against I). nil when the midpoints are not
    /// positive definite in double precision.
    public func pencilWhitening() -> Matrix? {
        try? CholeskyDecomposition(midpoints).inverseFactor()
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
        weightedCrossProducts([(0, 1)], of: [a, b], weights: w, boundScale: boundScale)[0]
    }

    /// `weightedCrossProduct(matrices[l], matrices[r])` for every (l, r) of `pairs`, each
    /// operand's copies (diag(w̃)A and |·| of it on the left, |B| and its column sums on the
    /// right) formed once however many pairs read it, and the products and bounds shared out
    /// to the cores. The same products and bounds, so the same enclosures.
    public static func weightedCrossProducts(_ pairs: [(left: Int, right: Int)], of matrices: [Matrix], weights w: [FastInterval],
                                             boundScale: Double = 1) -> [FastIntervalMatrix] {
        let n = w.count
        precondition(matrices.allSatisfy { $0.rows == n } && pairs.allSatisfy { matrices.indices.contains($0.left) && matrices.indices.contains($0.right) },
                     "weightedCrossProducts: shapes differ")
        func entire(_ pair: (left: Int, right: Int)) -> FastIntervalMatrix {
            FastIntervalMatrix(rows: matrices[pair.left].columns, columns: matrices[pair.right].columns) { _, _ in .entire }
        }
        let middle = w.map(\.midpoint)
        var rho = 0.0
        for (m, interval) in zip(middle, w) {
            guard m > 0 else { return pairs.map(entire) }
            rho = Swift.max(rho, (Swift.max(interval.hi - m, m - interval.lo).nextUp / m).nextUp)
        }
        // The proof needs u + ρ ≤ 1; weights this uncertain give no useful enclosure anyway.
        guard rho < 0.5 else { return pairs.map(entire) }
        let gamma = FastMath.productErrorFactor(n)
        let u = FastMath.unitRoundoff
        let factor = (boundScale * ((gamma + ((u + rho) * (1 + 2 * u)).nextUp / (1 - gamma).nextDown).nextUp * (1 + 1e-12))).nextUp
        let eta = Double.leastNonzeroMagnitude
        // The operands: left ones scaled by the midpoints (with their absolute values), right
        // ones' absolute values and column sums Σᵢ|Bᵢq|↑ (each column added in row order).
        let lefts = Array(Set(pairs.map(\.left))).sorted(), rights = Array(Set(pairs.map(\.right))).sorted()
        // Every core for large products, fewer inside a caller's workers (`BLASThreads.workers`).
        let flops = 4 * Double(n) * pairs.reduce(0.0) { $0 + Double(matrices[$1.left].columns) * Double(matrices[$1.right].columns) }
        let workers = BLASThreads.workers(forFlops: flops)
        let operands = (try? BLASThreads.parallelMap(lefts.count + rights.count, workers: workers) { t -> (Matrix, Matrix, [Double]) in
            if t < lefts.count {
                let scaled = matrices[lefts[t]].scalingRows(by: middle)
                return (scaled, scaled.absoluteValues, [])
            }
            let b = matrices[rights[t - lefts.count]], absolute = b.absoluteValues
            var sums = [Double](repeating: 0, count: b.columns)
            absolute.storage.withUnsafeBufferPointer { x in
                for i in 0..<n { for j in 0..<b.columns { sums[j] = (sums[j] + x[i * b.columns + j]).nextUp } }
            }
            return (absolute, absolute, sums)
        }) ?? []
        // Each pair's operands: its left one's and its right one's place in `operands`.
        let left = pairs.map { lefts.firstIndex(of: $0.left)! }, right = pairs.map { lefts.count + rights.firstIndex(of: $0.right)! }
        // P = A′ᵀB and Q = |A′|ᵀ|B| of every pair, one product per task.
        let products = (try? BLASThreads.parallelMap(2 * pairs.count, workers: workers) { t -> Matrix in
            let (a, b) = (operands[left[t / 2]], operands[right[t / 2]])
            return t % 2 == 0 ? a.0.multiplied(by: matrices[pairs[t / 2].right], transposeSelf: true) : a.1.multiplied(by: b.0, transposeSelf: true)
        }) ?? []
        return (try? BLASThreads.parallelMap(pairs.count, workers: workers) { t -> FastIntervalMatrix in
            let (p, q, columnSums) = (products[2 * t], products[2 * t + 1], operands[right[t]].2)
            return FastIntervalMatrix(rows: p.rows, columns: p.columns) { i, j in
                let e = (((factor * q[i, j]).nextUp + 3 * Double(n) * eta).nextUp + (eta * columnSums[j]).nextUp).nextUp
                guard e.isFinite, p[i, j].isFinite else { return .entire }
                return FastInterval.roundedOut(p[i, j] - e, p[i, j] + e)
            }
        }) ?? []
    }

    /// `weightedCrossProduct` over blocks of at most `rowsPerBlock` rows, the blocks' enclosures
    /// added in interval arithmetic (§1): the same enclosure up to the additions' outward
    /// rounding, with O(rowsPerBlock·(p + q)) memory beyond the inputs however many rows there
    /// are (the one-call form copies A and |A|, |B| whole).
    public static func weightedCrossProductInBlocks(_ a: Matrix, _ b: Matrix, weights w: [FastInterval],
                                                    rowsPerBlock: Int = 1 << 15) -> FastIntervalMatrix {
        weightedCrossProductsInBlocks([(0, 1)], of: [a, b], weights: w, rowsPerBlock: rowsPerBlock)[0]
    }

    /// `weightedCrossProducts` over blocks of at most `rowsPerBlock` rows, as
    /// `weightedCrossProductInBlocks` sums them.
    public static func weightedCrossProductsInBlocks(_ pairs: [(left: Int, right: Int)], of matrices: [Matrix], weights w: [FastInterval],
                                                     rowsPerBlock: Int = 1 << 15) -> [FastIntervalMatrix] {
        precondition(matrices.allSatisfy { $0.rows == w.count } && rowsPerBlock > 0, "weightedCrossProductsInBlocks: shapes differ")
        guard w.count > rowsPerBlock else { return weightedCrossProducts(pairs, of: matrices, weights: w) }
        var total: [FastIntervalMatrix]?
        for start in stride(from: 0, to: w.count, by: rowsPerBlock) {
            let rows = Array(start..<Swift.min(w.count, start + rowsPerBlock))
            let parts = weightedCrossProducts(pairs, of: matrices.map { $0.selectingRows(rows) }, weights: Array(w[rows.first!...rows.last!]))
            total = total.map { sums in
                zip(sums, parts).map { sum, part in FastIntervalMatrix(rows: sum.rows, columns: sum.columns) { sum[$0, $1] + part[$0, $1] } }
            } ?? parts
        }
        return total!
    }

    /// A·Bᵀ for a Double matrix A (n×m) and every B in the interval matrix `b` (p×m),
    /// enclosed from three BLAS products (Proofs/certificates.md §4, "interval factor"):
    /// with B̂ the midpoints and R ≥ |B − B̂| the radii (rounded up), S = fl(AB̂ᵀ),
    /// Q = fl(|A||B̂|ᵀ) and T = fl(|A|Rᵀ) in any order and kernel,
    ///   |ABᵀ − S| ≤ γ_m/(1 − γ_m)·Q + 2mη + T/(1 − γ_m) + mη/2.
    /// O(n m p) at dgemm speed, where an interval loop costs ~20× more. An entry whose
    /// bound is not finite is the whole line. Below `blasProductThreshold` multiply-adds the
    /// three products run as one plain loop (`pointTimesTransposedLoop`, the same bound).
    public static func pointTimesTransposed(_ a: Matrix, _ b: FastIntervalMatrix) -> FastIntervalMatrix {
        precondition(a.columns == b.columns, "pointTimesTransposed: A has \(a.columns) columns, B \(b.columns)")
        if a.rows * a.columns * b.rows < blasProductThreshold { return pointTimesTransposedLoop(a, b) }
        return pointTimesTransposedBLAS(a, b)
    }

    /// `pointTimesTransposed` by three dgemm calls, whatever the size.
    static func pointTimesTransposedBLAS(_ a: Matrix, _ b: FastIntervalMatrix) -> FastIntervalMatrix {
        let m = a.columns
        let (middle, radius) = b.midpointsAndRadii
        let absA = a.absoluteValues
        let s = a.multiplied(by: middle, transposeOther: true)
        let q = absA.multiplied(by: middle.absoluteValues, transposeOther: true)
        let r = absA.multiplied(by: radius, transposeOther: true)
        let bound = PointFactorBound(terms: m)
        return FastIntervalMatrix(rows: a.rows, columns: b.rows) { i, j in
            bound.enclosure(s[i, j], absoluteProducts: q[i, j], radiusProducts: r[i, j])
        }
    }

    /// The entry bound both forms of `pointTimesTransposed` share (Proofs/certificates.md §4, "An
    /// interval factor"): for m terms, e = ((γ_m/(1 − γ_m)·Q)⁺ + ((1 + γ_m/(1 − γ_m))·T)⁺ + 3mη)⁺,
    /// each step rounded up, and S ± e rounded out; the whole line where e or S is not finite.
    struct PointFactorBound {
        let gamma: Double, spread: Double, floor: Double

        init(terms m: Int) {
            gamma = FastMath.productErrorFactor(m)
            spread = (1 + gamma).nextUp   // 1/(1 − γ_m) = 1 + γ_m/(1 − γ_m)
            floor = (Double(3 * m) * Double.leastNonzeroMagnitude).nextUp
        }

        /// `boundScale` < 1 plants a bound too small (the tests show it caught).
        func enclosure(_ s: Double, absoluteProducts q: Double, radiusProducts r: Double, boundScale: Double = 1) -> FastInterval {
            var e = (((gamma * q).nextUp + (spread * r).nextUp).nextUp + floor).nextUp
            if boundScale != 1 { e = (boundScale * e).nextUp }
            return e.isFinite && s.isFinite ? FastInterval.roundedOut(s - e, s + e) : .entire
        }
    }

    /// `pointTimesTransposed` with S, Q and T as one plain loop over each entry's m terms (the
    /// bound holds in any summation order, so in this one), B̂ and R on the stack: for the
    /// small products of T5's pivot forms, where three dgemm calls and their matrices cost
    /// several times the arithmetic. `boundScale` < 1 plants a bound too small (the tests show
    /// it caught).
    static func pointTimesTransposedLoop(_ a: Matrix, _ b: FastIntervalMatrix, boundScale: Double = 1) -> FastIntervalMatrix {
        let (n, m, p) = (a.rows, a.columns, b.rows)
        let bound = PointFactorBound(terms: m)
        let out = withUnsafeTemporaryAllocation(of: Double.self, capacity: max(1, 2 * p * m)) { scratch -> [FastInterval] in
            let bm = scratch.baseAddress!, br = bm + p * m
            for t in 0..<(p * m) { (bm[t], br[t]) = b.entries[t].midpointAndRadius }
            return a.storage.withUnsafeBufferPointer { pa in
                [FastInterval](unsafeUninitializedCapacity: n * p) { buffer, count in
                    for i in 0..<n {
                        for j in 0..<p {
                            var s = 0.0, q = 0.0, r = 0.0
                            for l in 0..<m {
                                let x = pa[i * m + l], y = bm[j * m + l]
                                s += x * y
                                q += abs(x) * abs(y)
                                r += abs(x) * br[j * m + l]
                            }
                            (buffer.baseAddress! + i * p + j).initialize(to: bound.enclosure(s, absoluteProducts: q, radiusProducts: r, boundScale: boundScale))
                        }
                    }
                    count = n * p
                }
            }
        }
        return FastIntervalMatrix(rows: n, columns: p, entries: out)
    }
}

extension FastIntervalMatrix {
    /// (CG_A)ᵀ(CG_B) enclosed, C = I − 11ᵀ/k centring over the k rows, at any size
    /// (Proofs/certificates.md §4, "Centred Grams by norms"): the centred unembeddings'
    /// Gram (or cross-Gram) of T3, T4, T7 and T12 at language-model scale.
    ///
    /// `centredA` must be `G_A.subtractingColumnMeans` (each entry fl(g − c) for one Double c
    /// per column), likewise `centredB`; `product` any fl(centredAᵀ·centredB) by BLAS, in any
    /// order and kernel (the pair's cached Gram). With H_t = G − 1cᵀ = H + E, |E| ≤ u/(1 − u)|H|,
    /// (CG_A)ᵀ(CG_B) = H_tAᵀH_tB − s_As_Bᵀ/k with s = H_tᵀ1, and
    ///   |H_tAᵀH_tB − P| ≤ (γ_k/(1 − γ_k) + 3u)·‖h_a‖⁺‖h_b‖⁺ + 2kη
    /// by Cauchy–Schwarz on Σ|h_a||h_b|, ‖h‖⁺ a rounded-up column norm. The column sums s are
    /// enclosed from fl(Σh) and fl(Σ|h|). Costs O(k d) beyond the product; no second
    /// product of absolute values. An entry whose bound is not finite is the whole line.
    public static func centredCrossProduct(centredA: Matrix, centredB: Matrix, product p: Matrix,
                                           boundScale: Double = 1) -> FastIntervalMatrix {
        centredCrossProduct(CentredColumns(centredA), CentredColumns(centredB), product: p, boundScale: boundScale)
    }

    /// The same from each side's column bounds (computed once per model).
    public static func centredCrossProduct(_ a: CentredColumns, _ b: CentredColumns, product p: Matrix,
                                           boundScale: Double = 1) -> FastIntervalMatrix {
        let k = a.rows
        precondition(b.rows == k && p.rows == a.norms.count && p.columns == b.norms.count, "centredCrossProduct: shapes differ")
        let factor = (boundScale * (FastMath.productErrorFactor(k) + 3 * FastMath.unitRoundoff)).nextUp
        let floor = (Double(2 * k) * Double.leastNonzeroMagnitude).nextUp
        let count = FastInterval(Double(k))
        return FastIntervalMatrix(rows: p.rows, columns: p.columns) { i, j in
            let e = (((factor * a.norms[i]).nextUp * b.norms[j]).nextUp + floor).nextUp
            guard e.isFinite, p[i, j].isFinite else { return .entire }
            return FastInterval.roundedOut(p[i, j] - e, p[i, j] + e) - a.sums[i] * b.sums[j] / count
        }
    }
}

/// The column bounds of a centred matrix H = fl(G − 1cᵀ) (k×d) that `centredCrossProduct`
/// needs: each column's norm bounded above, and an enclosure of its exact column sum
/// Σ(h + e), |e| ≤ u/(1 − u)|h|: fl(Σh) ± (γ_k/(1 − γ_k) + 2u)·fl(Σ|h|)⁺.
/// A norm is √(fl(Σh²)·(1 + γ_k/(1 − γ_k)) + kη), each step rounded up (§4's claim on a
/// non-negative sum; kη covers squares that underflow), where the column's largest
/// magnitude M lies in [2⁻⁴⁵⁰, 2⁴⁵⁰] so that no square or sum overflows; otherwise
/// M·√Σ(|x|/M)² with every operation rounded and pushed up (as `FastLogitSums` bounds row
/// norms). One pass over H (a second only for columns outside that range).
public struct CentredColumns: Sendable {
    public let rows: Int
    public let norms: [Double]
    public let sums: [FastInterval]

    /// Bounds carried elsewhere (a partial file), as `init(_:)` formed them.
    public init(rows: Int, norms: [Double], sums: [FastInterval]) {
        precondition(norms.count == sums.count, "CentredColumns: \(norms.count) norms for \(sums.count) sums")
        (self.rows, self.norms, self.sums) = (rows, norms, sums)
    }

    public init(_ h: Matrix) {
        let (k, d) = (h.rows, h.columns)
        var top = [Double](repeating: 0, count: d), sum = top, absolute = top, squares = top
        h.storage.withUnsafeBufferPointer { x in
            top.withUnsafeMutableBufferPointer { top in
                sum.withUnsafeMutableBufferPointer { sum in
                    absolute.withUnsafeMutableBufferPointer { absolute in
                        squares.withUnsafeMutableBufferPointer { squares in
                            for i in 0..<k {
                                let row = i * d
                                for j in 0..<d {
                                    let v = x[row + j]
                                    top[j] = Swift.max(top[j], abs(v))
                                    sum[j] += v
                                    absolute[j] += abs(v)
                                    squares[j] += v * v
                                }
                            }
                        }
                    }
                }
            }
        }
        let factor = FastMath.productErrorFactor(k)
        let sumFactor = (factor + 2 * FastMath.unitRoundoff).nextUp
        let underflow = (Double(k) * Double.leastNonzeroMagnitude).nextUp
        norms = (0..<d).map { j in
            let m = top[j]
            guard m > 0, m.isFinite else { return m }
            if m >= 0x1p-450 && m <= 0x1p450 {
                return (((squares[j] * (1 + factor).nextUp).nextUp + underflow).nextUp.squareRoot()).nextUp
            }
            var scaled = 0.0
            for i in 0..<k {
                let q = (abs(h.storage[i * d + j]) / m).nextUp
                scaled = (scaled + (q * q).nextUp).nextUp
            }
            return (m * scaled.squareRoot().nextUp).nextUp
        }
        sums = (0..<d).map { j -> FastInterval in
            let r = (sumFactor * absolute[j].nextUp).nextUp
            guard r.isFinite, sum[j].isFinite else { return .entire }
            return FastInterval.roundedOut(sum[j] - r, sum[j] + r)
        }
        rows = k
    }
}
