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

    @Test("The exact moments, raw and centred, are those of the given weights")
    func exactMoments() throws {
        let pair = try Self.pair()
        func moment(_ a: Matrix, _ b: Matrix, _ w: [Rational], centred: Bool) -> RationalMatrix {
            func mean(_ m: Matrix, _ j: Int) -> Rational { Rational.sum(w.indices.map { w[$0] * Rational(exactly: m[$0, j])! }) }
            return RationalMatrix(rows: a.columns, columns: b.columns) { p, q in
                let (ma, mb) = centred ? (mean(a, p), mean(b, q)) : (.zero, .zero)
                return Rational.sum(w.indices.map { w[$0] * (Rational(exactly: a[$0, p])! - ma) * (Rational(exactly: b[$0, q])! - mb) })
            }
        }
        let (f1, f2) = (pair.first.embeddings, pair.second.embeddings)
        let given = Self.exactRatios(Self.given), normalised = Self.exactRatios(pair.weights)
        var compared = 0
        for centred in [false, true] {
            let exact = try pair.exact().moments(centred: centred)
            for (value, a, b) in [(exact.m11, f1, f1), (exact.m22, f2, f2), (exact.m21, f2, f1)] {
                #expect(value == moment(a, b, given, centred: centred))
                #expect(value != moment(a, b, normalised, centred: centred))
                compared += 1
            }
        }
        #expect(compared == 6)
    }

    @Test("One run's streamed sums take the given weights, scaled so that weights near 10³⁰⁸ do not overflow them")
    func streamedSums() throws {
        for weights in [Self.given, [1e308, 1e308, 5e307, 1e308, 3, 7], [1e308, 1e308, 5e307, 1e308, 3, 5e-324]] {
            let pair = try Self.pair(weights: weights)
            let sums = try #require(pair.fastLogitSums()), raw = try #require(FastLogitSums.compute(pair, rawWeights: weights))
            let d = sums.logitDistanceSquared, truth = pair.exactLogitDistanceSquared()
            #expect(Rational(exactly: d.lo)! <= truth && truth <= Rational(exactly: d.hi)!)
            #expect(d.hi - d.lo <= 1e-12 * d.hi, "\(weights): \(d)")
            // The same means as the given weights unscaled, where those do not overflow.
            if weights == Self.given { #expect(d.lo == raw.logitDistanceSquared.lo && d.hi == raw.logitDistanceSquared.hi) }
        }
    }

    /// A weight the scaling sends below the Double range (5·10⁻³²⁴ beside 10³⁰⁰) enters the sums as
    /// the enclosure [0, 2⁻¹⁰⁷⁴], not as the point 0: its input, the only one where the models
    /// differ (logits 10¹⁵³ apart), makes d_logit² about 10⁻³¹⁸, which the enclosure holds.
    @Test("A weight scaled into the subnormals enters the streamed sums as an enclosure, not as 0")
    func streamedLightRow() throws {
        let g = try Matrix([[1, 0], [0, 1]])
        // The heavy inputs' logits are 0 in both models: their terms are exactly 0, with no error bound.
        let f = try Matrix([[0, 0], [0, 0], [1, 1]])
        var far = f
        far[2, 0] = 1e153
        let weights = [1e300, 1e300, 5e-324]
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: g, weights: weights), SoftmaxModel(embeddings: far, unembeddings: g, weights: weights))
        let truth = pair.exactLogitDistanceSquared()
        // Above the outward rounding of a 0 sum (2⁻¹⁰⁷⁴), so a weight entered as 0 would miss it.
        #expect(truth > Rational(exactly: 0x1p-1070)! && truth < Rational(exactly: 0x1p-1000)!)
        let d = try #require(FastLogitSums.compute(pair)).logitDistanceSquared
        #expect(Rational(exactly: d.lo)! <= truth && truth <= Rational(exactly: d.hi)!, "\(d)")
    }

    @Test("A pair's second model takes the first's given weights, where the normalised Doubles are the same")
    func pairWeights() throws {
        var g = SeededGenerator(seed: 3)
        let f = g.gaussianMatrix(rows: 3, columns: 2), u = g.gaussianMatrix(rows: 3, columns: 2)
        // [4, 7, 1] and [4, 7⁺, 1] normalise to the same Doubles but not to the same rationals.
        let (first, second) = ([4.0, 7.0, 1.0], [4.0, 7.0.nextUp, 1.0])
        let a = try SoftmaxModel(embeddings: f, unembeddings: u, weights: first)
        let b = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: 3, columns: 2), unembeddings: u, weights: second)
        #expect(a.weights == b.weights && Self.exactRatios(first) != Self.exactRatios(second))
        let pair = try ModelPair(a, b)
        #expect(pair.second.givenWeights == first)
        #expect(try pair.exact().second.weights == Self.exactRatios(first))
        #expect(try pair.swapped.exact().first.weights == Self.exactRatios(first))
        // Weights that differ are refused, naming the normalised values compared (an attack had read
        // "differ at input 0" where both files held 0.5 there).
        let other = try SoftmaxModel(embeddings: f, unembeddings: u, weights: [4, 7, 2])
        #expect { try ModelPair(a, other) } throws: { error in
            "\(error)".contains("divided by their sums, input 0 has \(a.weights[0]) in the first model and \(other.weights[0]) in the second")
        }
        // Uniform weights are their own given weights.
        let uniform = try SoftmaxModel(embeddings: f, unembeddings: u, weights: [5, 5, 5])
        #expect(uniform.givenWeights == uniform.weights && uniform.weights == [1.0 / 3, 1.0 / 3, 1.0 / 3])
    }

    /// The refined divergences (logit differences formed exactly) are means under the given weights
    /// formed exactly: the normalised Doubles keep one or two bits of a weight near the subnormals,
    /// and an attack's KL came out 40 % off (weights [2, 2.5·10⁻³²³, 1], the light input's KL 10¹⁵⁰).
    @Test("Refined d_logit² and KL: means under the given weights, with a weight near the subnormals")
    func refinedMeans() throws {
        let weights = [2, 2.5e-323, 1]
        let g = try Matrix([[1, 0], [0, 1]])
        let a = try SoftmaxModel(embeddings: Matrix([[0, 0], [0, 1e150], [1, 0]]), unembeddings: g, weights: weights)
        let b = try SoftmaxModel(embeddings: Matrix([[0, 0], [1e150, 0], [1, 0]]), unembeddings: g, weights: weights)
        let pair = try ModelPair(a, b)
        let refined = try #require(pair.refinedDivergence())
        let r = Self.exactRatios(weights)
        // KL_x is 0 on the two inputs that agree and 10¹⁵⁰ on the light one (both ways).
        #expect(refined.klPerInput[0] == 0 && refined.klPerInput[2] == 0 && refined.klPerInput[1] == 1e150)
        let expected = (r[1] * Rational(exactly: 1e150)!).doubleValue
        #expect(abs(refined.kl - expected) <= 1e-15 * expected && abs(refined.reverseKL - expected) <= 1e-15 * expected, "\(refined.kl) against \(expected)")
        let truth = pair.exactLogitDistanceSquared().doubleValue
        #expect(abs(refined.logitDistanceSquared - truth) <= 1e-15 * truth, "\(refined.logitDistanceSquared) against \(truth)")
        // The normalised Doubles' mean is far off: the test can tell.
        #expect(abs(pair.weights[1] * 1e150 - expected) > 0.1 * expected)
    }
}
