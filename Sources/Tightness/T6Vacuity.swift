import Numerics
import Theory

/// How vacuous T6 is at the τ of trained models (1e−8 to 1e−30): a teacher whose
/// logit scale is set by bisection so that its τ hits the target, and a student
/// close to it (relative noise 1e−2, as after distillation). Double precision: the
/// magnitudes, not a verdict.
public struct VacuityRow: Codable, Sendable {
    public let targetTau: Double
    /// log τ of the pair (the minimum over both models), natural log.
    public let logTau: Double
    public let labels: Int
    public let kl: Double
    public let dLogitSquared: Double
    /// log10 of T6's constant 1/τ² and of T6.sharp's 2/τ.
    public let log10InverseTauSquared: Double
    public let log10TwoOverTau: Double
    /// d_logit² / (KL/τ²) and d_logit² / (2 KL/τ): how much of each bound is used.
    public let ratioT6: Double
    public let ratioT6Sharp: Double

    public static func rows(labels k: Int = 1000, dimension d: Int = 16, inputs n: Int = 200,
                            targets: [Double] = [1e-8, 1e-15, 1e-30], seed: UInt64 = 1) -> [VacuityRow] {
        targets.map { target in
            func teacher(_ logScale: Double) -> SoftmaxModel {
                var g = SeededGenerator(seed: seed)
                return ModelGenerator.model(labels: k, dimension: d, inputs: n, scale: logScale.exp, using: &g)
            }
            // log τ falls as the scale grows: bisect log(scale) in [−2, 8].
            var (lo, hi) = (-2.0, 8.0)
            for _ in 0..<24 {
                let mid = (lo + hi) / 2
                if teacher(mid).logTau > target.log { lo = mid } else { hi = mid }
            }
            let t = teacher((lo + hi) / 2)
            var g = SeededGenerator(seed: SeededGenerator.derive(seed, 2))
            let pair = try! ModelPair(t, ModelGenerator.perturb(t, by: 1e-2, using: &g))
            let stats = pair.logitStatistics()
            let dl = (try? pair.logitDistanceSquared()) ?? .nan
            let logT6 = stats.kl.log - 2 * stats.logTau, logSharp = 2.0.log + stats.kl.log - stats.logTau
            return VacuityRow(targetTau: target, logTau: stats.logTau, labels: k, kl: stats.kl, dLogitSquared: dl,
                              log10InverseTauSquared: -2 * stats.logTau / .ln10,
                              log10TwoOverTau: (2.0.log - stats.logTau) / .ln10,
                              ratioT6: (dl.log - logT6).exp, ratioT6Sharp: (dl.log - logSharp).exp)
        }
    }
}
