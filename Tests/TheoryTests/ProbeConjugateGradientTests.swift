@testable import Numerics
import Testing
@testable import Theory

/// The probes' Newton systems solved by preconditioned conjugate gradients (from
/// `ConjugateGradients.minimumParameters` parameters on): the same optima as forming every
/// step's Hessian, in fewer Hessians.
@Suite("Probes by conjugate gradients")
struct ProbeConjugateGradientTests {
    /// N inputs of d correlated columns (a random mixing, one column ×10³): the Hessians are far
    /// from the identity, so the preconditioner matters.
    static func embeddings(rows n: Int, columns d: Int, seed: UInt64) -> Matrix {
        var g = SeededGenerator(seed: seed)
        let raw = g.gaussianMatrix(rows: n, columns: d)
        var mixing = g.gaussianMatrix(rows: d, columns: d)
        for j in 0..<d { mixing[j, j] += 3 }
        var f = raw.multiplied(by: mixing)
        for i in 0..<n { f[i, 1] *= 1e3 }
        return f
    }

    /// Noisy, near-separable and rare concepts on a direction of f.
    static func concepts(_ f: Matrix, seed: UInt64) -> [(name: String, values: [Bool])] {
        var g = SeededGenerator(seed: seed)
        let u = (0..<f.columns).map { _ in g.gaussian() }
        let score = f.applied(to: u)
        let spread = (score.map { $0 * $0 }.reduce(0, +) / Double(score.count)).squareRoot()
        let sorted = score.sorted()
        return [("noisy", score.map { $0 + 0.5 * spread * g.gaussian() > 0 }),
                ("near-separable", score.map { $0 > 0.1 * spread }),
                ("rare", score.map { $0 > sorted[sorted.count * 97 / 100] })]
    }

