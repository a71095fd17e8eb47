import Numerics
import Testing
@testable import Measure
@testable import Theory

@Suite("T3 embedding bound")
struct T3Tests {
    /// G̃₁'s third column is its first plus 2⁻⁵²·e (exact in Doubles): of full column rank
    /// exactly, rank-deficient to Double precision. T3's screen must not call it inapplicable
    /// (it did: "G̃₁ does not have full column rank"), and the certificate decides it.
    @Test("G̃₁ of full rank exactly but rank-deficient in Double: T3 applies (screened with the Double σ_min), then certified")
    func rankDeficientOnlyInDouble() throws {
        var g = SeededGenerator(seed: 211)
        let k = 8, d = 3, n = 20
        let c0 = (0..<k).map { _ in Double(g.int(in: -12...12)) / 8 }, c1 = (0..<k).map { _ in Double(g.int(in: -12...12)) / 8 }
        let e = (0..<k).map { _ in Double(g.int(in: -3...3)) }
        let unembeddings = Matrix(rows: k, columns: d) { y, j in j == 0 ? c0[y] : j == 1 ? c1[y] : c0[y] + 0x1p-52 * e[y] }
        #expect((0..<k).allSatisfy { unembeddings[$0, 2] - c0[$0] == 0x1p-52 * e[$0] } && Set(e).count > 1)
        let teacher = try SoftmaxModel(embeddings: Matrix(rows: n, columns: d) { _, _ in g.gaussian() }, unembeddings: unembeddings)
        let pair = try ModelPair(teacher, ModelGenerator.perturb(teacher, by: 1e-3, using: &g))
        #expect(try !pair.firstDiversity().unembeddingsDiverse)
        let screened = try T3EmbeddingBound().screen(pair)
        #expect(screened.outcome != .inapplicable && screened.level == .double, "\(screened.outcome): \(screened.certificate ?? "")")
        let decided = try T3EmbeddingBound().decide(pair)
        #expect(decided.isCertified && decided.outcome == .holds, "\(decided.outcome) \(decided.level)")
        // Exactly rank-deficient (the third column the first): inapplicable, as before.
        let deficient = try SoftmaxModel(embeddings: teacher.embeddings, unembeddings: Matrix(rows: k, columns: d) { y, j in j == 1 ? c1[y] : c0[y] })
        #expect(try T3EmbeddingBound().screen(ModelPair(deficient, pair.second)).outcome == .inapplicable)
    }

