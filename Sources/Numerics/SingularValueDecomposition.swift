import CLAPACKE

/// The thin singular value decomposition A = U Σ Vᵀ of an m×n matrix, r = min(m, n):
/// U is m×r with orthonormal columns, σ₁ ≥ … ≥ σ_r ≥ 0, V is n×r.
///
/// Computed by LAPACK's divide-and-conquer `dgesdd`; singular values carry an
/// absolute error of about ε·σ₁, so a σ_r far below ε·σ₁ is not resolved
/// (its relative error can be large).
public struct SingularValueDecomposition: Sendable {
    public let u: Matrix
    public let singularValues: [Double]
    public let v: Matrix

    public init(_ a: Matrix) throws {
        BLASThreads.ensureSerial()
        try a.requireFinite("SVD")
        let (m, n) = a.shape
        let r = min(m, n)
        guard r > 0 else {
            u = Matrix(rows: m, columns: 0); v = Matrix(rows: n, columns: 0); singularValues = []
            return
        }
        var work = a.storage
        var s = [Double](repeating: 0, count: r)
        var uStorage = [Double](repeating: 0, count: m * r)
        var vtStorage = [Double](repeating: 0, count: r * n)
        let info = LAPACKE_dgesdd(rowMajor, flag("S"), lapacke_index(m), lapacke_index(n), &work,
                                  lapacke_index(n), &s, &uStorage, lapacke_index(r), &vtStorage, lapacke_index(n))
        try lapackCheck("dgesdd", info)
        u = try Matrix(rows: m, columns: r, storage: uStorage)
        v = try Matrix(rows: r, columns: n, storage: vtStorage).transposed
        singularValues = s
    }

    /// Singular values only (`dgesdd` with job 'N'): cheaper when vectors are not needed.
    public static func singularValues(of a: Matrix) throws -> [Double] {
        BLASThreads.ensureSerial()
        try a.requireFinite("singular values")
        let (m, n) = a.shape
        let r = min(m, n)
        guard r > 0 else { return [] }
        var work = a.storage
        var s = [Double](repeating: 0, count: r)
        // U and Vᵀ are not referenced with job 'N', but LAPACKE still checks their
        // leading dimensions in row-major layout.
        var unusedU = [Double](repeating: 0, count: 1)
        var unusedVt = [Double](repeating: 0, count: 1)
        let info = LAPACKE_dgesdd(rowMajor, flag("N"), lapacke_index(m), lapacke_index(n), &work,
                                  lapacke_index(n), &s, &unusedU, lapacke_index(max(m, 1)),
                                  &unusedVt, lapacke_index(max(n, 1)))
        try lapackCheck("dgesdd", info)
        return s
    }

    /// The singular values and V (n×r) without U: for a tall A (m ≥ 2n) from the SVD of
    /// the n×n triangle R of A = QR, whose singular values and right singular vectors are
    /// A's (Q is orthonormal), so the m×n U is never formed; else from the thin SVD.
    public static func rightSingularVectors(of a: Matrix) throws -> (singularValues: [Double], v: Matrix) {
        let svd = a.rows >= 2 * a.columns && a.columns > 0
            ? try SingularValueDecomposition(QRDecomposition.triangularFactor(of: a))
            : try SingularValueDecomposition(a)
        return (svd.singularValues, svd.v)
    }

    /// U Σ Vᵀ, for checking the decomposition.
    public var reconstructed: Matrix {
        u.scalingColumns(by: singularValues).multiplied(by: v, transposeOther: true)
    }
}

extension Matrix {
    /// Scaled by the power of two bringing the largest |entry| into [1, 2) (exact unless an
    /// entry leaves the normal range; unchanged when all zero or not finite): for measures
    /// invariant to scale, whose squares and fourth powers would overflow or underflow.
    public var scaledToUnitMaximum: Matrix {
        let top = maxAbs
        return top > 0 && top.isFinite ? scaled(byPowerOfTwo: -Int(top.exponent)) : self
    }

    /// The exponent of the largest |entry| when it lies beyond 2^±100, else 0 (also for an
    /// all-zero or non-finite matrix): what to scale out before a computation whose squares
    /// or products of squares could overflow or underflow. Within 2^±100 nothing can, and a
    /// scaled copy would cost more than the small computations it precedes.
    public var outOfRangeExponent: Int { Self.outOfRangeExponent(largest: maxAbs) }

    static func outOfRangeExponent(largest top: Double) -> Int {
        top > 0 && top.isFinite && abs(top.exponent) > 100 ? Int(top.exponent) : 0
    }

    /// Every entry times 2^power (exact unless an entry leaves the normal range); itself at 0.
    public func scaled(byPowerOfTwo power: Int) -> Matrix {
        var out = self
        out.storage.scale(byPowerOfTwo: power)
        return out
    }

