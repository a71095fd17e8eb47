import Foundation
import Numerics
import Testing
@testable import Measure
@testable import Theory

@Suite("Linear CKA, Procrustes distance and SVCCA (THEORY.md §7)")
struct SimilarityMeasureTests {
    static func weightedPair(seed: UInt64, n: Int = 40, d1: Int = 3, d2: Int = 4) -> (Matrix, Matrix, [Double]) {
        var g = SeededGenerator(seed: seed)
        let x = g.gaussianMatrix(rows: n, columns: d1)
        let y = x.multiplied(by: g.gaussianMatrix(rows: d1, columns: d2)) + g.gaussianMatrix(rows: n, columns: d2, scale: 0.5)
        let raw = (0..<n).map { _ in g.uniform(in: 0.1...1) }
        let total = raw.reduce(0, +)
        return (x, y, raw.map { $0 / total })
    }

    /// Naive: explicit weighted sums over inputs for the moments; CKA from them; Procrustes
    /// as the residual of the optimal rotation Q = UVᵀ computed directly.
    static func naive(_ x: Matrix, _ y: Matrix, _ w: [Double]) throws -> (cka: Double, procrustes: Double) {
        let n = x.rows
        func centred(_ m: Matrix) -> [[Double]] {
            let mean = (0..<m.columns).map { j in (0..<n).reduce(0) { $0 + w[$1] * m[$1, j] } }
            return (0..<n).map { i in (0..<m.columns).map { j in (m[i, j] - mean[j]) * w[i].squareRoot() } }
        }
        let a = centred(x), b = centred(y)
        func moment(_ p: [[Double]], _ q: [[Double]]) -> [[Double]] {
            (0..<p[0].count).map { i in (0..<q[0].count).map { j in (0..<n).reduce(0) { $0 + p[$1][i] * q[$1][j] } } }
        }
        func frob2(_ m: [[Double]]) -> Double { m.flatMap { $0 }.reduce(0) { $0 + $1 * $1 } }
        let cka = frob2(moment(a, b)) / (frob2(moment(a, a)).squareRoot() * frob2(moment(b, b)).squareRoot())
        // Procrustes: pad to a common width, normalise, rotate optimally, measure the residual.
        let d = max(a[0].count, b[0].count)
        let pa = a.map { $0 + Array(repeating: 0, count: d - $0.count) }, pb = b.map { $0 + Array(repeating: 0, count: d - $0.count) }
        let na = frob2(pa).squareRoot(), nb = frob2(pb).squareRoot()
        let xa = try Matrix(pa.map { $0.map { $0 / na } }), yb = try Matrix(pb.map { $0.map { $0 / nb } })
        let svd = try SingularValueDecomposition(yb.multiplied(by: xa, transposeSelf: true))
        let q = svd.u.multiplied(by: svd.v, transposeOther: true)
        let residual = (xa - yb.multiplied(by: q)).frobeniusNormSquared.squareRoot()
        return (cka, residual)
    }

    @Test("Each measure agrees with a naive independent computation on random weighted pairs", arguments: [UInt64(1), 2, 3, 4, 5])
    func againstNaive(seed: UInt64) throws {
        let (x, y, w) = Self.weightedPair(seed: seed)
        let m = try SimilarityMeasures(x, y, weights: w)
        let reference = try Self.naive(x, y, w)
        #expect(abs(try #require(m.linearCKA) - reference.cka) <= 1e-10)
        #expect(abs(try #require(m.procrustesDistance) - reference.procrustes) <= 1e-10)
        // SVCCA keeping all variance is m_CCA.
        let all = try SimilarityMeasures(x, y, weights: w, varianceKept: 1)
        let cca = try CanonicalCorrelations(x, y, weights: w, centred: true).mean
        #expect(abs(try #require(all.svcca) - cca) <= 1e-10)
    }

