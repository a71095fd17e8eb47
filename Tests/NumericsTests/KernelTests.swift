@testable import Numerics
import Testing

/// The integer (fraction-free) kernels behind exact certification, each against the
/// plain rational definition it replaces, and the small-matrix kernels of the double
/// screens against LAPACK.
@Suite("Integer kernels of certification and small-matrix kernels of the screens")
struct KernelTests {
    /// A random rational with a small odd or dyadic denominator, sometimes 0.
    static func rational(_ g: inout SeededGenerator) -> Rational {
        let numerator = Int(g.uniform() * 41) - 20
        let denominators = [1, 2, 3, 7, 8, 1 << 40, 3 * (1 << 20)]
        return Rational(numerator, denominators[Int(g.uniform() * Double(denominators.count)) % denominators.count])
    }

    static func randomMatrix(_ rows: Int, _ columns: Int, _ g: inout SeededGenerator) -> RationalMatrix {
        RationalMatrix(rows: rows, columns: columns) { _, _ in rational(&g) }
    }

    /// S = BᵀDB with D = diag(±1, 0): symmetric with a prescribed inertia, often
    /// with vanishing leading minors when some signs are 0.
    static func symmetric(_ n: Int, signs: [Int], _ g: inout SeededGenerator) throws -> RationalMatrix {
        let b = randomMatrix(n, n, &g)
        let d = RationalMatrix(rows: n, columns: n) { i, j in i == j ? Rational(signs[i]) : .zero }
        return try b.transposed.multiplied(by: d).multiplied(by: b)
    }

    @Test("Products equal the sum of rational products entry by entry")
    func product() throws {
        var g = SeededGenerator(seed: 41)
        for (m, k, n) in [(1, 1, 1), (3, 4, 2), (6, 6, 6), (2, 7, 5), (4, 0, 3)] {
            let a = Self.randomMatrix(m, k, &g), b = Self.randomMatrix(k, n, &g)
            let slow = RationalMatrix(rows: m, columns: n) { i, j in Rational.sum((0..<k).map { a[i, $0] * b[$0, j] }) }
            #expect(try a.multiplied(by: b) == slow)
        }
    }

    @Test("Solve: A·X = B exactly, singular systems throw")
    func solve() throws {
        var g = SeededGenerator(seed: 42)
        var solved = 0
        for n in 1...7 {
            let a = Self.randomMatrix(n, n, &g), b = Self.randomMatrix(n, 3, &g)
            guard let x = try? a.solve(b) else { continue }
            #expect(try a.multiplied(by: x) == b)
            solved += 1
        }
        #expect(solved >= 5, "only \(solved) of 7 random systems were solvable")
        // Zero first pivot needs a row swap.
        let swapped = RationalMatrix(rows: 2, columns: 2, entries: [.zero, .one, Rational(2), Rational(3)])
        #expect(try swapped.multiplied(by: swapped.solve(.identity(2))) == .identity(2))
        let singular = RationalMatrix(rows: 3, columns: 3) { i, j in Rational(i + 1) * Rational(j + 1) }
        #expect(throws: NumericsError.self) { try singular.solve(.identity(3)) }
    }

    @Test("Inertia by leading minors equals inertia by symmetric elimination")
    func inertia() throws {
        var g = SeededGenerator(seed: 43)
        for trial in 0..<60 {
            let n = 1 + trial % 6
            let signs = (0..<n).map { _ in Int(g.uniform() * 3) - 1 }
            let s = try Self.symmetric(n, signs: signs, &g)
            let fast = try s.symmetricInertia(), reference = s.symmetricInertiaByElimination()
            #expect(fast == reference, "trial \(trial): \(fast) vs \(reference)")
            #expect(try s.isPositiveDefinite() == (reference.positive == n))
        }
        // Indefinite with a zero leading minor: [[0, 1], [1, 0]] has inertia (1, 1, 0).
        let swap = RationalMatrix(rows: 2, columns: 2, entries: [.zero, .one, .one, .zero])
        #expect(try swap.symmetricInertia() == (1, 1, 0))
        #expect(try !swap.isPositiveDefinite())
    }

