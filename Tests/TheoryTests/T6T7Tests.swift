import Numerics
import Testing
@testable import Theory

@Suite("T6 KL bound")
struct T6Tests {
    /// `logitDistanceIsExactlyZero` (the shortcut of T5, T6 and T11 to the exact level) agrees with
    /// the exact d_logit² on exact orbit pairs, orbit pairs 10⁻¹⁰ off, perturbed pairs and exact
    /// orbit pairs one Double off; where it holds, T6 and T11 decide exactly, 0 ≤ 0, and elsewhere
    /// T6 is not decided by it. A shortcut that trusted the fast enclosure reaching 0 fails on the
    /// pairs one Double off (and would let T11 answer "no probe disagrees" unproven).
    @Test("d_logit² = 0 exactly is recognised on exact orbit pairs, and only there")
    func exactlyZeroLogitDistanceShortcut() throws {
        var (zero, nonzero, unresolved) = (0, 0, 0)
        // With each exact orbit pair, the same pair with one embedding entry of the student one
        // Double up: d_logit² > 0 exactly but far below the fast enclosure's width.
        var cases: [(pair: ModelPair, comment: Comment)] = []
        for c in smallCorpus(seed: 118, count: 40, generators: [.orbit, .perturbed]) {
            cases.append((c.pair, c.comment))
            guard c.pair.exactLogitDistanceSquared().isZero else { continue }
            var f = c.pair.second.embeddings
            f[0, 0] = f[0, 0].nextUp
            let nudged = try SoftmaxModel(embeddings: f, unembeddings: c.pair.second.unembeddings, weights: c.pair.second.weights)
            cases.append((try ModelPair(c.pair.first, nudged), Comment(rawValue: c.comment.rawValue + ", one ulp off")))
        }
        for c in cases {
            let exactlyZero = c.pair.exactLogitDistanceSquared().isZero
            #expect(c.pair.logitDistanceIsExactlyZero == exactlyZero, c.comment)
            let v6 = try T6KLBound(.sharp).decide(c.pair)
            #expect(v6.outcome == .holds && v6.isCertified, c.comment)
            if exactlyZero {
                zero += 1
                #expect(v6.level == .exact && v6.rhs == 0, c.comment)
                let v11 = try T11ConceptTransferBound().decide(c.pair)
                #expect(v11.level == .exact && v11.outcome == .holds && v11.lhs == 0, c.comment)
            } else {
                nonzero += 1
                #expect(v6.level != .exact, c.comment)
                // The pairs that give the test its teeth: d_logit² > 0, yet the enclosure reaches 0.
                if let d = c.pair.fastLogitDistanceSquared(), d.lo <= 0 { unresolved += 1 }
            }
        }
        #expect(zero >= 5 && nonzero >= 20 && unresolved >= 3, "\(zero) exactly equal, \(nonzero) not, \(unresolved) of them unresolved by the enclosure")
    }

    @Test("Global and per-input τ forms on random pairs", arguments: T6KLBound.Form.allCases)
    func property(form: T6KLBound.Form) throws {
        try expectHolds(T6KLBound(form), on: corpus(seed: 401, count: 200, dimensions: 1...16, maxLabels: 50))
    }

    @Test("MPFR-certified on small pairs, including near-one-hot ones")
    func certified() throws {
        let cases = smallCorpus(seed: 402, count: 30)
        for form in T6KLBound.Form.allCases { try expectCertifiedHolds(T6KLBound(form), on: cases) }
    }

    /// A "holds" at the MPFR level shows its right side's lower end, as the fast level does: an
    /// attack had found it shown up to 6·10⁻⁸ above its exact value (the midpoint, which also
    /// rounds to nearest: above the lower end on about half the forms here).
    @Test("T6's MPFR \"holds\" shows its right side's lower end")
    func mpfrHoldsShowsLowerEnd() throws {
        var checked = 0
        for pair in smallCorpus(seed: 403, count: 12).map(\.pair) {
            let d = pair.exactLogitDistanceSquared()
            guard !d.isZero else { continue }
            for form in T6KLBound.Form.allCases {
                let verdict = try T6KLBound(form).certify(pair, exactLHS: d, bits: 128)
                guard verdict.outcome == .holds else { continue }
                // "right side ∈ [lower, upper], …": the ends as Doubles rounded outward.
                let text = try #require(verdict.certificate?.split(separator: "[").dropFirst().first?.split(separator: ",").first)
                #expect(verdict.rhs == Double(String(text)), "\(form): \(verdict.rhs) shown for \(verdict.certificate ?? "")")
                checked += 1
            }
        }
        #expect(checked >= 30, "\(checked) holds compared")
    }

