import Numerics
import Testing
@testable import Theory

@Suite("T1 logit metric")
struct T1Tests {
    @Test("Triangle inequality on random triples, screened and certified", arguments: [UInt64(101)])
    func triangle(seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        for i in 0..<60 {
            let size = CaseSize.random(dimensions: 1...6, maxLabels: 12, maxInputs: 20, using: &g)
            let models = (0..<3).map { _ in
                ModelGenerator.model(labels: size.labels, dimension: g.int(in: 1...size.dimension),
                                     inputs: size.inputs, using: &g)
            }
            // Half the triples are near-collinear, where the inequality is nearly tight.
            let third = i % 2 == 0 ? models[2] : ModelGenerator.perturb(models[1], by: 1e-9, using: &g)
            let screen = try T1LogitMetric().screenTriangle(models[0], models[1], third)
            #expect(screen.outcome == .holds || screen.needsCertification, "seed \(seed) triple \(i)")
            let certified = try T1LogitMetric().certifyTriangle(models[0], models[1], third)
            #expect(certified.outcome == .holds, "seed \(seed) triple \(i)")
        }
    }

    @Test("Symmetry and zero-iff-equal-conditionals, exactly")
    func symmetryAndZero() throws {
        for c in smallCorpus(seed: 102, count: 20) {
            #expect(try T1LogitMetric().certifySymmetry(c.pair).outcome == .holds, c.comment)
            #expect(try T1LogitMetric().certifyZeroIffEqualConditionals(c.pair).outcome == .holds, c.comment)
        }
        let orbit = try TightCases.exactOrbit(labels: 6, dimension: 3, inputs: 9, seed: 103)
        let pair = try ModelPair(orbit.model, orbit.image)
        let zero = try T1LogitMetric().certifyZeroIffEqualConditionals(pair)
        #expect(zero.outcome == .holds && zero.exactLHS == "0")
    }

    @Test("Orbit invariance: d_logit(M, M·(A, c)) = 0 exactly", arguments: [UInt64(104), 105, 106])
    func orbitInvariance(seed: UInt64) throws {
        let orbit = try TightCases.exactOrbit(labels: 7, dimension: 3, inputs: 12, seed: seed)
        #expect(try ExactModelPair(ModelPair(orbit.model, orbit.image)).logitDistanceSquared.isZero)
        // A mean shift of the unembeddings alone changes the logits by a constant per row.
        let shifted = try orbit.model.acted(by: .identity(3), shift: [0.25, -1, 3])
        #expect(try ExactModelPair(ModelPair(orbit.model, shifted)).logitDistanceSquared.isZero)
    }
}

@Suite("Exact d_logit² on integers")
struct ExactLogitDistanceTests {
    @Test("The integer path equals the rational twin's d_logit², bit for bit, on every generator")
    func agreesWithRationals() throws {
        for c in corpus(seed: 131, count: 70, dimensions: 1...6, maxLabels: 12, maxInputs: 30) {
            let fast = try #require(ExactLogitDistance.squared(c.pair.first.embeddings, c.pair.first.unembeddings,
                                                               c.pair.second.embeddings, c.pair.second.unembeddings,
                                                               weights: c.pair.first.givenWeights), c.comment)
            #expect(fast == (try ExactModelPair(exactly: c.pair).logitDistanceSquared), c.comment)
        }
    }

    @Test("Centred logit differences: exact centring rounded once, within 2 ulps, also for orbit pairs")
    func centredDifferences() throws {
        for c in corpus(seed: 132, count: 60, dimensions: 1...6, maxLabels: 12, maxInputs: 30,
                        generators: [.orbit, .perturbed, .independent, .scaled]) {
            let p = c.pair
            let d = try #require(ExactLogitDistance.centredDifferences(p.first.embeddings, p.first.unembeddings,
                                                                       p.second.embeddings, p.second.unembeddings))
            let truth = try p.exact().logitDifference
            for t in d.storage.indices {
                let x = truth.entries[t].doubleValue
                #expect(abs(d.storage[t] - x) <= 2 * x.ulp, "\(c.comment) entry \(t): \(d.storage[t]) vs \(x)")
            }
        }
    }

    @Test("Logits whose products span beyond Int128 are summed in GMP integers, same value; zero logits give 0")
    func wideExponents() throws {
        let f = try Matrix([[1e30, 1e-30], [2, 3]]), g = try Matrix([[1, 1], [0.5, -2], [3, 1e-20]])
        let pair = try ModelPair(SoftmaxModel(embeddings: f, unembeddings: g),
                                 SoftmaxModel(embeddings: f, unembeddings: g.scalingRows(by: [1, 2, 3])))
        #expect(try pair.exactLogitDistanceSquared() == pair.exact().logitDistanceSquared)
        let zero = Matrix(rows: 2, columns: 2)
        #expect(ExactLogitDistance.squared(zero, g, zero, g, weights: [0.5, 0.5])?.isZero == true)
    }
}

