import Numerics
import Testing
@testable import Theory

/// T11 (THEORY.md §8, Proofs/T11-concept-transfer.md): the teacher probe and its
/// transport disagree on at most P_w(|m| < γ) + vᵀΣ_δv/γ² of the inputs.
@Suite("T11 concept transfer")
struct T11Tests {
    /// A probe drawn from the generator: random direction, bias at a random input's margin
    /// plus a random offset (so some margins are near 0).
    static func randomProbe(_ pair: ModelPair, _ g: inout SeededGenerator) -> ProbeDirection {
        let d = pair.first.dimension
        let u = (0..<d).map { _ in g.gaussian() }
        let anchor = pair.first.embeddings.row(g.int(in: 0...(pair.first.inputCount - 1)))
        let bias = -zip(u, anchor).reduce(0) { $0 + $1.0 * $1.1 } + 0.1 * g.gaussian()
        return ProbeDirection(weights: u, bias: bias)
    }

    @Test("Against a direct computation on random pairs and probes: the bound is never exceeded, at any γ")
    func againstDirect() throws {
        var g = SeededGenerator(seed: 1101)
        var checked = 0, disagreeing = 0
        for c in corpus(seed: 1102, count: 80, dimensions: 1...6, maxLabels: 14, maxInputs: 60) {
            let pair = c.pair
            guard try pair.firstDiversity().unembeddingsDiverse else { continue }
            let (g1, g2) = pair.centredUnembeddings
            let pinv = try g1.pseudoInverse()                      // G̃₁⁺ by the SVD, independently
            let a = pinv.multiplied(by: g2)
            let delta = pair.centredLogits(ofFirst: true) - pair.centredLogits(ofFirst: false)
            for probe in T11ConceptTransferBound.harnessProbes(pair) + [Self.randomProbe(pair, &g)] {
                let t = try ConceptTransfer(pair, probe: probe)
                let v = pinv.transposed.applied(to: probe.weights)  // v = (G̃₁⁺)ᵀu
                let e = delta.applied(to: v)                         // vᵀδ from the logits
                let w = pair.weights
                let residual = zip(w, e).reduce(0) { $0 + $1.0 * $1.1 * $1.1 }
                let m = probe.scores(pair.first.embeddings)
                let s = ProbeDirection(weights: a.transposed.applied(to: probe.weights), bias: probe.bias).scores(pair.second.embeddings)
                let direct = zip(w, zip(m, s)).reduce(0) { $0 + (($1.1.0 > 0) != ($1.1.1 > 0) ? $1.0 : 0) }
                let scale = zip(w, zip(m, s)).reduce(0) { $0 + $1.0 * ($1.1.0 * $1.1.0 + $1.1.1 * $1.1.1) }
                #expect(abs(t.residualSecondMoment - residual) <= 1e-9 * max(residual, 1e-12 * scale), c.comment)
                // Inputs whose score is within rounding of 0 on either side may be counted either
                // way; every other input must agree with the direct count.
                let unsure = zip(w, zip(m, s)).reduce(0) { total, x in
                    let tiny = 1e-9 * (1 + scale.squareRoot())
                    return total + (abs(x.1.0) <= tiny || abs(x.1.1) <= tiny ? x.0 : 0)
                }
                #expect(abs(t.disagreement - direct) <= unsure + 1e-12, c.comment)
                #expect(t.disagreementUpper >= direct - 1e-12 && t.disagreementUpper <= direct + unsure + 1e-12, c.comment)
                let vNorm = v.reduce(0) { $0 + $1 * $1 }
                #expect(abs(t.transportedNormSquared - vNorm) <= 1e-8 * vNorm, c.comment)
                // The chain vᵀΣ_δv ≤ ‖v‖²d² ≤ ‖u‖²d²/σ².
                #expect(t.residual(.covariance) <= t.residual(.scalar) * (1 + 1e-9) + 1e-300)
                #expect(t.residual(.scalar) <= t.residual(.sigma) * (1 + 1e-9) + 1e-300)
                // The statement at every margin as γ, and at the reported best γ.
                for gamma in m.map(abs).filter({ $0 > 0 }) + [t.bound(residual: residual).gamma].compactMap({ $0 }) {
                    let below = zip(w, m).reduce(0) { $0 + (abs($1.1) < gamma ? $1.0 : 0) }
                    #expect(direct <= below + residual / (gamma * gamma) + unsure + 1e-12, c.comment)
                    checked += 1
                }
                if t.disagreement > 0 { disagreeing += 1 }
            }
        }
        #expect(checked > 5_000, "only \(checked) (pair, probe, γ) checks")
        #expect(disagreeing > 20, "only \(disagreeing) probes disagreed anywhere: the bound was barely exercised")
    }