    @Test("Pencil inertia by interval pivots equals exact inertia, including at eigenvalues (exact fallback)")
    func pencil() throws {
        var g = SeededGenerator(seed: 46)
        var compared = 0
        for trial in 0..<30 {
            let n = 1 + trial % 6
            let a = try Self.symmetric(n, signs: (0..<n).map { _ in Int(g.uniform() * 3) - 1 }, &g)
            let b = try Self.symmetric(n, signs: Array(repeating: 1, count: n), &g)
            guard try b.isPositiveDefinite() else { continue }
            let pencil = SymmetricPencil(a, b)
            // Points spread over the spectrum, plus s = 0 and the generalised
            // eigenvalues of a diagonal pencil, where a pivot is exactly 0.
            for s in [Rational.zero, Self.rational(&g), Self.rational(&g) * Rational(1, 1 << 30), Rational(-3, 7)] {
                #expect(try pencil.positiveCount(at: s) == (a - s * b).symmetricInertia().positive, "trial \(trial)")
                compared += 1
            }
        }
        #expect(compared >= 60, "only \(compared) pencil counts compared")
        // Each interval pivot holds the exact pivot of LDLᵀ in the order the interval elimination
        // chose (rational elimination of P(A − sB)Pᵀ): indefinite A, s of either sign and s = 1/3,
        // not a point at 128 bits. The order is a permutation, and the pivots' signs give the count.
        var pivotsChecked = 0, reordered = 0
        for trial in 0..<40 {
            let n = 2 + trial % 5
            let a = try Self.symmetric(n, signs: (0..<n).map { _ in Int(g.uniform() * 3) - 1 }, &g)
            let b = try Self.symmetric(n, signs: Array(repeating: 1, count: n), &g)
            let pencil = SymmetricPencil(a, b)
            for s in [Self.rational(&g), -Self.rational(&g), Rational(1, 3), Rational(-5, 3)] {
                guard let (order, pivots) = pencil.intervalPivots(at: s) else { continue }
                #expect(order.sorted() == Array(0..<n))
                if order != Array(0..<n) { reordered += 1 }
                #expect(pivots.filter { $0.lo.sign > 0 }.count == (try (a - s * b).symmetricInertia().positive))
                let unpermuted = a - s * b
                var m = RationalMatrix(rows: n, columns: n) { i, j in unpermuted[order[i], order[j]] }
                var exact: [Rational] = []
                for k in 0..<n {
                    exact.append(m[k, k])
                    guard !m[k, k].isZero else { break }
                    for i in (k + 1)..<n {
                        let factor = m[i, k] / m[k, k]
                        for j in k..<n { m[i, j] = m[i, j] - factor * m[k, j] }
                    }
                }
                guard exact.count == n else { continue }
                for (p, x) in zip(pivots, exact) {
                    #expect(p.lo <= x && x <= p.hi, "trial \(trial): pivot \(x.doubleValue) outside [\(p.lo.doubleValue), \(p.hi.doubleValue)]")
                    pivotsChecked += 1
                }
            }
        }
        #expect(pivotsChecked >= 400 && reordered >= 20, "only \(pivotsChecked) interval pivots checked, \(reordered) reordered")
        // The interval product and quotient in every sign case (each end negative, zero or
        // positive): exactly the extremes of the endpoint products and quotients, rounded outward.
        let ends: [(Double, Double)] = [(-3, -0.5), (-2, 0), (-1.5, 2.5), (0, 0), (0, 3), (0.25, 7), (1.0 / 3, 1.0 / 3)]
        var operations = 0
        let unit = SymmetricPencil(.identity(1), .identity(1))
        for x in ends {
            for y in ends {
                let xs = [x.0, x.1].map { Rational(exactly: $0)! }, ys = [y.0, y.1].map { Rational(exactly: $0)! }
                let products = xs.flatMap { a in ys.map { a * $0 } }
                let product = unit.intervalOperation(x, y, divide: false)
                #expect(product.lo == products.min()! && product.hi == products.max()!, "\(x)·\(y)")
                operations += 1
                guard y.0 > 0 || y.1 < 0 else { continue }
                let quotients = xs.flatMap { a in ys.map { a / $0 } }
                let quotient = unit.intervalOperation(x, y, divide: true)
                #expect(quotient.lo <= quotients.min()! && quotients.max()! <= quotient.hi, "\(x)/\(y)")
                #expect((quotient.hi - quotient.lo) <= (quotients.max()! - quotients.min()!) + Rational(exactly: 0x1p-100)!, "\(x)/\(y) too wide")
                operations += 1
            }
        }
        #expect(operations == 49 + 21)
        // At 20 bits the ends' products are rounded: each must be rounded outward (down at lo,
        // up at hi) and by at most a few units in the 20th bit.
        let coarse = SymmetricPencil(.identity(1), .identity(1), bits: 20)
        var rounded = 0
        for x in ends {
            for y in ends {
                let xs = [x.0, x.1].map { Rational(exactly: $0)! }, ys = [y.0, y.1].map { Rational(exactly: $0)! }
                let products = xs.flatMap { a in ys.map { a * $0 } }
                let (lo, hi) = (products.min()!, products.max()!)
                let product = coarse.intervalOperation(x, y, divide: false)
                let slack = Rational(exactly: 0x1p-16)! * (Rational.max(lo.magnitude, hi.magnitude) + Rational(exactly: 0x1p-60)!)
                #expect(product.lo <= lo && hi <= product.hi && product.hi - product.lo <= hi - lo + slack, "\(x)·\(y) at 20 bits")
                if product.lo != lo || product.hi != hi { rounded += 1 }
            }
        }
        #expect(rounded >= 10, "only \(rounded) products needed rounding at 20 bits")
        let diagonal = RationalMatrix(rows: 3, columns: 3) { i, j in i == j ? Rational(i + 1) : .zero }
        let pencil = SymmetricPencil(diagonal, .identity(3))
        #expect(pencil.intervalPositiveCount(at: Rational(2)) == nil)     // pivot 2 − 2 = 0
        #expect(try pencil.positiveCount(at: Rational(2)) == 1)
        #expect(pencil.intervalPositiveCount(at: Rational(3, 2)) == 2)
        // A pivot of 2⁻²⁰⁰ (A = [[1, 1], [1, 1 + 2⁻²⁰⁰]]): 128 bits cannot tell its sign, 512 can,
        // and the count goes to the finer pencil before exact elimination.
        let tiny = RationalMatrix(rows: 2, columns: 2) { i, j in i == 1 && j == 1 ? .one + Rational.one.scaled(byPowerOfTwo: -200) : .one }
        #expect(SymmetricPencil(tiny, .identity(2)).intervalPositiveCount(at: .zero) == nil)
        #expect(SymmetricPencil(tiny, .identity(2), bits: 512).intervalPositiveCount(at: .zero) == 2)
        let chained = SymmetricPencil(tiny, .identity(2))
        #expect(try chained.positiveCount(at: .zero) == 2 && chained.exactEliminationCount == 0, "\(chained.exactEliminationCount) exact")
        // Forty points about its eigenvalue near 2⁻²⁰¹, none of which 128 bits can decide: after four
        // such in a row, counts skip to 512 bits, trying 128 again every 16th count; each count exact.
        let bisecting = SymmetricPencil(tiny, .identity(2))
        var counted = 0
        for j in 1...40 {
            let s = Rational(j).scaled(byPowerOfTwo: -205)
            #expect(try bisecting.positiveCount(at: s) == (tiny - s * RationalMatrix.identity(2)).symmetricInertia().positive, "s = \(j)·2⁻²⁰⁵")
            counted += 1
        }
        #expect(counted == 40 && bisecting.intervalAttempts == 6 && bisecting.exactEliminationCount == 0, "\(bisecting.intervalAttempts) tries at 128 bits")
        // The finest precision is never skipped (beyond it lies exact elimination): five counts at a
        // singular point each try it before their exact count.
        let finest = SymmetricPencil(RationalMatrix(rows: 2, columns: 2) { _, _ in .one }, .identity(2), bits: SymmetricPencil.finestBits)
        for _ in 0..<5 { #expect(try finest.positiveCount(at: .zero) == 1) }
        #expect(finest.intervalAttempts == 5 && finest.exactEliminationCount == 5)
        // Singular at 0 (A = [[1, 1], [1, 1]]): every precision fails, and the chain ends in one exact count.
        let singular = SymmetricPencil(RationalMatrix(rows: 2, columns: 2) { _, _ in .one }, .identity(2))
        #expect(try singular.positiveCount(at: .zero) == 1 && singular.exactEliminationCount == 1, "\(singular.exactEliminationCount) exact")
    }

    @Test("Weighted cross moments on integers equal the rational definition")
    func weightedCrossProduct() throws {
        var g = SeededGenerator(seed: 44)
        let x = g.gaussianMatrix(rows: 30, columns: 3, scale: 1), y = g.gaussianMatrix(rows: 30, columns: 2, scale: 1e-3)
        // An entry far below the others forces the GMP path of the dyadic dots.
        var tiny = x
        tiny[0, 0] = 1e-200
        for weights in [Array(repeating: 1 / 30.0, count: 30), (0..<30).map { _ in (2 * g.gaussian()).exp }] {
            for left in [x, tiny] {
                let w = weights.map { Rational(exactly: $0)! }, total = Rational.sum(w)
                let slow = RationalMatrix(rows: 3, columns: 2) { j, l in
                    Rational.sum((0..<30).map { w[$0] * Rational(exactly: left[$0, j])! * Rational(exactly: y[$0, l])! }) / total
                }
                #expect(try RationalMatrix.exactWeightedCrossProduct(left, y, weights: weights) == slow)
            }
        }
        #expect(throws: NumericsError.self) {
            try RationalMatrix.exactWeightedCrossProduct(x, y, weights: Array(repeating: 0, count: 30))
        }
    }

