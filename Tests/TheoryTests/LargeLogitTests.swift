import Foundation
import Numerics
import Testing
@testable import Measure
@testable import Theory

/// KL and d_logit at the edges of Double range (issue 14): values must stay right for
/// any finite logits, or say why not.
@Suite("KL and logit distance with huge logits")
struct LargeLogitTests {
    /// One input's logit differences near 10¹⁶⁰ square beyond the Double range in the pass, but its
    /// weight of 10⁻³⁰⁰ brings d_logit² to about 10¹⁹: it was shown as inf beside T6's certified
    /// value (an attack's pair); the exact value, formed within the exact level's size, is shown.
    @Test("A row whose squares overflow but whose weight brings d_logit² back: the exact value shown, not inf")
    func overflowingRowLightWeight() throws {
        var g = SeededGenerator(seed: 31)
        let f = g.gaussianMatrix(rows: 6, columns: 2), u = g.gaussianMatrix(rows: 3, columns: 2)
        var far = f
        far[5, 0] = 1e160
        far[5, 1] = 0
        let weights = [1, 2, 1, 3, 1, 1e-300]
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u, weights: weights), SoftmaxModel(embeddings: far, unembeddings: u, weights: weights))
        let measured = try PairMeasurement.measure(pair, options: PairMeasurement.Options())
        let exact = pair.exactLogitDistanceSquared().doubleValue
        #expect(exact.isFinite && exact > 1e15)
        #expect(measured.dLogitSquared == exact, "\(measured.dLogitSquared) against \(exact)")
        let t6 = try #require(measured.bounds.first { $0.id == "T6" })
        #expect(abs(t6.lhs - exact) <= 1e-12 * exact)
    }

    /// A teacher with moderate logits and, for each scale s, a student with F·s: the
    /// student's conditionals are one-hot (every row's top two logits are ≥ 800 apart
    /// at s ≥ 10⁷ for this seed, checked), so KL(B‖A)_x = lse(a_x) − a_x,m exactly, m
    /// the student's argmax. The streamed pass and the cancellation-free kernel
    /// both used to drop the labels whose p_B underflows (0.557 … 0 for 0.565).
    /// The kernel's KL on rows at every scale, the student the teacher plus 10⁻² of its scale:
    /// within 10⁻⁹ relative of the MPFR per-input enclosures. At logits near 10⁻¹⁵ it had taken D
    /// from the log-probabilities, whose rounding (10⁻¹⁶ against |log p| ≈ log k) buried
    /// differences of 10⁻¹⁷: KL 16 times its value under `--certify never`.
    @Test("The KL kernel against MPFR per input at logit scales 10⁻¹⁴⁰ … 10²", arguments: [1e-140, 1e-100, 1e-15, 1e-8, 1e-3, 1.0, 100.0])
    func klKernelAtEveryScale(scale: Double) throws {
        var g = SeededGenerator(seed: 64)
        let teacher = ModelGenerator.model(labels: 6, dimension: 3, inputs: 20, using: &g)
        let student = try SoftmaxModel(embeddings: Matrix(rows: 20, columns: 3) { i, j in teacher.embeddings[i, j] * (1 + 0.01 * g.gaussian()) },
                                       unembeddings: teacher.unembeddings)
        let scaled = { (m: SoftmaxModel) in try SoftmaxModel(embeddings: m.embeddings.scaled(byPowerOfTwo: Int(Foundation.log2(scale))), unembeddings: m.unembeddings) }
        let pair = try ModelPair(scaled(teacher), scaled(student))
        let reference = try pair.certifiedDivergence(bits: 256)
        let (la, lb) = (pair.first.embeddings.multiplied(by: pair.first.unembeddings, transposeOther: true),
                        pair.second.embeddings.multiplied(by: pair.second.unembeddings, transposeOther: true))
        var checked = 0
        for i in 0..<20 {
            let kernel = klDivergence(logitsP: (0..<6).map { la[i, $0] }, logitsQ: (0..<6).map { lb[i, $0] })
            let exact = reference.klPerInput[i].midpoint
            #expect(exact > 0 && abs(kernel - exact) <= 1e-9 * exact, "row \(i), scale \(scale): \(kernel) against \(reference.klPerInput[i])")
            checked += 1
        }
        #expect(checked == 20)
    }

    @Test("KL(B‖A) with a near one-hot student is right at scales 1e7 … 1e10")
    func reverseKLOfOneHotStudent() throws {
        var g = SeededGenerator(seed: 14)
        let n = 40, k = 6, d = 3
        let f = Matrix(rows: n, columns: d) { _, _ in g.gaussian() }
        let u = Matrix(rows: k, columns: d) { _, _ in g.gaussian() }
        let teacher = try SoftmaxModel(embeddings: f, unembeddings: u)
        let logits = f.multiplied(by: u, transposeOther: true)
        var checked = 0
        for scale in [1e7, 1e8, 1e9, 1e10] {
            let student = try SoftmaxModel(embeddings: scale * f, unembeddings: u)
            var expected = 0.0
            for i in 0..<n {
                let row = (0..<k).map { logits[i, $0] }
                let sorted = row.sorted(by: >)
                #expect((sorted[0] - sorted[1]) * scale > 800, "row \(i) is not one-hot at scale \(scale)")
                let m = row.firstIndex(of: sorted[0])!
                expected += (logSumExp(row) - row[m]) / Double(n)
            }
            // The stated accuracy: an absolute error of a few ε·max|logit| (forming b − a
            // rounds at that size), plus a relative 1e−9.
            let maxLogit = scale * logits.storage.map(abs).max()!
            let tolerance = 1e-9 * expected + 8 * Double.ulpOfOne * maxLogit
            let stats = try ModelPair(teacher, student).logitStatistics()
            #expect(abs(stats.reverseKL - expected) <= tolerance, "scale \(scale): \(stats.reverseKL) vs \(expected)")
            // The kernel alone, row by row.
            for i in 0..<n {
                let a = (0..<k).map { logits[i, $0] }, b = a.map { $0 * scale }
                let m = b.firstIndex(of: b.max()!)!
                let reference = logSumExp(a) - a[m]
                #expect(abs(klDivergence(logitsP: b, logitsQ: a) - reference) <= 1e-9 * reference + 8 * Double.ulpOfOne * maxLogit)
            }
            checked += 1
        }
        #expect(checked == 4)
    }

    /// At logits near 10¹⁴ … 10²⁰ the one-hot student's log p carries errors near ε·10²⁰ ≈ 10⁴,
    /// and log p_y + D_y at the labels p does not weigh used to pass them for mass of q (KL
    /// read ln k: 1.609 against 0.638). With log q taken as itself, both the kernel and the
    /// pair's statistics are right to 10⁻⁹ relative at every scale.
    @Test("KL(B‖A) of a one-hot student at logits up to 10²⁰: right to 1e−9 relative")
    func reverseKLAtHugeLogits() throws {
        var g = SeededGenerator(seed: 15)
        let n = 30, k = 5, d = 3
        let f = Matrix(rows: n, columns: d) { _, _ in g.gaussian() }
        let u = Matrix(rows: k, columns: d) { _, _ in g.gaussian() }
        let teacher = try SoftmaxModel(embeddings: f, unembeddings: u)
        let logits = f.multiplied(by: u, transposeOther: true)
        var rows = 0
        for scale in [1e14, 1e17, 1e20] {
            let student = try SoftmaxModel(embeddings: scale * f, unembeddings: u)
            var expected = 0.0
            for i in 0..<n {
                let a = (0..<k).map { logits[i, $0] }, b = a.map { $0 * scale }
                let m = b.firstIndex(of: b.max()!)!
                let reference = logSumExp(a) - a[m]
                expected += reference / Double(n)
                #expect(abs(klDivergence(logitsP: b, logitsQ: a) - reference) <= 1e-9 * reference, "scale \(scale), row \(i)")
                rows += 1
            }
            let stats = try ModelPair(teacher, student).logitStatistics()
            #expect(abs(stats.reverseKL - expected) <= 1e-9 * expected, "scale \(scale): \(stats.reverseKL) vs \(expected)")
        }
        #expect(rows == 90)
    }
}

/// A d_logit² beyond the Double range is shown from its exact value (issue 14).
/// log₁₀ of a value shown in scientific notation: "m.mmmmme±x" or "10^(y)".
func scientificLog10(_ s: String) -> Double {
    if s.hasPrefix("10^(") { return Double(s.dropFirst(4).dropLast())! }
    let parts = s.split(separator: "e")
    return Foundation.log10(Double(parts[0])!) + Double(parts[1])!
}

@Suite("Exact values beyond the Double range")
struct WideValueTests {
    @Test("The pivot form of orbit pairs at 10⁻⁸⁰ … 10⁻¹⁵⁰ is at rounding level, as at scale 1 (it had been near E‖f_A‖²)")
    func pivotFormAtTinyScale() throws {
        var checked = 0
        for scale in [1.0, 1e-80, 1e-100, 1e-150] {
            var g = SeededGenerator(seed: 66)
            let m = ModelGenerator.model(labels: 10, dimension: 3, inputs: 300, using: &g)
            let f = Matrix(rows: 300, columns: 3) { i, j in m.embeddings[i, j] * scale }, u = Matrix(rows: 10, columns: 3) { i, j in m.unembeddings[i, j] * scale }
            let teacher = try SoftmaxModel(embeddings: f, unembeddings: u)
            let orbit = ModelGenerator.doubledOrbitImage(teacher)
            let measured = try PairMeasurement.measure(try ModelPair(teacher, orbit), options: PairMeasurement.Options(certification: .never))
            let second = teacher.weightedEmbeddings.frobeniusNormSquared
            let mean = try #require(measured.dRepPivot.mean)
            #expect(measured.dRepPivot.pairsUsed > 0 && mean <= 1e-20 * second, "scale \(scale): d_rep,pivot² = \(mean) against E‖f_A‖² = \(second)")
            checked += 1
        }
        #expect(checked == 4)
    }

