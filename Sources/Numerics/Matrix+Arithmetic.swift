/// Entrywise arithmetic. Shapes must match exactly (a programming error otherwise).
extension Matrix {
    public static func + (a: Matrix, b: Matrix) -> Matrix {
        precondition(a.shape == b.shape, "Matrix +: shapes differ")
        var out = a
        for t in out.storage.indices { out.storage[t] += b.storage[t] }
        return out
    }

    public static func - (a: Matrix, b: Matrix) -> Matrix {
        precondition(a.shape == b.shape, "Matrix -: shapes differ")
        var out = a
        for t in out.storage.indices { out.storage[t] -= b.storage[t] }
        return out
    }

    public static func * (s: Double, a: Matrix) -> Matrix {
        var out = a
        for t in out.storage.indices { out.storage[t] *= s }
        return out
    }

    /// The matrix product (OpenBLAS dgemm).
    public static func * (a: Matrix, b: Matrix) -> Matrix {
        a.multiplied(by: b)
    }

    /// Largest absolute entrywise difference.
    public func maxAbsDifference(_ other: Matrix) -> Double {
        precondition(shape == other.shape)
        var worst = 0.0
        for t in storage.indices { worst = Swift.max(worst, abs(storage[t] - other.storage[t])) }
        return worst
    }

    /// |A| entry by entry.
    public var absoluteValues: Matrix { try! Matrix(rows: rows, columns: columns, storage: storage.map(abs)) }

    public var maxAbs: Double { storage.reduce(0) { Swift.max($0, abs($1)) } }
}
