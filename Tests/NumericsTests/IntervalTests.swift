import Foundation
import Numerics
import Testing

@Suite("MPFR intervals contain the true value")
struct IntervalTests {
    /// log 2 to 40 digits.
    static let log2Digits = Rational("6931471805599453094172321214581765680755/10000000000000000000000000000000000000000")!
    static let digitError = Rational(1, 1) / Rational("10000000000000000000000000000000000000000")!

    /// ∞ − ∞ is NaN in MPFR, whose comparisons then return "equal": an interval with a NaN
    /// end must compare certainly with nothing (a hostile audit found T6 certified "holds" on
    /// such an enclosure).
    @Test func aNaNEndComparesWithNothing() {
        let infinite = Interval(exactly: .infinity)!
        let undefined = infinite - infinite
        let one = Interval(exactly: 1)!
        #expect(undefined.hasNaN)
        #expect(!undefined.isCertainlyAtMost(one) && !one.isCertainlyAtMost(undefined))
        #expect(!undefined.isCertainlyBelow(one) && !one.isCertainlyBelow(undefined))
        #expect(!undefined.contains(1.0) && !undefined.isPositive && undefined.containsZero)
    }

    /// The midpoint was the Double sum of the ends, halved: ∞ near 1.8·10³⁰⁸ (a KL shown as inf
    /// beside its enclosure [1.36923e308, 1.36923e308]) and 0 for [2⁻¹⁰⁷⁴, 2⁻¹⁰⁷⁴] (stop 54).
    @Test func midpointAtTheEndsOfTheRange() {
        for x in [1.7e308, Double.greatestFiniteMagnitude, 0x1p-1074, 3 * 0x1p-1074, -1.7e308, 1.0] {
            #expect(Interval(lower: x, upper: x).midpoint == x, "\(x)")
        }
        #expect(abs(Interval(lower: 1.6e308, upper: 1.7e308).midpoint / 1.65e308 - 1) < 1e-15)
    }

    @Test func logTwo() throws {
        let l = try Interval(exactly: 2)!.log()
        #expect(l.width < 1e-70)
        #expect(l.contains(Self.log2Digits) || l.isCertainlyAtMost(Interval(Self.log2Digits + Self.digitError)))
        #expect(Interval(Self.log2Digits - Self.digitError).isCertainlyAtMost(l))
        #expect(l.exp.contains(2.0))
    }

    @Test func expOfLargeAndTiny() throws {
        let big = Interval(exactly: 1000)!.exp
        // Beyond Double's range: the guaranteed Double bounds are the largest finite and +∞.
        #expect(big.lower == .greatestFiniteMagnitude && big.upper == .infinity)
        #expect(try big.log().contains(1000.0))
        let tiny = Interval(exactly: -1000)!.exp
        #expect(tiny.isPositive && tiny.lower == 0 && tiny.upper == .leastNonzeroMagnitude)
        #expect((big * tiny).contains(1.0))
        #expect((big * tiny).width < 1e-70)
    }

    @Test func logSumExpOfWideLogits() throws {
        let lse = Interval.logSumExp([Interval(exactly: 1e4)!, Interval(exactly: 1e4)!])
        let shifted = lse - Interval(exactly: 1e4)!
        let log2 = try Interval(exactly: 2)!.log()
        #expect(shifted.contains(log2.midpoint) || shifted.width < 1e-60)
        #expect(!(shifted.isCertainlyBelow(log2) || log2.isCertainlyBelow(shifted)))
        // log(1 + e^-10000) ≈ e^-10000: positive, far below any double.
        let small = Interval.logSumExp([Interval(exactly: -1e4)!, Interval(exactly: 0)!])
        #expect(small.isPositive)
        #expect(try small.log().upper < -9999)
        #expect(try small.log().lower > -10001)
        // Logits spanning 1e4 in a vocabulary.
        let spread = (0..<50).map { Interval(exactly: Double($0) * 200 - 5000)! }
        let value = Interval.logSumExp(spread)
        #expect(value.contains(logSumExp((0..<50).map { Double($0) * 200 - 5000 })))
        #expect(value.width < 1e-60)
    }

