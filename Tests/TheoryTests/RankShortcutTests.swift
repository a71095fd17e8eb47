@testable import Measure
@testable import Numerics
@testable import Theory
import Foundation
import Testing

/// Decisions that exact minors of large heavy moments had made slowly (30 s each at d = 48),
/// now made from ranks modulo a prime (`ModularRank`) or from certified inertia counts, each
/// against the exact decision it replaces.
@Suite("Ranks and counts in place of exact minors")
struct RankShortcutTests {
    /// Student (model 1) and teacher (model 2) with N inputs, weights spread over 10^±3 (three
    /// nearly parallel inputs weighted 10⁴⁰ when `heavy`).
    static func pair(inputs n: Int, student d1: Int, teacher d2: Int, heavy: Bool, seed: UInt64) throws -> ModelPair {
        var g = SeededGenerator(seed: seed)
        let teacher = ModelGenerator.model(labels: 24, dimension: d2, inputs: n, using: &g)
        let student = ModelGenerator.model(labels: 24, dimension: d1, inputs: n, using: &g)
        var f = teacher.embeddings
        if heavy { for i in 1..<3 { for j in 0..<d2 { f[i, j] = f[0, j] + 1e-9 * g.gaussian() } } }
        let weights = (0..<n).map { i in heavy && i < 3 ? 1e40 : pow(10, 6 * g.uniform() - 3) }
        return try ModelPair(SoftmaxModel(embeddings: student.embeddings, unembeddings: student.unembeddings, weights: weights),
                             SoftmaxModel(embeddings: f, unembeddings: teacher.unembeddings, weights: weights))
    }

    /// inertia₊(E) for E = M₂₂ − M₂₁M₁₁⁻¹M₁₂, the q-pencil at 0, exactly.
    static func exactCountAtZero(_ exact: ExactModelPair, centred: Bool) throws -> Int {
        let m = exact.moments(centred: centred)
        let e = m.m22 - (try m.m21.multiplied(by: try m.m11.solve(m.m21.transposed)))
        return try e.symmetricInertia().positive
    }

    /// Fewer inputs than d₁ + d₂ (the pencil singular at 0): rank[1 F₁ F₂] reaches N, so the count
    /// is proved, and it is the exact inertia; with the student the teacher's exact map it is not
    /// proved (rank d below min(N, d₁ + d₂)), and exact elimination stays the judge.
    @Test("T7's count at 1 − ρ² = 0 from ranks: the exact inertia of E where proved", arguments: [false, true])
    func countAtZero(heavy: Bool) throws {
        var compared = 0
        for (n, d1, d2, seed) in [(30, 16, 20, 1), (24, 8, 20, 2), (60, 10, 12, 3), (40, 20, 20, 4)] as [(Int, Int, Int, UInt64)] {
            let exact = try Self.pair(inputs: n, student: d1, teacher: d2, heavy: heavy, seed: seed).exact()
            for centred in [false, true] {
                let count = try #require(CertifiedT7Spectra.positiveCountAtZero(exact, centred: centred), "N = \(n), d = \(d1)/\(d2)")
                #expect(count == (try Self.exactCountAtZero(exact, centred: centred)), "N = \(n), d = \(d1)/\(d2), centred \(centred)")
                compared += 1
            }
        }
        #expect(compared == 8)
        // The student an exact map of the teacher (f₁ = f₂ with columns doubled): rank d₂ < min(N, 2d₂).
        var g = SeededGenerator(seed: 5)
        let teacher = ModelGenerator.model(labels: 12, dimension: 6, inputs: 40, using: &g)
        let mapped = try SoftmaxModel(embeddings: 2 * teacher.embeddings, unembeddings: teacher.unembeddings)
        let orbit = try ModelPair(mapped, teacher).exact()
        #expect(CertifiedT7Spectra.positiveCountAtZero(orbit, centred: false) == nil)
        #expect(try Self.exactCountAtZero(orbit, centred: false) == 0)
    }