    @Test("Jacobi on SIMD8 columns (T5's pivot matrices) agrees with LAPACK's singular values to ε·σ₁")
    func simdJacobi() throws {
        var g = SeededGenerator(seed: 48)
        for (n, condition) in [(1, 1.0), (2, 10.0), (5, 1e6), (8, 1e3), (8, 1e10), (7, 1)] {
            let a = matrix(rows: n, columns: n, singularValues: spectrum(n, condition: condition), using: &g)
            var columns = (0..<n).map { j in
                var v = SIMD8<Double>()
                for i in 0..<n { v[i] = a[i, j] }
                return v
            }
            var norms = [Double](repeating: 0, count: n)
            SmallMatrixKernels.jacobiColumnNorms(&columns, rows: n, norms: &norms)
            let fast = norms.map { $0.squareRoot() }.sorted(by: >)
            let lapack = try SingularValueDecomposition.singularValues(of: a)
            for (s, t) in zip(fast, lapack) { #expect(abs(s - t) <= 50 * Double.ulpOfOne * lapack[0], "\(n)×\(n): \(s) vs \(t)") }
        }
    }

    @Test("Least squares by Householder QR equals the SVD pseudo-inverse; near rank deficiency is declined")
    func leastSquares() throws {
        var g = SeededGenerator(seed: 47)
        for (m, n, condition) in [(200, 8, 1e4), (20, 8, 1e6), (9, 1, 1.0), (16, 16, 1e3)] {
            let x = matrix(rows: m, columns: n, singularValues: spectrum(n, condition: condition), using: &g)
            let y = g.gaussianMatrix(rows: m, columns: 3, scale: 1)
            let qr = try #require(SmallMatrixKernels.fullRankLeastSquares(x, y))
            let svd = try x.pseudoInverse().multiplied(by: y)
            let error = (qr - svd).frobeniusNormSquared.squareRoot() / svd.frobeniusNormSquared.squareRoot()
            #expect(error <= 1e3 * condition * Double.ulpOfOne, "\(m)×\(n), condition \(condition): \(error)")
        }
        let nearlyDeficient = matrix(rows: 30, columns: 4, singularValues: spectrum(4, condition: 1e10), using: &g)
        #expect(SmallMatrixKernels.fullRankLeastSquares(nearlyDeficient, g.gaussianMatrix(rows: 30, columns: 2, scale: 1)) == nil)
        #expect(SmallMatrixKernels.fullRankLeastSquares(g.gaussianMatrix(rows: 3, columns: 5, scale: 1),
                                                        g.gaussianMatrix(rows: 3, columns: 1, scale: 1)) == nil)
    }

    /// Householder QR scales exactly with a power-of-two column scaling; only the rank test did
    /// not: with each column's rounding level (`columnScales`) a column 2⁵⁰ smaller is accepted,
    /// with the solution's row scaled back exactly, and a column of rounding noise declined.
    @Test("Least squares with column scales: a column 2⁵⁰ smaller accepted (exactly the unscaled solution, rescaled), noise declined",
          arguments: [(30, 4), (3000, 40)])
    func leastSquaresColumnScales(m: Int, n: Int) throws {
        var g = SeededGenerator(seed: 59)
        let x = matrix(rows: m, columns: n, singularValues: spectrum(n, condition: 10), using: &g)
        let y = g.gaussianMatrix(rows: m, columns: 3, scale: 1)
        let norms = (0..<n).map { x.column($0).scaledNorm }
        var small = x
        for i in 0..<m { small[i, 1] *= 0x1p-50 }
        var smallNorms = norms
        smallNorms[1] *= 0x1p-50
        if m > 30 { #expect(Double(m * n * (n + 3)) > SmallMatrixKernels.unblockedLimit, "the LAPACK path is the one tested") }
        let plain = try #require(SmallMatrixKernels.fullRankLeastSquares(x, y, columnScales: norms))
        #expect(SmallMatrixKernels.fullRankLeastSquares(x, y) == plain, "on well-scaled columns the scales change nothing")
        #expect(SmallMatrixKernels.fullRankLeastSquares(small, y) == nil, "without scales: taken for rank deficiency")
        let scaled = try #require(SmallMatrixKernels.fullRankLeastSquares(small, y, columnScales: smallNorms))
        for j in 0..<3 {
            #expect(scaled[1, j] == plain[1, j] * 0x1p50 && scaled[0, j] == plain[0, j], "row 1 scaled back exactly")
        }
        // A column of rounding noise (10⁻¹⁷ of the data it came from) is rank deficiency.
        var noise = x
        for i in 0..<m { noise[i, 1] = 1e-17 * g.gaussian() }
        var noiseScales = norms
        noiseScales[1] = 1
        #expect(SmallMatrixKernels.fullRankLeastSquares(noise, y, columnScales: noiseScales) == nil)
    }

    /// The column helpers of the equilibration: norms, maxima and power-of-two exponents on zero,
    /// subnormal and huge columns, and scaling in place exact entry by entry.
    @Test("Matrix.columnNorms, columnMaxima, columnEquilibration and scaleColumns on zero, subnormal and huge columns")
    func columnHelpers() throws {
        let m = try Matrix([[0, 3e-310, 1e300, -2], [0, -4e-310, 1e300, 1]])
        let norms = m.columnNorms
        for j in 0..<4 {
            let reference = m.column(j).scaledNorm
            #expect(norms[j] == reference || abs(norms[j] - reference) <= 4 * Double.ulpOfOne * reference, "column \(j): \(norms[j]) vs \(reference)")
        }
        #expect(m.columnMaxima == [0, 4e-310, 1e300, 2])
        let e = m.columnEquilibration
        #expect(e[0] == 0, "a zero column is left as it is")
        var scaled = m
        scaled.scaleColumns(byPowersOfTwo: e)
        for j in 1..<4 {
            let norm = scaled.column(j).scaledNorm
            #expect(norm >= 1 && norm < 2.000001, "column \(j) brought to norm \(norm)")
            for i in 0..<2 { #expect(scaled[i, j] == Double(sign: .plus, exponent: e[j], significand: m[i, j]), "exact entry by entry") }
        }
        #expect(scaled[0, 1] * Double(sign: .plus, exponent: -e[1], significand: 1) == m[0, 1], "the subnormal column scaled up exactly")
    }

    /// Above `unblockedLimit` the same least squares runs in LAPACK's blocked QR (the kernel took
    /// 30 s at 40 000×512 with 512 right-hand sides, memory-bound): the answers of the SVD
    /// pseudo-inverse, the dispatch taking the blocked path above the limit, and the same rank
    /// test as the column-by-column kernel on either side of it.
    @Test("Blocked least squares (LAPACK QR) above the kernel's size equals the SVD pseudo-inverse; near rank deficiency is declined")
    func blockedLeastSquares() throws {
        var g = SeededGenerator(seed: 53)
        var compared = 0
        for (m, n, p, condition) in [(3000, 40, 30, 1e4), (600, 90, 7, 1e6), (50_000, 1, 80, 1.0), (400, 100, 1, 1e2)] {
            #expect(Double(m * n * (n + p)) > SmallMatrixKernels.unblockedLimit)
            let x = matrix(rows: m, columns: n, singularValues: spectrum(n, condition: condition), using: &g)
            let y = g.gaussianMatrix(rows: m, columns: p, scale: 1)
            let blocked = try #require(SmallMatrixKernels.blockedFullRankLeastSquares(x, y))
            #expect(SmallMatrixKernels.fullRankLeastSquares(x, y) == blocked, "the dispatch above the limit runs the blocked path")
            let svd = try x.pseudoInverse().multiplied(by: y)
            let error = (blocked - svd).frobeniusNormSquared.squareRoot() / svd.frobeniusNormSquared.squareRoot()
            #expect(blocked.shape == svd.shape && error <= 1e3 * condition * Double.ulpOfOne, "\(m)×\(n), condition \(condition): \(error)")
            compared += 1
        }
        #expect(compared == 4)
        // The rank test on both paths: condition 10⁶ accepted, 10¹⁰ declined, by the kernel (30×4) and the blocked QR (3000×40).
        for (m, n) in [(30, 4), (3000, 40)] {
            for (condition, accepted) in [(1e6, true), (1e10, false)] {
                let x = matrix(rows: m, columns: n, singularValues: spectrum(n, condition: condition), using: &g)
                let y = g.gaussianMatrix(rows: m, columns: 2, scale: 1)
                #expect((SmallMatrixKernels.fullRankLeastSquares(x, y) != nil) == accepted, "\(m)×\(n), condition \(condition)")
                if m > 30 { #expect((SmallMatrixKernels.blockedFullRankLeastSquares(x, y) != nil) == accepted) }
            }
        }
    }

    @Test("R alone (no Q) is QR's R to the bit; V from the SVD of R spans A's right singular vectors")
    func triangleAndRightVectors() throws {
        var g = SeededGenerator(seed: 54)
        let a = matrix(rows: 500, columns: 12, singularValues: spectrum(12, condition: 1e3), using: &g)
        #expect(try QRDecomposition.triangularFactor(of: a) == QRDecomposition(a).r)
        let (values, v) = try SingularValueDecomposition.rightSingularVectors(of: a)
        let reference = try SingularValueDecomposition(a)
        for (s, t) in zip(values, reference.singularValues) { #expect(abs(s - t) <= 1e-13 * reference.singularValues[0]) }
        // |VᵀV_ref| = I: the same directions up to sign (the spectrum is simple).
        let overlap = v.multiplied(by: reference.v, transposeSelf: true)
        for i in 0..<12 { for j in 0..<12 { #expect(abs(abs(overlap[i, j]) - (i == j ? 1 : 0)) <= 1e-9, "\(i), \(j): \(overlap[i, j])") } }
        #expect(throws: NumericsError.self) { try QRDecomposition.triangularFactor(of: g.gaussianMatrix(rows: 3, columns: 5, scale: 1)) }
    }

    @Test("Singular values by QR and Jacobi agree with LAPACK's to ε·σ₁, down to condition 1e12")
    func thinSingularValues() throws {
        var g = SeededGenerator(seed: 45)
        for (m, n, condition) in [(200, 8, 1e3), (20, 8, 1e12), (5, 16, 1e6), (9, 1, 1.0), (16, 16, 1e8)] {
            let a = matrix(rows: m, columns: n, singularValues: spectrum(min(m, n), condition: condition), using: &g)
            let fast = SmallMatrixKernels.singularValuesOfThin(a)
            let lapack = try SingularValueDecomposition.singularValues(of: a)
            #expect(fast.count == lapack.count)
            for (s, t) in zip(fast, lapack) { #expect(abs(s - t) <= 50 * Double.ulpOfOne * lapack[0], "\(m)×\(n): \(s) vs \(t)") }
        }
    }
}