    /// MPFR's default exponents stop near 2^{±2³⁰} (e^{±7.4·10⁸}): e^{−10⁹} was [0, tiny] and
    /// e^{10⁹} [max, +∞]. Every thread that makes an interval widens its range first.
    @Test("e^{±10⁹} and their logarithms are enclosed tightly, on worker threads and on a thread made for it")
    func wideExponentRange() throws {
        let results = try BLASThreads.parallelMap(4, workers: 2) { i -> [Double] in
            let x = try #require(Interval(exactly: i % 2 == 0 ? -1e9 : 1e9))
            let back = try x.exp.log()
            return [back.lower, back.upper]
        }
        var checked = 0
        for (i, r) in results.enumerated() {
            let x = i % 2 == 0 ? -1e9 : 1e9
            // A Double cannot hold e^{±10⁹}; its log, back from the MPFR enclosure, pins it.
            #expect(r[0] <= x && x <= r[1] && r[1] - r[0] < 1e-6, "\(i): log e^x ∈ [\(r[0]), \(r[1])]")
            checked += 1
        }
        #expect(checked == 4)
        let tiny = try #require(Interval(exactly: -1e9)).exp
        #expect(try tiny.log().upper.isFinite && tiny.isPositive, "e^{−10⁹} reaches 0")
        // A thread made here, whose first MPFR number is this one (a pool's threads may have
        // made numbers before).
        final class Box: @unchecked Sendable { var bounds: [Double] = [] }
        let box = Box(), done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let x = Interval(exactly: -1e9)!
            box.bounds = (try? x.exp.log()).map { [$0.lower, $0.upper] } ?? []
            done.signal()
        }
        thread.start()
        done.wait()
        #expect(box.bounds.count == 2 && box.bounds[0] <= -1e9 && -1e9 <= box.bounds[1] && box.bounds[1] - box.bounds[0] < 1e-6, "\(box.bounds)")
    }

    /// expm1 and log1p keep e^−10⁴ beside 1; valleyAtZero (KL's terms, g ≥ 0 with its minimum at 0)
    /// takes its lower end at the endpoint nearest 0, 0 across 0, and +∞ above when g is undefined
    /// at an infinite endpoint; intersected meets two enclosures, and gives their hull when disjoint.
    @Test func expm1Log1pAndValleys() throws {
        let tiny = Interval(exactly: -1e4)!.exp
        #expect(tiny.expm1.isPositive && !tiny.expm1.isRelativelyWiderThan(0x1p-200))
        #expect(try tiny.log1p().isPositive && !(try tiny.log1p()).isRelativelyWiderThan(0x1p-200))
        #expect(throws: NumericsError.self) { try Interval(lower: -3, upper: -1).log1p() }
        #expect(try Interval(lower: -1, upper: 0).log1p().lower == -.infinity)
        let psi: (Interval) -> Interval = { $0.expm1 - $0 }
        // Ends to 1e−12 of their values (the Doubles are not exact: `contains` would not do).
        func ends(_ i: Interval, _ lower: Double, _ upper: Double) -> Bool {
            abs(i.lower - lower) < 1e-12 && abs(i.upper - upper) < 1e-12 && i.width < 1e-12 + upper - lower
        }
        #expect(ends(Interval(lower: -1, upper: 2).valleyAtZero(psi), 0, 2.0.exp - 3))
        #expect(ends(Interval(lower: 0.5, upper: 1).valleyAtZero(psi), 0.5.exp - 1.5, 1.0.exp - 2))
        #expect(ends(Interval(lower: -2, upper: -1).valleyAtZero(psi), (-1.0).exp, (-2.0).exp + 1))
        #expect(Interval(lower: -1, upper: 2).valleyAtZero(psi).lower == 0)
        let phi: (Interval) -> Interval = { $0 * $0.exp - $0.expm1 }
        // φ(−∞) = 1, but (−∞)·e^−∞ has no defined corner: the upper end must still cover it.
        let fromMinusInfinity = Interval(lower: -.infinity, upper: -1).valleyAtZero(phi)
        #expect(fromMinusInfinity.upper >= 1 && fromMinusInfinity.lower > 0.26 && fromMinusInfinity.lower < 0.27, "\(fromMinusInfinity)")
        let unbounded = Interval(lower: 1, upper: .infinity).valleyAtZero(phi)
        #expect(unbounded.isPositive && unbounded.upper == .infinity && !unbounded.hasNaN)
        // An enclosure without an upper bound pins nothing (∞ − x > fraction·∞ is false in MPFR).
        #expect(Interval(lower: 1, upper: .infinity).isRelativelyWiderThan(0.5) && !Interval(lower: 1, upper: 1.25).isRelativelyWiderThan(0.5))
        let a = Interval(lower: 0, upper: 2), b = Interval(lower: 1, upper: 3)
        #expect(a.intersected(with: b).lower == 1 && a.intersected(with: b).upper == 2)
        let apart = a.intersected(with: Interval(lower: 5, upper: 6))
        #expect(apart.lower == 0 && apart.upper == 6)
    }

    @Test func arithmeticEnclosesExactRationals() {
        var g = SeededGenerator(seed: 31)
        for _ in 0..<200 {
            let (a, b) = (g.gaussian() * 1e3, g.gaussian())
            let (qa, qb) = (Rational(exactly: a)!, Rational(exactly: b)!)
            let (ia, ib) = (Interval(exactly: a)!, Interval(exactly: b)!)
            #expect((ia + ib).contains(qa + qb))
            #expect((ia - ib).contains(qa - qb))
            #expect((ia * ib).contains(qa * qb))
            #expect((ia / ib).contains(qa / qb))
            #expect(Interval(qa / qb).contains(qa / qb))
        }
    }
}
