import Numerics
import Testing

@Suite("Decompositions reconstruct their input")
struct DecompositionTests {
    static let conditions: [Double] = [1, 1e3, 1e8, 1e12]

    @Test("SVD: A = UΣVᵀ, orthonormal factors, spectrum recovered", arguments: conditions)
    func svd(condition: Double) throws {
        var g = SeededGenerator(seed: 11)
        for (m, n) in [(7, 4), (4, 7), (30, 30), (200, 16)] {
            let s = spectrum(min(m, n), condition: condition)
            let a = matrix(rows: m, columns: n, singularValues: s, using: &g)
            let svd = try SingularValueDecomposition(a)
            #expect(relativeError(svd.reconstructed, a) < 1e-13)
            #expect(relativeError(svd.u.gram(), .identity(min(m, n))) < 1e-13)
            #expect(relativeError(svd.v.gram(), .identity(min(m, n))) < 1e-13)
            for (computed, exact) in zip(svd.singularValues, s) {
                #expect(abs(computed - exact) <= 1e-13 * s[0])
            }
        }
    }

    @Test("QR: A = QR, QᵀQ = I, R upper triangular", arguments: conditions)
    func qr(condition: Double) throws {
        var g = SeededGenerator(seed: 12)
        let a = matrix(rows: 50, columns: 9, singularValues: spectrum(9, condition: condition), using: &g)
        let qr = try QRDecomposition(a)
        #expect(relativeError(qr.q * qr.r, a) < 1e-13)
        #expect(relativeError(qr.q.gram(), .identity(9)) < 1e-13)
        for i in 0..<9 { for j in 0..<i { #expect(qr.r[i, j] == 0) } }
    }

    @Test("Cholesky: A = LLᵀ and solve", arguments: [1.0, 1e3, 1e7])
    func cholesky(condition: Double) throws {
        var g = SeededGenerator(seed: 13)
        let b = matrix(rows: 12, columns: 12, singularValues: spectrum(12, condition: condition.squareRoot()), using: &g)
        let a = b.gram()
        let chol = try CholeskyDecomposition(a)
        #expect(relativeError(chol.l.multiplied(by: chol.l, transposeOther: true), a) < 1e-13)
        let x = g.gaussianMatrix(rows: 12, columns: 3)
        #expect(relativeError(try chol.solve(a * x), x) < 1e-15 * condition * 100)
    }

    @Test("Cholesky factor's inverse: lower triangular, L·L⁻¹ = I, as LU inverts L", arguments: [1.0, 1e3, 1e7])
    func choleskyFactorInverse(condition: Double) throws {
        var g = SeededGenerator(seed: 14)
        var checked = 0
        for n in [1, 2, 5, 64, 300] {
            let b = matrix(rows: n, columns: n, singularValues: spectrum(n, condition: condition.squareRoot()), using: &g)
            let l = try CholeskyDecomposition(b.gram()).l
            let inverse = try CholeskyDecomposition(b.gram()).inverseFactor()
            for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { #expect(inverse[i, j] == 0, "n = \(n): entry (\(i), \(j)) above the diagonal") } }
            // κ(L) = √condition: both errors are of order κ(L)·n·u.
            let tolerance = 1e-14 * condition.squareRoot() * Double(n)
            #expect(relativeError(l * inverse, .identity(n)) < tolerance, "n = \(n)")
            #expect(relativeError(inverse, try LUDecomposition(l).inverse()) < tolerance, "n = \(n)")
            checked += 1
        }
        #expect(checked == 5)
    }

    @Test("Symmetric eigen: A = Q diag(λ) Qᵀ, decreasing", arguments: conditions)
    func eigen(condition: Double) throws {
        var g = SeededGenerator(seed: 14)
        let b = matrix(rows: 20, columns: 20, singularValues: spectrum(20, condition: condition), using: &g)
        let a = b + b.transposed
        let e = try SymmetricEigendecomposition(a)
        #expect(relativeError(e.reconstructed, a) < 1e-13)
        #expect(relativeError(e.eigenvectors.gram(), .identity(20)) < 1e-13)
        #expect(zip(e.eigenvalues, e.eigenvalues.dropFirst()).allSatisfy { $0 >= $1 })
        // The eigenvalues alone (no vectors): the same spectrum within ε‖A‖, decreasing.
        let values = try SymmetricEigendecomposition.eigenvalues(of: a)
        let norm = e.eigenvalues.map(abs).max()!
        #expect(values.count == 20)
        #expect(zip(values, e.eigenvalues).allSatisfy { abs($0 - $1) <= 1e-13 * norm })
        #expect(zip(values, values.dropFirst()).allSatisfy { $0 >= $1 })
    }

    @Test("LU solve and inverse")
    func lu() throws {
        var g = SeededGenerator(seed: 15)
        let a = matrix(rows: 10, columns: 10, singularValues: spectrum(10, condition: 1e4), using: &g)
        let x = g.gaussianMatrix(rows: 10, columns: 2)
        #expect(relativeError(try a.solve(a * x), x) < 1e-10)
        #expect(relativeError(try a.inverse() * a, .identity(10)) < 1e-10)
    }

    @Test("Pseudo-inverse satisfies the four Penrose conditions", arguments: [(9, 4), (4, 9), (12, 12)])
    func penrose(shape: (Int, Int)) throws {
        var g = SeededGenerator(seed: 16)
        // Rank-deficient on purpose: rank 3 whatever the shape.
        let a = matrix(rows: shape.0, columns: shape.1, singularValues: [3, 1, 0.01], using: &g)
        let p = try a.pseudoInverse()
        #expect(relativeError(a * p * a, a) < 1e-12)
        #expect(relativeError(p * a * p, p) < 1e-12)
        let ap = a * p, pa = p * a
        #expect(relativeError(ap.transposed, ap) < 1e-12)
        #expect(relativeError(pa.transposed, pa) < 1e-12)
        // σ₃ = 0.01 against rounding noise near 1e−15 in the null directions: a
        // tolerance far from both, not the default max(m, n)·ε·σ₁ a few times the noise.
        #expect(try a.rank(tolerance: 1e-8) == 3)
    }

    @Test("Rank and condition number")
    func rankAndCondition() throws {
        var g = SeededGenerator(seed: 17)
        let a = matrix(rows: 20, columns: 5, singularValues: [1, 1e-2, 1e-4, 1e-6, 1e-8], using: &g)
        #expect(try a.rank() == 5)
        #expect(abs(try a.conditionNumber() / 1e8 - 1) < 1e-6)
        #expect(try a.rank(tolerance: 1e-5) == 3)
    }

    /// F·x as 2^power·y: a product whose terms overflow though the caller's result (after
    /// 2^power is applied with other powers) fits; columns at scales far apart, where scaling the
    /// whole matrix by its largest entry sent the small column's terms to 0; within the range
    /// the plain product with power 0.
    @Test("scaledApplication: F·x as 2^power·y where terms overflow or columns lie 2^1100 apart")
    func scaledApplication() throws {
        func value(_ r: (values: [Double], power: Int)) -> [Double] {
            r.values.map { Double(sign: .plus, exponent: r.power, significand: $0) }
        }
        // Terms 2^1200 and 2^1199: y·2^power with y finite.
        let big = try Matrix(rows: 2, columns: 2, storage: [0x1p600, 0x1p599, -0x1p600, 0])
        let r = big.scaledApplication(to: [0x1p600, 0x1p600])
        #expect(r.values.allSatisfy(\.isFinite) && r.power >= 1100)
        #expect(r.values == [Double(sign: .plus, exponent: 1200 - r.power, significand: 1.5), Double(sign: .minus, exponent: 1200 - r.power, significand: 1)])
        // Columns 2^200 and 2^−900 against x = (2^−900, 2^200): both terms 2^−700.
        let mixed = try Matrix(rows: 1, columns: 2, storage: [0x1p200, 0x1p-900])
        #expect(value(mixed.scaledApplication(to: [0x1p-900, 0x1p200])) == [0x1p-699])
        // Within the range: the plain product, power 0.
        let plain = try Matrix(rows: 2, columns: 2, storage: [1, 2, 3, 4])
        let p = plain.scaledApplication(to: [0.5, -1])
        #expect(p.power == 0 && p.values == plain.applied(to: [0.5, -1]))
    }

    @Test("Log-sum-exp is stable where exp overflows or underflows")
    func logSumExpStable() {
        // Within two ulps of 1000 ± … + log 2 (the C library's log may round either way).
        #expect(abs(logSumExp([1000, 1000]) - (1000 + 0.6931471805599453)) <= 2 * (1000.0).ulp)
        #expect(abs(logSumExp([-1000, -1000]) - (-1000 + 0.6931471805599453)) <= 2 * (1000.0).ulp)
        let ls = logSoftmax([0, -800])
        #expect(ls[1] == -800 && ls[1].isFinite)
        #expect(logSumExp([Double]()) == -.infinity)
        #expect(logSumExp([1, .nan]).isNaN || logSumExp([.nan, 1]).isNaN)
    }
}

@Suite("Small-matrix kernels")
struct SmallMatrixKernelTests {
    @Test("Jacobi singular values match LAPACK; the small solve matches LU", arguments: [1.0, 1e4, 1e10])
    func matchLAPACK(condition: Double) throws {
        var g = SeededGenerator(seed: 18)
        for n in 1...8 {
            let a = matrix(rows: n, columns: n, singularValues: spectrum(n, condition: condition), using: &g)
            let jacobi = SmallMatrixKernels.singularValues(a), lapack = try a.singularValues()
            for (x, y) in zip(jacobi, lapack) { #expect(abs(x - y) <= 1e-12 * lapack[0], "n = \(n)") }
            let b = g.gaussianMatrix(rows: n, columns: 3)
            #expect(relativeError(SmallMatrixKernels.solve(a, b), try a.solve(b)) < 1e-14 * condition * 10)
        }
    }
}
