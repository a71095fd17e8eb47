import Numerics
import Testing
@testable import Theory

/// The relative-accuracy form of KL in MPFR (`EnclosedDivergence.relativeKL`, Proofs/certificates.md
/// §5): against the direct sums at 1 024 bits on random pairs, and on a KL of e^−10⁵ that the
/// direct sums cannot resolve at any precision the suite uses.
@Suite("Relative-accuracy KL")
struct RelativeKLTests {
    /// The direct enclosures Σ p(log p − log q) of both directions of every row (not clamped at 0).
    static func direct(_ pair: ExactModelPair, bits: Int) -> [(forward: Interval, backward: Interval)] {
        let p = EnclosedConditionals(pair.first, bits: bits).logProbabilities
        let q = EnclosedConditionals(pair.second, bits: bits).logProbabilities
        return zip(p, q).map { p, q in
            (Interval.sum(zip(p, q).map { $0.exp * ($0 - $1) }, bits: bits),
             Interval.sum(zip(q, p).map { $0.exp * ($0 - $1) }, bits: bits))
        }
    }

    static func relative(_ pair: ExactModelPair, bits: Int) throws -> [(forward: Interval, backward: Interval)] {
        let q = EnclosedConditionals(pair.second, bits: bits).logProbabilities
        return try q.indices.map { i in
            try #require(EnclosedDivergence.relativeKL(pair.first.logits, pair.second.logits, row: i,
                                                       probabilitiesSecond: q[i].map(\.exp), bits: bits))
        }
    }

    static func overlap(_ a: Interval, _ b: Interval) -> Bool { !a.isCertainlyBelow(b) && !b.isCertainlyBelow(a) }

    /// Every row (about 1 200) of 120 small pairs of every generator (orbit and perturbed pairs give KLs at
    /// rounding level): the 256-bit relative form meets the 1 024-bit direct sums in both
    /// directions, and pins its value to 2⁻⁶⁰ of itself (or is exactly [0, 0] on a row whose logit
    /// differences are constant). A dropped term in φ or ψ, or a sign slip in log(1 + s), leaves the
    /// direct sums; an enclosure as wide as [0, ∞] fails the width.
    @Test("On random pairs the relative form meets the direct sums at 1 024 bits and is narrow")
    func agreesWithDirectSums() throws {
        var rows = 0, zeroRows = 0, belowDirect = 0
        for c in smallCorpus(seed: 931, count: 120) {
            let exact = try c.pair.exact()
            guard exact.first.logits.columns == exact.second.logits.columns else { continue }
            let fineRows = Self.direct(exact, bits: 1024), coarseRows = Self.direct(exact, bits: 256)
            let relativeRows = try Self.relative(exact, bits: 256)
            for i in 0..<exact.first.logits.rows {
                let (fine, coarse, rel) = (fineRows[i], coarseRows[i], relativeRows[i])
                rows += 1
                #expect(Self.overlap(rel.forward, fine.forward) && Self.overlap(rel.backward, fine.backward),
                        "\(c.comment) row \(i): forward \(rel.forward) vs \(fine.forward), backward \(rel.backward) vs \(fine.backward)")
                let k = exact.first.logits.columns
                let differences = (0..<k).map { exact.first.logits[i, $0] - exact.second.logits[i, $0] }
                if differences.allSatisfy({ $0 == differences[0] }) {
                    zeroRows += 1
                    #expect(rel.forward.upper == 0 && rel.backward.upper == 0 && rel.forward.lower == 0,
                            "\(c.comment) row \(i): equal conditionals enclosed as \(rel.forward), \(rel.backward)")
                } else {
                    #expect(!rel.forward.isRelativelyWiderThan(0x1p-60) && !rel.backward.isRelativelyWiderThan(0x1p-60),
                            "\(c.comment) row \(i): \(rel.forward), \(rel.backward)")
                    // Where the direct sum at the same precision is the wider (KL at rounding level).
                    if coarse.forward.width > rel.forward.width { belowDirect += 1 }
                }
            }
        }
        #expect(rows > 1000 && zeroRows > 50 && belowDirect > 500, "\(rows) rows, \(zeroRows) with equal conditionals, \(belowDirect) narrower than the direct sum")
    }

    /// k = 2, d = 1, logits (0, 10⁵) against (0, 100 700): KL(M₁‖M₂) ≈ 699·e^−10⁵ beside probabilities
    /// within e^−10⁵ of 1. The direct sums need about 145 000 bits; at 1 024 they reach 0. The
    /// relative form at 128 bits is positive, narrow, and meets the direct sums at 2¹⁸ bits; the
    /// pair's enclosed divergence uses it, and T6 is decided "holds" in every form (it was
    /// undecided at every level before).
    @Test("A KL of e^−10⁵ beside probabilities near 1: enclosed at 128 bits, and T6 decided")
    func tinyKLBesideCertainty() throws {
        let f = try Matrix([[1]])
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: try Matrix([[0], [100_000]])),
                                 SoftmaxModel(embeddings: f, unembeddings: try Matrix([[0], [100_700]])))
        let exact = try pair.exact()
        let coarse = Self.direct(exact, bits: 1024)[0]
        #expect(coarse.forward.containsZero && coarse.backward.containsZero, "the direct sums resolve it at 1 024 bits: \(coarse)")
        let fine = Self.direct(exact, bits: 1 << 18)[0]
        let rel = try Self.relative(exact, bits: 128)[0]
        #expect(rel.forward.isPositive && !rel.forward.isRelativelyWiderThan(0x1p-100), "\(rel.forward)")
        #expect(rel.backward.isPositive && !rel.backward.isRelativelyWiderThan(0x1p-100), "\(rel.backward)")
        #expect(!fine.forward.isRelativelyWiderThan(0x1p-100) && Self.overlap(rel.forward, fine.forward), "\(rel.forward) vs \(fine.forward)")
        #expect(!fine.backward.isRelativelyWiderThan(0x1p-100) && Self.overlap(rel.backward, fine.backward), "\(rel.backward) vs \(fine.backward)")
        // log KL = log 699 − 10⁵ to first order (KL ≈ (u − 1)e^−10⁵ with u = 700).
        let logKL = try rel.forward.log()
        #expect(abs(logKL.midpoint - (699.0.log - 100_000)) < 1e-9, "log KL ∈ \(logKL)")
        let enclosed = try pair.certifiedDivergence(bits: 128)
        #expect(enclosed.klForward.isPositive && enclosed.klBackward.isPositive, "\(enclosed.klForward), \(enclosed.klBackward)")
        // Each direction the pair's enclosure uses is that direction's (a swap is 699× off).
        #expect(Self.overlap(enclosed.klForward, fine.forward) && Self.overlap(enclosed.klBackward, fine.backward),
                "forward \(enclosed.klForward) vs \(fine.forward), backward \(enclosed.klBackward) vs \(fine.backward)")
        for form in T6KLBound.Form.allCases {
            let v = try T6KLBound(form).certify(pair)
            #expect(v.outcome == .holds && v.level == .enclosure, "\(form): \(v.outcome) \(v.certificate ?? "")")
        }
    }

    /// The Taylor enclosures of φ and ψ on |v| ≤ ½ (v²/2 + v³/3 ± v⁴/6 and v²/2 + v³/6 ± v⁴/20) meet
    /// the direct forms at 1 024 bits on 201 points of [−½, ½] (where the remainder is largest:
    /// halved, it misses at ±½); at v = ±10⁻³⁰⁰, where the direct forms cancel to nothing at 256
    /// bits, the terms are positive and pinned to 2⁻¹⁰⁰ of v²/2.
    @Test("φ and ψ near 0: Taylor enclosures with a proven remainder, and relative accuracy at v = 10⁻³⁰⁰")
    func termsNearZero() throws {
        var checked = 0
        for j in -100...100 {
            let v = Interval(exactly: Double(j) / 200, bits: 256)!, fine = Interval(exactly: Double(j) / 200, bits: 1024)!
            let phi = try #require(EnclosedDivergence.forwardTaylor(v))
            let psi = try #require(EnclosedDivergence.backwardTaylor(v))
            #expect(Self.overlap(phi, fine * fine.exp - fine.expm1), "φ(\(j)/200): \(phi)")
            #expect(Self.overlap(psi, fine.expm1 - fine), "ψ(\(j)/200): \(psi)")
            checked += 1
        }
        #expect(checked == 201)
        #expect(EnclosedDivergence.forwardTaylor(Interval(exactly: 0.5000001, bits: 256)!) == nil)
        for x in [1e-300, -1e-300] {
            let v = Interval(exactly: x, bits: 256)!
            let half = Interval(exactly: 0.5, bits: 256)! * v.squared
            for term in [EnclosedDivergence.forwardTerm(v), EnclosedDivergence.backwardTerm(v)] {
                #expect(term.isPositive && !term.isRelativelyWiderThan(0x1p-100) && Self.overlap(term, half), "at \(x): \(term)")
            }
        }
    }

}
