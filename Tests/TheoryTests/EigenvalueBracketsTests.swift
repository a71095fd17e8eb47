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
}
