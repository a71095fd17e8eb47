import Foundation
import Numerics
import Testing
@testable import Measure
@testable import Theory

/// The streamed fast pass (`FastLogitSums`): enclosures of d_logit², KL both ways and
/// log τ from row blocks, raw-weighted so that shards add; T6 certified from them in one
/// run at any size, on the language-model route, and in a merge of partials.
@Suite("Streamed fast enclosures: any size, shards, merge")
struct StreamedEnclosureTests {
    static let bounds: [FastLogitSums.ProductBound] = [.absoluteProducts, .norms]

    @Test("The pass's blocks and workers do not change a bit; 1 500 rows in 2 blocks")
    func workerIndependence() throws {
        var g = SeededGenerator(seed: 71)
        let a = ModelGenerator.model(labels: 40, dimension: 5, inputs: 1500, condition: 3, using: &g)
        let pair = try ModelPair(a, ModelGenerator.perturb(a, by: 0.3, using: &g))
        #expect(FastLogitSums.rowsPerBlock(inputs: 1500, labels: 40) == 1024)
        for bound in Self.bounds {
            let one = try #require(FastLogitSums.compute(pair, bound: bound, workers: 1))
            let two = try #require(FastLogitSums.compute(pair, bound: bound, workers: 2))
            #expect(one == two && one.rows == 1500 && one.productBound == bound)
        }
    }