    /// Sides below the normal range keep few bits as Doubles: a certified T3 at logits near
    /// 10⁻³²⁰ showed 2.7668e-322 ≤ 8.0533e-322, ratio 0.343558 for 0.344641. Shown from their
    /// logarithms instead, and the ratio taken from those.
    /// Orbit pairs formed in Double with embeddings scaled 10^±140 (unembeddings the inverse): the
    /// exact d_unemb² or d_rep² lies below the normal range, where its Double has few digits. The
    /// distance shown had been the root of the Double residual (an attack's d_unemb 1.14·10⁻¹⁵⁵
    /// for an exact 6.78·10⁻¹⁵⁶); it is now the exact square's root.
    @Test("d_rep and d_unemb whose exact squares lie below the normal range: shown from the exact square", arguments: [140.0, -140.0])
    func distancesFromSubnormalSquares(exponent: Double) throws {
        var checked = 0
        for seed in UInt64(0)..<6 {
            var g = SeededGenerator(seed: 6400 + seed)
            let (n, k, d) = (12, 5, 3)
            let f = Matrix(rows: n, columns: d) { _, _ in g.gaussian() * Foundation.pow(10, exponent) }
            let u = Matrix(rows: k, columns: d) { _, _ in g.gaussian() * Foundation.pow(10, -exponent) }
            var map = g.gaussianMatrix(rows: d, columns: d)
            for j in 0..<d { map[j, j] += 2 }
            let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u),
                                     SoftmaxModel(embeddings: f.multiplied(by: map), unembeddings: u.multiplied(by: LUDecomposition(map).inverse().transposed)))
            let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true))
            let exact = try pair.exact()
            for (name, shown, square) in [("d_unemb", m.dUnembAB, try exact.unembeddingDissimilaritySquared()),
                                          ("d_rep A←B", m.dRepAB, try exact.representationDissimilaritySquared())] {
                guard !square.isZero, !square.doubleValue.isNormal, let root = PairMeasurement.squareRoot(square) else { continue }
                let value = try #require(shown, "\(name) not shown")
                #expect(abs(value - root) <= 1e-12 * root, "seed \(seed), 10^\(exponent): \(name) \(value) against the exact \(root)")
                checked += 1
            }
        }
        #expect(checked >= 4, "\(checked) squares below the normal range")
    }

    @Test("A subnormal side is shown from its logarithm, and the ratio from the logarithms")
    func subnormalSides() {
        let (a, b) = (-322 + Foundation.log10(2.77949), -322 + Foundation.log10(8.06488))
        let v = Verdict(id: .T3, form: "f", level: .exact, outcome: .holds, lhs: 2.77949e-322, rhs: 8.06488e-322,
                        constant: 1, constantName: "", lhsLog10: a, rhsLog10: b)
        #expect(abs(v.ratio - 2.77949 / 8.06488) < 1e-12 && abs(2.77949e-322 / 8.06488e-322 - 2.77949 / 8.06488) > 1e-4, "\(v.ratio)")
        let bound = PairMeasurement.Bound(v)
        #expect(bound.lhsScientific == "2.77949e-322" && bound.rhsScientific == "8.06488e-322",
                "\(bound.lhsScientific ?? "-") \(bound.rhsScientific ?? "-")")
    }

    @Test("Certified ends in scientific notation round outward: a lower end never above its value, an upper never below")
    func directedScientific() {
        var g = SeededGenerator(seed: 670)
        let shown = scientificLog10
        var checked = 0, moved = 0
        for _ in 0..<3000 {
            // (Not near 10¹²: there 8 ulps of l exceed a unit of the sixth digit, and nothing is checked.)
            let magnitude = [3.0, 400, 1e4, 1e6, 1e9, 1e16, 1e150, 1e300][g.int(in: 0...7)]
            let l = g.uniform(in: -1...1) * magnitude
            let down = Rational.scientific(log10: l, digits: 6, rounding: .down), up = Rational.scientific(log10: l, digits: 6, rounding: .up)
            let nearest = Rational.scientific(log10: l, digits: 6)
            // To within the precision of l itself (and of the test's own logarithms).
            let slack = 8 * max(l.ulp, Double.ulpOfOne)
            #expect(shown(down) <= l + slack && shown(up) >= l - slack, "\(l): \(down) … \(up)")
            // One unit of the sixth digit apart at most: 10⁻⁵ of the mantissa, or of the exponent beyond 10¹⁵.
            let unit = abs(l) >= 1e15 ? 1e-5 * abs(l) * 1.0001 : Foundation.log10(1 + 1.0001e-5)
            #expect(shown(up) - shown(down) <= unit + slack, "\(l): \(down) … \(up)")
            if down != nearest || up != nearest { moved += 1 }
            checked += 1
        }
        #expect(checked == 3000 && moved > 1000, "\(moved) of \(checked) moved off the nearest")
        // The cases the audit found: the exponent's digits and a mantissa just above its nearest.
        #expect(Rational.scientific(log10: 7.86358734673e150, digits: 6, rounding: .down) == "10^(7.86358e+150)")
        #expect(Rational.scientific(log10: 7.86358734673e150, digits: 6, rounding: .up) == "10^(7.86359e+150)")
        #expect(Rational.scientific(log10: -7.86358734673e150, digits: 6, rounding: .down) == "10^(-7.86359e+150)")
        #expect(Rational.scientific(log10: 617 + Foundation.log10(1.0318894), digits: 6, rounding: .down) == "1.03188e+617")
        // Across a decade the last place is x's own (it had shown 10^(9.99990e+150)).
        #expect(Rational.scientific(log10: 9.999996e150, digits: 6, rounding: .down) == "10^(9.99999e+150)")
        #expect(Rational.scientific(log10: -9.999996e150, digits: 6, rounding: .up) == "10^(-9.99999e+150)")
        // A certified verdict's sides: "holds" shows the left side up and the right down, "violated" the reverse.
        // Sides m·10⁻³²² (subnormal Doubles, so shown from their logarithms).
        func sides(_ outcome: Outcome, _ left: Double, _ right: Double) -> (String?, String?) {
            let v = Verdict(id: .T3, form: "f", level: .exact, outcome: outcome, lhs: left * 1e-322, rhs: right * 1e-322, constant: 1,
                            constantName: "", lhsLog10: Foundation.log10(left) - 322, rhsLog10: Foundation.log10(right) - 322)
            let bound = PairMeasurement.Bound(v)
            return (bound.lhsScientific, bound.rhsScientific)
        }
        #expect(sides(.holds, 2.779494, 8.064875) == ("2.77950e-322", "8.06487e-322"))
        #expect(sides(.violated, 8.064875, 2.779494) == ("8.06487e-322", "2.77950e-322"))
    }

    @Test("T3 and T4 whose right sides lie beyond the Double range: shown from their logarithms, outward, not as the largest Double")
    func rightSidesBeyondRange() throws {
        var g = SeededGenerator(seed: 671)
        let teacher = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: 10, columns: 2), unembeddings: g.gaussianMatrix(rows: 4, columns: 2))
        let student = try teacher.with(embeddings: Matrix(rows: 10, columns: 2) { _, _ in 1.7e308 })
        let m = try PairMeasurement.measure(try ModelPair(teacher, student), options: PairMeasurement.Options(skipPivot: true, certification: .auto))
        func log10(_ s: String?) -> Double? { s.map(scientificLog10) }
        var checked = 0
        for b in m.bounds where b.id == "T3" || b.id == "T4" {
            #expect(b.certified && b.outcome == "holds", "\(b.id): \(b.outcome) \(b.level)")
            let (left, right) = (try #require(log10(b.lhsScientific)), try #require(log10(b.rhsScientific)))
            #expect(right > 616 && left <= right && abs((left - right) - Foundation.log10(b.ratio)) < 1e-4, "\(b.id): \(b.lhsScientific ?? "-") against \(b.rhsScientific ?? "-")")
            checked += 1
        }
        #expect(checked == 2)
    }

    @Test("At logits near 10²¹⁰: T12's curve from logarithms where its squares overflow, and a KL that underflows is said to")
    func widthFloorAndKLBeyondRange() throws {
        var g = SeededGenerator(seed: 672)
        let f = 1e150 * g.gaussianMatrix(rows: 48, columns: 3), u = 1e60 * g.gaussianMatrix(rows: 8, columns: 3)
        let teacher = try SoftmaxModel(embeddings: f, unembeddings: u)
        var near = f
        for i in near.storage.indices { near.storage[i] *= 1 + 1e-15 * g.gaussian() }
        let pair = try ModelPair(teacher, try teacher.with(embeddings: near))
        let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .auto))
        let curve = try #require(m.widthFloorCurve), scientific = try #require(m.widthFloorCurveScientific)
        #expect(curve.contains { !$0.isFinite } && scientific.count == curve.count)
        // The same teacher scaled by 2⁻⁷⁰⁰: its floor times 2¹⁴⁰⁰.
        let scaled = try WidthFloor(try teacher.with(embeddings: f.scaled(byPowerOfTwo: -700)))
        for (width, text) in scientific.enumerated() {
            let small = scaled.floor(width: width + 1)
            guard small > 0 else { #expect(text == "0"); continue }
            let shown = scientificLog10(text)
            #expect(abs(shown - (Foundation.log10(small) + 1400 * Foundation.log10(2.0))) < 1e-5, "width \(width + 1): \(text)")
        }
        #expect(m.klAB == 0 && m.notes.contains { $0.hasPrefix("a KL lies below the normal Double range") }, "\(m.klAB) \(m.notes)")
    }

    @Test("The Procrustes distance of embeddings equal up to rotation and scale is at rounding, not 10⁻⁸")
    func procrustesNearZero() throws {
        var g = SeededGenerator(seed: 673)
        let f = g.gaussianMatrix(rows: 60, columns: 3)
        let (c, s) = (0.8, 0.6)
        let rotation = try Matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        let weights = [Double](repeating: 1.0 / 60, count: 60)
        let orbit = try SimilarityMeasures(f, f.scaled(byPowerOfTwo: 1), weights: weights)
        let rotated = try SimilarityMeasures(f, 3 * f.multiplied(by: rotation), weights: weights)
        #expect((orbit.procrustesDistance ?? 1) < 1e-14, "\(orbit.procrustesDistance ?? .nan)")
        #expect((rotated.procrustesDistance ?? 1) < 1e-14, "\(rotated.procrustesDistance ?? .nan)")
        // Away from 0 the nuclear-norm form is kept: a different model is far.
        let other = try SimilarityMeasures(f, g.gaussianMatrix(rows: 60, columns: 3), weights: weights)
        #expect((other.procrustesDistance ?? 0) > 0.1)
    }

    @Test("Scientific notation of rationals at any magnitude, and measure's d_logit² above 1e308")
    func scientific() throws {
        #expect(Rational(447, 100).scientificString(digits: 3) == "4.47e+0")
        let huge = Rational(exactly: 0x1p1000)! * Rational(exactly: 0x1p1000)!     // 2²⁰⁰⁰ ≈ 1.148e+602
        #expect(huge.scientificString(digits: 4) == "1.148e+602")
        #expect((Rational.one / huge).scientificString(digits: 4) == "8.710e-603")
        #expect(Rational.scientific(log10: 4.343e154) == "10^(4.343e+154)")
        #expect(Rational.scientific(log10: .nan) == "nan" && Rational.scientific(log10: .infinity) == "inf")
        // Logits near 1e155: d_logit² ≈ 7e310 overflows, and is reported exactly.
        let f = try Matrix([[1e155, 0], [0, 1e155], [3e154, -2e154]])
        let g = try Matrix([[1, 0], [0, 1], [-1, -1]])
        let a = try SoftmaxModel(embeddings: f, unembeddings: g)
        let b = try SoftmaxModel(embeddings: 0.1 * f, unembeddings: g)
        let pair = try ModelPair(a, b)
        let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .auto))
        let exact = pair.exactLogitDistanceSquared()
        #expect(!exact.doubleValue.isFinite)
        #expect(m.dLogitSquaredExact == exact.scientificString(digits: PairMeasurement.exactDigits))
        #expect(m.dLogitSquaredExact?.contains("e+310") == true, "\(m.dLogitSquaredExact ?? "nil")")
        #expect(!m.bounds.contains { $0.outcome == "violated" && !$0.certified })
        // Certified rows whose sides overflow a Double show them from the exact/enclosed
        // value, with a finite ratio, never inf/inf or NaN.
        var shown = 0
        for b in m.bounds where b.certified && b.outcome != "inapplicable" {
            #expect(b.ratio.isFinite, "\(b.id) \(b.form): ratio \(b.ratio)")
            #expect(b.lhs.isFinite || b.lhsScientific != nil, "\(b.id) \(b.form): left \(b.lhs)")
            #expect(b.rhs.isFinite || b.rhsScientific != nil, "\(b.id) \(b.form): right \(b.rhs)")
            if b.lhsScientific != nil || b.rhsScientific != nil { shown += 1 }
        }
        #expect(shown >= 1, "this pair's right sides overflow: \(m.bounds.map { "\($0.id) \($0.lhs) \($0.rhs)" })")
        // T6 per input: KL_x / τ_x² is e^{≈4·10¹⁵⁵}, beyond MPFR's exponent range. The log-space
        // comparison used to "certify" it from a log right side whose lower end was NaN (every
        // KL_x enclosure reaching down to 0); it is undecided until KL_x is bounded away from 0.
        let perInput = m.bounds.filter { $0.id == "T6" && $0.form.contains("E_x") }
        #expect(perInput.count == 2)
        #expect(perInput.allSatisfy { $0.outcome != "violated" && !($0.note ?? "").contains("nan") },
                "\(perInput.map { "\($0.form): \($0.outcome) \($0.note ?? "-")" })")
    }
}

