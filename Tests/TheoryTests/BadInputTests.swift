import Foundation
import Numerics
import Testing
@testable import Theory

@Suite("Theory bad input")
struct TheoryBadInputTests {
    /// A report's files are checked against the command's inputs at each write too (distill's
    /// model and concept names are known only at the end): an input under a written name, or
    /// behind a symlink there, is refused and left as it was; other names are written.
    @Test("ReportDirectory refuses to replace a protected input, through a symlink too, and writes other names")
    func reportDirectoryProtectsInputs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-reportdir-\(UInt64.random(in: 0...UInt64.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("models"), withIntermediateDirectories: true)
        let input = dir.appendingPathComponent("models/teacher.npz"), elsewhere = dir.appendingPathComponent("data.npz")
        try Data("input".utf8).write(to: input)
        try Data("other".utf8).write(to: elsewhere)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("link.md").path, withDestinationPath: elsewhere.path)
        var out = try ReportDirectory(dir, protecting: [input.path, elsewhere.path, dir.appendingPathComponent("missing.npz").path])
        #expect(throws: OverwriteRefusal(output: input.path, input: input.path)) { try out.target("models/teacher.npz") }
        #expect(throws: OverwriteRefusal.self) { try out.put("link.md", "report") }
        // `target` before a write that goes through links (model files): refused there too.
        let modelLink = dir.appendingPathComponent("models/s.npz")
        try FileManager.default.createSymbolicLink(atPath: modelLink.path, withDestinationPath: elsewhere.path)
        #expect(throws: OverwriteRefusal(output: modelLink.path, input: elsewhere.path)) { try out.target("models/s.npz") }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir.appendingPathComponent("link.md").path) == elsewhere.path)
        try out.put("report.md", "report")
        _ = try out.target("missing.npz")
        #expect(try String(contentsOf: input, encoding: .utf8) == "input" && String(contentsOf: elsewhere, encoding: .utf8) == "other")
        #expect(out.written.map(\.lastPathComponent) == ["report.md"])
    }

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
