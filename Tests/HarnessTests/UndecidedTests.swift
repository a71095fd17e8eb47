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

    /// `report` with its one check's summary rebuilt from a verdict per case of its shards:
    /// undecided at `undecided`, inapplicable elsewhere (so every count adds up).
    static func synthetic(_ report: VerificationReport, _ check: Check, undecided: Set<Int>) -> VerificationReport {
        var r = report, s = CheckSummary(check)
        for i in 0..<r.corpus.cases where r.shards.contains(i % r.shardCount) {
            s.record(undecided.contains(i) ? verdict(.undecided, why: "reason at \(i)") : .inapplicable(.T5, "", level: .double, "synthetic"),
                     case: r.corpus.descriptor(i))
        }
        r.theorems[0] = s
        return r
    }

    @Test("The first undecided case (lowest index) and its reason are kept, merged, validated and printed")
    func firstUndecidedIsNamed() throws {
        let verifier = try Verifier(corpus: CorpusSpec(seed: 11, cases: 8, maxLabels: 9, maxDimension: 4, maxInputs: 30), only: ["T5.averaged"])
        let check = try #require(verifier.checks.first)
        #expect(check.name == "T5.averaged" && verifier.checks.count == 1)
        let cases = (0..<8).map { verifier.corpus.descriptor($0) }
        func summary(_ indices: [Int]) -> CheckSummary {
            var s = CheckSummary(check)
            for i in indices { s.record(Self.verdict(.undecided, why: "reason at \(i)"), case: cases[i]) }
            s.record(Self.verdict(.holds, why: ""), case: cases[0])
            return s
        }
        // In either order of recording, the lowest index is kept with its own verdict.
        for order in [[6, 2], [2, 6]] {
            let s = summary(order)
            #expect(s.undecided == 2 && s.firstUndecided?.index == 2 && s.firstUndecidedVerdict?.certificate == "reason at 2", "\(order)")
        }
        // Merged in either direction, and with a side that has none.
        let low = summary([6, 2]), high = summary([5])
        var lowHigh = low, highLow = high, withNone = CheckSummary(check)
        lowHigh.merge(high)
        highLow.merge(low)
        withNone.merge(high)
        for m in [lowHigh, highLow] {
            #expect(m.undecided == 3 && m.firstUndecided?.index == 2 && m.firstUndecidedVerdict?.certificate == "reason at 2")
        }
        #expect(withNone.firstUndecided?.index == 5 && withNone.firstUndecidedVerdict?.certificate == "reason at 5")
        // Through JSON and back, under its own keys.
        let data = try JSONEncoder().encode(lowHigh)
        let json = String(decoding: data, as: UTF8.self)
        #expect(json.contains("\"first_undecided\"") && json.contains("\"first_undecided_verdict\"") && json.contains("reason at 2"), "\(json)")
        #expect(try ReportJSON.decode(CheckSummary.self, from: data) == lowHigh)

        let report = Self.synthetic(try verifier.run(), check, undecided: [2, 5, 6])
        #expect(report.theorems[0].firstUndecided == highLow.firstUndecided && report.theorems[0].undecided == 3)
        try report.validate()
        let text = ReportFormatter.markdown(report, seconds: nil)
        #expect(text.contains("## Undecided") && text.contains("3 cases; first at \(cases[2].description)") && text.contains("Why: reason at 2"), "\(text)")
        // A first undecided case beside a count of 0, or named outside the report's shards, is refused.
        func refused(_ edit: (inout CheckSummary) -> Void) -> Bool {
            var broken = report
            edit(&broken.theorems[0])
            do { try broken.validate(); return false } catch let HarnessError.badReport(message) {
                return message.contains("undecided") || message.contains("names case")
            } catch { return false }
        }
        #expect(refused { $0.undecided = 0 })
        #expect(refused { $0.firstUndecidedVerdict = nil })
        // Edits a recomputed digest would hide: certified and undecided cases overlapping, and a
        // named case that is not the corpus's own at that index.
        #expect(refused { $0.certified = $0.cases; $0.certifiedExact = $0.cases })
        #expect(refused { $0.firstUndecided = CaseDescriptor(index: 2, generator: .orbit, seed: 1, size: cases[2].size) })
        #expect(refused { $0.worstCase = cases[4]; $0.worstRatio = 1 } == false, "a corpus case in the shards was refused")
        var half = Self.synthetic(try verifier.run(shard: 0, of: 2), check, undecided: [2])
        try half.validate()
        half.theorems[0].firstUndecided = cases[3]   // case 3 is in shard 2 of 2
        #expect(throws: HarnessError.badReport("T5.averaged names case 3, which is not in shards [1]")) { try half.validate() }
    }

    /// A shard report written before `first_undecided` existed has neither key: it keeps its
    /// digest, merges, and leaves the first undecided case of the merge unknown rather than wrong.
    @Test("Reports without first_undecided (older shards) still validate and merge, the first case left unknown")
    func olderReportsMerge() throws {
        let verifier = try Verifier(corpus: CorpusSpec(seed: 11, cases: 8, maxLabels: 9, maxDimension: 4, maxInputs: 30), only: ["T5.averaged"])
        let check = try #require(verifier.checks.first)
        let shards = try (0..<2).map { Self.synthetic(try verifier.run(shard: $0, of: 2), check, undecided: [2, 3]) }
        var old = shards[0]
        (old.theorems[0].firstUndecided, old.theorems[0].firstUndecidedVerdict) = (nil, nil)
        let oldJSON = try ReportFormatter.json(old)
        #expect(!oldJSON.contains("first_undecided"), "a report without a first undecided case writes the keys")
        let decoded = try ReportFormatter.decode(Data(oldJSON.utf8))
        try decoded.validate(requireDigest: true)
        let merged = try VerificationReport.merge([decoded, shards[1]], requireDigest: false)
        #expect(merged.theorems[0].undecided == 2 && merged.theorems[0].firstUndecided == nil)
        #expect(ReportFormatter.markdown(merged, seconds: nil).contains("the first not recorded"))
        let both = try VerificationReport.merge(shards)
        #expect(both.theorems[0].firstUndecided?.index == 2)
    }

    /// Case 1547 of the default corpus (illConditioned, k = 7, d = 3: 140 pivot pairs) is one the
    /// fast level leaves open: with the old exact limit of 60 pairs it was undecided.
    @Test("T5.averaged: a case the fast level cannot decide is decided exactly by the harness's check")
    func averagedDecidedExactly() throws {
        let pair = Self.corpus.descriptor(1547).pair
        let narrow = T5PivotBound(.averaged, selection: .automatic(limit: 60, pivots: 3, subsetsPerPivot: 5),
                                  exactPairLimit: 60, enumerationLimit: 300)
        #expect(try narrow.fastCertify(pair) == nil, "the fast level decided the case this test is about")
        let open = try narrow.decide(pair)
        #expect(open.outcome == .undecided && (open.certificate ?? "").contains("exceed the exact limit of 60"), "\(open.certificate ?? "")")
        let harness = Check.harnessT5(.averaged, constantScale: 1)
        let v = try harness.decide(pair)
        #expect(v.outcome == .holds && v.level == .exact, "\(v.outcome) at level \(v.level): \(v.certificate ?? "")")
    }

    @Test("A default-limits run of 2 000 cases leaves no T5.averaged case undecided")
    func noUndecidedT5() throws {
        let report = try Verifier(corpus: Self.corpus, only: ["T5.averaged"], certifyAll: true).run()
        let s = try #require(report.theorems.first)
        #expect(s.name == "T5.averaged" && report.theorems.count == 1)
        #expect(s.cases > 400 && s.certified == s.cases && s.undecided == 0,
                "\(s.cases) cases, \(s.certified) certified, \(s.undecided) undecided (first: \(s.firstUndecided?.description ?? "–"))")
    }

    /// Case 32 372 of this small-limits corpus (scaled, k = 2, d = 1: logits near 10⁵) was undecided
    /// for T6 at every level: its KL ≈ e^−10⁵ sits beside probabilities within e^−10⁵ of 1, and the
    /// direct sums Σ p(log p − log q) cancel to 0 at every precision up to 1 024 bits. The
    /// relative-accuracy form (Proofs/certificates.md §5) decides it in MPFR. Its MPFR path once
    /// read a freed temporary (`Interval.clampedNonNegative`, still on this path): the certificate
    /// printed −0.0 or 0.0 at random, and the run crashed with MALLOC_PERTURB_ set (exit 139).
    /// Since stop 46 the fast level's two-label bound on log KL_x ("Below the Double range")
    /// decides three forms; the per-input sharp form still goes to MPFR, which keeps that path run.
    @Test("T6 on the case no level decided before (KL ≈ e^−10⁵ beside certainty): certified in every form, the per-input sharp one in MPFR, the same under MALLOC_PERTURB_")
    func t6FormerlyUndecidedCase() throws {
        let arguments = ["verify", "--max-labels", "3", "--max-dimension", "2", "--max-inputs", "4", "--cases", "50000",
                         "--shard", "32373/50000", "--statement", "T6", "--threads", "1", "--json"]
        var outputs: [String] = []
        for perturb in ["85", "165"] {
            let r = try runTool(arguments, terminateAfter: 120, environment: ["MALLOC_PERTURB_": perturb])
            #expect(r.status == 0, "exit \(r.status): \(r.stderr.suffix(500))")
            outputs.append(r.stdout)
        }
        #expect(outputs[0] == outputs[1], "two runs of one case differ")
        let report = try ReportFormatter.decode(Data(outputs[0].utf8))
        #expect(report.theorems.count == 4 && report.shards == [32372])
        for t in report.theorems {
            let mpfr = t.name == "T6.sharpPerInput" ? 1 : 0
            #expect(t.cases == 1 && t.certified == 1 && t.certifiedMPFR == mpfr && t.certifiedFast == 1 - mpfr && t.undecided == 0 && t.violations == 0,
                    "\(t.name): \(t.cases) cases, \(t.certified) certified (\(t.certifiedFast) fast, \(t.certifiedMPFR) MPFR), \(t.undecided) undecided: \(t.firstUndecidedVerdict?.certificate ?? "")")
        }
    }
}