@Suite("T6's global forms at huge logits")
struct GlobalT6Tests {
    /// Embeddings at 10⁶ (near one-hot everywhere): every direct KL_x enclosure reaches down to 0
    /// (a KL of e^−10⁵ or less beside probabilities near 1), so the log of the right side had
    /// lower end −∞. These rows were once "certified holds" from a NaN lower end (MPFR compares NaN
    /// as equal); then undecided; now the relative-accuracy KL (Proofs/certificates.md §5) bounds
    /// every KL_x away from 0 and each form is certified from enclosures with finite ends.
    @Test("T6 on a small pair with logits near 10⁶: certified in MPFR from finite enclosures, never from an undefined one")
    func globalFormsCertified() throws {
        var g = SeededGenerator(seed: 90)
        let f = 1e6 * g.gaussianMatrix(rows: 60, columns: 3), u = g.gaussianMatrix(rows: 6, columns: 3)
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u), SoftmaxModel(embeddings: 1.001 * f, unembeddings: u))
        let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .auto))
        let t6 = m.bounds.filter { $0.id == "T6" }
        #expect(t6.count == 4 && t6.allSatisfy { $0.outcome == "holds" && $0.certified && $0.level == "enclosure (MPFR)" },
                "\(t6.map { "\($0.form): \($0.outcome) \($0.level)" })")
        let enclosed = try pair.certifiedDivergence()
        #expect(enclosed.klPerInput.allSatisfy { $0.isPositive && !$0.hasNaN && $0.upper.isFinite }, "\(enclosed.klPerInput.prefix(3))")
        for form in T6KLBound.Form.allCases {
            let v = try T6KLBound(form).certify(pair)
            let why = v.certificate ?? ""
            #expect(v.outcome == .holds && !why.contains("nan") && !why.contains("-inf"), "\(form): \(why)")
        }
    }
}

/// A right side far beyond the Double range: 1/τ² ≈ e^{10⁹} at logits near 10⁹ (the fast
/// level's enclosure saturates at 1.8·10³⁰⁸), and e^{10³⁰¹} at logits near 10³⁰⁰ (beyond even
/// MPFR's exponents: its enclosure is [max, +∞]). Both were certified "holds" and shown as
/// 1.7977e+308 and inf; each now carries the right side's magnitude from its logarithm.
@Suite("T6's right side beyond the Double range")
struct T6BeyondRangeTests {
    static func pair(scale: Double, seed: UInt64, perturbation: Double = 0.1) throws -> ModelPair {
        var g = SeededGenerator(seed: seed)
        let f = g.gaussianMatrix(rows: 30, columns: 3), u = g.gaussianMatrix(rows: 6, columns: 3)
        let f2 = f + perturbation * g.gaussianMatrix(rows: 30, columns: 3), u2 = u + perturbation * g.gaussianMatrix(rows: 6, columns: 3)
        return try ModelPair(SoftmaxModel(embeddings: scale * f, unembeddings: u), SoftmaxModel(embeddings: scale * f2, unembeddings: u2))
    }

    /// Logits near 10⁹ (1/τ² ≈ e^{10¹⁰}), and near 400 with models 10⁻⁷ apart (KL ≈ 10⁻⁹: the
    /// product KL·1/τ² kept a finite lower end, 5.6·10²⁹¹, shown as the value of a right side near
    /// 10²⁵⁴⁰). The global forms' logarithms agree with MPFR's comparison of logarithms to 10⁻³
    /// decades; the per-input forms' (from the largest term) lie below it.
    @Test("Fast level, 1/τ² beyond the Double range: every form shows its right side from its logarithm, a lower bound on MPFR's",
          arguments: [(1e9, 0.1), (400, 1e-7)])
    func fastLevel(scale: Double, perturbation: Double) throws {
        let pair = try Self.pair(scale: scale, seed: 91, perturbation: perturbation)
        var checked = 0
        for form in T6KLBound.Form.allCases {
            // The fast level's own verdict (measure shows MPFR's magnitude for a pair this small).
            let b = PairMeasurement.Bound(try #require(try T6KLBound(form).fastCertify(pair), "\(form): not decided fast"))
            #expect(b.outcome == "holds" && b.level == "fast enclosure", "\(form): \(b.outcome) \(b.level)")
            let shown = try #require(b.rhsScientific, "\(form): right side \(b.rhs) with no scientific form")
            let log10 = try Self.log10(of: shown)
            // MPFR's comparison in logarithms encloses the same right side.
            var why = ""
            let exact = try #require(try T6KLBound(form).certifyInLogSpace(pair, exactLHS: pair.exactLogitDistanceSquared(), failure: &why))
            let upper = try #require(exact.rhsLog10)
            #expect(log10 > 500 && log10 <= upper + 1e-3, "\(form): \(shown) against 10^\(upper)")
            if !form.isPerInput { #expect(abs(log10 - upper) <= 1e-3, "\(form): \(shown) against 10^\(upper)") }
            // left/right from the logarithms too (it underflowed to 0).
            let ratio = try #require(b.ratioScientific, "\(form): ratio \(b.ratio)")
            #expect(b.ratio == 0 && ratio.contains("e-") && !ratio.contains("inf"), "\(form): \(ratio)")
            checked += 1
        }
        #expect(checked == 4)
    }

    /// Logits near 10⁹ one ulp apart, k = 2 and 3, d = 1 and 2: KL_x ≈ e^{−10⁹}·10⁻¹⁵ lay below
    /// MPFR's default exponent range, so the per-input sharp form was undecided ("right side ∈
    /// [1.3e−15, inf]").
    @Test("Logits near 10⁹ one ulp apart: every T6 form certified in MPFR", arguments: [(2, 1), (3, 1), (2, 2)])
    func oneUlpAtBillion(k: Int, d: Int) throws {
        var g = SeededGenerator(seed: 93)
        let f = 1e9 * g.gaussianMatrix(rows: 5, columns: d), u = g.gaussianMatrix(rows: k, columns: d)
        var f2 = f
        for i in 0..<f.rows { f2[i, 0] = f[i, 0].nextUp }
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u), SoftmaxModel(embeddings: f2, unembeddings: u))
        var checked = 0
        for form in T6KLBound.Form.allCases {
            let v = try T6KLBound(form).certify(pair)
            #expect(v.outcome == .holds && v.isCertified, "k = \(k), d = \(d), \(form): \(v.outcome) \(v.certificate ?? "")")
            checked += 1
        }
        #expect(checked == 4)
    }

