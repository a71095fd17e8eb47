import Foundation
@testable import Harness
import Numerics
import Testing
import Theory

/// The fast certificate level (Proofs/certificates.md) against the exact and MPFR levels
/// on the corpus's pairs and on adversarial ones (ties that attain the dot-product bound,
/// subnormal embeddings): no fast interval misses, no fast verdict contradicts a
/// certificate; and a planted halved product bound is caught.
@Suite("Fast enclosures agree with the exact and MPFR levels")
struct FastCertificateTests {
    @Test func fastIntervalsContainTheExactValuesAndVerdictsAgree() throws {
        let corpus = CorpusSpec(seed: 28, cases: 240, maxLabels: 12, maxDimension: 6, maxInputs: 60)
        let c = try FastCrossCheck.run(corpus, cases: 240, threads: 2)
        #expect(c.pairs == 240)
        #expect(c.missed == 0 && c.contradictions == 0, "\(c.failures)")
        #expect(c.intervals > 100_000, "only \(c.intervals) intervals checked")
        #expect(c.verdicts > 1_000, "only \(c.verdicts) verdicts compared")
        #expect(c.inconclusiveOutsideSubnormal == 0, "\(c.inconclusiveOutsideSubnormal) inconclusive intervals outside the subnormal pairs")
        // The streamed pass under both bounds on every pair, the midpoint rows included.
        #expect(c.streamedPasses >= 2 * c.pairs * 9 / 10 && c.midpointRows > 1_000, "\(c.streamedPasses) streamed passes, \(c.midpointRows) midpoint rows")
        // Every tenth pair on the language-model routes: its Grams enclosed by norm bounds (not a
        // fallback), T3, T4, T7 and T12 decided fast from them.
        #expect(c.gramRoutePairs == c.pairs / 10, "\(c.gramRoutePairs) pairs with Grams by norm bounds")
        for name in ["T3", "T4", "T7.traceBound.centred", "T7.corollary.uncentred", "T12"] {
            #expect((c.gramRouteDecidedFast[name] ?? 0) >= (name == "T12" ? 1 : 10), "\(name): \(c.gramRouteDecidedFast[name] ?? 0) decided fast on those pairs")
        }
        for name in ["T1.triangle", "T3", "T4", "T5.subsetSum", "T5.allLabels", "T5.averaged", "T6.global", "T6.sharp", "T6.perInput", "T6.sharpPerInput",
                     "T7.traceBound.centred", "T7.corollary.uncentred", "T7.mixed", "T11.covariance", "T11.sigma", "T12"] {
            #expect((c.decidedFast[name] ?? 0) >= (name == "T12" || name == "T5.averaged" ? 10 : 60), "\(name): \(c.decidedFast[name] ?? 0) decided fast")
        }
    }

    /// One pair at d = 32 (k = 36, N = 40) on the language-model routes: its d×d solves,
    /// pencils and Rayleigh bounds go through the BLAS midpoint–radius products (32³ ≥ 2¹⁵
    /// multiply-adds) and its Grams through the norm bounds; every fast interval holds the
    /// exact or MPFR value and no fast verdict contradicts a certificate. (One route only: the
    /// exact certificates at d = 32 take half a minute.)
    @Test("At d = 32 the BLAS interval products agree with the exact level too")
    func blasSizedPair() throws {
        var g = SeededGenerator(seed: 30)
        let a = ModelGenerator.model(labels: 36, dimension: 32, inputs: 40, condition: 3, using: &g)
        let b = ModelGenerator.perturb(a, by: 0.1, using: &g)
        let pair = try ModelPair(a, b, routes: .largeScale)
        #expect(32 * 32 * 32 >= FastIntervalMatrix.blasProductThreshold)
        let c = try FastCrossCheck.run(pair, third: ModelGenerator.perturb(a, by: 0.2, using: &g), label: "d = 32")
        #expect(c.missed == 0 && c.contradictions == 0, "\(c.failures)")
        #expect(c.intervals > 4_000 && c.verdicts >= 10, "\(c.intervals) intervals, \(c.verdicts) verdicts")
        #expect(pair.formedNormBoundedGrams)
        for name in ["T3", "T4", "T7.traceBound.centred"] {
            #expect((c.decidedFast[name] ?? 0) == 1, "\(name) not decided fast: \(c.escalated)")
        }
    }