    /// self·x as 2^power·y, finite wherever the product's entries are, even where a partial
    /// product leaves the Double range (self's and x's scales far apart). Where a column's
    /// largest entry lies beyond 2^±100, that column is scaled by 2^−cⱼ and xⱼ by 2^cⱼ (the
    /// terms unchanged), then x by 2^−power, power the largest exponent of the balanced x: every
    /// scaled entry is then at most about 1 and no term overflows; a term underflows only where
    /// it is below 2^−1022 of the largest. Within the range, the plain product and power 0.
    public func scaledApplication(to x: [Double]) -> (values: [Double], power: Int) {
        precondition(x.count == columns, "scaledApplication: \(x.count) entries for \(columns) columns")
        var columnLargest = [Double](repeating: 0, count: columns)
        for i in 0..<rows {
            for j in 0..<columns { columnLargest[j] = Swift.max(columnLargest[j], abs(storage[i * columns + j])) }
        }
        let c = columnLargest.map { Self.outOfRangeExponent(largest: $0) }
        let termExponents = zip(x, c).compactMap { $0.0 != 0 && $0.0.isFinite ? Int($0.0.exponent) + $0.1 : nil }
        let power = termExponents.max() ?? 0
        guard c.contains(where: { $0 != 0 }) || abs(power) > 100 else { return (applied(to: x), 0) }
        var balanced = self
        for i in 0..<rows {
            for j in 0..<columns where c[j] != 0 {
                balanced.storage[i * columns + j] = Double(sign: .plus, exponent: -c[j], significand: storage[i * columns + j])
            }
        }
        let y = zip(x, c).map { Double(sign: .plus, exponent: $0.1 - power, significand: $0.0) }
        return (balanced.applied(to: y), power)
    }

    /// Each column scaled by the matching factor (self · diag(factors)).
    public func scalingColumns(by factors: [Double]) -> Matrix {
        precondition(factors.count == columns)
        var out = self
        for i in 0..<rows {
            for j in 0..<columns { out.storage[i * columns + j] *= factors[j] }
        }
        return out
    }

    /// Singular values, largest first: by Householder QR and Jacobi
    /// (`SmallMatrixKernels.singularValuesOfThin`) when one side is at most 16, else
    /// by LAPACK.
    ///
    /// A matrix whose largest entry is beyond 2^±100 is first scaled by a power of two
    /// bringing it near 1 (`outOfRangeExponent`; exact, and undone on the singular values), so entries near the ends of the Double
    /// range (|a| ≳ 10⁷⁷, whose squared norms overflow in Jacobi, or subnormal ones, whose
    /// squares vanish) give the same relative accuracy as well-scaled ones.
    public func singularValues() throws -> [Double] {
        try requireFinite("singular values")
        guard maxAbs > 0 else { return [Double](repeating: 0, count: Swift.min(rows, columns)) }
        let exponent = outOfRangeExponent
        let scaled = scaled(byPowerOfTwo: -exponent)
        let values = Swift.min(rows, columns) <= 16 ? SmallMatrixKernels.singularValuesOfThin(scaled)
            : try SingularValueDecomposition.singularValues(of: scaled)
        return exponent == 0 ? values : values.map { Double(sign: .plus, exponent: exponent, significand: $0) }
    }

    /// The smallest singular value σ_min = σ_{min(m,n)} (0 for an empty matrix).
    public func smallestSingularValue() throws -> Double {
        try singularValues().last ?? 0
    }

    /// The default rank tolerance: max(m, n) · ε · σ₁, as in NumPy and MATLAB.
    public static func rankTolerance(rows: Int, columns: Int, largest: Double) -> Double {
        Double(Swift.max(rows, columns)) * Double.ulpOfOne * largest
    }

    /// Numerical rank: the number of singular values above `tolerance`
    /// (default `rankTolerance`).
    public func rank(tolerance: Double? = nil) throws -> Int {
        let s = try singularValues()
        guard let top = s.first else { return 0 }
        let tol = tolerance ?? Matrix.rankTolerance(rows: rows, columns: columns, largest: top)
        return s.filter { $0 > tol }.count
    }

    /// The 2-norm condition number σ₁/σ_min (∞ when σ_min = 0).
    public func conditionNumber() throws -> Double {
        let s = try singularValues()
        guard let top = s.first, let bottom = s.last else { return 1 }
        return bottom == 0 ? .infinity : top / bottom
    }

    /// The Moore–Penrose pseudo-inverse A⁺ (n×m), from the SVD: singular values at
    /// or below `tolerance` (default max(m, n)·ε·σ₁) are treated as zero. For a
    /// full-column-rank A this is (AᵀA)⁻¹Aᵀ, without forming AᵀA (which would
    /// square the condition number).
    public func pseudoInverse(tolerance: Double? = nil) throws -> Matrix {
        let svd = try SingularValueDecomposition(self)
        let top = svd.singularValues.first ?? 0
        let tol = tolerance ?? Matrix.rankTolerance(rows: rows, columns: columns, largest: top)
        let inverted = svd.singularValues.map { $0 > tol ? 1 / $0 : 0 }
        return svd.v.scalingColumns(by: inverted).multiplied(by: svd.u, transposeOther: true)
    }
}

extension Array where Element == Double {
    /// The Euclidean norm, from the entries divided by the largest of them: finite and not 0
    /// wherever the norm is, even where the sum of squares overflows or underflows.
    public var scaledNorm: Double {
        let largest = reduce(0) { Swift.max($0, abs($1)) }
        guard largest > 0, largest.isFinite else { return largest }
        return largest * reduce(0) { $0 + ($1 / largest) * ($1 / largest) }.squareRoot()
    }

    /// Every entry times 2^power, in place (exact unless an entry leaves the normal range);
    /// nothing at 0.
    public mutating func scale(byPowerOfTwo power: Int) {
        guard power != 0 else { return }
        for i in indices { self[i] = Double(sign: .plus, exponent: power, significand: self[i]) }
    }
}