    /// SVCCA by its definition, independently of both routes: each side's weighted covariance
    /// eigendecomposed by Jacobi rotations, the directions keeping `kept` of the variance, the
    /// projections' canonical correlations as the singular values of Λ_Y^{-1/2} V_YᵀC_YX V_X Λ_X^{-1/2}.
    static func naiveSVCCA(_ x: Matrix, _ y: Matrix, _ w: [Double], kept: Double) throws -> Double {
        let n = x.rows
        func centred(_ m: Matrix) -> Matrix {
            let mean = (0..<m.columns).map { j in (0..<n).reduce(0) { $0 + w[$1] * m[$1, j] } }
            return Matrix(rows: n, columns: m.columns) { i, j in (m[i, j] - mean[j]) * w[i].squareRoot() }
        }
        func moment(_ p: Matrix, _ q: Matrix) -> Matrix {
            Matrix(rows: p.columns, columns: q.columns) { i, j in (0..<n).reduce(0) { $0 + p[$1, i] * q[$1, j] } }
        }
        func jacobi(_ a: Matrix) -> (values: [Double], vectors: Matrix) {
            var a = a, v = Matrix.identity(a.rows)
            for _ in 0..<60 {
                for p in 0..<a.rows { for q in (p + 1)..<a.rows where abs(a[p, q]) > 1e-300 {
                    let theta = (a[q, q] - a[p, p]) / (2 * a[p, q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<a.rows { let (akp, akq) = (a[k, p], a[k, q]); a[k, p] = c * akp - s * akq; a[k, q] = s * akp + c * akq }
                    for k in 0..<a.rows { let (apk, aqk) = (a[p, k], a[q, k]); a[p, k] = c * apk - s * aqk; a[q, k] = s * apk + c * aqk }
                    for k in 0..<a.rows { let (vkp, vkq) = (v[k, p], v[k, q]); v[k, p] = c * vkp - s * vkq; v[k, q] = s * vkp + c * vkq }
                } }
            }
            let order = (0..<a.rows).sorted { a[$0, $0] > a[$1, $1] }
            return (order.map { a[$0, $0] }, Matrix(rows: a.rows, columns: a.rows) { i, j in v[i, order[j]] })
        }
        let (cx, cy) = (centred(x), centred(y))
        func principal(_ c: Matrix) -> (Matrix, [Double]) {
            let (values, vectors) = jacobi(moment(c, c))
            let total = values.reduce(0) { $0 + max($1, 0) }
            var count = 0, sum = 0.0
            while count < values.count && sum < kept * total { sum += max(values[count], 0); count += 1 }
            return (vectors.leadingColumns(count), Array(values.prefix(count)))
        }
        let (vx, lx) = principal(cx), (vy, ly) = principal(cy)
        let k = vy.multiplied(by: moment(cy, cx).multiplied(by: vx), transposeSelf: true)
            .scalingRows(by: ly.map { 1 / $0.squareRoot() }).scalingColumns(by: lx.map { 1 / $0.squareRoot() })
        let s = try k.singularValues()
        let m = min(lx.count, ly.count)
        return (0..<m).reduce(0.0) { $0 + min(s[$1], 1) } / Double(m)
    }

    @Test("SVCCA at 99 % and 90 % against its definition, by the rows' route and through m_CCA's bases, which the pair takes once m_CCA is formed; a student of lower rank and columns 2^±40 apart")
    func svccaRoutes() throws {
        var compared = 0
        for seed in UInt64(30)..<36 {
            var (x, y, w) = Self.weightedPair(seed: seed, n: 60, d1: 5, d2: 6)
            var g = SeededGenerator(seed: seed)
            // A spectrum falling over 10³ (so the cut keeps part of it) on the first side.
            x = x.multiplied(by: Matrix.diagonal([30, 10, 3, 1, 0.03]))
            if seed == 33 { y = x.multiplied(by: g.gaussianMatrix(rows: 5, columns: 6)) }               // rank 5 of 6
            if seed == 34 { y = y.multiplied(by: Matrix.diagonal([0x1p40, 1, 0x1p-40, 1, 1, 1])) }       // columns far apart
            let cca = try CanonicalCorrelations(x, y, weights: w, centred: true)
            for kept in [0.99, 0.9] {
                let naive = try Self.naiveSVCCA(x, y, w, kept: kept)
                let rows = try #require(try SimilarityMeasures(x, y, weights: w, varianceKept: kept).svcca)
                let routed = try SimilarityMeasures(x, y, weights: w, varianceKept: kept, centredCorrelations: cca)
                #expect(routed.svccaThroughBases, "seed \(seed): the bases' route taken")
                let through = try #require(routed.svcca)
                #expect(abs(rows - naive) <= 1e-9 && abs(through - naive) <= 1e-9, "seed \(seed), \(kept): rows \(rows), bases \(through), naive \(naive)")
                compared += 1
            }
            // The pair: before m_CCA the rows' route, after it the bases' (the same value to rounding).
            let pair = try ModelPair(SoftmaxModel(embeddings: x, unembeddings: g.gaussianMatrix(rows: 7, columns: 5), weights: w),
                                     SoftmaxModel(embeddings: y, unembeddings: g.gaussianMatrix(rows: 7, columns: 6), weights: w))
            let throughPair = try ModelPair(pair.first, pair.second)
            _ = try throughPair.embeddingCorrelations(centred: true)
            let (a, b) = (try #require(try pair.similarityMeasures().svcca), try #require(try throughPair.similarityMeasures().svcca))
            #expect(try !pair.similarityMeasures().svccaThroughBases && throughPair.similarityMeasures().svccaThroughBases)
            #expect(abs(a - b) <= 1e-12, "seed \(seed): \(a) vs \(b)")
            #expect(b == (try SimilarityMeasures(x, y, weights: w, centredCorrelations: try throughPair.embeddingCorrelations(centred: true)).svcca))
        }
        #expect(compared == 12)
    }

    /// SVCCA goes through m_CCA's bases only where they hold all but 10⁻¹⁰ of each side's centred
    /// energy; a basis missing directions of real variance would drop them from the cut (a
    /// review's model: SVCCA 0.998 for the rows' 0.468, around an offset that one-pass centring
    /// lost). Centred in two passes, m_CCA's bases now keep such directions
    /// (`CentringOffsetTests`), so the guard is shown on bases of the embeddings with columns
    /// zeroed: a third of them, and one column 10³ smaller than the rest (about 10⁻⁷ of the
    /// energy, which pins the threshold's order): the rows' route, the same bits.
    @Test("SVCCA given m_CCA bases that miss directions of real variance: the rows' route, the same bits")
    func svccaBasesMissingEnergy() throws {
        var g = SeededGenerator(seed: 37)
        var compared = 0
        for (n, d, zeroed, small) in [(2_000, 24, 8, 1.0), (1_500, 12, 1, 1e-3)] {
            let z = g.gaussianMatrix(rows: n, columns: d)
            let x = Matrix(rows: n, columns: d) { i, j in j == d - 1 ? small * z[i, j] : z[i, j] }
            let y = z.multiplied(by: g.gaussianMatrix(rows: d, columns: d)) + 0.3 * g.gaussianMatrix(rows: n, columns: d)
            let w = [Double](repeating: 1 / Double(n), count: n)
            let partial = Matrix(rows: n, columns: d) { i, j in j < d - zeroed ? x[i, j] : 0 }
            let cca = try CanonicalCorrelations(partial, y, weights: w, centred: true)
            #expect(cca.basisX.columns == d - zeroed, "the premise: the basis misses \(zeroed) (\(cca.basisX.columns) of \(d))")
            let rows = try #require(try SimilarityMeasures(x, y, weights: w).svcca)
            let routed = try SimilarityMeasures(x, y, weights: w, centredCorrelations: cca)
            let through = try #require(routed.svcca)
            #expect(!routed.svccaThroughBases && through == rows, "n = \(n): \(through) against the rows' \(rows)")
            compared += 1
        }
        #expect(compared == 2)
    }

    /// Whitened embeddings (every centred direction of the same variance): SVCCA's 99 % cut keeps
    /// 149 of 150 equal directions, an arbitrary choice on which SVCCA depends (stop 70's attack:
    /// 0.04–0.4 % apart by route). Both routes say so; Gaussian embeddings, no tie, no note.
    @Test("SVCCA's cut inside a tie of equal variances: a note on both routes, naming the side and the count; none without a tie")
    func svccaTieNote() throws {
        var g = SeededGenerator(seed: 71)
        let (n, d) = (600, 150)
        let w = [Double](repeating: 1 / Double(n), count: n)
        let z = g.gaussianMatrix(rows: n, columns: d)
        let whitened = Double(n).squareRoot() * (try QRDecomposition(z.subtractingColumnMeans).q)
        let y = z.multiplied(by: g.gaussianMatrix(rows: d, columns: 40)) + g.gaussianMatrix(rows: n, columns: 40)
        var checked = 0
        for through in [false, true] {
            let cca = through ? try CanonicalCorrelations(whitened, y, weights: w, centred: true) : nil
            let tied = try SimilarityMeasures(whitened, y, weights: w, centredCorrelations: cca)
            #expect(tied.svccaThroughBases == through)
            let note = try #require(tied.svccaTieNote, "through the bases: \(through)")
            #expect(note.contains("the first model's 150 principal directions") && note.contains("keeps 149") && !note.contains("second"), "\(note)")
            let plain = try SimilarityMeasures(z, y, weights: w, centredCorrelations: through ? try CanonicalCorrelations(z, y, weights: w, centred: true) : nil)
            #expect(plain.svccaTieNote == nil, "\(plain.svccaTieNote ?? "")")
            checked += 1
        }
        #expect(checked == 2)
    }

    /// The same tie on one run's moments route (large k), whose SVCCA comes from the covariances'
    /// eigendecompositions: the note is there too (stop 71 left it untested).
    @Test("SVCCA's cut inside a tie on the moments route: the note, naming the side and the count; none without a tie")
    func svccaTieNoteMomentsRoute() throws {
        var g = SeededGenerator(seed: 71)
        let (n, d) = (600, 150)
        let z = g.gaussianMatrix(rows: n, columns: d)
        let whitened = Double(n).squareRoot() * (try QRDecomposition(z.subtractingColumnMeans).q)
        let y = z.multiplied(by: g.gaussianMatrix(rows: d, columns: 40)) + g.gaussianMatrix(rows: n, columns: 40)
        let (gx, gy) = (g.gaussianMatrix(rows: 30, columns: d), g.gaussianMatrix(rows: 30, columns: 40))
        func measured(_ f: Matrix) throws -> PairMeasurement {
            let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: gx), SoftmaxModel(embeddings: y, unembeddings: gy), routes: .largeScale)
            return try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .never))
        }
        let (tied, plain) = (try measured(whitened), try measured(z))
        #expect(tied.routes == "moments" && plain.routes == "moments")
        let note = try #require(tied.notes.first { $0.contains("principal directions") }, "\(tied.notes)")
        #expect(note.contains("the first model's 150 principal directions") && note.contains("keeps 149") && !note.contains("second"), "\(note)")
        #expect(!plain.notes.contains { $0.contains("principal directions") }, "\(plain.notes)")
    }

    @Test("CKA and Procrustes are invariant under orthogonal maps and isotropic scaling of either side")
    func invariances() throws {
        var checked = 0
        for seed in UInt64(10)..<15 {
            let (x, y, w) = Self.weightedPair(seed: seed, d1: 4, d2: 4)
            var g = SeededGenerator(seed: seed)
            let q = try SingularValueDecomposition(g.gaussianMatrix(rows: 4, columns: 4)).u
            let base = try SimilarityMeasures(x, y, weights: w)
            let moved = try SimilarityMeasures(x, 3.7 * y.multiplied(by: q), weights: w)
            #expect(abs(base.linearCKA! - moved.linearCKA!) <= 1e-12)
            #expect(abs(base.procrustesDistance! - moved.procrustesDistance!) <= 1e-10)
            checked += 1
        }
        #expect(checked == 5)
    }

    @Test("An invertible, non-orthogonal map of the student changes CKA and Procrustes but not m_CCA (T10)")
    func notClassFunctions() throws {
        let (x, _, w) = Self.weightedPair(seed: 7, d1: 4, d2: 4)
        let a = Matrix.diagonal([64, 1, 1, 1])           // dyadic, invertible
        let same = try SimilarityMeasures(x, x, weights: w)
        let mapped = try SimilarityMeasures(x, x.multiplied(by: a), weights: w)
        #expect(abs(same.linearCKA! - 1) <= 1e-12 && same.procrustesDistance! <= 1e-6)
        #expect(mapped.linearCKA! < 0.9, "CKA \(mapped.linearCKA!)")
        #expect(mapped.procrustesDistance! > 0.3, "Procrustes \(mapped.procrustesDistance!)")
        let cca = try CanonicalCorrelations(x, x.multiplied(by: a), weights: w, centred: true).mean
        #expect(abs(cca - 1) <= 1e-12)
    }

    @Test("Zero-variance embeddings make the measures undefined with a reason, never NaN")
    func undefined() throws {
        let (x, _, w) = Self.weightedPair(seed: 9)
        let constant = Matrix(rows: x.rows, columns: 3, repeating: 2)
        let m = try SimilarityMeasures(x, constant, weights: w)
        #expect(m.linearCKA == nil && m.procrustesDistance == nil && m.svcca == nil)
        #expect(m.undefinedReason?.contains("zero variance") == true)
        // A spread of 3·10⁻¹¹ around an offset of 10⁶ is variance, not rounding (it was called
        // "zero variance" below 10⁻¹⁰); the measures carry a note on the error centring leaves.
        let offset = Matrix(rows: x.rows, columns: x.columns) { i, j in 1e6 + 3e-5 * x[i, j] }
        let shifted = try SimilarityMeasures(offset, x, weights: w)
        let cka = try #require(shifted.linearCKA, "\(shifted.undefinedReason ?? "")")
        #expect(abs(cka - 1) < 1e-4 && shifted.accuracyNote?.contains("vary by only") == true, "\(cka) \(shifted.accuracyNote ?? "no note")")
        #expect(try SimilarityMeasures(x, x, weights: w).accuracyNote == nil)
        let unbiased = UnbiasedLinearCKA(offset, x, weights: [Double](repeating: 1 / Double(x.rows), count: x.rows))
        #expect(abs((unbiased.value ?? 0) - 1) < 1e-4, "\(String(describing: unbiased.value)) \(unbiased.note ?? "")")
    }
}

