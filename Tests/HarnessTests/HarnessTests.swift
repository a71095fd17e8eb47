import Foundation
@testable import Harness
import Numerics
import Testing
import Theory

@Suite("Harness")
struct HarnessTests {
    static let smallCorpus = CorpusSpec(seed: 11, cases: 60, maxLabels: 9, maxDimension: 4, maxInputs: 30)

    /// The audit's report showed worst_ratio 1.0000000000000009 beside 0 violations (a
    /// certified "holds" whose sides' midpoints crossed by a rounding), and no worst_ratio
    /// key at all for a check with 0 cases.
    @Test("worst_ratio: a certified holds counts as at most 1, an undecided case not at all, and 0 cases write null")
    func worstRatioIsWhatWasProven() throws {
        let check = try #require(try Verifier(corpus: Self.smallCorpus, only: ["T3"]).checks.first)
        var summary = CheckSummary(check)
        let json = String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)
        #expect(json.contains("\"worst_ratio\":null"), "\(json)")
        func verdict(_ outcome: Outcome, lhs: Double) -> Verdict {
            Verdict(id: .T3, form: "", level: .fastEnclosure, outcome: outcome, lhs: lhs, rhs: 1, constant: 1, constantName: "")
        }
        let cases = (0..<4).map { Self.smallCorpus.descriptor($0) }
        summary.record(verdict(.holds, lhs: 0.5), case: cases[0])
        #expect(summary.worstRatio == 0.5 && summary.worstCase?.index == 0)
        summary.record(verdict(.undecided, lhs: 5), case: cases[1])
        #expect(summary.worstRatio == 0.5 && summary.worstCase?.index == 0, "an undecided case set worst_ratio \(summary.worstRatio ?? .nan)")
        summary.record(verdict(.holds, lhs: 1.0000000000000009), case: cases[2])
        #expect(summary.worstRatio == 1 && summary.worstCase?.index == 2)
        summary.record(verdict(.violated, lhs: 0.9999999999999999), case: cases[3])
        #expect(summary.worstRatio == 1.0.nextUp && summary.worstCase?.index == 3 && summary.violations == 1)
        let written = String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)
        #expect(written.contains("\"worst_ratio\":1.0000000000000002"), "\(written)")
    }

    @Test("Generated cases are reproducible bit for bit from (generator, seed, size)")
    func reproducible() {
        for i in 0..<20 {
            let a = Self.smallCorpus.descriptor(i), b = Self.smallCorpus.descriptor(i)
            #expect(a == b)
            let p = a.pair, q = b.pair
            #expect(p.first.embeddings.storage.map(\.bitPattern) == q.first.embeddings.storage.map(\.bitPattern))
            #expect(p.second.unembeddings.storage.map(\.bitPattern) == q.second.unembeddings.storage.map(\.bitPattern))
            #expect(p.weights.map(\.bitPattern) == q.weights.map(\.bitPattern))
        }
    }

    @Test("n local shards merged equal the single run exactly", arguments: [2, 3])
    func shardsMerge(count: Int) throws {
        let verifier = try Verifier(corpus: Self.smallCorpus)
        let single = try verifier.run()
        let shards = try (0..<count).map { try verifier.run(shard: $0, of: count) }
        let merged = try VerificationReport.merge(shards.reversed())
        #expect(merged.shards == Array(0..<count) && merged.isComplete)
        #expect(merged.theorems == single.theorems)
        #expect(merged.conjectures == single.conjectures)
        #expect(merged.casesRun == single.casesRun)
        // Through JSON too, as `logitbounds merge` reads them.
        let decoded = try shards.map { try ReportFormatter.decode(Data(try ReportFormatter.json($0).utf8)) }
        #expect(try VerificationReport.merge(decoded).theorems == single.theorems)
    }

    @Test("Merging overlapping or foreign shards is refused")
    func badMerge() throws {
        let verifier = try Verifier(corpus: Self.smallCorpus)
        let shard = try verifier.run(shard: 0, of: 2)
        #expect(throws: HarnessError.self) { try VerificationReport.merge([shard, shard]) }
        var other = Self.smallCorpus
        other.seed = 12
        let foreign = try Verifier(corpus: other).run(shard: 1, of: 2)
        #expect(throws: HarnessError.self) { try VerificationReport.merge([shard, foreign]) }
        #expect(throws: HarnessError.self) { try verifier.run(shard: 2, of: 2) }
        // Level counts that do not add up to the certified count (an edited shard with its
        // digest recomputed) are refused; the honest shard's add up.
        let certifying = try Verifier(corpus: Self.smallCorpus, certifyAll: true).run(shard: 0, of: 2)
        try certifying.validate()
        var edited = certifying
        let index = try #require(edited.theorems.firstIndex { $0.certified > 0 })
        edited.theorems[index].certifiedFast += 5000
        #expect(throws: HarnessError.self) { try edited.validate() }
    }

    @Test("A planted false statement (T3 with its constant halved) is caught and shrunk")
    func plantedAndShrunk() throws {
        let corpus = CorpusSpec(seed: 3, cases: 80, generators: [.perturbed, .orbit], maxLabels: 8, maxDimension: 3, maxInputs: 24)
        let verifier = try Verifier(corpus: corpus, only: ["T3"], plantedScales: [.T3: 0.5])
        let report = try verifier.run()
        let t3 = try #require(report.theorems.first { $0.name == "T3" })
        #expect(t3.violations > 0)
        #expect(report.violationCount == t3.violations)
        let origin = try #require(t3.firstViolation)
        let check = try #require(verifier.check(named: "T3"))
        let shrinker = Shrinker(check: check)
        let shrunk = shrinker.shrink(origin.pair)
        #expect(shrinker.violates(shrunk))
        let before = origin.pair
        #expect(shrunk.first.inputCount + shrunk.first.labelCount + shrunk.first.dimension
                < before.first.inputCount + before.first.labelCount + before.first.dimension)
        // The true statement holds on the shrunk pair: the violation is the planted constant's.
        #expect(try T3EmbeddingBound().certify(shrunk).outcome == .holds)
    }

    @Test("T11 in the harness: every generator holds, certified where decided by a certificate; planted at 1 − 10⁻³ it is caught on the boundary generator's equality cases")
    func t11Planted() throws {
        let corpus = CorpusSpec(seed: 5, cases: 320, maxLabels: 10, maxDimension: 4, maxInputs: 30)
        let names = ConceptTransfer.Form.allCases.map { "T11.\($0.rawValue)" }
        let honest = try Verifier(corpus: corpus, only: names).run()
        for name in names {
            let summary = try #require(honest.theorems.first { $0.name == name })
            // Every pair decided but the few the boundary generator builds outside T11's
            // hypotheses (T6's sharpness pairs have G̃ of rank 1).
            #expect(summary.violations == 0 && summary.cases + summary.inapplicable == 320 && summary.cases >= 300,
                    "\(name): \(summary.cases) cases, \(summary.inapplicable) inapplicable")
        }
        // About a quarter of the 40 boundary pairs are T11's equality case (the others T12's,
        // T6's and T7's): each attains the covariance form, so each needs, and gets, a certificate.
        #expect(try #require(honest.theorems.first { $0.name == "T11.covariance" }).certified >= 6)
        let planted = try Verifier(corpus: corpus, only: ["T11.covariance"], plantedScales: [.T11: 1 - 1e-3]).run()
        let caught = try #require(planted.theorems.first { $0.name == "T11.covariance" })
        #expect(caught.violations >= 10, "only \(caught.violations) certified violations of the planted T11")
        let origin = try #require(caught.firstViolation)
        #expect(origin.pair.first.inputCount > 0)
        let check = try #require(try Verifier(corpus: corpus, only: ["T11.covariance"], plantedScales: [.T11: 1 - 1e-3]).check(named: "T11.covariance"))
        #expect(Shrinker(check: check).violates(origin.pair))
    }

    /// The harness's power (issue 26): a constant 0.1 % too small in any check whose bound is
    /// attained is caught, certified, by a small corpus — through the boundary generator's
    /// equality cases (T6.sharp's sharpness configuration, T7's least-squares pair, T11's,
    /// T12's) and the other generators (T3, T4, T5 per pair). Removing an equality case from
    /// the boundary generator, or a certificate that no longer decides near 1, goes red here.
    @Test("Every check whose bound is attained is caught at 1 − 10⁻³, certified")
    func powerAtOnePerMille() throws {
        let corpus = CorpusSpec(seed: 1, cases: 480, maxLabels: 10, maxDimension: 4, maxInputs: 30)
        let attained: [(StatementID, [String])] = [
            (.T3, ["T3"]), (.T4, ["T4"]), (.T5, ["T5.subsetSum"]), (.T6, ["T6.sharp", "T6.sharpPerInput"]),
            (.T7, ["T7.traceBound.uncentred", "T7.traceBound.centred", "T7.corollary.uncentred", "T7.corollary.centred"]),
            (.T11, ["T11.covariance"]), (.T12, ["T12"]),
        ]
        var caught = 0
        for (id, names) in attained {
            let report = try Verifier(corpus: corpus, only: names, plantedScales: [id: 1 - 1e-3]).run()
            for name in names {
                let summary = try #require(report.theorems.first { $0.name == name })
                #expect(summary.violations >= 1, "\(name) planted at 1 − 10⁻³: no certified violation in \(corpus.cases) cases")
                if summary.violations >= 1 { caught += 1 }
            }
        }
        #expect(caught == attained.reduce(0) { $0 + $1.1.count })
    }

    @Test("T12 in the harness: holds on every narrower student; a floor planted 10⁻⁴ too high is certified violated on the boundary generator's attaining students")
    func t12Planted() throws {
        let corpus = CorpusSpec(seed: 6, cases: 240, generators: [.mixedDimension, .boundary], maxLabels: 10, maxDimension: 5, maxInputs: 30)
        let honest = try #require(try Verifier(corpus: corpus, only: ["T12"]).run().theorems.first)
        #expect(honest.violations == 0 && honest.cases >= 60 && honest.cases + honest.inapplicable == 240, "\(honest.cases) checked")
        let planted = try #require(try Verifier(corpus: corpus, only: ["T12"], plantedScales: [.T12: 1 - 1e-4]).run().theorems.first)
        #expect(planted.violations >= 20, "only \(planted.violations) certified violations of the planted floor")
    }

    @Test("Replay files round-trip the pair bit for bit and replay the verdict")
    func replayFile() throws {
        let corpus = CorpusSpec(seed: 3, cases: 40, generators: [.perturbed], maxLabels: 8, maxDimension: 3, maxInputs: 24)
        let verifier = try Verifier(corpus: corpus, only: ["T3"], plantedScales: [.T3: 0.5])
        let report = try verifier.run()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-replay-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try verifier.saveShrunkViolations(of: report, into: dir)
        let file = try ReplayFile.read(from: URL(fileURLWithPath: try #require(files.first)))
        #expect(try verifier.replay(file).outcome == .violated)
        #expect(try Verifier(corpus: corpus, only: ["T3"]).replay(file).outcome == .holds)
    }

    @Test("A replay file keeps the given weights, so the replayed pair's exact level is the saved one's")
    func replayGivenWeights() throws {
        var g = SeededGenerator(seed: 8)
        let weights = [1, 2, 4e8 + 1, 7, 0x1p-30, 3]
        let a = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: 6, columns: 2), unembeddings: g.gaussianMatrix(rows: 4, columns: 2), weights: weights)
        let b = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: 6, columns: 2), unembeddings: g.gaussianMatrix(rows: 4, columns: 2), weights: weights)
        let pair = try ModelPair(a, b)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lb-replay-w-\(UInt32.random(in: 0...UInt32.max)).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try ReplayFile(check: "T1", plantedScales: [:], origin: nil, pair: pair, path: url.path).write(to: url)
        let replayed = try ReplayFile.read(from: url).pair()
        #expect(replayed.first.givenWeights == weights && replayed.second.givenWeights == weights)
        #expect(replayed.exactLogitDistanceSquared() == pair.exactLogitDistanceSquared())
    }

    @Test("Unknown check names are refused with the list of known ones")
    func unknownCheck() {
        #expect(throws: HarnessError.self) { try Verifier(corpus: Self.smallCorpus, only: ["T42"]) }
    }
}
