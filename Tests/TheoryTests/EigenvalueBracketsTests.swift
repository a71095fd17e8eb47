import Numerics
import Testing
@testable import Theory

/// The brackets' search order with a quick count that cannot tell near an eigenvalue (an MPFR
/// pivot containing 0): a pair of 100 inputs at d = 48 had spent minutes in exact fraction-free
/// elimination for candidates 10⁻¹³ from its eigenvalues, where 10⁻¹¹ away decides in MPFR.
@Suite("Eigenvalue brackets: the quick count first, exact only where it cannot tell")
struct EigenvalueBracketsTests {
    /// Eigenvalues 3, 2, 1 (count(t) = #{λ > t}); the quick count gives up within 10⁻¹² of one.
    static let eigenvalues = [3.0, 2.0, 1.0]
    static func exactCount(_ t: Rational) -> Int { eigenvalues.filter { Rational(exactly: $0)! > t }.count }

    @Test("Candidates the quick count decides never reach the exact count; the brackets are sound")
    func quickFirst() throws {
        var exactCalls = 0
        let brackets = EigenvalueBrackets(estimates: Self.eigenvalues, floor: 0, trivialLower: .zero, trivialUpper: Rational(10),
                                          quickCount: { t in
                                              Self.eigenvalues.contains { abs(t.doubleValue - $0) < 1e-12 * $0 } ? nil : Self.exactCount(t)
                                          }, count: { t in exactCalls += 1; return Self.exactCount(t) })
        #expect(exactCalls == 0, "\(exactCalls) exact counts")
        for (i, lambda) in Self.eigenvalues.enumerated() {
            let (lo, hi) = (brackets.lower[i].doubleValue, brackets.upper[i].doubleValue)
            // Sound, and as tight as the first margin the quick count decides (10⁻¹¹ relative).
            #expect(lo < lambda && lambda <= hi && hi - lo <= 3e-11 * lambda, "λ = \(lambda): [\(lo), \(hi)]")
        }
    }

    @Test("Where the quick count never tells, the exact count decides at the tightest margin, as before")
    func exactWhereQuickFails() throws {
        var exactCalls = 0
        let brackets = EigenvalueBrackets(estimates: Self.eigenvalues, floor: 0, trivialLower: .zero, trivialUpper: Rational(10),
                                          quickCount: { _ in nil }, count: { t in exactCalls += 1; return Self.exactCount(t) })
        #expect(exactCalls == 6, "one exact count a side per eigenvalue: \(exactCalls)")
        for (i, lambda) in Self.eigenvalues.enumerated() {
            #expect(brackets.upper[i].doubleValue - brackets.lower[i].doubleValue <= 3e-13 * lambda)
        }
    }

    /// An eigenvalue at exactly 0 (an orbit pair's 1 − ρ²): the candidate 0 itself makes the
    /// pencil singular, where the quick count cannot tell; it is asked exactly at once, so the
    /// upper bound is 0 exactly, not the next margin.
    @Test("An estimate of exactly 0: asked exactly at 0 at once, the upper bound 0")
    func zeroEigenvalue() throws {
        var exactCalls = 0
        let brackets = EigenvalueBrackets(estimates: [0], floor: 0, zeroScale: 1, trivialLower: .zero, trivialUpper: .one,
                                          quickCount: { t in t.isZero ? nil : (t.sign > 0 ? 0 : 1) },
                                          count: { t in exactCalls += 1; return t.sign >= 0 ? 0 : 1 })
        #expect(brackets.upper[0].isZero && exactCalls == 1, "upper \(brackets.upper[0].doubleValue), \(exactCalls) exact counts")
    }

