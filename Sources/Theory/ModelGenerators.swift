import Numerics

/// The size of a generated case.
public struct CaseSize: Sendable, Codable, Hashable {
    public var labels: Int
    public var dimension: Int
    public var inputs: Int
    /// The largest dimension any model of the case may have (the mixed-dimension
    /// generator's second model differs from d); nil in replay files written before
    /// it existed, which then meant no limit.
    public var dimensionLimit: Int?

    public init(labels: Int, dimension: Int, inputs: Int, dimensionLimit: Int? = nil) {
        self.labels = labels
        self.dimension = dimension
        self.inputs = inputs
        self.dimensionLimit = dimensionLimit
    }

    /// A random size within the limits: d in dimensions (at most maxLabels − 1 and
    /// maxInputs − 2, since a case needs k ≥ d + 1 and N ≥ d + 2), k in
    /// d+1...maxLabels, N in d+2...maxInputs. Needs maxLabels ≥ 2 and maxInputs ≥ 3.
    public static func random(dimensions: ClosedRange<Int>, maxLabels: Int, maxInputs: Int,
                              using g: inout SeededGenerator) -> CaseSize {
        let top = max(dimensions.lowerBound, min(dimensions.upperBound, maxLabels - 1, maxInputs - 2))
        let d = g.int(in: dimensions.lowerBound...top)
        let k = g.int(in: (d + 1)...max(d + 1, maxLabels))
        let n = g.int(in: (d + 2)...max(d + 2, maxInputs))
        return CaseSize(labels: k, dimension: d, inputs: n, dimensionLimit: dimensions.upperBound)
    }
}

/// Named, seeded generators of model pairs (teacher = first, student = second),
/// covering the places where the bounds are stressed. Every case is reproducible
/// from (generator, seed, size): the same triple gives the same models bit for bit.
public enum ModelGenerator: String, CaseIterable, Sendable, Codable {
    /// Independent Gaussian teacher and student.
    case independent
    /// Student = teacher plus noise of relative size 1e−8, 1e−4 or 1e−1.
    case perturbed
    /// Student in the teacher's orbit, exactly: the teacher rounded to a dyadic grid and a
    /// dyadic map A (signed powers of two, a permutation, shears by ½) with a dyadic inverse,
    /// so F Aᵀ and G A⁻¹ + c are exact in Doubles and the conditionals are equal exactly
    /// (T2 certifies them); half the time plus noise of size 1e−10.
    case orbit
    /// Teacher's centred unembeddings with condition number up to 1e8.
    case illConditioned
    /// Logit scale from 1e−3 to 1e3: near-uniform to near-one-hot conditionals.
    case scaled
    /// Input weights drawn log-normally (max/min weight up to ~1e4).
    case skewedWeights
    /// Student dimension differs from the teacher's (smaller or larger).
    case mixedDimension
    /// A proof's equality case, where a bound is attained, in turn: T11's
    /// (`conceptBoundaryPair`), T12's (`widthBoundaryPair`), T6.sharp's (`klSharpnessPair`)
    /// and T7's, centred and uncentred at once (`canonicalCorrelationBoundaryPair`); catches
    /// a constant wrong by a factor near 1.
    case boundary