@Suite("Unbiased linear CKA (HSIC₁)")
struct UnbiasedCKATests {
    /// HSIC₁ straight from its definition on the N×N kernels (Song et al. 2012).
    static func direct(_ x: Matrix, _ y: Matrix) -> Double {
        let n = x.rows
        func centred(_ m: Matrix) -> Matrix { m.subtractingFromRows(m.weightedRowMean([Double](repeating: 1 / Double(n), count: n))) }
        func kernel(_ m: Matrix) -> [[Double]] {
            let c = centred(m)
            return (0..<n).map { i in (0..<n).map { j in i == j ? 0 : (0..<m.columns).reduce(0) { $0 + c[i, $1] * c[j, $1] } } }
        }
        func hsic(_ k: [[Double]], _ l: [[Double]]) -> Double {
            var trace = 0.0, sumK = 0.0, sumL = 0.0, middle = 0.0
            for i in 0..<n {
                for j in 0..<n { trace += k[i][j] * l[j][i]; sumK += k[i][j]; sumL += l[i][j] }
                middle += (0..<n).reduce(0) { $0 + k[i][$1] } * (0..<n).reduce(0) { $0 + l[$1][i] }
            }
            let m = Double(n)
            return (trace + sumK * sumL / ((m - 1) * (m - 2)) - 2 * middle / (m - 2)) / (m * (m - 3))
        }
        let (k, l) = (kernel(x), kernel(y))
        return hsic(k, l) / (hsic(k, k) * hsic(l, l)).squareRoot()
    }