    @Test("The best γ is the minimum of P_w(|m| < γ) + r/γ² over all γ (checked on a fine grid)")
    func bestGamma() {
        var g = SeededGenerator(seed: 1103)
        var compared = 0
        for _ in 0..<50 {
            let n = g.int(in: 1...30)
            let margins = (0..<n).map { _ in g.uniform() < 0.2 ? 0 : g.gaussian() }
            let weights = (0..<n).map { _ in 0.1 + g.uniform() }
            let r = g.uniform() * 0.05
            let best = ConceptTransfer.bestGamma(margins: margins, weights: weights, residual: r)
            let total = weights.reduce(0, +)
            for step in 1...400 {
                let gamma = Double(step) / 100
                let value = zip(weights, margins).reduce(0) { $0 + (abs($1.1) < gamma ? $1.0 : 0) } + r / (gamma * gamma)
                #expect(best.value <= value + 1e-12)
                compared += 1
            }
            #expect(best.value <= total + 1e-12)
            // On each interval between consecutive |mᵢ| the sum decreases in γ, so its infimum is
            // at some γ = |mᵢ| (with P_w(|m| < |mᵢ|)) or, as γ → ∞, the total weight.
            let candidates = margins.map(abs).filter { $0 > 0 }.map { gamma in
                zip(weights, margins).reduce(0) { $0 + (abs($1.1) < gamma ? $1.0 : 0) } + r / (gamma * gamma)
            }
            let exact = min(total, candidates.min() ?? total)
            #expect(abs(best.value - exact) <= 1e-12 * max(1, exact), "\(best.value) vs \(exact)")
            #expect(best.gamma != nil || abs(best.value - total) <= 1e-12, "no γ, value \(best.value), total \(total)")
            if let gamma = best.gamma {
                let value = zip(weights, margins).reduce(0) { $0 + (abs($1.1) < gamma ? $1.0 : 0) } + r / (gamma * gamma)
                #expect(abs(value - best.value) <= 1e-12)
            }
        }
        #expect(compared == 20_000)
    }

    @Test("The equality case: ratio exactly 1, certified; scaled by 0.99 (and 0.999) it is certified violated",
          arguments: [UInt64(1104), 1105, 1106])
    func equalityCase(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        let teacher = ModelGenerator.model(labels: 9, dimension: 4, inputs: 40, using: &g)
        let pair = ModelGenerator.conceptBoundaryPair(teacher, using: &g)
        let probe = ProbeDirection(weights: [1, 0, 0, 0], bias: 0)
        // In doubles the disagreeing inputs' transported scores are ±rounding (A₁₂ ≈ I):
        // exactly they are 0, so the probes disagree exactly on the chosen inputs.
        #expect(try ExactConceptTransfer(pair.exact(), probe: probe).disagreement.sign > 0)
        let holds = try T11ConceptTransferBound(.covariance, probes: { _ in [probe] }).certify(pair)
        #expect(holds.level == .exact && holds.outcome == .holds && holds.ratio == 1, "\(holds)")
        for scale in [0.99, 0.999] {
            let planted = try T11ConceptTransferBound(.covariance, constantScale: scale, probes: { _ in [probe] }).certify(pair)
            #expect(planted.level == .exact && planted.outcome == .violated, "\(planted)")
            // `check` (screen, then certificate on a near-tie or crossing) reaches the same.
            let checked = try T11ConceptTransferBound(.covariance, constantScale: scale, probes: { _ in [probe] }).check(pair)
            #expect(checked.isCertified && checked.outcome == .violated)
        }
        for form in [ConceptTransfer.Form.scalar, .sigma] {
            let v = try T11ConceptTransferBound(form, probes: { _ in [probe] }).certify(pair)
            #expect(v.level == .exact && v.outcome == .holds, "\(form): \(v)")
        }
    }