    @Test("The refined screen's KL matches the MPFR enclosure on orbit pairs, where the plain double KL is noise")
    func refinedScreen() throws {
        var spared = 0, needed = 0
        for c in corpus(seed: 407, count: 40, dimensions: 1...4, maxLabels: 10, maxInputs: 30, generators: [.orbit]) {
            guard let refined = c.pair.refinedDivergence() else { continue }
            let enclosed = try c.pair.certifiedDivergence()
            for (i, kl) in refined.klPerInput.enumerated() {
                let box = enclosed.klPerInput[i]
                let scale = max(abs(box.upper), 1e-300)
                #expect(kl >= box.lower - 1e-9 * scale && kl <= box.upper + 1e-9 * scale, "\(c.comment) input \(i): \(kl) vs \(box)")
            }
            #expect(abs(refined.logitDistanceSquared - (c.pair.exactLogitDistanceSquared()).doubleValue)
                    <= 1e-12 * max(refined.logitDistanceSquared, 1e-300), c.comment)
            let statement = T6KLBound(.sharp)
            if try statement.screen(c.pair).needsCertification { needed += 1 } else { spared += 1 }
        }
        #expect(spared + needed >= 30, "only \(spared + needed) of 40 orbit pairs had a refined screen")
        #expect(spared > needed, "refined screen left \(needed) of \(spared + needed) orbit pairs to certify")
    }

    @Test("The refined screen over blocks of rows: each input's KL within MPFR's enclosure and as in one block, d_logit² exact; without refiningScreen, the plain screen")
    func refinedScreenInBlocks() throws {
        var g = SeededGenerator(seed: 408)
        // 30 inputs, 40 labels in blocks of 3 rows (120 logits), against the one block of the default
        // (2¹⁸ logits). The student is the teacher's orbit image (F·2, G/2) with G moved by 10⁻¹⁰,
        // so each input's KL is its own, near rounding.
        let (n, k) = (30, 40)
        let m = ModelGenerator.model(labels: k, dimension: 2, inputs: n, using: &g)
        let moved = Matrix(rows: k, columns: 2) { y, j in m.unembeddings[y, j] / 2 + 1e-10 * g.gaussian() }
        let pair = try ModelPair(m, try SoftmaxModel(embeddings: m.embeddings.scaled(byPowerOfTwo: 1), unembeddings: moved))
        let blocks = try #require(pair.refinedDivergence(blockEntries: 120)), whole = try #require(pair.refinedDivergence())
        let enclosed = try pair.certifiedDivergence()
        var compared = 0
        for (i, kl) in blocks.klPerInput.enumerated() {
            let box = enclosed.klPerInput[i]
            #expect(kl >= box.lower - 1e-9 * box.upper && kl <= box.upper + 1e-9 * box.upper && box.lower > 0, "input \(i): \(kl) vs \(box)")
            #expect(abs(kl - whole.klPerInput[i]) <= 1e-12 * kl && abs(blocks.reverseKLPerInput[i] - whole.reverseKLPerInput[i]) <= 1e-12 * kl)
            compared += 1
        }
        #expect(compared == n)
        let exact = pair.exactLogitDistanceSquared().doubleValue
        #expect(abs(blocks.logitDistanceSquared - exact) <= 1e-12 * exact, "\(blocks.logitDistanceSquared) vs \(exact)")
        // The flag: without it the screen keeps the plain d_logit². Near-orbit students whose G/2 is
        // shifted by 10⁶ (the same conditionals) and moved by 10⁻¹², 10⁻¹⁴: the plain KL and d_logit²
        // are rounding noise there, and some plain screens cross where the refined ones decide.
        var screened = 0, refinedDecides = 0
        for eps in [1e-12, 1e-14] {
            for _ in 0..<20 {
                let t = ModelGenerator.model(labels: 8, dimension: 3, inputs: 20, using: &g)
                let shifted = Matrix(rows: 8, columns: 3) { y, j in t.unembeddings[y, j] / 2 + 1e6 + eps * g.gaussian() }
                let near = try ModelPair(t, try SoftmaxModel(embeddings: t.embeddings.scaled(byPowerOfTwo: 1), unembeddings: shifted))
                let plain = try T6KLBound(.sharp, refiningScreen: false).screen(near)
                #expect(plain.lhs == (try near.logitDistanceSquared()))
                if plain.needsCertification, try !T6KLBound(.sharp).screen(near).needsCertification { refinedDecides += 1 }
                screened += 1
            }
        }
        #expect(screened == 40 && refinedDecides >= 3, "\(screened) screened; the refinement decided \(refinedDecides) near-ties")
    }

    @Test("The 2/τ forms are never weaker than the 1/τ² forms")
    func sharpNeverWeaker() throws {
        for c in corpus(seed: 406, count: 40, dimensions: 1...5, maxLabels: 20) {
            for (sharp, weak) in [(T6KLBound.Form.sharp, T6KLBound.Form.global), (.sharpPerInput, .perInput)] {
                let s = try T6KLBound(sharp).screen(c.pair), w = try T6KLBound(weak).screen(c.pair)
                #expect(s.rhs <= w.rhs * (1 + 1e-12), c.comment)
            }
        }
    }

    /// One input, k labels: p = (τ + ε, τ, r, …), q = (τ, τ + ε, r, …), where
    /// d_logit²/KL → 2/τ as ε → 0 (Proofs/T6-sharp-kl-bound.md, "Sharpness").
    static func sharpnessPair(labels k: Int, tau: Double, epsilon: Double) throws -> ModelPair {
        let rest = (1 - 2 * tau - epsilon) / Double(k - 2)
        let p = [tau + epsilon, tau] + Array(repeating: rest, count: k - 2)
        let q = [tau, tau + epsilon] + Array(repeating: rest, count: k - 2)
        func model(_ probabilities: [Double]) throws -> SoftmaxModel {
            try SoftmaxModel(embeddings: Matrix(rows: 1, columns: k, storage: probabilities.map { $0.log }),
                             unembeddings: Matrix.identity(k))
        }
        return try ModelPair(model(p), model(q))
    }

    @Test("2/τ is sharp: 0.999·(2/τ) is certified violated at the sharpness configuration")
    func sharpConstantCannotDrop() throws {
        let pair = try Self.sharpnessPair(labels: 5, tau: 1e-4, epsilon: 1e-9)
        #expect(try T6KLBound(.sharp).certify(pair).outcome == .holds)
        let planted = try T6KLBound(.sharp, constantScale: 0.999).check(pair)
        #expect(planted.outcome == .violated, "\(planted)")
        #expect(planted.isCertified, "\(planted)")
    }

    @Test("Per-input τ is never weaker than the global τ")
    func perInputSharper() throws {
        for c in corpus(seed: 403, count: 40, dimensions: 1...5, maxLabels: 20) {
            let global = try T6KLBound(.global).screen(c.pair), local = try T6KLBound(.perInput).screen(c.pair)
            #expect(local.rhs <= global.rhs * (1 + 1e-12), c.comment)
        }
    }

    @Test("A planted false constant is caught near equal distributions")
    func planted() throws {
        // Near equal distributions d_logit²/KL ≈ 2/τ·(…) ≫ τ²-scaled: a constant
        // scaled by τ² (i.e. d_logit² ≤ KL) is false and must be certified violated.
        let c = corpus(seed: 404, count: 1, dimensions: 3...3, maxLabels: 10, generators: [.perturbed])[0]
        let pair = try ModelPair(c.pair.first, ModelGenerator.perturb(c.pair.first, by: 1e-3, using: &rng))
        let tau = min(pair.first.tau, pair.second.tau)
        let v = try T6KLBound(.global, constantScale: tau * tau).check(pair)
        #expect(v.outcome == .violated, "\(v)")
        #expect(v.isCertified, "\(v)")
    }

    @Test("Probabilities that underflow in doubles: KL finite, certification still decides")
    func underflow() throws {
        var g = SeededGenerator(seed: 405)
        let teacher = ModelGenerator.model(labels: 6, dimension: 2, inputs: 8, scale: 800, using: &g)
        #expect(teacher.tau == 0 && teacher.logTau.isFinite)
        let pair = try ModelPair(teacher, ModelGenerator.perturb(teacher, by: 1e-3, using: &g))
        #expect(pair.klDivergence().isFinite)
        let enclosed = try pair.certifiedDivergence()
        #expect(enclosed.logTauFirst.upper < -700)
        #expect(try T6KLBound(.global).certify(pair).outcome == .holds)
    }
}