    /// Every input but one at one point: HSIC₁ of that side with itself is exactly 0 and the
    /// estimator 0/0; the quotient of rounding errors read ±10⁻⁸ (stop 71's attack).
    @Test("Every input but one at one point: undefined (HSIC₁ with itself 0 to within rounding), not a quotient of rounding errors")
    func oneInputApart() throws {
        var g = SeededGenerator(seed: 72)
        var checked = 0
        for n in [20, 300, 2_000] {
            let point = (0..<5).map { _ in g.gaussian() }, apart = (0..<5).map { _ in g.gaussian() }
            let x = Matrix(rows: n, columns: 5) { i, j in i == n / 2 ? apart[j] : point[j] }
            let y = g.gaussianMatrix(rows: n, columns: 4)
            let cka = UnbiasedLinearCKA(x, y, weights: [Double](repeating: 1 / Double(n), count: n))
            #expect(cka.value == nil && cka.note?.contains("within rounding") == true, "n = \(n): \(String(describing: cka.value))")
            checked += 1
        }
        #expect(checked == 3)
    }

    @Test("Against the N×N definition on random pairs; 1 for identical embeddings; undefined for weighted inputs and N < 4")
    func againstDefinition() throws {
        var g = SeededGenerator(seed: 1700)
        var compared = 0
        for (n, p, q) in [(5, 2, 3), (12, 3, 3), (30, 4, 2), (60, 5, 6)] {
            let x = g.gaussianMatrix(rows: n, columns: p), y = x.multiplied(by: g.gaussianMatrix(rows: p, columns: q)) + 0.5 * g.gaussianMatrix(rows: n, columns: q)
            let uniform = [Double](repeating: 1 / Double(n), count: n)
            let fast = try #require(UnbiasedLinearCKA(x, y, weights: uniform).value)
            let slow = Self.direct(x, y)
            #expect(abs(fast - slow) <= 1e-10 * max(1, abs(slow)), "n = \(n): \(fast) vs \(slow)")
            // The biased CKA is not the unbiased one (they differ at small n).
            let biased = try #require(try SimilarityMeasures(x, y, weights: uniform).linearCKA)
            #expect(abs(biased - fast) > 1e-6, "n = \(n)")
            compared += 1
        }
        #expect(compared == 4)
        let x = g.gaussianMatrix(rows: 20, columns: 3)
        #expect(abs(try #require(UnbiasedLinearCKA(x, x, weights: [Double](repeating: 0.05, count: 20)).value) - 1) < 1e-12)
        let weighted = UnbiasedLinearCKA(x, x, weights: (0..<20).map { Double($0 + 1) / 210 })
        #expect(weighted.value == nil && weighted.note?.contains("weighted") == true)
        #expect(UnbiasedLinearCKA(x.selectingRows([0, 1, 2]), x.selectingRows([0, 1, 2]), weights: [1, 1, 1].map { $0 / 3 }).value == nil)
    }

