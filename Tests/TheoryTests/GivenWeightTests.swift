import Numerics
import Testing
@testable import Theory

/// The certified levels divide the caller's weights by their exact (or enclosed) sum, not the
/// normalised Doubles (each within an ulp of wᵢ/Σw), so an exact value is the given model's.
@Suite("Given weights at the certified levels")
struct GivenWeightTests {
    /// Weights whose normalised Doubles are not the rationals wᵢ/Σw (1/3 of [1, 2] is not a Double).
    static let given: [Double] = [1, 2, 4e8 + 1, 7, 0x1p-30, 3]

    static func pair(weights: [Double] = given, seed: UInt64 = 11) throws -> ModelPair {
        var g = SeededGenerator(seed: seed)
        let n = weights.count
        return try ModelPair(SoftmaxModel(embeddings: g.gaussianMatrix(rows: n, columns: 2), unembeddings: g.gaussianMatrix(rows: 3, columns: 2), weights: weights),
                             SoftmaxModel(embeddings: g.gaussianMatrix(rows: n, columns: 2), unembeddings: g.gaussianMatrix(rows: 3, columns: 2), weights: weights))
    }

    static func exactRatios(_ w: [Double]) -> [Rational] {
        let raw = w.map { Rational(exactly: $0)! }, total = Rational.sum(raw)
        return raw.map { $0 / total }
    }

    @Test("The exact level's weights are the given weights over their exact sum, not the normalised Doubles")
    func exactWeights() throws {
        let pair = try Self.pair()
        #expect(pair.first.givenWeights == Self.given)
        let exact = try pair.exact().weights, expected = Self.exactRatios(Self.given)
        #expect(exact == expected)
        // The test means something only where the normalised Doubles differ from wᵢ/Σw.
        let normalised = Self.exactRatios(pair.weights)
        #expect(zip(normalised, expected).filter { $0.0 != $0.1 }.count >= 2)
    }

    @Test("d_logit² at the exact level is Σᵢ (wᵢ/Σw)‖C(Λ₁ᵢ − Λ₂ᵢ)‖² of the given weights, in rationals")
    func exactLogitDistance() throws {
        let pair = try Self.pair()
        func logits(_ m: SoftmaxModel) -> [[Rational]] {
            (0..<m.inputCount).map { i in
                (0..<m.labelCount).map { y in
                    Rational.sum((0..<m.dimension).map { Rational(exactly: m.embeddings[i, $0])! * Rational(exactly: m.unembeddings[y, $0])! })
                }
            }
        }
        func distance(_ w: [Rational]) -> Rational {
            let (a, b) = (logits(pair.first), logits(pair.second))
            return Rational.sum(w.indices.map { i in
                let c = zip(a[i], b[i]).map { $0 - $1 }
                let mean = Rational.sum(c) / Rational(c.count)
                return w[i] * Rational.sum(c.map { ($0 - mean).squared })
            })
        }
        let expected = distance(Self.exactRatios(Self.given))
        #expect(pair.exactLogitDistanceSquared() == expected)
        #expect(distance(Self.exactRatios(pair.weights)) != expected)
    }

    @Test("The fast level's weights enclose wᵢ/Σw of the given weights, narrowly, across the Double range",
          arguments: [given, [1e308, 1e308, 5e307], [1e308, 1e-300, 3, 0x1p-1074], [0x1p-1074, 0x1p-1073, 3 * 0x1p-1074]])
    func fastWeights(weights: [Double]) throws {
        let pair = try Self.pair(weights: weights)
        let fast = pair.fastWeights(), exact = Self.exactRatios(weights)
        // Formed from the given weights: from the normalised Doubles (some 0 here, 10⁻³⁰⁰/10³⁰⁸)
        // the outward rounding would still contain the ratios, so only this can tell.
        let fromGiven = FastLogitDistance.normalisedWeights(weights)
        #expect(fast.map(\.lo) == fromGiven.map(\.lo) && fast.map(\.hi) == fromGiven.map(\.hi))
        var checked = 0
        for (interval, value) in zip(fast, exact) {
            #expect(Rational(exactly: interval.lo)! <= value && value <= Rational(exactly: interval.hi)!)
            // A rigorous sum and one division of normal scaled weights: within 10⁻¹⁴ relative
            // (an overflowing sum would leave [0, ·]).
            if value.doubleValue >= 0x1p-1000 { #expect(interval.hi - interval.lo <= 1e-14 * value.doubleValue) }
            checked += 1
        }
        #expect(checked == weights.count)
    }

    @Test("A pair's second model takes the first's given weights (proportional ones too)")
    func pairWeights() throws {
        var g = SeededGenerator(seed: 3)
        let f = g.gaussianMatrix(rows: 3, columns: 2), u = g.gaussianMatrix(rows: 3, columns: 2)
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u, weights: [1, 2, 3]),
                                 SoftmaxModel(embeddings: f, unembeddings: u, weights: [2, 4, 6]))
        #expect(pair.second.givenWeights == [1, 2, 3])
        #expect(pair.exactLogitDistanceSquared().isZero)
        #expect(try pair.exact().second.weights == Self.exactRatios([1, 2, 3]))
        // Uniform and summing-to-1 weights are their own given weights.
        let uniform = try SoftmaxModel(embeddings: f, unembeddings: u, weights: [5, 5, 5])
        #expect(uniform.givenWeights == uniform.weights)
        let unit = try SoftmaxModel(embeddings: f, unembeddings: u, weights: [0.25, 0.25, 0.5])
        #expect(unit.givenWeights == [0.25, 0.25, 0.5])
    }
}