nonisolated(unsafe) var rng = SeededGenerator(seed: 499)

@Suite("T7 canonical correlations")
struct T7Tests {
    static let variants: [(T7CanonicalCorrelationBound.Form, Bool)] = [(.traceBound, false), (.traceBound, true), (.corollary, false), (.corollary, true)]

    @Test("Trace bound and corollary, centred and uncentred, on random pairs", arguments: 0..<4)
    func property(variant: Int) throws {
        let (form, centred) = Self.variants[variant]
        try expectHolds(T7CanonicalCorrelationBound(form, centred: centred),
                        on: corpus(seed: 501, count: 150, dimensions: 1...16, maxLabels: 50))
    }

    /// A student that is the teacher's map up to rounding (F·A, G·A⁻ᵀ in Double; d_logit² near
    /// 10⁻²³), with N = 30 < d_A + d_B = 40: some 1 − ρᵢ² are exactly 0. Above 16 dimensions the
    /// brackets first stop 10⁻¹³ above them, which leaves the bound undecided (an attack found
    /// all three forms undecided at d = 20 … 24, "holds" before); they are formed again counting 0 exactly.
    @Test("T7 at d = 20 on a student that is the teacher's map up to rounding, N < d_A + d_B: every form certified holds")
    func mappedStudentAboveSixteen() throws {
        var g = SeededGenerator(seed: 503)
        let teacher = ModelGenerator.model(labels: 24, dimension: 20, inputs: 30, using: &g)
        let map = g.gaussianMatrix(rows: 20, columns: 20)
        let inverse = try LUDecomposition(map).inverse()
        let student = try SoftmaxModel(embeddings: teacher.embeddings.multiplied(by: map),
                                       unembeddings: teacher.unembeddings.multiplied(by: inverse, transposeOther: true))
        let pair = try ModelPair(student, teacher)      // model 1 the student
        #expect(pair.exactLogitDistanceSquared().sign > 0, "an exact orbit pair would be decided by certifyExactOrbit")
        for (form, centred) in Self.variants.prefix(3) {
            let v = try T7CanonicalCorrelationBound(form, centred: centred).certify(pair)
            #expect(v.outcome == .holds && v.level == .enclosure, "\(form), centred \(centred): \(v.outcome) \(v.level)")
        }
    }