    /// Within the exact level's size, a T6 verdict the fast level decides with 1/τ beyond the
    /// Double range is shown from MPFR's comparison of logarithms (the fast per-input forms'
    /// lower ends were loose: 10²⁷⁴ shown for 10³⁶⁷).
    @Test("measure, small pair with 1/τ beyond the Double range: every T6 form's right side is MPFR's magnitude")
    func measureShowsMPFRMagnitude() throws {
        let pair = try Self.pair(scale: 300, seed: 94)
        let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .auto))
        var checked = 0
        for form in T6KLBound.Form.allCases {
            let b = try #require(m.bounds.first { $0.id == "T6" && $0.form == T6KLBound(form).form })
            var why = ""
            let logs = try #require(try T6KLBound(form).certifyInLogSpace(pair, exactLHS: pair.exactLogitDistanceSquared(), failure: &why), "\(why)")
            #expect(b.outcome == "holds" && b.level == "enclosure (MPFR)" && b.rhsScientific == PairMeasurement.Bound(logs).rhsScientific,
                    "\(form): \(b.level) \(b.rhsScientific ?? "\(b.rhs)") against \(PairMeasurement.Bound(logs).rhsScientific ?? "-")")
            checked += 1
        }
        #expect(checked == 4)
    }

    /// A merge of shards at logits near 10⁹: one run shows the per-input forms' right sides from
    /// the largest term's logarithm, but partials did not carry it, so a merge showed the
    /// saturated 1.8·10³⁰⁸. They carry it now, and the merge shows one run's fast magnitude.
    @Test("Merged shards at logits near 10⁹: the per-input T6 forms show one run's magnitude, from the logarithms the partials carry")
    func mergeCarriesLogarithms() throws {
        let pair = try Self.pair(scale: 1e9, seed: 91)
        let options = PairMeasurement.Options(skipPivot: true, certification: .auto)
        let parts = try ShardMergeTests.statistics(pair.first, pair.second, cuts: [0, 11, 30], rawWeights: nil, options: options)
        let merged = try MeasureStatistics.merge(parts, names: ["a", "b"]).measurement()
        var checked = 0
        for form in T6KLBound.Form.allCases where form.isPerInput {
            let b = try #require(merged.bounds.first { $0.id == "T6" && $0.form == T6KLBound(form).form })
            let one = PairMeasurement.Bound(try #require(try T6KLBound(form).fastCertify(pair)))
            let (x, y) = (try Self.log10(of: try #require(b.rhsScientific, "\(form): \(b.rhs)")), try Self.log10(of: try #require(one.rhsScientific)))
            #expect(b.outcome == "holds" && b.level == "fast enclosure" && y > 1e8 && abs(x - y) <= 1e-3,
                    "\(form): merged \(b.rhsScientific ?? "-"), one run \(one.rhsScientific ?? "-")")
            checked += 1
        }
        #expect(checked == 2)
    }

    /// A merge kept one copy of identical shard notes, so two shards that each recomputed 15 KL
    /// rows said 15 (one run: 30); and it dropped the note that a KL shown as 0 underflowed.
    @Test("Merged at logits near 10⁹: the recomputed KL rows add up over shards, and the KL underflow note is kept, as in one run")
    func mergedNotesAsOneRun() throws {
        // Models 3·10⁻¹⁰ apart at logits near 10⁹: logits about 0.3 apart, every KL below 10⁻³⁰⁸.
        let pair = try Self.pair(scale: 1e9, seed: 91, perturbation: 3e-10)
        let options = PairMeasurement.Options(skipPivot: true, certification: .auto)
        let one = try PairMeasurement.measure(pair, options: options).notes
        let parts = try ShardMergeTests.statistics(pair.first, pair.second, cuts: [0, 15, 30], rawWeights: nil, options: options)
        let merged = try MeasureStatistics.merge(parts, names: ["a", "b"]).measurement().notes
        let counts = parts.map { $0.notes.compactMap(PairMeasurement.recomputedRows).reduce(0, +) }
        let total = try #require(one.compactMap(PairMeasurement.recomputedRows).first)
        #expect(counts.count == 2 && counts.allSatisfy { $0 > 0 } && counts.reduce(0, +) == total, "\(counts) against \(total)")
        #expect(merged.compactMap(PairMeasurement.recomputedRows) == [total], "\(merged)")
        let underflow = { (notes: [String]) in notes.contains { $0.hasPrefix("a KL lies below the normal Double range") } }
        #expect(underflow(one) && underflow(merged), "one run \(underflow(one)), merged \(underflow(merged))")
    }

    /// Rows where every p_y but the largest underflows: the fast KL_x enclosure is [0, tiny], and
    /// the two-label bound (Proofs/certificates.md §5, "Below the Double range") must lie below
    /// MPFR's log KL_x on every such row (and, at k = 2, within 4 of it: one pair of labels is all
    /// there is).
    @Test("Rows whose KL_x underflows: the two-label lower bound on log KL_x lies below MPFR's log KL_x",
          arguments: [(1e9, 3e-10, 6), (1e9, 3e-10, 2), (1e3, 1e-3, 6)])
    func logKLLowerBelowMPFR(scale: Double, perturbation: Double, labels: Int) throws {
        var g = SeededGenerator(seed: 95)
        let f = scale * g.gaussianMatrix(rows: 30, columns: 3), u = g.gaussianMatrix(rows: labels, columns: 3)
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u),
                                 SoftmaxModel(embeddings: f + (scale * perturbation) * g.gaussianMatrix(rows: 30, columns: 3), unembeddings: u))
        let rows = try #require(FastLogitSums.rowEnclosures(pair))
        let mpfr = try pair.certifiedDivergence().klPerInput
        var checked = 0
        for (i, row) in rows.enumerated() where !(row.klFirstSecond.lo > 0) {
            let truth = try mpfr[i].log()
            #expect(row.logKLFirstSecondLower <= truth.lower, "row \(i): \(row.logKLFirstSecondLower) above MPFR's \(truth.lower)")
            if labels == 2 { #expect(row.logKLFirstSecondLower >= truth.lower - 4, "row \(i): \(row.logKLFirstSecondLower) against \(truth.lower)") }
            checked += 1
        }
        #expect(checked >= 20, "\(checked) rows with KL_x below the Double range")
    }

    /// The same rows in a merge of shards, which has no MPFR: every T6 form was "not decided"
    /// (right side 0); each is now certified fast, its right side at most MPFR's.
    @Test("Merged shards where every KL_x underflows: all four T6 forms certified fast, each right side at most MPFR's")
    func mergeWhereKLUnderflows() throws {
        let pair = try Self.pair(scale: 1e9, seed: 91, perturbation: 3e-10)
        let options = PairMeasurement.Options(skipPivot: true, certification: .auto)
        let parts = try ShardMergeTests.statistics(pair.first, pair.second, cuts: [0, 11, 30], rawWeights: nil, options: options)
        let merged = try MeasureStatistics.merge(parts, names: ["a", "b"]).measurement()
        var checked = 0
        for form in T6KLBound.Form.allCases {
            let b = try #require(merged.bounds.first { $0.id == "T6" && $0.form == T6KLBound(form).form })
            var why = ""
            let logs = try #require(try T6KLBound(form).certifyInLogSpace(pair, exactLHS: pair.exactLogitDistanceSquared(), failure: &why), "\(why)")
            let upper = try #require(logs.rhsLog10)
            let shown = try Self.log10(of: try #require(b.rhsScientific, "\(form): \(b.outcome) \(b.rhs)"))
            #expect(b.outcome == "holds" && b.level == "fast enclosure" && shown > 1e8 && shown <= upper + 1e-3,
                    "\(form): \(b.outcome) \(b.level) 10^\(shown) against MPFR's 10^\(upper)")
            checked += 1
        }
        #expect(checked == 4)
    }

    /// log₁₀ of a side shown in scientific form, "m.mmme+E" or "10^(x)".
    static func log10(of shown: String) throws -> Double {
        if shown.hasPrefix("10^(") { return try #require(Double(shown.dropFirst(4).dropLast())) }
        let parts = shown.split(separator: "e+")
        return try #require(Double(parts.last ?? "")) + Foundation.log10(try #require(Double(parts.first ?? "")))
    }

    /// Teacher at 10³⁰⁰ against a student at 1 (KL ≈ 10³⁰⁰: the logarithms decide and give the
    /// magnitude), and both at 10³⁰⁰ (every KL_x below MPFR's range: shown by the enclosure's
    /// lower end, MPFR's largest number, about 10^(1.4·10¹⁸)). Either way the shown right side is
    /// at most an independent upper estimate, log₁₀ KL + c·(max logit gap + log k)/ln 10 with
    /// c = 2 for 1/τ², 1 for 2/τ (−log τ_x is at most the row's logit gap plus log k), and with the
    /// student at 1 within 10⁻⁹ of it.
    @Test("MPFR level at logits near 10³⁰⁰: every form certified, with a right side in scientific form above the left, never inf",
          arguments: [true, false])
    func mpfrLevel(studentAtOne: Bool) throws {
        let scaled = try Self.pair(scale: 1e300, seed: 92)
        let pair = try ModelPair(scaled.first, studentAtOne ? Self.pair(scale: 1, seed: 92).second : scaled.second)
        var gap = 0.0
        for model in [pair.first, pair.second] {
            let logits = model.embeddings.multiplied(by: model.unembeddings, transposeOther: true)
            for i in 0..<logits.rows {
                let row = (0..<logits.columns).map { logits[i, $0] }
                gap = max(gap, row.max()! - row.min()!)
            }
        }
        var checked = 0
        for form in T6KLBound.Form.allCases {
            let v = try T6KLBound(form).certify(pair)
            let b = PairMeasurement.Bound(v)
            #expect(v.outcome == .holds && v.isCertified, "\(form): \(v.outcome)")
            let shown = try #require(b.rhsScientific, "\(form): right side \(b.rhs)")
            // The shown form has 4 digits; the verdict carries the log₁₀ itself.
            let (left, right) = (try Self.log10(of: try #require(b.lhsScientific)), try #require(v.rhsLog10))
            let estimate = 302 + (form.isSharp ? 1 : 2) * (gap + Foundation.log(6)) / Double.ln10
            #expect(left > 599 && right > left && right <= estimate * (1 + 1e-12), "\(form): \(shown) against \(b.lhsScientific ?? ""), estimate 10^\(estimate)")
            if studentAtOne { #expect(shown.hasPrefix("10^(") && abs(right / estimate - 1) < 1e-9, "\(form): \(shown), estimate 10^\(estimate)") }
            checked += 1
        }
        #expect(checked == 4)
    }
}

/// Logits between 10¹⁵⁴ and 10³⁰⁸: d_logit² overflows a Double, d_logit, KL and log τ do not.
/// The screen showed d_logit = inf, KL = nan and log τ = nan, with a note saying the logits
/// leave the Double range (stop 53's review).
@Suite("Logits whose squares overflow")
struct SquaresOverflowTests {
    /// A teacher whose F reaches 1.7·10³⁰⁸ (its logits overflow): T7's screen fails on the
    /// teacher's logits ("singular values: entry (0, 0) is not finite"), which made every T7
    /// form inapplicable. A teacher whose F is near 10⁻³⁰⁰: the screen's μ_{d₂} underflows to 0
    /// and it called the corollary inapplicable ("the teacher's centred logits span fewer than d₂
    /// directions", false). The exact and MPFR levels need no Doubles and decide every form, μ
    /// bracketed on scaled moments. The student is the teacher's F unscaled: ρ = 1, T7 holds.
    @Test("T7 where the teacher's logits overflow or its μ underflows: the exact level decides every form",
          arguments: [1.7e308, 1e-300])
    func t7BeyondTheScreen(scale: Double) throws {
        let (f1, g1, _, _) = ExtremeScaleTests.models(seed: 261)
        let teacher = try SoftmaxModel(embeddings: (scale / f1.maxAbs) * f1, unembeddings: g1)
        let pair = try ModelPair(teacher, SoftmaxModel(embeddings: f1, unembeddings: g1))
        let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .auto))
        let t7 = m.bounds.filter { $0.id == "T7" }
        #expect(t7.count == 3)
        if scale > 1 {
            #expect(t7.contains { ($0.note ?? "").contains("screen failed") })
        } else {
            // The screen's μ_{d₂} underflows to 0; it asks the exact level whether μ_{d₂} > 0 and
            // says "not decided" (it had said "inapplicable").
            let screened = try T7CanonicalCorrelationBound(.corollary, centred: false).screen(pair.swapped)
            #expect(screened.outcome == .undecided && screened.certificate?.contains("positive exactly") == true,
                    "\(screened.outcome): \(screened.certificate ?? "")")
        }
        for b in t7 {
            #expect(b.outcome == "holds" && b.certified && ["exact", "enclosure (MPFR)"].contains(b.level), "\(b.form): \(b.outcome) \(b.level) \(b.note ?? "")")
        }
    }

    /// Logits near 10³¹⁰ (f and g × 10¹⁵⁵) with a student 30 % off: KL and log τ lie beyond the
    /// Double range, and at 1 024 bits their MPFR enclosures cancel to [0, ∞]: KL was shown as inf
    /// (its enclosure printed "[0.0, inf]"), and T6's right side as MPFR's saturated
    /// 10^(1.4·10¹⁸). MPFR now runs at the logits' own magnitude (`divergencePrecision`, 1 280
    /// bits here) and the values beyond the range are shown in scientific notation.
    @Test("Logits near 10³¹⁰: KL and log τ from MPFR at the logits' magnitude, in scientific notation; their enclosures' ends too")
    func divergenceBeyondTheRange() throws {
        var g = SeededGenerator(seed: 55)
        let (n, k, d) = (40, 6, 3)
        let f = g.gaussianMatrix(rows: n, columns: d), u = g.gaussianMatrix(rows: k, columns: d)
        let f2 = f + 0.3 * g.gaussianMatrix(rows: n, columns: d)
        let pair = try ModelPair(SoftmaxModel(embeddings: 1e155 * f, unembeddings: 1e155 * u),
                                 SoftmaxModel(embeddings: 1e155 * f2, unembeddings: 1e155 * u))
        #expect(try pair.certifiedDivergence(bits: 1024).klForward.relativeWidth > 1e-6, "1 024 bits resolve KL here: the test does not bite")
        let bits = pair.divergencePrecision
        let e = try pair.certifiedDivergence(bits: bits)
        #expect(bits > 1024 && e.klForward.relativeWidth <= 1e-6 && e.klBackward.relativeWidth <= 1e-6, "\(bits) bits: \(e.klForward)")
        let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .auto))
        let shown = try #require(m.divergenceScientific)
        var checked = 0
        for (name, text, value, enclosure) in [("KL(A‖B)", shown.klAB, m.klAB, e.klForward), ("KL(B‖A)", shown.klBA, m.klBA, e.klBackward),
                                               ("log τ(A)", shown.logTauA, m.logTauA, e.logTauFirst), ("log τ(B)", shown.logTauB, m.logTauB, e.logTauSecond)] {
            let text = try #require(text, "\(name): no scientific value")
            #expect(value.isInfinite, "\(name) = \(value)")
            // "m.mmme+EEE" against the enclosure's ends, both read back as log₁₀|x|.
            func log10Magnitude(_ s: Substring) -> Double? {
                let parts = s.trimmingCharacters(in: CharacterSet(charactersIn: "[] -")).split(separator: "e")
                guard parts.count == 2, let a = Double(parts[0]), let b = Double(parts[1]) else { return nil }
                return Foundation.log10(a) + b
            }
            let ends = enclosure.description.split(separator: ",").compactMap(log10Magnitude)
            let mid = try #require(log10Magnitude(Substring(text)))
            #expect(ends.count == 2 && ends.allSatisfy { abs($0 - mid) < 1e-8 } && mid > 308, "\(name): \(text) against \(enclosure)")
            #expect(text.hasPrefix("-") == name.hasPrefix("log"), "\(name): \(text)")
            checked += 1
        }
        #expect(checked == 4)
        // T6 decided. Its right side's logarithm (near 7.6·10³¹⁰ here) is itself beyond the Double
        // range: what is shown is a certified lower bound, the largest a Double logarithm holds,
        // 10^(7.8·10³⁰⁷) (it had been MPFR's saturated 10^(1.4·10¹⁸)).
        let t6 = m.bounds.filter { $0.id == "T6" }
        #expect(t6.count == 4 && t6.allSatisfy { $0.outcome == "holds" && $0.rhsScientific.map { $0.contains("e+307") } == true },
                "\(t6.map { "\($0.outcome) \($0.rhsScientific ?? "")" })")
        // An ordinary pair: nothing beyond the range.
        let plain = try PairMeasurement.measure(try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u), SoftmaxModel(embeddings: f2, unembeddings: u)),
                                                options: PairMeasurement.Options(skipPivot: true, certification: .auto))
        #expect(plain.divergenceScientific == nil && plain.klAB.isFinite)
    }

    @Test("--certify never: d_logit from the rescaled pass, KL and log τ finite and inside their MPFR enclosures")
    func rescaledDistance() throws {
        var g = SeededGenerator(seed: 54)
        let n = 40, k = 6, d = 3
        let f = g.gaussianMatrix(rows: n, columns: d), u = g.gaussianMatrix(rows: k, columns: d)
        // A student 30 % off, so that some rows change their argmax and KL is ~10¹⁹⁹, not ≈ 0.
        let f2 = f + 0.3 * g.gaussianMatrix(rows: n, columns: d)
        let pair = try ModelPair(SoftmaxModel(embeddings: 1e100 * f, unembeddings: 1e100 * u),
                                 SoftmaxModel(embeddings: 1e100 * f2, unembeddings: 1e100 * u))
        let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .never))
        let exact = pair.exactLogitDistanceSquared()
        #expect(exact.log10Magnitude > 390 && m.dLogitSquaredExact == nil)
        let root = try #require(PairMeasurement.squareRoot(exact))
        #expect(abs(m.dLogit / root - 1) < 1e-12, "d_logit \(m.dLogit) against \(root) from the exact value")
        let shown = try #require(m.dLogitSquaredRescaled, "d_logit² is shown from the rescaled pass")
        #expect(shown == exact.reportString, "\(shown) against \(exact.reportString)")
        #expect(m.notes.contains { $0.hasPrefix("d_logit² = \(shown): the pass's sums of squared logit differences overflow") })
        #expect(!m.notes.contains { $0.contains("leave the Double range") }, "\(m.notes)")
        // The pass's d_logit² is +∞, not NaN (∞·0 in the kernel's masked tail slots at k = 6), so
        // the screen decides T3 (its right side overflows) instead of comparing with NaN.
        #expect(pair.logitStatistics().logitDistanceSquared == .infinity)
        #expect(m.bounds.first { $0.id == "T3" }?.outcome == "holds", "\(m.bounds.map { "\($0.id) \($0.outcome)" })")
        // At 128 and 256 bits the KL enclosures still reach down to 0 at these logits.
        let e = try pair.certifiedDivergence(bits: 1024)
        var checked = 0
        for (name, value, enclosure) in [("KL(A‖B)", m.klAB, e.klForward), ("KL(B‖A)", m.klBA, e.klBackward),
                                         ("log τ(A)", m.logTauA, e.logTauFirst), ("log τ(B)", m.logTauB, e.logTauSecond)] {
            #expect(value.isFinite && abs(value) > 1e190, "\(name) = \(value)")
            #expect(enclosure.width <= 1e-12 * abs(enclosure.upper), "\(name): \(enclosure) is not tight")
            #expect(abs(value - enclosure.midpoint) <= 1e-9 * abs(enclosure.midpoint), "\(name) = \(value) outside \(enclosure)")
            checked += 1
        }
        #expect(checked == 4)
        // Certified, the exact d_logit² is beside a d_logit that the Double holds.
        let certified = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .always))
        #expect(certified.dLogitSquaredExact == exact.scientificString(digits: PairMeasurement.exactDigits) && certified.dLogitSquaredRescaled == nil)
        #expect(abs(certified.dLogit / root - 1) < 1e-15, "\(certified.dLogit)")
    }

    /// The teacher's F near 2⁻⁵⁰⁵ and G near 2¹⁰²⁰, the student's F near 2⁵¹⁵ (logits near 2⁵¹⁵
    /// both), with unequal weights: a bound that took the largest F of one model and the largest
    /// G of the other asked for a scaling by 2⁻¹⁰⁴⁰ and gave up (review of stop 54).
    @Test("--certify never: d_logit from the rescaled pass for models at scales far apart, with weights")
    func rescaledDistanceScalesApart() throws {
        var g = SeededGenerator(seed: 541)
        let n = 30, k = 5, d = 2
        let f = g.gaussianMatrix(rows: n, columns: d), u = g.gaussianMatrix(rows: k, columns: d)
        let f2 = f + 0.3 * g.gaussianMatrix(rows: n, columns: d)
        let w = (0..<n).map { _ in 0.5 + g.uniform() }
        let pair = try ModelPair(SoftmaxModel(embeddings: 0x1p-505 * f, unembeddings: 0x1p1020 * u, weights: w),
                                 SoftmaxModel(embeddings: 0x1p515 * f2, unembeddings: u, weights: w))
        let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .never))
        let exact = pair.exactLogitDistanceSquared()
        #expect(exact.log10Magnitude > 309, "\(exact.scientificString())")
        #expect(abs(2 * Foundation.log10(m.dLogit) - exact.log10Magnitude) < 1e-12, "d_logit \(m.dLogit) against 10^(\(exact.log10Magnitude / 2))")
        #expect(m.dLogitSquaredRescaled == exact.reportString)
        // Six significant digits, as measure shows its Doubles.
        #expect(m.dLogitSquaredRescaled?.range(of: #"^[1-9]\.[0-9]{5}e[+-][0-9]+$"#, options: .regularExpression) != nil)
    }

    /// One row's squared differences sum past the Double range while the weighted mean fits
    /// (2a² = 3.2·10³⁰⁸ in one of four rows): d_logit² was shown as inf with a note that it
    /// overflows (stop 54's attack: 3.3·10³⁰⁷ shown as inf).
    @Test("--certify never: a d_logit² that fits a Double though the pass's row sums overflow is shown as a number")
    func rescaledSquareFits() throws {
        let a = 0x1p511 * 1.9   // a² ≈ 1.6·10³⁰⁸, 2a² ≈ 3.2·10³⁰⁸ in row 0, d_logit² ≈ 8.1·10³⁰⁷
        let g = try Matrix([[1], [-1]])
        let pair = try ModelPair(SoftmaxModel(embeddings: try Matrix([[a], [0], [0], [0]]), unembeddings: g),
                                 SoftmaxModel(embeddings: try Matrix([[0], [0], [0], [0]]), unembeddings: g))
        #expect(pair.logitStatistics().logitDistanceSquared == .infinity)
        let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .never))
        let expected = 2 * a * (a / 4)
        #expect(abs(m.dLogitSquared / expected - 1) < 1e-15 && m.dLogitSquaredRescaled == nil, "\(m.dLogitSquared) against \(expected)")
        #expect(abs(m.dLogit / (expected.squareRoot()) - 1) < 1e-15)
    }

    @Test("the square root of an exact value beyond the range, at the range's ends")
    func squareRootBeyondRange() throws {
        let big = Rational(exactly: 0x1p1000)! * Rational(exactly: 0x1p1000)! * Rational(9)   // (3·2¹⁰⁰⁰)²
        #expect(PairMeasurement.squareRoot(big) == 3 * 0x1p1000)
        let small = Rational(exactly: 0x1p-1000)! * Rational(exactly: 0x1p-70)!               // (2⁻⁵³⁵)²
        #expect(PairMeasurement.squareRoot(small) == 0x1p-535)
        let beyond = Rational(exactly: 0x1p1000)! * Rational(exactly: 0x1p1000)! * Rational(exactly: 0x1p100)!
        #expect(PairMeasurement.squareRoot(beyond) == nil && PairMeasurement.squareRoot(.zero) == nil)
        // Not squares: within two roundings of √r, in the normal range and below it.
        let two = try #require(PairMeasurement.squareRoot(Rational(2)))
        #expect(abs(two - 2.0.squareRoot()) <= 2 * 2.0.squareRoot().ulp, "\(two)")
        let tiny = Rational(3) * Rational(exactly: 0x1p-1000)! * Rational(exactly: 0x1p-1000)! * Rational(exactly: 0x1p-100)!  // 3·2⁻²¹⁰⁰
        let root = try #require(PairMeasurement.squareRoot(tiny))
        #expect(abs(root / Double(sign: .plus, exponent: -1050, significand: 3.0.squareRoot()) - 1) < 1e-6, "\(root)")
    }
}