    /// G̃₁ with condition numbers up to 10⁸: where M = G̃₁ᵀG̃₁'s enclosure holds singular
    /// matrices, the preconditioned solve must still enclose the exact A₁₂ and M⁻¹u, and bound
    /// σ_min(G̃₁)² above (exact inertia); with X left out of A₁₂ (a planted bug) it misses.
    @Test("Ill-conditioned G̃₁: the preconditioned identifiability encloses the exact A₁₂, M⁻¹u and bounds σ_min² above")
    func preconditionedIdentifiability() throws {
        var preconditioned = 0, plantedMissed = 0
        for seed in UInt64(0)..<60 {
            let pair = ModelGenerator.illConditioned.pair(seed: 900 + seed, size: CaseSize(labels: 8 + Int(seed % 9), dimension: 2 + Int(seed % 5), inputs: 20))
            let grams = pair.fastUnembeddingGrams()
            guard FastIdentifiability(grams: grams) == nil else { continue }
            let fast = try #require(FastIdentifiability(preconditioning: pair, grams: grams), "seed \(seed)")
            let exact = try pair.exact()
            let a = try exact.identifiabilityMap()
            let encloses = { (m: FastIntervalMatrix) in
                (0..<a.rows).allSatisfy { i in (0..<a.columns).allSatisfy { j in
                    Rational(exactly: m[i, j].lo)! <= a[i, j] && a[i, j] <= Rational(exactly: m[i, j].hi)! } }
            }
            #expect(encloses(fast.map), "seed \(seed): A₁₂")
            // X left out: N⁻¹QᵀG̃₂ in place of X·N⁻¹QᵀG̃₂.
            let (x, n) = try #require(fast.preconditioner)
            let withoutX = try #require(n.solving(pair.fastUnembeddings().first.multiplied(by: x).transposeMultiplied(by: pair.fastUnembeddings().second)))
            if !encloses(withoutX) { plantedMissed += 1 }
            let gram = exact.first.centredUnembeddings.weightedGram()
            #expect(try !gram.shiftingDiagonal(by: Rational(exactly: fast.sigmaMinSquaredUpper)!).isPositiveDefinite(), "seed \(seed): σ_min² bound")
            let u = (0..<a.rows).map { Double($0 + 1) / 3 }
            let solved = try #require(fast.solving(u))
            let exactSolution = try gram.solve(RationalMatrix(rows: u.count, columns: 1) { i, _ in Rational(exactly: u[i])! })
            #expect(solved.indices.allSatisfy { Rational(exactly: solved[$0].lo)! <= exactSolution[$0, 0] && exactSolution[$0, 0] <= Rational(exactly: solved[$0].hi)! },
                    "seed \(seed): M⁻¹u")
            preconditioned += 1
        }
        #expect(preconditioned >= 10 && plantedMissed == preconditioned, "\(preconditioned) pairs needed the preconditioner, the planted bug missed on \(plantedMissed)")
    }

    @Test("Random pairs from every generator", arguments: [UInt64(201)])
    func property(seed: UInt64) throws {
        let (decided, certified, worst) = try expectHolds(T3EmbeddingBound(), on: corpus(seed: seed, count: 300))
        // The boundary generator attains T3 exactly (d = 1): the Doubles of two equal exact
        // sides may round to a ratio of 1 + ulp.
        #expect(worst <= 1 + 1e-15)
        // The corpus reaches the bound's edge: orbit pairs (d_logit = 0) and near-ties
        // are certified, and the worst ratio is far from trivially small.
        #expect(decided >= 250)
        #expect(certified >= 1, "no case of 300 needed certification")
        #expect(worst >= 0.5, "worst ratio \(worst): the corpus never comes near the bound")
    }

    @Test("Certified on small pairs", arguments: [UInt64(202)])
    func certified(seed: UInt64) throws {
        try expectCertifiedHolds(T3EmbeddingBound(), on: smallCorpus(seed: seed, count: 40))
    }

    @Test("Equality case is hit: exactly in rationals", arguments: [UInt64(203), 204, 205])
    func exactEquality(seed: UInt64) throws {
        let pair = try TightCases.t3Equality(dimension: 3, inputs: 12, seed: seed)
        let exact = try ExactModelPair(pair)
        // σ_min(G̃)² = 8·0.5² = 2 exactly, so d_rep² = d_logit²/2.
        #expect(try exact.representationDissimilaritySquared() * Rational(2) == exact.logitDistanceSquared)
        #expect(try T3EmbeddingBound().certify(pair).outcome == .holds)
        let justBelow = 1 - 0x1.0p-40
        #expect(try T3EmbeddingBound(constantScale: justBelow).certify(pair).outcome == .violated)
    }

    /// At equality the right side's Double σ_min² can put it a few ulps below the exact left side,
    /// and the report read "left 1 | right 0.9999999999999998 | holds" (a hostile user). The sides
    /// shown keep the order the exact comparison certified, on 60 equality pairs, and the bound
    /// scaled just below 1 is violated with its right side shown below its left.
    @Test("Exact T3 at equality: the sides shown never contradict the certified order")
    func shownSidesKeepTheOrder() throws {
        var reordered = 0
        for seed in UInt64(300)..<330 {
            for pair in [try TightCases.t3Equality(dimension: 3, inputs: 12, seed: seed),
                         try TightCases.t3EqualityRandom(labels: 12, dimension: 4, inputs: 30, condition: 10, seed: seed)] {
                let v = try T3EmbeddingBound().certify(pair)
                #expect(v.outcome == .holds && v.rhs >= v.lhs, "seed \(seed): \(v.lhs) vs \(v.rhs)")
                let below = try T3EmbeddingBound(constantScale: 1 - 0x1.0p-40).certify(pair)
                #expect(below.outcome == .holds || below.rhs < below.lhs, "seed \(seed): \(below.outcome) \(below.lhs) vs \(below.rhs)")
                if (v.certificate ?? "").contains("wrong side") { reordered += 1 }
            }
        }
        #expect(reordered >= 3, "only \(reordered) of 60 equality pairs had their Double right side below the left")
    }

    @Test("Equality case is hit to 1e−12 in double precision", arguments: [1.0, 1e4, 1e8])
    func doubleEquality(condition: Double) throws {
        let pair = try TightCases.t3EqualityRandom(labels: 20, dimension: 5, inputs: 40, condition: condition, seed: 206)
        let v = try T3EmbeddingBound().screen(pair)
        #expect(abs(v.ratio - 1) < 1e-12 * max(1, condition / 1e4), "ratio \(v.ratio)")
    }

    @Test("A planted false constant (halved) is caught and certified violated")
    func plantedFalse() throws {
        let pair = try TightCases.t3Equality(dimension: 2, inputs: 6, seed: 207)
        let v = try T3EmbeddingBound(constantScale: 0.5).check(pair)
        #expect(v.outcome == .violated)
        #expect(v.isCertified)
    }

    @Test("Rank-deficient G̃₁: the bound reports itself inapplicable")
    func rankDeficient() throws {
        let g = try Matrix([[1, 2], [2, 4], [3, 6], [0, 0]])
        let m = try SoftmaxModel(embeddings: try Matrix([[1, 0], [0, 1], [1, 1]]), unembeddings: g)
        let pair = try ModelPair(m, m)
        #expect(try T3EmbeddingBound().screen(pair).outcome == .inapplicable)
        #expect(try T3EmbeddingBound().certify(pair).outcome == .inapplicable)
    }
}

