@testable import Counterexamples
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import ModelFiles
import Numerics
import Testing
import Theory

@Suite("CE1–CE4 counterexamples")
struct CounterexampleTests {
    @Test("CE1 at default parameters: certified KL < 1e−3 both ways, scale-free d_rep ≥ 0.3, 1 − m_CCA ≥ 0.1, concept lost")
    func ce1() throws {
        let c = try CE1LabelPermutation().build()
        let s = try CertifiedSummary(c)
        #expect(s.klAB.upper < 1e-3)
        #expect(s.klBA.upper < 1e-3)
        #expect(s.dRepScaleFreeAB >= 0.3)
        #expect(1 - s.mccaCentered >= 0.1)
        #expect(s.probeAccuracyTeacher >= 0.99)
        #expect(s.probeAccuracyStudent < 0.8)
        #expect(try CounterexampleReport(c, command: "test").allClaimsHold)
    }

    @Test("CE1 sweep: KL falls exponentially below 1e−6 while d_rep stays and d_logit grows")
    func ce1Sweep() throws {
        let summaries = try [8.0, 16.0, 32.0, 48.0].map { L -> CertifiedSummary in
            var ce1 = CE1LabelPermutation()
            ce1.margin = L
            return try CertifiedSummary(ce1.build(), parameter: L)
        }
        #expect(zip(summaries, summaries.dropFirst()).allSatisfy { $1.klAB.upper < $0.klAB.upper / 10 })
        #expect(summaries.last!.klAB.upper < 1e-6 && summaries.last!.klBA.upper < 1e-6)
        #expect(summaries.allSatisfy { $0.dRepScaleFreeAB >= 0.3 })
        #expect(zip(summaries, summaries.dropFirst()).allSatisfy { $1.dLogitSquared.double > $0.dLogitSquared.double })
    }

    @Test("CE2: certified KL ≤ 1e−3, unembeddings not linearly related")
    func ce2() throws {
        let s = try CertifiedSummary(CE2AmbiguousPairSwap().build())
        #expect(s.klAB.upper <= 1e-3)
        #expect(s.klBA.upper <= 1e-3)
        #expect(s.unembeddingMccaCentered <= 0.9)
    }

    @Test("CE3: m_CCA = 1 on both sides to rounding, conditionals far apart (T9)")
    func ce3() throws {
        let s = try CertifiedSummary(CE3CounterRotation().build())
        for m in [s.mccaCentered, s.mccaUncentered, s.unembeddingMccaCentered, s.unembeddingMccaUncentered] {
            #expect(1 - m <= 1e-12)
        }
        #expect(s.klAB.lower >= 1)
        #expect(s.klBA.lower >= 1)
        #expect(s.dLogitSquared.double > 100)
    }

    /// A report printed a double m_CCA two units in the last place outside its own certified
    /// bracket (stop 53's review); the doubles are now moved into their brackets. Without the
    /// move, four of these 24 lie outside (stop 54).
    @Test("Every double with a certified bracket lies in it: m_CCA, linear CKA, Procrustes, for CE2–CE5")
    func doublesInsideTheirBrackets() throws {
        var g = SeededGenerator(seed: 54)
        var ce4 = CE4FromTeacher()
        ce4.epsilon = 1e-3
        let constructions = try [CE2AmbiguousPairSwap().build(), CE3CounterRotation().build()]
            + [2, 4, 8].map { d in var ce5 = CE5IdentifiabilityBlind(); ce5.dimension = d; return try ce5.build() }
            + (0..<3).map { _ in try ce4.build(teacher: ModelGenerator.model(labels: 8, dimension: 3, inputs: 40, scale: 2, using: &g)) }
        var checked = 0
        for c in constructions {
            let s = try CertifiedSummary(c)
            for (value, bracket) in [(s.mccaCentered, s.mccaCenteredCertified), (s.linearCKA, s.linearCKACertified),
                                     (s.procrustesDistance, s.procrustesDistanceCertified)] {
                guard let value, let bracket else { continue }
                #expect(bracket.lower <= value && value <= bracket.upper, "\(c.family): \(value) outside [\(bracket.lower), \(bracket.upper)]")
                checked += 1
            }
        }
        #expect(checked >= 20, "\(checked) doubles had brackets")
        #expect(IntervalValue.clamp(1 + 0x1p-52, into: IntervalValue(Interval(lower: 0.5, upper: 1))) == 1)
        #expect(IntervalValue.clamp(0.7, into: nil) == 0.7 && IntervalValue.clamp(.nan, into: IntervalValue(Interval(lower: 0, upper: 1))).isNaN)
    }

