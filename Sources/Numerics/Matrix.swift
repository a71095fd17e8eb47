/// A dense real matrix, stored row-major in a contiguous `[Double]`.
///
/// `Matrix` is a value type; the heavy operations (products, decompositions) call
/// OpenBLAS and LAPACKE in row-major layout, so nothing above this module touches
/// a C pointer.
public struct Matrix: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    /// Entries in row-major order: entry (i, j) is `storage[i * columns + j]`.
    public var storage: [Double]

    /// A matrix from row-major entries. The count must equal `rows * columns`.
    public init(rows: Int, columns: Int, storage: [Double]) throws {
        guard rows >= 0, columns >= 0, storage.count == rows * columns else {
            throw NumericsError.invalidArgument(
                "Matrix: \(storage.count) entries cannot fill a \(rows)×\(columns) matrix")
        }
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// A matrix with every entry equal to `value`.
    public init(rows: Int, columns: Int, repeating value: Double = 0) {
        precondition(rows >= 0 && columns >= 0, "Matrix: negative dimension")
        self.rows = rows
        self.columns = columns
        self.storage = [Double](repeating: value, count: rows * columns)
    }

    /// A matrix from nested rows; every row must have the same length.
    public init(_ nested: [[Double]]) throws {
        let width = nested.first?.count ?? 0
        if let bad = nested.firstIndex(where: { $0.count != width }) {
            throw NumericsError.invalidArgument(
                "Matrix: row \(bad) has \(nested[bad].count) entries, expected \(width)")
        }
        try self.init(rows: nested.count, columns: width, storage: nested.flatMap { $0 })
    }

    /// A matrix whose entry (i, j) is `entry(i, j)`.
    public init(rows: Int, columns: Int, entry: (Int, Int) -> Double) {
        self.init(rows: rows, columns: columns)
        for i in 0..<rows {
            for j in 0..<columns { storage[i * columns + j] = entry(i, j) }
        }
    }

    /// The n×n identity.
    public static func identity(_ n: Int) -> Matrix {
        Matrix(rows: n, columns: n) { $0 == $1 ? 1 : 0 }
    }

    /// A diagonal matrix with the given diagonal.
    public static func diagonal(_ values: [Double]) -> Matrix {
        Matrix(rows: values.count, columns: values.count) { $0 == $1 ? values[$0] : 0 }
    }

    public subscript(row: Int, column: Int) -> Double {
        get { storage[row * columns + column] }
        set { storage[row * columns + column] = newValue }
    }

    public var shape: (Int, Int) { (rows, columns) }
    public var isSquare: Bool { rows == columns }

    /// Row i as an array.
    public func row(_ i: Int) -> [Double] {
        Array(storage[(i * columns)..<((i + 1) * columns)])
    }

    /// Column j as an array.
    public func column(_ j: Int) -> [Double] {
        (0..<rows).map { storage[$0 * columns + j] }
    }

    /// The rows listed, in that order.
    public func selectingRows(_ indices: [Int]) -> Matrix {
        var out = Matrix(rows: indices.count, columns: columns)
        for (r, i) in indices.enumerated() {
            out.storage.replaceSubrange((r * columns)..<((r + 1) * columns),
                                        with: storage[(i * columns)..<((i + 1) * columns)])
        }
        return out
    }

    /// The columns listed, in that order.
    public func selectingColumns(_ indices: [Int]) -> Matrix {
        Matrix(rows: rows, columns: indices.count) { i, j in self[i, indices[j]] }
    }

    public var transposed: Matrix {
        let (m, n) = (rows, columns)
        let t = [Double](unsafeUninitializedCapacity: m * n) { out, count in
            storage.withUnsafeBufferPointer { a in
                for i in 0..<m {
                    for j in 0..<n { out[j * m + i] = a[i * n + j] }
                }
            }
            count = m * n
        }
        return try! Matrix(rows: n, columns: m, storage: t)
    }

    /// Throws `nonFinite` naming the first NaN or infinite entry.
    public func requireFinite(_ operation: String) throws {
        if let index = firstNonFinite(storage) {
            throw NumericsError.nonFinite(operation: operation, row: index / max(columns, 1),
                                          column: index % max(columns, 1))
        }
    }

    /// Squared Frobenius norm Σ a_ij².
    public var frobeniusNormSquared: Double {
        storage.reduce(0) { $0 + $1 * $1 }
    }

    /// The Frobenius norm (Σ a_ij²)^{1/2}, formed after scaling by a power of two so that
    /// it is finite whenever the norm itself is (its square may overflow: entries ≳ 10¹⁵⁴).
    public var frobeniusNorm: Double {
        let largest = storage.reduce(0) { Swift.max($0, abs($1)) }
        guard largest > 0, largest.isFinite else { return largest }
        let e = -Int(largest.exponent)
        let sum = storage.reduce(0) { $0 + Double(sign: .plus, exponent: e, significand: $1) * Double(sign: .plus, exponent: e, significand: $1) }
        return Double(sign: .plus, exponent: -e, significand: sum.squareRoot())
    }

    /// Each column's largest magnitude.
    public var columnMaxima: [Double] {
        var largest = [Double](repeating: 0, count: columns)
        for i in 0..<rows { for j in 0..<columns { largest[j] = Swift.max(largest[j], abs(storage[i * columns + j])) } }
        return largest
    }

    /// Each column's Euclidean norm, finite and not 0 wherever it is (as `Array.scaledNorm`),
    /// in two passes over the rows in storage order.
    public var columnNorms: [Double] {
        let largest = columnMaxima
        var sums = [Double](repeating: 0, count: columns)
        for i in 0..<rows {
            for j in 0..<columns where largest[j] > 0 && largest[j].isFinite {
                let t = storage[i * columns + j] / largest[j]
                sums[j] += t * t
            }
        }
        return zip(largest, sums).map { top, sum in top > 0 && top.isFinite ? top * sum.squareRoot() : top }
    }

    /// Each row's largest |entry| (its ∞-norm): the level a row-wise backward error is measured by.
    public var rowLargest: [Double] {
        (0..<rows).map { i in storage[(i * columns)..<((i + 1) * columns)].reduce(0.0) { Swift.max($0, abs($1)) } }
    }

    /// The powers of two eⱼ bringing each column's norm into [1, 2) (0 for a column of norm 0
    /// or not finite): column equilibration that changes no bit of what it scales.
    public var columnEquilibration: [Int] { Self.equilibration(norms: columnNorms) }

    /// For a second-moment matrix M = XᵀX: the powers of two bringing each column of X near
    /// norm 1 (−⌊log₂ Mⱼⱼ / 2⌋; 0 where Mⱼⱼ is 0 or not finite), read from the diagonal. D·M·D
    /// is then the moment of X's columns equilibrated, exactly.
    public var momentEquilibration: [Int] {
        (0..<Swift.min(rows, columns)).map { j in
            let m = self[j, j]
            return m > 0 && m.isFinite ? -(Int(m.exponent) >> 1) : 0
        }
    }

    /// The largest difference between two of `exponents` (how far apart in scale the columns
    /// they equilibrate lie), 0 when empty.
    public static func spread(_ exponents: [Int]) -> Int { (exponents.max() ?? 0) - (exponents.min() ?? 0) }

    /// `columnEquilibration` from column norms already at hand.
    public static func equilibration(norms: [Double]) -> [Int] {
        norms.map { $0 > 0 && $0.isFinite ? -Int($0.exponent) : 0 }
    }

    /// Column j times 2^exponents[j], entry by entry, in place (exact unless an entry leaves the
    /// normal range; the factor itself is never formed, so 2¹⁰²⁷ on a column near 10⁻³⁰⁹ is no
    /// overflow).
    public mutating func scaleColumns(byPowersOfTwo exponents: [Int]) {
        precondition(exponents.count == columns, "scaleColumns: one exponent per column")
        let n = columns
        storage.withUnsafeMutableBufferPointer { o in
            for i in 0..<rows { for j in 0..<n where exponents[j] != 0 { o[i * n + j] = Double(sign: .plus, exponent: exponents[j], significand: o[i * n + j]) } }
        }
    }

    /// Entry (i, j) times 2^(rows[i] + columns[j]) (D_r·self·D_c for diagonal powers of two),
    /// entry by entry, as `scaleColumns(byPowersOfTwo:)`.
    public func scaled(rows r: [Int], columns c: [Int]) -> Matrix {
        precondition(r.count == rows && c.count == columns, "scaled: one exponent per row and per column")
        return Matrix(rows: rows, columns: columns) { i, j in Double(sign: .plus, exponent: r[i] + c[j], significand: self[i, j]) }
    }

    /// D·self·D for the diagonal powers of two 2^exponents (a square moment's column equilibration).
    public func scaledSymmetrically(_ exponents: [Int]) -> Matrix { scaled(rows: exponents, columns: exponents) }

    /// `scaleColumns(byPowersOfTwo:)` on a copy.
    public func scalingColumns(byPowersOfTwo exponents: [Int]) -> Matrix {
        var out = self
        out.scaleColumns(byPowersOfTwo: exponents)
        return out
    }

    /// Each row scaled by the matching entry of `factors` (that is, diag(factors)·self).
    public func scalingRows(by factors: [Double]) -> Matrix {
        precondition(factors.count == rows, "scalingRows: one factor per row")
        var out = self
        let n = columns
        out.storage.withUnsafeMutableBufferPointer { o in
            for i in 0..<rows {
                let f = factors[i]
                for j in 0..<n { o[i * n + j] *= f }
            }
        }
        return out
    }

    /// The mean of the rows, weighted by `weights` (which should sum to 1).
    /// Each column's sum runs over the rows in order, one product and one addition per entry
    /// (the bits that `FastIntervalMatrix.centredCrossProduct` assumes), columns side by side.
    public func weightedRowMean(_ weights: [Double]) -> [Double] {
        precondition(weights.count >= rows, "weightedRowMean: \(weights.count) weights for \(rows) rows")
        var mean = [Double](repeating: 0, count: columns)
        let n = columns
        storage.withUnsafeBufferPointer { s in
            mean.withUnsafeMutableBufferPointer { m in
                for i in 0..<rows {
                    let w = weights[i], row = s.baseAddress! + i * n
                    for j in 0..<n { m[j] += w * row[j] }
                }
            }
        }
        return mean
    }

    /// self − 1 vᵀ: the vector `v` subtracted from every row, fl(x − v_j) per entry, written
    /// once into fresh storage (a copy and then a second pass cost twice the memory traffic:
    /// 1 s for the two 309 MB unembeddings at language-model shape).
    public func subtractingFromRows(_ v: [Double]) -> Matrix {
        precondition(v.count == columns)
        let n = columns, count = storage.count
        let out = [Double](unsafeUninitializedCapacity: count) { o, initialized in
            storage.withUnsafeBufferPointer { s in
                v.withUnsafeBufferPointer { v in
                    for i in 0..<rows {
                        let base = i * n
                        for j in 0..<n { o[base + j] = s[base + j] - v[j] }
                    }
                }
            }
            initialized = count
        }
        return try! Matrix(rows: rows, columns: columns, storage: out)
    }

    /// C·self with C = I − 11ᵀ/rows: every column minus its (unweighted) mean.
    public var subtractingColumnMeans: Matrix {
        subtractingFromRows(weightedRowMean(Array(repeating: 1 / Double(rows), count: rows)))
    }

    /// The leading `count` columns.
    public func leadingColumns(_ count: Int) -> Matrix {
        selectingColumns(Array(0..<count))
    }
}

extension Matrix: CustomStringConvertible {
    public var description: String {
        (0..<rows).map { i in row(i).map { String($0) }.joined(separator: " ") }
            .joined(separator: "\n")
    }
}
