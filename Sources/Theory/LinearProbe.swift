import Numerics

/// A linear probe: logistic regression with an intercept and a small ridge (λ = 1e−6
/// on the weights, so separable data keeps finite weights), fitted by damped Newton's method
/// (IRLS with step halving, 50 iterations at most; from 128 parameters on, each Newton system
/// solved by conjugate gradients preconditioned by the last Hessian formed where they converge
/// within max(4, p/32) products, `ConjugateGradients`: the same optimum, to the stopping rule's
/// 10⁻¹⁰ rather than to the bit, in fewer N·p² Grams) on inputs whose columns are each divided by
/// √d times their root mean square (rows of RMS norm 1; a column 10⁶ times the others neither
/// dominates the ridge nor the Hessian, and a power-of-two factor on a column changes nothing),
/// each input's log-likelihood weighted by its input weight (uniform when none are given).
///
/// `accuracy(embeddings:concept:)` fits and scores on the same inputs: the question
/// there is whether the concept is *linearly recoverable* at all (the counterexamples).
/// `fit` then `accuracy(on:concept:)` scores held-out inputs (distillation);
/// `crossValidatedAccuracy` does so by k-fold cross-validation on one sample (`measure`).
public struct LinearProbe: Sendable {
    /// Weights then intercept, for inputs whose column j is divided by `scales[j]`.
    public let coefficients: [Double]
    public let scales: [Double]

    /// `start` (a probe fitted on other rows of the same embeddings, e.g. all of them)
    /// warm-starts Newton's method: the same optimum, reached in a few iterations.
    /// `stop`, asked before each Newton step, abandons the fit (`CancellationError`) once it answers true.
    public static func fit(embeddings f: Matrix, concept: [Bool], weights: [Double]? = nil, start: LinearProbe? = nil,
                           stop: () -> Bool = { false }) throws -> LinearProbe {
        try fitted(embeddings: f, concept: concept, weights: weights, start: start, stop: stop).probe
    }

    /// A fit, the last Hessian it formed (or the curvature it was given, when it formed none; nil
    /// below `ConjugateGradients.minimumParameters`) and its work.
    struct Fitted {
        let probe: LinearProbe
        let curvature: Curvature?
        var counts = Counts()
    }

    /// Newton steps taken, those solved by forming the Hessian, and products H·v.
    struct Counts: Equatable {
        var newtonSteps = 0, hessians = 0, products = 0
    }