    @Test("CE4 on random teachers meets ε (certified upper ends)", arguments: [UInt64(1), 2, 3])
    func ce4(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let teacher = ModelGenerator.model(labels: 8, dimension: 3, inputs: 40, scale: 2, using: &g)
        var ce4 = CE4FromTeacher()
        ce4.epsilon = 1e-3
        let s = try CertifiedSummary(ce4.build(teacher: teacher))
        #expect(s.klAB.upper <= 1e-3)
        #expect(s.klBA.upper <= 1e-3)
        // The Fisher-null move is local: its students stay near-linear, but it must
        // move (a student equal to the teacher would pass the KL test trivially).
        #expect(s.dRepScaleFreeAB >= 1e-4, "d_rep scale-free \(s.dRepScaleFreeAB)")
        #expect(1 - s.mccaCentered >= 1e-5, "m_CCA \(s.mccaCentered)")
    }

    @Test("CE5: one identifiability class (d_logit² = 0 exactly, both diverse), certified CKA ≤ 1/√d + 0.05, Procrustes near √(2 − 2/√d)", arguments: [2, 4, 8])
    func ce5(d: Int) throws {
        var ce5 = CE5IdentifiabilityBlind()
        ce5.dimension = d
        let c = try ce5.build()
        let report = try CounterexampleReport(c, command: "test")
        #expect(report.theorem == "T10")
        #expect(report.claims.count == 6)
        for claim in report.claims { #expect(claim.holds && claim.certified, "\(claim.statement)") }
        let s = report.pairs.last!
        #expect(s.dLogitSquared.rational == "0")
        let cka = try #require(s.linearCKACertified)
        #expect(cka.upper - cka.lower <= 1e-12 && abs(cka.upper - 1 / Double(d).squareRoot()) <= 1e-3)
        #expect(abs(try #require(s.linearCKA) - cka.upper) <= 1e-9, "double CKA inside the certified enclosure")
        let procrustes = try #require(s.procrustesDistanceCertified)
        let procrustesDouble = try #require(s.procrustesDistance)
        #expect(procrustes.lower <= procrustesDouble + 1e-9 && procrustesDouble <= procrustes.upper + 1e-9)
        // The same model twice: CKA 1 and Procrustes 0, certified.
        let twin = try ModelPair(c.pair.first, c.pair.first).exact()
        #expect(twin.certifiedLinearCKA()?.squared.exactString == "1")
        #expect(try #require(try twin.certifiedProcrustesDistance()).upper <= 1e-6)
        #expect(throws: ModelError.self) { var bad = ce5; bad.dimension = 1; _ = try bad.build() }
    }

    @Test("Exported .npz files reload to the same certified numbers, and the SVGs are well-formed with one mark per point")
    func exportRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-ce-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        var ce1 = CE1LabelPermutation()
        ce1.inputsPerClass = 5
        let c = try ce1.build()
        let sweep = try [8.0, 16.0].map { L -> (Double, Construction) in
            var s = ce1
            s.margin = L
            return (L, try s.build())
        }
        let report = try CounterexampleReport(c, sweep: sweep, sweepParameter: "margin L", command: "test")
        try CounterexampleWriter.write(report, c, to: dir)
        let teacher = try ModelFile.read(dir.appendingPathComponent("teacher.npz"))
        let student = try ModelFile.read(dir.appendingPathComponent("student.npz"))
        #expect(teacher.embeddings == c.pair.first.embeddings && student.unembeddings == c.pair.second.unembeddings)
        let reloaded = try CertifiedSummary(Construction(family: c.family, summary: c.summary, parameters: c.parameters,
                                                         pair: try ModelPair(teacher, student), inputLabels: c.inputLabels,
                                                         concept: c.concept, conceptName: c.conceptName))
        let original = report.pairs.last!
        #expect(reloaded.dLogitSquared.rational == original.dLogitSquared.rational)
        #expect(reloaded.dRepABSquared.rational == original.dRepABSquared.rational)
        #expect(reloaded.klAB.lower == original.klAB.lower && reloaded.klAB.upper == original.klAB.upper)
        let marks = try svgMarks(dir.appendingPathComponent("embeddings.svg"))
        #expect(marks["input"] == 2 * c.pair.first.inputCount)
        #expect(marks["unembedding"] == 2 * c.pair.first.labelCount)
        #expect(try svgMarks(dir.appendingPathComponent("sweep.svg"))["datum"] == 4 * sweep.count)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("report.json"))) as! [String: Any]
        let pair = (json["pairs"] as! [[String: Any]]).last!
        for key in ["kl_ab", "kl_ba", "d_logit_squared", "d_rep_ab_squared", "d_rep_scale_free_ab", "mcca_centered",
                    "mcca_uncentered", "log_tau_a", "probe_accuracy_teacher", "probe_accuracy_student"] {
            #expect(pair[key] != nil, "missing \(key)")
        }
    }

    /// Parses an SVG as XML (throws if malformed) and counts elements by class.
    func svgMarks(_ url: URL) throws -> [String: Int] {
        let parser = XMLParser(contentsOf: url)!
        let counter = MarkCounter()
        parser.delegate = counter
        #expect(parser.parse(), "\(url.lastPathComponent) is not well-formed XML")
        return counter.counts
    }
}

final class MarkCounter: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if let c = attributes["class"] { counts[c, default: 0] += 1 }
    }
}
