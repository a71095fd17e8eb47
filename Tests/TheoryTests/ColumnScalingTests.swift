import Foundation
import Numerics
import Testing
@testable import Measure
@testable import Theory

extension SoftmaxModel {
    /// Column j of F ×2ᵖ and of G ×2⁻ᵖ: the same model (every logit unchanged, exactly).
    func scalingColumn(_ j: Int, byPowerOfTwo p: Int) throws -> SoftmaxModel {
        var (f, g) = (embeddings, unembeddings)
        for i in 0..<f.rows { f[i, j] = Double(sign: .plus, exponent: p, significand: f[i, j]) }
        for i in 0..<g.rows { g[i, j] = Double(sign: .plus, exponent: -p, significand: g[i, j]) }
        return try SoftmaxModel(embeddings: f, unembeddings: g, weights: weights)
    }
}

/// A model with one column of F 2ᵖ larger and the same column of G 2ᵖ smaller is the same
/// model. Double rank tests that measured every column against the largest called its
/// well-conditioned matrices singular from p ≈ 50: m_CCA lost a correlation (0.249 for
/// 0.984), T7's corollary read μ_{d₂} = 0 ("the teacher's centred logits span fewer than d₂
/// directions"), and T5 found every pivot matrix singular. Each test compares with the
/// unscaled pair.
@Suite("Models with one column scaled 2^±p: quantities that do not depend on the columns' scales")
struct ColumnScalingTests {
    static func pair(_ p: Int, scaleTeacher: Bool) throws -> (plain: ModelPair, scaled: ModelPair) {
        var g = SeededGenerator(seed: 1213)
        let teacher = ModelGenerator.model(labels: 8, dimension: 4, inputs: 200, using: &g)
        let student = ModelGenerator.perturb(teacher, by: 0.1, using: &g)
        let plain = try ModelPair(teacher, student)
        let scaled = scaleTeacher ? try ModelPair(teacher.scalingColumn(1, byPowerOfTwo: p), student)
            : try ModelPair(teacher, student.scalingColumn(2, byPowerOfTwo: -p))
        return (plain, scaled)
    }

    static func close(_ x: Double, _ y: Double) -> Bool { abs(x - y) <= 1e-9 * max(abs(x), abs(y), 1e-300) }

    /// Expects each entry of `got` within 10⁻⁹ of its column's norm in `expected` (columns of any
    /// scale); returns how many entries it compared.
    static func columnsAgree(_ expected: Matrix, _ got: Matrix) -> Int {
        var compared = 0
        for j in 0..<expected.columns {
            let (a, b) = (expected.column(j), got.column(j))
            let scale = a.scaledNorm
            #expect(scale > 0)
            for (x, y) in zip(a, b) {
                #expect(abs(x - y) <= 1e-9 * scale, "column \(j): \(y) against \(x)")
                compared += 1
            }
        }
        return compared
    }