    /// `fit`, with the last Hessian it formed and its work: `curvature` (a fit's on other rows of
    /// the same embeddings) preconditions the first Newton systems; `conjugateGradients: false`
    /// forms every step's Hessian at any size (tests compare the two). Both stop where a step
    /// solved to a 10⁻¹⁰ residual (or by the LU) is below 10⁻¹⁰, so they agree to about that; below 128
    /// parameters they are the same computation.
    static func fitted(embeddings f: Matrix, concept: [Bool], weights: [Double]? = nil, start: LinearProbe? = nil,
                       curvature: Curvature? = nil, conjugateGradients: Bool = true,
                       stop: () -> Bool = { false }) throws -> Fitted {
        precondition(f.rows == concept.count, "probe: one concept value per input")
        let n = f.rows, p = f.columns + 1
        let scales = columnScales(f)
        // A concept constant on these inputs: the probe answers that constant (IRLS would
        // push the intercept to infinity).
        if let first = concept.first, concept.allSatisfy({ $0 == first }) {
            return Fitted(probe: LinearProbe(coefficients: [Double](repeating: 0, count: p - 1) + [first ? 1 : -1], scales: scales),
                          curvature: nil)
        }
        // Input weights rescaled to mean 1, so the ridge means the same whatever N is.
        // (The total once: summed per element it made every fit O(N²).)
        let w = weights.map { raw in let scale = Double(n) / raw.reduce(0, +); return raw.map { $0 * scale } }
            ?? [Double](repeating: 1, count: n)
        let x = design(f, scales: scales)
        let y = concept.map { $0 ? 1.0 : 0.0 }
        // The start's direction u_j = β_j/scale_j expressed for these scales: β_j = u_j·scale_j.
        var beta = start.map { s in
            s.coefficients.count == p ? (0..<(p - 1)).map { s.coefficients[$0] * (scales[$0] / s.scales[$0]) } + [s.coefficients[p - 1]] : nil
        }.flatMap { $0 } ?? [Double](repeating: 0, count: p)
        if !beta.allSatisfy(\.isFinite) { beta = [Double](repeating: 0, count: p) }
        // The penalised negative log-likelihood Σ w·loss(η, y) + λ/2 ‖β_w‖², λ = 1e−6.
        func objective(_ eta: [Double], _ beta: [Double]) -> Double {
            var total = 0.0
            for i in 0..<n { total += w[i] * loss(eta[i], positive: y[i] == 1) }
            return total + 0.5e-6 * beta.dropLast().reduce(0) { $0 + $1 * $1 }
        }
        // Damped Newton: the full step unless it fails to lower the objective (a warm start
        // far out on a near-separable concept can overshoot), then halved until it does.
        // Each Newton system H·s = g is solved by conjugate gradients preconditioned by the last
        // Hessian formed (or the start's) where that converges within a few products H·v
        // (`ConjugateGradients`), else by forming H (the row-scaled design √c·X's Gram, an N·p²
        // product) and its LU, which then preconditions the next steps.
        var eta = x.applied(to: beta)
        var current = objective(eta, beta)
        // A start worse than β = 0 (whose objective is Σw·log 2): from 0, as `smallestScale`'s
        // bound on the weights assumes (a column all 0 in a training fold has scale 1 there,
        // and its start weight, mapped from a tiny scale, could be huge).
        let origin = Double(n) * 0.6931471805599453
        var startsFromZero = false
        if !(current <= origin) {
            beta = [Double](repeating: 0, count: p)
            (eta, current, startsFromZero) = ([Double](repeating: 0, count: n), origin, true)
        }
        let iterative = conjugateGradients && ConjugateGradients.uses(parameters: p)
        // The start's curvature only where the fit starts from the start (not from 0).
        var preconditioner = iterative && !startsFromZero ? curvature?.rescaled(to: scales) : nil
        // Set where a step solved loosely met the stopping rule: the next is solved to a 10⁻¹⁰ residual.
        var confirm = false
        var scaled: Matrix?, previousGradientNorm: Double?, counts = Counts()
        for _ in 0..<50 {
            if stop() { throw CancellationError() }
            counts.newtonSteps += 1
            // σ(η) and σ(−η) each from its own exponential: 1 − σ(η) is 0 for η > 36.7 where σ(−η) is
            // e^−η, which with input weights e^±30 apart is no small part of the gradient.
            let mu = eta.map { 1 / (1 + (-$0).exp) }, complement = eta.map { 1 / (1 + $0.exp) }
            let c = (0..<n).map { max(mu[$0] * complement[$0], 1e-12) * w[$0] }
            var gradientBeta = x.transposedApplied(to: (0..<n).map { (y[$0] == 1 ? complement[$0] : -mu[$0]) * w[$0] })
            for j in 0..<(p - 1) { gradientBeta[j] -= 1e-6 * beta[j] }
            let gradientNorm = gradientBeta.scaledNorm
            let forcing = confirm ? ConjugateGradients.finalTolerance
                : ConjugateGradients.forcing(gradientNorm: gradientNorm, previous: previousGradientNorm)
            previousGradientNorm = gradientNorm
            let hessiansBefore = counts.hessians
            var newtonStep = preconditioner.flatMap {
                ConjugateGradients.solve(gradientBeta, tolerance: forcing, preconditioner: $0) { v in
                    counts.products += 1
                    var hv = x.weightedGramApplied(to: v, weights: c)
                    for j in 0..<(p - 1) { hv[j] += 1e-6 * v[j] }
                    return hv
                }
            }
            if newtonStep == nil {
                // The row-scaled design √c·X, rewritten in one buffer (made at the first Hessian).
                if scaled == nil { scaled = x }
                scaled!.storage.withUnsafeMutableBufferPointer { out in
                    x.storage.withUnsafeBufferPointer { design in
                        for i in 0..<n {
                            let root = c[i].squareRoot()
                            for j in 0..<p { out[i * p + j] = design[i * p + j] * root }
                        }
                    }
                }
                counts.hessians += 1
                var hessian = scaled!.gram()
                for j in 0..<(p - 1) { hessian[j, j] += 1e-6 }
                guard let factor = try? LUDecomposition(hessian),
                      let solved = try? factor.solve(Matrix(rows: p, columns: 1, storage: gradientBeta)) else { break }
                newtonStep = solved.storage
                if iterative { preconditioner = Curvature(factor: factor, scales: scales) }
            }
            // A step solved loosely (by conjugate gradients to `forcing`) may be short in directions of
            // low curvature; the exact solve's is not.
            let loose = counts.hessians == hessiansBefore && forcing > ConjugateGradients.finalTolerance
            let step = newtonStep!
            var t = 1.0, accepted = false
            while t > 1e-12 {
                let trial = zip(beta, step).map { $0 + t * $1 }
                let trialEta = x.applied(to: trial)
                let value = objective(trialEta, trial)
                // Accept any step that does not raise the objective beyond rounding.
                if value <= current + 1e-12 * max(1, abs(current)) {
                    (beta, eta, current, accepted) = (trial, trialEta, value, true)
                    break
                }
                t /= 2
            }
            let largest = step.reduce(0) { max($0, abs($1)) }
            if !accepted || t * largest < 1e-10 {
                // Stop only on a step solved to 10⁻¹⁰ (or by the LU): a loose one is solved again, tightly.
                guard loose else { break }
                confirm = true
                continue
            }
            confirm = false
        }
        return Fitted(probe: LinearProbe(coefficients: beta, scales: scales), curvature: preconditioner, counts: counts)
    }

