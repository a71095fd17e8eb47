import Foundation
import Numerics
import Testing
@testable import Measure
@testable import Theory

/// Centred measures do not see a common offset: m_CCA centred, CKA, Procrustes, SVCCA and T7's
/// centred terms of (c + S, Y) are those of (S, Y). Centring in one pass rounded the mean at
/// γ_N of the offset, a direction of its own: around an offset of 1 with spreads 10⁻¹⁰…10⁻¹³,
/// m_CCA's basis kept some of the directions and m_CCA read 15–39 % off (stop 70's attack).
@Suite("Embeddings around a large common offset: the centred measures of the pair without it")
struct CentringOffsetTests {
    /// S's column j spread 10^(−top − span·j/(d − 1)) around 1, the offset exactly removable:
    /// X = fl(1 + S) and X − 1 is exact (Sterbenz), so (X − 1, Y) is the same pair without it.
    static func offsetPair(seed: UInt64, n: Int, d: Int, top: Double, span: Double) -> (x: Matrix, s: Matrix, y: Matrix, w: [Double]) {
        var g = SeededGenerator(seed: seed)
        let z = g.gaussianMatrix(rows: n, columns: d)
        let x = Matrix(rows: n, columns: d) { i, j in 1 + Foundation.pow(10, -top - span * Double(j) / Double(max(d - 1, 1))) * z[i, j] }
        let s = Matrix(rows: n, columns: d) { i, j in x[i, j] - 1 }
        let y = z.multiplied(by: g.gaussianMatrix(rows: d, columns: d)) + 0.5 * g.gaussianMatrix(rows: n, columns: d)
        let raw = (0..<n).map { _ in g.uniform(in: 0.2...1) }
        let total = raw.reduce(0, +)
        return (x, s, y, raw.map { $0 / total })
    }

    static let shapes: [(seed: UInt64, n: Int, d: Int, top: Double, span: Double)] = [
        (41, 4_000, 24, 10, 3),      // 10⁻¹⁰ … 10⁻¹³: one pass kept part of the basis
        (42, 2_000, 40, 12, 0.5),    // 10⁻¹² … 10⁻¹²·⁵
        (43, 3_000, 16, 1, 13),      // 10⁻¹ … 10⁻¹⁴: spreads 10¹³ apart, each column brought to its own scale
                                     // (the shape that needs the re-equilibration of columns taken twice)
        (44, 4_000, 8, 14, 0.3),     // 10⁻¹⁴ … 10⁻¹⁴·³ (20–45 ulps): zero variance to the old flatness test
    ]

