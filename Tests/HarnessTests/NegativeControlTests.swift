@testable import Harness
import Testing
@testable import Theory

/// Every check with a constant must go red when that constant is wrong: on a case where
/// the check holds with ratio r = lhs/rhs, planting the constant at r/2 (so the planted
/// ratio is 2) must give a certified violation. A `certify` hard-wired to "holds", or a
/// planted scale that never reaches the check, fails here.
@Suite("Negative controls: each check is certified violated at half its ratio")
struct NegativeControlTests {
    @Test("Every check with a constant (T1 triangle, T3–T7 forms, T11, T12): planted at r/2, certified violated")
    func plantedAtHalfTheRatio() throws {
        let corpus = CorpusSpec(seed: 9, cases: 80, maxLabels: 8, maxDimension: 3, maxInputs: 20)
        let checks = Check.registry().filter { !$0.isConjecture && $0.id != .T2 && $0.id != .T10 }
        var caught: [String] = [], missing: [String] = []
        for check in checks {
            var found = false
            for index in 0..<corpus.cases where !found {
                let descriptor = corpus.descriptor(index), pair = descriptor.pair
                guard let v = try? check.evaluate(descriptor, pair), v.outcome == .holds,
                      v.ratio > 1e-3, v.ratio < 0.999 else { continue }
                found = true
                let planted = try #require(Check.registry(scales: [check.id: v.ratio / 2]).first { $0.name == check.name })
                let w = try planted.evaluate(descriptor, pair)
                #expect(w.outcome == .violated && w.isCertified,
                        "\(check.name), case \(index): planted at \(v.ratio / 2) gives \(w.outcome) (\(w.level)), ratio \(w.ratio)")
                if w.outcome == .violated && w.isCertified { caught.append(check.name) }
            }
            if !found { missing.append(check.name) }
        }
        #expect(missing.isEmpty, "no holding case with 10⁻³ < ratio < 1 for \(missing)")
        #expect(caught.count == checks.count, "caught \(caught.count) of \(checks.count): \(Set(checks.map(\.name)).subtracting(caught).sorted())")
    }
}
