#if canImport(Glibc)
import Glibc
#endif

/// A dense matrix of exact rationals, row-major.
///
/// Built from a `Matrix` by converting every Double exactly, it lets a statement
/// be evaluated with no rounding at all: products, sums, solves and inverses are
/// exact. Cost is O(n³) rational operations for a solve, each of which grows with
/// the bit size of its operands, so keep certified work to small matrices or to
/// the d×d moment matrices.
public struct RationalMatrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public internal(set) var entries: [Rational]

    public init(rows: Int, columns: Int, entries: [Rational]) {
        precondition(entries.count == rows * columns, "RationalMatrix: entry count")
        self.rows = rows
        self.columns = columns
        self.entries = entries
    }

    public init(rows: Int, columns: Int, entry: (Int, Int) -> Rational) {
        var e: [Rational] = []
        e.reserveCapacity(rows * columns)
        for i in 0..<rows { for j in 0..<columns { e.append(entry(i, j)) } }
        self.init(rows: rows, columns: columns, entries: e)
    }

    /// The exact value of every entry of `m`; throws `nonFinite` at the first NaN or ∞.
    public init(exactly m: Matrix) throws {
        try m.requireFinite("exact conversion")
        self.init(rows: m.rows, columns: m.columns, entries: m.storage.map { Rational(exactly: $0)! })
    }

    public static func identity(_ n: Int) -> RationalMatrix {
        RationalMatrix(rows: n, columns: n) { $0 == $1 ? .one : .zero }
    }

    public static func diagonal(_ values: [Rational]) -> RationalMatrix {
        RationalMatrix(rows: values.count, columns: values.count) { $0 == $1 ? values[$0] : .zero }
    }

    public subscript(i: Int, j: Int) -> Rational {
        get { entries[i * columns + j] }
        set { entries[i * columns + j] = newValue }
    }

    public var shape: (Int, Int) { (rows, columns) }

    public var transposed: RationalMatrix {
        RationalMatrix(rows: columns, columns: rows) { self[$1, $0] }
    }

    /// A nearby Double matrix, for display and screening.
    public var doubleApproximation: Matrix {
        try! Matrix(rows: rows, columns: columns, storage: entries.map(\.doubleValue))
    }

    /// self·2^power, exactly.
    public func scaled(byPowerOfTwo power: Int) -> RationalMatrix {
        guard power != 0 else { return self }
        return RationalMatrix(rows: rows, columns: columns, entries: entries.map { $0.scaled(byPowerOfTwo: power) })
    }

    /// ⌊log₂⌋ of the largest entry's magnitude when it lies beyond 2^±100, else 0 (also for the
    /// zero matrix), as `Matrix.outOfRangeExponent`: what to scale out before Double work.
    public var outOfRangeExponent: Int {
        let top = entries.map(\.log10Magnitude).max() ?? -.infinity
        guard top.isFinite else { return 0 }
        let exponent = Int((top / log10(2.0)).rounded(.down))
        return abs(exponent) > 100 ? exponent : 0
    }

    public func selectingRows(_ indices: [Int]) -> RationalMatrix {
        RationalMatrix(rows: indices.count, columns: columns) { self[indices[$0], $1] }
    }

    public static func == (a: RationalMatrix, b: RationalMatrix) -> Bool {
        a.shape == b.shape && zip(a.entries, b.entries).allSatisfy { $0 == $1 }
    }
}

extension RationalMatrix {
    public static func + (a: RationalMatrix, b: RationalMatrix) -> RationalMatrix {
        precondition(a.shape == b.shape, "RationalMatrix +: shapes differ")
        return RationalMatrix(rows: a.rows, columns: a.columns, entries: zip(a.entries, b.entries).map { $0 + $1 })
    }

    public static func - (a: RationalMatrix, b: RationalMatrix) -> RationalMatrix {
        precondition(a.shape == b.shape, "RationalMatrix -: shapes differ")
        return RationalMatrix(rows: a.rows, columns: a.columns, entries: zip(a.entries, b.entries).map { $0 - $1 })
    }

    public static func * (s: Rational, a: RationalMatrix) -> RationalMatrix {
        RationalMatrix(rows: a.rows, columns: a.columns, entries: a.entries.map { s * $0 })
    }

    /// The exact product; throws `dimensionMismatch` when inner dimensions differ.
    /// Rows of self and columns of b are scaled to integers first, so each entry is
    /// one integer dot product and one division (`FractionFreeMatrix.product`).
    public func multiplied(by b: RationalMatrix) throws -> RationalMatrix {
        guard columns == b.rows else {
            throw NumericsError.dimensionMismatch(operation: "exact product", left: shape, right: b.shape)
        }
        return FractionFreeMatrix.product(self, b)
    }

    /// selfᵀ · diag(weights) · self, exactly (weights default to 1): a fraction-free
    /// product (one integer dot product and one division per entry, where a sum of
    /// rationals takes a gcd per term). Exact, hence exactly symmetric.
    public func weightedGram(_ weights: [Rational]? = nil) -> RationalMatrix {
        guard rows > 0, columns > 0 else { return RationalMatrix(rows: columns, columns: columns, entries: Array(repeating: .zero, count: columns * columns)) }
        let right = weights.map { w in RationalMatrix(rows: rows, columns: columns) { w[$0] * self[$0, $1] } } ?? self
        return FractionFreeMatrix.product(transposed, right)
    }

    /// Σ w_i Σ_j a_ij² (w default 1): an exact weighted squared Frobenius norm (unweighted:
    /// tr(A Aᵀ), one integer sum, `traceOfProduct`).
    public func weightedFrobeniusSquared(_ weights: [Rational]? = nil) -> Rational {
        guard let weights else { return Self.traceOfProduct(self, transposed) }
        return Rational.sum((0..<rows).map { i in
            let rowSum = Rational.sum((0..<columns).map { self[i, $0].squared })
            return weights[i] * rowSum
        })
    }

    /// The trace of a square matrix.
    public var trace: Rational {
        Rational.sum((0..<Swift.min(rows, columns)).map { self[$0, $0] })
    }

    /// self − s·I for a square matrix.
    public func shiftingDiagonal(by s: Rational) -> RationalMatrix {
        var out = self
        for i in 0..<Swift.min(rows, columns) { out[i, i] = self[i, i] - s }
        return out
    }
}