@Suite("T4 unembedding bound")
struct T4Tests {
    @Test("Random pairs from every generator", arguments: [UInt64(211)])
    func property(seed: UInt64) throws {
        let (decided, _, worst) = try expectHolds(T4UnembeddingBound(), on: corpus(seed: seed, count: 300))
        #expect(decided >= 250)
        // The boundary generator's T7 pairs attain T4 too: a certified "holds" there has a
        // Double ratio within rounding of 1, possibly above it.
        #expect(worst <= 1 + 1e-12)
        #expect(worst >= 0.1, "worst ratio \(worst): the corpus never comes near the bound")
    }

    @Test("Certified on small pairs", arguments: [UInt64(212)])
    func certified(seed: UInt64) throws {
        try expectCertifiedHolds(T4UnembeddingBound(), on: smallCorpus(seed: seed, count: 40))
    }

    @Test("Equality: G₁ − G₂ along F̂₁'s smallest direction, F₂ = F₁")
    func equality() throws {
        var g = SeededGenerator(seed: 213)
        let teacher = ModelGenerator.model(labels: 10, dimension: 4, inputs: 30, using: &g)
        let v = try SingularValueDecomposition(teacher.weightedEmbeddings).v.column(3)
        var u = teacher.unembeddings
        for y in 0..<10 {
            let c = g.gaussian()
            for j in 0..<4 { u[y, j] += c * v[j] }
        }
        let verdict = try T4UnembeddingBound().screen(ModelPair(teacher, try teacher.with(unembeddings: u)))
        #expect(abs(verdict.ratio - 1) < 1e-11, "ratio \(verdict.ratio)")
        #expect(try T4UnembeddingBound(constantScale: 0.5).check(ModelPair(teacher, try teacher.with(unembeddings: u))).outcome == .violated)
    }
}

