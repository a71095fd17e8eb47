import Foundation
import Numerics
import Testing
@testable import Theory

@Suite("Streamed logit statistics and large-scale routes")
struct LargeScaleRouteTests {
    func relative(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-300) }

    @Test("The streamed pass equals a whole-row computation, across column blocks, threads and near-equal rows")
    func streamedStatistics() throws {
        var g = SeededGenerator(seed: 901)
        // N·k·d large enough for two workers (label blocks: see `accumulatorBlocks`).
        let teacher = ModelGenerator.model(labels: 300, dimension: 6, inputs: 8_000, scale: 3, using: &g)
        let far = ModelGenerator.perturb(teacher, by: 0.05, using: &g)
        let near = ModelGenerator.perturb(teacher, by: 1e-9, using: &g)
        for student in [far, near] {
            let pair = try ModelPair(teacher, student)
            // The same plan (so the same dgemm shapes) and BLAS single-threaded for every
            // worker count: the Doubles are identical, bit for bit, by construction.
            let serial = pair.computeLogitStatistics(workers: 1)
            let plan = LogitPassPlan(inputs: teacher.inputCount, labels: teacher.labelCount)
            #expect(serial.plan == plan && serial.workers == 1 && plan.chunks.count >= 4)
            var compared = 0
            for workers in [2, 3, 4] {
                let stats = pair.computeLogitStatistics(workers: workers)
                #expect(stats.workers == workers && stats.plan == plan)
                #expect(stats.klPerInput == serial.klPerInput && stats.reverseKLPerInput == serial.reverseKLPerInput)
                #expect(stats.logitDistanceSquared == serial.logitDistanceSquared && stats.logTauPerInput == serial.logTauPerInput)
                compared += 1
            }
            #expect(compared == 3)
            let stats = serial
            let (g1, g2) = pair.centredUnembeddings
            for i in stride(from: 0, to: teacher.inputCount, by: 397) {
                let a = teacher.embeddings.selectingRows([i]).multiplied(by: g1, transposeOther: true).row(0)
                let b = student.embeddings.selectingRows([i]).multiplied(by: g2, transposeOther: true).row(0)
                #expect(relative(stats.klPerInput[i], klDivergence(logitsP: a, logitsQ: b)) < 1e-6)
                #expect(relative(stats.reverseKLPerInput[i], klDivergence(logitsP: b, logitsQ: a)) < 1e-6)
                let squares = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
                #expect(relative(zip(a, b).map { $0 - $1 }.reduce(0) { $0 + $1 * $1 }, squares) < 1e-12)
                let logP = logSoftmax(a), logQ = logSoftmax(b)
                #expect(abs(stats.logTauPerInput[i] - min(logP.min()!, logQ.min()!)) < 1e-9)
            }
            if student.embeddings == near.embeddings { #expect(stats.accurateRecomputations > 0) }
        }
    }

    @Test("Accumulating a row in blocks of any sizes equals accumulating it whole")
    func accumulatorBlocks() {
        var g = SeededGenerator(seed: 905)
        var unflagged = 0
        for k in [1, 3, 4, 7, 257, 1000] {
            let a = (0..<k).map { _ in g.gaussian() * 20 }, b = a.map { $0 + g.gaussian() }
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    var whole = LogitRowAccumulator(), blocked = LogitRowAccumulator()
                    whole.add(pa, pb)
                    var start = 0
                    while start < k {
                        let end = min(k, start + g.int(in: 1...64))
                        blocked.add(UnsafeBufferPointer(rebasing: pa[start..<end]), UnsafeBufferPointer(rebasing: pb[start..<end]))
                        start = end
                    }
                    let x = whole.statistics, y = blocked.statistics
                    #expect(x.klABNeedsRecomputation == y.klABNeedsRecomputation)
                    #expect(y.minLogPA == x.minLogPA || relative(y.minLogPA, x.minLogPA) < 1e-14)
                    #expect(relative(y.squaredDifference, x.squaredDifference) < 1e-13)
                    // An unflagged value keeps its documented ~6 digits; a flagged one is recomputed.
                    if !x.klABNeedsRecomputation {
                        #expect(relative(x.klAB, klDivergence(logitsP: a, logitsQ: b)) < 1e-6, "k = \(k)")
                        #expect(relative(y.klAB, x.klAB) < 1e-6, "k = \(k)")
                        unflagged += 1
                    }
                    let full = logitRowStatistics(pa, pb)
                    #expect(relative(full.klAB, klDivergence(logitsP: a, logitsQ: b)) < 1e-6, "k = \(k)")
                    #expect(relative(full.klBA, klDivergence(logitsP: b, logitsQ: a)) < 1e-6, "k = \(k)")
                }
            }
        }
        #expect(unflagged >= 3, "only \(unflagged) of 6 rows compared unflagged")
    }

    /// A softmax is unchanged by adding a constant to every logit; B's logits shifted by
    /// 10⁸…10¹⁵ (an exact shift back to small values gives the reference) must give the same
    /// KL both ways to 1e−12 relative, streamed in uneven blocks or whole. Before the
    /// accumulator worked with logits less their running maximum, and the recomputation
    /// with log-probabilities, KL(B‖A) lost 6e−9 at 3·10⁸ and 2 % at 10¹⁵.
    @Test("KL both ways does not depend on the scale of the logits (shifted up to 10¹⁵)", arguments: [3e8, 1e12, 1e15])
    func klAtLargeLogits(scale: Double) {
        var g = SeededGenerator(seed: 77)
        var checked = 0
        for k in [7, 64, 300] {
            let a = (0..<k).map { _ in g.gaussian() }
            let b = a.map { ($0 + 0.8 * g.gaussian() + scale) }       // rounded at the scale: these doubles are the model
            let reference = b.map { $0 - scale }                        // exact (Sterbenz): the same softmax
            func both(_ x: [Double], _ y: [Double], blocks: Bool) -> (Double, Double) {
                x.withUnsafeBufferPointer { px in
                    y.withUnsafeBufferPointer { py in
                        guard blocks else { let s = logitRowStatistics(px, py); return (s.klAB, s.klBA) }
                        var accumulator = LogitRowAccumulator(), start = 0
                        while start < k {
                            let end = min(k, start + g.int(in: 1...40))
                            accumulator.add(UnsafeBufferPointer(rebasing: px[start..<end]), UnsafeBufferPointer(rebasing: py[start..<end]))
                            start = end
                        }
                        let s = withRecomputedKL(accumulator.statistics, px, py)
                        return (s.klAB, s.klBA)
                    }
                }
            }
            let exact = both(a, reference, blocks: false)
            #expect(exact.0 > 0.05 && exact.1 > 0.05)
            for blocks in [false, true] {
                let large = both(a, b, blocks: blocks)
                #expect(relative(large.0, exact.0) < 1e-12, "KL(A‖B) at \(scale), k = \(k), blocks \(blocks): \(large.0) vs \(exact.0)")
                #expect(relative(large.1, exact.1) < 1e-12, "KL(B‖A) at \(scale), k = \(k), blocks \(blocks): \(large.1) vs \(exact.1)")
                #expect(relative(klDivergence(logitsP: b, logitsQ: a), exact.1) < 1e-12)
                checked += 1
            }
        }
        #expect(checked == 6)
    }

    @Test("The vectorised exponential is within 2 ulps of the C library's and flushes below e^−708")
    func exponential() {
        var g = SeededGenerator(seed: 902)
        var worst = 0.0
        for _ in 0..<100_000 {
            let x = -abs(g.gaussian()) * 200
            let exact = Foundation.exp(x), fast = exponentialOfNonPositive(x)
            if x >= -708 { worst = max(worst, abs(fast - exact) / exact) } else { #expect(fast == 0) }
        }
        for x in [0.0, -0.0, -1e-300, -0.34657359, -708.0] {
            #expect(abs(exponentialOfNonPositive(x) - Foundation.exp(x)) <= 2 * Double.ulpOfOne * Foundation.exp(x))
        }
        #expect(worst <= 2 * Double.ulpOfOne, "worst relative error \(worst)")
    }

    @Test("Gram and moment routes agree with the SVD routes", arguments: [(3, 12, 80), (8, 40, 300), (5, 6, 50)])
    func gramRoutes(dimension d: Int, labels k: Int, inputs n: Int) throws {
        var g = SeededGenerator(seed: UInt64(903 + d))
        let teacher = ModelGenerator.model(labels: k, dimension: d, inputs: n, scale: 2, condition: 30, using: &g)
        let student = ModelGenerator.perturb(teacher, by: 0.2, using: &g)
        let svd = try ModelPair(teacher, student), gram = try ModelPair(teacher, student, routes: .largeScale)
        #expect(!svd.usesGramRoutes && gram.usesGramRoutes)
        #expect(relative(try gram.representationDissimilaritySquared(), try svd.representationDissimilaritySquared()) < 1e-8)
        #expect(relative(try gram.reverseRepresentationDissimilaritySquared(), try svd.swapped.representationDissimilaritySquared()) < 1e-8)
        #expect(relative(try gram.unembeddingDissimilaritySquared(), try svd.unembeddingDissimilaritySquared()) < 1e-8)
        #expect(relative(try gram.firstDiversity().sigmaMinUnembeddings, try svd.firstDiversity().sigmaMinUnembeddings) < 1e-8)
        for centred in [false, true] {
            let t7 = T7CanonicalCorrelationBound(.traceBound, centred: centred)
            let a = try t7.terms(gram), b = try t7.terms(svd)
            #expect(relative(a.residual, b.residual) < 1e-8)
            for (x, y) in zip(a.mu, b.mu) { #expect(abs(x - y) <= 1e-8 * b.mu[0]) }
            // Both routes take ρ from the same CCA today; each 1 − ρ² lies in [0, 1] with
            // an error of about 10·d·ε from backward-stable QR/SVD, so 1e−12 absolute.
            for (x, y) in zip(a.oneMinusRhoSquared, b.oneMinusRhoSquared) { #expect(abs(x - y) <= 1e-12) }
            #expect(a.oneMinusRhoSquared.count == b.oneMinusRhoSquared.count)
        }
    }

    @Test("The batched pivot residuals equal the direct residual; singular pivot matrices are skipped")
    func pivotResiduals() throws {
        var g = SeededGenerator(seed: 904)
        let teacher = ModelGenerator.model(labels: 30, dimension: 5, inputs: 200, scale: 2, using: &g)
        let student = ModelGenerator.perturb(teacher, by: 0.1, using: &g)
        let pair = try ModelPair(teacher, student)
        let pairs = try ModelPair.pivotSubsets(.sampled(pivots: 10, subsetsPerPivot: 40, seed: 3), labelCount: 30, dimension: 5).pairs
        let fast = PivotMoments(pair).residuals(pairs)
        for (ps, r) in zip(pairs, fast) {
            #expect(relative(try #require(r), try pair.pivotResidualDirect(ps)) < 1e-9)
        }
        // Two equal unembeddings make every L₁ containing both rows singular.
        var u = teacher.unembeddings
        for j in 0..<5 { u[1, j] = u[2, j] }
        let degenerate = try ModelPair(try teacher.with(unembeddings: u), student)
        let r = PivotMoments(degenerate).residuals([PivotSubset(pivot: 0, subset: [1, 2, 3, 4, 5]),
                                                    PivotSubset(pivot: 0, subset: [1, 3, 4, 5, 6])])
        #expect(r[0] == nil && r[1] != nil)
        // Nearly equal rows: cond(L₁) ~ 10⁶ rejects the Gram path (cond² > 10⁸); the LU path decides.
        for j in 0..<5 { u[2, j] = u[1, j] + 1e-6 * Double(j + 1) }
        let illConditioned = try ModelPair(try teacher.with(unembeddings: u), student)
        let subset = PivotSubset(pivot: 0, subset: [1, 2, 3, 4, 5])
        let value = try #require(illConditioned.pivotResiduals([subset])[0])
        #expect(relative(value, try illConditioned.pivotResidualDirect(subset)) < 1e-6)
    }

    /// The Gram path forms L₁L₁ᵀ from k×k tables by double differences, which cancel: by
    /// (‖g_s‖² + ‖g_p‖²)/‖g_s − g_p‖², and by a common offset's square where G has one. At d = 1
    /// cond(L₁L₁ᵀ) is 1, so nearly equal labels never left the path: an attack's pivot mean was
    /// 6·10⁻⁸ off. The tables now come from G centred, and such pairs take the LU path.
    @Test("The batched pivot residuals with nearly equal labels (d = 1) and a common offset of G (d = 3): the direct residual's",
          arguments: [(1, 0.0, true), (3, 1e4, true), (3, 1e4, false)])
    func pivotResidualsCancelling(dimension d: Int, offset: Double, nearlyEqual: Bool) throws {
        var g = SeededGenerator(seed: 905)
        let model = ModelGenerator.model(labels: 50, dimension: d, inputs: 200, using: &g)
        var u = model.unembeddings
        if nearlyEqual { for j in 0..<d { u[2, j] = u[1, j] + 1e-5 * Double(j + 1) } }
        for i in 0..<50 { for j in 0..<d { u[i, j] += offset * Double(j + 1) } }
        let teacher = try model.with(unembeddings: u)
        let pair = try ModelPair(teacher, ModelGenerator.perturb(teacher, by: 0.1, using: &g))
        let selection: PivotSelection = d == 1 ? .automatic() : .sampled(pivots: 10, subsetsPerPivot: 40, seed: 3)
        let pairs = try ModelPair.pivotSubsets(selection, labelCount: 50, dimension: d).pairs
        var compared = 0
        let (values, luPath) = PivotMoments(pair).residualsCountingLUPath(pairs)
        // An offset alone cancels nothing in tables from the centred G: nearly every pair stays
        // on the Gram path (from G as given, ρ ≈ 10⁹ sent every pair to LU). Nearly equal labels
        // send theirs to LU.
        if !nearlyEqual { #expect(luPath <= pairs.count / 20, "\(luPath) of \(pairs.count) pairs took the LU path") }
        if d == 1 { #expect(luPath >= 1) }
        for (ps, r) in zip(pairs, values) {
            let direct = try pair.pivotResidualDirect(ps)
            #expect(relative(try #require(r), direct) < 1e-9, "pivot \(ps.pivot), S = \(ps.subset): \(r ?? .nan) against \(direct)")
            compared += 1
        }
        #expect(compared == (d == 1 ? 50 * 49 : 400))
    }

    @Test("firstNonFinite finds the first NaN or infinity")
    func nonFinite() {
        var values = [Double](repeating: 1, count: 10_000)
        #expect(firstNonFinite(values) == nil)
        values[7_777] = .infinity
        values[9_000] = .nan
        #expect(firstNonFinite(values) == 7_777)
        values[3] = -.infinity
        #expect(firstNonFinite(values) == 3)
        #expect(firstNonFinite([]) == nil && firstNonFinite([.nan]) == 0)
    }
}