    @Test("Certified with exact inertia brackets on small pairs", arguments: 0..<4)
    func certified(variant: Int) throws {
        let (form, centred) = Self.variants[variant]
        let statement = T7CanonicalCorrelationBound(form, centred: centred)
        // Every verdict at level exact or enclosure, and most of them certified holds.
        try expectCertifiedHolds(statement, on: smallCorpus(seed: 502, count: 20), minimumCertified: 15)
    }

    @Test("R ≤ d_logit² with equality when the student's embeddings are the teacher's")
    func residualChain() throws {
        for c in corpus(seed: 503, count: 40, dimensions: 1...6, maxLabels: 20) {
            let t = try T7CanonicalCorrelationBound().terms(c.pair)
            #expect(t.traceBound <= t.residual * (1 + 1e-9) + 1e-12, c.comment)
            #expect(t.residual <= t.logitDistanceSquared * (1 + 1e-9) + 1e-12, c.comment)
        }
        let c = corpus(seed: 504, count: 1, dimensions: 3...3, maxLabels: 10, generators: [.independent])[0]
        let same = try ModelPair(c.pair.second.with(unembeddings: c.pair.first.unembeddings), c.pair.second)
        let t = try T7CanonicalCorrelationBound().terms(same)
        #expect(t.residual < 1e-20 && t.traceBound < 1e-12)
    }

