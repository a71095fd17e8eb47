import Numerics
import Testing
@testable import Theory

@Suite("Theory bad input")
struct TheoryBadInputTests {
    @Test func mismatchedPairsAreRefused() throws {
        var g = SeededGenerator(seed: 601)
        let a = ModelGenerator.model(labels: 5, dimension: 2, inputs: 10, using: &g)
        let fewerLabels = ModelGenerator.model(labels: 4, dimension: 2, inputs: 10, using: &g)
        let fewerInputs = ModelGenerator.model(labels: 5, dimension: 2, inputs: 9, using: &g)
        #expect(throws: ModelError.self) { try ModelPair(a, fewerLabels) }
        #expect(throws: ModelError.self) { try ModelPair(a, fewerInputs) }
        let reweighted = try SoftmaxModel(embeddings: a.embeddings, unembeddings: a.unembeddings,
                                          weights: (0..<10).map { Double($0 + 1) })
        #expect(throws: ModelError.self) { try ModelPair(a, reweighted) }
    }

    @Test func invalidModelsAreRefused() throws {
        var f = Matrix(rows: 3, columns: 2, repeating: 1)
        let g = Matrix(rows: 4, columns: 2, repeating: 1)
        f[2, 1] = .nan
        #expect(throws: ModelError.nonFinite(array: "f", row: 2, column: 1)) {
            try SoftmaxModel(embeddings: f, unembeddings: g)
        }
        f[2, 1] = 0
        #expect(throws: ModelError.self) { try SoftmaxModel(embeddings: f, unembeddings: Matrix(rows: 4, columns: 3)) }
        #expect(throws: ModelError.self) { try SoftmaxModel(embeddings: f, unembeddings: g, weights: [1, 0, 1]) }
        #expect(throws: ModelError.self) { try SoftmaxModel(embeddings: f, unembeddings: g, weights: [1, -1, 1]) }
        #expect(throws: ModelError.self) { try SoftmaxModel(embeddings: f, unembeddings: g, weights: [1, 1]) }
        #expect(throws: ModelError.self) { try SoftmaxModel(embeddings: Matrix(rows: 0, columns: 2), unembeddings: g) }
    }

    @Test func pivotFormNeedsEqualDimensions() throws {
        let c = corpus(seed: 602, count: 1, dimensions: 3...3, maxLabels: 8, generators: [.mixedDimension])[0]
        #expect(throws: ModelError.self) { try c.pair.pivotDissimilarity() }
        #expect(try T5PivotBound(.subsetSum).screen(c.pair).outcome == .inapplicable)
    }

    @Test func singularOrbitMapIsRefused() throws {
        var g = SeededGenerator(seed: 603)
        let m = ModelGenerator.model(labels: 5, dimension: 2, inputs: 6, using: &g)
        #expect(throws: ModelError.self) { try m.acted(by: try Matrix([[1, 2], [2, 4]]), shift: [0, 0]) }
    }
}