@Suite("Embeddings near the Double range")
struct HugeEmbeddingTests {
    /// Embeddings and unembeddings of size 10⁷⁷ (logits ~10¹⁵⁴, d_logit² ~10³⁰⁹): measure
    /// wrote d_logit "nan" and linear CKA "nan" (inf/inf in the Grams). Now d_logit² is +∞
    /// with its exact value beside it, and the scale-invariant measures equal those of the
    /// same pair scaled down by 10⁷⁷.
    @Test("d_logit² beyond the Double range is +∞ (exact value beside it), CKA, Procrustes and SVCCA as at a small scale")
    func hugeEmbeddings() throws {
        var g = SeededGenerator(seed: 88)
        let f = g.gaussianMatrix(rows: 40, columns: 3), u = g.gaussianMatrix(rows: 6, columns: 3)
        let f2 = f + g.gaussianMatrix(rows: 40, columns: 3)
        func pair(_ s: Double) throws -> ModelPair {
            try ModelPair(SoftmaxModel(embeddings: s * f, unembeddings: s * u), SoftmaxModel(embeddings: s * f2, unembeddings: s * u))
        }
        var options = PairMeasurement.Options(certification: .always)
        options.skipPivot = true
        let huge = try PairMeasurement.measure(pair(1e77), options: options)
        #expect(huge.dLogitSquared == .infinity && huge.dLogitSquaredExact?.hasSuffix("e+309") == true,
                "\(huge.dLogitSquared) \(huge.dLogitSquaredExact ?? "-")")
        // d_logit itself fits: √ of the exact d_logit², not +∞.
        let exactSquare = try pair(1e77).exactLogitDistanceSquared()
        #expect(abs(2 * Foundation.log10(huge.dLogit) - exactSquare.log10Magnitude) < 1e-12, "d_logit \(huge.dLogit)")
        let small = try PairMeasurement.measure(pair(1), options: options)
        for (name, a, b) in [("CKA", huge.linearCKA, small.linearCKA), ("Procrustes", huge.procrustesDistance, small.procrustesDistance),
                             ("SVCCA", huge.svcca, small.svcca)] {
            let (x, y) = (try #require(a, "\(name)"), try #require(b, "\(name)"))
            #expect(abs(x - y) <= 1e-12, "\(name): \(x) at 10⁷⁷ vs \(y)")
        }
    }
}

