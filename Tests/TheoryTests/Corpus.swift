import Numerics
import Testing
@testable import Theory

/// One generated case, printable so that any failure names how to rebuild it.
struct GeneratedCase: CustomStringConvertible, Sendable {
    let generator: ModelGenerator
    let seed: UInt64
    let size: CaseSize
    let pair: ModelPair

    var description: String {
        "generator=\(generator.rawValue) seed=\(seed) k=\(size.labels) d=\(size.dimension) N=\(size.inputs)"
    }

    var comment: Comment { Comment(rawValue: description) }
}

/// A reproducible corpus: case i uses seed derive(seed, i), generators in turn.
func corpus(seed: UInt64, count: Int, dimensions: ClosedRange<Int> = 1...16, maxLabels: Int = 50,
            maxInputs: Int = 80, generators: [ModelGenerator] = ModelGenerator.allCases) -> [GeneratedCase] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { i in
        let size = CaseSize.random(dimensions: dimensions, maxLabels: maxLabels, maxInputs: maxInputs, using: &g)
        let generator = generators[i % generators.count]
        let caseSeed = SeededGenerator.derive(seed, UInt64(i))
        return GeneratedCase(generator: generator, seed: caseSeed, size: size,
                             pair: generator.pair(seed: caseSeed, size: size))
    }
}

/// Small cases that exact certification handles in milliseconds.
func smallCorpus(seed: UInt64, count: Int, generators: [ModelGenerator] = ModelGenerator.allCases) -> [GeneratedCase] {
    corpus(seed: seed, count: count, dimensions: 1...4, maxLabels: 9, maxInputs: 16, generators: generators)
}

/// Screens every case; certifies those the screen flags; expects no case to end
/// violated or undecided. Returns how many were certified and the worst ratio.
@discardableResult
func expectHolds(_ statement: some PairStatement, on cases: [GeneratedCase]) throws -> (certified: Int, worstRatio: Double) {
    var certified = 0
    var worst = 0.0
    for c in cases {
        let v = try statement.check(c.pair)
        if v.level != .double { certified += 1 }
        #expect(v.outcome == .holds || v.outcome == .inapplicable,
                "\(v.id) \(v.form): \(v.outcome) lhs=\(v.lhs) rhs=\(v.rhs) [\(v.certificate ?? "")]", sourceLocation: .__here())
        if v.outcome == .holds && !v.ratio.isNaN { worst = max(worst, v.ratio) }
        if v.outcome != .holds && v.outcome != .inapplicable { Issue.record(c.comment) }
    }
    return (certified, worst)
}

/// Certifies every case directly and expects a certified "holds" (or inapplicable).
func expectCertifiedHolds(_ statement: some PairStatement, on cases: [GeneratedCase]) throws {
    for c in cases {
        let v = try statement.certify(c.pair)
        #expect(v.level != .double)
        #expect(v.outcome == .holds || v.outcome == .inapplicable,
                "\(v.id) certified \(v.outcome): \(v.certificate ?? "") — \(c.description)")
    }
}