    /// The exact level divides the given weights, so an input whose normalised Double weight
    /// underflowed to 0 (10⁻³⁰⁰ beside 10³⁰⁸) still has weight there: the ranks must run over it.
    @Test("A weight that normalises to 0 in Double still counts in the ranks: T7's count at 0 and the moments' definiteness")
    func underflowedWeight() throws {
        var g = SeededGenerator(seed: 9)
        let weights = [1e308, 1e-300, 1]
        func model(_ d: Int) throws -> SoftmaxModel {
            try SoftmaxModel(embeddings: g.gaussianMatrix(rows: 3, columns: d), unembeddings: g.gaussianMatrix(rows: 4, columns: d), weights: weights)
        }
        let (student, teacher, square) = (try model(1), try model(2), try model(3))
        #expect(teacher.weights[1] == 0)
        let exact = try ModelPair(student, teacher).exact()
        let count = try #require(CertifiedT7Spectra.positiveCountAtZero(exact, centred: false))
        #expect(count == (try Self.exactCountAtZero(exact, centred: false)) && count == 2)
        let moment = try ModelPair(square, square).exact()
        #expect(try moment.first.embeddingMomentIsPositiveDefinite() && moment.moments().m11.isPositiveDefinite())
    }

    /// Positive definiteness of the embedding moments from rank[1 F] (centred) or rank F: against
    /// exact minors, on moments of full rank, with a constant column, with a repeated column, and
    /// with fewer inputs (15) than columns (20). The ranks decide (`provenRank` proves them) on all
    /// but the two deficient ones with N > d.
    @Test("Embedding moments positive definite from ranks: as exact minors decide")
    func momentsFromRanks() throws {
        var g = SeededGenerator(seed: 6)
        let model = ModelGenerator.model(labels: 24, dimension: 20, inputs: 50, using: &g)
        var constant = model.embeddings, repeated = model.embeddings
        for i in 0..<50 { constant[i, 3] = 0.25; repeated[i, 5] = repeated[i, 4] }
        let few = Matrix(rows: 15, columns: 20) { model.embeddings[$0, $1] }
        var agreed = 0, definite = 0, proved = 0
        for f in [model.embeddings, constant, repeated, few] {
            let m = try SoftmaxModel(embeddings: f, unembeddings: model.unembeddings)
            let exact = try ModelPair(m, m).exact()
            for centred in [false, true] {
                let moments = exact.moments(centred: centred)
                let expected = try moments.m11.isPositiveDefinite()
                #expect(try exact.first.embeddingMomentIsPositiveDefinite(centred: centred) == expected)
                agreed += 1
                if expected { definite += 1 }
                if ExactModel.provenRank([f], ones: centred, rows: Array(0..<f.rows)) != nil { proved += 1 }
            }
        }
        // Definite: the model both ways, the constant column uncentred. Proved: those three and
        // the few inputs both ways.
        #expect(agreed == 8 && definite == 3 && proved == 5)
    }