/// Embeddings and unembeddings scaled apart (F/s, G·s: the same logits) or both into the
/// subnormal range: every distance of `measure` must match the unscaled pair's (scaled
/// as it should be), never throw, NaN or a false "not full column rank" (issue 26's
/// second audit: σ_min(G̃) wrong for |G| ≳ 10⁷⁷, a false rank verdict at 10¹⁵⁴, and
/// subnormal embeddings exiting with "singular values: entry (0, 0) is not finite").
@Suite("Distances at the ends of the Double range")
struct ExtremeScaleTests {
    static func models(seed: UInt64) -> (Matrix, Matrix, Matrix, Matrix) {
        var g = SeededGenerator(seed: seed)
        return (g.gaussianMatrix(rows: 60, columns: 3), g.gaussianMatrix(rows: 7, columns: 3),
                g.gaussianMatrix(rows: 60, columns: 3), g.gaussianMatrix(rows: 7, columns: 3))
    }

    static func measure(embeddingScale e: Double, unembeddingScale u: Double) throws -> PairMeasurement {
        let (f1, g1, f2, g2) = models(seed: 260)
        var options = PairMeasurement.Options(certification: .auto)
        options.skipPivot = true
        return try PairMeasurement.measure(ModelPair(SoftmaxModel(embeddings: e * f1, unembeddings: u * g1),
                                                     SoftmaxModel(embeddings: e * f2, unembeddings: u * g2)), options: options)
    }

    /// The teacher's F times 2ᵗ and its G times 2⁻ᵗ, the student's by 2ᵘ and 2⁻ᵘ (the logits
    /// unchanged): d_rep(A←B) scales by 2ᵗ, d_rep(B←A) by 2ᵘ, d_unemb by 2⁻ᵗ. The least squares
    /// scaled both sides by the one power that suited X, which sent Y to ∞ (d_unemb 0, d_rep(B←A)
    /// ∞; stop 53's review); with the models scaled in opposite directions the maps themselves
    /// over- or underflowed (d_rep(B←A) 4× low, d_unemb 5 % off, exit 0; stop 54's attack), so
    /// the residuals now apply the maps' powers after the products.
    @Test("Models scaled apart by powers of two: d_rep and d_unemb as the equivariance says, on both routes",
          arguments: [(-1020, 0, ModelPair.Routes.automatic), (0, -1020, .automatic), (600, -600, .automatic), (-600, 600, .automatic),
                      (1000, -1000, .automatic), (-400, 0, .largeScale), (0, -400, .largeScale)])
    func modelsScaledApart(teacher t: Int, student u: Int, routes: ModelPair.Routes) throws {
        let (f1, g1, f2, g2) = Self.models(seed: 262)
        func power(_ p: Int) -> Double { Double(sign: .plus, exponent: p, significand: 1) }
        func measured(_ t: Int, _ u: Int) throws -> PairMeasurement {
            let a = try SoftmaxModel(embeddings: power(t) * f1, unembeddings: power(-t) * g1)
            let b = try SoftmaxModel(embeddings: power(u) * f2, unembeddings: power(-u) * g2)
            return try PairMeasurement.measure(ModelPair(a, b, routes: routes), options: PairMeasurement.Options(skipPivot: true, certification: .never))
        }
        // The language-model route needs G̃ᵀG̃, which overflows at 2¹⁰²⁰: it refuses, with the rescaling
        // that avoids it (a typed error).
        if routes == .largeScale {
            #expect { _ = try measured(2 * t + (t == 0 ? 0 : -220), 2 * u + (u == 0 ? 0 : -220)) } throws: { "\($0)".contains("Gram G̃ᵀG̃ overflows the Double range") }
            // …and F the other way, its moments E f fᵀ (an eigendecomposition met ∞ there; stop 54).
            #expect { _ = try measured(t == 0 ? 0 : 600, u == 0 ? 0 : 600) } throws: {
                "\($0)".contains("second moments E f fᵀ: it overflows the Double range") && "\($0)".contains("scale that model's F down")
            }
        }
        let (scaled, plain) = (try measured(t, u), try measured(0, 0))
        var checked = 0
        for (name, value, reference, p) in [("d_rep(A←B)", scaled.dRepAB, plain.dRepAB, t), ("d_rep(B←A)", scaled.dRepBA, plain.dRepBA, u),
                                            ("d_unemb", scaled.dUnembAB, plain.dUnembAB, -t)] {
            let (x, y) = (try #require(value, "\(name)"), try #require(reference, "\(name)"))
            let expected = Double(sign: .plus, exponent: p, significand: y)
            #expect(abs(x / expected - 1) < 1e-12, "\(name) \(x) against \(expected)")
            checked += 1
        }
        #expect(checked == 3)
        // The a priori error notes (`--certify never`) are formed as at scale 1: no NaN, no
        // "entirely wrong" beside correct values (stop 54's attack).
        #expect(!scaled.notes.contains { $0.contains("nan") || $0.contains("entirely wrong") }, "\(scaled.notes)")
    }

    @Test("Singular values of a matrix scaled by 2^±600 and into the subnormal range are the unscaled ones, scaled",
          arguments: [0x1p600, 0x1p-600, 0x1p-1060, 0x1p1000])
    func singularValuesAtScale(scale: Double) throws {
        var g = SeededGenerator(seed: 261)
        for shape in [(7, 3), (40, 20)] {    // Jacobi (≤ 16) and LAPACK
            let a = g.gaussianMatrix(rows: shape.0, columns: shape.1)
            let reference = try a.singularValues()
            let scaled = try (scale * a).singularValues()
            try #require(scaled.count == reference.count && reference.count == min(shape.0, shape.1), "\(scaled.count) values")
            for (x, y) in zip(scaled, reference) {
                if scale >= 0x1p-1000 {
                    // A power of two scaled out exactly: the same input, the same values.
                    #expect(x / scale == y, "\(shape) at \(scale): \(x / scale) vs \(y)")
                } else {
                    // Subnormal entries keep about 14 bits: Weyl's bound ~2⁻¹⁵√(mn)·σ₁.
                    #expect(abs(x / scale - y) <= 1e-4 * reference[0], "\(shape) at \(scale): \(x / scale) vs \(y)")
                }
            }
        }
    }

