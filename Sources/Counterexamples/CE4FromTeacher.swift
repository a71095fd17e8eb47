import Numerics
import Theory

/// CE4 (THEORY.md §5): from any teacher, a student with KL ≤ ε in both directions
/// whose embeddings are as far from the teacher's as the budget allows.
///
/// Construction ("Fisher-null move"): at each input the KL of a small embedding move
/// Δ is ½ΔᵀJΔ to second order, J = Gᵀ(diag p − ppᵀ)G the Fisher information of the
/// logits' softmax. Each embedding moves along J's least-informative eigenvector, by
/// c = min(√(2ε/λ_min), cap·rms‖f‖), with a seeded random sign per input (so the move
/// is not a linear map of f). Unembeddings are kept, so A₁₂ = I and d_rep² = E‖Δ‖².
/// The whole move is then scaled by the largest t ≤ 1 (bisection) whose certified
/// KL enclosures, in both directions, have upper ends ≤ ε. Concept: the sign of the
/// teacher's first principal coordinate, linear in the teacher by construction.
public struct CE4FromTeacher: Sendable {
    public var epsilon = 1e-3
    /// Largest move per input, in units of the RMS embedding norm.
    public var cap = 3.0
    public var seed: UInt64 = 4

    public init() {}

    public func build(teacher: SoftmaxModel) throws -> Construction {
        guard epsilon > 0, epsilon.isFinite else { throw ModelError.badWeights("ε must be positive, got \(epsilon)") }
        try Self.requireDiverse(teacher)
        let move = try fisherNullMove(teacher)
        var low = 0.0, high = 1.0
        if try !certifiedWithin(teacher, move, scale: 1) {
            for _ in 0..<40 {
                let mid = (low + high) / 2
                if try certifiedWithin(teacher, move, scale: mid) { low = mid } else { high = mid }
            }
        } else {
            low = 1
        }
        let student = try teacher.with(embeddings: teacher.embeddings + low * move)
        let concept = try principalSign(teacher)
        return Construction(
            family: "CE4",
            summary: "Fisher-null move of every teacher embedding (unembeddings kept), scaled by t = \(low) to certified KL ≤ \(epsilon) both ways",
            parameters: ["epsilon": "\(epsilon)", "cap": "\(cap)", "seed": "\(seed)", "scale_t": "\(low)"],
            pair: try ModelPair(teacher, student), inputLabels: teacher.predictedLabels(),
            concept: concept, conceptName: "sign of the teacher's first principal coordinate")
    }

    /// The largest N·k a CE4 teacher may have: the search, the Fisher-null move and the width
    /// curve each hold several N×k matrices and certify KL over all N·k logits in MPFR. (At the
    /// limit itself a run takes minutes and several GB whatever its time budget, which bounds
    /// the search alone.)
    public static let logitLimit = 10_000_000
    /// The most values (N + k)·d a CE4 teacher's arrays may hold: a teacher CE4 can use has
    /// d < min(N, k), so the logit limit keeps this below 2·10⁷; a wider file is refused unread.
    public static let valueLimit = 100_000_000

    /// Refuses a teacher of more than `logitLimit` logits or `valueLimit` values, from its shape
    /// alone (so a file can be refused before it is read).
    public static func requireSize(inputs: Int, labels: Int, dimension: Int) throws {
        let (logits, overflow) = inputs.multipliedReportingOverflow(by: labels)
        guard !overflow, logits <= logitLimit else {
            throw ModelError.refused("CE4 holds several N×k matrices and certifies KL over every logit in MPFR; this teacher's N·k = \(overflow ? "\(inputs)·\(labels)" : "\(logits)") exceeds its limit of 10⁷")
        }
        let (values, wide) = (inputs + labels).multipliedReportingOverflow(by: dimension)
        guard !wide, values <= valueLimit else {
            throw ModelError.refused("this teacher's arrays hold (N + k)·d = \(wide ? "(\(inputs) + \(labels))·\(dimension)" : "\(values)") values, beyond CE4's limit of 10⁸ (a teacher CE4 can use has d < min(N, k))")
        }
    }