    @Test("m_CCA and T7's terms (1 − ρ², μ, R) as on the unscaled pair; T7's corollary decided",
          arguments: [(50, true), (60, true), (60, false)])
    func canonicalCorrelationsAndT7(p: Int, scaleTeacher: Bool) throws {
        let (plain, scaled) = try Self.pair(p, scaleTeacher: scaleTeacher)
        var compared = 0
        for centred in [false, true] {
            let (a, b) = (try plain.embeddingCorrelations(centred: centred), try scaled.embeddingCorrelations(centred: centred))
            #expect(Self.close(a.mean, b.mean), "m_CCA \(b.mean) against \(a.mean) unscaled")
            // T7 runs with the student as model 1.
            let (ta, tb) = (try T7CanonicalCorrelationBound(centred: centred).terms(plain.swapped),
                            try T7CanonicalCorrelationBound(centred: centred).terms(scaled.swapped))
            for (x, y) in zip(ta.oneMinusRhoSquared + ta.mu + [ta.residual], tb.oneMinusRhoSquared + tb.mu + [tb.residual]) {
                #expect(Self.close(x, y), "T7 term \(y) against \(x) unscaled")
                compared += 1
            }
        }
        #expect(compared == 2 * (4 + 4 + 1))
        let corollary = try T7CanonicalCorrelationBound(.corollary).screen(scaled.swapped)
        #expect(corollary.outcome == .holds, "\(corollary.outcome): \(corollary.certificate ?? "")")
        // Certified by fast enclosure whichever model is scaled: with the student's column (T7's
        // model 1) scaled, M₁₁⁻¹M₁₂ was not shown to exist until M₁₁ was equilibrated (stop 58).
        for bound in [T7CanonicalCorrelationBound(.corollary), T7CanonicalCorrelationBound(centred: false), T7CanonicalCorrelationBound(centred: true)] {
            let fast = try bound.fastCertify(scaled.swapped)
            #expect(fast?.outcome == .holds && fast?.isCertified == true, "\(bound.form): \(String(describing: fast?.outcome))")
        }
    }

    /// Columns of the teacher scaled by S = diag(2^pⱼ) give L₁' = L₁S⁻¹, so A' = SA and r(p, S)'s
    /// residual is (F₁ − F₂Aᵀ)S: each r is the unscaled pair's residual with its columns scaled.
    /// LU's reciprocal condition estimate, on L₁ as given, had called 108 of the 280 L₁
    /// singular at a column 2²⁵ apart and every one from 2³⁰ (the pivot form then had no mean).
    @Test("The pivot form: every (p, S) used, each r(p, S) the unscaled pair's residual with its columns scaled",
          arguments: [(25, 0), (60, 0), (270, -270)])
    func pivotResiduals(p: Int, q: Int) throws {
        let (plain, _) = try Self.pair(0, scaleTeacher: true)
        let scaled = try ModelPair(plain.first.scalingColumn(1, byPowerOfTwo: p).scalingColumn(2, byPowerOfTwo: q), plain.second)
        let values = try scaled.pivotResidualValues(.automatic())
        #expect(values.exhaustive && values.pairs.count == 8 * 35)
        var compared = 0
        for (ps, r) in zip(values.pairs, values.residuals) {
            let a = try LUDecomposition(ModelPair.pivotMatrix(plain.first.unembeddings, ps)).solve(ModelPair.pivotMatrix(plain.second.unembeddings, ps))
            let residual = plain.first.embeddings - plain.second.embeddings.multiplied(by: a, transposeOther: true)
            let expected = residual.scalingColumns(byPowersOfTwo: [0, p, q, 0]).scalingRows(by: plain.first.sqrtWeights).frobeniusNormSquared
            guard let r else { Issue.record("pivot \(ps.pivot), S = \(ps.subset) skipped as singular"); continue }
            #expect(abs(r - expected) <= 1e-9 * expected, "r = \(r) against \(expected)")
            let direct = try scaled.pivotResidualDirect(ps)   // the per-pair LU (`pivotMap`)
            #expect(abs(direct - expected) <= 1e-9 * expected, "direct r = \(direct) against \(expected)")
            compared += 1
        }
        #expect(compared == 8 * 35)
        let mean = try scaled.pivotDissimilarity()
        #expect(mean.pairsSkipped == 0 && mean.pairsUsed == 8 * 35)
    }