    @Test("F/s, G·s for s = 10⁷⁷ and 10¹⁵⁴: T3 and T4 decided and agreeing with s = 1, d_unemb and d_rep scaled exactly")
    func unembeddingsScaledApart() throws {
        let base = try Self.measure(embeddingScale: 1, unembeddingScale: 1)
        for s in [1e77, 1e154] {
            let m = try Self.measure(embeddingScale: 1 / s, unembeddingScale: s)
            for id in [StatementID.T3, .T4] {
                let (a, b) = (try #require(m.bounds.first { $0.id == id.rawValue }), try #require(base.bounds.first { $0.id == id.rawValue }))
                #expect(a.holds == true && a.certified, "\(id) at \(s): \(a.outcome) \(a.note ?? "")")
                #expect(abs(a.ratio / b.ratio - 1) < 1e-11, "\(id) ratio at \(s): \(a.ratio) vs \(b.ratio)")
            }
            let dUnemb = try #require(m.dUnembAB), dRep = try #require(m.dRepAB)
            #expect(abs(dUnemb / (s * base.dUnembAB!) - 1) < 1e-14, "d_unemb at \(s): \(dUnemb)")
            #expect(abs(dRep * s / base.dRepAB! - 1) < 1e-14, "d_rep at \(s): \(dRep)")
            // The unbiased CKA is scale-free too (its fourth powers overflowed at 10⁷⁷).
            #expect(abs(try #require(m.linearCKAUnbiased) - base.linearCKAUnbiased!) < 1e-12)
        }
    }

    /// T5's Jacobi σ_min(L₁) squared column norms overflowed for |G| ≳ 10⁷⁷ (a wrong worst
    /// pair, reported certified) and 10¹⁵⁴ (every L₁ "singular").
    @Test("T5 per pair on F/s, G·s for s = 10⁷⁷ and 10¹⁵⁴: the same worst pair and ratio as s = 1")
    func pivotBoundScaledApart() throws {
        let (f1, g1, f2, g2) = Self.models(seed: 260)
        func screen(_ s: Double) throws -> Verdict {
            try T5PivotBound(.subsetSum).screen(ModelPair(SoftmaxModel(embeddings: (1 / s) * f1, unembeddings: s * g1),
                                                          SoftmaxModel(embeddings: (1 / s) * f2, unembeddings: s * g2)))
        }
        let base = try screen(1)
        try #require(base.outcome == .holds)
        for s in [1e77, 1e154] {
            let v = try screen(s)
            #expect(v.outcome == .holds && v.constantName == base.constantName,
                    "at \(s): \(v.outcome) \(v.constantName) vs \(base.constantName)")
            #expect(abs(v.ratio / base.ratio - 1) < 1e-10, "at \(s): ratio \(v.ratio) vs \(base.ratio)")
        }
    }