    /// T4 above 16 columns by the pencil's counts: the outcome exact minors give, and the level says
    /// it (enclosure (MPFR)); with the constant scaled to put the right side at half the left, and
    /// 2⁻²⁰ either side of equality, the outcomes exact minors give.
    @Test("T4 at d = 20 by certified counts: the exact minors' outcome, level enclosure", arguments: [false, true])
    func t4ByCounts(heavy: Bool) throws {
        let pair = try Self.pair(inputs: 60, student: 20, teacher: 20, heavy: heavy, seed: 7).swapped
        var outcomes: [Outcome] = []
        // The constant that puts the right side at half the left side (the heavy pair holds with room).
        let ratio = try T4UnembeddingBound().bound.certify(pair)
        let tight = ratio.lhs / ratio.rhs
        for scale in [1.0, tight / 2, tight * (1 + 0x1p-20), tight * (1 - 0x1p-20)] {
            let bound = T4UnembeddingBound(constantScale: scale).bound
            let v = try bound.certify(pair)
            let exact = try pair.exact()
            let (reference, _) = try SigmaCertificate.decide(lhs: try exact.unembeddingDissimilaritySquared(),
                                                            numerator: SigmaCertificate.exact(scale) * pair.exactLogitDistanceSquared(),
                                                            gram: exact.moments().m11, matrixName: "F̂₁")
            #expect(v.outcome == reference && v.level == .enclosure, "scale \(scale): \(v.outcome) \(v.level) against \(reference)")
            outcomes.append(v.outcome)
        }
        #expect(outcomes == [.holds, .violated, .holds, .violated])
        // A repeated column: inapplicable, decided exactly (the ranks prove nothing; exact minors do).
        var f = pair.first.embeddings
        for i in 0..<f.rows { f[i, 7] = f[i, 6] }
        let deficient = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: pair.first.unembeddings, weights: pair.first.weights), pair.second)
        let v = try T4UnembeddingBound().bound.certify(deficient)
        #expect(v.outcome == .inapplicable && v.level == .exact, "\(v.outcome) \(v.level)")
    }

    /// Near-identical models (10⁻⁹ apart, logits near 1): the pass's d_logit² was 1.25·10⁻⁷ off with
    /// no note, its enclosure 2·10⁻⁵ wide. Now formed from exact differences, with a note saying why;
    /// models 0.05 apart get neither. Both KLs against their MPFR enclosures at 256 bits.
    @Test("d_logit² and KL whose enclosure is wider than 10⁻⁶: refined within 10⁻¹², noted; none at 0.05")
    func wideEnclosureRefined() throws {
        var g = SeededGenerator(seed: 8)
        let teacher = ModelGenerator.model(labels: 5, dimension: 4, inputs: 48, using: &g)
        for (eps, refined) in [(1e-9, true), (0.05, false)] {
            var h = SeededGenerator(seed: 9)
            let pair = try ModelPair(teacher, ModelGenerator.perturb(teacher, by: eps, using: &h))
            let m = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true))
            let exact = pair.exactLogitDistanceSquared().doubleValue
            #expect(m.notes.contains { $0.contains("are wider than 10⁻⁶") } == refined, "ε = \(eps): \(m.notes)")
            #expect(!m.notes.contains { $0.contains("rounding of their logits") }, "ε = \(eps): \(m.notes)")
            let e = try #require(m.enclosures?.dLogitSquared)
            if refined { #expect(e[1] - e[0] > 1e-6 * exact, "the enclosure [\(e[0]), \(e[1])] is not wide") }
            #expect(abs(m.dLogitSquared - exact) <= 1e-12 * exact, "ε = \(eps): \(m.dLogitSquared) against \(exact)")
            let reference = try pair.certifiedDivergence(bits: 256)
            for (shown, enclosure) in [(m.klAB, reference.klForward), (m.klBA, reference.klBackward)] {
                #expect(abs(shown - enclosure.midpoint) <= 1e-12 * enclosure.midpoint, "ε = \(eps): KL \(shown) against \(enclosure)")
            }
        }
    }

    /// A teacher with two equal embedding columns, within the exact level's size: d_unemb's note
    /// names the rank (it had said N·k·(d_A + d_B) lies above the exact level's 2·10⁶, at 1 200).
    @Test("d_unemb with W^{1/2}F_A singular: the note names the rank, not the size")
    func unembeddingNoteNamesTheRank() throws {
        var g = SeededGenerator(seed: 10)
        let teacher = ModelGenerator.model(labels: 8, dimension: 5, inputs: 20, using: &g)
        var f = teacher.embeddings
        for i in 0..<20 { f[i, 4] = f[i, 3] }
        let singular = try SoftmaxModel(embeddings: f, unembeddings: teacher.unembeddings)
        let student = ModelGenerator.perturb(teacher, by: 0.1, using: &g)
        let m = try PairMeasurement.measure(ModelPair(singular, student), options: PairMeasurement.Options(skipPivot: true))
        let notes = m.notes.filter { $0.hasPrefix("d_unemb A←B") }
        #expect(notes.count == 1 && notes[0].contains("lacks full column rank exactly") && !notes[0].contains("2·10⁶"), "\(notes)")
    }
}