@Suite("T2 identifiability")
struct T2Tests {
    @Test("Exact orbit: d_logit² = 0, recovered map equals the applied A exactly", arguments: [UInt64(111), 112, 113, 114])
    func exactRecovery(seed: UInt64) throws {
        let orbit = try TightCases.exactOrbit(labels: 8, dimension: 3, inputs: 10, seed: seed)
        let pair = try ModelPair(orbit.model, orbit.image)
        let verdict = try T2Identifiability().certify(pair)
        #expect(verdict.outcome == .holds, "\(verdict.certificate ?? "")")
        #expect(verdict.isCertified)
        // Pivot maps were compared (k = 8, d = 3: up to 25 nonsingular pairs, not none).
        let compared = verdict.certificate?.split(separator: " ").firstIndex(of: "pivot").flatMap { i in
            Int(verdict.certificate!.split(separator: " ")[i - 1]) }
        #expect((compared ?? 0) >= 10, "\(verdict.certificate ?? "")")
        // A₂₁ = G̃₂⁺G̃₁ maps the original's coordinates to the image's: it is A itself.
        let recovered = try ExactModelPair(pair.swapped).identifiabilityMap()
        #expect(recovered == (try RationalMatrix(exactly: orbit.a)))
        #expect(try ExactModelPair(pair).inSameClass())
    }

    /// T2's pivot comparison by the rows of R = G₁A − G₂ (L₁A = L₂, where L₁ is proven nonsingular) against the
    /// exact solve (L₁⁻¹L₂ = A): equal answers for the true map of each (p, S), for A₁₂ on exact
    /// orbit pairs (both "equal") and on independent pairs (both "differ"), and for a map one
    /// entry off by 2⁻⁶⁰ (both "differ"). A row comparison that always answered "equal" fails the
    /// independent pairs and the shifted maps.
    @Test("The pivot maps' comparison by residual rows agrees with the exact solve")
    func pivotComparisonByResidualRowsAgreesWithTheSolve() throws {
        var (checked, differing) = (0, 0)
        let cases = smallCorpus(seed: 117, count: 12, generators: [.orbit, .independent])
        for c in cases where c.pair.first.dimension == c.pair.second.dimension {
            let exact = try ExactModelPair(c.pair)
            guard let a12 = try? exact.identifiabilityMap() else { continue }
            let (pairs, _) = try ModelPair.pivotSubsets(.automatic(limit: 10, pivots: 5, subsetsPerPivot: 2),
                                                        labelCount: c.pair.first.labelCount, dimension: c.pair.first.dimension)
            for ps in pairs {
                guard T5PivotBound.fastPivotMatrices(c.pair, ps).0.isProvenNonsingular, let own = try? exact.pivotMap(ps) else { continue }
                var shifted = own
                shifted[0, 0] = own[0, 0] + Rational(1, 1 << 60)
                for (map, expected) in [(own, true), (shifted, false), (a12, own == a12)] {
                    let byProduct = try exact.pivotMap(ps, equals: map, residualRows: try exact.pivotResidualRows(map))
                    let bySolve = try exact.pivotMap(ps, equals: map, residualRows: nil)
                    #expect(byProduct == expected && bySolve == expected, "\(c.comment) p = \(ps.pivot)")
                    checked += 1
                    if !expected { differing += 1 }
                }
            }
        }
        #expect(checked >= 60 && differing >= 30, "\(checked) comparisons, \(differing) of maps that differ")
    }

