import Numerics
import Testing

@Suite("Bad input gets a typed error, never a crash")
struct BadInputTests {
    @Test func nonFiniteEntriesAreNamed() throws {
        var a = Matrix.identity(3)
        a[1, 2] = .nan
        #expect(throws: NumericsError.nonFinite(operation: "SVD", row: 1, column: 2)) {
            try SingularValueDecomposition(a)
        }
        a[1, 2] = .infinity
        #expect(throws: NumericsError.self) { try a.inverse() }
        #expect(throws: NumericsError.self) { try RationalMatrix(exactly: a) }
        #expect(throws: NumericsError.self) { try SymmetricEigendecomposition(a) }
        #expect(throws: NumericsError.self) { try SymmetricEigendecomposition.eigenvalues(of: a) }
        #expect(throws: NumericsError.self) { try SymmetricEigendecomposition.eigenvalues(of: Matrix(rows: 2, columns: 3)) }
    }

    @Test func singularSolveIsRefused() throws {
        let a = try Matrix([[1, 2], [2, 4]])
        #expect(throws: NumericsError.singular(operation: "LU")) { try a.inverse() }
        let nearly = try Matrix([[1, 2], [2, 4 + 1e-17]])
        #expect(throws: NumericsError.singular(operation: "LU")) { try nearly.solve(.identity(2)) }
        let exact = try RationalMatrix(exactly: a)
        #expect(throws: NumericsError.singular(operation: "exact solve")) { try exact.inverse() }
    }

    @Test func dimensionMismatchIsRefused() throws {
        let a = Matrix(rows: 2, columns: 3, repeating: 1)
        #expect(throws: NumericsError.self) { try a.checkedProduct(a) }
        #expect(throws: NumericsError.self) { try a.solve(.identity(2)) }
        #expect(throws: NumericsError.self) { try Matrix(rows: 2, columns: 2, storage: [1, 2, 3]) }
        #expect(throws: NumericsError.self) { try Matrix([[1, 2], [3]]) }
        let r = try RationalMatrix(exactly: a)
        #expect(throws: NumericsError.self) { try r.multiplied(by: r) }
        #expect(throws: NumericsError.self) { try CholeskyDecomposition(a) }
        #expect(throws: NumericsError.self) { try QRDecomposition(a) }
    }

    @Test func notPositiveDefiniteIsRefused() throws {
        #expect(throws: NumericsError.notPositiveDefinite(operation: "Cholesky")) {
            try CholeskyDecomposition(try Matrix([[1, 2], [2, 1]]))
        }
    }

    @Test func logOfNonPositiveIntervalIsRefused() {
        #expect(throws: NumericsError.self) { try Interval(lower: -2, upper: -1).log() }
        #expect(Interval(exactly: .nan) == nil)
        #expect(Rational(exactly: .infinity) == nil)
    }
}
