import Numerics
import Testing
@testable import Theory

@Suite("Model family and hand-checked values")
struct ModelFamilyTests {
    /// k = 3, d = 1, N = 2: F₁ = [1; 2], G = [1; 0; −1] (already centred), F₂ = [0; 0].
    /// Λ̃₁ = [[1, 0, −1], [2, 0, −2]], Λ̃₂ = 0, so
    /// d_logit² = ½(2 + 8) = 5; A₁₂ = 1; d_rep² = ½(1 + 4) = 5/2; σ_min(G̃)² = 2,
    /// and T3 holds with equality: 5/2 = 5/2.
    static func handPair() throws -> ModelPair {
        let g = try Matrix([[1], [0], [-1]])
        let m1 = try SoftmaxModel(embeddings: try Matrix([[1], [2]]), unembeddings: g)
        let m2 = try SoftmaxModel(embeddings: try Matrix([[0], [0]]), unembeddings: g)
        return try ModelPair(m1, m2)
    }

    @Test func handCheckedDistances() throws {
        let pair = try Self.handPair()
        #expect(abs(try pair.logitDistanceSquared() - 5) < 1e-15)
        #expect(abs(try pair.representationDissimilaritySquared() - 2.5) < 1e-15)
        let exact = try ExactModelPair(pair)
        #expect(exact.logitDistanceSquared == Rational(5))
        #expect(try exact.representationDissimilaritySquared() == Rational(5, 2))
        let v = try T3EmbeddingBound().certify(pair)
        #expect(v.outcome == .holds)
        #expect(try T3EmbeddingBound(constantScale: 0.999).certify(pair).outcome == .violated)
        // KL(M₁‖M₂) with M₂ uniform: E_x Σ p log(3p), p = softmax(x·(1, 0, −1)).
        let expected = [1.0, 2.0].map { s -> Double in
            let z = [s, 0, -s].map { $0.exp }, total = z.reduce(0, +)
            return z.map { $0 / total }.reduce(0) { $0 + $1 * (3 * $1).log }
        }.reduce(0, +) / 2
        #expect(abs(pair.klDivergence() - expected) < 1e-15)
        let enclosed = try pair.certifiedDivergence()
        // The enclosure must contain the true value; `expected` is a Double a few ulps from
        // it, so widen that by its own rounding bound (20 ulps), never by the enclosure's midpoint.
        let slack = 20 * expected.ulp
        #expect(enclosed.klForward.lower <= expected + slack && enclosed.klForward.upper >= expected - slack,
                "[\(enclosed.klForward.lower), \(enclosed.klForward.upper)] vs \(expected)")
        #expect(enclosed.klForward.upper - enclosed.klForward.lower < 1e-14)
        // τ(M₂) = 1/3 exactly (uniform): log τ = −log 3, which −(3.0).log approximates to an ulp.
        let logThird = -(3.0).log
        #expect(enclosed.logTauSecond.lower <= logThird + 2 * logThird.ulp && enclosed.logTauSecond.upper >= logThird - 2 * logThird.ulp)
    }

    @Test func centredLogitsAreClrOfConditionals() throws {
        var g = SeededGenerator(seed: 41)
        let m = ModelGenerator.model(labels: 7, dimension: 3, inputs: 10, using: &g)
        let logP = m.logConditionals
        let clr = logP.subtractingFromRows([Double](repeating: 0, count: 7)).transposed
        let centred = m.centredLogits
        for i in 0..<10 {
            let row = logP.row(i), mean = row.reduce(0, +) / 7
            for y in 0..<7 { #expect(abs(centred[i, y] - (row[y] - mean)) < 1e-12) }
        }
        _ = clr
        let p = m.conditionals
        for i in 0..<10 { #expect(abs(p.row(i).reduce(0, +) - 1) < 1e-14) }
    }

    @Test("Orbit action leaves the conditionals unchanged", arguments: [UInt64(42), 43, 44])
    func orbitPreservesConditionals(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let m = ModelGenerator.model(labels: 9, dimension: 4, inputs: 20, using: &g)
        let a = Matrix.identity(4) + g.gaussianMatrix(rows: 4, columns: 4, scale: 0.3)
        let image = try m.acted(by: a, shift: [1, -2, 0.5, 3])
        #expect(m.conditionals.maxAbsDifference(image.conditionals) < 1e-12)
        let pair = try ModelPair(m, image)
        #expect(try pair.logitDistance() < 1e-12)
        // The map: F₁ = F₂ A₁₂ᵀ with A₁₂ = A⁻¹.
        #expect(relative(try pair.identifiabilityMap(), try a.inverse()) < 1e-10)
        #expect(try pair.inSameClass())
        // Canonical representatives agree.
        let c1 = try m.canonicalRepresentative(), c2 = try image.canonicalRepresentative()
        #expect(relative(c1.embeddings, c2.embeddings) < 1e-8)
    }

    @Test func diversityReportsRankDeficiency() throws {
        let g = try Matrix([[1, 2], [2, 4], [3, 6]])   // rank 1 after centring
        let m = try SoftmaxModel(embeddings: try Matrix([[1, 0], [0, 1], [1, 1]]), unembeddings: g)
        let diversity = try m.diversity()
        #expect(!diversity.holds)
        #expect(diversity.failure?.contains("G̃") == true)
        let small = try SoftmaxModel(embeddings: try Matrix([[1, 0]]), unembeddings: try Matrix([[1, 0], [0, 1]]))
        #expect(try small.diversity().failure?.contains("k ≥ d + 1") == true)
    }

    @Test func pivotMomentFormMatchesDirect() throws {
        var compared = 0, factored = 0, used = 0, cancelledPairs = 0, viaFactorRoute = 0
        for c in corpus(seed: 45, count: 20, dimensions: 1...6, maxLabels: 14, maxInputs: 60,
                        generators: [.independent, .perturbed, .orbit, .skewedWeights]) {
            let pair = c.pair
            let (pairs, _) = try ModelPair.pivotSubsets(.sampled(pivots: 3, subsetsPerPivot: 3, seed: 1),
                                                        labelCount: pair.first.labelCount, dimension: pair.first.dimension)
            let moments = PivotMoments(pair)
            var allowed: [PivotSubset: (exact: Double, bound: Double)] = [:]
            for ps in pairs {
                guard let direct = try? pair.pivotResidualDirect(ps) else { continue }
                let a = try LUDecomposition(ModelPair.pivotMatrix(pair.first.unembeddings, ps))
                    .solve(ModelPair.pivotMatrix(pair.second.unembeddings, ps))
                let moment = moments.residual(a)
                if direct > 1e-6 * moments.traceM11 {
                    #expect(abs(moment - direct) <= 1e-8 * direct, c.comment)
                }
                // The direct path forms e = f₁ − A f₂ with A = L₁⁻¹L₂ from LU: each row's error is
                // at most δ ≈ 10·d·ε·(κ(L₁)·‖A‖_F·‖f₂‖ + ‖f₁‖) in RMS over the inputs, so
                // |r̂ − r| ≤ 2√r·δ + δ² (r = E‖e‖²), whatever BLAS kernel rounds the products.
                let exact = try ExactModelPair(pair).pivotResidual(ps).doubleValue
                let kappa = try ModelPair.pivotMatrix(pair.first.unembeddings, ps).conditionNumber()
                let f2 = pair.second.embeddings.scalingRows(by: pair.second.sqrtWeights).frobeniusNormSquared.squareRoot()
                let delta = 10 * Double(pair.first.dimension) * Double.ulpOfOne
                    * (kappa * a.frobeniusNormSquared.squareRoot() * f2 + moments.traceM11.squareRoot())
                #expect(abs(direct - exact) <= 2 * exact.squareRoot() * delta + delta * delta, c.comment)
                compared += 1
                // The rows' triangular factor (the cancelled pairs' route where four or more cancel):
                // ‖Rv‖ is within γ‖X‖_F‖v‖₂ of ‖Xv‖ for X = W^{1/2}[F₁ | F₂] and v = [I; −Aᵀ], beside
                // the same error in A.
                let norm = a.frobeniusNormSquared.squareRoot(), x = (moments.traceM11 + f2 * f2).squareRoot()
                let deltaFactor = 20 * Double(pair.first.dimension) * Double.ulpOfOne * (kappa * norm * f2 + x * (1 + norm))
                let widest = max(delta, deltaFactor)
                allowed[ps] = (exact, max(1e-8 * exact, 2 * exact.squareRoot() * widest + widest * widest))
                guard let factor = moments.stackedFactor() else { continue }
                let viaFactor = PivotMoments.factorResidual(factor, a)
                #expect(abs(viaFactor - exact) <= 2 * exact.squareRoot() * deltaFactor + deltaFactor * deltaFactor, "\(c.comment): \(viaFactor) against \(exact)")
                factored += 1
            }
            // Every value the pivot form uses (the cancelled ones from the factor where four or more
            // cancel, as on the orbit pairs) within the bound of its route.
            let values = try pair.pivotResidualValues(.sampled(pivots: 3, subsetsPerPivot: 3, seed: 1))
            let factor = values.direct >= 4 ? moments.stackedFactor() : nil
            for (ps, value) in zip(values.pairs, values.residuals) {
                guard let value, let (exact, bound) = allowed[ps] else { continue }
                #expect(abs(value - exact) <= bound, "\(c.comment): \(value) against \(exact)")
                used += 1
                // Where four or more cancel, each cancelled pair's value is the factor's.
                let map = try ModelPair.pivotMap(pair.first.unembeddings, pair.second.unembeddings, ps)
                if let factor, moments.residual(map) < 1e-6 * moments.traceM11 {
                    #expect(value == PivotMoments.factorResidual(factor, map), c.comment)
                    viaFactorRoute += 1
                }
            }
            cancelledPairs += values.direct
        }
        #expect(compared >= 30 && factored >= 30 && used >= 30 && cancelledPairs >= 4 && viaFactorRoute >= 4,
                "\(compared), \(factored), \(used), \(cancelledPairs), \(viaFactorRoute) pivot pairs compared")
    }

    @Test func pivotSelectionEnumeratesAndSamples() throws {
        let (all, exhaustive) = try ModelPair.pivotSubsets(.automatic(), labelCount: 6, dimension: 2)
        #expect(exhaustive && all.count == 6 * 10)
        #expect(Set(all).count == all.count)
        let (sampled, ex2) = try ModelPair.pivotSubsets(.automatic(limit: 10, pivots: 4, subsetsPerPivot: 5, seed: 3),
                                                        labelCount: 6, dimension: 2)
        #expect(!ex2 && sampled.count == 20)
        #expect(sampled.allSatisfy { !$0.subset.contains($0.pivot) && Set($0.subset).count == 2 })
        #expect(throws: ModelError.self) {
            try ModelPair.pivotSubsets(.explicit([PivotSubset(pivot: 0, subset: [0, 1])]), labelCount: 6, dimension: 2)
        }
    }

    @Test func generatorsAreReproducible() {
        for generator in ModelGenerator.allCases {
            let size = CaseSize(labels: 9, dimension: 3, inputs: 20)
            let a = generator.pair(seed: 7, size: size), b = generator.pair(seed: 7, size: size)
            #expect(a.first.embeddings == b.first.embeddings && a.second.unembeddings == b.second.unembeddings)
            #expect(a.first.weights == b.first.weights)
        }
    }

    @Test func canonicalCorrelationsOfLinearlyRelatedSamples() throws {
        var g = SeededGenerator(seed: 46)
        let x = g.gaussianMatrix(rows: 100, columns: 4)
        let a = g.gaussianMatrix(rows: 4, columns: 4)
        let w = [Double](repeating: 0.01, count: 100)
        let related = try CanonicalCorrelations(x, x * a, weights: w, centred: true)
        #expect(related.values.allSatisfy { abs($0 - 1) < 1e-10 })
        let noise = try CanonicalCorrelations(x, g.gaussianMatrix(rows: 100, columns: 4), weights: w, centred: false)
        #expect(noise.mean < 0.5)
        // A shift changes the uncentred correlations but not the centred ones.
        let shifted = (x * a).subtractingFromRows([5, 5, 5, 5])
        #expect(try CanonicalCorrelations(x, shifted, weights: w, centred: true).mean > 1 - 1e-10)
        #expect(try CanonicalCorrelations(x, shifted, weights: w, centred: false).mean < 1 - 1e-3)
    }
}

func relative(_ a: Matrix, _ b: Matrix) -> Double {
    a.maxAbsDifference(b) / max(b.maxAbs, .leastNormalMagnitude)
}
