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