    /// One input's negative log-likelihood, log(1 + e^η) − yη, as softplus(−η) where y = 1 and
    /// softplus(η) where y = 0 (softplus(t) = t + log1p(e^−t) for t > 0, log1p(e^t) otherwise).
    /// Written log(1 + e^η) − η it cancelled for y = 1 and large η (0 at η = 40 for 4.2·10⁻¹⁸):
    /// with input weights e^±30 apart that rounding (10⁻¹² of an objective near 10⁻³) outgrew the
    /// line search's allowance, and fits stopped up to 1.5·10⁻⁵ short of the optimum.
    static func loss(_ eta: Double, positive: Bool) -> Double {
        let t = positive ? -eta : eta
        return t > 0 ? t + (-t).exp.log1p : t.exp.log1p
    }

    /// The least column scale for n rows, √(16n/λ)·2⁻¹⁰²³: the ridge keeps ‖β‖² ≤ 2·objective/λ,
    /// and Newton's steps never raise the objective from its start (at most n·log 2: a warm
    /// start above it is replaced by 0), so each weight β_j/s_j of the direction stays below
    /// 2¹⁰²³. A column scaled by its own tiny RMS (near 10⁻³⁰⁸) gave a weight of +∞ and `measure`
    /// stopped; a column below this scale is read nearly as 0.
    static func smallestScale(rows n: Int) -> Double {
        Double(sign: .plus, exponent: -1023, significand: (16 * Double(max(n, 1)) / 1e-6).squareRoot())
    }

    /// Each column's root mean square times √d (within [`smallestScale`, the largest Double]; 1 for
    /// a column of zeros), so that the scaled rows' RMS norm is 1, as the ridge λ assumes (scaled
    /// to RMS 1 alone, the columns weakened the ridge d-fold, and probes on separable concepts
    /// at d = 768 took 2.7 times as long). Each from `Matrix.columnNorms` (entries divided by
    /// their column's largest): squares of entries near 10^±155 leave the Double range (the plain sum was
    /// +∞ and every coefficient 0). A power-of-two factor on a column scales it exactly (within
    /// the clamp).
    static func columnScales(_ f: Matrix) -> [Double] {
        let root = (Double(f.columns) / Double(max(f.rows, 1))).squareRoot(), smallest = smallestScale(rows: f.rows)
        return f.columnNorms.map { norm in
            guard norm > 0, norm.isFinite else { return 1 }
            return min(max(norm * root, smallest), .greatestFiniteMagnitude)
        }
    }

    /// The scaled inputs, each row ending in 1 (the intercept).
    static func design(_ f: Matrix, scales: [Double]) -> Matrix {
        let (n, d) = (f.rows, f.columns)
        var out = Matrix(rows: n, columns: d + 1)
        // Divided, not multiplied by 1/s: 1/s is subnormal for s near the largest Double.
        out.storage.withUnsafeMutableBufferPointer { o in
            f.storage.withUnsafeBufferPointer { a in
                for i in 0..<n {
                    for j in 0..<d { o[i * (d + 1) + j] = a[i * d + j] / scales[j] }
                    o[i * (d + 1) + d] = 1
                }
            }
        }
        return out
    }

    /// The probe in the embeddings' own coordinates: ĉ(x) = [uᵀf(x) + b > 0].
    public var direction: ProbeDirection {
        ProbeDirection(weights: zip(coefficients, scales).map { $0 / $1 }, bias: coefficients.last ?? 0)
    }

    /// The probe's answers on the rows of `f`.
    public func predictions(_ f: Matrix) -> [Bool] {
        precondition(f.columns + 1 == coefficients.count, "probe: shapes differ from the fit")
        return Self.design(f, scales: scales).applied(to: coefficients).map { $0 > 0 }
    }

    /// The (weighted) fraction of inputs whose concept the probe predicts.
    public func accuracy(on f: Matrix, concept: [Bool], weights: [Double]? = nil) -> Double {
        precondition(f.rows == concept.count, "probe: one concept value per input")
        return Self.agreement(predictions(f), concept, weights: weights)
    }

