import Foundation
@testable import Harness
import Numerics
import Testing
import Theory

/// An undecided case is not a verdict, but the report must say which case it was and why, and
/// the default run should leave none: T5's averaged form, beyond what its fast level decides,
/// goes to the exact level up to its enumeration limit.
@Suite("Undecided cases: named in the report, and none left for T5.averaged")
struct UndecidedTests {
    static let corpus = CorpusSpec(seed: 1, cases: 2000)

    static func verdict(_ outcome: Outcome, why: String) -> Verdict {
        Verdict(id: .T5, form: "", level: .exact, outcome: outcome, lhs: 1, rhs: 1, constant: 1, constantName: "", certificate: why)
    }

    @Test("The first undecided case (lowest index) and its reason are kept, merged, validated and printed")
    func firstUndecidedIsNamed() throws {
        let verifier = try Verifier(corpus: CorpusSpec(seed: 11, cases: 8, maxLabels: 9, maxDimension: 4, maxInputs: 30), only: ["T5.averaged"])
        let check = try #require(verifier.checks.first)
        let cases = (0..<8).map { verifier.corpus.descriptor($0) }
        var even = CheckSummary(check), odd = CheckSummary(check)
        even.record(Self.verdict(.undecided, why: "reason at 6"), case: cases[6])
        even.record(Self.verdict(.undecided, why: "reason at 2"), case: cases[2])
        even.record(Self.verdict(.holds, why: ""), case: cases[0])
        odd.record(Self.verdict(.undecided, why: "reason at 5"), case: cases[5])
        #expect(even.undecided == 2 && even.firstUndecided?.index == 2 && even.firstUndecidedVerdict?.certificate == "reason at 2")
        var merged = odd
        merged.merge(even)
        #expect(merged.undecided == 3 && merged.firstUndecided?.index == 2 && merged.firstUndecidedVerdict?.certificate == "reason at 2")
        let json = String(decoding: try JSONEncoder().encode(merged), as: UTF8.self)
        #expect(json.contains("\"first_undecided\"") && json.contains("reason at 2"), "\(json)")

        var report = try verifier.run()
        report.theorems[0] = merged
        report.theorems[0].cases = report.casesRun - report.theorems[0].inapplicable - report.theorems[0].errors
        let text = ReportFormatter.markdown(report, seconds: nil)
        #expect(text.contains("## Undecided") && text.contains("3 cases; first at \(cases[2].description)") && text.contains("Why: reason at 2"), "\(text)")
        // A count without its case (or a case without a count) is not a report verify writes.
        var broken = report
        broken.theorems[0].firstUndecided = nil
        #expect(throws: HarnessError.self) { try broken.validate() }
    }

    /// Case 1547 of the default corpus (illConditioned, k = 7, d = 3: 140 pivot pairs) is one the
    /// fast level leaves open: with the old exact limit of 60 pairs it was undecided.
    @Test("T5.averaged: a case the fast level cannot decide is decided exactly by the harness's check")
    func averagedDecidedExactly() throws {
        let pair = Self.corpus.descriptor(1547).pair
        let narrow = T5PivotBound(.averaged, selection: .automatic(limit: 60, pivots: 3, subsetsPerPivot: 5),
                                  exactPairLimit: 60, enumerationLimit: 300)
        #expect(try narrow.fastCertify(pair) == nil, "the fast level decided the case this test is about")
        #expect(try narrow.decide(pair).outcome == .undecided)
        let harness = Check.harnessT5(.averaged, constantScale: 1)
        let v = try harness.decide(pair)
        #expect(v.outcome == .holds && v.level == .exact, "\(v.outcome) at level \(v.level): \(v.certificate ?? "")")
    }

    @Test("A default-limits run of 2 000 cases leaves no T5.averaged case undecided")
    func noUndecidedT5() throws {
        let report = try Verifier(corpus: Self.corpus, only: ["T5.averaged"], certifyAll: true).run()
        let s = try #require(report.theorems.first)
        #expect(s.cases > 400 && s.certified == s.cases && s.undecided == 0,
                "\(s.cases) cases, \(s.certified) certified, \(s.undecided) undecided (first: \(s.firstUndecided?.description ?? "–"))")
    }
}
