import Numerics

/// A linear probe: logistic regression with an intercept and a small ridge (λ = 1e−6
/// on the weights, so separable data keeps finite weights), fitted by Newton's method
/// (IRLS, 50 iterations at most) on inputs scaled by their RMS norm.
///
/// `accuracy(embeddings:concept:)` fits and scores on the same inputs: the question
/// there is whether the concept is *linearly recoverable* at all (the counterexamples).
/// `fit` then `accuracy(on:concept:)` scores held-out inputs (distillation).
public struct LinearProbe: Sendable {
    /// Weights then intercept, for inputs divided by `scale`.
    public let coefficients: [Double]
    public let scale: Double

    public static func fit(embeddings f: Matrix, concept: [Bool]) throws -> LinearProbe {
        precondition(f.rows == concept.count, "probe: one concept value per input")
        let n = f.rows, p = f.columns + 1
        let scale = max((f.frobeniusNormSquared / Double(max(n, 1))).squareRoot(), .leastNormalMagnitude)
        let x = design(f, scale: scale)
        let y = concept.map { $0 ? 1.0 : 0.0 }
        var beta = [Double](repeating: 0, count: p)
        for _ in 0..<50 {
            let eta = x.applied(to: beta)
            let mu = eta.map { 1 / (1 + (-$0).exp) }
            let weights = mu.map { max($0 * (1 - $0), 1e-12) }
            var hessian = x.scalingRows(by: weights.map { $0.squareRoot() }).gram()
            for j in 0..<(p - 1) { hessian[j, j] += 1e-6 }
            let gradient = try Matrix(rows: n, columns: 1, storage: zip(y, mu).map { $0 - $1 })
            var gradientBeta = x.multiplied(by: gradient, transposeSelf: true)
            for j in 0..<(p - 1) { gradientBeta[j, 0] -= 1e-6 * beta[j] }
            guard let step = try? hessian.solve(gradientBeta) else { break }
            beta = zip(beta, step.storage).map { $0 + $1 }
            if step.maxAbs < 1e-10 { break }
        }
        return LinearProbe(coefficients: beta, scale: scale)
    }

    static func design(_ f: Matrix, scale: Double) -> Matrix {
        Matrix(rows: f.rows, columns: f.columns + 1) { i, j in j < f.columns ? f[i, j] / scale : 1 }
    }

    /// The fraction of inputs whose concept the probe predicts.
    public func accuracy(on f: Matrix, concept: [Bool]) -> Double {
        precondition(f.rows == concept.count && f.columns + 1 == coefficients.count, "probe: shapes differ from the fit")
        let predictions = Self.design(f, scale: scale).applied(to: coefficients).map { $0 > 0 }
        return Double(zip(predictions, concept).filter { $0 == $1 }.count) / Double(max(f.rows, 1))
    }

    /// Fit and score on the same inputs.
    public static func accuracy(embeddings f: Matrix, concept: [Bool]) throws -> Double {
        try fit(embeddings: f, concept: concept).accuracy(on: f, concept: concept)
    }
}
