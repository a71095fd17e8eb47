import Foundation
import Numerics

extension LinearProbe {
    /// The LU of a probe's Hessian, formed on a design whose columns were divided by `from`, read
    /// as the curvature of a design divided by `to` (the same embeddings on other rows, other
    /// scales): there the Hessian is near D·H·D with D = diag(from/to), so P⁻¹r = D⁻¹H⁻¹D⁻¹r.
    /// Conjugate gradients are unchanged by a constant factor on P, so no account is taken of
    /// how many rows either design has.
    struct Curvature: Sendable {
        let factor: LUDecomposition
        let from: [Double]
        let multipliers: [Double]?

        init(factor: LUDecomposition, scales: [Double]) {
            (self.factor, from, multipliers) = (factor, scales, nil)
        }

        private init(factor: LUDecomposition, from: [Double], to: [Double]) {
            (self.factor, self.from) = (factor, from)
            // One multiplier per weight (to_j/from_j), 1 for the intercept; none where equal.
            let m = zip(to, from).map { $0 / $1 } + [1]
            multipliers = m.allSatisfy { $0 == 1 } ? nil : m
        }

        /// This curvature read on a design divided by `scales`; nil when the shapes differ or a
        /// multiplier is not a positive finite number.
        func rescaled(to scales: [Double]) -> Curvature? {
            guard scales.count == from.count, factor.n == from.count + 1 else { return nil }
            let c = Curvature(factor: factor, from: from, to: scales)
            return (c.multipliers ?? []).allSatisfy({ $0 > 0 && $0.isFinite }) ? c : nil
        }

        /// P⁻¹r, or nil when the solve fails (a non-finite r).
        func apply(_ r: [Double]) -> [Double]? {
            let scaled = multipliers.map { zip($0, r).map { $0 * $1 } } ?? r
            guard let z = try? factor.solve(Matrix(rows: r.count, columns: 1, storage: scaled)).storage else { return nil }
            return multipliers.map { zip($0, z).map { $0 * $1 } } ?? z
        }
    }
}

/// Preconditioned conjugate gradients for a probe's Newton system H·s = g (H symmetric positive
/// definite, known only through products H·v), preconditioned by the LU of a Hessian formed
/// earlier: near the optimum, or on a fold of the rows a fit on all of them has seen, that
/// Hessian is close to H and a few products, each one pass over the design (4·N·p flops),
/// replace forming H (its upper triangle, N·p² flops: p/4 products' flops). Used from
/// `minimumParameters` parameters on; below that every step forms its Hessian, as before.
enum ConjugateGradients {
    static let minimumParameters = 128
    /// The least residual asked for, relative to g's (2-norm).
    static let finalTolerance = 1e-10

    /// The residual asked of this Newton step (Eisenstat and Walker's second choice, without their
    /// safeguard, which only loosens it): 0.9 times the square of the gradient's last decrease,
    /// within [`finalTolerance`, 0.1]; 0.1 at the first step. Loose while the curvature still
    /// moves (a step far from the optimum gains nothing from solving exactly), 10⁻¹⁰ where Newton
    /// converges. A loose step that meets the fit's stopping rule is solved
    /// again to `finalTolerance` before the fit stops (`LinearProbe.fitted`).
    static func forcing(gradientNorm: Double, previous: Double?) -> Double {
        guard let previous, previous > 0 else { return 0.1 }
        let ratio = gradientNorm / previous
        return min(0.1, max(finalTolerance, 0.9 * ratio * ratio))
    }
    static func uses(parameters p: Int) -> Bool { p >= minimumParameters }

    /// Products H·v allowed before a step falls back to forming H: p/32 (at least 4). In flops a
    /// Gram is p/4 products, but a product reads the whole N×p design for 4 flops a Double, so it
    /// runs at memory speed: at N = 40 000, p = 769 (`measure --teacher-concepts`, both sides at
    /// once) a product took 37 ms and a Gram 0.48 s, 13 products. A step that fails therefore costs
    /// at most about two Grams where forming H at once costs one, and the extrapolation in `solve`
    /// gives most such steps up at their second product.
    static func maximumProducts(parameters p: Int) -> Int { max(4, p / 32) }

    /// s whose recurred residual r (H·s − g up to the recurrence's rounding) has ‖r‖ ≤
    /// tolerance·‖g‖ within `maximumProducts` products, or nil: then the caller forms H. From the
    /// second product on, gives up where the residual's mean rate of decrease so far, extrapolated,
    /// does not reach the tolerance within the allowance (conjugate gradients often speed up
    /// later, so this can give up on a solve that would have converged: it costs a Hessian, never
    /// a wrong step).
    static func solve(_ g: [Double], tolerance: Double, preconditioner: LinearProbe.Curvature, product: ([Double]) -> [Double]) -> [Double]? {
        precondition(tolerance > 0, "conjugate gradients: a positive tolerance")
        let maximumProducts = maximumProducts(parameters: g.count)
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        let start = g.scaledNorm
        guard start.isFinite else { return nil }
        var s = [Double](repeating: 0, count: g.count)
        guard start > 0 else { return s }
        var r = g
        guard let z = preconditioner.apply(r) else { return nil }
        var q = z, rz = dot(r, z)
        for iteration in 1...maximumProducts {
            let hq = product(q)
            let curvature = dot(q, hq)
            // P⁻¹ positive definite gives rᵀP⁻¹r > 0; rounding or a poor rescaling may not.
            guard curvature > 0, curvature.isFinite, rz > 0, rz.isFinite else { return nil }
            let alpha = rz / curvature
            for j in s.indices { s[j] += alpha * q[j]; r[j] -= alpha * hq[j] }
            let residual = r.scaledNorm
            if residual <= tolerance * start { return s }
            // The rate so far, extrapolated: give up where it cannot reach the tolerance in time.
            let rate = Foundation.pow(residual / start, 1 / Double(iteration))
            if iteration >= 2 {
                guard rate < 1, Double(iteration) + (log(tolerance * start / residual) / log(rate)).rounded(.up) <= Double(maximumProducts) else {
                    return nil
                }
            }
            guard let next = preconditioner.apply(r) else { return nil }
            let rzNext = dot(r, next)
            let beta = rzNext / rz
            for j in q.indices { q[j] = next[j] + beta * q[j] }
            rz = rzNext
        }
        return nil
    }
}