    @Test("The unbiased CKA from the similarity measures' Grams (equal weights): the rows' value and the N×N definition's; the pair reads it; unequal weights, N < 4 and a flat side leave it to the rows")
    func sharedUnbiased() throws {
        var g = SeededGenerator(seed: 1701)
        var compared = 0
        for (n, p, q) in [(6, 2, 3), (40, 3, 5), (200, 6, 4)] {
            let x = g.gaussianMatrix(rows: n, columns: p).subtractingFromRows([Double](repeating: -3, count: p))
            let y = x.multiplied(by: g.gaussianMatrix(rows: p, columns: q)) + 0.5 * g.gaussianMatrix(rows: n, columns: q)
            let uniform = [Double](repeating: 1 / Double(n), count: n)
            let shared = try #require(try SimilarityMeasures(x, y, weights: uniform).unbiased?.value, "n = \(n)")
            let rows = try #require(UnbiasedLinearCKA(x, y, weights: uniform).value)
            #expect(abs(shared - rows) <= 1e-13 * max(1, abs(rows)), "n = \(n): \(shared) vs \(rows)")
            #expect(abs(shared - Self.direct(x, y)) <= 1e-10, "n = \(n)")
            let pair = try ModelPair(SoftmaxModel(embeddings: x, unembeddings: g.gaussianMatrix(rows: 5, columns: p)),
                                     SoftmaxModel(embeddings: y, unembeddings: g.gaussianMatrix(rows: 5, columns: q)))
            #expect(pair.unbiasedLinearCKA().value == rows, "before the similarity measures: from the rows")
            _ = try pair.similarityMeasures()
            #expect(pair.unbiasedLinearCKA().value == shared, "after them: their Grams'")
            compared += 1
        }
        #expect(compared == 3)
        let x = g.gaussianMatrix(rows: 20, columns: 3), y = g.gaussianMatrix(rows: 20, columns: 2)
        var weights = [Double](repeating: 0.05, count: 20)
        weights[3] = weights[3].nextUp
        #expect(try SimilarityMeasures(x, y, weights: weights).unbiased == nil, "weights one ulp apart")
        #expect(try SimilarityMeasures(x.selectingRows([0, 1, 2]), y.selectingRows([0, 1, 2]), weights: [1, 1, 1].map { $0 / 3 }).unbiased == nil)
        let flat = Matrix(rows: 20, columns: 3) { _, j in Double(j) }
        #expect(try SimilarityMeasures(flat, y, weights: [Double](repeating: 0.05, count: 20)).unbiased == nil)
    }