    /// F₁'s column scaled by S (G₁'s by S⁻¹) gives B' = (F̂₁S)⁺F̂₂ = S⁻¹B, so d_unemb's residual
    /// G̃₁' − G̃₂B'ᵀ is the unscaled one times S⁻¹. QR's rank test on F̂₁ as given had called a
    /// column 2⁴⁵ larger than the others rank deficiency, and the SVD's truncated pseudo-inverse
    /// put d_unemb at 4.40 for 0.093 (T4's exact left side, 0.0086 squared, in the same report).
    /// With two columns 2^±600 apart (2¹²⁰⁰) the map's rows, folded into one Double matrix,
    /// underflowed: d_unemb was 42× off. The map keeps its row powers apart (`ScaledMap`).
    @Test("d_unemb: the unscaled pair's residual with its columns scaled, from one column 2^45 apart to two 2^1200 apart",
          arguments: [(45, 0), (60, 0), (-60, 0), (270, -270), (600, -600), (-600, 600)])
    func unembeddingResidual(p: Int, q: Int) throws {
        let (plain, _) = try Self.pair(0, scaleTeacher: true)
        let scaled = try ModelPair(plain.first.scalingColumn(1, byPowerOfTwo: p).scalingColumn(2, byPowerOfTwo: q), plain.second)
        let expected = try plain.unembeddingResidual().scalingColumns(byPowersOfTwo: [0, -p, -q, 0])
        #expect(Self.columnsAgree(expected, try scaled.unembeddingResidual()) == 4 * 8)
        // d_unemb as reported (its square overflows at 2^±600, and is formed again from the residual).
        let distance = scaled.distance(fromSquared: try scaled.unembeddingDissimilaritySquared(), .unembedding)
        let direct = expected.frobeniusNorm
        #expect(direct.isFinite && abs(distance - direct) <= 1e-9 * direct, "d_unemb \(distance) against \(direct)")
    }

    /// F₁'s columns scaled by S (G₁'s by S⁻¹) give A' = G̃₁'⁺G̃₂ = SA, so d_rep's residual
    /// W^{1/2}(F₁S − F₂A'ᵀ) is the unscaled one times S. With two columns 2^±600 apart the map's
    /// rows lay 2¹²⁰⁰ apart, beyond one Double matrix: folded together, the smallest underflowed
    /// and d_rep came out 6× off.
    @Test("d_rep: the unscaled pair's residual with its columns scaled, up to two columns 2^1200 apart",
          arguments: [(60, 0), (270, -270), (600, -600), (-600, 600)])
    func representationResidual(p: Int, q: Int) throws {
        let (plain, _) = try Self.pair(0, scaleTeacher: true)
        let scaled = try ModelPair(plain.first.scalingColumn(1, byPowerOfTwo: p).scalingColumn(2, byPowerOfTwo: q), plain.second)
        let expected = try plain.representationResidual(reverse: false).scalingColumns(byPowersOfTwo: [0, p, q, 0])
        #expect(Self.columnsAgree(expected, try scaled.representationResidual(reverse: false)) == 4 * 200)
    }

    /// The student's columns scaled by S (G₂'s by S⁻¹) give A' = AS⁻¹ and B' = BS, so d_rep's and
    /// d_unemb's residuals and the transported probe's scores are the unscaled ones. With two
    /// columns 2^±600 apart the student's G̃₂ was scaled by one power of two and its smallest column
    /// underflowed: d_unemb read 4.05 for 0.785, d_rep and the transported probe were off, silently.
    @Test("The student's columns 2^±p apart: d_rep's and d_unemb's residuals and T11's transported scores as unscaled",
          arguments: [(60, 0), (600, -600), (-1000, 1000)])
    func studentColumnsApart(p: Int, q: Int) throws {
        let (plain, _) = try Self.pair(0, scaleTeacher: true)
        let scaled = try ModelPair(plain.first, plain.second.scalingColumn(0, byPowerOfTwo: p).scalingColumn(3, byPowerOfTwo: q))
        #expect(Self.columnsAgree(try plain.representationResidual(reverse: false), try scaled.representationResidual(reverse: false)) == 4 * 200)
        #expect(Self.columnsAgree(try plain.unembeddingResidual(), try scaled.unembeddingResidual()) == 4 * 8)
        let probe = ProbeDirection(weights: [0.7, -0.2, 0.4, 1.1], bias: 0.05)
        let (a, b) = (try ConceptTransfer(plain, probe: probe).transportedScores, try ConceptTransfer(scaled, probe: probe).transportedScores)
        let scale = a.scaledNorm
        #expect(scale > 0 && a.count == 200 && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-9 * scale })
    }

