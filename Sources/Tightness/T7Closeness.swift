import Numerics
import Theory

/// How close T7's quantities come on typical pairs (issue 6, question 4): for random
/// pairs and for students that are the teacher plus relative noise ε (as after a good
/// distillation), the medians over `cases` pairs of Σ(1−ρᵢ²)μᵢ / d_logit², R / d_logit²,
/// the true mean ρ² and the corollary's lower bound 1 − d_logit²/(d₂ μ_{d₂}) on it
/// (uncentred; model 1 is the student, as in T7). Double precision: magnitudes.
public struct T7ClosenessRow: Codable, Sendable {
    public let kind: String
    public let cases: Int
    public let medianTraceOverDLogit: Double
    public let medianResidualOverDLogit: Double
    public let medianMeanRhoSquared: Double
    public let medianCorollaryLowerBound: Double
    /// Fraction of pairs whose corollary bound is ≤ 0 (says nothing).
    public let vacuousFraction: Double

    public static func rows(labels k: Int, dimension d: Int, inputs n: Int, cases: Int = 60,
                            seed: UInt64 = 1) -> [T7ClosenessRow] {
        let kinds: [(String, Double?)] = [("independent", nil), ("teacher + 10 % noise", 1e-1),
                                          ("teacher + 1 % noise", 1e-2), ("teacher + 0.01 % noise", 1e-4)]
        let statement = T7CanonicalCorrelationBound(.traceBound, centred: false)
        return kinds.enumerated().map { index, kind in
            var g = SeededGenerator(seed: SeededGenerator.derive(seed, UInt64(index)))
            var trace: [Double] = [], residual: [Double] = [], rho: [Double] = [], bound: [Double] = []
            for _ in 0..<cases {
                let teacher = ModelGenerator.model(labels: k, dimension: d, inputs: n, condition: 1 + 9 * g.uniform(), using: &g)
                let student = kind.1.map { ModelGenerator.perturb(teacher, by: $0, using: &g) }
                    ?? ModelGenerator.model(labels: k, dimension: d, inputs: n, condition: 1 + 9 * g.uniform(),
                                            weights: teacher.weights, using: &g)
                guard let pair = try? ModelPair(student, teacher), let t = try? statement.terms(pair),
                      t.logitDistanceSquared > 0, let smallest = t.mu.last, smallest > 0 else { continue }
                trace.append(t.traceBound / t.logitDistanceSquared)
                residual.append(t.residual / t.logitDistanceSquared)
                rho.append(1 - t.oneMinusMeanRhoSquared)
                bound.append(1 - t.logitDistanceSquared / (Double(t.mu.count) * smallest))
            }
            func median(_ v: [Double]) -> Double { v.isEmpty ? .nan : v.sorted()[v.count / 2] }
            return T7ClosenessRow(kind: kind.0, cases: trace.count, medianTraceOverDLogit: median(trace),
                                  medianResidualOverDLogit: median(residual), medianMeanRhoSquared: median(rho),
                                  medianCorollaryLowerBound: median(bound),
                                  vacuousFraction: bound.isEmpty ? .nan : Double(bound.filter { $0 <= 0 }.count) / Double(bound.count))
        }
    }
}