    /// HSIC₁ is an inner product of the U-centred Grams, so the unbiased CKA lies in [−1, 1]; for
    /// embeddings equal up to a rotation and an offset of 10⁷ rounding had passed 1 (8 of 17 seeds
    /// here; stop 73's attack).
    @Test("The unbiased CKA of embeddings equal up to a rotation and an offset: 1 to rounding, never above")
    func unbiasedAtMostOne() throws {
        var checked = 0
        for seed in UInt64(1)...17 {
            var g = SeededGenerator(seed: seed)
            let x = g.gaussianMatrix(rows: 200, columns: 4)
            let q = try SymmetricEigendecomposition(symmetrised(g.gaussianMatrix(rows: 4, columns: 4).gram())).eigenvectors
            let rotated = x.multiplied(by: q)
            let y = Matrix(rows: 200, columns: 4) { i, j in rotated[i, j] + 1e7 }
            let value = try #require(UnbiasedLinearCKA(x, y, weights: [Double](repeating: 1.0 / 200, count: 200)).value)
            #expect(value <= 1 && value > 1 - 1e-12, "seed \(seed): \(value)")
            checked += 1
        }
        #expect(checked == 17)
    }

    /// One run on the moments route forms its rows' covariances (`CentredMoments`); under equal
    /// weights the unbiased CKA comes from those Grams, not from centring the rows again (a quarter
    /// of a run at N = 10⁵, k = 1 000, d = 256, and its memory peak; stop 73).
    @Test("The moments route's unbiased CKA from its covariances' Grams: the rows' value, the N×N definition's, at 10⁻¹⁰⁰ and 10¹⁰⁰; subnormal Grams and weighted inputs from the rows")
    func sharedUnbiasedMomentsRoute() throws {
        var g = SeededGenerator(seed: 1702)
        var compared = 0
        // (N, d_A, d_B, size, spread): the last around an offset at 10⁻¹⁴⁸, where the covariances'
        // Grams are subnormal (3 digits, or "zero variance", a review found): the rows' path serves.
        for (n, p, q, scale, spread) in [(40, 3, 5, 1.0, 1.0), (300, 6, 4, 1.0, 1.0), (300, 6, 4, 1e100, 1.0), (300, 6, 4, 1e-100, 1.0),
                                         (300, 6, 4, 1e-148, 1e-12)] {
            // Around 3 (spread 1), or both around 1 (spread 10⁻¹²), then scaled.
            let z = g.gaussianMatrix(rows: n, columns: p).subtractingFromRows([Double](repeating: -3, count: p))
            let x = Matrix(rows: n, columns: p) { i, j in scale * ((spread == 1 ? 0 : 1) + spread * z[i, j]) }
            let w = z.multiplied(by: g.gaussianMatrix(rows: p, columns: q)) + 0.5 * g.gaussianMatrix(rows: n, columns: q)
            let y = Matrix(rows: n, columns: q) { i, j in scale * ((spread == 1 ? 0 : 1) + spread * w[i, j]) }
            let pair = try ModelPair(SoftmaxModel(embeddings: x, unembeddings: g.gaussianMatrix(rows: 5, columns: p)),
                                     SoftmaxModel(embeddings: y, unembeddings: g.gaussianMatrix(rows: 5, columns: q)), routes: .largeScale)
            let measured = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .never))
            #expect(measured.routes == "moments")
            let value = try #require(measured.linearCKAUnbiased, "n = \(n), scale \(scale): \(measured.linearCKAUnbiasedNote ?? "")")
            let rows = try #require(UnbiasedLinearCKA(x, y, weights: [Double](repeating: 1 / Double(n), count: n)).value)
            if spread == 1 {
                // The premise: the value was kept from the covariances' Grams.
                #expect(value == (try #require(pair.cache.peek("unbiased", as: UnbiasedLinearCKA.self)?.value, "n = \(n), scale \(scale)")))
                #expect(abs(value - rows) <= 1e-12 * max(1, abs(rows)), "n = \(n), scale \(scale): \(value) vs \(rows)")
                #expect(abs(value - Self.direct((1 / scale) * x, (1 / scale) * y)) <= 1e-10, "n = \(n), scale \(scale)")
            } else {
                #expect(pair.cache.peek("unbiased", as: UnbiasedLinearCKA.self) == nil && value == rows, "scale \(scale): \(value) vs \(rows)")
            }
            compared += 1
        }
        #expect(compared == 5)
        // Weighted inputs: no value kept, and the rows' reason.
        let x = g.gaussianMatrix(rows: 30, columns: 3), y = g.gaussianMatrix(rows: 30, columns: 2)
        let weighted = try ModelPair(SoftmaxModel(embeddings: x, unembeddings: g.gaussianMatrix(rows: 5, columns: 3), weights: (0..<30).map { Double($0 + 1) }),
                                     SoftmaxModel(embeddings: y, unembeddings: g.gaussianMatrix(rows: 5, columns: 2), weights: (0..<30).map { Double($0 + 1) }),
                                     routes: .largeScale)
        let measured = try PairMeasurement.measure(weighted, options: PairMeasurement.Options(skipPivot: true, certification: .never))
        #expect(weighted.cache.peek("unbiased", as: UnbiasedLinearCKA.self) == nil)
        #expect(measured.linearCKAUnbiased == nil && measured.linearCKAUnbiasedNote?.contains("weighted") == true)
        // A flat side: undefined, with the reason, from the kept value.
        let flat = Matrix(rows: 30, columns: 3) { _, j in Double(j) + 0.5 }
        let flatPair = try ModelPair(SoftmaxModel(embeddings: flat, unembeddings: g.gaussianMatrix(rows: 5, columns: 3)),
                                     SoftmaxModel(embeddings: y, unembeddings: g.gaussianMatrix(rows: 5, columns: 2)), routes: .largeScale)
        let flatMeasured = try PairMeasurement.measure(flatPair, options: PairMeasurement.Options(skipPivot: true, certification: .never))
        #expect(flatPair.cache.peek("unbiased", as: UnbiasedLinearCKA.self) != nil)
        #expect(flatMeasured.linearCKAUnbiased == nil && flatMeasured.linearCKAUnbiasedNote?.contains("zero variance") == true, "\(flatMeasured.linearCKAUnbiasedNote ?? "")")
    }
}