    /// The pair for this generator, seed and size.
    public func pair(seed: UInt64, size: CaseSize) -> ModelPair {
        var g = SeededGenerator(seed: SeededGenerator.derive(seed, UInt64(Self.allCases.firstIndex(of: self)!)))
        let (k, d, n) = (size.labels, size.dimension, size.inputs)
        let weights: [Double]? = self == .skewedWeights ? (0..<n).map { _ in (2 * g.gaussian()).exp } : nil
        let scale = self == .scaled ? Self.powerOfTen(g.uniform(in: -3...3)) : 1
        let condition = self == .illConditioned ? Self.powerOfTen(g.uniform(in: 2...8)) : 1 + 9 * g.uniform()
        let teacher = Self.model(labels: k, dimension: d, inputs: n, scale: scale, condition: condition,
                                 weights: weights, using: &g)
        let student: SoftmaxModel
        switch self {
        case .independent, .illConditioned, .scaled, .skewedWeights:
            student = Self.model(labels: k, dimension: d, inputs: n, scale: scale, condition: 1 + 9 * g.uniform(),
                                 weights: teacher.weights, using: &g)
        case .perturbed:
            let eps = [1e-8, 1e-4, 1e-1][Int(g.next() % 3)]
            student = Self.perturb(teacher, by: eps, using: &g)
        case .orbit:
            let exact = Self.dyadic(teacher)
            let (a, inverse) = Self.dyadicMap(dimension: d, using: &g)
            let c = (0..<d).map { _ in Double(g.int(in: -16...16)) / 8 }
            let image = (try? SoftmaxModel(embeddings: exact.embeddings.multiplied(by: a, transposeOther: true),
                                           unembeddings: exact.unembeddings.multiplied(by: inverse).subtractingFromRows(c.map { -$0 }),
                                           weights: exact.weights)) ?? exact
            return try! ModelPair(exact, g.next() % 2 == 0 ? image : Self.perturb(image, by: 1e-10, using: &g))
        case .mixedDimension:
            let d2 = max(1, min(k - 1, size.dimensionLimit ?? .max, d + [-2, -1, 1, 2][Int(g.next() % 4)]))
            student = Self.model(labels: k, dimension: d2, inputs: n, scale: scale, condition: 1 + 9 * g.uniform(),
                                 weights: teacher.weights, using: &g)
        case .boundary:
            switch g.int(in: 0...3) {
            case 1: if let pair = Self.widthBoundaryPair(teacher, using: &g) { return pair }
            case 2: if let pair = Self.klSharpnessPair(teacher, using: &g) { return pair }
            case 3: if let pair = Self.canonicalCorrelationBoundaryPair(teacher, using: &g) { return pair }
            default: break
            }
            return Self.conceptBoundaryPair(teacher, using: &g)
        }
        return try! ModelPair(teacher, student)
    }

    /// The model with f and g rounded to multiples of 2⁻²⁰ (a few dozen significant bits), so
    /// that products with a dyadic map stay exact in Doubles.
    public static func dyadic(_ model: SoftmaxModel) -> SoftmaxModel {
        func round(_ m: Matrix) -> Matrix { Matrix(rows: m.rows, columns: m.columns) { i, j in (m[i, j] * 1_048_576).rounded() / 1_048_576 } }
        return (try? SoftmaxModel(embeddings: round(model.embeddings), unembeddings: round(model.unembeddings), weights: model.weights)) ?? model
    }

    /// A map A and its inverse, both with few-bit dyadic entries: a permutation with signs and
    /// factors 2⁻¹, 1 or 2, then up to three shears I + ½eᵢeⱼᵀ (inverse I − ½eᵢeⱼᵀ). Products
    /// of a 2⁻²⁰-grid matrix with either are exact in Doubles (no partial sum needs more than
    /// about 30 bits), so an orbit image built with them is exact.
    public static func dyadicMap(dimension d: Int, using g: inout SeededGenerator) -> (map: Matrix, inverse: Matrix) {
        var order = Array(0..<d)
        for i in stride(from: d - 1, to: 0, by: -1) { order.swapAt(i, g.int(in: 0...i)) }
        var a = Matrix(rows: d, columns: d), inverse = Matrix(rows: d, columns: d)
        for i in 0..<d {
            let s = [0.5, 1, 2][g.int(in: 0...2)] * (g.next() % 2 == 0 ? 1 : -1)
            a[i, order[i]] = s
            inverse[order[i], i] = 1 / s
        }
        for _ in 0..<(d > 1 ? g.int(in: 1...3) : 0) {
            let i = g.int(in: 0...(d - 1)), j = (i + g.int(in: 1...(d - 1))) % d
            var shear = Matrix.identity(d), undo = Matrix.identity(d)
            shear[i, j] = 0.5
            undo[i, j] = -0.5
            a = shear.multiplied(by: a)
            inverse = inverse.multiplied(by: undo)
        }
        return (a, inverse)
    }

    /// T12's equality case (Proofs/T12-width-floor.md): the teacher and the student of a
    /// random width r < min(d, k − 1) whose centred logits are the rank-r truncated SVD of
    /// the teacher's, its embeddings scaled by 1 + 10⁻⁵. Unscaled, d_logit² would equal the
    /// floor to the rounding of the student's Doubles, which only a long bisection of the
    /// certified spectrum can separate; scaled, d_logit² = floor + 10⁻¹⁰‖W^{1/2}Λ̃₂‖²
    /// (the residual is orthogonal to Λ̃₂): the ratio stays within about 10⁻⁶ of 1, so a floor
    /// planted 10⁻⁴ too high is still certified violated, and the true one certifies at
    /// once. nil when no narrower width exists (d = 1 or k = 2).
    public static func widthBoundaryPair(_ teacher: SoftmaxModel, using g: inout SeededGenerator) -> ModelPair? {
        let top = min(teacher.dimension, teacher.labelCount - 1) - 1
        guard top >= 1, let floor = try? WidthFloor(teacher),
              let student = try? floor.attainingStudent(width: g.int(in: 1...top), weights: teacher.weights),
              let scaled = try? student.with(embeddings: (1 + 1e-5) * student.embeddings) else { return nil }
        return try? ModelPair(teacher, scaled)
    }