    /// Every interval the pass forms must contain the exact (rational) d_logit² and,
    /// row by row, the MPFR enclosures of KL both ways and log τ; three shards' sums,
    /// added, must contain the exact d_logit² of all rows too.
    @Test("Each bound's enclosures contain the exact d_logit² and the MPFR KL and log τ, whole and summed over shards",
          arguments: [(72, 1.0), (73, 1e-6), (74, 30.0)])
    func containsExactValues(seed: UInt64, scale: Double) throws {
        var g = SeededGenerator(seed: seed)
        let n = 24
        let a = ModelGenerator.model(labels: 7, dimension: 3, inputs: n, condition: 5, using: &g)
        let b = ModelGenerator.perturb(a, by: scale == 1e-6 ? 1e-6 : 0.2, using: &g)
        func scaled(_ m: SoftmaxModel) throws -> SoftmaxModel {
            try m.with(unembeddings: Matrix(rows: m.unembeddings.rows, columns: m.unembeddings.columns, storage: m.unembeddings.storage.map { $0 * scale }))
        }
        let pair = try ModelPair(scaled(a), scaled(b))
        let exact = pair.exactLogitDistanceSquared()
        let forward = try pair.certifiedDivergence(bits: 128), backward = try pair.swapped.certifiedDivergence(bits: 128)
        var checked = 0, contained = 0
        // The fast interval must meet the MPFR enclosure (else it misses the true value, which
        // the MPFR one holds); it usually contains it whole.
        func inside(_ f: FastInterval, _ v: Interval) -> Bool {
            let (lo, hi) = (Interval(exactly: f.lo)!, Interval(exactly: f.hi)!)
            if lo.isCertainlyAtMost(v) && v.isCertainlyAtMost(hi) { contained += 1 }
            return !hi.isCertainlyBelow(v) && !v.isCertainlyBelow(lo)
        }
        func encloses(_ f: FastInterval, _ q: Rational) -> Bool { Rational(exactly: f.lo)! <= q && q <= Rational(exactly: f.hi)! }
        for bound in Self.bounds {
            let whole = try #require(FastLogitSums.compute(pair, bound: bound))
            #expect(encloses(whole.logitDistanceSquared, exact), "\(bound): \(whole.logitDistanceSquared) vs \(exact.doubleValue)")
            let rows = try #require(FastLogitSums.rowEnclosures(pair, bound: bound))
            // The midpoint pass takes every row it can bound tightly (norms bound, models apart);
            // the interval kernel the rest (absolute products, and models within 10⁻⁶).
            let byMidpoints = rows.filter { !$0.refined }.count
            #expect(bound == .absoluteProducts || scale == 1e-6 ? byMidpoints == 0 : byMidpoints > n / 2, "\(bound): \(byMidpoints) of \(n) rows by midpoints")
            #expect(whole.refinedRows == n - byMidpoints)
            for (x, r) in rows.enumerated() {
                #expect(inside(r.klFirstSecond, forward.klPerInput[x]), "\(bound) KL_\(x)")
                #expect(inside(r.klSecondFirst, backward.klPerInput[x]), "\(bound) reverse KL_\(x)")
                #expect(inside(FastInterval.min(r.logTauFirst, r.logTauSecond), forward.logTauPerInput[x]), "\(bound) log τ_\(x)")
                checked += 3
            }
            // Shards under raw weights 1: their sums add to an enclosure of the same mean.
            let shards = try [0..<5, 5..<17, 17..<n].map { range in
                try #require(FastLogitSums.compute(ModelPair(scaled(ShardMergeTests.rows(a, range, rawWeights: nil)),
                                                             scaled(ShardMergeTests.rows(b, range, rawWeights: nil))),
                                                   rawWeights: Array(repeating: 1, count: range.count), bound: bound))
            }
            let merged = shards.dropFirst().reduce(shards[0]) { $0.adding($1) }
            #expect(merged.rows == n && merged.weightTotal.contains(Double(n)) && merged.weightTotal.width < 1e-12)
            #expect(encloses(merged.logitDistanceSquared, exact), "\(bound) merged: \(merged.logitDistanceSquared)")
            checked += 2
        }
        #expect(checked == 2 * (3 * n + 2))
        #expect(contained >= checked / 2, "only \(contained) of \(checked) MPFR enclosures contained whole")
    }

    /// The midpoint pass's sensitivity bounds: rows of computed logits P with a radius R,
    /// against the MPFR values at logits Λ = P + ε for perturbations |ε| ≤ R at the corners
    /// and inside (P on a 2⁻¹⁰ grid, ε on a 2⁻⁴⁰ grid, so Λ is exact; a one-input pair with
    /// d = 1, f = 1 and g = Λ has exactly these logits).
    @Test("Midpoint rows contain the MPFR d_logit², KL both ways and log τ of every logit within their radius")
    func midpointRowsContainPerturbedValues() throws {
        var g = SeededGenerator(seed: 80)
        var decided = 0, checked = 0
        for trial in 0..<90 {
            let k = [2, 7, 40][trial % 3]
            let spread = [1.0, 4.0][trial % 2]
            let p1 = (0..<k).map { _ in (spread * g.gaussian() * 1024).rounded() / 1024 }
            let p2 = p1.map { ($0 + 0.3 * g.gaussian() * 1024).rounded() / 1024 }
            let radius = [1e-9, 3e-10, 0][trial % 3 == 0 ? 2 : trial % 2]
            let scratch = RowKernel(labels: k)
            defer { scratch.deallocate() }
            guard let row = MidpointRow.reduce(p1, p2, labels: k, radii: (radius, radius), scratch: scratch) else { continue }
            decided += 1
            for corner in 0..<3 {
                func perturbed(_ p: [Double]) -> [Double] {
                    p.map { x in
                        let step = (radius * 0x1p40).rounded(.down) * 0x1p-40
                        let e = corner == 0 ? step : corner == 1 ? -step : (Double.random(in: -1...1, using: &g) * step * 0x1p40).rounded() * 0x1p-40
                        return x + e
                    }
                }
                let (l1, l2) = (perturbed(p1), perturbed(p2))
                func model(_ l: [Double]) throws -> SoftmaxModel {
                    try SoftmaxModel(embeddings: Matrix(rows: 1, columns: 1, storage: [1]), unembeddings: Matrix(rows: k, columns: 1, storage: l))
                }
                let pair = try ModelPair(model(l1), model(l2))
                let exact = pair.exactLogitDistanceSquared()
                let forward = try pair.certifiedDivergence(bits: 128), backward = try pair.swapped.certifiedDivergence(bits: 128)
                func meets(_ f: FastInterval, _ v: Interval) -> Bool {
                    !Interval(exactly: f.hi)!.isCertainlyBelow(v) && !v.isCertainlyBelow(Interval(exactly: f.lo)!)
                }
                #expect(Rational(exactly: row.distanceSquared.lo)! <= exact && exact <= Rational(exactly: row.distanceSquared.hi)!, "trial \(trial): d²")
                #expect(meets(row.klFirstSecond, forward.klPerInput[0]), "trial \(trial): KL₁₂ \(row.klFirstSecond) vs \(forward.klPerInput[0])")
                #expect(meets(row.klSecondFirst, backward.klPerInput[0]), "trial \(trial): KL₂₁ \(row.klSecondFirst) vs \(backward.klPerInput[0])")
                #expect(meets(row.logTauFirst, forward.logTauFirst) && meets(row.logTauSecond, forward.logTauSecond), "trial \(trial): log τ")
                checked += 1
            }
        }
        #expect(decided >= 40 && checked == 3 * decided, "\(decided) rows decided by the midpoint pass")
    }

    @Test("Stored sums read back bit for bit; malformed arrays are refused")
    func storedRoundTrip() throws {
        var g = SeededGenerator(seed: 75)
        let a = ModelGenerator.model(labels: 6, dimension: 2, inputs: 30, condition: 2, using: &g)
        let sums = try #require(try ModelPair(a, ModelGenerator.perturb(a, by: 0.4, using: &g)).fastLogitSums())
        #expect(FastLogitSums(stored: sums.stored) == sums)
        var unordered = sums.stored
        (unordered[3], unordered[4]) = (unordered[4] + 1, unordered[3])
        #expect(FastLogitSums(stored: unordered) == nil)
        #expect(FastLogitSums(stored: Array(sums.stored.dropLast())) == nil)
        var nan = sums.stored
        nan[5] = .nan
        #expect(FastLogitSums(stored: nan) == nil)
    }

    static func modelPair(seed: UInt64, inputs n: Int, labels k: Int, dimension d: Int) -> (SoftmaxModel, SoftmaxModel) {
        var g = SeededGenerator(seed: seed)
        let a = ModelGenerator.model(labels: k, dimension: d, inputs: n, condition: 3, using: &g)
        return (a, ModelGenerator.perturb(a, by: 0.2, using: &g))
    }

    /// Above the exact limit (N·k·(d_A+d_B) = 2.4·10⁶ > 2·10⁶) the moment route runs; its T6
    /// must be certified from the streamed pass, with the same enclosures as the direct route.
    @Test("The language-model route certifies T6 from the streamed pass; the other bounds stay screens and say so")
    func momentRouteCertifiesT6() throws {
        let (a, b) = Self.modelPair(seed: 76, inputs: 2000, labels: 100, dimension: 6)
        var options = PairMeasurement.Options(skipPivot: true, certification: .auto)
        let moments = try PairMeasurement.measure(ModelPair(a, b, routes: .largeScale), options: options)
        let direct = try PairMeasurement.measure(ModelPair(a, b), options: options)
        #expect(moments.routes == "moments" && direct.routes != "moments")
        let t6 = moments.bounds.filter { $0.id == "T6" }
        #expect(t6.count == T6KLBound.Form.allCases.count && t6.allSatisfy { $0.certified && $0.level == VerdictLevel.fastEnclosure.rawValue })
        #expect(moments.bounds.filter { $0.id != "T6" && $0.outcome != "inapplicable" }.allSatisfy { !$0.certified && $0.note != nil })
        // The same pass on both routes: identical enclosures, and the T6 verdicts agree.
        let (m, d) = (try #require(moments.enclosures), try #require(direct.enclosures))
        #expect(m.dLogitSquared == d.dLogitSquared && m.klAB == d.klAB && m.logTauB == d.logTauB)
        #expect(zip(t6, direct.bounds.filter { $0.id == "T6" }).allSatisfy { $0.outcome == $1.outcome })
        // The screened value lies in its certified enclosure.
        #expect(m.dLogitSquared[0] <= moments.dLogitSquared && moments.dLogitSquared <= m.dLogitSquared[1])
        #expect(m.klAB[0] <= moments.klAB && moments.klAB <= m.klAB[1] && m.klBA[0] <= moments.klBA && moments.klBA <= m.klBA[1])
        options.certification = .never
        let never = try PairMeasurement.measure(ModelPair(a, b, routes: .largeScale), options: options)
        #expect(never.enclosures == nil && never.bounds.allSatisfy { !$0.certified })
    }

    @Test("A merge of partials certifies T6 from their interval sums; one partial without sums leaves T6 screened, with a note",
          arguments: [false, true])
    func mergeCertifiesT6(weighted: Bool) throws {
        var g = SeededGenerator(seed: weighted ? 77 : 78)
        let n = 90
        let raw: [Double]? = weighted ? (0..<n).map { _ in (0.7 * g.gaussian()).exp } : nil
        let a = ModelGenerator.model(labels: 12, dimension: 3, inputs: n, condition: 3, weights: raw, using: &g)
        let b = ModelGenerator.perturb(a, by: 0.2, using: &g)
        let options = PairMeasurement.Options(skipPivot: true, certification: .auto)
        let parts = try ShardMergeTests.statistics(a, b, cuts: [0, 17, 50, 90], rawWeights: raw, options: options)
        let merged = try MeasureStatistics.merge(parts.reversed(), names: ["c", "b", "a"]).measurement()
        let t6 = merged.bounds.filter { $0.id == "T6" }
        #expect(t6.count == T6KLBound.Form.allCases.count && t6.allSatisfy { $0.certified && $0.level == VerdictLevel.fastEnclosure.rawValue })
        #expect(t6.allSatisfy { $0.note?.contains("3 shards") == true })
        // The merged enclosure and one run's (the whole pair under the same raw weights) enclose the same reals.
        let whole = try #require(FastLogitSums.compute(ModelPair(a, b), rawWeights: raw ?? Array(repeating: 1, count: n)))
        let e = try #require(merged.enclosures)
        for (x, y) in [(e.dLogitSquared, whole.logitDistanceSquared), (e.klAB, whole.mean(whole.klFirstSecond)), (e.klBA, whole.mean(whole.klSecondFirst))] {
            #expect(x[0] <= y.hi && y.lo <= x[1], "\(x) vs \(y)")
        }
        // One partial written with --certify never: T6 screened, and the merge says why.
        var never = options
        never.certification = .never
        let mixed = try [parts[0], parts[1]] + ShardMergeTests.statistics(a, b, cuts: [50, 90], rawWeights: raw, options: never)
        let screened = try MeasureStatistics.merge(mixed, names: ["a", "b", "c"]).measurement()
        #expect(screened.enclosures == nil && screened.bounds.filter { $0.id == "T6" }.allSatisfy { !$0.certified })
        #expect(screened.notes.contains { $0.contains("1 of 3 partials carry none") })
    }

    @Test("A partial whose enclosures do not match its rows is refused")
    func inconsistentEnclosuresRefused() throws {
        let (a, b) = Self.modelPair(seed: 79, inputs: 40, labels: 8, dimension: 2)
        let parts = try ShardMergeTests.statistics(a, b, cuts: [0, 10, 40], rawWeights: nil, options: PairMeasurement.Options(skipPivot: true))
        var forged = parts[0]
        var values = try #require(forged.enclosures).values
        values[0] = 11    // the row count of another shard
        forged.enclosures = PackedDoubles(values)
        #expect(throws: MeasureMergeError.self) { try forged.validate(file: "forged") }
        #expect(throws: MeasureMergeError.self) { try MeasureStatistics.merge([forged, parts[1]], names: ["forged", "b"]) }
    }
}