    /// Exact orbit pairs are decided from d×d exact moments (`certifyExactOrbit`): every
    /// form holds with 0 = 0, as the certified spectra also say. A pair with d_logit² = 0
    /// exactly that is not an orbit pair (G̃ without full column rank, the student's second
    /// embedding coordinate free) does not take that route.
    @Test("Exact orbit pairs: T7 decided from exact moments, agreeing with the spectra; a d_logit = 0 non-orbit pair is not")
    func exactOrbitShortcut() throws {
        var orbits = 0, confirmed = 0
        for c in corpus(seed: 506, count: 30, dimensions: 1...4, maxLabels: 10, maxInputs: 30, generators: [.orbit]) {
            guard c.pair.exactLogitDistanceSquared().isZero else { continue }
            for (form, centred) in Self.variants {
                let statement = T7CanonicalCorrelationBound(form, centred: centred)
                guard let orbit = try statement.certifyExactOrbit(c.pair) else { continue }
                #expect(orbit.outcome == .holds && orbit.level == .exact && orbit.certificate?.contains("exact orbit pair") == true, c.comment)
                // The spectra, computed without the shortcut, say the same: Σ(1 − ρ²)μ = R = 0
                // exactly, and for the corollary 1 − mean ρ² = 0 with μ_{d₂} certified positive.
                let spectra = try #require(try c.pair.certifiedT7Spectra(centred: centred), c.comment)
                if form == .traceBound {
                    #expect(spectra.pairedSum().upper.isZero && spectra.residual.isZero, c.comment)
                } else {
                    #expect(spectra.qUpper.allSatisfy { $0.sign <= 0 } && (spectra.muLower.last?.sign ?? 0) > 0, c.comment)
                }
                confirmed += 1
                orbits += 1
            }
        }
        #expect(orbits >= 40 && confirmed == orbits, "\(orbits) orbit verdicts, \(confirmed) confirmed by the spectra")
        // One model twice, G's second column constant: an orbit pair (A = I) whose G̃ lacks full
        // column rank, so μ_{d₂} = 0 and the corollary's right side is undefined: its shortcut
        // must not apply, while the trace bound's does.
        var h = SeededGenerator(seed: 508)
        var constantColumn = h.gaussianMatrix(rows: 6, columns: 2)
        for y in 0..<6 { constantColumn[y, 1] = 0.25 }
        let same = try SoftmaxModel(embeddings: h.gaussianMatrix(rows: 20, columns: 2), unembeddings: constantColumn)
        let twice = try ModelPair(same, same)
        for centred in [false, true] {
            #expect(try T7CanonicalCorrelationBound(.traceBound, centred: centred).certifyExactOrbit(twice)?.outcome == .holds)
            #expect(try T7CanonicalCorrelationBound(.corollary, centred: centred).certifyExactOrbit(twice) == nil)
        }
        // d = 2, G's second column constant (so it is 0 once centred): the student's second
        // embedding coordinate does not reach the logits, d_logit² = 0, but f₂ ≠ Af₁.
        var g = SeededGenerator(seed: 507)
        let f1 = g.gaussianMatrix(rows: 20, columns: 2)
        var gm = g.gaussianMatrix(rows: 6, columns: 2)
        for y in 0..<6 { gm[y, 1] = 0.5 }
        var f2 = f1
        for i in 0..<20 { f2[i, 1] = g.gaussian() }
        let pair = try ModelPair(try SoftmaxModel(embeddings: f1, unembeddings: gm), try SoftmaxModel(embeddings: f2, unembeddings: gm))
        #expect(pair.exactLogitDistanceSquared().isZero)
        for (form, centred) in Self.variants {
            let statement = T7CanonicalCorrelationBound(form, centred: centred)
            #expect(try statement.certifyExactOrbit(pair) == nil, "\(form) centred \(centred)")
        }
    }

    /// A pair where T7 holds with equality: d₂ = 1 (so Σ(1−ρ²)μ = R) and the
    /// student's unembeddings are the least-squares map of the teacher's centred
    /// logits on the student's embeddings, G₁ = E[Λ̃₂ f₁ᵀ] M₁₁⁻¹ (so R = d_logit²).
    static func tightPair(seed: UInt64) throws -> ModelPair {
        var g = SeededGenerator(seed: seed)
        let teacher = ModelGenerator.model(labels: 6, dimension: 1, inputs: 12, using: &g)
        let studentF = g.gaussianMatrix(rows: 12, columns: 2)
        let w = teacher.weights
        let cross = teacher.centredLogits.scalingRows(by: w).multiplied(by: studentF, transposeSelf: true)
        let m11 = studentF.scalingRows(by: teacher.sqrtWeights).gram()
        let g1 = cross.multiplied(by: try m11.inverse())
        return try ModelPair(try SoftmaxModel(embeddings: studentF, unembeddings: g1, weights: w), teacher)
    }

