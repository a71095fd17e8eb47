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
/// violated or undecided, and at least `minimumDecided` cases (default: half) to be
/// decided "holds" — a helper that accepted "inapplicable" everywhere would pass on
/// a statement whose hypotheses never held. Returns the decided and certified
/// counts and the worst ratio.
@discardableResult
func expectHolds(_ statement: some PairStatement, on cases: [GeneratedCase], minimumDecided: Int? = nil,
                 sourceLocation: SourceLocation = #_sourceLocation) throws -> (decided: Int, certified: Int, worstRatio: Double) {
    var certified = 0, decided = 0
    var worst = 0.0
    for c in cases {
        let v = try statement.check(c.pair)
        if v.level != .double { certified += 1 }
        #expect(v.outcome == .holds || v.outcome == .inapplicable,
                "\(v.id) \(v.form): \(v.outcome) lhs=\(v.lhs) rhs=\(v.rhs) [\(v.certificate ?? "")] — \(c.description)",
                sourceLocation: sourceLocation)
        if v.outcome == .holds {
            decided += 1
            if !v.ratio.isNaN { worst = max(worst, v.ratio) }
        }
    }
    let needed = minimumDecided ?? cases.count / 2
    #expect(decided >= needed, "only \(decided) of \(cases.count) cases decided (\(needed) needed)", sourceLocation: sourceLocation)
    return (decided, certified, worst)
}

/// Certifies every case directly and expects a certified "holds" (or inapplicable),
/// at least `minimumCertified` (default: half) of them certified "holds" at level
/// exact or enclosure. Returns that count.
@discardableResult
func expectCertifiedHolds(_ statement: some PairStatement, on cases: [GeneratedCase], minimumCertified: Int? = nil,
                          sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
    var certifiedHolds = 0
    for c in cases {
        let v = try statement.certify(c.pair)
        #expect(v.outcome == .inapplicable || v.level == .exact || v.level == .enclosure, sourceLocation: sourceLocation)
        #expect(v.outcome == .holds || v.outcome == .inapplicable,
                "\(v.id) certified \(v.outcome): \(v.certificate ?? "") — \(c.description)", sourceLocation: sourceLocation)
        if v.outcome == .holds && v.isCertified { certifiedHolds += 1 }
    }
    let needed = minimumCertified ?? cases.count / 2
    #expect(certifiedHolds >= needed, "only \(certifiedHolds) of \(cases.count) certified holds (\(needed) needed)",
            sourceLocation: sourceLocation)
    return certifiedHolds
}