    /// The screen named every γ = ∞ "every margin 0", also where the margins are far from 0 and
    /// the residual is too large for any γ to give less than the total weight.
    @Test("γ = ∞ from a large residual: the screen's constant names no cause it did not check")
    func infiniteGammaFromLargeResidual() throws {
        var g = SeededGenerator(seed: 1130)
        let teacher = ModelGenerator.model(labels: 9, dimension: 3, inputs: 30, using: &g)
        let student = try SoftmaxModel(embeddings: g.gaussianMatrix(rows: 30, columns: 3), unembeddings: g.gaussianMatrix(rows: 9, columns: 3, scale: 1e3))
        let pair = try ModelPair(teacher, student)
        let u = [1.0, -0.5, 0.25], m = (0..<30).map { i in zip(u, teacher.embeddings.row(i)).reduce(0) { $0 + $1.0 * $1.1 } }
        let probe = ProbeDirection(weights: u, bias: 1 - m.min()!)   // every margin ≥ 1
        var checked = 0
        for form in ConceptTransfer.Form.allCases {
            let v = try T11ConceptTransferBound(form, probes: { _ in [probe] }).screen(pair)
            #expect(v.outcome == .holds && v.constantName == "γ = ∞" && abs(v.rhs - 1) < 1e-12, "\(form): \(v.constantName), rhs \(v.rhs)")
            checked += 1
        }
        #expect(checked == 3)
    }

    @Test("Decided by the fast level: models 10⁻¹⁴ apart with no margin near 0 (a right side of rounding size, ≥ 0), and γ = ∞ (every margin within rounding of 0)")
    func fastDecidesNearEqualModels() throws {
        var g = SeededGenerator(seed: 1120)
        var decided = 0
        for _ in 0..<4 {
            let teacher = ModelGenerator.model(labels: 9, dimension: 3, inputs: 30, using: &g)
            let pair = try ModelPair(teacher, ModelGenerator.perturb(teacher, by: 1e-14, using: &g))
            // A probe whose margins are all at least 1: no input can disagree.
            let u = [1.0, -0.5, 0.25], m = (0..<30).map { i in zip(u, teacher.embeddings.row(i)).reduce(0) { $0 + $1.0 * $1.1 } }
            let probe = ProbeDirection(weights: u, bias: 1 - m.min()!)
            #expect(try pair.logitDistanceSquared() < 1e-20)
            for form in ConceptTransfer.Form.allCases {
                let v = try #require(try T11ConceptTransferBound(form, probes: { _ in [probe] }).fastCertify(pair), "\(form) escalated")
                // Decided at a finite γ (the residual term counts), with nothing disagreeing.
                #expect(v.level == .fastEnclosure && v.outcome == .holds && v.lhs == 0 && v.constantName.contains("/γ² at γ ="), "\(form): \(v)")
                // A point enclosure of the disagreement: no Double count beside it.
                #expect(v.certificate?.contains("in Double") == false, "\(v.certificate ?? "")")
                decided += 1
            }
        }
        #expect(decided == 12)
        // Every input on one point, the probe's hyperplane through it: each margin is the rounding
        // of uᵀf − uᵀf, so each input may disagree and the best γ is ∞ (the right side is 1).
        let f = Matrix(rows: 12, columns: 2) { _, j in j == 0 ? 0.3 : 0.7 }
        let teacher = try SoftmaxModel(embeddings: f, unembeddings: g.gaussianMatrix(rows: 5, columns: 2, scale: 1))
        let student = try SoftmaxModel(embeddings: f, unembeddings: teacher.unembeddings + g.gaussianMatrix(rows: 5, columns: 2, scale: 0.1))
        let pair = try ModelPair(teacher, student)
        let probe = ProbeDirection(weights: [0.1, 0.3], bias: -(0.1 * 0.3 + 0.3 * 0.7))
        let holds = try #require(try T11ConceptTransferBound(.covariance, probes: { _ in [probe] }).fastCertify(pair))
        // Every input may disagree (the left side's upper end is all the weight, 1).
        #expect(holds.level == .fastEnclosure && holds.outcome == .holds && holds.lhs == 1 && holds.rhs == 1 && holds.constantName == "γ = ∞", "\(holds)")
        // The shown left side is that upper end; the Double count is given beside it.
        let point = try ConceptTransfer(pair, probe: probe).disagreement / pair.weights.reduce(0, +)
        #expect(holds.certificate?.contains("P_w(ĉ₁ ≠ ĉ₂) = \(point) in Double") == true, "\(holds.certificate ?? "")")
        // Planted at 0.5, the inputs that only may disagree decide nothing: escalated, never "holds".
        #expect(try T11ConceptTransferBound(.covariance, constantScale: 0.5, probes: { _ in [probe] }).fastCertify(pair) == nil)
    }

