import Numerics
import Testing
import Theory
@testable import Tightness

@Suite("T10 tightness: CKA and Procrustes over one identifiability class")
struct T10TightnessTests {
    static func covariance(seed: UInt64, dimension d: Int) -> Matrix {
        var g = SeededGenerator(seed: seed)
        let z = g.gaussianMatrix(rows: 3 * d, columns: d).scalingColumns(by: (0..<d).map { 1 + Double($0) })
        return z.gram()
    }

    @Test("The objective's gradient matches central differences", arguments: T10ClassInfimum.Measure.allCases)
    func gradient(measure: T10ClassInfimum.Measure) throws {
        let objective = try T10Objective(measure, covariance: Self.covariance(seed: 3, dimension: 4), constantScale: 1)
        try TightnessTests().checkGradient(objective, seed: 21)
    }

    /// The issue's acceptance test: within 1 % of the proven infimum (CKA) and supremum
    /// (Procrustes) at d = 4, stopped by evaluation counts, certified on the exact orbit pair.
    @Test("The search reaches within 1 % of the proven extremum at d = 4 in a fixed evaluation count, certified",
          arguments: [TightnessStatement.T10cka, .T10procrustes])
    func reachesTheExtremum(statement: TightnessStatement) throws {
        var config = TightnessConfiguration()
        config.labels = [6]; config.dimension = 4; config.inputs = 12
        config.budgetSeconds = 600; config.evaluationLimit = 4000; config.sweepCases = 50
        let r = try TightnessExplorer.explore(statement, config)
        let rows = try #require(r.classInfimum)
        #expect(rows.map(\.teacher) == ["whitened", "anisotropic"])
        #expect(r.searches.count == 4)
        for s in r.searches {
            // Gradient: 12 starts × (600 steps + 1 final evaluation); Nelder–Mead: the limit.
            #expect(s.evaluations == (s.method == .gradient ? 12 * 601 : 4000), "\(s.method): \(s.evaluations)")
        }
        for row in rows {
            // Never violated; undecided only where the ratio is 1 to within λ_min's certified
            // bracket (the infimum reached to the certificate's resolution).
            #expect([.fastEnclosure, .enclosure].contains(row.level), "\(row.teacher): \(row.level)")
            #expect(row.outcome != .violated && row.outcome != .inapplicable, "\(row.teacher): \(row.outcome)")
            if row.outcome == .undecided { #expect(abs(row.ratio - 1) < 1e-9, "\(row.teacher): undecided at \(row.ratio)") }
            #expect(row.ratio >= 0.99, "\(row.teacher): ratio \(row.ratio)")
            #expect(row.ratio <= 1 + 1e-9, "\(row.teacher): ratio \(row.ratio)")
            // The objective depends on the embeddings only through Σ.
            #expect(row.embeddingDependence <= 1e-9, "\(row.teacher): \(row.embeddingDependence)")
        }
        let whitened = rows[0], anisotropic = rows[1]
        #expect(abs(whitened.provenExtremum - whitened.whitenedExtremum) <= 1e-9)
        if statement == .T10cka {
            #expect(abs(whitened.found - 0.5) <= 0.005)                   // 1/√4, from above
            #expect(anisotropic.provenExtremum < 0.5 * anisotropic.whitenedExtremum)
        } else {
            #expect(abs(whitened.found - 1) <= 0.01)                      // √(2 − 2/√4)
            #expect(anisotropic.provenExtremum > anisotropic.whitenedExtremum)
        }
        // Most of the 50 sweep cases are inside T10's search (the boundary generator's T6 and T7
        // equality cases have a singular embedding covariance and are left out).
        #expect(r.sweep.cases >= 40 && r.sweep.max < 1, "\(r.sweep.cases) sweep cases")
    }

    @Test("A planted false statement (measure scaled by 0.9) is a certified violation",
          arguments: [T10ClassInfimum.Measure.cka, .procrustes])
    func planted(measure: T10ClassInfimum.Measure) throws {
        var config = TightnessConfiguration()
        config.labels = [6]; config.dimension = 3; config.inputs = 10
        config.budgetSeconds = 600; config.evaluationLimit = 3000; config.sweepCases = 20; config.constantScale = 0.9
        let r = try TightnessExplorer.explore(measure == .cka ? .T10cka : .T10procrustes, config)
        #expect(r.certifiedViolation && [.fastEnclosure, .enclosure].contains(r.certified.level))
        #expect(r.bestRatio > 1.05)
    }

    @Test("Certification refuses a singular or misshapen map")
    func badMaps() throws {
        var g = SeededGenerator(seed: 5)
        let model = ModelGenerator.model(labels: 5, dimension: 3, inputs: 8, using: &g)
        var singular = g.gaussianMatrix(rows: 3, columns: 3)
        for j in 0..<3 { singular[2, j] = singular[0, j] * 2 }
        #expect(throws: ModelError.self) { try T10ClassInfimum(.cka).certify(model, map: singular) }
        #expect(throws: ModelError.self) { try T10ClassInfimum(.cka).certify(model, map: Matrix.identity(2)) }
        // The identity map: CKA = 1, far above the bound.
        let v = try T10ClassInfimum(.cka).certify(model, map: Matrix.identity(3))
        #expect(v.outcome == .holds && v.level == .fastEnclosure && abs(v.rhs - 1) < 1e-12)
        let exact = try T10ClassInfimum(.cka).exactCertify(model, map: Matrix.identity(3))
        #expect(exact.outcome == .holds && exact.level == .enclosure)
    }

    /// The fast certificate never contradicts the exact one: random maps, near-rank-one maps
    /// (where the bound is approached) and a planted scale, both measures.
    @Test("T10's fast certificate agrees with the exact one")
    func fastAgreesWithExact() throws {
        var g = SeededGenerator(seed: 10)
        var compared = 0, decidedFast = 0, violated = 0
        for trial in 0..<24 {
            let d = 2 + trial % 3
            let model = ModelGenerator.model(labels: d + 3, dimension: d, inputs: 12, using: &g)
            var a = g.gaussianMatrix(rows: d, columns: d)
            if trial % 2 == 1 {
                // Nearly rank one along the eigenvector of λ_min(Σ): the measure approaches the
                // bound, so the planted scale 0.9 makes it a violation.
                let f = model.embeddings.subtractingColumnMeans
                let e = try SymmetricEigendecomposition(f.multiplied(by: f, transposeSelf: true))
                let v = (0..<d).map { e.eigenvectors[$0, d - 1] }, u = (0..<d).map { _ in g.gaussian() }
                a = Matrix(rows: d, columns: d) { u[$0] * v[$1] + 1e-4 * a[$0, $1] }
            }
            for measure in T10ClassInfimum.Measure.allCases {
                let statement = T10ClassInfimum(measure, constantScale: trial % 4 == 3 ? 0.9 : 1)
                guard let fast = statement.fastCertify(model, map: a) else { continue }
                decidedFast += 1
                let exact = try statement.exactCertify(model, map: a)
                guard exact.isCertified else { continue }
                #expect(fast.outcome == exact.outcome, "trial \(trial) \(measure): fast \(fast.outcome), exact \(exact.outcome)")
                compared += 1
                if exact.outcome == .violated { violated += 1 }
            }
        }
        #expect(decidedFast >= 40 && compared >= 40, "\(decidedFast) decided fast, \(compared) compared")
        #expect(violated >= 2, "only \(violated) certified violations compared")
    }

    /// A map nearer rank one than the first bracket of λ_min(Σ) can resolve (the ratio
    /// 1 − 4·10⁻¹⁶ the search reaches): the audit found these left undecided. The bracket
    /// is bisected by exact inertia counts until the comparison is decided, both ways.
    @Test("At the infimum to rounding, bisecting λ_min's bracket decides: holds, and a scale 1 − 10⁻¹² is violated",
          arguments: [1e-9, 1e-10])
    func bisectionDecides(epsilon: Double) throws {
        var g = SeededGenerator(seed: 263)
        let d = 3
        let model = ModelGenerator.model(labels: 6, dimension: d, inputs: 10, using: &g)
        let f = model.embeddings.subtractingColumnMeans
        let e = try SymmetricEigendecomposition(f.multiplied(by: f, transposeSelf: true))
        let v = (0..<d).map { e.eigenvectors[$0, d - 1] }, u = (0..<d).map { _ in g.gaussian() }
        let noise = g.gaussianMatrix(rows: d, columns: d)
        let a = Matrix(rows: d, columns: d) { u[$0] * v[$1] + epsilon * noise[$0, $1] }
        let holds = try T10ClassInfimum(.cka).exactCertify(model, map: a)
        #expect(holds.outcome == .holds, "\(holds.certificate ?? "")")
        #expect(holds.certificate?.contains("bisections") == true, "the first bracket decided: \(holds.certificate ?? "")")
        #expect(abs(holds.ratio - 1) < 1e-14, "ratio \(holds.ratio)")
        // Planted just below the measure: 1 − 10⁻¹² is decided by the first bracket; 10⁻¹⁴
        // and 10⁻¹⁵ need bisection the other way (a swapped update certified them "holds").
        let planted = try T10ClassInfimum(.cka, constantScale: 1 - 1e-12).exactCertify(model, map: a)
        #expect(planted.outcome == .violated, "\(planted.certificate ?? "")")
        for gap in [1e-14, 1e-15] {
            let close = try T10ClassInfimum(.cka, constantScale: 1 - gap).exactCertify(model, map: a)
            #expect(close.outcome == .violated && close.certificate?.contains("bisections") == true,
                    "scale 1 − \(gap): \(close.outcome), \(close.certificate ?? "")")
        }
    }