    /// T6.sharp's sharpness configuration (Proofs/T6-sharp-kl-bound.md, "Sharpness") on every
    /// input: p = (τ + ε, τ, r, …, r) and q = (τ, τ + ε, r, …, r) with τ = 0.2/k and ε about
    /// 10⁻⁶τ, so d_logit²/(2 KL/τ) = 1 − O(ε/τ): both the global and the per-input form are
    /// within ~10⁻⁶ of equality. The logits are the centred log-probabilities in the first
    /// column of the unembeddings, reached by a first embedding coordinate of 1 on every input
    /// (the other coordinates are the teacher's, with zero unembedding columns). nil for k < 3.
    public static func klSharpnessPair(_ teacher: SoftmaxModel, using g: inout SeededGenerator) -> ModelPair? {
        let (n, k, d) = (teacher.inputCount, teacher.labelCount, teacher.dimension)
        guard k >= 3 else { return nil }
        let tau = 0.2 / Double(k), epsilon = tau * 1e-6 * (1 + g.uniform())
        let rest = (1 - 2 * tau - epsilon) / Double(k - 2)
        // f = (1, f₂, …): the other coordinates vary (the embeddings are not constant) but their
        // unembedding columns are 0, so only the first reaches the logits.
        let f = Matrix(rows: n, columns: d) { i, j in j == 0 ? 1 : teacher.embeddings[i, j] }
        func model(_ probabilities: [Double]) -> SoftmaxModel? {
            let logits = probabilities.map { $0.log }, mean = logits.reduce(0, +) / Double(k)
            let u = Matrix(rows: k, columns: d) { y, j in j == 0 ? logits[y] - mean : 0 }
            return try? SoftmaxModel(embeddings: f, unembeddings: u, weights: teacher.weights)
        }
        let p = [tau + epsilon, tau] + Array(repeating: rest, count: k - 2)
        let q = [tau, tau + epsilon] + Array(repeating: rest, count: k - 2)
        guard let a = model(p), let b = model(q) else { return nil }
        return try? ModelPair(a, b)
    }

    /// T7's equality case (the trace bound with d₂ = 1, and R = d_logit²): the second model
    /// keeps the teacher's first embedding coordinate (weighted-centred) and first unembedding
    /// column; the first has Gaussian embeddings of the case's d (weighted-centred) and
    /// unembeddings the least-squares map of the second's centred logits on them,
    /// G₁ = E_w[Λ̃₂ f₁ᵀ] M₁₁⁻¹. With both sides centred, the centred and uncentred forms
    /// coincide, so all four T7 checks are attained (to rounding). nil for d < 2.
    public static func canonicalCorrelationBoundaryPair(_ teacher: SoftmaxModel, using g: inout SeededGenerator) -> ModelPair? {
        let (n, d) = (teacher.inputCount, teacher.dimension)
        guard d >= 2 else { return nil }
        let w = teacher.weights
        func centred(_ m: Matrix) -> Matrix { m.subtractingFromRows(m.weightedRowMean(w)) }
        let f2 = centred(Matrix(rows: n, columns: 1) { i, _ in teacher.embeddings[i, 0] })
        let u2 = Matrix(rows: teacher.labelCount, columns: 1) { y, _ in teacher.unembeddings[y, 0] }
        guard let second = try? SoftmaxModel(embeddings: f2, unembeddings: u2, weights: w) else { return nil }
        let f1 = centred(g.gaussianMatrix(rows: n, columns: d))
        let cross = second.centredLogits.scalingRows(by: w).multiplied(by: f1, transposeSelf: true)
        guard let inverse = try? f1.scalingRows(by: second.sqrtWeights).gram().inverse(),
              let first = try? SoftmaxModel(embeddings: f1, unembeddings: cross.multiplied(by: inverse), weights: w) else { return nil }
        return try? ModelPair(first, second)
    }

