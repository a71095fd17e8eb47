import Numerics
import Testing
import Theory

@Suite("T10: class measures do not see the orbit, CKA does")
struct T10Tests {
    @Test("The dyadic orbit image has exactly the same conditionals; d_rep is unchanged exactly and CKA is not", arguments: ModelGenerator.allCases)
    func orbitInvariance(generator: ModelGenerator) throws {
        var certified = 0, moved = 0
        // Eight seeds: the boundary generator builds four kinds of equality case in turn.
        for seed in UInt64(1)...8 {
            let pair = generator.pair(seed: seed, size: CaseSize(labels: 7, dimension: 3, inputs: 12))
            let image = try ModelPair(pair.second, T10ClassInvariance.orbitImage(pair.second))
            #expect(image.exactLogitDistanceSquared().isZero, "\(generator) seed \(seed): the orbit image changed the conditionals")
            let v = try T10ClassInvariance().certify(pair)
            guard v.outcome != .inapplicable else { continue }
            #expect(v.outcome == .holds && v.level == .exact, "\(generator) seed \(seed): \(v)")
            certified += 1
            if v.certificate?.contains("CKA is not a class function") == true { moved += 1 }
        }
        #expect(certified >= 2, "\(generator): \(certified) certified cases")
        #expect(moved >= 1, "\(generator): the map moved CKA in no case")
    }

    @Test("A map that is not an orbit move (G not mapped by A⁻¹) is a certified violation")
    func plantedBreak() throws {
        let broken = T10ClassInvariance { model in
            let image = try T10ClassInvariance.orbitImage(model)
            return try SoftmaxModel(embeddings: image.embeddings, unembeddings: model.unembeddings, weights: model.weights)
        }
        var violated = 0
        for seed in UInt64(1)...4 {
            let pair = ModelGenerator.independent.pair(seed: seed, size: CaseSize(labels: 7, dimension: 3, inputs: 12))
            let v = try broken.check(pair)
            #expect(v.outcome == .violated && v.level == .exact, "seed \(seed): \(v.outcome) at \(v.level)")
            if v.outcome == .violated { violated += 1 }
            #expect(try T10ClassInvariance().check(pair).outcome == .holds)
        }
        #expect(violated == 4)
    }
}
