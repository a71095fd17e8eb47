import Numerics
import Theory

/// A linear probe: logistic regression with an intercept and a small ridge (λ = 1e−6
/// on the weights, so separable data keeps finite weights), fitted by Newton's method
/// (IRLS, 50 iterations at most). Accuracy is measured on the inputs it was fitted on:
/// the question is whether the concept is *linearly recoverable* from the embedding.
public enum LinearProbe {
    public static func accuracy(embeddings f: Matrix, concept: [Bool]) throws -> Double {
        precondition(f.rows == concept.count, "probe: one concept value per input")
        let n = f.rows, p = f.columns + 1
        let scale = max((f.frobeniusNormSquared / Double(max(n, 1))).squareRoot(), .leastNormalMagnitude)
        let x = Matrix(rows: n, columns: p) { i, j in j < f.columns ? f[i, j] / scale : 1 }
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
        let predictions = x.applied(to: beta).map { $0 > 0 }
        return Double(zip(predictions, concept).filter { $0 == $1 }.count) / Double(n)
    }
}