@Suite("measure's d_rep at ill-conditioned G̃")
struct IllConditionedRepresentationTests {
    /// G̃ with its third column its first plus ε·e (exact in Doubles). `large residual`: G̃_B's third
    /// column far outside G̃_A's span, so the least-squares map loses about κ²·u·‖R‖ of its digits
    /// (a hostile user found d_rep 150 % off at κ = 2·10⁷ with no note).
    static func pair(exponent: Int, residual: Double?, seed: UInt64) throws -> ModelPair {
        var g = SeededGenerator(seed: seed)
        let k = 8, d = 3, n = 20
        let c0 = (0..<k).map { _ in Double(g.int(in: -12...12)) / 8 }, c1 = (0..<k).map { _ in Double(g.int(in: -12...12)) / 8 }
        let e = (0..<k).map { _ in Double(g.int(in: -3...3)) }
        let epsilon = Double(sign: .plus, exponent: exponent, significand: 1)
        let unembeddings = Matrix(rows: k, columns: d) { y, j in j == 0 ? c0[y] : j == 1 ? c1[y] : c0[y] + epsilon * e[y] }
        let teacher = try SoftmaxModel(embeddings: Matrix(rows: n, columns: d) { _, _ in g.gaussian() }, unembeddings: unembeddings)
        guard let size = residual else { return try ModelPair(teacher, ModelGenerator.perturb(teacher, by: 1e-3, using: &g)) }
        // z ⟂ 1 and G̃_A's columns (Gram–Schmidt), scaled to `size`.
        var basis = [[Double](repeating: 1, count: k)] + (0..<d).map { j in (0..<k).map { unembeddings[$0, j] } }
        for b in basis.indices {
            for a in 0..<b { let c = zip(basis[a], basis[b]).reduce(0) { $0 + $1.0 * $1.1 }; basis[b] = zip(basis[b], basis[a]).map { $0 - c * $1 } }
            let norm = basis[b].reduce(0) { $0 + $1 * $1 }.squareRoot()
            basis[b] = basis[b].map { $0 / norm }
        }
        var z = (0..<k).map { _ in g.gaussian() }
        for a in basis.indices { let c = zip(basis[a], z).reduce(0) { $0 + $1.0 * $1.1 }; z = zip(z, basis[a]).map { $0 - c * $1 } }
        let zNorm = z.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let studentG = Matrix(rows: k, columns: d) { y, j in j == 0 ? c0[y] : j == 1 ? c1[y] : size * z[y] / zNorm }
        let studentF = Matrix(rows: n, columns: d) { i, j in (j < 2 ? teacher.embeddings[i, j] : g.gaussian()) + 1e-3 * g.gaussian() }
        return try ModelPair(teacher, SoftmaxModel(embeddings: studentF, unembeddings: studentG))
    }