    /// F × 2^p, G × 2^−p on the first model and the reverse on the second leave every logit and
    /// every ratio r(p,S)·σ_min(L₁)² as they are, but r and σ_min² leave the Double range. The
    /// worst pair was chosen by Double ratios (0/0 or ∞ on every pair), so the certified verdict
    /// was the first pair scanned, not the worst.
    @Test("T5 per pair certified on models scaled apart by 2^±600: the worst pair and ratio of the unscaled pair",
          arguments: [600, -600])
    func pivotBoundCertifiedScaledApart(power: Int) throws {
        let (f1, g1, f2, g2) = Self.models(seed: 261)
        let (first, second) = (try SoftmaxModel(embeddings: f1, unembeddings: g1), try SoftmaxModel(embeddings: f2, unembeddings: g2))
        let pair = try ModelPair(first, second)
        let apart = try ModelPair(ConceptTests.scaled(first, power), ConceptTests.scaled(second, -power))
        var checked = 0
        for form in [T5PivotBound.Form.allLabels, .subsetSum] {
            let (a, b) = (try T5PivotBound(form).certify(pair), try T5PivotBound(form).certify(apart))
            #expect(b.isCertified && b.outcome == a.outcome && b.constantName == a.constantName,
                    "\(form): \(b.outcome) at \(b.constantName) vs \(a.outcome) at \(a.constantName)")
            #expect(abs(b.ratio / a.ratio - 1) < 1e-9, "\(form): ratio \(b.ratio) vs \(a.ratio)")
            checked += 1
        }
        #expect(checked == 2)
        // Within the range (2^±200, and both models' F × 2^200 alone, which scales the logits) the
        // balanced pair's terms, scaled back with their own powers, are the pair's own: r(p,S),
        // σ_min(L₁) and the subset sum.
        let within = [try ModelPair(ConceptTests.scaled(first, 200 * power.signum()), ConceptTests.scaled(second, -200 * power.signum())),
                      try ModelPair(SoftmaxModel(embeddings: f1.scaled(byPowerOfTwo: 200), unembeddings: g1),
                                    SoftmaxModel(embeddings: f2.scaled(byPowerOfTwo: 200), unembeddings: g2))]
        var compared = 0
        for (index, scaledPair) in within.enumerated() {
            let statement = T5PivotBound(.subsetSum)
            let chosen = try ModelPair.pivotSubsets(statement.selection, labelCount: 7, dimension: 3).pairs
            let (balanced, balance) = try #require(T5PivotBound.balancing(scaledPair))
            let plain = statement.unbalancedTerms(scaledPair, chosen).terms
            let back = statement.unbalancedTerms(balanced, chosen).terms.map { T5PivotBound.PairTerms(balanced: $0, balance) }
            #expect(plain.count == back.count && plain.count > 20)
            for (x, y) in zip(plain, back) {
                #expect(x.pair == y.pair && abs(y.residual / x.residual - 1) < 1e-9 && abs(y.sigmaMin / x.sigmaMin - 1) < 1e-12
                        && abs(y.logitSum / x.logitSum - 1) < 1e-12, "\(index) \(x.pair): \(y.residual), \(y.sigmaMin), \(y.logitSum) vs \(x.residual), \(x.sigmaMin), \(x.logitSum)")
                compared += 1
            }
        }
        #expect(compared > 40)
    }

    /// The teacher's F × 2^−600 and the student's G × 2^−600: every r(p,S) near 10⁻³⁶⁰. A single
    /// run names the mean from the balanced pair; a merge of shards, whose partials carry r in
    /// Double on the models as given, showed a mean of 0 unmarked.
    @Test("A merge whose pivot residuals all underflow: the mean is marked, not a plain 0")
    func mergedPivotUnderflowIsMarked() throws {
        let (f1, g1, f2, g2) = Self.models(seed: 261)
        let (a, b) = (try SoftmaxModel(embeddings: f1.scaled(byPowerOfTwo: -600), unembeddings: g1),
                      try SoftmaxModel(embeddings: f2, unembeddings: g2.scaled(byPowerOfTwo: -600)))
        let options = PairMeasurement.Options(certification: .never)
        let merged = try ShardMergeTests.merged(a, b, cuts: [0, 30, 60], options: options).dRepPivot
        #expect(merged.mean.map { !$0.isNormal } == true && merged.note?.contains("below the normal Double range") == true, "\(merged)")
        let single = try PairMeasurement.measure(ModelPair(a, b), options: options).dRepPivot
        // Beyond the range the mean is its Double (here 0 or subnormal) beside its scientific form,
        // as a bound's side beyond the range (it was left out of the JSON, its value only in the note).
        // The scientific form's exponent is below the normal range's (about 10⁻³⁰⁸).
        let exponent = single.meanScientific?.split(separator: "e").last.flatMap { Int($0) }
        #expect(single.mean.map { !$0.isNormal } == true && exponent.map { $0 < -307 } == true
                && single.note?.contains("lies beyond the normal Double range") == true, "\(single)")
    }

    /// A ranking key that is not a number (0·∞ in a side) is the worst, whatever the order: max(by:)
    /// kept a NaN key where it came first and passed it over where it came later.
    @Test("T5's ranking: a key that is not a number is ranked worst")
    func notANumberKeyIsWorst() throws {
        let statement = T5PivotBound(.allLabels)
        let ordinary = T5PivotBound.PairTerms(pair: PivotSubset(pivot: 0, subset: [1, 2]), residual: 1, sigmaMin: 1, logitSum: 1)
        let unknown = T5PivotBound.PairTerms(pair: PivotSubset(pivot: 1, subset: [0, 2]), residual: 0, sigmaMin: .infinity, logitSum: 1)
        for terms in [[ordinary, unknown], [unknown, ordinary]] {
            #expect(statement.worstPair(terms, labels: 3, logitDistanceSquared: 1)?.pair == unknown.pair)
        }
    }

    /// With only the teacher scaled (F × 2^p, G × 2^−p), r(p,S) scales by 2^2p: at p = −600 every r
    /// underflowed and the pivot mean was 0, "exhaustive" and unmarked, its tail's cond(L₁)
    /// taken at arbitrary pairs (207 for 621).
    @Test("The pivot form with the teacher alone scaled by 2^±300 and 2^±600: as unscaled, times 2^2p, or named beyond the range",
          arguments: [300, -300, 600, -600])
    func pivotFormScaled(power: Int) throws {
        let (f1, g1, f2, g2) = Self.models(seed: 261)
        let (first, second) = (try SoftmaxModel(embeddings: f1, unembeddings: g1), try SoftmaxModel(embeddings: f2, unembeddings: g2))
        let options = PairMeasurement.Options(certification: .never)
        let (a, b) = (try PairMeasurement.measure(ModelPair(first, second), options: options).dRepPivot,
                      try PairMeasurement.measure(ModelPair(ConceptTests.scaled(first, power), second), options: options).dRepPivot)
        let (mean, condition) = (try #require(a.mean), try #require(a.largestCondition))
        #expect(abs(try #require(b.largestCondition) / condition - 1) < 1e-9 && b.topShare == a.topShare
                && b.pairsUsed == a.pairsUsed, "cond \(String(describing: b.largestCondition)) vs \(condition)")
        let expected = Double(sign: .plus, exponent: 2 * power, significand: mean)
        if expected.isNormal {
            #expect(abs(try #require(b.mean) / expected - 1) < 1e-9, "mean \(String(describing: b.mean)) vs \(expected)")
        } else {
            let shown = Rational.report(log10: mean.log / Double.ln10 + Double(2 * power) * Double.log10Of2)
            #expect(b.mean == expected && b.meanScientific == shown && b.note?.contains(shown) == true,
                    "\(String(describing: b.mean)), \(b.note ?? "no note"): \(shown)")
        }
    }

    /// The teacher's F alone × 2^−p (its logits far below the student's): r(p,S) ≈ E‖A f₂‖², of
    /// ordinary size. Balancing brought F₁ near 1 and the student's logits up by 2^p, so r
    /// overflowed on the balanced pair: from p = 508 the pivot form was dropped ("overflows …
    /// scale that model's F down") and T5 moved off its worst pair.
    @Test("Teacher's F alone × 2^−p, p = 400 … 1000: the pivot mean and T5's pair as at p = 400")
    func teacherEmbeddingsAloneSmall() throws {
        let (f1, g1, f2, g2) = Self.models(seed: 261)
        let student = try SoftmaxModel(embeddings: f2, unembeddings: g2)
        func measured(_ p: Int) throws -> (mean: Double?, pair: String?) {
            let m = try PairMeasurement.measure(ModelPair(SoftmaxModel(embeddings: f1.scaled(byPowerOfTwo: -p), unembeddings: g1), student),
                                                options: PairMeasurement.Options(certification: .auto))
            return (m.dRepPivot.mean, m.bounds.first { $0.id == "T5" }?.note)
        }
        let reference = try measured(400)
        let mean = try #require(reference.mean)
        var checked = 0
        for p in [508, 510, 600, 1000] {
            let (m, pair) = try measured(p)
            #expect(abs(try #require(m, "p = \(p)") / mean - 1) < 1e-12 && pair == reference.pair && pair?.contains("at the pair") == true,
                    "p = \(p): \(String(describing: m)) at \(pair ?? "-") vs \(mean) at \(reference.pair ?? "-")")
            checked += 1
        }
        #expect(checked == 4)
    }

    /// Terms carried by shard partials are finite, but r(p,S)·σ_min(L₁)² need not be: with every r
    /// × 2^700 and every σ × 2^200 the product was +∞ on every pair and the first pair was "worst".
    @Test("T5's worst pair from terms whose products overflow: ranked from logarithms, as unscaled")
    func pivotRankingBeyondTheProducts() throws {
        let (f1, g1, f2, g2) = Self.models(seed: 261)
        let pair = try ModelPair(SoftmaxModel(embeddings: f1, unembeddings: g1), SoftmaxModel(embeddings: f2, unembeddings: g2))
        var checked = 0
        for form in [T5PivotBound.Form.allLabels, .subsetSum] {
            let statement = T5PivotBound(form)
            let terms = try statement.cachedTerms(pair, exhaustive: false).terms
            let large = terms.map { T5PivotBound.PairTerms(pair: $0.pair, residual: $0.residual * 0x1p700, sigmaMin: $0.sigmaMin * 0x1p200, logitSum: $0.logitSum) }
            let (a, b) = (try #require(statement.worstPair(terms, labels: 7, logitDistanceSquared: 1)),
                          try #require(statement.worstPair(large, labels: 7, logitDistanceSquared: 1)))
            #expect(a.pair == b.pair && terms.first?.pair != a.pair, "\(form): \(b.pair) vs \(a.pair) of \(terms.count)")
            checked += 1
        }
        #expect(checked == 2)
    }

    /// Sides of a few 10⁻³¹³ fit a Double only as subnormals: JSON gave T5's right side as 0 and T3's
    /// as a copy of its left, beside right scientific strings.
    @Test("measure's sides in the subnormal range: from their logarithms, consistent with the ratio")
    func subnormalSides() throws {
        let (f1, g1, f2, g2) = Self.models(seed: 261)
        let (first, second) = (try SoftmaxModel(embeddings: f1, unembeddings: g1), try SoftmaxModel(embeddings: f2, unembeddings: g2))
        let m = try PairMeasurement.measure(ModelPair(ConceptTests.scaled(first, -520), ConceptTests.scaled(second, 520)),
                                            options: PairMeasurement.Options(certification: .auto))
        var checked = 0
        for b in m.bounds where b.outcome != "inapplicable" && (b.lhs.isSubnormal || b.rhs.isSubnormal) {
            #expect(b.lhs > 0 && b.rhs > 0 && abs(b.lhs / b.rhs / b.ratio - 1) < 1e-6, "\(b.id) \(b.form): \(b.lhs) ≤ \(b.rhs), ratio \(b.ratio)")
            checked += 1
        }
        #expect(checked >= 2, "\(checked) bounds with a subnormal side")
    }

    @Test("Subnormal embeddings (×10⁻³¹⁰): measured without error; d_logit² exact, d_unemb and the scale-free d_rep as unscaled")
    func subnormalEmbeddings() throws {
        let base = try Self.measure(embeddingScale: 1, unembeddingScale: 1)
        let m = try Self.measure(embeddingScale: 1e-310, unembeddingScale: 1)
        let exact = try #require(m.dLogitSquaredExact, "the underflowed d_logit² is shown exactly")
        // The exact value is the unscaled d_logit² times 10⁻⁶²⁰ (the subnormal F keeps ~44 bits).
        let (f1, g1, f2, g2) = Self.models(seed: 260)
        let pair = try ModelPair(SoftmaxModel(embeddings: 1e-310 * f1, unembeddings: g1), SoftmaxModel(embeddings: 1e-310 * f2, unembeddings: g2))
        let log10Exact = pair.exactLogitDistanceSquared().log10Magnitude
        #expect(abs(log10Exact - (base.dLogitSquared.log / Double.ln10 - 620)) < 1e-10, "\(exact): 10^\(log10Exact)")
        #expect(exact == pair.exactLogitDistanceSquared().scientificString(digits: PairMeasurement.exactDigits))
        #expect(m.notes.contains { $0.contains("below the normal Double range") }, "\(m.notes)")
        #expect(abs(try #require(m.dUnembAB) / base.dUnembAB! - 1) < 1e-11)
        #expect(abs(try #require(m.dRepScaleFreeAB) / base.dRepScaleFreeAB! - 1) < 1e-11)
        for id in ["T3", "T4"] {
            let (b, reference) = (try #require(m.bounds.first { $0.id == id }), try #require(base.bounds.first { $0.id == id }))
            #expect(b.holds == true && b.certified, "\(id): \(b.outcome)")
            #expect(abs(b.ratio / reference.ratio - 1) < 1e-10, "\(id): ratio \(b.ratio) vs \(reference.ratio)")
        }
        // A side within the Double range is a finite Double (T4's d_logit²/σ_min² with σ_min²
        // subnormal was "inf" beside a finite rhs_scientific); scientific only beyond the range.
        var sides = 0
        for b in m.bounds where b.outcome != "inapplicable" {
            for (value, scientific) in [(b.lhs, b.lhsScientific), (b.rhs, b.rhsScientific)] {
                #expect(value.isFinite || scientific != nil, "\(b.id) \(b.form): \(value)")
                if scientific != nil { #expect(!value.isFinite || value == 0 || value.isSubnormal, "\(b.id): \(value) beside \(scientific!)") }
                sides += 1
            }
        }
        // Nine applicable bounds: T3, T4, four T6 forms and three T7 (the exact level decides T7
        // where its screen's μ underflows).
        #expect(sides == 18)
        // At 10⁻¹⁶⁰, σ_min(W^{1/2}F₁)² is subnormal and T4's right side d_logit²/σ_min² (about 20)
        // came out "inf" in Double beside a finite rhs_scientific: the fields agree now, lhs/rhs
        // being the ratio.
        let t4 = try #require(try Self.measure(embeddingScale: 1e-160, unembeddingScale: 1).bounds.first { $0.id == "T4" })
        #expect(t4.rhs.isNormal && t4.rhsScientific == nil && abs(t4.lhs / t4.rhs / t4.ratio - 1) < 1e-9, "T4: \(t4.lhs) / \(t4.rhs) vs \(t4.ratio)")
    }

    /// A student one ulp away from the teacher in one coordinate: the fast pass's logit
    /// differences are mostly rounding (d_logit² was 1.4× off, KL 2.9×). Also scaled apart by
    /// 2⁶⁶⁴ ≈ 10²⁰⁰ (F/s, G·s), where the noise threshold once came out 0·∞ = NaN.
    @Test("Models one ulp apart, also scaled apart by 10²⁰⁰: d_logit² and both KLs to 1e−12 of their exact values",
          arguments: [1.0, 0x1p664])
    func oneUlpApart(scale: Double) throws {
        let (unscaled, unembeddings, _, _) = Self.models(seed: 262)
        let (f, u) = ((1 / scale) * unscaled, scale * unembeddings)
        var f2 = f
        for i in 0..<f.rows { f2[i, 0] = f[i, 0].nextUp }
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u), SoftmaxModel(embeddings: f2, unembeddings: u))
        var options = PairMeasurement.Options(certification: .auto)
        options.skipPivot = true
        let m = try PairMeasurement.measure(pair, options: options)
        let exact = pair.exactLogitDistanceSquared().doubleValue
        let kl = try pair.certifiedDivergence()
        #expect(abs(m.dLogitSquared / exact - 1) < 1e-12, "\(m.dLogitSquared) vs \(exact)")
        #expect(abs(m.klAB / kl.klForward.midpoint - 1) < 1e-12, "\(m.klAB) vs \(kl.klForward.midpoint)")
        #expect(abs(m.klBA / kl.klBackward.midpoint - 1) < 1e-12, "\(m.klBA) vs \(kl.klBackward.midpoint)")
        #expect(m.notes.contains { $0.contains("formed exactly and rounded once") }, "\(m.notes)")
        // One ulp apart the two KLs coincide to 10⁻¹⁶; on a pair far apart (KLs 11 % apart)
        // the recomputation must still give each direction its own value.
        let (_, _, far, u2) = Self.models(seed: 262)
        let apart = try ModelPair(SoftmaxModel(embeddings: unscaled, unembeddings: unembeddings), SoftmaxModel(embeddings: far, unembeddings: u2))
        let refined = try #require(apart.refinedDivergence()), certified = try apart.certifiedDivergence()
        let w = apart.weights
        let forward = zip(w, refined.klPerInput).reduce(0.0) { $0 + $1.0 * $1.1 }
        let reverse = zip(w, refined.reverseKLPerInput).reduce(0.0) { $0 + $1.0 * $1.1 }
        #expect(abs(forward / certified.klForward.midpoint - 1) < 1e-12, "\(forward) vs \(certified.klForward.midpoint)")
        #expect(abs(reverse / certified.klBackward.midpoint - 1) < 1e-12, "\(reverse) vs \(certified.klBackward.midpoint)")
    }
}

@Suite("Degenerate samples")
struct DegenerateSampleTests {
    /// N = 1 or 2 pairs printed every number without a word (issue 26).
    @Test("N ≤ d + 1 inputs: the report says the embedding-side measures describe a degenerate sample (and N = d + 2 does not)", arguments: [1, 2, 4, 5])
    func tooFewInputs(n: Int) throws {
        var g = SeededGenerator(seed: 89)
        let a = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: n, columns: 3), unembeddings: g.gaussianMatrix(rows: 5, columns: 3))
        let b = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: n, columns: 3), unembeddings: g.gaussianMatrix(rows: 5, columns: 3))
        var options = PairMeasurement.Options(certification: .never)
        options.skipPivot = true
        let m = try PairMeasurement.measure(ModelPair(a, b), options: options)
        #expect(m.notes.contains { $0.hasPrefix("only N = \(n) input") } == (n <= 4), "\(m.notes)")
    }
}