    @Test("On an exact orbit pair (d_logit = 0) the transported probe agrees with the teacher's on every input, exactly")
    func orbitTransport() throws {
        var compared = 0
        for seed in [UInt64(1107), 1108, 1109] {
            let orbit = try TightCases.exactOrbit(labels: 7, dimension: 3, inputs: 15, seed: seed)
            let pair = try ModelPair(orbit.model, orbit.image)
            let exact = try pair.exact()
            #expect(exact.logitDistanceSquared.isZero)
            var g = SeededGenerator(seed: seed)
            for probe in [Self.randomProbe(pair, &g), ProbeDirection(weights: [0.5, -0.25, 1], bias: 0.125)] {
                let e = try ExactConceptTransfer(exact, probe: probe)
                #expect(e.margins == e.scores)
                #expect(e.disagreement.isZero && e.residualSecondMoment.isZero)
                let v = try T11ConceptTransferBound(.covariance, probes: { _ in [probe] }).certify(pair)
                #expect(v.level == .exact && v.outcome == .holds && v.lhs == 0)
                compared += 1
            }
        }
        #expect(compared == 6)
    }

    @Test("The certificate's residual, E_w(m − s)², equals vᵀΣ_δv formed from the exact logits (T3's identity)")
    func certificateIdentity() throws {
        var compared = 0
        for c in corpus(seed: 1110, count: 14, dimensions: 1...4, maxLabels: 8, maxInputs: 16,
                        generators: [.independent, .perturbed, .boundary, .skewedWeights]) {
            let exact = try c.pair.exact()
            let gram = exact.first.centredUnembeddings.weightedGram()
            guard try gram.isPositiveDefinite() else { continue }
            for probe in T11ConceptTransferBound.harnessProbes(c.pair) {
                let e = try ExactConceptTransfer(exact, probe: probe)
                let x = try e.solved(gram: gram), g = exact.first.centredUnembeddings
                let v = (0..<g.rows).map { y in Rational.sum((0..<g.columns).map { g[y, $0] * x[$0] }) }
                let delta = exact.logitDifference
                let fromLogits = Rational.sum(exact.weights.indices.map { i in
                    exact.weights[i] * Rational.sum(v.indices.map { v[$0] * delta[i, $0] }).squared
                })
                #expect(fromLogits == e.residualSecondMoment, c.comment)
                compared += 1
            }
        }
        #expect(compared >= 40)
    }

    @Test("G̃₁ without full column rank: T11 is inapplicable (σ_min = 0), not a number")
    func rankDeficient() throws {
        let g = try Matrix([[1, 2], [2, 4], [3, 6], [0, 0]])   // rank 1 after centring
        let teacher = try SoftmaxModel(embeddings: try Matrix([[1, 0], [0, 1], [1, 1]]), unembeddings: g)
        let pair = try ModelPair(teacher, teacher)
        #expect(try T11ConceptTransferBound().screen(pair).outcome == .inapplicable)
        #expect(try T11ConceptTransferBound().certify(pair).outcome == .inapplicable)
        #expect(throws: ModelError.self) { try ConceptTransfer(pair, probe: ProbeDirection(weights: [1, 0], bias: 0)) }
    }
}
