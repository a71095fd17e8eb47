@testable import Numerics
import Foundation
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
                // Both stop at a step below 10⁻¹⁰ solved to the LU's accuracy: they agree to about that.
                #expect(Self.difference(iterative.probe, direct.probe) <= 1e-10,
                        "\(label): coefficients \(Self.difference(iterative.probe, direct.probe)) apart")
                #expect(iterative.probe.predictions(f) == direct.probe.predictions(f), "\(label)")
                #expect(direct.counts.products == 0 && direct.counts.hessians == direct.counts.newtonSteps, "\(label): \(direct.counts)")
                #expect(iterative.counts.newtonSteps < 50 && direct.counts.newtonSteps < 50, "\(label): out of Newton steps")
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

    @Test("Folds preconditioned by the fit on every row: the same held-out predictions, never more Hessians than without it")
    func sameFolds() throws {
        let f = Self.embeddings(rows: 2_000, columns: 140, seed: 6904)
        let weights = Self.lognormalWeights(f.rows, seed: 6905)
        var checked = 0
        for concept in Self.concepts(f, seed: 6906) {
            let z = concept.values
            let all = try LinearProbe.fitted(embeddings: f, concept: z, weights: weights)
            let curvature = try #require(all.curvature, "\(concept.name): no curvature to pass on")
            enum Path { case preconditioned, withoutCurvature, direct }
            var hessians: [Path: Int] = [:], products: [Path: Int] = [:], folds = 0
            func predictions(_ path: Path) throws -> [Bool] {
                try LinearProbe.crossValidatedPredictions(rows: f.rows, folds: 5, seed: 7) { train, test in
                    let fit = try LinearProbe.fitted(embeddings: f.selectingRows(train), concept: train.map { z[$0] },
                                                     weights: train.map { weights[$0] }, start: all.probe,
                                                     curvature: path == .preconditioned ? curvature : nil,
                                                     conjugateGradients: path != .direct)
                    hessians[path, default: 0] += fit.counts.hessians
                    products[path, default: 0] += fit.counts.products
                    #expect(fit.counts.newtonSteps < 50, "\(concept.name): a fold ran out of Newton steps")
                    if path == .preconditioned { folds += 1 }
                    return fit.probe.predictions(f.selectingRows(test))
                }
            }
            let preconditioned = try predictions(.preconditioned)
            #expect(try preconditioned == predictions(.direct), "\(concept.name)")
            #expect(try preconditioned == predictions(.withoutCurvature), "\(concept.name)")
            #expect(folds == 5)
            // The curvature passed on saves each fold its first Hessian at least.
            // The curvature passed on never costs Hessians; on the noisy concept it saves three of the
            // five folds' first (12 against 15; on the near-separable and rare ones the folds'
            // curvature moves too far from the whole's for it to help: 27 and 22 either way).
            #expect(hessians[.preconditioned]! <= hessians[.withoutCurvature]!, "\(concept.name): Hessians formed \(hessians)")
            if concept.name == "noisy" {
                #expect(hessians[.preconditioned]! + 3 <= hessians[.withoutCurvature]!, "\(concept.name): Hessians formed \(hessians)")
            }
            #expect(products[.preconditioned]! > 0 && products[.direct]! == 0, "\(concept.name): \(products)")
            // The public path passes the curvature on: its folds' work is the preconditioned path's
            // (the noisy concept's differs from the path without it).
            let counted = try LinearProbe.fitAndCrossValidateCounted(embeddings: f, concept: z, weights: weights, folds: 5, seed: 7, stop: { false })
            #expect(counted.folds.hessians == hessians[.preconditioned]! && counted.folds.products == products[.preconditioned]!,
                    "\(concept.name): \(counted.folds)")
            #expect(counted.heldOut == LinearProbe.agreement(preconditioned, z, weights: weights))
            checked += 1
        }
        #expect(checked == 3)
    }

    /// A Hessian formed on X/from, read on X/to = (X/from)·D with D = diag(from/to): there the
    /// Hessian is exactly D·H·D (no ridge), so P⁻¹r must be its solve.
    @Test("A curvature read under other column scales solves the rescaled Hessian (scales 10⁻³…10³ apart)")
    func rescaledCurvature() throws {
        var g = SeededGenerator(seed: 6909)
        let (n, d) = (600, 40)
        let f = g.gaussianMatrix(rows: n, columns: d)
        let from = (0..<d).map { _ in (2 * g.gaussian()).exp }
        let to = from.map { $0 * Foundation.pow(10, 3 * (2 * g.uniform() - 1)) }
        func gram(_ scales: [Double]) -> Matrix { LinearProbe.design(f, scales: scales).gram() }
        let plain = LinearProbe.Curvature(factor: try LUDecomposition(gram(from)), scales: from)
        let curvature = try #require(plain.rescaled(to: to))
        let r = (0...d).map { _ in g.gaussian() }
        let expected = try gram(to).solve(Matrix(rows: d + 1, columns: 1, storage: r)).storage
        let got = try #require(curvature.apply(r))
        let scale = expected.map(abs).max()!
        #expect(zip(got, expected).allSatisfy { abs($0 - $1) <= 1e-9 * scale }, "\(zip(got, expected).map { abs($0 - $1) }.max()! / scale)")
        #expect(curvature.multipliers != nil)
        // Read under its own scales: no multipliers, the plain solve.
        let own = try #require(plain.rescaled(to: from))
        #expect(own.multipliers == nil)
        // Refused: another width, a scale that is not a positive finite number.
        #expect(plain.rescaled(to: Array(to.dropLast())) == nil)
        #expect(plain.rescaled(to: [0] + to.dropFirst()) == nil)
        #expect(plain.rescaled(to: [.infinity] + to.dropFirst()) == nil)
    }

    @Test("A poor curvature falls back to forming Hessians, to the same optimum")
    func fallback() throws {
        let f = Self.embeddings(rows: 1_500, columns: 140, seed: 6910)
        let other = Self.embeddings(rows: 1_500, columns: 140, seed: 6911)
        // The curvature of another concept on other embeddings of the same width.
        let unrelated = try #require(try LinearProbe.fitted(embeddings: other, concept: Self.concepts(other, seed: 6913)[2].values).curvature)
        var checked = 0
        for concept in Self.concepts(f, seed: 6912) {
            let direct = try LinearProbe.fitted(embeddings: f, concept: concept.values, conjugateGradients: false)
            // From the optimum itself: it stays there.
            let there = try LinearProbe.fitted(embeddings: f, concept: concept.values, start: direct.probe, curvature: unrelated)
            #expect(Self.difference(there.probe, direct.probe) <= 1e-10, "\(concept.name): \(Self.difference(there.probe, direct.probe))")
            // From half the optimum (never worse than β = 0, by convexity, so the start and its curvature
            // are kept): the unrelated curvature does not solve the first system, a Hessian is formed, and
            // the optimum is the same.
            let half = LinearProbe(coefficients: direct.probe.coefficients.map { $0 / 2 }, scales: direct.probe.scales)
            let cold = try LinearProbe.fitted(embeddings: f, concept: concept.values, start: half, curvature: unrelated)
            let unhelped = try LinearProbe.fitted(embeddings: f, concept: concept.values, start: half)
            #expect(Self.difference(cold.probe, direct.probe) <= 1e-10, "\(concept.name): \(Self.difference(cold.probe, direct.probe))")
            // The curvature was tried (products beyond the fit given none) and given up (a Hessian formed:
            // here as many as without it, the attempt costing two products).
            #expect(cold.counts.products > unhelped.counts.products && cold.counts.hessians >= 1 && cold.counts.newtonSteps < 50,
                    "\(concept.name): \(cold.counts) against \(unhelped.counts) without the curvature")
            checked += 1
        }
        #expect(checked == 3)
    }

    @Test("The boundary: 127 parameters form every Hessian (the same bits as the direct path), 128 use conjugate gradients")
    func boundary() throws {
        var checked = 0
        for d in [126, 127] {
            let f = Self.embeddings(rows: 800, columns: d, seed: 6914)
            let z = Self.concepts(f, seed: 6915)[0].values
            let direct = try LinearProbe.fitted(embeddings: f, concept: z, conjugateGradients: false)
            let fit = try LinearProbe.fitted(embeddings: f, concept: z)
            // The boundary as documented (README, LinearProbe): from d = 127, p = 128, on.
            if d == 126 {
                #expect(fit.probe.coefficients == direct.probe.coefficients && fit.counts == direct.counts && fit.curvature == nil)
            } else {
                #expect(fit.counts.products > 0 && fit.curvature != nil, "\(fit.counts)")
                #expect(Self.difference(fit.probe, direct.probe) <= 1e-10)
            }
            checked += 1
        }
        #expect(checked == 2)
    }

    @Test("Fewer inputs than parameters (N = 100, p = 201): the same optimum and held-out predictions")
    func fewerInputsThanParameters() throws {
        let f = Self.embeddings(rows: 100, columns: 200, seed: 6916)
        var checked = 0
        for concept in Self.concepts(f, seed: 6917) {
            let direct = try LinearProbe.fitted(embeddings: f, concept: concept.values, conjugateGradients: false)
            let fit = try LinearProbe.fitted(embeddings: f, concept: concept.values)
            // With fewer inputs than parameters the ridge alone holds the null space (curvature 10⁻⁶):
            // the step rule's 10⁻¹⁰ allows 10⁻¹⁰/10⁻⁶·‖g‖ there, hence the wider bound.
            #expect(Self.difference(fit.probe, direct.probe) <= 1e-8, "\(concept.name): \(Self.difference(fit.probe, direct.probe))")
            #expect(fit.probe.predictions(f) == direct.probe.predictions(f))
            #expect(fit.counts.newtonSteps < 50 && direct.counts.newtonSteps < 50)
            let held = try LinearProbe.fitAndCrossValidate(embeddings: f, concept: concept.values, folds: 5, seed: 3).heldOut
            let heldDirect = LinearProbe.agreement(try LinearProbe.crossValidatedPredictions(rows: 100, folds: 5, seed: 3) { train, test in
                try LinearProbe.fitted(embeddings: f.selectingRows(train), concept: train.map { concept.values[$0] }, start: direct.probe,
                                       conjugateGradients: false).probe.predictions(f.selectingRows(test))
            }, concept.values)
            #expect(held == heldDirect, "\(concept.name)")
            checked += 1
        }
        #expect(checked == 3)
    }

    /// ½gᵀH⁻¹g of the probe's objective at its coefficients (the Newton decrement: how far the
    /// objective may still fall), from the gradient and Hessian formed here.
    static func newtonDecrement(_ probe: LinearProbe, _ f: Matrix, _ z: [Bool], weights raw: [Double]) throws -> Double {
        let x = LinearProbe.design(f, scales: probe.scales), (n, p) = (x.rows, x.columns)
        let total = raw.reduce(0, +), w = raw.map { $0 * Double(n) / total }
        let eta = x.applied(to: probe.coefficients)
        // σ(η) and σ(−η) each from its own exponential (1 − σ(η) is 0 beyond η = 36.7).
        let mu = eta.map { 1 / (1 + (-$0).exp) }, complement = eta.map { 1 / (1 + $0.exp) }
        var g = x.transposedApplied(to: (0..<n).map { (z[$0] ? complement[$0] : -mu[$0]) * w[$0] })
        var scaled = x
        for i in 0..<n { let r = (mu[i] * complement[i] * w[i]).squareRoot(); for j in 0..<p { scaled[i, j] *= r } }
        var hessian = scaled.gram()
        for j in 0..<(p - 1) { hessian[j, j] += 1e-6; g[j] -= 1e-6 * probe.coefficients[j] }
        let h = try hessian.solve(Matrix(rows: p, columns: 1, storage: g)).storage
        return 0.5 * zip(g, h).reduce(0) { $0 + $1.0 * $1.1 }
    }

    /// Input weights e^{10·N(0,1)} (e^±30 apart once rescaled to mean 1), where loose steps and
    /// backtracking are most likely to stop a fit short: both paths end within 10⁻²⁵ of the
    /// optimum's objective (here about 10⁻³³) inside the 50 steps. With the gradient's residual
    /// written 1 − σ(η) (0 beyond η = 36.7, where σ(−η) = e^−η is not negligible against weights
    /// e^30), the fits ran to the 50-step cap.
    @Test("Input weights e^±30 apart: both paths reach the optimum (Newton decrement below 10⁻²⁵) within 50 steps")
    func extremeWeights() throws {
        var g = SeededGenerator(seed: 6918)
        let f = g.gaussianMatrix(rows: 5_000, columns: 160)
        let weights = (0..<5_000).map { _ in (10 * g.gaussian()).exp }
        let u = (0..<160).map { _ in g.gaussian() }
        let score = f.applied(to: u), cut = score.sorted()[250]
        let spread = (score.map { $0 * $0 }.reduce(0, +) / 5_000).squareRoot()
        var checked = 0
        for (name, z) in [("separable", score.map { $0 > cut }), ("noisy", score.map { $0 + spread * g.gaussian() > cut })] {
            for iterative in [false, true] {
                let fit = try LinearProbe.fitted(embeddings: f, concept: z, weights: weights, conjugateGradients: iterative)
                let decrement = try Self.newtonDecrement(fit.probe, f, z, weights: weights)
                #expect(decrement <= 1e-25, "\(name), \(iterative ? "conjugate gradients" : "every Hessian"): decrement \(decrement), \(fit.counts)")
                #expect(fit.counts.newtonSteps < 50, "\(name): out of Newton steps, \(fit.counts)")
                checked += 1
            }
        }
        #expect(checked == 4)
    }

    /// log(1 + e^η) − η cancelled for y = 1 and large η; with weights e^±30 apart that rounding
    /// stopped fits 10⁻⁵ short of the optimum (an attack's pair at N = 20 000, d = 300).
    @Test("The loss: softplus(∓η), accurate where log(1 + e^η) − η cancels")
    func loss() {
        var checked = 0
        for eta in [-745.0, -40, -1, -1e-300, 0, 1e-300, 1, 40, 700, 745] {
            for positive in [false, true] {
                let t = positive ? -eta : eta
                // softplus(t) = log(1 + e^t): e^t when t < −36 (the next term, e^2t/2, below the ulp), t when t > 36.
                let expected = t < -36 ? t.exp : t > 36 ? t + (-t).exp : (1 + t.exp).log
                let got = LinearProbe.loss(eta, positive: positive)
                #expect(abs(got - expected) <= 4 * expected.ulp, "η = \(eta), y = \(positive ? 1 : 0): \(got) for \(expected)")
                checked += 1
            }
        }
        #expect(checked == 20)
        #expect(LinearProbe.loss(40, positive: true) > 4e-18 && LinearProbe.loss(-40, positive: false) > 4e-18)
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
        // P⁻¹H within 0.4 % of I: each product gains more than two digits.
        #expect(products <= 4, "\(products) products")
        // The identity as preconditioner (κ(H) about 20): 10⁻¹⁰ is out of reach in p/32 = 5 products,
        // and the extrapolation gives up before spending them.
        var identityProducts = 0
        let identity = LinearProbe.Curvature(factor: try LUDecomposition(Matrix.identity(p)), scales: [Double](repeating: 1, count: p - 1))
        #expect(ConjugateGradients.solve(rhs, tolerance: 1e-10, preconditioner: identity) { identityProducts += 1; return h.applied(to: $0) } == nil)
        #expect(identityProducts < ConjugateGradients.maximumProducts(parameters: p), "\(identityProducts) products")
        // Loose tolerances are met loosely and sooner.
        var looseProducts = 0
        let loose = try #require(ConjugateGradients.solve(rhs, tolerance: 0.1, preconditioner: good) { looseProducts += 1; return h.applied(to: $0) })
        #expect(residual(loose) <= 0.1 && residual(loose) > 1e-10)
        #expect(looseProducts < products, "\(looseProducts) products for 0.1, \(products) for 1e−10")
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
        // Eight chunks of rows (at least 4 blocks each): the same bits on one worker or several.
        let tall = g.gaussianMatrix(rows: 8 * 4 * (Matrix.gramVectorBlock / d) + 11, columns: d)
        let weights = (0..<tall.rows).map { _ in g.uniform() }
        let one = tall.weightedGramApplied(to: v, weights: weights, workers: 1)
        var compared = 0
        for workers in [2, 3, 8] {
            #expect(tall.weightedGramApplied(to: v, weights: weights, workers: workers) == one, "\(workers) workers")
            compared += 1
        }
        #expect(compared == 3)
        let reference = tall.transposedApplied(to: zip(weights, tall.applied(to: v)).map { $0 * $1 })
        let top = reference.map(abs).max()!
        #expect(zip(one, reference).allSatisfy { abs($0 - $1) <= 1e-11 * top })
    }
}
