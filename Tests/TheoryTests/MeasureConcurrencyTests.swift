import Foundation
import Numerics
import Testing
@testable import Measure
@testable import Theory

/// `measure` runs some independent serial-LAPACK work on two workers: σ(W^{1/2}F₁) beside d_unemb's
/// least-squares solve, and T7's 1 − ρ² for both centrings. Those workers start only where the work
/// pays for threads (4·N·d² ≥ 2·10⁷), above every other test's size: this pair is above it, so the
/// suite (and its ThreadSanitizer run) exercises them, and the values must be the same bits as the
/// theory core's, one computation after another, on a fresh pair.
@Suite("measure's two-worker prefetches: the theory core's values, bit for bit")
struct MeasureConcurrencyTests {
    @Test("d_unemb, T4's and T7's sides, SVCCA and the unbiased CKA of a run with its prefetches on two workers equal a fresh pair's, computed in sequence")
    func prefetchedValues() throws {
        var g = SeededGenerator(seed: 4401)
        let teacher = ModelGenerator.model(labels: 65, dimension: 64, inputs: 2_500, using: &g)
        let student = ModelGenerator.perturb(teacher, by: 0.2, using: &g)
        // Above the two-worker threshold (4·N·d² ≥ 2·10⁷); whether a second worker is free to take a
        // side depends on the cores and on the tests running beside this one: the values may not.
        #expect(4 * 2_500.0 * 64 * 64 >= 2e7)
        let m = try PairMeasurement.measure(try ModelPair(teacher, student),
                                            options: PairMeasurement.Options(skipPivot: true, certification: .never))
        let fresh = try ModelPair(teacher, student)
        #expect(m.dUnembAB == (try fresh.unembeddingDissimilaritySquared()).squareRoot())
        // Both correlations before the swapped pair, as `measure` forms them: the swapped pair then
        // reads them transposed, the same products as the run's.
        _ = try fresh.embeddingCorrelations(centred: true)
        _ = try fresh.embeddingCorrelations(centred: false)
        let similarity = try fresh.similarityMeasures()
        #expect(similarity.svccaThroughBases && m.svcca != nil && m.svcca == similarity.svcca)
        #expect(m.linearCKAUnbiased != nil && m.linearCKAUnbiased == fresh.unbiasedLinearCKA().value)
        let swapped = fresh.swapped
        var compared = 0
        for (statement, target) in [(T4UnembeddingBound() as any PairStatement, fresh),
                                    (T7CanonicalCorrelationBound(.traceBound, centred: false), swapped),
                                    (T7CanonicalCorrelationBound(.traceBound, centred: true), swapped),
                                    (T7CanonicalCorrelationBound(.corollary, centred: false), swapped)] {
            let screened = try statement.screen(target)
            let bound = try #require(m.bounds.first { $0.id == screened.id.rawValue && $0.form == screened.form })
            #expect(bound.lhs == screened.lhs && bound.rhs == screened.rhs, "\(screened.id) \(screened.form)")
            compared += 1
        }
        #expect(compared == 4)
    }
}
