/// Exact Gaussian elimination: solve, inverse, and the inertia of a symmetric
/// matrix (hence positive (semi)definiteness and certified eigenvalue bounds).
extension RationalMatrix {
    /// X with self · X = B, by fraction-free (Bareiss) elimination on the rows
    /// scaled to integers, with one division per entry at the end
    /// (`FractionFreeMatrix.solve`). Throws `singular` when self is exactly singular.
    public func solve(_ b: RationalMatrix) throws -> RationalMatrix {
        guard rows == columns else {
            throw NumericsError.dimensionMismatch(operation: "exact solve", left: shape, right: shape)
        }
        guard b.rows == rows else {
            throw NumericsError.dimensionMismatch(operation: "exact solve", left: shape, right: b.shape)
        }
        if rows == 0 { return b }
        guard let x = FractionFreeMatrix(self, augmentedWith: b).solve() else {
            throw NumericsError.singular(operation: "exact solve")
        }
        return x
    }

    /// The exact inverse; throws `singular` for a singular matrix.
    public func inverse() throws -> RationalMatrix {
        try solve(.identity(rows))
    }

    /// The inertia of a symmetric matrix: how many eigenvalues are positive,
    /// negative and zero, computed exactly.
    ///
    /// Symmetric elimination S = P L D Lᵀ Pᵀ with 1×1 pivots taken on a nonzero
    /// diagonal entry, and a 2×2 pivot [[0, b], [b, 0]] (one positive, one negative
    /// eigenvalue) when the remaining diagonal is all zero; by Sylvester's law of
    /// inertia the signs of D's blocks are the signs of S's eigenvalues. Only the
    /// symmetric part is read; the caller must pass a symmetric matrix.
    public func symmetricInertia() throws -> (positive: Int, negative: Int, zero: Int) {
        guard rows == columns else {
            throw NumericsError.dimensionMismatch(operation: "inertia", left: shape, right: shape)
        }
        // Fast path: when no leading principal minor vanishes, the negative
        // eigenvalues are the sign changes along 1, D₁, …, D_n (Jacobi's rule; the
        // minors come from fraction-free elimination on integers).
        let minors = FractionFreeMatrix(self).leadingMinorSigns()
        if minors.count == rows, !minors.contains(0) {
            let changes = zip([1] + minors, minors).filter { $0.0 != $0.1 }.count
            return (rows - changes, changes, 0)
        }
        return symmetricInertiaByElimination()
    }

    /// The inertia by symmetric elimination with 1×1 and 2×2 pivots (any symmetric
    /// matrix, including ones with vanishing leading minors).
    func symmetricInertiaByElimination() -> (positive: Int, negative: Int, zero: Int) {
        var a = self
        let n = rows
        var positive = 0, negative = 0
        var r = 0
        while r < n {
            if let j = (r..<n).first(where: { !a[$0, $0].isZero }) {
                a.swapSymmetric(r, j)
                let pivot = a[r, r]
                if pivot.sign > 0 { positive += 1 } else { negative += 1 }
                for i in (r + 1)..<n where !a[i, r].isZero {
                    let factor = a[i, r] / pivot
                    for k in i..<n { a[i, k] = a[i, k] - factor * a[r, k]; a[k, i] = a[i, k] }
                }
                r += 1
                continue
            }
            guard let (p, q) = a.firstNonzeroOffDiagonal(from: r) else { break }
            a.swapSymmetric(r, p)
            a.swapSymmetric(r + 1, q)
            let b = a[r, r + 1]
            positive += 1
            negative += 1
            // Schur complement of E = [[0, b], [b, 0]]: A22 − C E⁻¹ Cᵀ, E⁻¹ = [[0, 1/b], [1/b, 0]].
            for i in (r + 2)..<n {
                for k in i..<n {
                    let update = (a[i, r] * a[k, r + 1] + a[i, r + 1] * a[k, r]) / b
                    a[i, k] = a[i, k] - update
                    a[k, i] = a[i, k]
                }
            }
            r += 2
        }
        return (positive, negative, n - positive - negative)
    }

    /// Exactly: is this symmetric matrix positive semi-definite (no negative eigenvalue)?
    public func isPositiveSemidefinite() throws -> Bool {
        try symmetricInertia().negative == 0
    }

    /// Exactly: is this symmetric matrix positive definite (every eigenvalue > 0)?
    public func isPositiveDefinite() throws -> Bool {
        guard rows == columns else {
            throw NumericsError.dimensionMismatch(operation: "inertia", left: shape, right: shape)
        }
        // Sylvester's criterion: every leading principal minor is positive.
        let minors = FractionFreeMatrix(self).leadingMinorSigns()
        return minors.count == rows && minors.allSatisfy { $0 > 0 }
    }

    /// Exactly: how many eigenvalues of this symmetric matrix exceed t
    /// (the positive inertia of self − tI).
    public func eigenvalueCount(above t: Rational) throws -> Int {
        try shiftingDiagonal(by: t).symmetricInertia().positive
    }

    private mutating func swapSymmetric(_ i: Int, _ j: Int) {
        guard i != j else { return }
        for k in 0..<columns { let t = self[i, k]; self[i, k] = self[j, k]; self[j, k] = t }
        for k in 0..<rows { let t = self[k, i]; self[k, i] = self[k, j]; self[k, j] = t }
    }

    private func firstNonzeroOffDiagonal(from r: Int) -> (Int, Int)? {
        for p in r..<rows {
            for q in (p + 1)..<columns where !self[p, q].isZero { return (p, q) }
        }
        return nil
    }
}
