import Numerics
import Theory

/// THEORY.md §4, T7 conjecture: the reference's plotted left side mixes centred
/// canonical correlations ρ_c with uncentred second-moment eigenvalues μ_u, in an
/// unspecified order. Does Σ (1 − ρ_c,i²) μ_u,i ever exceed d_logit²?
///
/// Both pairings are evaluated (μ decreasing, as in T7, and μ increasing, the
/// other extreme) and the larger is the left side; "violated" here is a finding
/// about the reference's quantity, not a failure of a theorem. Certifying every verdict, decided
/// first from the fast spectra the T7 checks enclose (`FastT7Spectra`); elsewhere screened in
/// double precision, and every exceedance or near-miss certified with inertia
/// brackets (`CertifiedT7Spectra`): "violated" needs a certified lower bound of a
/// pairing above the exact d_logit².
enum MixedT7Conjecture {
    static let form = "Σ(1 − ρ_c,i²) μ_u,i ≤ d_logit² (centred ρ, uncentred μ; either pairing)"

    static func quantity(_ pair: ModelPair) throws -> (decreasing: Double, increasing: Double, logitDistanceSquared: Double) {
        let centred = try T7CanonicalCorrelationBound(.traceBound, centred: true).terms(pair)
        let uncentred = try T7CanonicalCorrelationBound(.traceBound, centred: false).terms(pair)
        // A basis truncated to Double precision leaves fewer than d₂ correlations: the rest are 0 (1 − ρ² = 1).
        let mu = uncentred.mu
        let q = centred.oneMinusRhoSquared + [Double](repeating: 1, count: max(0, mu.count - centred.oneMinusRhoSquared.count))
        let decreasing = zip(q, mu).reduce(0) { $0 + $1.0 * $1.1 }
        let increasing = zip(q, mu.reversed()).reduce(0) { $0 + $1.0 * $1.1 }
        return (decreasing, increasing, uncentred.logitDistanceSquared)
    }

    static func screen(_ pair: ModelPair) throws -> Verdict {
        let (a, b, d) = try quantity(pair)
        let lhs = max(a, b)
        return Verdict(id: .T7, form: form, level: .double, outcome: lhs <= d ? .holds : .violated, lhs: lhs,
                       rhs: d, constant: 1, constantName: a >= b ? "μ paired decreasing" : "μ paired increasing")
    }

    /// Both pairings from the fast spectra (centred 1 − ρ², uncentred μ, each the i-th value's
    /// enclosure) against the fast d_logit²: the left side, the larger pairing, is enclosed by
    /// the ends' maxima. nil (the screen, then the certificate) when the sides overlap.
    /// `leftScale` ≠ 1 scales the left side (a planted bug: the tests show it caught).
    static func fastVerdict(_ pair: ModelPair, leftScale: Double = 1) -> Verdict? {
        guard let centred = pair.fastT7Spectra(centred: true), let uncentred = pair.fastT7Spectra(centred: false),
              let d = pair.fastLogitDistanceSquared(), centred.oneMinusRhoSquared.count == uncentred.mu.count else { return nil }
        let q = centred.oneMinusRhoSquared, mu = uncentred.mu
        let decreasing = FastInterval.sum(zip(q, mu).map { $0 * $1 })
        let increasing = FastInterval.sum(zip(q, mu.reversed()).map { $0 * $1 })
        let larger = FastInterval(leftScale) * FastInterval(lo: max(decreasing.lo, increasing.lo), hi: max(decreasing.hi, increasing.hi))
        return Verdict.fast(.T7, form, lhs: larger, rhs: d, constant: 1,
                            constantName: decreasing.midpoint >= increasing.midpoint ? "μ paired decreasing" : "μ paired increasing",
                            note: "; pairings ∈ \(decreasing) (μ decreasing) and \(increasing) (μ increasing)")
    }

    static func certify(_ pair: ModelPair) throws -> Verdict {
        guard let centred = try pair.certifiedT7Spectra(centred: true),
              let uncentred = try pair.certifiedT7Spectra(centred: false) else {
            return Verdict(id: .T7, form: form, level: .exact, outcome: .inapplicable, lhs: .nan, rhs: .nan,
                           constant: .nan, constantName: "", certificate: "a second-moment matrix is exactly singular")
        }
        let d = pair.exactLogitDistanceSquared()
        let pairings = [centred.pairedSum(uncentred), centred.pairedSum(uncentred, reversedMu: true)]
        let outcome: Outcome
        if pairings.contains(where: { $0.lower > d }) { outcome = .violated }
        else if pairings.allSatisfy({ $0.upper <= d }) { outcome = .holds }
        else { outcome = .undecided }
        let best = pairings.max { $0.upper < $1.upper }!
        return Verdict(id: .T7, form: form, level: centred.level == .exact && uncentred.level == .exact ? .exact : .enclosure,
                       outcome: outcome, lhs: best.lower.doubleValue,
                       rhs: d.doubleValue, constant: 1, constantName: "certified inertia brackets",
                       certificate: "pairings enclosed in [\(pairings[0].lower.doubleBelow), \(pairings[0].upper.doubleAbove)] (μ decreasing) and [\(pairings[1].lower.doubleBelow), \(pairings[1].upper.doubleAbove)] (μ increasing); d_logit² = \(d.doubleValue) exact")
    }

    /// The check; certifying every verdict (`verify`'s default) the fast spectra decide first,
    /// with `--certify screen` the screen alone (the fast spectra are not formed there).
    static func check(certifyAll: Bool) -> Check { Check(
        name: "T7.mixed", id: .T7, form: form, isConjecture: true,
        evaluate: { descriptor, pair in
            // The boundary generator's pairs are built to attain proven bounds; on them the
            // mixed quantity almost always exceeds d_logit², and certifying that finding
            // once per pair would cost more than the rest of the run.
            guard descriptor.generator != .boundary else {
                return .inapplicable(.T7, form, level: .double, "not searched on the boundary generator's pairs")
            }
            if certifyAll, let fast = fastVerdict(pair) { return fast }
            let v = try screen(pair)
            return v.needsCertification ? try certify(pair) : v
        }, certifyPair: { try certify($0) }) }
}