    /// With every constant planted 0.1 % too small, the boundary generator's equality cases are
    /// certified violations: a fast "holds" on any of them would be a contradiction (the honest
    /// corpus, where every certificate holds, can only expose a false fast "violated").
    @Test func noFastHoldsWhereTheCertificateIsViolated() throws {
        let corpus = CorpusSpec(seed: 29, cases: 120, generators: [.boundary, .perturbed, .orbit], maxLabels: 10, maxDimension: 5, maxInputs: 50)
        let c = try FastCrossCheck.run(corpus, cases: 120, threads: 2, plantedScale: 1 - 1e-3)
        #expect(c.contradictions == 0 && c.missed == 0, "\(c.failures)")
        #expect(c.violatedReferences >= 20, "only \(c.violatedReferences) certified violations compared")
    }

    /// The mixed T7 conjecture's fast verdict against its certificate on the boundary generator's
    /// pairs, where it fails (certified violations): never a contradiction honestly; its left side
    /// halved (a planted bug), a false fast "holds" on some of them.
    @Test func theMixedConjecturesFastVerdictAgreesWithItsCertificate() throws {
        let corpus = CorpusSpec(seed: 33, cases: 80, generators: [.boundary, .perturbed, .illConditioned], maxLabels: 10, maxDimension: 5, maxInputs: 50)
        var compared = 0, violated = 0, plantedContradictions = 0
        for index in 0..<80 {
            let pair = corpus.descriptor(index).pair
            let certified = try MixedT7Conjecture.certify(pair)
            guard certified.isCertified, certified.outcome == .holds || certified.outcome == .violated else { continue }
            if let fast = MixedT7Conjecture.fastVerdict(pair) {
                #expect(fast.outcome == certified.outcome, "#\(index): fast \(fast.outcome), certified \(certified.outcome)")
                compared += 1
                if certified.outcome == .violated { violated += 1 }
            }
            if let planted = MixedT7Conjecture.fastVerdict(pair, leftScale: 0.5), planted.outcome != certified.outcome { plantedContradictions += 1 }
        }
        #expect(compared >= 40 && violated >= 5, "\(compared) compared, \(violated) of them certified violations")
        #expect(plantedContradictions >= 3, "the halved left side contradicted only \(plantedContradictions) certificates")
    }

    @Test func theAdversarialPairsAttainTheProductBound() throws {
        let corpus = CorpusSpec(seed: 28, cases: 10, maxLabels: 12, maxDimension: 6, maxInputs: 60)
        let (pair, _, label) = FastCrossCheck.pair(corpus, index: 9)
        #expect(label.contains("rounding adversary"))
        let fast = try #require(FastLogits(pair.first))
        let exact = try pair.exact().first.logits
        // The computed logit is off by (d − 2)·u·2^e, most of the bound's half-width.
        var largest = 0.0
        let entries = fast.entries
        for t in entries.indices {
            let e = entries[t]
            let error = abs((Rational(exactly: e.midpoint)! - exact[t / fast.columns, t % fast.columns]).doubleValue)
            largest = max(largest, error / (e.width / 2))
        }
        #expect(largest > 0.5, "the adversarial logits use only \(largest) of the bound")
        // The streamed pass's enclosures: the absolute-product bound is as tight; the norm bound's are wider.
        let streamed = FastLogitSums.logitEnclosures(pair, bound: .absoluteProducts).first
        let byNorms = FastLogitSums.logitEnclosures(pair, bound: .norms).first
        #expect(streamed.count == entries.count)
        let usedByStreamed = streamed.indices.map { t in
            abs((Rational(exactly: streamed[t].midpoint)! - exact[t / fast.columns, t % fast.columns]).doubleValue) / (streamed[t].width / 2)
        }.max() ?? 0
        #expect(usedByStreamed > 0.5 && usedByStreamed <= 1, "the streamed adversarial logits use \(usedByStreamed) of the bound")
        #expect(byNorms.count == streamed.count && zip(byNorms, streamed).allSatisfy { $0.lo <= $1.lo && $1.hi <= $0.hi })
    }

    @Test func aHalvedProductBoundIsCaught() throws {
        let honest = try runTool(["bench", "--target", "enclosures", "--cases", "30", "--threads", "2"], terminateAfter: 120)
        #expect(honest.status == 0 && honest.stdout.contains(" 0 missed"), "\(honest.stdout)")
        let planted = try runTool(["bench", "--target", "enclosures", "--cases", "30", "--threads", "2"], terminateAfter: 120,
                                  environment: ["LOGITBOUNDS_PLANT_PRODUCT_BOUND": "0.5"])
        #expect(planted.status == 1 && planted.stdout.contains("rounding adversary"), "\(planted.stdout)")
    }
}