    /// Near-equal models (student = teacher + 10⁻⁸ or 10⁻¹⁰ noise): 1 − ρᵢ² ~ 10⁻¹⁶, which the
    /// moments' Schur complement loses. The rows' upper ends hold the certified values (not below
    /// the MPFR brackets' lower ends; R exact inside), and decide T7 at the fast level where the
    /// moment form alone escalates; shrunk by a planted half, they miss.
    @Test("Near-equal models: T7's upper ends from the rows hold the certified values and decide fast; a halved bound misses")
    func nearEqualModelsFromRows() throws {
        var g = SeededGenerator(seed: 507)
        var checked = 0, decidedByRows = 0, halvedMissed = 0, nearlyMissed = 0
        for trial in 0..<16 {
            let teacher = ModelGenerator.model(labels: 6 + trial % 5, dimension: 2 + trial % 4, inputs: 30 + trial, condition: 3, using: &g)
            let pair = try ModelPair(ModelGenerator.perturb(teacher, by: trial % 2 == 0 ? 1e-8 : 1e-10, using: &g), teacher)
            for centred in [false, true] {
                let moments = try #require(pair.fastT7Spectra(centred: centred))
                let rows = try #require(pair.fastT7SpectraFromRows(centred: centred))
                let certified = try #require(try pair.certifiedT7Spectra(centred: centred))
                #expect(Rational(exactly: rows.residual.lo)! <= certified.residual && certified.residual <= Rational(exactly: rows.residual.hi)!)
                // Only brackets with a positive lower end test an upper end (0 ≤ anything).
                for (q, lower) in zip(rows.oneMinusRhoSquared, certified.qLower) where lower.sign > 0 {
                    #expect(Rational(exactly: q.hi)! >= lower, "trial \(trial): \(q.hi) below \(lower.doubleValue)")
                    checked += 1
                }
                // E_up planted 50 % and 1 % too small: the upper ends then fall below the certified
                // brackets (or, contradicting the moment form, the spectra are refused).
                for (scale, count) in [(0.5, 0), (0.99, 1)] {
                    let planted = moments.tightened(rows: pair.first.embeddings, pair.second.embeddings, weights: pair.fastWeights(),
                                                    centred: centred, plantedScale: scale)
                    let missed = planted.map { zip($0.oneMinusRhoSquared, certified.qLower).contains { Rational(exactly: $0.hi)! < $1 } } ?? true
                    if missed { if count == 0 { halvedMissed += 1 } else { nearlyMissed += 1 } }
                }
                let d = try #require(pair.fastLogitDistanceSquared())
                let statement = T7CanonicalCorrelationBound(.traceBound, centred: centred)
                if statement.fastVerdict(moments, logitDistanceSquared: d) == nil, let v = try statement.fastCertify(pair) {
                    #expect(v.outcome == .holds && v.level == .fastEnclosure)
                    decidedByRows += 1
                }
            }
        }
        #expect(checked >= 40 && decidedByRows >= 24, "\(checked) values with a positive bracket, \(decidedByRows) of 32 decided by the rows")
        #expect(halvedMissed >= 24 && nearlyMissed >= 24, "E_up planted too small missed on only \(halvedMissed) (½) and \(nearlyMissed) (0.99) of 32")
    }