@Suite("T10's infimum of CKA over one class (Proofs/T10-blind-measures.md, Part 3)")
struct CKAInfimumTests {
    @Test("CKA(x, Ax) ≥ λ_min(Σ)/‖Σ‖_F for random Σ and maps, and near-rank-one maps come within 1 % of it")
    func infimum() throws {
        var checked = 0
        for seed in UInt64(1)...6 {
            var g = SeededGenerator(seed: seed)
            let d = 2 + Int(seed % 4), n = 60
            let x = g.gaussianMatrix(rows: n, columns: d).multiplied(by: g.gaussianMatrix(rows: d, columns: d))
            let w = Array(repeating: 1 / Double(n), count: n)
            let centred = x.subtractingFromRows(x.weightedRowMean(w)).scalingRows(by: w.map { $0.squareRoot() })
            let eigen = try SymmetricEigendecomposition(symmetrised(centred.gram()))
            let bound = eigen.eigenvalues.last! / eigen.eigenvalues.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for _ in 0..<20 {
                let a = g.gaussianMatrix(rows: d, columns: d)
                let cka = try #require(try SimilarityMeasures(x, x.multiplied(by: a, transposeOther: true), weights: w).linearCKA)
                #expect(cka >= bound * (1 - 1e-12), "seed \(seed): CKA \(cka) below the bound \(bound)")
                checked += 1
            }
            // A_t = (v vᵀ + t I) Σ^{-1/2}, v the eigenvector of λ_min, t small.
            let v = eigen.eigenvectors.column(d - 1)
            let (q, lambda) = (eigen.eigenvectors, eigen.eigenvalues)
            let sigmaInverseRoot = Matrix(rows: d, columns: d) { i, j in
                (0..<d).reduce(0) { $0 + q[i, $1] * q[j, $1] / lambda[$1].squareRoot() }
            }
            let b = Matrix(rows: d, columns: d) { i, j in v[i] * v[j] + (i == j ? 1e-7 : 0) }
            let near = b.multiplied(by: sigmaInverseRoot)
            let cka = try #require(try SimilarityMeasures(x, x.multiplied(by: near, transposeOther: true), weights: w).linearCKA)
            #expect(cka <= bound * 1.01, "seed \(seed): near-rank-one CKA \(cka), bound \(bound)")
        }
        #expect(checked == 120)
    }
}
