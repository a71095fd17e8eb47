@testable import Numerics
import Testing

/// Soundness of the fast certificate level (Proofs/certificates.md): every FastMath
/// bound and every FastInterval operation contains the value MPFR encloses at 256
/// bits, on random and adversarial arguments; the kernels' measured errors stay within
/// the proofs' constants (a wrong constant in a proof goes red there: the log bound at
/// 0.2 of itself did); and a halved product bound is caught on sums that attain it.
/// (The kernels' results without any widening miss on most arguments — checked, but
/// that alone would not catch a widening cut to a fraction of itself, since the final
/// one-Double push already covers the kernels' ~1-ulp errors.)
@Suite("Fast intervals contain the MPFR value")
struct FastIntervalTests {
    /// Whether [lower, upper] contains every point of the MPFR enclosure v.
    static func encloses(_ lower: Double, _ upper: Double, _ v: Interval) -> Bool {
        guard let l = Interval(exactly: lower), let u = Interval(exactly: upper) else { return false }
        return l.isCertainlyAtMost(v) && v.isCertainlyAtMost(u)
    }

    /// Arguments for exp: uniform over the whole domain, near the argument reduction's
    /// edges (odd multiples of ln 2 / 2, where |r| is largest), near 0, and where the
    /// result turns subnormal, overflows or underflows.
    static func expArguments(_ count: Int, seed: UInt64) -> [Double] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { i in
            switch i % 6 {
            case 0: return Double.random(in: -746...710, using: &g)
            case 1: return (Double(Int.random(in: -2150...2050, using: &g)) + 0.5) * 0.6931471805599453
                * (1 + Double.random(in: -1e-15...1e-15, using: &g))
            case 2: return Double(sign: Bool.random(using: &g) ? .minus : .plus, exponent: Int.random(in: -1074...(-1), using: &g),
                                  significand: Double.random(in: 1..<2, using: &g))
            case 3: return Double.random(in: -745.3...(-707), using: &g)
            case 4: return Double.random(in: 708...710, using: &g)
            default: return Double.random(in: -40...40, using: &g)
            }
        }
    }

    /// Arguments for log: random bit patterns over every positive finite Double
    /// (subnormals included), values within a few ulps of 1, near √2 and √½ (the
    /// reduction's switch), and powers of two.
    static func logArguments(_ count: Int, seed: UInt64) -> [Double] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { i in
            switch i % 5 {
            case 0: return Double(bitPattern: UInt64.random(in: 1..<0x7FF0_0000_0000_0000, using: &g))
            case 1: return 1 + Double(Int.random(in: -50...50, using: &g)) * 0x1p-52
            case 2: return (Bool.random(using: &g) ? 1.4142135623730951 : 0.7071067811865476)
                * (1 + Double(Int.random(in: -8...8, using: &g)) * 0x1p-52) * Double(sign: .plus, exponent: Int.random(in: -1000...1000, using: &g), significand: 1)
            case 3: return Double(sign: .plus, exponent: Int.random(in: -1074...1023, using: &g), significand: 1)
            default: return Double.random(in: 1e-300...1e300, using: &g)
            }
        }
    }

    @Test func expBoundsContainTheMPFRValue() {
        var checked = 0, planted = 0
        var worst = 0.0
        for x in Self.expArguments(60_000, seed: 11) {
            let v = Interval(exactly: x)!.exp
            let (lower, upper) = (FastMath.expLower(x), FastMath.expUpper(x))
            #expect(Self.encloses(lower, upper, v), "exp(\(x)) ∉ [\(lower), \(upper)]")
            checked += 1
            // The kernel's own result without its widening: red somewhere (a planted bug).
            if x > -700 && x <= 709 {
                let y = FastMath.expKernel(x)
                if !Self.encloses(y, y, v) { planted += 1 }
                let relative = abs(((Interval(exactly: y)! - v) / v).midpoint) / FastMath.unitRoundoff
                worst = max(worst, relative)
            }
        }
        #expect(checked == 60_000)
        #expect(planted > 10_000, "the unwidened kernel should miss the true value on most arguments")
        // The proof allows 3.52u; the widening is 8u.
        #expect(worst <= 3.52, "measured relative error \(worst)u exceeds the proven 3.52u")
        print("exp kernel: largest relative error \(worst)u (proven ≤ 3.52u, widened by 8u)")
    }

    /// The kernel's literal coefficients are fl(1/i!): the same Horner steps with the
    /// computed coefficients give the same bits on every argument.
    @Test func expKernelLiteralsAreTheComputedCoefficients() {
        let c = FastMath.expCoefficients
        var checked = 0
        for x in Self.expArguments(20_000, seed: 12) where x > -745 && x <= 709 {
            let k = (x * 1.4426950408889634).rounded()
            var r = x.addingProduct(-k, 0.6931471805599453)
            r = r.addingProduct(-k, 2.3190468138462996e-17)
            var p = c[13]
            for i in stride(from: 12, through: 0, by: -1) { p = c[i].addingProduct(p, r) }
            #expect(FastMath.expKernelReference(x) == Double(sign: .plus, exponent: Int(k), significand: p), "exp kernel at \(x)")
            checked += 1
        }
        #expect(checked > 15_000)
    }

    /// The C kernel over arrays and at one argument (CFastKernels, FMA instruction where the
    /// CPU has it) gives the Swift kernel's bits wherever the result is normal; the array form
    /// 0 below −745.
    @Test func theCKernelGivesTheSwiftKernelsBits() {
        let xs = Self.expArguments(20_000, seed: 16).filter { $0 <= 709 } + [-745.5, -746, -1e300, -744.9, 0, 709]
        var out = [Double](repeating: .nan, count: xs.count)
        FastMath.expKernel(xs, into: &out, count: xs.count)
        var compared = 0, subnormal = 0
        for (x, y) in zip(xs, out) {
            if x <= -745 { #expect(y == 0, "\(x)"); continue }
            if x <= -708 {
                // Subnormal results: C's ldexp and Swift's scaling both round p·2^k once.
                #expect(abs(FastMath.expKernel(x) - FastMath.expKernelReference(x)) <= .leastNonzeroMagnitude, "\(x)")
                subnormal += 1
            } else {
                let reference = FastMath.expKernelReference(x)
                #expect(y == reference, "exp kernel in C at \(x): \(y) vs \(reference)")
                #expect(FastMath.expKernel(x) == reference, "scalar exp kernel in C at \(x): \(FastMath.expKernel(x)) vs \(reference)")
                compared += 1
            }
        }
        #expect(compared > 10_000 && subnormal > 20, "\(compared) compared, \(subnormal) subnormal")
        print("C exp kernel: FMA instruction \(FastMath.expKernelUsesFMAInstruction ? "in use" : "not available (C library fma())")")
    }

    /// The array kernel's vector path (blocks of eight arguments in (−708, 709], AVX2) gives the
    /// bits of its one-argument loop and of the Swift kernel: ties of the rounding to k (t = j + ½
    /// exactly), arguments near −708 and 709, k = 0, blocks mixed with arguments outside the range
    /// (those blocks go one at a time), and a tail shorter than a block.
    @Test func theVectorExpKernelGivesTheSameBits() {
        var g = SeededGenerator(seed: 17)
        var xs: [Double] = (0..<40_000).map { _ in Double.random(in: -707.99...708.99, using: &g) }
        xs += (0..<4_000).map { _ in Double.random(in: -1...1, using: &g) }
        // t = x·log₂e within an ulp of j + ½ (the rounding's ties), both signs.
        for j in -1000..<1000 {
            let x = (Double(j) + 0.5) / 1.4426950408889634
            xs += [x.nextDown, x, x.nextUp]
        }
        xs += [-707.9999, 708.9999, 709, 709.5, 709.7, 0, -0.0, 1e-300, -1e-300]
        xs += (0..<64).map { i in i % 9 == 0 ? -720 : Double(-i) }   // blocks with an argument below −708
        xs += [-1, -2, -3]                                           // a tail of three
        var scalar = [Double](repeating: .nan, count: xs.count)
        FastMath.expKernelOneAtATime(xs, into: &scalar, count: xs.count)
        // The dispatched kernel, and each vector width the CPU has (AVX-512's 8, AVX2's 4).
        var compared = 0
        for width in [nil, 8, 4] as [Int?] {
            var vector = [Double](repeating: .nan, count: xs.count)
            if let width { FastMath.expKernel(xs, into: &vector, count: xs.count, vectorWidth: width) } else { FastMath.expKernel(xs, into: &vector, count: xs.count) }
            for i in xs.indices where xs[i] > -708 && xs[i] <= 709 {
                #expect(vector[i].bitPattern == scalar[i].bitPattern && vector[i] == FastMath.expKernelReference(xs[i]),
                        "exp kernel (width \(width.map(String.init) ?? "dispatched")) at \(xs[i]): \(vector[i]) vector, \(scalar[i]) one at a time")
                compared += 1
            }
            for i in xs.indices where xs[i] <= -708 || xs[i] > 709 { #expect(vector[i].bitPattern == scalar[i].bitPattern, "\(xs[i])") }
        }
        #expect(compared > 3 * 49_000, "\(compared)")
        // Where the CPU has AVX-512F (AVX2, FMA) the dispatched kernel runs vectors of eight, where it
        // has AVX2 and FMA vectors of four: the comparisons above were against those paths.
        let flags = cpuFlags()
        if flags.isSuperset(of: ["avx2", "fma"]) { #expect(FastMath.expKernelVectorWidth == (flags.contains("avx512f") ? 8 : 4)) }
        print("C exp kernel: vectors of \(FastMath.expKernelVectorWidth) (0: none)")
    }

    /// `FastMath.rowNormUpperBounds` (the norms bound's ‖f‖⁺ and ‖g‖⁺): every bound is at least
    /// the row's exact norm (squares and sums in GMP rationals) and, for rows within the normal
    /// range, within 10⁻¹² of it; the vector path gives the bits of the plain one. Rows of 1 to
    /// 40 entries, 1 000 and 1 023 (full blocks of eight and tails), magnitudes from subnormal
    /// (where 1/M overflows and the kernel divides) to near the largest Double, one large entry
    /// among tiny ones, zeros; and a zero row, ±∞ and NaN.
    @Test func rowNormBoundsHoldTheExactNorm() {
        var g = SeededGenerator(seed: 29)
        let exponents = [-1074, -1070, -1050, -1030, -1000, -600, -300, -10, 0, 10, 300, 600, 1000, 1015]
        var rows: [[Double]] = []
        for t in 0..<3_000 {
            let length = t % 50 == 0 ? [1_000, 1_023][t % 2] : Int.random(in: 1...40, using: &g)
            let e = exponents.randomElement(using: &g)!
            var row = (0..<length).map { _ in
                Double(sign: Bool.random(using: &g) ? .plus : .minus, exponent: e, significand: Double.random(in: 1..<2, using: &g))
            }
            switch t % 5 {
            case 1: row[Int.random(in: 0..<length, using: &g)] = Swift.min(Double.random(in: 1e3...1e6, using: &g) * Double(sign: .plus, exponent: e, significand: 1),
                                                                           .greatestFiniteMagnitude)
            case 2: for j in row.indices where j % 3 == 0 { row[j] = 0 }
            case 3: for j in row.indices { row[j] *= Double(sign: .plus, exponent: -Int.random(in: 0...60, using: &g), significand: 1) }
            default: break
            }
            rows.append(row)
        }
        var checked = 0, tight = 0
        for row in rows {
            let m = try! Matrix(rows: 1, columns: row.count, storage: row)
            let bound = FastMath.rowNormUpperBounds(m)[0]
            #expect(bound.bitPattern == FastMath.rowNormUpperBoundsWithoutVectors(m)[0].bitPattern, "vector and plain paths differ on \(row.prefix(4))…")
            let exact = Rational.sum(row.map { Rational(exactly: $0)!.squared })
            guard !bound.isNaN else { Issue.record("NaN bound for a finite row \(row.prefix(4))…"); continue }
            let holds = !bound.isFinite || Rational(exactly: bound)!.squared >= exact
            #expect(holds, "‖row‖ > \(bound) for \(row.prefix(4))…")
            checked += 1
            let top = row.map(abs).max()!
            if top >= 0x1p-1000 && top <= 0x1p1000 {
                let close = bound.isFinite && Rational(exactly: bound)!.squared <= exact * Rational(exactly: 1 + 2e-12)!
                #expect(close, "loose: \(bound) for \(row.prefix(4))…")
                tight += 1
            }
        }
        #expect(checked == rows.count && tight > 1_500, "\(checked) checked, \(tight) for tightness")
        let specials = try! Matrix(rows: 5, columns: 3, storage: [0, 0, 0, 1, .infinity, 2, .nan, 1, 2, -.infinity, .nan, 0, 3, 4, 0])
        let b = FastMath.rowNormUpperBounds(specials)
        #expect(b[0] == 0 && b[1] == .infinity && b[2].isNaN && b[3].isNaN && b[4] >= 5 && b[4] < 5.000001, "\(b)")
        #expect(FastMath.rowNormUpperBounds(Matrix(rows: 2, columns: 0)) == [0, 0])
        // Where the CPU has AVX2 (and FMA, the exp kernel's test), the comparison above was against the vector path.
        let flags = cpuFlags()
        if flags.isSuperset(of: ["avx2", "fma"]) { #expect(FastMath.expKernelUsesVectorInstructions) }
    }

    /// `expEnclosure` (one kernel call at the midpoint, widened by the radius) must contain
    /// e^t at both ends of every interval, over radii from 0 to beyond its ½ limit; and it
    /// must be the tighter bound it is meant to be (within a few u of the two-call one).
    @Test func expEnclosureContainsTheMPFRValuesAtBothEnds() {
        var g = SeededGenerator(seed: 14)
        var checked = 0, oneCall = 0
        for x in Self.expArguments(20_000, seed: 15) where x > -745 && x < 709 {
            let radius = [0, 0x1p-52, 1e-12, 1e-6, 0.01, 0.49, 0.6].randomElement(using: &g)! * abs(x).squareRoot().nextUp
            let (lo, hi) = (x - radius, x + radius)
            let e = FastMath.expEnclosure(lo, hi)
            #expect(e.lo <= Interval(exactly: lo)!.exp.lower, "lower end at \(lo)")
            #expect(e.hi >= Interval(exactly: hi)!.exp.upper, "upper end at \(hi)")
            if radius <= 1e-12 && lo > -740 && hi < 708 && FastMath.expKernel(lo / 2 + hi / 2) >= 0x1p-1020 {
                oneCall += 1
                #expect(e.hi - e.lo <= (FastMath.expUpper(hi) - FastMath.expLower(lo)) * 1.5 + 4 * radius * e.hi, "width at [\(lo), \(hi)]")
            }
            checked += 1
        }
        #expect(checked > 15_000 && oneCall > 3_000, "\(checked) checked, \(oneCall) by one call")
    }

    @Test func logBoundsContainTheMPFRValue() throws {
        var checked = 0, planted = 0
        var worst = 0.0
        for x in Self.logArguments(50_000, seed: 12) {
            let v = try Interval(exactly: x)!.log()
            let (lower, upper) = (FastMath.logLower(x), FastMath.logUpper(x))
            #expect(Self.encloses(lower, upper, v), "log(\(x)) ∉ [\(lower), \(upper)]")
            checked += 1
            let (y, error) = FastMath.logKernel(x)
            let reference = FastMath.logKernelReference(x)
            #expect(y == reference.value && error == reference.error, "log kernel in C at \(x): \((y, error)) vs \(reference)")
            if !Self.encloses(y, y, v) { planted += 1 }
            let ratio = abs((Interval(exactly: y)! - v).midpoint) / error
            worst = max(worst, ratio)
        }
        #expect(checked == 50_000)
        #expect(planted > 10_000, "the kernel's value alone should miss the true value on most arguments")
        #expect(worst <= 1, "an error exceeded its bound (\(worst) of it)")
        #expect(worst > 0.5, "the bound is nearly attained (\(worst) of it): a loose bound here would hide a wrong one")
        print("log kernel: largest error \(worst) of its bound")
    }

    @Test func specialArguments() {
        #expect(FastMath.expLower(-.infinity) == 0 && FastMath.expUpper(-.infinity) == .leastNonzeroMagnitude)
        #expect(FastMath.expUpper(.infinity) == .infinity && FastMath.expLower(.infinity) > 1e307)
        #expect(FastMath.expLower(0) <= 1 && FastMath.expUpper(0) >= 1 && FastMath.expUpper(0) - FastMath.expLower(0) < 1e-14)
        #expect(FastMath.logLower(0) == -.infinity && FastMath.logUpper(-1) == -.infinity)
        #expect(FastMath.logUpper(.infinity) == .infinity && FastMath.logLower(.infinity) > 709)
        #expect(FastMath.logLower(1) <= 0 && FastMath.logUpper(1) >= 0 && FastMath.logUpper(1) < 1e-22)
        #expect(FastInterval(lo: .nan, hi: 1) == .entire)
        let zeroTimesUnbounded = FastInterval(0) * FastInterval(lo: -1, hi: .infinity)
        #expect(zeroTimesUnbounded.contains(0) && zeroTimesUnbounded.width <= 4 * .leastNonzeroMagnitude)
        #expect((FastInterval(lo: -1, hi: 1) * FastInterval(lo: 1, hi: .infinity)) == .entire)
        #expect((FastInterval(1) / FastInterval(lo: -1, hi: 1)) == .entire)
    }

    /// Random operands as point Doubles and as small intervals around them; each
    /// operation's fast interval must contain the MPFR interval of the same operation.
    @Test func arithmeticContainsTheMPFRResult() {
        var g = SeededGenerator(seed: 13)
        func operand() -> (FastInterval, Interval) {
            let exponent = [Int.random(in: -60...60, using: &g), Int.random(in: -1074...(-1000), using: &g),
                            Int.random(in: 1000...1023, using: &g)].randomElement(using: &g)!
            let x = Double(sign: Bool.random(using: &g) ? .minus : .plus, exponent: exponent,
                           significand: Double.random(in: 1..<2, using: &g))
            let point = Bool.random(using: &g)
            let lo = x, hi = point ? x : x.nextUp.nextUp
            return (FastInterval(lo: lo, hi: hi), Interval(lower: lo, upper: hi))
        }
        func contains(_ f: FastInterval, _ v: Interval) -> Bool { Self.encloses(f.lo, f.hi, v) }
        var checked = 0, pointProducts = 0
        for _ in 0..<20_000 {
            let (a, ma) = operand(), (b, mb) = operand()
            #expect(contains(a + b, ma + mb) && contains(a - b, ma - mb) && contains(a * b, ma * mb))
            if !mb.containsZero { #expect(contains(a / b, ma / mb)) }
            #expect(contains(a.squared, ma.squared))
            if b.lo == b.hi {
                #expect(contains(FastInterval.times(a, point: b.lo), ma * mb))
                pointProducts += 1
            }
            checked += 1
        }
        #expect(checked == 20_000 && pointProducts > 8_000)
        // Small interval products with a point factor (by midpoints and radii, the point's radius
        // exactly 0) hold every product of points in the boxes, against exact rationals.
        var matrices = 0
        for trial in 0..<200 {
            let n = 1 + trial % 7
            let intervals = FastIntervalMatrix(rows: n, columns: n) { _, _ in
                let x = Double.random(in: -4...4, using: &g)
                return FastInterval(lo: x, hi: x + Double.random(in: 0...1e-3, using: &g))
            }
            let point = FastIntervalMatrix(Matrix(rows: n, columns: n) { _, _ in Double.random(in: -4...4, using: &g) / 3 })
            for (product, pointFirst) in [(point.multiplied(by: intervals), true), (intervals.multiplied(by: point), false)] {
                let corner = Matrix(rows: n, columns: n) { i, j in Bool.random(using: &g) ? intervals[i, j].lo : intervals[i, j].hi }
                for i in 0..<n {
                    for j in 0..<n {
                        let exact = Rational.sum((0..<n).map { t in
                            pointFirst ? Rational(exactly: point[i, t].lo)! * Rational(exactly: corner[t, j])!
                                : Rational(exactly: corner[i, t])! * Rational(exactly: point[t, j].lo)!
                        })
                        #expect(Rational(exactly: product[i, j].lo)! <= exact && exact <= Rational(exactly: product[i, j].hi)!, "trial \(trial)")
                    }
                }
                matrices += 1
            }
        }
        #expect(matrices == 400)
    }

    /// Dot products against their exact rational value, including the adversarial sum
    /// 1 + u + u + … whose every addition rounds down: its error reaches (n − 1)u, close
    /// to the bound γₙ·|a|ᵀ|b|, so a halved bound is caught.
    @Test func dotProductBoundIsSoundAndAttained() {
        var g = SeededGenerator(seed: 14)
        var checked = 0, halvedMissed = 0
        for trial in 0..<3_000 {
            let n = Int.random(in: 1...64, using: &g)
            var a: [Double], b: [Double]
            if trial % 3 == 0 {
                a = [1] + Array(repeating: FastMath.unitRoundoff, count: n)
                b = Array(repeating: 1, count: n + 1)
            } else {
                a = (0..<n).map { _ in Double.random(in: -1...1, using: &g) * Double(sign: .plus, exponent: Int.random(in: -30...30, using: &g), significand: 1) }
                b = (0..<n).map { _ in Double.random(in: -1...1, using: &g) }
            }
            let exact = Rational.sum(zip(a, b).map { Rational(exactly: $0)! * Rational(exactly: $1)! })
            let (fast, halved) = a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    var s = 0.0, t = 0.0
                    for i in 0..<pa.count { let p = pa[i] * pb[i]; s += p; t += abs(p) }
                    return (FastInterval.dot(pa, pb),
                            FastInterval.withProductError(s, absoluteSum: t, terms: pa.count, boundScale: 0.5))
                }
            }
            #expect(Interval(exactly: fast.lo)!.isCertainlyAtMost(Interval(exact)) && Interval(exact).isCertainlyAtMost(Interval(exactly: fast.hi)!))
            if !(Rational(exactly: halved.lo)! <= exact && exact <= Rational(exactly: halved.hi)!) { halvedMissed += 1 }
            checked += 1
        }
        #expect(checked == 3_000)
        #expect(halvedMissed > 100, "a halved product bound should miss the adversarial sums (missed \(halvedMissed))")
    }

    /// Aᵀdiag(w)B from two BLAS products against the exact rational product: random
    /// matrices over 60 binades with interval weights, and the adversarial column
    /// (1, u, …, u) against ones, whose every addition is a tie rounding down — a halved
    /// bound misses it.
    @Test func weightedCrossProductEnclosesTheExactProduct() {
        var g = SeededGenerator(seed: 16)
        var checked = 0, halvedMissed = 0
        for trial in 0..<200 {
            let n = Int.random(in: 2...120, using: &g), p = Int.random(in: 1...5, using: &g), q = Int.random(in: 1...5, using: &g)
            let adversarial = trial % 4 == 0
            let a = Matrix(rows: n, columns: p) { i, _ in
                adversarial ? (i == 0 ? 1 : FastMath.unitRoundoff) : Double.random(in: -1...1, using: &g) * Double(sign: .plus, exponent: Int.random(in: -30...30, using: &g), significand: 1)
            }
            let b = Matrix(rows: n, columns: q) { _, _ in adversarial ? 1 : Double.random(in: -1...1, using: &g) }
            // Weights with a relative radius of 10⁻¹⁰, the true weights taken at one end or the
            // other (the bound's ρ term must cover them), except on the adversarial trials.
            let w = (0..<n).map { _ in
                adversarial ? FastInterval(1) : FastInterval(lo: 1.0 / Double(n) * (1 - 1e-10), hi: 1.0 / Double(n) * (1 + 1e-10))
            }
            let exactWeights = w.map { Rational(exactly: Bool.random(using: &g) ? $0.lo : $0.hi)! }
            let fast = FastIntervalMatrix.weightedCrossProduct(a, b, weights: w)
            let halved = FastIntervalMatrix.weightedCrossProduct(a, b, weights: w, boundScale: 0.5)
            for i in 0..<p {
                for j in 0..<q {
                    let exact = Rational.sum((0..<n).map { exactWeights[$0] * Rational(exactly: a[$0, i])! * Rational(exactly: b[$0, j])! })
                    #expect(Rational(exactly: fast[i, j].lo)! <= exact && exact <= Rational(exactly: fast[i, j].hi)!, "trial \(trial) [\(i),\(j)]")
                    if !(Rational(exactly: halved[i, j].lo)! <= exact && exact <= Rational(exactly: halved[i, j].hi)!) { halvedMissed += 1 }
                    checked += 1
                }
            }
        }
        #expect(checked > 1_000, "only \(checked) entries")
        #expect(halvedMissed > 20, "a halved bound should miss the adversarial sums (missed \(halvedMissed))")
    }

    /// The weighted cross product over blocks of rows (memory flat in N): it holds the exact
    /// product, with weights at either end of their intervals, and is about as narrow as the
    /// one-call form.
    @Test func weightedCrossProductInBlocksEnclosesTheExactProduct() {
        var g = SeededGenerator(seed: 32)
        var checked = 0
        for trial in 0..<40 {
            let n = Int.random(in: 8...120, using: &g), p = Int.random(in: 1...4, using: &g), q = Int.random(in: 1...4, using: &g)
            let a = Matrix(rows: n, columns: p) { _, _ in Double.random(in: -1...1, using: &g) * Double(sign: .plus, exponent: Int.random(in: -20...20, using: &g), significand: 1) }
            let b = Matrix(rows: n, columns: q) { _, _ in Double.random(in: -1...1, using: &g) }
            let w = (0..<n).map { _ in FastInterval(lo: 1.0 / Double(n) * (1 - 1e-12), hi: 1.0 / Double(n) * (1 + 1e-12)) }
            let exactWeights = w.map { Rational(exactly: Bool.random(using: &g) ? $0.lo : $0.hi)! }
            let blocks = FastIntervalMatrix.weightedCrossProductInBlocks(a, b, weights: w, rowsPerBlock: 1 + trial % 7)
            let whole = FastIntervalMatrix.weightedCrossProduct(a, b, weights: w)
            for i in 0..<p {
                for j in 0..<q {
                    let exact = Rational.sum((0..<n).map { exactWeights[$0] * Rational(exactly: a[$0, i])! * Rational(exactly: b[$0, j])! })
                    #expect(Rational(exactly: blocks[i, j].lo)! <= exact && exact <= Rational(exactly: blocks[i, j].hi)!, "trial \(trial) [\(i),\(j)]")
                    #expect(blocks[i, j].width <= 4 * whole[i, j].width + 1e-300, "trial \(trial): \(blocks[i, j]) against \(whole[i, j])")
                    checked += 1
                }
            }
        }
        #expect(checked > 100, "only \(checked) entries")
    }

    /// Several weighted cross products at once (`weightedCrossProducts`: each operand's copies
    /// formed once, the products and bounds on every core) are, bit for bit, the single product as
    /// it was written before the batches (kept here as the reference), whichever operands the
    /// pairs share and however many workers run them (every core, and fewer inside a caller's
    /// workers); above and below the size at which they go parallel. In blocks of rows, several
    /// pairs at once are the pairs one at a time.
    @Test func sharedWeightedCrossProductsAreTheSingleOnes() throws {
        // Aᵀdiag(w)B as `weightedCrossProduct` formed it alone (two BLAS products and the bound).
        func reference(_ a: Matrix, _ b: Matrix, _ w: [FastInterval]) -> FastIntervalMatrix {
            let n = a.rows, middle = w.map(\.midpoint)
            var rho = 0.0
            for (m, interval) in zip(middle, w) { rho = max(rho, (max(interval.hi - m, m - interval.lo).nextUp / m).nextUp) }
            let scaled = a.scalingRows(by: middle)
            let p = scaled.multiplied(by: b, transposeSelf: true)
            let q = scaled.absoluteValues.multiplied(by: b.absoluteValues, transposeSelf: true)
            let gamma = FastMath.productErrorFactor(n), u = FastMath.unitRoundoff
            let factor = ((gamma + ((u + rho) * (1 + 2 * u)).nextUp / (1 - gamma).nextDown).nextUp * (1 + 1e-12)).nextUp
            let eta = Double.leastNonzeroMagnitude
            let columnSums = (0..<b.columns).map { j in (0..<n).reduce(0.0) { ($0 + abs(b[$1, j])).nextUp } }
            return FastIntervalMatrix(rows: a.columns, columns: b.columns) { i, j in
                let e = (((factor * q[i, j]).nextUp + 3 * Double(n) * eta).nextUp + (eta * columnSums[j]).nextUp).nextUp
                guard e.isFinite, p[i, j].isFinite else { return .entire }
                return FastInterval.roundedOut(p[i, j] - e, p[i, j] + e)
            }
        }
        func same(_ x: FastIntervalMatrix, _ y: FastIntervalMatrix) -> Bool {
            x.entries.map(\.lo.bitPattern) == y.entries.map(\.lo.bitPattern) && x.entries.map(\.hi.bitPattern) == y.entries.map(\.hi.bitPattern)
        }
        var g = SeededGenerator(seed: 33)
        let pairs = [(left: 0, right: 0), (left: 1, right: 0), (left: 1, right: 1), (left: 0, right: 2), (left: 2, right: 1)]
        var compared = 0
        for (n, columns) in [(30, [3, 4, 1]), (3000, [40, 50, 1]), (2048, [64, 16, 64])] {
            let matrices = columns.map { c in Matrix(rows: n, columns: c) { _, _ in g.uniform(in: -1...1) * Double(sign: .plus, exponent: Int.random(in: -20...20, using: &g), significand: 1) } }
            let w = (0..<n).map { _ in FastInterval(lo: 1.0 / Double(n) * (1 - 1e-12), hi: 1.0 / Double(n) * (1 + 1e-12)) }
            let together = FastIntervalMatrix.weightedCrossProducts(pairs, of: matrices, weights: w)
            let inWorkers = try BLASThreads.parallelMap(2, workers: 2) { _ in FastIntervalMatrix.weightedCrossProducts(pairs, of: matrices, weights: w) }
            let blocks = 1 + n / 3
            let inBlocks = FastIntervalMatrix.weightedCrossProductsInBlocks(pairs, of: matrices, weights: w, rowsPerBlock: blocks)
            for (t, (l, r)) in pairs.enumerated() {
                let expected = reference(matrices[l], matrices[r], w)
                for shared in [together[t], inWorkers[0][t], inWorkers[1][t], FastIntervalMatrix.weightedCrossProduct(matrices[l], matrices[r], weights: w)] {
                    #expect(same(shared, expected), "N = \(n), pair (\(l), \(r)) differs from the reference")
                    compared += 1
                }
                #expect(same(inBlocks[t], FastIntervalMatrix.weightedCrossProductInBlocks(matrices[l], matrices[r], weights: w, rowsPerBlock: blocks)),
                        "N = \(n), pair (\(l), \(r)) in blocks of \(blocks) rows differs")
                compared += 1
            }
        }
        #expect(compared == 3 * 5 * 5)
    }

    /// A·Bᵀ for B anywhere in an interval matrix (T3's F₂A₁₂ᵀ with A₁₂ enclosed): exact
    /// rationals at points of the box (its corners and inside), matrices over 60 binades,
    /// and the adversarial row (1, u, …, u) against ones, every addition a tie.
    @Test func pointTimesTransposedEnclosesEveryProductInTheBox() {
        var g = SeededGenerator(seed: 17)
        var checked = 0, halvedMissed = 0
        for trial in 0..<200 {
            let n = Int.random(in: 1...6, using: &g), m = Int.random(in: 2...120, using: &g), p = Int.random(in: 1...5, using: &g)
            let adversarial = trial % 4 == 0
            let a = Matrix(rows: n, columns: m) { _, j in
                adversarial ? (j == 0 ? 1 : FastMath.unitRoundoff) : Double.random(in: -1...1, using: &g) * Double(sign: .plus, exponent: Int.random(in: -30...30, using: &g), significand: 1)
            }
            let middle = Matrix(rows: p, columns: m) { _, _ in adversarial ? 1 : Double.random(in: -1...1, using: &g) }
            let radius = adversarial ? 0 : 1e-9
            let b = FastIntervalMatrix(rows: p, columns: m) { i, j in
                FastInterval(lo: middle[i, j] - radius * abs(middle[i, j]), hi: middle[i, j] + radius * abs(middle[i, j]))
            }
            // A point of the box: a corner or the midpoint, entry by entry.
            let point = Matrix(rows: p, columns: m) { i, j in [b[i, j].lo, b[i, j].hi, middle[i, j]].randomElement(using: &g)! }
            // The loop (these sizes) and the dgemm form, one bound: both must hold the product.
            #expect(n * m * p < FastIntervalMatrix.blasProductThreshold)
            let halved = FastIntervalMatrix.pointTimesTransposedLoop(a, b, boundScale: 0.5)
            for fast in [FastIntervalMatrix.pointTimesTransposed(a, b), FastIntervalMatrix.pointTimesTransposedBLAS(a, b)] {
                for i in 0..<n {
                    for l in 0..<p {
                        let exact = Rational.sum((0..<m).map { Rational(exactly: a[i, $0])! * Rational(exactly: point[l, $0])! })
                        #expect(Rational(exactly: fast[i, l].lo)! <= exact && exact <= Rational(exactly: fast[i, l].hi)!, "trial \(trial) [\(i),\(l)]")
                        // Not wider than the radius term and the rounding need: ~(2·10⁻⁹ + 2mu)·Σ|a||b̂|.
                        let magnitudes = (0..<m).reduce(0.0) { $0 + abs(a[i, $1] * middle[l, $1]) }
                        #expect(fast[i, l].width <= 1e-7 * magnitudes + 1e-300, "too wide: \(fast[i, l]) against Σ|ab| = \(magnitudes)")
                        checked += 1
                        if adversarial, m >= 8, !(Rational(exactly: halved[i, l].lo)! <= exact && exact <= Rational(exactly: halved[i, l].hi)!) {
                            halvedMissed += 1
                        }
                    }
                }
            }
        }
        #expect(checked > 2_000, "only \(checked) entries")
        // The adversarial rows attain the bound: halved, the loop's enclosure misses them.
        #expect(halvedMissed > 50, "the halved loop bound missed only \(halvedMissed) adversarial entries")
        // At the ends of the range, both forms: products that underflow (entries near 2⁻⁵⁴⁰, only
        // the 3mη floor covers their rounding) still hold the exact product; an infinite end gives
        // the whole line.
        let tiny = Matrix(rows: 2, columns: 12) { i, j in Double(sign: .plus, exponent: -540, significand: 1 + Double(i + j) / 16) }
        let tinyB = FastIntervalMatrix(Matrix(rows: 3, columns: 12) { l, j in Double(sign: j % 2 == 0 ? .plus : .minus, exponent: -540, significand: 1.5 - Double(l) / 8) })
        for fast in [FastIntervalMatrix.pointTimesTransposed(tiny, tinyB), FastIntervalMatrix.pointTimesTransposedBLAS(tiny, tinyB)] {
            for i in 0..<2 {
                for l in 0..<3 {
                    let exact = Rational.sum((0..<12).map { Rational(exactly: tiny[i, $0])! * Rational(exactly: tinyB[l, $0].lo)! })
                    #expect(Rational(exactly: fast[i, l].lo)! <= exact && exact <= Rational(exactly: fast[i, l].hi)!, "underflow [\(i),\(l)] \(fast[i, l])")
                }
            }
        }
        let unbounded = FastIntervalMatrix(rows: 1, columns: 2) { _, j in j == 0 ? FastInterval(lo: 0, hi: .infinity) : FastInterval(1) }
        let whole = FastIntervalMatrix.pointTimesTransposed(Matrix(rows: 1, columns: 2) { _, _ in 1 }, unbounded)
        #expect(whole[0, 0].lo == -.infinity && whole[0, 0].hi == .infinity, "\(whole[0, 0])")
    }

    /// Interval products by midpoints and radii (BLAS): exact rationals at points of the
    /// boxes, both operand orders, matrices over 60 binades. Each of the kernel's branches
    /// (both factors points, A a point, B a point, both intervals) meets products that attain
    /// its bound, where a planted halved bound misses: the row (1, u, …, u) against ones
    /// (every addition a tie), corners whose radii all push one entry the same way, and
    /// positive factors at their upper corners with unequal radii (R_A = 0.3|Â|, R_B = 10⁻³|B̂|),
    /// where the deviation is exactly R_A|B̂| + |Â|R_B + R_AR_B, so dropping any term misses.
    /// The loop form at the ends of the range: products that underflow (entries near 2⁻⁵⁴⁰, where
    /// only the 2nη floor covers the rounding) still hold the exact product; an infinite end, or a
    /// zero point against an unbounded entry (0·∞), gives the whole line, never a finite lie.
    /// `isProvenNonsingular` (T5's equality shortcut asks it of every pivot matrix): true for
    /// well-conditioned matrices, false for a singular one and for a box that holds a singular
    /// matrix, as `solving` decides the same.
    @Test func provenNonsingular() {
        let identity = FastIntervalMatrix(rows: 3, columns: 3) { i, j in FastInterval(i == j ? 1 : 0) }
        let singular = FastIntervalMatrix(rows: 2, columns: 2) { i, j in FastInterval(Double((i + 1) * (j + 1))) }   // [[1, 2], [2, 4]]
        let straddling = FastIntervalMatrix(rows: 2, columns: 2) { i, j in
            i == 1 && j == 1 ? FastInterval(lo: 3.9, hi: 4.1) : FastInterval(Double((i + 1) * (j + 1)))
        }
        #expect(identity.isProvenNonsingular && !singular.isProvenNonsingular && !straddling.isProvenNonsingular)
        var g = SeededGenerator(seed: 33)
        var agreed = 0
        for n in 1...8 {
            let m = FastIntervalMatrix(rows: n, columns: n) { i, j in FastInterval((i == j ? 4 : 0) + Double.random(in: -1...1, using: &g)) }
            let ones = FastIntervalMatrix(rows: n, columns: 1) { _, _ in FastInterval(1) }
            #expect(m.isProvenNonsingular && m.solving(ones) != nil, "n = \(n): well conditioned")
            agreed += 1
        }
        #expect(agreed == 8)
    }

    @Test func midpointRadiusLoopAtTheEndsOfTheRange() {
        var g = SeededGenerator(seed: 31)
        var checked = 0
        for trial in 0..<200 {
            let (m, n, p) = (1 + trial % 3, 1 + trial % 7, 1 + trial % 4)
            func tiny() -> Double { Double.random(in: -1...1, using: &g) * 0x1p-540 }
            let a = FastIntervalMatrix(rows: m, columns: n) { _, _ in let x = tiny(); return FastInterval(lo: x, hi: x) }
            let b = FastIntervalMatrix(rows: n, columns: p) { _, _ in let x = tiny(); return FastInterval(lo: x, hi: x.nextUp) }
            let product = FastIntervalMatrix.midpointRadiusLoop(a, transposeFirst: false, b)
            for i in 0..<m {
                for j in 0..<p {
                    for corner in [false, true] {
                        let exact = Rational.sum((0..<n).map { Rational(exactly: a[i, $0].lo)! * Rational(exactly: corner ? b[$0, j].hi : b[$0, j].lo)! })
                        #expect(Rational(exactly: product[i, j].lo)! <= exact && exact <= Rational(exactly: product[i, j].hi)!, "trial \(trial) [\(i),\(j)]")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 1_000)
        // Twelve products of 0.375η each, all rounding to 0: the sum errs by 4.5η, which only the
        // 2nη floor covers (the radius products underflow to 0 too).
        let x = FastIntervalMatrix(rows: 1, columns: 12) { _, _ in FastInterval(0.75 * 0x1p-537) }
        let y = FastIntervalMatrix(rows: 12, columns: 1) { _, _ in FastInterval(0x1p-538) }
        let underflowed = FastIntervalMatrix.midpointRadiusLoop(x, transposeFirst: false, y)
        let truth = Rational(12) * Rational(exactly: 0.75 * 0x1p-537)! * Rational(exactly: 0x1p-538)!
        #expect(Rational(exactly: underflowed[0, 0].hi)! >= truth, "\(underflowed[0, 0]) misses 4.5η")
        // An unbounded end in A's first row; a zero point in B against it.
        let a = FastIntervalMatrix(rows: 2, columns: 2) { i, j in i == 0 && j == 1 ? FastInterval(lo: 1, hi: .infinity) : FastInterval(2) }
        let b = FastIntervalMatrix(rows: 2, columns: 2) { i, j in FastInterval(i == 1 && j == 0 ? 0 : 3) }
        let product = FastIntervalMatrix.midpointRadiusLoop(a, transposeFirst: false, b)
        #expect(product[0, 0].lo == -.infinity && product[0, 0].hi == .infinity, "\(product[0, 0])")   // 0·[1, ∞]
        #expect(product[0, 1].lo == -.infinity && product[0, 1].hi == .infinity, "\(product[0, 1])")
        #expect(product[1, 0].lo.isFinite && product[1, 0].contains(6) && product[1, 1].contains(12), "the finite row stays finite")
    }

    @Test func midpointRadiusProductEnclosesEveryProductInTheBox() {
        var g = SeededGenerator(seed: 29)
        var checked = 0
        var halvedMissed: [String: Int] = [:], loopHalvedMissed: [String: Int] = [:]
        for trial in 0..<360 {
            let m = Int.random(in: 1...5, using: &g), n = Int.random(in: 2...90, using: &g), p = Int.random(in: 1...5, using: &g)
            // 0: rounding-adversarial points; 1: A's radius-adversarial corner, B a point or at its
            // midpoint; 2: random boxes; 3: A a point, B's radius-adversarial corner; 4: both at
            // their upper corners, positive; 5: as 0, but both factors intervals of radius 2⁻⁵¹
            // relative, far below the rounding error (n − 1)u (the rounding term must ride along
            // with the radius products).
            let kind = trial % 6
            func scale() -> Double { Double(sign: .plus, exponent: Int.random(in: -30...30, using: &g), significand: 1) }
            let aMid = Matrix(rows: m, columns: n) { _, j in
                kind == 0 || kind == 5 ? (j == 0 ? 1 : FastMath.unitRoundoff) : kind == 4 ? Double.random(in: 0.5...1, using: &g) : Double.random(in: -1...1, using: &g) * scale()
            }
            let bMid = Matrix(rows: n, columns: p) { _, _ in
                kind == 0 || kind == 5 ? 1 : kind == 4 ? Double.random(in: 0.5...1, using: &g) : Double.random(in: -1...1, using: &g) * (kind == 1 || kind == 3 ? 1 : scale())
            }
            let radiusA = kind == 0 || kind == 3 ? 0 : kind == 4 ? 0.3 : kind == 5 ? 0x1p-51 : 1e-6
            let radiusB = kind == 0 || (kind == 1 && trial % 12 == 7) ? 0 : kind == 4 ? 1e-3 : kind == 5 ? 0x1p-51 : 1e-6
            let a = FastIntervalMatrix(rows: m, columns: n) { i, j in
                FastInterval(lo: aMid[i, j] - radiusA * abs(aMid[i, j]), hi: aMid[i, j] + radiusA * abs(aMid[i, j]))
            }
            let b = FastIntervalMatrix(rows: n, columns: p) { i, j in
                FastInterval(lo: bMid[i, j] - radiusB * abs(bMid[i, j]), hi: bMid[i, j] + radiusB * abs(bMid[i, j]))
            }
            // A point of each box: kind 1, the corner of A whose signs follow B's first column;
            // kind 3, the corner of B whose signs follow A's first row; kind 4, both upper corners.
            let aPoint = Matrix(rows: m, columns: n) { i, j in
                kind == 1 ? (bMid[j, 0] >= 0 ? a[i, j].hi : a[i, j].lo) : kind == 4 ? a[i, j].hi : kind == 3 || kind == 5 ? aMid[i, j]
                    : [a[i, j].lo, a[i, j].hi, aMid[i, j]].randomElement(using: &g)!
            }
            let bPoint = Matrix(rows: n, columns: p) { i, j in
                kind == 1 || kind == 5 ? bMid[i, j] : kind == 3 ? (aMid[0, i] >= 0 ? b[i, j].hi : b[i, j].lo) : kind == 4 ? b[i, j].hi
                    : [b[i, j].lo, b[i, j].hi, bMid[i, j]].randomElement(using: &g)!
            }
            let branch = "\(radiusA == 0 ? "A point" : "A interval"), \(radiusB == 0 ? "B point" : "B interval")"
            let transposed = trial % 2 == 1
            let first = transposed ? a.transposed : a
            let fast = FastIntervalMatrix.midpointRadiusProduct(first, transposeFirst: transposed, b)
            let halved = FastIntervalMatrix.midpointRadiusProduct(first, transposeFirst: transposed, b, boundScale: 0.5)
            // The same bound with the products as plain loops (every product below 2¹⁵ multiply-adds).
            let loop = FastIntervalMatrix.midpointRadiusLoop(first, transposeFirst: transposed, b)
            let loopHalved = FastIntervalMatrix.midpointRadiusLoop(first, transposeFirst: transposed, b, boundScale: 0.5)
            for i in 0..<m {
                for l in 0..<p {
                    let exact = Rational.sum((0..<n).map { Rational(exactly: aPoint[i, $0])! * Rational(exactly: bPoint[$0, l])! })
                    func holds(_ x: FastInterval) -> Bool { Rational(exactly: x.lo)! <= exact && exact <= Rational(exactly: x.hi)! }
                    #expect(holds(fast[i, l]), "trial \(trial) [\(i),\(l)]")
                    #expect(holds(loop[i, l]), "loop: trial \(trial) [\(i),\(l)]")
                    if !holds(halved[i, l]) { halvedMissed[branch, default: 0] += 1 }
                    if !holds(loopHalved[i, l]) { loopHalvedMissed[branch, default: 0] += 1 }
                    // Not wider than the radii and the rounding need: about 2(R_A|B̂| + |Â|R_B + R_AR_B) + 4nu·Σ|â||b̂|.
                    let magnitudes = (0..<n).reduce(0.0) { $0 + abs(aMid[i, $1] * bMid[$1, l]) }
                    let radii = 2 * (radiusA + radiusB + radiusA * radiusB) + 4 * Double(n) * FastMath.unitRoundoff
                    #expect(fast[i, l].width <= 1.01 * radii * magnitudes + 1e-300, "too wide: \(fast[i, l]) against Σ|ab| = \(magnitudes)")
                    #expect(loop[i, l].width <= 1.01 * radii * magnitudes + 1e-300, "loop too wide: \(loop[i, l]) against Σ|ab| = \(magnitudes)")
                    checked += 1
                }
            }
        }
        #expect(checked > 1_000, "only \(checked) entries")
        for branch in ["A point, B point", "A point, B interval", "A interval, B point", "A interval, B interval"] {
            #expect((halvedMissed[branch] ?? 0) > 5, "a halved bound should miss the adversarial products of \(branch) (missed \(halvedMissed[branch] ?? 0))")
            #expect((loopHalvedMissed[branch] ?? 0) > 5, "the loop's halved bound should miss the adversarial products of \(branch) (missed \(loopHalvedMissed[branch] ?? 0))")
        }
        // Large enough products go to BLAS from `multiplied` itself, and agree with the loop's enclosure.
        let big = FastIntervalMatrix(rows: 40, columns: 40) { i, j in FastInterval(lo: Double(i - j) - 1e-9, hi: Double(i - j) + 1e-9) }
        let product = big.multiplied(by: big)
        let loop = FastIntervalMatrix(rows: 40, columns: 40) { i, j in FastInterval.sum((0..<40).map { big[i, $0] * big[$0, j] }) }
        #expect(40 * 40 * 40 >= FastIntervalMatrix.blasProductThreshold)
        #expect(product.entries.indices.allSatisfy { t in
            product.entries[t].contains(loop.entries[t].midpoint) && product.entries[t].width <= 2 * loop.entries[t].width + 1e-300
        })
    }

    /// `product(_:_:)` and `multiplied(byPoint:)` take a Double factor as it is instead of as point
    /// intervals: the same BLAS calls and bound, so the same Doubles as the interval products of
    /// its point enclosure (the soundness test above covers those), above and below the BLAS
    /// threshold, against interval factors with radii and without.
    @Test func pointFactorProductsAreThoseOfPointEnclosures() {
        var g = SeededGenerator(seed: 53)
        var compared = 0, throughBLAS = 0
        func same(_ x: FastIntervalMatrix, _ y: FastIntervalMatrix) -> Bool {
            x.rows == y.rows && x.columns == y.columns
                && zip(x.entries, y.entries).allSatisfy { $0.lo.bitPattern == $1.lo.bitPattern && $0.hi.bitPattern == $1.hi.bitPattern }
        }
        for trial in 0..<24 {
            let (m, n, p) = trial % 2 == 0 ? (40, 48, 36) : (3, 5, 4)
            let radius = trial % 4 < 2 ? 0 : 1e-6
            func box(_ r: Int, _ c: Int) -> FastIntervalMatrix {
                FastIntervalMatrix(rows: r, columns: c) { _, _ in
                    let x = Double.random(in: -1...1, using: &g)
                    return FastInterval(lo: x - radius * abs(x), hi: x + radius * abs(x))
                }
            }
            let point = Matrix(rows: m, columns: n) { _, _ in Double.random(in: -2...2, using: &g) }
            let right = box(n, p), left = box(p, m)
            #expect(same(FastIntervalMatrix.product(point, right), FastIntervalMatrix(point).multiplied(by: right)), "trial \(trial): A·B, A a Double matrix")
            #expect(same(left.multiplied(byPoint: point), left.multiplied(by: FastIntervalMatrix(point))), "trial \(trial): A·B, B a Double matrix")
            compared += 2
            if m * n * p >= FastIntervalMatrix.blasProductThreshold { throughBLAS += 2 }
        }
        #expect(compared == 48 && throughBLAS == 24)
    }

    /// The centred Gram (CG)ᵀ(CG′) by BLAS and norm bounds, against exact rationals: columns
    /// over 40 binades and beyond 2^±450 (the norms' scaled path), columns with a mean 10⁸
    /// times their spread, a column of equal entries (centred to exactly 0), k up to 400. On
    /// every sixth trial H = G itself (c = 0, which the bound allows): the centring correction
    /// s_as_b/k is then far larger than the rounding radius, so a wrong correction misses.
    /// Every entry is finite (the true values are in range) and no wider than 2·10⁻¹⁰‖h_a‖‖h_b‖.
    /// Dropping the bound (scale 0) misses.
    @Test func centredCrossProductEnclosesTheExactCentredGram() {
        var g = SeededGenerator(seed: 31)
        var checked = 0, droppedMissed = 0, uncentredChecked = 0
        for trial in 0..<60 {
            let k = Int.random(in: 2...400, using: &g), d = Int.random(in: 1...4, using: &g), e = Int.random(in: 1...4, using: &g)
            // Every fourth trial beyond 2^±450 (the norms' scaled path): G's columns near 2^+500,
            // G′'s near 2^−500, so that their products stay in range.
            func column(_ j: Int, _ sign: Int) -> (Int) -> Double {
                let offset = trial % 3 == 0 ? 1e8 * Double(j + 1) : 0
                let exponent = trial % 4 == 2 ? sign * Int.random(in: 460...540, using: &g) : Int.random(in: -20...20, using: &g)
                let s = Double(sign: .plus, exponent: exponent, significand: 1)
                let constant = trial % 5 == 1 && j == 0
                let values = (0..<k).map { _ in constant ? 3.25 : (offset + Double.random(in: -1...1, using: &g)) * s }
                return { values[$0] }
            }
            let ca = (0..<d).map { column($0, 1) }, cb = (0..<e).map { column($0, -1) }
            let ga = Matrix(rows: k, columns: d) { ca[$1]($0) }, gb = Matrix(rows: k, columns: e) { cb[$1]($0) }
            let uncentred = trial % 6 == 3
            let (ha, hb) = uncentred ? (ga, gb) : (ga.subtractingColumnMeans, gb.subtractingColumnMeans)
            let product = ha.multiplied(by: hb, transposeSelf: true)
            let fast = FastIntervalMatrix.centredCrossProduct(centredA: ha, centredB: hb, product: product)
            let dropped = FastIntervalMatrix.centredCrossProduct(centredA: ha, centredB: hb, product: product, boundScale: 0)
            func centred(_ m: Matrix, _ j: Int) -> [Rational] {
                let column = (0..<k).map { Rational(exactly: m[$0, j])! }
                let mean = Rational.sum(column) / Rational(exactly: Double(k))!
                return column.map { $0 - mean }
            }
            func norm(_ m: Matrix, _ j: Int) -> Double {
                let top = (0..<k).reduce(0.0) { max($0, abs(m[$1, j])) }
                return top == 0 ? 0 : top * (0..<k).reduce(0.0) { $0 + (m[$1, j] / top) * (m[$1, j] / top) }.squareRoot()
            }
            for a in 0..<d {
                let x = centred(ga, a)
                for b in 0..<e {
                    let y = centred(gb, b)
                    let exact = Rational.sum((0..<k).map { x[$0] * y[$0] })
                    let f = fast[a, b]
                    #expect(f.lo.isFinite && f.hi.isFinite && Rational(exactly: f.lo)! <= exact && exact <= Rational(exactly: f.hi)!, "trial \(trial) [\(a),\(b)]: \(f)")
                    #expect(f.width <= 2e-10 * norm(ha, a) * norm(hb, b) + 1e-300, "trial \(trial) [\(a),\(b)]: \(f) too wide")
                    if !(Rational(exactly: dropped[a, b].lo)! <= exact && exact <= Rational(exactly: dropped[a, b].hi)!) { droppedMissed += 1 }
                    checked += 1
                    if uncentred { uncentredChecked += 1 }
                }
            }
        }
        #expect(checked > 300 && uncentredChecked > 20, "only \(checked) entries, \(uncentredChecked) with H = G")
        #expect(droppedMissed > 10, "without the bound the centred Gram should miss (missed \(droppedMissed))")
    }

    @Test func logSumExpContainsTheMPFRValue() throws {
        var g = SeededGenerator(seed: 15)
        var checked = 0
        for _ in 0..<2_000 {
            let scale = [1.0, 1e3, 1e-8, 700].randomElement(using: &g)!
            let xs = (0..<Int.random(in: 1...30, using: &g)).map { _ in Double.random(in: -1...1, using: &g) * scale }
            let fast = FastInterval.logSumExp(xs.map { FastInterval($0) })
            let mpfr = Interval.logSumExp(xs.map { Interval(exactly: $0)! })
            #expect(Self.encloses(fast.lo, fast.hi, mpfr))
            #expect(fast.width <= 1e-12 * max(1, abs(fast.midpoint)), "too wide: \(fast)")
            checked += 1
        }
        #expect(checked == 2_000)
    }

    /// The closed form for n ≤ 2 (Proofs/certificates.md §6, "Closed form") beside the contraction
    /// form, both against the exact solution at a corner of the box (conditions up to 10⁸, point
    /// and 10⁻¹² boxes); its widths within a small factor of the contraction's on point systems;
    /// shifted by one of its widths (a planted bug) it misses.
    @Test func closedFormSolveHoldsTheExactSolution() throws {
        var g = SeededGenerator(seed: 32)
        var compared = 0, plantedMissed = 0, widerThanContraction = 0.0
        for trial in 0..<600 {
            let n = 1 + trial % 2, m = 1 + trial % 3
            let condition = [1.0, 1e4, 1e8][(trial / 2) % 3]
            let mid = Matrix(rows: n, columns: n) { i, j in (i == j ? (i == 0 ? 1 : 1 / condition) : 0) + Double.random(in: -1...1, using: &g) / condition }
            let radius = (trial / 6) % 2 == 0 ? 0 : 1e-12
            let box = FastIntervalMatrix(rows: n, columns: n) { i, j in FastInterval(lo: mid[i, j] - radius * abs(mid[i, j]), hi: mid[i, j] + radius * abs(mid[i, j])) }
            let rhs = FastIntervalMatrix(Matrix(rows: n, columns: m) { _, _ in Double.random(in: -3...3, using: &g) })
            guard let closed = box.closedFormSolve(rhs), let contraction = box.contractionSolve(rhs),
                  let planted = box.closedFormSolve(rhs, planted: 1) else { continue }
            #expect(box.solving(rhs)?.entries == closed.entries)
            let corner = (0..<(n * n)).map { t in Rational(exactly: Bool.random(using: &g) ? box.entries[t].lo : box.entries[t].hi)! }
            let b = rhs.entries.map { Rational(exactly: $0.lo)! }
            for j in 0..<m {
                let exact: [Rational]
                if n == 1 { exact = [b[j] / corner[0]] } else {
                    let det = corner[0] * corner[3] - corner[1] * corner[2]
                    exact = [(corner[3] * b[j] - corner[1] * b[m + j]) / det, (corner[0] * b[m + j] - corner[2] * b[j]) / det]
                }
                for i in 0..<n {
                    for x in [closed[i, j], contraction[i, j]] {
                        #expect(Rational(exactly: x.lo)! <= exact[i] && exact[i] <= Rational(exactly: x.hi)!, "trial \(trial) [\(i),\(j)] \(x)")
                    }
                    let p = planted[i, j]
                    if !(Rational(exactly: p.lo)! <= exact[i] && exact[i] <= Rational(exactly: p.hi)!) { plantedMissed += 1 }
                    if radius == 0 { widerThanContraction = max(widerThanContraction, closed[i, j].width / contraction[i, j].width) }
                    compared += 1
                }
            }
        }
        #expect(compared > 1_000, "only \(compared) entries compared")
        #expect(plantedMissed > compared / 4, "the planted shift missed only \(plantedMissed) of \(compared)")
        #expect(widerThanContraction < 64, "the closed form up to \(widerThanContraction)× the contraction's width")
        // A determinant whose enclosure reaches 0: nil, whatever the contraction form then says.
        let singular = FastIntervalMatrix(Matrix(rows: 2, columns: 2) { _, j in j == 0 ? 1 : 2 })
        #expect(singular.closedFormSolve(FastIntervalMatrix(rows: 2, columns: 1) { _, _ in FastInterval(1) }) == nil)
        #expect(FastIntervalMatrix(rows: 1, columns: 1) { _, _ in FastInterval(lo: -1, hi: 1) }.closedFormSolve(FastIntervalMatrix(rows: 1, columns: 1) { _, _ in FastInterval(1) }) == nil)
    }

    /// The verified solve (Proofs/certificates.md §6) against exact rational solutions at points
    /// of the boxes, n = 1…9 with condition numbers up to 10⁸; singular, non-finite and
    /// overflowing systems give nil, never an enclosure.
    @Test func verifiedSolveHoldsTheExactSolution() throws {
        var g = SeededGenerator(seed: 31)
        var solved = 0
        for trial in 0..<120 {
            let n = 1 + trial % 9, m = 1 + trial % 3
            let condition = [1.0, 1e4, 1e8][trial % 3]
            let mid = Matrix(rows: n, columns: n) { i, j in (i == j ? (i == 0 ? 1 : 1 / condition) : 0) + Double.random(in: -1...1, using: &g) / condition }
            let radius = trial % 2 == 0 ? 0 : 1e-12
            let box = FastIntervalMatrix(rows: n, columns: n) { i, j in FastInterval(lo: mid[i, j] - radius * abs(mid[i, j]), hi: mid[i, j] + radius * abs(mid[i, j])) }
            let rhs = FastIntervalMatrix(Matrix(rows: n, columns: m) { _, _ in Double.random(in: -3...3, using: &g) })
            guard let x = box.solving(rhs) else { continue }
            // The exact solution at a corner of the box.
            let a = RationalMatrix(rows: n, columns: n) { i, j in Rational(exactly: Bool.random(using: &g) ? box[i, j].lo : box[i, j].hi)! }
            let solution = try Self.exactSolution(a, RationalMatrix(rows: n, columns: m) { i, j in Rational(exactly: rhs[i, j].lo)! })
            let largest = x.entries.reduce(0.0) { Swift.max($0, abs($1.midpoint)) }
            for i in 0..<n {
                for j in 0..<m {
                    let exact = solution[i, j]
                    #expect(Rational(exactly: x[i, j].lo)! <= exact && exact <= Rational(exactly: x[i, j].hi)!, "trial \(trial) [\(i),\(j)]")
                    // Point systems: about κ·u·‖x‖ wide, not the whole line.
                    if radius == 0 { #expect(x[i, j].width <= 1e4 * condition * 0x1p-53 * (largest + 1), "trial \(trial): \(x[i, j]) too wide") }
                }
            }
            solved += 1
        }
        #expect(solved >= 100, "only \(solved) systems solved")
        let one = FastIntervalMatrix(rows: 1, columns: 1) { _, _ in FastInterval(1) }
        let singular = FastIntervalMatrix(Matrix(rows: 2, columns: 2) { _, j in j == 0 ? 1 : 2 })
        #expect(singular.solving(FastIntervalMatrix(rows: 2, columns: 1) { _, _ in FastInterval(1) }) == nil)
        let unbounded = FastIntervalMatrix(rows: 2, columns: 2) { i, j in i == j ? FastInterval(1) : .entire }
        #expect(unbounded.solving(FastIntervalMatrix(rows: 2, columns: 1) { _, _ in FastInterval(1) }) == nil)
        // An inverse that overflows (entries near 10⁹⁰⁰): nil, not an infinite enclosure.
        let huge = FastIntervalMatrix(Matrix(rows: 2, columns: 2) { i, j in i == j ? 1e-300 : (j > i ? 1e300 : 0) })
        #expect(huge.solving(FastIntervalMatrix(rows: 2, columns: 1) { _, _ in FastInterval(1e300) }) == nil)
        #expect(one.solving(FastIntervalMatrix(rows: 1, columns: 1) { _, _ in FastInterval(.infinity) }) == nil)
    }

    /// D_r·M·D_c by powers of two: exact in the normal range, and where an end lands subnormal
    /// (rounded) pushed outward, so every value of the interval, scaled, is still enclosed.
    @Test func scalingByPowersOfTwoEnclosesTheScaledValues() throws {
        let ends: [(Double, Double)] = [(1, 1.5), (-3, 7), (1e-300, 3e-300), (-5e-310, 7e-310), (0x1.0000000000001p-1000, 0x1.0000000000003p-1000),
                                        (0, 0), (-2e300, -1e300), (1e300, 2e300)]
        // The same interval in two columns; each row and column its own shift.
        let m = FastIntervalMatrix(rows: ends.count, columns: 2) { i, _ in FastInterval(lo: ends[i].0, hi: ends[i].1) }
        var checked = 0, overflowed = 0
        for (rowShift, columnShifts) in [(0, [0, 0]), (-60, [-10, 5]), (40, [3, -2]), (-30, [0, 0])] {
            let rows = ends.indices.map { rowShift + ($0 % 2 == 0 ? 0 : 1) }
            let scaled = m.scaled(rows: rows, columns: columnShifts)
            for (i, (lo, hi)) in ends.enumerated() {
              for column in 0..<2 {
                let x = scaled[i, column], e = rows[i] + columnShifts[column]
                if lo.isFinite, abs(Double(sign: .plus, exponent: e, significand: lo)) == .infinity {
                    // An end beyond the range: the largest finite on its inner side, not ∞.
                    #expect(lo < 0 ? x.lo == -.infinity : x.lo == .greatestFiniteMagnitude, "\(ends[i]) × 2^\(e) gave \(x)")
                    overflowed += 1
                }
                // The scaled ends, exactly (rationals: a subnormal result is not a Double).
                let two = Rational(exactly: e >= 0 ? Double(sign: .plus, exponent: e, significand: 1) : 1)!
                    / Rational(exactly: e < 0 ? Double(sign: .plus, exponent: -e, significand: 1) : 1)!
                // An infinite end encloses on its side; a finite one is compared exactly.
                let below = x.lo == -.infinity || (x.lo.isFinite && Rational(exactly: x.lo)! <= Rational(exactly: lo)! * two)
                let above = x.hi == .infinity || (x.hi.isFinite && Rational(exactly: hi)! * two <= Rational(exactly: x.hi)!)
                #expect(below && above, "\(ends[i]) × 2^\(e) gave \(x)")
                if e == 0 { #expect(x == FastInterval(lo: lo, hi: hi)) }
                checked += 1
              }
            }
        }
        #expect(checked == 4 * 2 * ends.count && overflowed >= 2)
    }

    /// A⁻¹B by rational Gauss–Jordan (A nonsingular).
    static func exactSolution(_ a: RationalMatrix, _ b: RationalMatrix) throws -> RationalMatrix {
        var (a, b) = (a, b)
        let (n, m) = (a.rows, b.columns)
        for k in 0..<n {
            let p = try #require((k..<n).first { !a[$0, k].isZero })
            for j in 0..<n { (a[k, j], a[p, j]) = (a[p, j], a[k, j]) }
            for j in 0..<m { (b[k, j], b[p, j]) = (b[p, j], b[k, j]) }
            for r in 0..<n where r != k {
                let f = a[r, k] / a[k, k]
                for j in 0..<n { a[r, j] = a[r, j] - f * a[k, j] }
                for j in 0..<m { b[r, j] = b[r, j] - f * b[k, j] }
            }
        }
        return RationalMatrix(rows: n, columns: m) { i, j in b[i, j] / a[i, i] }
    }

    /// Exponents from a second moment's diagonal: −⌊log₂ Mⱼⱼ / 2⌋, 0 for 0 and non-finite entries.
    @Test func momentEquilibrationHalvesTheDiagonalsExponent() throws {
        let m = Matrix(rows: 6, columns: 6) { i, j in i == j ? [0.5, 2, 0x1p100, 0, .infinity, 0x1.8p-7][i] : 1 }
        #expect(m.momentEquilibration == [1, 0, -50, 0, 0, 4])
        #expect(Matrix.spread(m.momentEquilibration) == 54 && Matrix.spread([]) == 0)
    }

    /// A Gram of columns 2⁶⁰ apart: the plain solve is not shown nonsingular, the equilibrated
    /// one is, and holds the exact solution (also where it leaves the matrix as it is).
    @Test func equilibratedSolveHoldsTheExactSolution() throws {
        var g = SeededGenerator(seed: 32)
        var (solved, plainFailed) = (0, 0)
        for trial in 0..<60 {
            let n = 2 + trial % 5, spread = [0, 30, 60][trial % 3]
            let x = g.gaussianMatrix(rows: 3 * n, columns: n, scale: 1)
                .scalingColumns(byPowersOfTwo: (0..<n).map { $0 == 0 ? spread : $0 == n - 1 ? -spread / 2 : 0 })
            let gram = FastIntervalMatrix(x.gram())
            let rhs = FastIntervalMatrix(Matrix(rows: n, columns: 2) { _, _ in Double.random(in: -3...3, using: &g) })
            if spread == 60, gram.solving(rhs) == nil { plainFailed += 1 }
            let solution = try #require(gram.solvingEquilibrated(rhs), "trial \(trial): not shown nonsingular")
            let exact = try Self.exactSolution(RationalMatrix(rows: n, columns: n) { Rational(exactly: gram[$0, $1].lo)! },
                                               RationalMatrix(rows: n, columns: 2) { Rational(exactly: rhs[$0, $1].lo)! })
            for i in 0..<n {
                let largest = (0..<2).map { abs(exact[i, $0].doubleValue) }.max()!
                for j in 0..<2 {
                    #expect(Rational(exactly: solution[i, j].lo)! <= exact[i, j] && exact[i, j] <= Rational(exactly: solution[i, j].hi)!, "trial \(trial) [\(i),\(j)]")
                    // Narrow, not merely sound: about κ(DMD)·u of the row's entries.
                    #expect(solution[i, j].width <= 1e-6 * largest, "trial \(trial) [\(i),\(j)]: \(solution[i, j]) against \(exact[i, j].doubleValue)")
                }
            }
            solved += 1
        }
        #expect(solved == 60 && plainFailed >= 10, "\(solved) solved, the plain solve failed on \(plainFailed)")
    }
}