    @Test("Double screen on generated orbit pairs", arguments: [UInt64(115)])
    func screenOrbits(seed: UInt64) throws {
        var holds = 0
        for c in corpus(seed: seed, count: 40, dimensions: 1...8, maxLabels: 30, generators: [.orbit]) {
            let v = try T2Identifiability(tolerance: 1e-6).screen(c.pair)
            #expect(v.outcome == .holds || v.outcome == .inapplicable, c.comment)
            if v.outcome == .holds { holds += 1 }
        }
        // Orbit pairs are T2's own case: most must be decided "holds", not set aside.
        #expect(holds >= 30, "only \(holds) of 40 orbit pairs held")
        // And certified exactly: the generator builds exact orbit images (dyadic maps) half the
        // time, so T2's certificate applies (before, every orbit pair was "inapplicable" to it).
        var certified = 0
        for c in corpus(seed: seed, count: 40, dimensions: 1...8, maxLabels: 30, generators: [.orbit]) {
            let v = try T2Identifiability().certify(c.pair)
            #expect(v.outcome != .violated, c.comment)
            if v.outcome == .holds && v.level == .exact { certified += 1 }
        }
        #expect(certified >= 12, "only \(certified) of 40 orbit pairs certified exactly")
    }

    @Test("A pair with different conditionals is outside T2's hypotheses")
    func inapplicable() throws {
        for c in smallCorpus(seed: 116, count: 5, generators: [.independent]) {
            #expect(try T2Identifiability().certify(c.pair).outcome == .inapplicable)
        }
    }

    /// `decide` asks `inapplicability`: "conditionals differ" proven by the fast d_logit² only
    /// where the exact level agrees (d_logit² ≠ 0 exactly), never on an exact orbit pair (d_logit²
    /// = 0 exactly, where T2 must be certified "holds"); near-equal pairs (10⁻¹⁴ apart, whose
    /// screen sees equal conditionals) are set aside too, proven fast or exactly, never kept.
    @Test("T2's fast 'conditionals differ' agrees with the exact level; exact orbit pairs are never set aside")
    func fastInapplicabilityAgreesWithTheExactLevel() throws {
        let statement = T2Identifiability()
        var provenFast = 0, orbitsHeld = 0, nearEqualSetAside = 0
        let generated = corpus(seed: 117, count: 60, dimensions: 1...6, maxLabels: 12, generators: [.orbit, .perturbed, .independent]).map(\.pair)
        var g = SeededGenerator(seed: 118)
        let nearEqual = try (0..<6).map { _ in
            let teacher = ModelGenerator.model(labels: 7, dimension: 3, inputs: 20, using: &g)
            return try ModelPair(teacher, ModelGenerator.perturb(teacher, by: 1e-14, using: &g))
        }
        let orbits = try (UInt64(119)..<123).map { seed in
            let orbit = try TightCases.exactOrbit(labels: 8, dimension: 3, inputs: 10, seed: seed)
            return try ModelPair(orbit.model, orbit.image)
        }
        for pair in generated + nearEqual + orbits {
            let asked = try statement.inapplicability(pair)
            let exactZero = pair.exactLogitDistanceSquared().isZero
            if asked?.level == .fastEnclosure {
                provenFast += 1
                let certified = try statement.certify(pair)
                #expect(!exactZero && certified.outcome == .inapplicable, "\(asked!.certificate ?? "")")
            }
            if exactZero {
                #expect(asked == nil, "an exact orbit pair set aside: \(asked?.certificate ?? "")")
                if try statement.decide(pair).outcome == .holds { orbitsHeld += 1 }
            }
        }
        for pair in nearEqual {
            #expect(try statement.screen(pair).outcome != .inapplicable, "the screen should see equal conditionals")
            if try statement.decide(pair).outcome == .inapplicable { nearEqualSetAside += 1 }
        }
        #expect(provenFast >= 30 && orbitsHeld >= 4 && nearEqualSetAside == nearEqual.count,
                "\(provenFast) proven fast, \(orbitsHeld) orbit pairs held, \(nearEqualSetAside) near-equal set aside")
    }

}
