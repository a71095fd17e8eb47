import Numerics
import Testing

@Suite("Exact rationals on GMP")
struct ExactArithmeticTests {
    @Test("0.1 converts to its exact dyadic value")
    func tenth() {
        #expect(Rational(exactly: 0.1)!.exactString == "3602879701896397/36028797018963968")
        #expect(Rational(exactly: -0.75)!.exactString == "-3/4")
        #expect(Rational(exactly: 0x1.0p-1074)!.exactString.hasPrefix("1/"))
    }

    @Test("Double → rational → Double round-trips every finite double")
    func roundTrip() {
        var g = SeededGenerator(seed: 21)
        for _ in 0..<2000 {
            let x = Double(bitPattern: g.next())
            guard x.isFinite else { continue }
            #expect(Rational(exactly: x)!.doubleValue == x)
        }
        for x in [Double.leastNonzeroMagnitude, .greatestFiniteMagnitude, -0.0, 1e-300] {
            #expect(Rational(exactly: x)!.doubleValue == x)
        }
    }

    /// |q − x| exactly, x a finite Double.
    static func distance(_ q: Rational, _ x: Double) -> Rational {
        let d = q - Rational(exactly: x)!
        return d < .zero ? -d : d
    }

    /// The Double shown for a rational is its nearest (ties to even), checked exactly against
    /// both neighbours, and its ends rounded down and up hold it with nothing between, on 3 000
    /// random quotients of integers from 1 to 2¹²⁰ scaled by 2^±1100 (normal, subnormal,
    /// overflowing and underflowing, each counted), and on the ties and thresholds: half the
    /// least subnormal (to 0), one and a half of it (to 2, even), 1 + 2⁻⁵³ and 1 + 3·2⁻⁵³ (to 1 and
    /// 1 + 2⁻⁵¹, even), the greatest finite plus half its ulp (to ∞) and just below it. GMP's
    /// mpq_get_d truncates: 1/10 and 0.1 − 10⁻³⁰ came out an ulp below 0.1, their nearest.
    @Test("A rational's Double: nearest with ties to even, and directed ends, subnormals and overflow included")
    func nearestDouble() {
        var g = SeededGenerator(seed: 24)
        var checked = 0, roundedAway = 0, kinds: [String: Int] = [:]
        let greatest = Rational(exactly: .greatestFiniteMagnitude)!, halfUlp = Rational(exactly: 0x1p970)!
        for _ in 0..<3000 {
            func integer() -> Rational {   // 1 to 4 random 30-bit digits, plus 1
                var q = Rational.zero
                for _ in 0..<g.int(in: 1...4) { q = q.scaled(byPowerOfTwo: 30) + Rational(g.int(in: 0...(1 << 30 - 1))) }
                return q + .one
            }
            let q = (g.uniform() < 0.5 ? -Rational.one : .one) * (integer() / integer()).scaled(byPowerOfTwo: g.int(in: -1100...1100))
            let x = q.doubleValue
            let magnitude = q < .zero ? -q : q
            kinds[x.isInfinite ? "overflow" : x == 0 ? "underflow" : x.isSubnormal ? "subnormal" : "normal", default: 0] += 1
            if x.isInfinite {
                // Only from 2¹⁰²⁴ − 2⁹⁷⁰ (the greatest finite plus half its ulp) up.
                #expect(magnitude >= greatest + halfUlp)
            } else {
                let here = Self.distance(q, x)
                for neighbour in [x.nextUp, x.nextDown] where neighbour.isFinite {
                    let there = Self.distance(q, neighbour)
                    #expect(here < there || (here == there && x.significandBitPattern & 1 == 0), "\(q.exactString) shown as \(x)")
                }
            }
            // Directed ends: below ≤ q ≤ above, adjacent (q is never a Double here: its
            // denominator has odd factors or it lies beyond the range), the nearest one of them.
            let (below, above) = (q.doubleBelow, q.doubleAbove)
            #expect(below.nextUp == above && (x == below || x == above), "\(q.exactString): [\(below), \(above)], nearest \(x)")
            if below.isFinite { #expect(Rational(exactly: below)! <= q) }
            if above.isFinite { #expect(q <= Rational(exactly: above)!) }
            #expect(q.doubleValue(rounding: .towardZero) == (q < .zero ? above : below))
            // Truncation never gives a Double beyond q: count where the nearest one is.
            if x.isFinite, Rational(exactly: abs(x))! > magnitude { roundedAway += 1 }
            checked += 1
        }
        #expect(checked == 3000)
        #expect(["normal", "subnormal", "overflow", "underflow"].allSatisfy { kinds[$0, default: 0] > 20 }, "\(kinds)")
        #expect(roundedAway > 1000, "about half round away from 0: \(roundedAway)")
        let least = Rational(exactly: .leastNonzeroMagnitude)!, half = Rational(1, 2)
        let tiny = Rational.one.scaled(byPowerOfTwo: -1200), ulpBelowOne = Rational.one.scaled(byPowerOfTwo: -53)
        let cases: [(Rational, Double)] = [
            (least * half, 0), (least * half + tiny, .leastNonzeroMagnitude), (least * Rational(3, 2), 2 * .leastNonzeroMagnitude),
            (.one + ulpBelowOne, 1), (.one + Rational(3) * ulpBelowOne, 1 + 0x1p-51), (-(Rational.one + ulpBelowOne), -1),
            (greatest + halfUlp, .infinity), (greatest + halfUlp - tiny, .greatestFiniteMagnitude), (-(greatest + halfUlp), -.infinity),
            (Rational(exactly: 0.1)! - Rational(exactly: 1e-30)!, 0.1), (Rational(1, 10), 0.1), (Rational(2, 3), 2.0 / 3), (-Rational(1, 3), -1.0 / 3),
            (Rational(exactly: 0x1p-1022)! - tiny, 0x1p-1022), (Rational(exactly: 1e300)! * Rational(exactly: 1e300)!, .infinity),
        ]
        for (q, expected) in cases { #expect(q.doubleValue == expected, "\(q.exactString)") }
        // IEEE 754's directed rounding beyond the range: down to the greatest finite, up to ∞;
        // a tiny positive value down to 0 and up to the least subnormal (negatives mirrored).
        let huge = greatest + greatest, small = tiny
        #expect(huge.doubleBelow == .greatestFiniteMagnitude && huge.doubleAbove == .infinity)
        #expect((-huge).doubleBelow == -.infinity && (-huge).doubleAbove == -.greatestFiniteMagnitude)
        #expect(small.doubleBelow == 0 && small.doubleAbove == .leastNonzeroMagnitude)
        #expect((-small).doubleBelow == -.leastNonzeroMagnitude && (-small).doubleAbove == 0)
        #expect(Rational(exactly: 0.1)!.doubleBelow == 0.1 && Rational(exactly: 0.1)!.doubleAbove == 0.1)
    }

    @Test("Exact arithmetic: 0.1 + 0.2 ≠ 0.3 exactly, 1/3·3 = 1")
    func field() {
        let sum = Rational(exactly: 0.1)! + Rational(exactly: 0.2)!
        #expect(sum != Rational(exactly: 0.3)!)
        #expect(Rational(1, 3) * Rational(3) == .one)
        #expect(Rational("-6/4")! == Rational(-3, 2))
        #expect(Rational("1/0") == nil)
        #expect(Rational(1, 3) < Rational(1, 2))
    }

    @Test("Exact inverse times matrix is the identity exactly")
    func exactInverse() throws {
        var g = SeededGenerator(seed: 22)
        for n in [1, 3, 6] {
            let a = try RationalMatrix(exactly: g.gaussianMatrix(rows: n, columns: n))
            #expect(try a.inverse().multiplied(by: a) == .identity(n))
            let b = try RationalMatrix(exactly: g.gaussianMatrix(rows: n, columns: 2))
            #expect(try a.multiplied(by: a.solve(b)) == b)
        }
    }

    @Test("PSD test accepts a PSD matrix and rejects one with eigenvalue −1e−30")
    func psd() throws {
        var g = SeededGenerator(seed: 23)
        let q = try QRDecomposition(g.gaussianMatrix(rows: 4, columns: 4)).q
        let exactQ = try RationalMatrix(exactly: q)
        // S = Q diag(1, 0.5, 1e-10, 0) Qᵀ, exactly PSD and singular.
        let psd = try exactQ.multiplied(by: .diagonal([.one, Rational(1, 2), Rational(exactly: 1e-10)!, .zero]))
            .multiplied(by: exactQ.transposed)
        #expect(try psd.isPositiveSemidefinite())
        #expect(try !psd.isPositiveDefinite())
        let tiny = -Rational(exactly: 1e-30)!
        let indefinite = try exactQ.multiplied(by: .diagonal([.one, Rational(1, 2), tiny, .zero]))
            .multiplied(by: exactQ.transposed)
        #expect(try !indefinite.isPositiveSemidefinite())
        #expect(try indefinite.symmetricInertia() == (2, 1, 1))
    }

    @Test("Inertia handles zero diagonals (2×2 pivots)")
    func inertiaZeroDiagonal() throws {
        let a = RationalMatrix(rows: 3, columns: 3, entries: [
            .zero, Rational(2), .zero,
            Rational(2), .zero, .zero,
            .zero, .zero, Rational(5)])
        #expect(try a.symmetricInertia() == (2, 1, 0))
        #expect(try RationalMatrix(rows: 2, columns: 2, entries: [.zero, .zero, .zero, .zero])
            .symmetricInertia() == (0, 0, 2))
    }

    @Test("Eigenvalue counts bracket the double eigenvalues")
    func eigenvalueCounts() throws {
        var g = SeededGenerator(seed: 24)
        let b = g.gaussianMatrix(rows: 6, columns: 6)
        let s = b + b.transposed
        let exact = try RationalMatrix(exactly: s)
        let values = try SymmetricEigendecomposition(s).eigenvalues
        for (i, lambda) in values.enumerated() {
            let margin = 1e-9 * max(1, abs(lambda))
            #expect(try exact.eigenvalueCount(above: Rational(exactly: lambda + margin)!) == i)
            #expect(try exact.eigenvalueCount(above: Rational(exactly: lambda - margin)!) == i + 1)
        }
    }
}

@Suite("Exact dyadic products")
struct DyadicProductTests {
    func slowProduct(_ a: Matrix, _ b: Matrix) throws -> RationalMatrix {
        try RationalMatrix(exactly: a).multiplied(by: RationalMatrix(exactly: b).transposed)
    }

    @Test("Int128 fast path equals the GMP product, including its fallback")
    func matchesRationalProduct() throws {
        var g = SeededGenerator(seed: 25)
        for scale in [1.0, 1e-300, 1e300] {
            let a = g.gaussianMatrix(rows: 7, columns: 5, scale: scale), b = g.gaussianMatrix(rows: 4, columns: 5)
            #expect(try RationalMatrix.exactProduct(a, transposing: b) == slowProduct(a, b))
        }
        // Wide exponent spreads (fallback) and subnormals, zeros, negatives.
        let a = try Matrix([[1e200, 1e-200, 0, -3], [5e-324, -0.1, 2.5, 1]])
        let b = try Matrix([[1e-100, 1e100, 7, -1e-320], [0.3, 0.7, -0.0, 1e10]])
        #expect(try RationalMatrix.exactProduct(a, transposing: b) == slowProduct(a, b))
    }
}