    /// T7's μ_{d₂} on heavy, nearly parallel inputs: its Double estimate was 0 while it is
    /// positive, so no candidate lay above the trivial lower bound 0, and the corollary was
    /// undecided ("its certified bracket reaches 0"). Bisection on the counts now brackets it.
    @Test("An estimate of 0 for a positive eigenvalue (10⁻²⁰): bracketed by bisection to 2⁻²⁴; the trivial upper bound kept where tighter")
    func positiveEigenvalueEstimatedZero() throws {
        let small = Rational(exactly: 1e-20)!, top = Rational(3) + small
        func count(_ t: Rational) -> Int { [Rational(3), small].filter { $0 > t }.count }
        var counts = 0
        let brackets = EigenvalueBrackets(estimates: [3, 0], floor: 0, trivialLower: .zero, trivialUpper: top,
                                          quickCount: { count($0) }, count: { counts += 1; return count($0) })
        let (lo, hi) = (brackets.lower[1], brackets.upper[1])
        #expect(lo.sign > 0 && lo < small && small <= hi, "[\(lo.doubleValue), \(hi.doubleValue)]")
        #expect(hi - lo <= lo.scaled(byPowerOfTwo: -24), "width \((hi - lo).doubleValue)")
        // λ₀ = 3 lies within 10⁻¹³ of the trace (no candidate above it below the trace): bracketed by
        // bisection too, soundly and to 2⁻²⁴.
        let (lo0, hi0) = (brackets.lower[0], brackets.upper[0])
        #expect(lo0 < Rational(3) && Rational(3) <= hi0 && hi0 <= top && hi0 - lo0 <= lo0.scaled(byPowerOfTwo: -24),
                "[\(lo0.doubleValue), \(hi0.doubleValue)]")
        #expect(counts > 0)
    }

    /// A d = 64 pair of 100 inputs has 28 of its 1 − ρᵢ² exactly 0: the candidate 0 makes the
    /// pencil singular, and exact elimination of 64×64 rationals there took 78 s. Above 16
    /// eigenvalues it is asked last, after the margins MPFR can decide; each point at most once.
    @Test("Twenty eigenvalues at 0: upper ends at the first margin without an exact count; at most one count per point")
    func largePencilDefersTheSingularPoint() throws {
        var exactCalls = 0, quickAtZero = 0
        let brackets = EigenvalueBrackets(estimates: Array(repeating: 0, count: 20), floor: 0, zeroScale: 1,
                                          trivialLower: .zero, trivialUpper: .one,
                                          quickCount: { t in
                                              if t.isZero { quickAtZero += 1; return nil }
                                              return t.sign > 0 ? 0 : 20
                                          }, count: { t in exactCalls += 1; return t.sign >= 0 ? 0 : 20 })
        #expect(exactCalls == 0, "\(exactCalls) exact counts")
        #expect(brackets.upper.allSatisfy { $0.sign > 0 && $0.doubleValue <= 1.1e-13 }, "\(brackets.upper.map(\.doubleValue))")
        #expect(brackets.lower.allSatisfy { $0.isZero })
        #expect(quickAtZero == 1, "\(quickAtZero) quick counts at 0")
        // A quick count that never tells: the first margin above 0 decides, counted exactly once for
        // all twenty eigenvalues.
        var calls = 0
        let exact = EigenvalueBrackets(estimates: Array(repeating: 0, count: 20), floor: 0, zeroScale: 1,
                                       trivialLower: .zero, trivialUpper: .one, quickCount: { _ in nil },
                                       count: { t in calls += 1; return t.sign >= 0 ? 0 : 20 })
        #expect(calls == 1 && exact.upper.allSatisfy { $0.sign > 0 && $0.doubleValue <= 1.1e-13 }, "\(calls) exact counts")
    }

    /// Where Double places nothing (a second moment of full rank only exactly): brackets by counts
    /// alone, each index's walk down from the top shared, count(0) asked once.
    @Test("Brackets from counts alone: sound, 2⁻²⁴ wide, zero eigenvalues at [0, 0], each point counted once")
    func countsAlone() throws {
        let values = [Rational(5), Rational(exactly: 1e-30)!, .zero, .zero]
        var calls: [Rational: Int] = [:]
        let brackets = EigenvalueBrackets(size: 4, top: Rational(6), bits: 24) { t in
            calls[t, default: 0] += 1
            return values.filter { $0 > t }.count
        }
        for (i, v) in values.enumerated() {
            let (lo, hi) = (brackets.lower[i], brackets.upper[i])
            if v.isZero {
                #expect(lo.isZero && hi.isZero, "λ\(i): [\(lo.doubleValue), \(hi.doubleValue)]")
            } else {
                #expect(lo < v && v <= hi && hi - lo <= lo.scaled(byPowerOfTwo: -24), "λ\(i): [\(lo.doubleValue), \(hi.doubleValue)]")
            }
        }
        #expect(calls.values.allSatisfy { $0 == 1 } && calls[.zero] == 1, "\(calls.count) points, at most \(calls.values.max() ?? 0) counts each")
    }

    /// Known counts 2⁻¹⁰ either side of λ (as T3/T4's raised Double σ_min² gives): the bisection
    /// starts there, so it skips the ten halvings the known bracket already made; same soundness and width.
    @Test("Bisection from known counts: sound, 2⁻²⁴ wide, at least 8 counts fewer than a walk from the top")
    func knownCounts() throws {
        let values = [Rational(5) * Rational(1 + (1 << 34), 1 << 34), Rational(5), Rational(exactly: 1e-12)!]
        func count(_ t: Rational) -> Int { values.filter { $0 > t }.count }
        var checked = 0
        for (i, v) in values.enumerated() {
            let (below, above) = (v * Rational((1 << 10) - 1, 1 << 10), v * Rational((1 << 10) + 1, 1 << 10))
            var started = 0, fresh = 0
            let known = [below: count(below), above: count(above)]
            let a = try #require(EigenvalueBrackets.bisected(index: i, top: Rational(8), bits: 24, known: known) { t in started += 1; return count(t) })
            let b = try #require(EigenvalueBrackets.bisected(index: i, top: Rational(8), bits: 24) { t in fresh += 1; return count(t) })
            for (lo, hi) in [a, b] {
                #expect(lo < v && v <= hi && hi - lo <= lo.scaled(byPowerOfTwo: -24), "λ\(i): [\(lo.doubleValue), \(hi.doubleValue)]")
            }
            #expect(started + 8 <= fresh, "λ\(i): \(started) counts from the known ones against \(fresh) from the top")
            checked += 1
        }
        #expect(checked == 3)
    }
}
