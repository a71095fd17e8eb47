@testable import Harness
import Testing
@testable import Theory

/// Memory stays flat however many cases a run checks (issue 14): nothing a checked
/// case memoises may keep its pair, the pair's cache or its exact twin alive after
/// the case. A memo that stores its owner (as `PivotMoments` once stored the pair)
/// is a reference cycle that leaks every case.
@Suite("Case lifetime")
struct CaseLifetimeTests {
    @Test("A checked pair, its cache and its exact twin do not outlive their case")
    func checkedPairIsReleased() throws {
        let corpus = CorpusSpec(seed: 5, cases: 42, maxLabels: 9, maxDimension: 4, maxInputs: 30)
        let checks = Check.registry()
        var released = 0, evaluated = 0
        for index in 0..<corpus.cases {
            weak var cache: PairCache?
            weak var exactCache: PairCache?
            weak var exactFirst: PairCache?
            do {
                let descriptor = corpus.descriptor(index)
                let pair = descriptor.pair
                for check in checks where (try? check.evaluate(descriptor, pair)) != nil { evaluated += 1 }
                let exact = try pair.exact()
                _ = exact.moments(centred: true)
                _ = exact.first.logits
                cache = pair.cache
                exactCache = exact.memo
                exactFirst = exact.first.memo
            }
            #expect(cache == nil, "case \(index): the pair's cache outlived its case")
            #expect(exactCache == nil, "case \(index): the exact twin's cache outlived its case")
            #expect(exactFirst == nil, "case \(index): an exact model's cache outlived its case")
            if cache == nil && exactCache == nil && exactFirst == nil { released += 1 }
        }
        #expect(released == corpus.cases)
        // Every generator and most checks ran: the test exercised the memos it guards.
        #expect(evaluated >= corpus.cases * checks.count / 2)
    }
}
