import Numerics
import Theory

/// THEORY.md §4, T7 conjecture: the reference's plotted left side mixes centred
/// canonical correlations ρ_c with uncentred second-moment eigenvalues μ_u, in an
/// unspecified order. Does Σ (1 − ρ_c,i²) μ_u,i ever exceed d_logit²?
///
/// Both pairings are evaluated (μ decreasing, as in T7, and μ increasing, the
/// other extreme) and the larger is the left side; "violated" here is a finding
/// about the reference's quantity, not a failure of a theorem. The evaluation is
/// in double precision, with 1 − ρ² computed without cancellation.
enum MixedT7Conjecture {
    static let form = "Σ(1 − ρ_c,i²) μ_u,i ≤ d_logit² (centred ρ, uncentred μ; either pairing)"

    static func quantity(_ pair: ModelPair) throws -> (decreasing: Double, increasing: Double, logitDistanceSquared: Double) {
        let centred = try T7CanonicalCorrelationBound(.traceBound, centred: true).terms(pair)
        let uncentred = try T7CanonicalCorrelationBound(.traceBound, centred: false).terms(pair)
        let q = centred.oneMinusRhoSquared, mu = uncentred.mu
        let decreasing = zip(q, mu).reduce(0) { $0 + $1.0 * $1.1 }
        let increasing = zip(q, mu.reversed()).reduce(0) { $0 + $1.0 * $1.1 }
        return (decreasing, increasing, uncentred.logitDistanceSquared)
    }

    static let check = Check(
        name: "T7.mixed", id: .T7, form: form, isConjecture: true,
        evaluate: { _, pair in
            let (a, b, d) = try quantity(pair)
            let lhs = max(a, b)
            return Verdict(id: .T7, form: form, level: .double, outcome: lhs <= d ? .holds : .violated, lhs: lhs,
                           rhs: d, constant: 1,
                           constantName: a >= b ? "μ paired decreasing" : "μ paired increasing")
        }, certifyPair: nil)
}