    /// T10's certificates used to form M·A's N×k logits in rationals (43 s at N = 20 000 on a
    /// 2 s budget, the anisotropic row dropped at N = 5 000 and 10⁵). Every map is now
    /// certified from Σ, formed once per teacher (`T10ClassInfimum.Moments`); the budget's
    /// figures are in notes/findings.md (a timed test would be flaky on a loaded machine).
    @Test("tightness T10.cka at N = 4 000: both teachers' rows, each certified holds at a certificate level")
    func largeInputsGiveBothRows() throws {
        var config = TightnessConfiguration()
        config.inputs = 4_000
        config.budgetSeconds = 60
        config.evaluationLimit = 200
        config.sweepCases = 8
        let result = try TightnessExplorer.explore(.T10cka, config)
        let rows = try #require(result.classInfimum)
        #expect(rows.map(\.teacher) == ["whitened", "anisotropic"], "\(rows.map(\.teacher)) \(result.notes)")
        #expect(rows.allSatisfy { $0.outcome == .holds && ($0.level == .fastEnclosure || $0.level == .enclosure) },
                "\(rows.map { "\($0.outcome) \($0.level)" })")
        #expect(!result.notes.contains { $0.contains("has no row") })
    }

    /// Certifying from Σ and A (y = Ax) must give the measure of the formed pair (F, FAᵀ):
    /// the certified right side against `SimilarityMeasures` on the Double embeddings
    /// (an independent route: N×d products, SVD), both measures, two scales.
    @Test("Certificates from the teacher's Σ give the measure of (F, FAᵀ) computed independently")
    func momentsRouteAgrees() throws {
        var g = SeededGenerator(seed: 264)
        let model = ModelGenerator.model(labels: 7, dimension: 3, inputs: 15, using: &g)
        let moments = try T10ClassInfimum.Moments(model).withExact()
        var compared = 0
        for _ in 0..<6 {
            let a = g.gaussianMatrix(rows: 3, columns: 3)
            let f = model.embeddings
            let m = try SimilarityMeasures(f, f.multiplied(by: a, transposeOther: true), weights: model.weights)
            let (cka, procrustes) = (try #require(m.linearCKA), try #require(m.procrustesDistance))
            for scale in [1.0, 0.2] {
                let c = try T10ClassInfimum(.cka, constantScale: scale).exactCertify(moments, map: a)
                #expect(abs(c.rhs - scale * cka) <= 1e-10, "CKA \(c.rhs) vs \(scale * cka)")
                let p = try T10ClassInfimum(.procrustes, constantScale: scale).exactCertify(moments, map: a)
                #expect(abs(p.rhs - scale * (1 - procrustes * procrustes / 2)) <= 1e-10, "nuclear ratio \(p.rhs)")
                compared += 2
            }
        }
        #expect(compared == 24)
    }
}
