import Numerics
import Testing
@testable import Theory

@Suite("T5 pivot bounds")
struct T5Tests {
    static let equalDimension: [ModelGenerator] = [.independent, .perturbed, .orbit, .illConditioned, .scaled, .skewedWeights]

    @Test("Per-pair forms on random pairs", arguments: T5PivotBound.Form.allCases.filter { $0 != .averaged })
    func perPair(form: T5PivotBound.Form) throws {
        try expectHolds(T5PivotBound(form), on: corpus(seed: 301, count: 120, dimensions: 1...16, maxLabels: 50,
                                                       generators: Self.equalDimension))
    }

    @Test("Averaged form over every (p, S), screened and certified")
    func averaged() throws {
        let cases = corpus(seed: 302, count: 30, dimensions: 1...3, maxLabels: 7, maxInputs: 12,
                           generators: Self.equalDimension)
        try expectHolds(T5PivotBound(.averaged), on: cases)
        try expectCertifiedHolds(T5PivotBound(.averaged), on: Array(cases.prefix(12)))
    }

    @Test("Certified per-pair on small pairs")
    func certified() throws {
        let cases = smallCorpus(seed: 303, count: 30, generators: Self.equalDimension)
        try expectCertifiedHolds(T5PivotBound(.subsetSum), on: cases)
        try expectCertifiedHolds(T5PivotBound(.allLabels), on: cases)
    }

    @Test("Integer paths equal the rational definitions: r(p,S) from the exact moments, the subset sum from the exact logits")
    func integerPaths() throws {
        var compared = 0
        for c in smallCorpus(seed: 306, count: 14, generators: Self.equalDimension) {
            let exact = try ExactModelPair(c.pair), k = c.pair.first.labelCount, d = c.pair.first.dimension
            guard k >= d + 1, let ps = try ModelPair.pivotSubsets(.automatic(limit: 3), labelCount: k, dimension: d).pairs.first,
                  let a = try? exact.pivotMap(ps) else { continue }
            // E_w‖f₁ − A f₂‖² straight from the N rows, in rationals.
            let mapped = try exact.second.embeddings.multiplied(by: a.transposed)
            let direct = (exact.first.embeddings - mapped).weightedFrobeniusSquared(exact.weights)
            #expect(exact.representationResidual(map: a) == direct, c.comment)
            #expect(c.pair.exactPivotLogitSum(ps) == exact.pivotLogitSum(ps), c.comment)
            #expect(c.pair.exactLogitDistanceSquared() == exact.logitDistanceSquared, c.comment)
            compared += 1
        }
        #expect(compared >= 10, "only \(compared) of 14 cases had a pivot pair")
    }

    @Test("Equality case of the per-pair bound, exactly and to 1e−12", arguments: [UInt64(304), 305])
    func equality(seed: UInt64) throws {
        let (pair, ps) = try TightCases.t5Equality(labels: 9, dimension: 3, inputs: 10, seed: seed)
        let exact = try ExactModelPair(pair)
        // L₁ = diag(4, 3, 2): σ_min² = 4, so r = Σ(δ_l − δ_p)² / 4 exactly.
        #expect(try exact.pivotResidual(ps) * Rational(4) == exact.pivotLogitSum(ps))
        let statement = T5PivotBound(.subsetSum, selection: .explicit([ps]))
        let screened = try statement.screen(pair)
        #expect(abs(screened.ratio - 1) < 1e-12, "ratio \(screened.ratio)")
        #expect(try statement.certify(pair).outcome == .holds)
        let planted = T5PivotBound(.subsetSum, constantScale: 1 - 0x1.0p-40, selection: .explicit([ps]))
        #expect(try planted.certify(pair).outcome == .violated)
    }

    @Test("Averaged identity: with all pairs and equal L, the mean equals the proved expectation")
    func averagedIdentity() throws {
        // E_{p,S} Σ_{l∈S}(δ_l − δ_p)² = (2d/(k−1))‖δ‖² when Σδ = 0: checked exactly.
        let c = smallCorpus(seed: 306, count: 1, generators: [.independent])[0]
        let exact = try ExactModelPair(c.pair)
        let k = c.pair.first.labelCount, d = c.pair.first.dimension
        let (all, _) = try ModelPair.pivotSubsets(.automatic(limit: .max), labelCount: k, dimension: d)
        let mean = Rational.sum(all.map { exact.pivotLogitSum($0) }) / Rational(all.count)
        #expect(mean == Rational(2 * d, k - 1) * exact.logitDistanceSquared)
    }

    @Test("Pivot dissimilarity: exhaustive, sampled with standard error, explicit, singular pivots skipped")
    func pivotDissimilarity() throws {
        let c = corpus(seed: 307, count: 1, dimensions: 3...3, maxLabels: 12, generators: [.perturbed])[0]
        let all = try c.pair.pivotDissimilarity()
        #expect(all.exhaustive && all.standardError == 0 && all.pairsSkipped == 0)
        let sampled = try c.pair.pivotDissimilarity(.sampled(pivots: 5, subsetsPerPivot: 40, seed: 9))
        #expect(sampled.pairsUsed == 200 && sampled.standardError > 0)
        #expect(abs(sampled.mean - all.mean) < 6 * sampled.standardError + 1e-12)
        // Two identical unembeddings make every L₁ containing both singular.
        var u = c.pair.first.unembeddings
        for j in 0..<3 { u[1, j] = u[0, j] }
        let degenerate = try ModelPair(try c.pair.first.with(unembeddings: u), c.pair.second)
        let skipped = try degenerate.pivotDissimilarity()
        #expect(skipped.pairsSkipped > 0 && skipped.pairsUsed + skipped.pairsSkipped == all.pairsUsed)
    }
}