    /// F × 2^p, G × 2^−p on the teacher and the reverse on the student leave every logit, ρ and μ
    /// as they are; the moments M₂₂ ~ 2^∓1200 are beyond the Double range. The Double
    /// estimates placing the brackets were formed from M₂₂ in Double (0 or ∞: "Cholesky: the
    /// matrix is not positive definite"), so certification failed on every T7 form.
    @Test("Certified on models scaled apart by 2^±1200, with the unscaled pair's sides", arguments: [600, -600])
    func scaledApart(power: Int) throws {
        var g = SeededGenerator(seed: 506)
        let teacher = ModelGenerator.model(labels: 8, dimension: 3, inputs: 60, using: &g)
        let pair = try ModelPair(teacher, ModelGenerator.perturb(teacher, by: 0.1, using: &g))
        let apart = try ModelPair(ConceptTests.scaled(pair.first, power), ConceptTests.scaled(pair.second, -power))
        var checked = 0
        for (form, centred) in Self.variants {
            let statement = T7CanonicalCorrelationBound(form, centred: centred)
            let (a, b) = (try statement.certify(pair), try statement.certify(apart))
            #expect(b.outcome == .holds && b.isCertified, "\(form) centred \(centred): \(b.outcome) \(b.level)")
            #expect(a.outcome == b.outcome && abs(a.lhs - b.lhs) <= 1e-12 * abs(a.lhs) && abs(a.rhs - b.rhs) <= 1e-12 * abs(a.rhs),
                    "\(form) centred \(centred): \(a.lhs) ≤ \(a.rhs) against \(b.lhs) ≤ \(b.rhs)")
            checked += 1
        }
        #expect(checked == 4)
    }

    /// k = 2, d₂ = 2: the teacher's centred logits span one direction, so μ_{d₂} = 0 exactly and
    /// the corollary is inapplicable; rounding leaves μ_{d₂} near 10⁻³⁰ in Double on some pairs,
    /// and the screen said "holds" there (right side 10³⁰).
    @Test("T7's corollary screen is inapplicable whenever d₂ ≥ k, whatever rounding leaves in μ_{d₂}")
    func corollaryBeyondTheLabels() throws {
        var roundedPositive = 0, checked = 0
        for seed in UInt64(520)..<UInt64(540) {
            var g = SeededGenerator(seed: seed)
            let (f, u) = (g.gaussianMatrix(rows: 30, columns: 2), g.gaussianMatrix(rows: 2, columns: 2))
            let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u),
                                     SoftmaxModel(embeddings: f + 0.1 * g.gaussianMatrix(rows: 30, columns: 2), unembeddings: u))
            let statement = T7CanonicalCorrelationBound(.corollary)
            if let mu = try statement.terms(pair).mu.last, mu > 0 { roundedPositive += 1 }
            #expect(try statement.screen(pair).outcome == .inapplicable, "seed \(seed)")
            checked += 1
        }
        #expect(checked == 20 && roundedPositive > 0, "\(roundedPositive) of \(checked) pairs with μ_{d₂} > 0 in Double")
    }

    @Test("Tight case: ratio 1, certified; a planted constant just below 1 is certified violated")
    func tight() throws {
        let pair = try Self.tightPair(seed: 505)
        let v = try T7CanonicalCorrelationBound().screen(pair)
        #expect(abs(v.ratio - 1) < 1e-10, "ratio \(v.ratio)")
        // Certified on the pair's exact Doubles: T7 holds for every pair, here at ratio 1.
        let certified = try T7CanonicalCorrelationBound().certify(pair)
        #expect(certified.outcome == .holds && certified.isCertified && abs(certified.ratio - 1) < 1e-9,
                "\(certified.outcome) \(certified.level) \(certified.ratio)")
        // A constant 10⁻⁶ too small is caught, certified: the equality case is that sharp.
        let planted = try T7CanonicalCorrelationBound(.traceBound, constantScale: 1 - 1e-6).certify(pair)
        #expect(planted.outcome == .violated && planted.isCertified, "\(planted.outcome) \(planted.level) \(planted.ratio)")
    }
}

/// A pair whose logits differ by ~10⁻²⁰⁰ (one embedding column at 10⁻²⁰⁰, doubled in the
/// student): d_logit² ≈ 10⁻⁴⁰⁰ exactly, KL below every enclosure's resolution. With the
/// constant planted at 10⁻¹⁰ the statement is false (ratio ~10⁶); the certificate must not
/// say "holds" (it did, reading a NaN end of the log right side as a pass).
@Suite("T6 when KL is below the enclosures' resolution")
struct T6UnresolvedKLTests {
    @Test func aFalsePlantedStatementIsNeverCertifiedToHold() throws {
        var g = SeededGenerator(seed: 61)
        var f = g.gaussianMatrix(rows: 30, columns: 3)
        for i in 0..<30 { f[i, 2] *= 1e-200 }
        var f2 = f
        for i in 0..<30 { f2[i, 2] *= 2 }
        let u = g.gaussianMatrix(rows: 5, columns: 3)
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: u), SoftmaxModel(embeddings: f2, unembeddings: u))
        var checked = 0
        for form in T6KLBound.Form.allCases {
            let v = try T6KLBound(form, constantScale: 1e-10).certify(pair)
            #expect(v.outcome != .holds, "\(form): \(v.outcome) (\(v.certificate ?? ""))")
            checked += 1
        }
        #expect(checked == 4)
    }
}