    /// Σ wᵢ [aᵢ = bᵢ] / Σ wᵢ (uniform weights when nil).
    public static func agreement(_ a: [Bool], _ b: [Bool], weights: [Double]? = nil) -> Double {
        guard !a.isEmpty else { return .nan }
        guard let weights else { return Double(zip(a, b).filter { $0 == $1 }.count) / Double(a.count) }
        return zip(weights, zip(a, b)).reduce(0) { $0 + ($1.1.0 == $1.1.1 ? $1.0 : 0) } / weights.reduce(0, +)
    }

    /// Fit and score on the same inputs.
    public static func accuracy(embeddings f: Matrix, concept: [Bool]) throws -> Double {
        try fit(embeddings: f, concept: concept).accuracy(on: f, concept: concept)
    }

    /// Held-out accuracy by k-fold cross-validation: inputs shuffled by `seed` and cut into
    /// `folds` parts; each part is predicted by a probe fitted on the others; the (weighted)
    /// fraction of inputs predicted right.
    /// `start` warm-starts each fold's fit (the probe fitted on every row is a good start).
    public static func crossValidatedAccuracy(embeddings f: Matrix, concept: [Bool], weights: [Double]? = nil,
                                              folds: Int, seed: UInt64, start: LinearProbe? = nil, stop: () -> Bool = { false }) throws -> Double {
        try crossValidatedAccuracy(embeddings: f, concept: concept, weights: weights, folds: folds, seed: seed,
                                   start: start, curvature: nil, stop: stop).0
    }

    /// The probe fitted on every row and its held-out accuracy by `crossValidatedAccuracy`, each
    /// fold warm-started from that probe: its coefficients, and from
    /// `ConjugateGradients.minimumParameters` parameters on the last Hessian it formed, which
    /// preconditions the folds' first Newton systems (a fold's optimum is the same either way).
    public static func fitAndCrossValidate(embeddings f: Matrix, concept: [Bool], weights: [Double]? = nil, folds: Int,
                                           seed: UInt64, stop: () -> Bool = { false }) throws -> (probe: LinearProbe, heldOut: Double) {
        let counted = try fitAndCrossValidateCounted(embeddings: f, concept: concept, weights: weights, folds: folds, seed: seed, stop: stop)
        return (counted.probe, counted.heldOut)
    }

    /// `fitAndCrossValidate` with the folds' work summed (tests check that the curvature reaches them).
    static func fitAndCrossValidateCounted(embeddings f: Matrix, concept: [Bool], weights: [Double]?, folds: Int, seed: UInt64,
                                           stop: () -> Bool) throws -> (probe: LinearProbe, heldOut: Double, folds: Counts) {
        let all = try fitted(embeddings: f, concept: concept, weights: weights, stop: stop)
        let (heldOut, counts) = try crossValidatedAccuracy(embeddings: f, concept: concept, weights: weights, folds: folds, seed: seed,
                                                           start: all.probe, curvature: all.curvature, stop: stop)
        return (all.probe, heldOut, counts)
    }

    /// The held-out accuracy and the folds' work summed.
    static func crossValidatedAccuracy(embeddings f: Matrix, concept: [Bool], weights: [Double]?, folds: Int, seed: UInt64,
                                       start: LinearProbe?, curvature: Curvature?, stop: () -> Bool) throws -> (Double, Counts) {
        var counts = Counts()
        let predicted = try crossValidatedPredictions(rows: f.rows, folds: folds, seed: seed) { train, test in
            let fold = try fitted(embeddings: f.selectingRows(train), concept: train.map { concept[$0] },
                                  weights: weights.map { w in train.map { w[$0] } }, start: start, curvature: curvature, stop: stop)
            counts.newtonSteps += fold.counts.newtonSteps
            counts.hessians += fold.counts.hessians
            counts.products += fold.counts.products
            return fold.probe.predictions(f.selectingRows(test))
        }
        return (agreement(predicted, concept, weights: weights), counts)
    }

    /// Each row's prediction when its fold is held out: `predict(trainRows, testRows)`
    /// answers for `testRows`. The folds are a seeded shuffle cut into `folds` parts.
    public static func crossValidatedPredictions(rows n: Int, folds: Int, seed: UInt64,
                                                 _ predict: ([Int], [Int]) throws -> [Bool]) rethrows -> [Bool] {
        var g = SeededGenerator(seed: seed)
        var order = Array(0..<n)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, g.int(in: 0...i)) }
        let parts = max(2, min(folds, n))
        var answers = [Bool](repeating: false, count: n)
        for part in 0..<parts {
            let test = (0..<n).filter { $0 % parts == part }.map { order[$0] }.sorted()
            let held = Set(test)
            let train = (0..<n).filter { !held.contains($0) }
            guard !test.isEmpty, !train.isEmpty else { continue }
            for (row, answer) in zip(test, try predict(train, test)) { answers[row] = answer }
        }
        return answers
    }
}