    static func lognormalWeights(_ n: Int, seed: UInt64) -> [Double] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in (1.5 * g.gaussian()).exp }
    }

    /// Largest coefficient difference relative to the largest coefficient (at least 1).
    static func difference(_ a: LinearProbe, _ b: LinearProbe) -> Double {
        let top = max(1, a.coefficients.map(abs).max() ?? 0)
        return zip(a.coefficients, b.coefficients).map { abs($0 - $1) }.max()! / top
    }

    @Test("Fits on every row: the optimum of every step's Hessian, with fewer Hessians")
    func sameOptimum() throws {
        let f = Self.embeddings(rows: 2_400, columns: 160, seed: 6901)
        #expect(ConjugateGradients.uses(parameters: f.columns + 1))
        var checked = 0, hessians = (iterative: 0, direct: 0)
        for weights in [nil, Self.lognormalWeights(f.rows, seed: 6902)] {
            for concept in Self.concepts(f, seed: 6903) {
                let direct = try LinearProbe.fitted(embeddings: f, concept: concept.values, weights: weights, conjugateGradients: false)
                let iterative = try LinearProbe.fitted(embeddings: f, concept: concept.values, weights: weights)
                let label = "\(concept.name), \(weights == nil ? "uniform" : "log-normal") weights"
                #expect(Self.difference(iterative.probe, direct.probe) <= 1e-10,
                        "\(label): coefficients \(Self.difference(iterative.probe, direct.probe)) apart")
                #expect(iterative.probe.predictions(f) == direct.probe.predictions(f), "\(label)")
                #expect(direct.counts.products == 0 && direct.counts.hessians == direct.counts.newtonSteps, "\(label): \(direct.counts)")
                #expect(iterative.counts.products > 0 && iterative.counts.hessians < iterative.counts.newtonSteps,
                        "\(label): \(iterative.counts)")
                hessians.iterative += iterative.counts.hessians
                hessians.direct += direct.counts.hessians
                checked += 1
            }
        }
        #expect(checked == 6)
        #expect(2 * hessians.iterative <= hessians.direct, "Hessians formed: \(hessians)")
    }

    @Test("Folds preconditioned by the fit on every row: the same held-out predictions, fewer Hessians")
    func sameFolds() throws {
        let f = Self.embeddings(rows: 2_000, columns: 140, seed: 6904)
        let weights = Self.lognormalWeights(f.rows, seed: 6905)
        var checked = 0
        for concept in Self.concepts(f, seed: 6906) {
            let z = concept.values
            let all = try LinearProbe.fitted(embeddings: f, concept: z, weights: weights)
            let curvature = try #require(all.curvature, "\(concept.name): no curvature to pass on")
            var hessians = (preconditioned: 0, direct: 0), folds = 0
            func predictions(_ preconditioned: Bool) throws -> [Bool] {
                try LinearProbe.crossValidatedPredictions(rows: f.rows, folds: 5, seed: 7) { train, test in
                    let fit = try LinearProbe.fitted(embeddings: f.selectingRows(train), concept: train.map { z[$0] },
                                                     weights: train.map { weights[$0] }, start: all.probe,
                                                     curvature: preconditioned ? curvature : nil, conjugateGradients: preconditioned)
                    if preconditioned { hessians.preconditioned += fit.counts.hessians; folds += 1 } else { hessians.direct += fit.counts.hessians }
                    return fit.probe.predictions(f.selectingRows(test))
                }
            }
            #expect(try predictions(true) == predictions(false), "\(concept.name)")
            #expect(folds == 5)
            #expect(hessians.preconditioned < hessians.direct, "\(concept.name): Hessians formed \(hessians)")
            // The public path is the preconditioned one, to the same accuracy.
            let (probe, heldOut) = try LinearProbe.fitAndCrossValidate(embeddings: f, concept: z, weights: weights, folds: 5, seed: 7)
            #expect(probe.coefficients == all.probe.coefficients)
            #expect(heldOut == LinearProbe.agreement(try predictions(true), z, weights: weights))
            checked += 1
        }
        #expect(checked == 3)
    }

    @Test("Conjugate gradients: the tolerance met, nil where the allowance cannot meet it")
    func solver() throws {
        var g = SeededGenerator(seed: 6907)
        let p = 160
        let a = g.gaussianMatrix(rows: 400, columns: p)
        var h = a.gram()
        for j in 0..<p { h[j, j] += 1 }
        let rhs = (0..<p).map { _ in g.gaussian() }
        func residual(_ s: [Double]) -> Double {
            let hs = h.applied(to: s)
            return zip(hs, rhs).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot() / rhs.map { $0 * $0 }.reduce(0, +).squareRoot()
        }
        // A nearby matrix (0.2 % on every other row) preconditions well enough for p/32 = 5 products.
        var nearby = a
        for i in stride(from: 0, to: 400, by: 2) { for j in 0..<p { nearby[i, j] *= 1.002 } }
        var hNear = nearby.gram()
        for j in 0..<p { hNear[j, j] += 1 }
        let good = LinearProbe.Curvature(factor: try LUDecomposition(hNear), scales: [Double](repeating: 1, count: p - 1))
        var products = 0
        let s = try #require(ConjugateGradients.solve(rhs, tolerance: 1e-10, preconditioner: good) { products += 1; return h.applied(to: $0) })
        #expect(residual(s) <= 1e-10 * 1.01, "residual \(residual(s))")
        #expect(products >= 1 && products <= ConjugateGradients.maximumProducts(parameters: p))
        // The identity as preconditioner on this ill-conditioned H: out of reach in p/32 products.
        let identity = LinearProbe.Curvature(factor: try LUDecomposition(Matrix.identity(p)), scales: [Double](repeating: 1, count: p - 1))
        #expect(ConjugateGradients.solve(rhs, tolerance: 1e-10, preconditioner: identity) { h.applied(to: $0) } == nil)
        // Loose tolerances are met loosely, tight ones tightly.
        let loose = try #require(ConjugateGradients.solve(rhs, tolerance: 0.1, preconditioner: good) { h.applied(to: $0) })
        #expect(residual(loose) <= 0.1 && residual(loose) > 1e-10)
        // The forcing term: 0.1 at first, then 0.9·(decrease)² within [1e−10, 0.1].
        #expect(ConjugateGradients.forcing(gradientNorm: 1, previous: nil) == 0.1)
        #expect(abs(ConjugateGradients.forcing(gradientNorm: 1e-3, previous: 1) - 0.9e-6) <= 1e-21)
        #expect(ConjugateGradients.forcing(gradientNorm: 1e-9, previous: 1) == ConjugateGradients.finalTolerance)
        #expect(ConjugateGradients.forcing(gradientNorm: 2, previous: 1) == 0.1)
    }

    @Test("The fused weighted Gram product equals Xᵀ(c ∘ Xv) across row blocks")
    func weightedGramProduct() throws {
        var g = SeededGenerator(seed: 6908)
        // More rows than one block holds (gramVectorBlock / columns), and a partial last block.
        let (n, d) = (Matrix.gramVectorBlock / 50 * 2 + 37, 50)
        let x = g.gaussianMatrix(rows: n, columns: d)
        let v = (0..<d).map { _ in g.gaussian() }, c = (0..<n).map { _ in g.uniform() }
        let xv = x.applied(to: v)
        let expected = x.transposedApplied(to: zip(c, xv).map { $0 * $1 })
        let fused = x.weightedGramApplied(to: v, weights: c)
        let scale = expected.map(abs).max()!
        #expect(zip(fused, expected).allSatisfy { abs($0 - $1) <= 1e-12 * scale }, "\(zip(fused, expected).map { abs($0 - $1) }.max()!)")
    }
}