    /// T11's equality case (Proofs/T11-concept-transfer.md, "Tightness") for the probe
    /// (e₁, 0): every teacher margin m = f₁[·,0] is at least 1/2 in size except on a set S
    /// of one to three inputs where m = 1/4; the student keeps G and F except
    /// f₂[i, 0] = 0 for i ∈ S. Then A₁₂ = I, e = m on S and 0 elsewhere, the probes
    /// disagree exactly on S, and at γ = 1/4: P_w(|m| < γ) = 0, E_w e²/γ² = w(S) — the
    /// bound holds with equality, in exact arithmetic (every value set is dyadic).
    public static func conceptBoundaryPair(_ teacher: SoftmaxModel, using g: inout SeededGenerator) -> ModelPair {
        let n = teacher.inputCount
        var f1 = teacher.embeddings
        let chosen = Set((0..<min(n, 1 + Int(g.next() % 3))).map { _ in g.int(in: 0...(n - 1)) })
        for i in 0..<n {
            let x = f1[i, 0]
            f1[i, 0] = chosen.contains(i) ? 0.25 : (x < 0 ? -1 : 1) * (0.5 + abs(x))
        }
        var f2 = f1
        for i in chosen { f2[i, 0] = 0 }
        let a = try! SoftmaxModel(embeddings: f1, unembeddings: teacher.unembeddings, weights: teacher.weights)
        let b = try! SoftmaxModel(embeddings: f2, unembeddings: teacher.unembeddings, weights: teacher.weights)
        return try! ModelPair(a, b)
    }

    /// A model whose centred unembeddings have singular values log-spaced from
    /// `scale` down to `scale/condition`, Gaussian embeddings, and a random mean
    /// unembedding (which the conditionals ignore). Needs k ≥ d + 1 and N ≥ 1.
    public static func model(labels k: Int, dimension d: Int, inputs n: Int, scale: Double = 1,
                             condition: Double = 1, weights: [Double]? = nil,
                             using g: inout SeededGenerator) -> SoftmaxModel {
        precondition(d >= 1 && k >= d + 1 && n >= 1, "ModelGenerator.model needs d ≥ 1, k ≥ d + 1 and N ≥ 1")
        let gTilde = centredFactor(labels: k, dimension: d, scale: scale, condition: condition, using: &g)
        let mean = (0..<d).map { _ in g.gaussian() }
        let unembeddings = gTilde.subtractingFromRows(mean.map { -$0 })
        let embeddings = g.gaussianMatrix(rows: n, columns: d)
        return try! SoftmaxModel(embeddings: embeddings, unembeddings: unembeddings, weights: weights)
    }

    /// A k×d matrix with columns orthogonal to 1 and the prescribed spectrum.
    static func centredFactor(labels k: Int, dimension d: Int, scale: Double, condition: Double,
                              using g: inout SeededGenerator) -> Matrix {
        let raw = g.gaussianMatrix(rows: k, columns: d)
        let centred = raw.subtractingColumnMeans
        let q1 = try! QRDecomposition(centred).q
        let q2 = try! QRDecomposition(g.gaussianMatrix(rows: d, columns: d)).q
        let spectrum = (0..<d).map { i in
            scale * (d == 1 ? 1 : powerOfTen(-Double(i) / Double(d - 1) * log10(condition)))
        }
        return q1.scalingColumns(by: spectrum).multiplied(by: q2, transposeOther: true)
    }

    /// The simplest orbit image of `m`: F·2 and G/2, exact in Doubles barring overflow and underflow,
    /// so its logits are m's bit for bit (every bound a near-tie); m's weights kept.
    public static func doubledOrbitImage(_ m: SoftmaxModel) -> SoftmaxModel {
        try! SoftmaxModel(embeddings: m.embeddings.scaled(byPowerOfTwo: 1), unembeddings: m.unembeddings.scaled(byPowerOfTwo: -1),
                          weights: m.givenWeights)
    }

    /// The model with relative Gaussian noise of size eps added to F and G.
    public static func perturb(_ m: SoftmaxModel, by eps: Double, using g: inout SeededGenerator) -> SoftmaxModel {
        let fScale = eps * (m.embeddings.frobeniusNormSquared / Double(m.embeddings.storage.count)).squareRoot()
        let gScale = eps * (m.unembeddings.frobeniusNormSquared / Double(m.unembeddings.storage.count)).squareRoot()
        let f = m.embeddings + g.gaussianMatrix(rows: m.inputCount, columns: m.dimension, scale: fScale)
        let u = m.unembeddings + g.gaussianMatrix(rows: m.labelCount, columns: m.dimension, scale: gScale)
        return try! SoftmaxModel(embeddings: f, unembeddings: u, weights: m.weights)
    }

    static func powerOfTen(_ e: Double) -> Double { (e * Double.ln10).exp }
    static func log10(_ x: Double) -> Double { x.log / Double.ln10 }
}