    @Test("m_CCA centred: every correlation as without the offset, the full rank kept")
    func canonicalCorrelations() throws {
        var compared = 0
        for c in Self.shapes {
            let (x, s, y, w) = Self.offsetPair(seed: c.seed, n: c.n, d: c.d, top: c.top, span: c.span)
            // The premise: the offset comes off exactly, so (S, Y) is the same pair without it.
            #expect(zip(x.storage, s.storage).allSatisfy { $0 - 1 == $1 && $1 + 1 == $0 })
            let (shifted, plain) = (try CanonicalCorrelations(x, y, weights: w, centred: true), try CanonicalCorrelations(s, y, weights: w, centred: true))
            #expect(shifted.basisX.columns == c.d, "seed \(c.seed): rank \(shifted.basisX.columns) of \(c.d)")
            // Two passes leave an error near N·ε of each column's spread; CCA's condition here is
            // modest (Y is Z mapped plus noise), so 10⁻⁹ is wide of the rounding and far below
            // the one-pass errors (10⁻¹ and more).
            for (a, b) in zip(shifted.values, plain.values) { #expect(abs(a - b) <= 1e-9, "seed \(c.seed): ρ \(a) against \(b)"); compared += 1 }
            #expect(abs(shifted.mean - plain.mean) <= 1e-9)
        }
        #expect(compared == 24 + 40 + 16 + 8)
    }

    @Test("CKA, Procrustes, SVCCA (both routes) and the unbiased CKA as without the offset; the note states the two passes")
    func similarityMeasures() throws {
        var compared = 0
        for c in Self.shapes {
            let (x, s, y, w) = Self.offsetPair(seed: c.seed, n: c.n, d: c.d, top: c.top, span: c.span)
            let (shifted, plain) = (try SimilarityMeasures(x, y, weights: w), try SimilarityMeasures(s, y, weights: w))
            for (a, b, name) in [(shifted.linearCKA, plain.linearCKA, "CKA"), (shifted.procrustesDistance, plain.procrustesDistance, "Procrustes"),
                                 (shifted.svcca, plain.svcca, "SVCCA")] {
                let (a, b) = (try #require(a, "\(name): \(shifted.undefinedReason ?? "")"), try #require(b))
                #expect(abs(a - b) <= 1e-9, "seed \(c.seed): \(name) \(a) against \(b)")
                compared += 1
            }
            // Through m_CCA's bases, which now hold every direction: the same value.
            let routed = try SimilarityMeasures(x, y, weights: w, centredCorrelations: try CanonicalCorrelations(x, y, weights: w, centred: true))
            let (through, rows) = (try #require(routed.svcca), try #require(plain.svcca))
            #expect(routed.svccaThroughBases && abs(through - rows) <= 1e-9, "seed \(c.seed): SVCCA through the bases \(through) against \(rows)")
            compared += 1
            // The note below a spread of 10⁻⁸ of the norm (not for the third shape: its widest
            // column's spread is 10⁻¹).
            #expect(c.top < 8 || shifted.accuracyNote?.contains("two passes") == true, "\(shifted.accuracyNote ?? "no note")")
            #expect(plain.accuracyNote == nil)
            let uniform = [Double](repeating: 1 / Double(c.n), count: c.n)
            let (u, v) = (try #require(UnbiasedLinearCKA(x, y, weights: uniform).value), try #require(UnbiasedLinearCKA(s, y, weights: uniform).value))
            #expect(abs(u - v) <= 1e-9, "seed \(c.seed): unbiased CKA \(u) against \(v)")
            compared += 1
        }
        #expect(compared == 20)
    }

    /// A bias column of ones beside features spread a few ulps around 10⁻¹⁴: the bias centres to
    /// exact zeros, and its rounded mean (10⁻¹⁴ of it) no longer sets the scale the features'
    /// variance is judged at (they read as zero variance, CKA missing; at 10⁻¹², Procrustes
    /// 10⁻⁹ off). Both sides' notes are shown where both are offset.
    @Test("Features around a small offset beside a bias column of ones: the measures as without the offset; both sides' notes")
    func besideBiasColumn() throws {
        var g = SeededGenerator(seed: 50)
        let n = 400
        let ulp = Double(1e-14).ulp
        let z = (0..<(3 * n)).map { _ in Double(g.int(in: -16...16)) }
        let s = Matrix(rows: n, columns: 4) { i, j in j < 3 ? ulp * z[3 * i + j] : 0 }
        let x = Matrix(rows: n, columns: 4) { i, j in j < 3 ? 1e-14 + s[i, j] : 1 }
        #expect(zip(x.storage, s.storage).enumerated().allSatisfy { $0.offset % 4 == 3 || $0.element.0 - 1e-14 == $0.element.1 })
        let y0 = try Matrix(rows: n, columns: 3, storage: z.map { $0 }).multiplied(by: g.gaussianMatrix(rows: 3, columns: 3)) + g.gaussianMatrix(rows: n, columns: 3)
        let y = Matrix(rows: n, columns: 3) { i, j in 1e6 + 1e-6 * y0[i, j] }
        let yPlain = Matrix(rows: n, columns: 3) { i, j in y[i, j] - 1e6 }
        let w = [Double](repeating: 1 / Double(n), count: n)
        let (shifted, plain) = (try SimilarityMeasures(x, y, weights: w), try SimilarityMeasures(s, yPlain, weights: w))
        var compared = 0
        for (a, b, name) in [(shifted.linearCKA, plain.linearCKA, "CKA"), (shifted.procrustesDistance, plain.procrustesDistance, "Procrustes"),
                             (shifted.svcca, plain.svcca, "SVCCA")] {
            let (a, b) = (try #require(a, "\(name): \(shifted.undefinedReason ?? "")"), try #require(b))
            #expect(abs(a - b) <= 1e-9, "\(name) \(a) against \(b)")
            compared += 1
        }
        #expect(compared == 3)
        let note = try #require(shifted.accuracyNote)
        #expect(note.contains("the first model's") && note.contains("the second model's"), "\(note)")
        let (u, v) = (try #require(UnbiasedLinearCKA(x, y, weights: w).value), try #require(UnbiasedLinearCKA(s, yPlain, weights: w).value))
        #expect(abs(u - v) <= 1e-9, "unbiased CKA \(u) against \(v)")
    }

    /// One run at large k takes the moments route, whose covariances were M − μμᵀ: around an offset
    /// they cancelled (m_CCA centred 0 for 0.694 at a spread 2·10⁻⁷ of the offset, stop 71's
    /// attack). They now come from the rows centred in two passes. The moments square the
    /// embeddings' condition (here about 10³ from the spreads' range), hence 10⁻⁸.
    @Test("One run on the moments route: m_CCA centred, CKA, Procrustes and SVCCA as without the offset")
    func momentsRoute() throws {
        var g = SeededGenerator(seed: 49)
        var compared = 0
        for c in Self.shapes.prefix(2) {
            let (x, s, y, w) = Self.offsetPair(seed: c.seed, n: c.n, d: c.d, top: c.top, span: c.span)
            let (gx, gy) = (g.gaussianMatrix(rows: 30, columns: c.d), g.gaussianMatrix(rows: 30, columns: c.d))
            func measured(_ f: Matrix) throws -> PairMeasurement {
                let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: gx, weights: w),
                                         SoftmaxModel(embeddings: y, unembeddings: gy, weights: w), routes: .largeScale)
                return try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .never))
            }
            let (shifted, plain) = (try measured(x), try measured(s))
            #expect(shifted.routes == "moments" && plain.routes == "moments")
            // One run's notes speak of its own moments, not a merge's (around the offset M_AA is
            // singular to within rounding, which d_unemb's note says).
            #expect(shifted.notes.contains { $0.contains("d×d moments") } && !shifted.notes.contains { $0.contains("merged") || $0.contains("unsharded") },
                    "\(shifted.notes)")
            for (a, b) in zip(shifted.canonicalCorrelationsCentered, plain.canonicalCorrelationsCentered) {
                #expect(abs(a - b) <= 1e-8, "seed \(c.seed): ρ \(a) against \(b)")
                compared += 1
            }
            for (a, b, name) in [(shifted.linearCKA, plain.linearCKA, "CKA"), (shifted.procrustesDistance, plain.procrustesDistance, "Procrustes"),
                                 (shifted.svcca, plain.svcca, "SVCCA")] {
                let (a, b) = (try #require(a, "\(name): \(shifted.similarityUndefined ?? "")"), try #require(b))
                #expect(abs(a - b) <= 1e-8, "seed \(c.seed): \(name) \(a) against \(b)")
                compared += 1
            }
        }
        #expect(compared == 24 + 40 + 6)
    }

    /// One column around 10⁶ beside plain ones on the moments route: the uncentred diagonals call
    /// for equilibration and would scale that column by its offset, dropping its centred direction
    /// below the rank floor (a review's model: m_CCA centred 0.731 for 0.803). The covariances are
    /// equilibrated by their own diagonals.
    @Test("The moments route with one column around a large offset beside plain ones: m_CCA centred and SVCCA as without it")
    func momentsRouteOneOffsetColumn() throws {
        var g = SeededGenerator(seed: 51)
        let (n, d) = (4_000, 10)
        let z = g.gaussianMatrix(rows: n, columns: d)
        let x = Matrix(rows: n, columns: d) { i, j in j == 0 ? 1e6 + z[i, j] : z[i, j] }
        let s = Matrix(rows: n, columns: d) { i, j in j == 0 ? x[i, j] - 1e6 : x[i, j] }
        let y = z.multiplied(by: g.gaussianMatrix(rows: d, columns: d)) + g.gaussianMatrix(rows: n, columns: d)
        let (gx, gy) = (g.gaussianMatrix(rows: 30, columns: d), g.gaussianMatrix(rows: 30, columns: d))
        func measured(_ f: Matrix) throws -> PairMeasurement {
            let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: gx), SoftmaxModel(embeddings: y, unembeddings: gy), routes: .largeScale)
            return try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .never))
        }
        let (shifted, plain) = (try measured(x), try measured(s))
        #expect(shifted.routes == "moments")
        var compared = 0
        for (a, b) in zip(shifted.canonicalCorrelationsCentered, plain.canonicalCorrelationsCentered) {
            #expect(abs(a - b) <= 1e-8, "ρ \(a) against \(b)")
            compared += 1
        }
        #expect(abs(try #require(shifted.svcca) - (try #require(plain.svcca))) <= 1e-8)
        #expect(compared == d)
    }

    /// On the moments route T7's μ and R come from the embeddings' centred moments and S₂₂, never
    /// from the logits, so there the teacher's spread may be 10⁻¹² of its offset (one pass put
    /// M₂₂ about 10⁻³ off).
    @Test("T7's moment terms with the teacher's embeddings spread 10⁻¹² around an offset: as without it")
    func t7MomentTermsTeacherOffset() throws {
        var g = SeededGenerator(seed: 46)
        let (x, _, y, w) = Self.offsetPair(seed: 47, n: 3_000, d: 10, top: 12, span: 0.5)
        let student = Matrix(rows: y.rows, columns: y.columns) { i, j in y[i, j] }
        let plainTeacher = Matrix(rows: x.rows, columns: x.columns) { i, j in x[i, j] - 1 }
        let (gs, gt) = (g.gaussianMatrix(rows: 7, columns: 10), g.gaussianMatrix(rows: 7, columns: 10))
        func pair(_ teacher: Matrix) throws -> ModelPair {
            try ModelPair(SoftmaxModel(embeddings: student, unembeddings: gs, weights: w), SoftmaxModel(embeddings: teacher, unembeddings: gt, weights: w))
        }
        let bound = T7CanonicalCorrelationBound(centred: true)
        let (a, b) = (try bound.momentTerms(try pair(x)), try bound.momentTerms(try pair(plainTeacher)))
        let top = b.mu.max() ?? 0
        var compared = 0
        for (p, q) in zip(a.mu, b.mu) { #expect(abs(p - q) <= 1e-9 * top, "μ \(p) against \(q)"); compared += 1 }
        for (p, q) in zip(a.oneMinusRhoSquared, b.oneMinusRhoSquared) { #expect(abs(p - q) <= 1e-9, "1 − ρ² \(p) against \(q)"); compared += 1 }
        #expect(abs(a.residual - b.residual) <= 1e-9 * top, "R \(a.residual) against \(b.residual)")
        #expect(compared == 20)
    }

    /// A column constant but for one input one ulp off (a bias computed in floating point) is
    /// constant, as before two passes: m_CCA's basis drops it, and embeddings all at one point
    /// but for such an ulp have zero variance. (Two passes alone kept the ulp as a direction.)
    @Test("A column one ulp from constant: dropped from m_CCA's basis; embeddings one ulp from one point are zero variance")
    func oneUlpFromConstant() throws {
        var g = SeededGenerator(seed: 48)
        let (n, d) = (1_000, 4)
        let z = g.gaussianMatrix(rows: n, columns: d)
        let biased = Matrix(rows: n, columns: d) { i, j in j < d - 1 ? z[i, j] : i == 17 ? Double(1).nextUp : 1 }
        let y = z.multiplied(by: g.gaussianMatrix(rows: d, columns: d)) + g.gaussianMatrix(rows: n, columns: d)
        let w = [Double](repeating: 1 / Double(n), count: n)
        #expect(try CanonicalCorrelations(biased, y, weights: w, centred: true).basisX.columns == d - 1)
        let point = Matrix(rows: n, columns: d) { i, j in i == 17 && j == 2 ? Double(0.75).nextUp : 0.75 }
        let measures = try SimilarityMeasures(point, y, weights: w)
        #expect(measures.linearCKA == nil && measures.undefinedReason?.contains("zero variance") == true, "\(measures)")
        #expect(UnbiasedLinearCKA(point, y, weights: w).value == nil)
    }

    @Test("T7's centred terms (1 − ρ², μ, R) with both models' embeddings offset: as without it, on both routes")
    func t7Terms() throws {
        var compared = 0
        var g = SeededGenerator(seed: 44)
        let (x, s, y, w) = Self.offsetPair(seed: 45, n: 3_000, d: 12, top: 10, span: 2)
        let (gx, gy) = (g.gaussianMatrix(rows: 9, columns: 12), g.gaussianMatrix(rows: 9, columns: 12))
        // The teacher's embeddings Y offset too: its centred logits carry the offset's per-label
        // constant, which centring over inputs removes. (A spread of only 10⁻⁴ of the offset:
        // the logits F₂G₂ᵀ themselves round at ε of the offset's share.)
        let yShifted = Matrix(rows: y.rows, columns: y.columns) { i, j in 4 + 1e-4 * y[i, j] }
        let yPlain = Matrix(rows: y.rows, columns: y.columns) { i, j in yShifted[i, j] - 4 }
        func pair(_ f: Matrix, _ t: Matrix) throws -> ModelPair {
            try ModelPair(SoftmaxModel(embeddings: f, unembeddings: gx, weights: w), SoftmaxModel(embeddings: t, unembeddings: gy, weights: w))
        }
        let (shifted, plain) = (try pair(x, yShifted), try pair(s, yPlain))
        let bound = T7CanonicalCorrelationBound(centred: true)
        for route in ["rows", "moments"] {
            let (a, b) = route == "rows" ? (try bound.computeTerms(shifted), try bound.computeTerms(plain))
                : (try bound.momentTerms(shifted), try bound.momentTerms(plain))
            for (p, q) in zip(a.oneMinusRhoSquared, b.oneMinusRhoSquared) { #expect(abs(p - q) <= 1e-9, "\(route): 1 − ρ² \(p) against \(q)"); compared += 1 }
            let top = b.mu.max() ?? 0
            for (p, q) in zip(a.mu, b.mu) { #expect(abs(p - q) <= 1e-9 * top, "\(route): μ \(p) against \(q)"); compared += 1 }
            #expect(abs(a.residual - b.residual) <= 1e-9 * top, "\(route): R \(a.residual) against \(b.residual)")
            compared += 1
        }
        #expect(compared == 2 * (12 + 12 + 1))
    }

    /// A merge formed its covariances as M − μμᵀ from the merged moments, which cancels around an
    /// offset: 10⁻⁹ off at spreads 10⁻³ with no note, 8 % off at 10⁻⁶, m_CCA 0 below 5·10⁻⁷ (stop
    /// 71's attack). Shards now carry their rows' covariances where a column takes the second pass,
    /// written and read back as partials, and the merge combines them about the shards' means.
    @Test("A merge of shards around an offset: m_CCA centred, CKA, Procrustes and SVCCA as one run without it")
    func mergedShards() throws {
        var g = SeededGenerator(seed: 53)
        let options = PairMeasurement.Options(skipPivot: true, certification: .never)
        var compared = 0
        // The first two shapes (every column offset), then one column around 10⁶ beside plain ones.
        var cases = Self.shapes.prefix(2).map { c in
            let (x, s, y, w) = Self.offsetPair(seed: c.seed, n: c.n, d: c.d, top: c.top, span: c.span)
            return (x: x, s: s, y: y, raw: Optional(w.map { $0 * Double(c.n) }))
        }
        let z = g.gaussianMatrix(rows: 3_000, columns: 10)
        let y = z.multiplied(by: g.gaussianMatrix(rows: 10, columns: 10)) + g.gaussianMatrix(rows: 3_000, columns: 10)
        cases.append((x: Matrix(rows: 3_000, columns: 10) { i, j in j == 0 ? 1e6 + z[i, j] : z[i, j] }, s: z, y: y, raw: nil))
        for (x, s, y, raw) in cases {
            let n = x.rows
            let (gx, gy) = (g.gaussianMatrix(rows: 30, columns: x.columns), g.gaussianMatrix(rows: 30, columns: y.columns))
            let (a, b) = (try SoftmaxModel(embeddings: x, unembeddings: gx, weights: raw), try SoftmaxModel(embeddings: y, unembeddings: gy, weights: raw))
            let parts = try ShardMergeTests.statistics(a, b, cuts: [0, n / 3, 2 * n / 3 + 7, n], rawWeights: raw, options: options)
            #expect(parts.allSatisfy { $0.centredMoments?.tookSecondPass == true })
            // Written and read back as partials: the covariances travel with them.
            let read = try parts.map { try MeasurePartial.decode(Data(try MeasurePartial(teacher: "t", student: "s", statistics: $0).encoded().utf8), file: "p").statistics }
            #expect(read.allSatisfy { $0.centredMoments != nil })
            // A partial whose carried covariances are not its sizes', or hold a NaN, is refused…
            let c = try #require(read[0].centredMoments)
            var (short, poisoned) = (read[0], read[0])
            short.centredMoments = CentredMoments(aa: c.aa, bb: c.bb, ba: c.ba, meanA: Array(c.meanA.dropLast()), shiftA: c.shiftA, meanB: c.meanB,
                                                  shiftB: c.shiftB, roundingA: c.roundingA, roundingB: c.roundingB, tookSecondPass: true)
            var nan = c.aa
            nan[0, 0] = .nan
            poisoned.centredMoments = CentredMoments(aa: nan, bb: c.bb, ba: c.ba, meanA: c.meanA, shiftA: c.shiftA, meanB: c.meanB, shiftB: c.shiftB,
                                                     roundingA: c.roundingA, roundingB: c.roundingB, tookSecondPass: true)
            // …and so is one whose mean no longer matches its statistics' (an edit with the checksum recomputed).
            var moved = read[0]
            moved.centredMoments = CentredMoments(aa: c.aa, bb: c.bb, ba: c.ba, meanA: c.meanA.enumerated().map { $0 == 0 ? $1 + 1e-6 * (abs($1) + 1) : $1 }, shiftA: c.shiftA,
                                                  meanB: c.meanB, shiftB: c.shiftB, roundingA: c.roundingA, roundingB: c.roundingB, tookSecondPass: true)
            for bad in [short, poisoned, moved] {
                #expect(throws: MeasureMergeError.self) { try MeasureStatistics.merge([bad] + read.dropFirst(), names: ["a", "b", "c"]) }
            }
            let merged = try MeasureStatistics.merge(read, names: ["a", "b", "c"]).measurement()
            #expect(merged.notes.contains { $0.contains("combined about the shards' means") }, "\(merged.notes)")
            // M_AA's condition (the offset's: 10¹² with one column at 10⁶; every column offset
            // leaves it singular, which the rank note says) is charged to the uncentred measures
            // alone: the covariances are the rows' own.
            #expect(!merged.notes.contains { $0.contains("has condition number") && $0.contains("CKA") }, "\(merged.notes)")
            if x.columns == 10 {
                #expect(merged.notes.contains { $0.contains("M_AA has condition number") && $0.contains("d_unemb, m_CCA uncentred") }, "\(merged.notes)")
            }
            let plain = try PairMeasurement.measure(try ModelPair(SoftmaxModel(embeddings: s, unembeddings: gx, weights: raw),
                                                                  SoftmaxModel(embeddings: y, unembeddings: gy, weights: raw)), options: options)
            for (p, q) in zip(merged.canonicalCorrelationsCentered, plain.canonicalCorrelationsCentered) {
                #expect(abs(p - q) <= 1e-8, "d = \(x.columns): ρ \(p) against \(q)")
                compared += 1
            }
            for (p, q, name) in [(merged.linearCKA, plain.linearCKA, "CKA"), (merged.procrustesDistance, plain.procrustesDistance, "Procrustes"),
                                 (merged.svcca, plain.svcca, "SVCCA")] {
                let (p, q) = (try #require(p, "\(name): \(merged.similarityUndefined ?? "")"), try #require(q))
                #expect(abs(p - q) <= 1e-8, "d = \(x.columns): \(name) \(p) against \(q)")
                compared += 1
            }
        }
        #expect(compared == 24 + 40 + 10 + 9)
    }

    /// Shards that differ: one around 0 carries no covariances (no column took the second pass),
    /// the others, with a column around 10⁶, do. The merge combines the carried ones with the first's M − μμᵀ, as
    /// one run of the whole (whose columns spread about 5·10⁵, so one pass serves it).
    @Test("A merge mixing shards with and without carried covariances: as one run")
    func mergedMixedShards() throws {
        var g = SeededGenerator(seed: 54)
        let (n, d) = (3_000, 6)
        let z = g.gaussianMatrix(rows: n, columns: d)
        // One column offset (all of them would share the offset's direction, conditioning both
        // routes' covariances near 10¹¹).
        let x = Matrix(rows: n, columns: d) { i, j in (i < 1_000 || j > 0 ? 0 : 1e6) + z[i, j] }
        let y = z.multiplied(by: g.gaussianMatrix(rows: d, columns: d)) + g.gaussianMatrix(rows: n, columns: d)
        let (a, b) = (try SoftmaxModel(embeddings: x, unembeddings: g.gaussianMatrix(rows: 20, columns: d)),
                      try SoftmaxModel(embeddings: y, unembeddings: g.gaussianMatrix(rows: 20, columns: d)))
        let options = PairMeasurement.Options(skipPivot: true, certification: .never)
        let parts = try ShardMergeTests.statistics(a, b, cuts: [0, 1_000, 2_000, n], rawWeights: nil, options: options)
        #expect(parts.map { $0.centredMoments != nil } == [false, true, true])
        let merged = try MeasureStatistics.merge(parts, names: ["a", "b", "c"]).measurement()
        // The premise: the carried covariances are the ones combined (with the first shard's M − μμᵀ).
        #expect(merged.notes.contains { $0.contains("combined about the shards' means") }, "\(merged.notes)")
        let single = try PairMeasurement.measure(try ModelPair(a, b), options: options)
        var compared = 0
        for (p, q) in zip(merged.canonicalCorrelationsCentered, single.canonicalCorrelationsCentered) {
            #expect(abs(p - q) <= 1e-9, "ρ \(p) against \(q)")
            compared += 1
        }
        for (p, q) in [(merged.linearCKA, single.linearCKA), (merged.procrustesDistance, single.procrustesDistance), (merged.svcca, single.svcca)] {
            #expect(abs(try #require(p) - (try #require(q))) <= 1e-9)
            compared += 1
        }
        #expect(compared == d + 3)
    }

    /// Shards around 0 beside shards around 10⁶ in every column: no offset for the whole set, but a
    /// covariance whose between-shard part is 10¹² times its within-shard part. The rank floor
    /// (N + d)·ε of that whole dropped a direction one run keeps (m_CCA 0.740 for 0.806, stop 72's
    /// attack); the floor is now the combination's own rounding (`MomentResolution`), which still
    /// drops a direction that is exactly dependent, as one run does.
    @Test("Shards around 0 beside shards around 10⁶: every direction one run keeps, an exact dependence dropped")
    func shardsApart() throws {
        var g = SeededGenerator(seed: 55)
        let n = 3_000
        let options = PairMeasurement.Options(skipPivot: true, certification: .never)
        func offset(_ i: Int) -> Double { i < 1_000 ? 0 : 1e6 }
        var compared = 0
        // (d_A, d_B, spread, B's last column dependent): at d = 96 a floor growing as d² dropped
        // directions one run keeps (a review's model at d = 64).
        for (dA, dB, spread, dependent) in [(6, 5, 0.4, false), (6, 5, 0.4, true), (96, 80, 1.0, false), (96, 80, 1.0, true)] {
            let z = g.gaussianMatrix(rows: n, columns: dA)
            let w = z.multiplied(by: g.gaussianMatrix(rows: dA, columns: dB)) + 0.5 * g.gaussianMatrix(rows: n, columns: dB)
            let x = Matrix(rows: n, columns: dA) { i, j in offset(i) + spread * z[i, j] }
            var y = Matrix(rows: n, columns: dB) { i, j in offset(i) + spread * w[i, j] }
            // Column 4 = 0 + 1 − 2 (the offsets cancel alike): B's covariance has rank 4.
            if dependent { for i in 0..<n { y[i, dB - 1] = y[i, 0] + y[i, 1] - y[i, 2] } }
            let (a, b) = (try SoftmaxModel(embeddings: x, unembeddings: g.gaussianMatrix(rows: 10, columns: dA)),
                          try SoftmaxModel(embeddings: y, unembeddings: g.gaussianMatrix(rows: 10, columns: dB)))
            // Cut where the offset changes: the shards around 10⁶ carry their covariances, the first does not.
            let parts = try ShardMergeTests.statistics(a, b, cuts: [0, 1_000, 2_000, n], rawWeights: nil, options: options)
            #expect(parts.map { $0.centredMoments != nil } == [false, true, true])
            let merged = try MeasureStatistics.merge(parts, names: ["a", "b", "c"]).measurement()
            let rankNote = merged.notes.first { $0.hasPrefix("m_CCA centred averages") }
            let single = try PairMeasurement.measure(try ModelPair(a, b), options: options)
            if dependent {
                let note = try #require(rankNote, "\(merged.notes)")
                #expect(note.contains("second model's (rank \(dB - 1) of d = \(dB))") && note.contains("between the S shards' means"), "\(note)")
                #expect(single.notes.contains { $0.hasPrefix("m_CCA centred averages") && $0.contains("rank \(dB - 1) of d = \(dB)") }, "\(single.notes)")
            } else {
                #expect(rankNote == nil, "d = \(dA): \(rankNote ?? "")")
            }
            // The covariances' between-shard part rounds at ε·10¹², 10⁻³ of the spread within: the
            // condition note's estimate for the centred measures covers the correlations' error.
            let condition = try #require(merged.notes.first { $0.contains("merged centred M_") && $0.contains("has condition number") }, "\(merged.notes)")
            let centredPart = try #require(condition.range(of: "merged centred M_"))
            let tail = condition[centredPart.upperBound...]
            let about = try #require(tail.range(of: "wrong by about "))
            let estimate = try #require(Double(tail[about.upperBound...].prefix { $0 != " " }), "\(condition)")
            for (p, q) in zip(merged.canonicalCorrelationsCentered, single.canonicalCorrelationsCentered) {
                #expect(abs(p - q) <= estimate, "d = \(dA): ρ \(p) against \(q), the note's estimate \(estimate)")
                compared += 1
            }
        }
        #expect(compared == 5 + 5 + 80 + 80)
    }

    /// A shard holding inputs at 0 and at 10⁶ carries only M − μμᵀ, which rounds at (N_s + d)·ε of
    /// 10¹²: the merge drops the wider side's low-variance directions. Where they carry correlation
    /// and the side keeps at least min(d_A, d_B) others, no correlation reads 0, and the merge had
    /// read 0.0147 for 0.400 with no note (stop 73's attack). The note says so; cut at the offset
    /// (no straddling shard) nothing is dropped.
    @Test("A shard straddling 0 and 10⁶: the wider side's dropped directions noted; cut at the offset, none dropped")
    func straddlingShard() throws {
        var g = SeededGenerator(seed: 56)
        let (n, dA, dB) = (2_000, 5, 7)
        let z = g.gaussianMatrix(rows: n, columns: dA)
        let (mainNoise, noise) = (g.gaussianMatrix(rows: n, columns: 5), g.gaussianMatrix(rows: n, columns: 2))
        // Five columns of variance 5 (2z + noise), and two of variance 0.25 correlated with A's first two.
        let w = Matrix(rows: n, columns: dB) { i, j in j < 5 ? 2 * z[i, j] + mainNoise[i, j] : 0.4 * z[i, j - 5] + 0.3 * noise[i, j - 5] }
        let x = Matrix(rows: n, columns: dA) { i, j in (i < 1_000 ? 0 : 1e6) + z[i, j] }
        let y = Matrix(rows: n, columns: dB) { i, j in (i < 1_000 ? 0 : 1e6) + w[i, j] }
        let (a, b) = (try SoftmaxModel(embeddings: x, unembeddings: g.gaussianMatrix(rows: 10, columns: dA)),
                      try SoftmaxModel(embeddings: y, unembeddings: g.gaussianMatrix(rows: 10, columns: dB)))
        let options = PairMeasurement.Options(skipPivot: true, certification: .never)
        let single = try PairMeasurement.measure(try ModelPair(a, b), options: options)
        var compared = 0
        for (cuts, straddling) in [([0, 666, 1_333, n], true), ([0, 1_000, 1_500, n], false)] {
            let parts = try ShardMergeTests.statistics(a, b, cuts: cuts, rawWeights: nil, options: options)
            let merged = try MeasureStatistics.merge(parts, names: ["a", "b", "c"]).measurement()
            let note = merged.notes.first { $0.hasPrefix("m_CCA centred: the second model's") && $0.contains("resolved in fewer directions") }
            if straddling {
                #expect(note != nil, "\(merged.notes.filter { $0.contains("m_CCA") })")
                // The premise: without the dropped directions the correlations are off.
                #expect(zip(merged.canonicalCorrelationsCentered, single.canonicalCorrelationsCentered).contains { abs($0 - $1) > 0.01 })
            } else {
                #expect(note == nil, "\(note ?? "")")
                for (p, q) in zip(merged.canonicalCorrelationsCentered, single.canonicalCorrelationsCentered) {
                    #expect(abs(p - q) <= 1e-3, "ρ \(p) against \(q)")
                }
            }
            compared += 1
        }
        #expect(compared == 2)
    }

    /// The same with spreads 10⁻³ and 10⁻⁴ (below the d×d covariances' resolution, which the rank
    /// note says): CKA had shown 1.0000000000000004 and 1.0000000000000009 (stop 72's attack).
    @Test("Shards around 0 beside shards around 10⁶, spread 10⁻² … 10⁻⁴: CKA at most 1, merged and in one run")
    func shardsApartCKA() throws {
        let options = PairMeasurement.Options(skipPivot: true, certification: .never)
        var checked = 0
        for seed in [2, 5, 6, 7] as [UInt64] {
            var g = SeededGenerator(seed: seed)
            let (n, dA, dB) = (600, 6, 5)
            for sigma in [1e-2, 1e-3, 1e-4] {
                let z = g.gaussianMatrix(rows: n, columns: dA)
                let w = z.multiplied(by: g.gaussianMatrix(rows: dA, columns: dB)) + 0.5 * g.gaussianMatrix(rows: n, columns: dB)
                let x = Matrix(rows: n, columns: dA) { i, j in (i < 200 ? 0 : 1e6) + sigma * z[i, j] }
                let y = Matrix(rows: n, columns: dB) { i, j in (i < 200 ? 0 : 1e6) + sigma * w[i, j] }
                let (a, b) = (try SoftmaxModel(embeddings: x, unembeddings: g.gaussianMatrix(rows: 10, columns: dA)),
                              try SoftmaxModel(embeddings: y, unembeddings: g.gaussianMatrix(rows: 10, columns: dB)))
                let parts = try ShardMergeTests.statistics(a, b, cuts: [0, 200, 400, n], rawWeights: nil, options: options)
                let merged = try MeasureStatistics.merge(parts, names: ["a", "b", "c"]).measurement()
                let single = try PairMeasurement.measure(try ModelPair(a, b), options: options)
                #expect(try #require(merged.linearCKA) <= 1, "seed \(seed), σ = \(sigma): merged")
                #expect(try #require(single.linearCKA) <= 1, "seed \(seed), σ = \(sigma): one run")
                checked += 1
            }
        }
        #expect(checked == 12)
    }

    /// Scaled to a unit maximum before centring (against overflow), data beside a constant column
    /// at 10⁸⁰ varied at 10⁻⁸⁰, and the Grams' squared norms left the normal range: CKA 8·10⁻⁶ off
    /// at 10⁸⁰, ∞ from 10⁹⁰, "zero variance" at 10²⁰⁰, where a merge was right (stop 72's attack).
    @Test("A constant column at 10⁸⁰ … 10³⁰⁰ beside varying ones: CKA, Procrustes, SVCCA and the unbiased CKA as with the column at 0")
    func largeConstantColumn() throws {
        var g = SeededGenerator(seed: 55)
        let (n, d) = (500, 6)
        let z = g.gaussianMatrix(rows: n, columns: d)
        let y = z.leadingColumns(5).multiplied(by: g.gaussianMatrix(rows: 5, columns: 5)) + 0.5 * g.gaussianMatrix(rows: n, columns: 5)
        func column(_ c: Double) -> Matrix { Matrix(rows: n, columns: d) { i, j in j == 1 ? c : z[i, j] } }
        let uniform = [Double](repeating: 1 / Double(n), count: n)
        let plain = try SimilarityMeasures(column(0), y, weights: uniform)
        let plainUnbiased = try #require(UnbiasedLinearCKA(column(0), y, weights: uniform).value)
        var compared = 0
        for c in [1e80, 1e120, -1e100, 1e200, 1e300] {
            let m = try SimilarityMeasures(column(c), y, weights: uniform)
            #expect(m.undefinedReason == nil, "c = \(c): \(m.undefinedReason ?? "")")
            for (a, b, name) in [(m.linearCKA, plain.linearCKA, "CKA"), (m.procrustesDistance, plain.procrustesDistance, "Procrustes"), (m.svcca, plain.svcca, "SVCCA")] {
                let (a, b) = (try #require(a, "c = \(c): \(name)"), try #require(b))
                #expect(abs(a - b) <= 1e-12, "c = \(c): \(name) \(a) against \(b)")
                compared += 1
            }
            let unbiased = try #require(UnbiasedLinearCKA(column(c), y, weights: uniform).value, "c = \(c)")
            #expect(abs(unbiased - plainUnbiased) <= 1e-12, "c = \(c): unbiased CKA \(unbiased) against \(plainUnbiased)")
            compared += 1
            // The note states the spread relative to the raw norm, at about 1/c, not 0 or ∞.
            let note = try #require(m.accuracyNote, "c = \(c)")
            #expect(note.contains("vary by only") && !note.contains("0.0e+00") && !note.contains("inf"), "c = \(c): \(note)")
        }
        // Beside 10³⁰⁰ the varying columns at 10⁻¹⁰ scale to subnormals (about 44 bits, hence 10⁻⁹):
        // 2^−e of their largest entry is not a Double, and the sums had turned to NaN (a review's case).
        let tiny = Matrix(rows: n, columns: d) { i, j in j == 1 ? 1e300 : 1e-10 * z[i, j] }
        let m = try SimilarityMeasures(tiny, y, weights: uniform)
        for (a, b) in [(m.linearCKA, plain.linearCKA), (m.procrustesDistance, plain.procrustesDistance), (m.svcca, plain.svcca)] {
            let (a, b) = (try #require(a, "\(m.undefinedReason ?? "")"), try #require(b))
            #expect(abs(a - b) <= 1e-9, "\(a) against \(b)")
            compared += 1
        }
        #expect(m.accuracyNote?.contains("vary by only") == true, "\(m.accuracyNote ?? "no note")")
        #expect(compared == 5 * 4 + 3)
    }
}