    /// CE4 starts from a diverse teacher (THEORY.md §2): k ≥ d + 1, W^{1/2}F and G̃
    /// of full column rank d (relative tolerance 1e−12); an all-zero F would also
    /// make the move's scale (the RMS embedding norm) zero.
    static func requireDiverse(_ teacher: SoftmaxModel) throws {
        try requireSize(inputs: teacher.inputCount, labels: teacher.labelCount, dimension: teacher.dimension)
        let (k, d) = (teacher.labelCount, teacher.dimension)
        guard k >= d + 1 else {
            throw ModelError.shapeMismatch("CE4 needs a diverse teacher, which needs k ≥ d + 1 labels; this one has k = \(k), d = \(d)")
        }
        // Centred canonical correlations (the m_CCA objective and its certificate) need a
        // centred covariance of rank d: N ≥ d + 1 inputs at the very least.
        guard teacher.inputCount >= d + 1 else {
            throw ModelError.refused("CE4 compares centred embeddings, which needs N ≥ d + 1 inputs; this teacher has N = \(teacher.inputCount), d = \(d)")
        }
        guard teacher.embeddings.frobeniusNormSquared > 0 else {
            throw ModelError.refused("CE4's teacher has all-zero embeddings f: it is not diverse (rank W^{1/2}F = 0)")
        }
        let diversity = try ModelPair(teacher, teacher).firstDiversity()
        let f = diversity.embeddingSingularValues, g = diversity.unembeddingSingularValues
        guard diversity.sigmaMinEmbeddings > 1e-12 * (f.first ?? 0) else {
            throw ModelError.refused("CE4's teacher is not diverse: W^{1/2}F has rank below d = \(d) (σ_min/σ_max ≤ 1e−12)")
        }
        guard diversity.sigmaMinUnembeddings > 1e-12 * (g.first ?? 0) else {
            throw ModelError.refused("CE4's teacher is not diverse: the centred unembeddings G̃ have rank below d = \(d) (σ_min/σ_max ≤ 1e−12)")
        }
    }

    func fisherNullMove(_ teacher: SoftmaxModel) throws -> Matrix {
        var g = SeededGenerator(seed: seed)
        let logP = teacher.logConditionals
        let u = teacher.unembeddings
        let rms = teacher.embeddings.rmsRowNorm
        var move = Matrix(rows: teacher.inputCount, columns: teacher.dimension)
        for i in 0..<teacher.inputCount {
            let p = logP.row(i).map(\.exp)
            let mean = u.weightedRowMean(p)
            // J = Σ_y p_y (g_y − ḡ)(g_y − ḡ)ᵀ.
            let centred = u.subtractingFromRows(mean).scalingRows(by: p.map { $0.squareRoot() })
            let eigen = try ModelError.wrapping { try SymmetricEigendecomposition(centred.gram()) }
            let lambda = max(eigen.eigenvalues.last!, 0)
            let v = eigen.eigenvectors.column(teacher.dimension - 1)
            let size = min(lambda > 0 ? (2 * epsilon / lambda).squareRoot() : .infinity, cap * rms)
            let sign: Double = g.next() % 2 == 0 ? 1 : -1
            for j in 0..<teacher.dimension { move[i, j] = sign * size * v[j] }
        }
        return move
    }

    func certifiedWithin(_ teacher: SoftmaxModel, _ move: Matrix, scale: Double) throws -> Bool {
        let student = try teacher.with(embeddings: teacher.embeddings + scale * move)
        let pair = try ModelPair(teacher, student)
        // Screen in double first; certify only a candidate that passes.
        guard pair.klDivergence() <= epsilon, pair.swapped.klDivergence() <= epsilon else { return false }
        let enclosed = try pair.certifiedDivergence()
        return enclosed.klForward.upper <= epsilon && enclosed.klBackward.upper <= epsilon
    }

    func principalSign(_ teacher: SoftmaxModel) throws -> [Bool] {
        let f = teacher.embeddings
        let centred = f.subtractingFromRows(f.weightedRowMean(teacher.weights))
        let v = try ModelError.wrapping { try SingularValueDecomposition(centred) }.v.column(0)
        return centred.applied(to: v).map { $0 > 0 }
    }

}