    /// The language-model route (and a merge of shards) solves M⁻¹B on d×d interval Grams and
    /// moments, which square the columns' scales: with a column of each model 2⁵⁰ apart, T3 and
    /// T4 had fallen to the screen ("inapplicable": not shown of full rank), T7 too when the
    /// student was scaled. The solves now run on the equilibrated matrix where its diagonal spreads.
    @Test("Columns 2^±p apart, both routes: T3, T4, T7 and T11 certified by fast enclosure; merged, T3, T4, T7 too",
          arguments: [(0, 0), (50, 0), (50, -50), (0, -60)], [ModelPair.Routes.largeScale, .automatic])
    func gramRouteCertificates(scales: (teacher: Int, student: Int), routes: ModelPair.Routes) throws {
        let (p, q) = scales
        let (plain, _) = try Self.pair(0, scaleTeacher: true)
        let scaled = try ModelPair(plain.first.scalingColumn(1, byPowerOfTwo: p), plain.second.scalingColumn(2, byPowerOfTwo: q), routes: routes)
        #expect(scaled.usesGramRoutes == (routes == .largeScale))
        // T11 (its scalar form solves M⁻¹u on the Grams at scale), against the unscaled pair.
        let (a, b) = try ConceptTests.measuredOnBoth(try ModelPair(plain.first, plain.second, routes: routes), scaled)
        #expect(b.t11?.level == "fast enclosure" && b.t11?.outcome == "holds" && a.t11?.level == "fast enclosure", "\(b.t11?.level ?? "none") \(b.t11?.outcome ?? "")")
        #expect(b.floorLogitScalar != nil && b.disagreement == a.disagreement)
        if routes == .largeScale {
            // A merge of shards decides T3, T4 and T7 from the same kind of interval moments and Grams.
            let merged = try ShardMergeTests.merged(scaled.first, scaled.second, cuts: [0, 70, 200], options: PairMeasurement.Options())
            let decided = merged.bounds.filter { ["T3", "T4", "T7"].contains($0.id) }
            #expect(decided.count == 5 && decided.allSatisfy { $0.certified && $0.level == "fast enclosure" && $0.outcome == "holds" },
                    "\(decided.map { "\($0.id) \($0.outcome) \($0.level)" })")
        }
        let verdicts = [try T3EmbeddingBound().fastCertify(scaled), try T4UnembeddingBound().fastCertify(scaled)]
            + (try [T7CanonicalCorrelationBound(.corollary), T7CanonicalCorrelationBound(centred: false), T7CanonicalCorrelationBound(centred: true)]
                .map { try $0.fastCertify(scaled.swapped) })
        #expect(verdicts.count == 5)
        for v in verdicts {
            #expect(v?.outcome == .holds && v?.level == .fastEnclosure, "\(v?.id.rawValue ?? "nil"): \(v.map { "\($0.outcome) \($0.level)" } ?? "no fast verdict")")
        }
    }

    /// Above the exact level's size, T3's and T4's hypotheses (G̃₁, F̂₁ of full column rank) were
    /// decided by Double diversity alone, which measures every column against the largest: a
    /// column 2⁶⁰ apart made them "inapplicable" and the fast enclosure was never tried. The
    /// column-equilibrated rank test lets it decide.
    @Test("Above the exact level: T3 and T4 with a column 2^±60 apart applicable and certified by fast enclosure", arguments: [60, -60])
    func hypothesesAboveTheExactLevel(p: Int) throws {
        var g = SeededGenerator(seed: 1214)
        let teacher = ModelGenerator.model(labels: 300, dimension: 4, inputs: 2_000, using: &g)
        let pair = try ModelPair(teacher.scalingColumn(1, byPowerOfTwo: p), ModelGenerator.perturb(teacher, by: 0.1, using: &g))
        #expect(!pair.exactLevelAffordable)
        let diversity = try pair.firstDiversity()
        #expect(!(p > 0 ? diversity.unembeddingsDiverse : diversity.embeddingsDiverse), "the case tested: Double diversity fails")
        for bound in [T3EmbeddingBound().bound, T4UnembeddingBound().bound] {
            #expect(try bound.inapplicability(pair) == nil, "\(bound.id)")
            let v = bound.fastCertify(pair)
            #expect(v?.outcome == .holds && v?.level == .fastEnclosure, "\(bound.id): \(v.map { "\($0.outcome) \($0.level)" } ?? "no fast verdict")")
        }
    }

    /// Columns of G 2⁶⁰⁰ apart leave T5's σ_min(L₁) unresolved in Double (0): a shard wrote those
    /// terms into its partial and then refused it as inconsistent ("t5_sigma_min holds a value that
    /// is not finite and > 0"), so the pair could not be sharded at all. The pairs are left out,
    /// named, and the merge says T5 is not decided rather than "every L₁ singular".
    @Test("Shards of a pair with columns 2^±300 apart: written, merged, T5 undecided with the reason")
    func shardsWithUnresolvedPivotSigma() throws {
        let (plain, _) = try Self.pair(0, scaleTeacher: true)
        let teacher = try plain.first.scalingColumn(0, byPowerOfTwo: -300).scalingColumn(2, byPowerOfTwo: 300)
        let single = try PairMeasurement.measure(ModelPair(teacher, plain.second), options: PairMeasurement.Options())
        let merged = try ShardMergeTests.merged(teacher, plain.second, cuts: [0, 70, 200], options: PairMeasurement.Options())
        let (a, b) = (try #require(single.bounds.first { $0.id == "T5" }), try #require(merged.bounds.first { $0.id == "T5" }))
        #expect(a.outcome == "holds" && a.certified, "one run: \(a.outcome) \(a.level)")
        #expect(b.outcome == "undecided" && b.note?.contains("not resolved in Double") == true, "merged: \(b.outcome), \(b.note ?? "")")
        #expect(abs(merged.mccaCentered - single.mccaCentered) <= 1e-12)
    }

    /// The exact certificate's right side was shown from the Double σ_min, rounding noise where
    /// the columns lie 2⁵²⁰ apart: "holds (exact)" beside a right side of 3 729 for 2·10³¹² and a
    /// ratio of 6·10³⁰⁷. It is shown from a bracket of σ_min² by inertia counts; the verdict stays exact.
    @Test("T3's and T4's exact certificate with columns 2^±260 apart: the right side from a certified bracket, not a σ_min lost to rounding")
    func exactSidesWithColumnsFarApart() throws {
        let (plain, _) = try Self.pair(0, scaleTeacher: true)
        let scaled = try ModelPair(plain.first.scalingColumn(1, byPowerOfTwo: 260).scalingColumn(3, byPowerOfTwo: -260), plain.second)
        #expect(!(try scaled.firstDiversity().unembeddingsDiverse))
        for bound in [T3EmbeddingBound().bound, T4UnembeddingBound().bound] {
            let v = try bound.certify(scaled)
            #expect(v.level == .exact && v.outcome == .holds, "\(bound.id): \(v.outcome)")
            #expect(v.certificate?.contains("by certified inertia counts") == true, "\(bound.id): \(v.certificate ?? "")")
            // The side (beyond the Double range) is d_logit²/t with t the bracket's upper end (2⁻⁴⁴
            // wide): t from its logarithm, checked by exact inertia, λ_min ≤ t(1 + 2⁻²⁰) < λ_min(1 + 2⁻¹⁹).
            let gram = bound.gram(try scaled.exact())
            let log2t = (scaled.exactLogitDistanceSquared().log10Magnitude - (try #require(v.rhsLog10))) * log2(10)
            let e = Int(log2t.rounded(.down))
            let t = Rational(exactly: Foundation.pow(2, log2t - Double(e)))!.scaled(byPowerOfTwo: e)
            #expect(!(try gram.shiftingDiagonal(by: t * Rational((1 << 20) + 1, 1 << 20)).isPositiveDefinite()), "\(bound.id): t below λ_min")
            #expect(try gram.shiftingDiagonal(by: t * Rational((1 << 20) - 1, 1 << 20)).isPositiveDefinite(), "\(bound.id): t above λ_min")
        }
    }

    /// A merge of shards reads m_CCA from d×d moments, which square the columns' scales: a column
    /// 2²⁰ smaller moved it by 3·10⁻⁵, one 2⁵⁰ smaller put it at 0.25 for 0.98.
    @Test("A merge of shards: m_CCA (centred and not) and T12's width floor as on the unscaled pair, d_unemb as in one run",
          arguments: [(20, true), (50, true), (50, false), (60, false)])
    func mergedCanonicalCorrelations(p: Int, scaleTeacher: Bool) throws {
        let (plain, scaled) = try Self.pair(p, scaleTeacher: scaleTeacher)
        let options = PairMeasurement.Options(certification: .never)
        let reference = try PairMeasurement.measure(plain, options: options)
        // d_unemb is in the teacher's coordinates: the scaled pair's own single run is its reference.
        let single = try PairMeasurement.measure(scaled, options: options)
        let curve = try #require(reference.widthFloorCurve)
        #expect(curve.contains { $0 > 0 }, "a width floor that says something")
        var compared = 0
        for (route, m) in try ShardMergeTests.bothRoutes(scaled.first, scaled.second, cuts: [0, 70, 200], options: options) {
            for (x, y) in [(reference.mccaCentered, m.mccaCentered), (reference.mccaUncentered, m.mccaUncentered)] {
                #expect(abs(x - y) <= 1e-12, "\(route): m_CCA \(y) against \(x) unscaled")
                compared += 1
            }
            #expect(!m.notes.contains { $0.contains("rank") }, "\(route): \(m.notes)")
            // T12's width floor and T7's sides (from T7's μ and R, which no column scaling moves)
            // and d_unemb: the moments' pseudo-inverses as given truncated a column 2⁶⁰ apart (the
            // floor read 5.94 for 13.0).
            let merged = try #require(m.widthFloorCurve)
            #expect(merged.count == curve.count && zip(curve, merged).allSatisfy { abs($0 - $1) <= 1e-9 * curve[0] }, "\(route): \(merged) against \(curve)")
            let (t7, t7Reference) = (m.bounds.filter { $0.id == "T7" }, reference.bounds.filter { $0.id == "T7" })
            #expect(t7.count == 3 && t7Reference.count == 3)
            for (x, y) in zip(t7Reference, t7) {
                #expect(Self.close(x.lhs, y.lhs) && Self.close(x.rhs, y.rhs), "\(route): T7 \(y.form) \(y.lhs) ≤ \(y.rhs) against \(x.lhs) ≤ \(x.rhs)")
            }
            compared += 2
        }
        // d_unemb is in the teacher's coordinates: the merge against the scaled pair's one run.
        let (x, y) = (try #require(single.dUnembAB), try #require(try ShardMergeTests.merged(scaled.first, scaled.second, cuts: [0, 70, 200], options: options).dUnembAB))
        #expect(abs(x - y) <= 1e-8 * x, "merge: d_unemb \(y) against \(x) in one run")
        #expect(compared == 8)
        // The unscaled pair's moments lie within 2⁸ of each other: no equilibration there.
        let f = plain.first.weightedEmbeddings, h = plain.second.weightedEmbeddings
        #expect(MeasureStatistics.correlationEquilibration(f.gram(), h.gram()) == nil)
        #expect(MeasureStatistics.correlationEquilibration(scaled.first.weightedEmbeddings.gram(), scaled.second.weightedEmbeddings.gram()) != nil)
    }

    /// The rounding of a logit is bounded by Σ_j|f_j g_j|, which the scaling leaves as it is; the
    /// bound max‖f‖·max‖g‖ grew 2ᵖ-fold, and at p = 50 a pair 0.8 apart in d_logit² was said to
    /// "agree to within 1000× the rounding of their logits".
    @Test("No 'agree to within rounding' note, and the same rounding scale as unscaled", arguments: [50, 60])
    func roundingScale(p: Int) throws {
        let (plain, scaled) = try Self.pair(p, scaleTeacher: true)
        #expect(PairMeasurement.roundingNoise(scaled) <= 4 * PairMeasurement.roundingNoise(plain),
                "\(PairMeasurement.roundingNoise(scaled)) against \(PairMeasurement.roundingNoise(plain)) unscaled")
        let m = try PairMeasurement.measure(scaled, options: PairMeasurement.Options(certification: .never))
        #expect(!m.notes.contains { $0.contains("rounding of their logits") }, "\(m.notes)")
    }

    /// The streamed pass bounds each logit's rounding by norms at language-model scale: ‖f‖‖g‖
    /// grew 2ᵖ-fold under the scaling, and at p = 50 an attack's d_logit² of 19 371.5 was enclosed
    /// in [0, 7.8·10³¹] (T6 left to the screen, a note saying the models agree to within rounding).
    @Test("Logit enclosures by norms: as narrow as on the unscaled pair, and holding the logits", arguments: [20, 50])
    func logitEnclosuresByNorms(p: Int) throws {
        let (plain, scaled) = try Self.pair(p, scaleTeacher: true)
        let (a, b) = (FastLogitSums.logitEnclosures(plain, bound: .norms), FastLogitSums.logitEnclosures(scaled, bound: .norms))
        func widest(_ e: [FastInterval]) -> Double { e.map { $0.hi - $0.lo }.max() ?? .nan }
        #expect(widest(b.first) <= 2 * widest(a.first), "widest \(widest(b.first)) against \(widest(a.first)) unscaled")
        // Every enclosure holds the exact logit (the scaled model's, which is the unscaled one's).
        let exact = try scaled.exact().first.logits, k = scaled.first.labelCount
        #expect(b.first.count == scaled.first.inputCount * k)
        let held = b.first.indices.filter { t in
            let e = b.first[t], x = exact[t / k, t % k]
            return Rational(exactly: e.lo)! <= x && x <= Rational(exactly: e.hi)!
        }.count
        #expect(held == b.first.count, "\(b.first.count - held) enclosures miss their exact logit")
        let sums = try #require(FastLogitSums.compute(scaled, bound: .norms)), reference = try #require(FastLogitSums.compute(plain, bound: .norms))
        #expect(sums.distanceSquared.hi - sums.distanceSquared.lo <= 2 * (reference.distanceSquared.hi - reference.distanceSquared.lo) + 1e-300,
                "d_logit² sums \(sums.distanceSquared) against \(reference.distanceSquared)")
    }

    @Test("T5: no pivot matrix called singular, and the per-pair bound certified exactly", arguments: [50, 60])
    func pivotMatrices(p: Int) throws {
        let (plain, scaled) = try Self.pair(p, scaleTeacher: true)
        let statement = T5PivotBound(.subsetSum)
        let (a, b) = (try statement.cachedTerms(plain, exhaustive: true), try statement.cachedTerms(scaled, exhaustive: true))
        #expect(a.skipped == 0 && b.skipped == 0 && b.terms.count == a.terms.count, "\(b.skipped) of \(b.terms.count + b.skipped) skipped")
        let verdict = try statement.certify(scaled)
        #expect(verdict.level == .exact && verdict.outcome == .holds, "\(verdict.outcome): \(verdict.certificate ?? "")")
    }
}
