import Numerics
import Testing
@testable import Theory

/// Uniform is uniform at any N (issue 14): weights written out as 1/N used to be
/// rejected ("input weights differ") or to crash a generator's `try!` at N where
/// Σ 1/N misses 1 by more than 1e−12 (36 217, 100 003, …).
@Suite("Uniform and extreme weights")
struct UniformWeightTests {
    @Test("Explicit 1/N weights pair with implicit uniform ones, and every generator builds, at awkward N",
          arguments: [36_217, 100_003])
    func explicitUniformWeights(n: Int) throws {
        var g = SeededGenerator(seed: UInt64(n))
        let f = g.gaussianMatrix(rows: n, columns: 2), u = g.gaussianMatrix(rows: 3, columns: 2)
        let implicit = try SoftmaxModel(embeddings: f, unembeddings: u)
        let explicit = try SoftmaxModel(embeddings: f, unembeddings: u, weights: Array(repeating: 1 / Double(n), count: n))
        #expect(explicit.weights == implicit.weights)
        let pair = try ModelPair(implicit, explicit)
        #expect(try pair.exact().weights.allSatisfy { $0 == Rational(1, n) })
        #expect(pair.exactLogitDistanceSquared().isZero)
        var built = 0
        for generator in ModelGenerator.allCases {
            let p = generator.pair(seed: 7, size: CaseSize(labels: 3, dimension: 2, inputs: n))
            #expect(p.first.inputCount == n)
            built += 1
        }
        #expect(built == ModelGenerator.allCases.count)
    }

    @Test("Weights whose sum overflows a Double are normalised, not turned into zeros")
    func overflowingWeights() throws {
        let f = try Matrix([[1, 0], [0, 1], [1, 1]]), u = try Matrix([[1, 0], [0, 1], [-1, -1]])
        let model = try SoftmaxModel(embeddings: f, unembeddings: u, weights: [1e308, 1e308, 5e307])
        #expect(model.weights.allSatisfy { $0.isFinite && $0 > 0 })
        #expect(abs(model.weights.reduce(0, +) - 1) < 1e-15)
        #expect(abs(model.weights[2] - 0.2) < 1e-15)
    }
}