    /// κ(G̃_A) from about 10⁶ to 10¹⁴, with and without a large residual: certifying, the d_rep(A←B)
    /// shown is within 10⁻⁶ of the exact one; with --certify never, a note says so wherever the
    /// Double value is off by more than 10⁻⁶ (an a priori estimate).
    @Test("d_rep(A←B) at κ(G̃_A) 10⁶…10¹⁴ and large residuals: exact to 10⁻⁶ when certifying, flagged when not")
    func representationAtIllConditionedUnembeddings() throws {
        var checked = 0, offInDouble = 0
        for (index, (exponent, residual)) in [(-20, nil), (-33, nil), (-43, nil), (-47, nil), (-24, 1e3), (-26, 1e2), (-20, 1e8)].enumerated() {
            let pair = try Self.pair(exponent: exponent, residual: residual, seed: 5 + UInt64(index))
            let exact = try pair.exact().representationDissimilaritySquared().doubleValue
            let plain = try pair.representationDissimilaritySquared()
            let off = abs(plain - exact) > 1e-6 * exact
            if off { offInDouble += 1 }
            let certified = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .auto))
            let shown = try #require(certified.dRepAB)
            #expect(abs(shown * shown - exact) <= 1e-6 * exact, "ε = 2^\(exponent), residual \(residual ?? 0): shown d_rep² \(shown * shown), exact \(exact)")
            let screened = try PairMeasurement.measure(pair, options: PairMeasurement.Options(skipPivot: true, certification: .never))
            let flagged = screened.notes.contains { $0.contains("d_rep A←B") && $0.contains("not checked") }
            #expect(flagged || !off, "ε = 2^\(exponent), residual \(residual ?? 0): the Double d_rep² \(plain) against \(exact), no note")
            checked += 1
        }
        #expect(checked == 7)
        // The Double value is wrong in several cases (the ill-conditioned and the large residuals), so both checks bite.
        #expect(offInDouble >= 3, "only \(offInDouble) cases where the Double value is off")
    }

    /// Both directions through the enclosure: a planted wrong value (twice the truth) is replaced by
    /// the enclosure's midpoint or the exact value, with a note; an ill-conditioned G̃_B is
    /// checked in the B←A direction (the swapped pair's map).
    /// A model against itself: the exact level finds d_rep² = 0 in both directions, and the report
    /// said so in a note while showing d_rep = 2.9·10⁻¹⁶ re-formed from the Double residual (a hostile
    /// user). d_rep and the scale-free ratio are now 0; an orbit pair's are unchanged.
    @Test("A model against itself: d_rep and the scale-free d_rep are exactly 0 where the exact level finds 0")
    func identicalPairShowsZero() throws {
        let model = ModelGenerator.independent.pair(seed: 43, size: CaseSize(labels: 8, dimension: 3, inputs: 50)).first
        var options = PairMeasurement.Options(certification: .auto)
        options.skipPivot = true
        let m = try PairMeasurement.measure(try ModelPair(model, model), options: options)
        #expect(m.dRepAB == 0 && m.dRepBA == 0 && m.dRepScaleFreeAB == 0, "\(String(describing: m.dRepAB)) \(String(describing: m.dRepBA)) \(String(describing: m.dRepScaleFreeAB))")
        let other = ModelGenerator.independent.pair(seed: 43, size: CaseSize(labels: 8, dimension: 3, inputs: 50)).second
        let apart = try PairMeasurement.measure(try ModelPair(model, other), options: options)
        #expect((apart.dRepAB ?? 0) > 0 && (apart.dRepBA ?? 0) > 0)
    }

    @Test("A planted wrong d_rep² is replaced in both directions; G̃_B ill-conditioned checked for d_rep(B←A)")
    func plantedRepresentationBothDirections() throws {
        var byEnclosure = 0
        for (pair, label) in [(try Self.pair(exponent: -20, residual: nil, seed: 41), "κ ≈ 10⁶"),
                              (ModelGenerator.independent.pair(seed: 42, size: CaseSize(labels: 8, dimension: 3, inputs: 20)), "well conditioned")] {
            for reverse in [false, true] {
                let oriented = reverse ? pair.swapped : pair
                let exact = try oriented.exact().representationDissimilaritySquared().doubleValue
                var notes: [String] = []
                var exactSquare: Rational?
                let shown = try #require(PairMeasurement.checkedRepresentationSquared(2 * exact, pair, reverse: reverse,
                                                                                      PairMeasurement.Options(certification: .auto), notes: &notes,
                                                                                      exactSquare: &exactSquare))
                #expect(exactSquare?.isZero != true)
                #expect(abs(shown - exact) <= 1e-6 * exact, "\(label) reverse \(reverse): \(shown) against \(exact)")
                #expect(notes.contains { $0.contains(reverse ? "d_rep B←A" : "d_rep A←B") }, "\(label) reverse \(reverse): no note")
                if notes.contains(where: { $0.contains("outside its certified enclosure") }) { byEnclosure += 1 }
            }
        }
        // The well-conditioned pair's enclosures pin d_rep² in both directions: the midpoint branch ran.
        #expect(byEnclosure >= 2, "the enclosure replaced the planted value \(byEnclosure) times")
        // G̃_B the ill-conditioned one: d_rep(B←A) in the measurement.
        let ill = try Self.pair(exponent: -43, residual: nil, seed: 43)
        let swapped = try ModelPair(ill.second, ill.first)
        let exact = try ill.exact().representationDissimilaritySquared().doubleValue   // = d_rep(B←A)² of `swapped`
        let measured = try PairMeasurement.measure(swapped, options: PairMeasurement.Options(skipPivot: true, certification: .auto))
        let shown = try #require(measured.dRepBA)
        #expect(abs(shown * shown - exact) <= 1e-6 * exact, "d_rep(B←A)² \(shown * shown) against \(exact)")
    }
}
