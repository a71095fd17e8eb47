import Numerics
import Theory

/// The KL side of T12 (THEORY.md §9): for each student width d₂, the smallest
/// KL(teacher‖student) a search over every student of that width (free F_B ∈ ℝ^{N×d₂},
/// G_B ∈ ℝ^{k×d₂}, the teacher's inputs, labels and weights) reaches, beside the exact
/// logit floor of that width. The search starts from the truncated-SVD student (which
/// attains the logit floor) and from random students, and runs Adam on KL's analytic
/// gradient (`DivergencePair`, CE4's kernel). What it finds is an upper bound on the least
/// KL of the width (a search, not a proof); the KL it reports is certified (MPFR enclosure)
/// for the student it found, and so is that student's d_logit², which T12 keeps at or above
/// the floor.
public struct WidthKLCurve: Sendable {
    public struct Row: Codable, Sendable {
        public let width: Int
        /// Σ_{i>d₂} σᵢ², exact to double rounding (T12), and its certified verdict on the found student.
        public let logitFloor: Double
        /// The least KL(teacher‖student) the search reached, the upper end of its MPFR enclosure.
        public let klFound: Double
        /// That student's d_logit² (exact rational, rounded) and its agreement with the teacher.
        public let dLogitSquaredOfKLStudent: Double
        public let agreementOfKLStudent: Double
        /// The truncated-SVD student's (the logit floor's) KL and agreement.
        public let klOfFloorStudent: Double
        public let agreementOfFloorStudent: Double
        /// T12 on the KL student, certified: its d_logit² is at least the floor.
        public let t12Holds: Bool?

        enum CodingKeys: String, CodingKey {
            case width, logitFloor = "logit_floor", klFound = "kl_found"
            case dLogitSquaredOfKLStudent = "d_logit_squared_of_kl_student", agreementOfKLStudent = "agreement_of_kl_student"
            case klOfFloorStudent = "kl_of_floor_student", agreementOfFloorStudent = "agreement_of_floor_student"
            case t12Holds = "t12_holds"
        }
    }

    public var starts = 4
    public var iterations = 2_000
    public var learningRate = 0.02
    public var seed: UInt64 = 1
    /// Wall-clock seconds per width, all starts together (nil: the iterations alone stop it).
    public var secondsPerWidth: Double?

    /// The rows of the widths searched, and what cut the run short.
    public struct Result: Sendable {
        public let rows: [Row]
        /// Widths not searched because an interrupt arrived.
        public let notSearched: [Int]
        /// Whether the clock stopped some width's search before its iterations (not reproducible to the bit).
        public let stoppedByTime: Bool
    }

    public init() {}

    /// One row per width 1 … min(d₁, k − 1) − 1 (wider students reach the floor 0 and, by the
    /// teacher's own parameters, KL 0).
    public func run(teacher: SoftmaxModel, progress: (Int) -> Void = { _ in }, stop: (@Sendable () -> Bool)? = nil) throws -> Result {
        try CE4FromTeacher.requireSize(inputs: teacher.inputCount, labels: teacher.labelCount, dimension: teacher.dimension)
        let top = min(teacher.dimension, teacher.labelCount - 1)
        guard top >= 2 else {
            throw ModelError.refused("the teacher has min(d, k − 1) = \(top): no narrower student has a positive floor (the width curve needs min(d, k − 1) ≥ 2)")
        }
        guard teacher.inputCount > teacher.dimension else {
            throw ModelError.refused("the width curve needs more inputs than the teacher's d (N = \(teacher.inputCount), d = \(teacher.dimension)): the truncated-SVD students need W^{1/2}F of rank d")
        }
        let floor = try WidthFloor(teacher)
        let divergence = DivergencePair(teacher: teacher)
        let teacherLabels = teacher.predictedLabels()
        var rows: [Row] = [], timedOut = false
        for width in 1..<top {
            if stop?() ?? false { return Result(rows: rows, notSearched: Array(width..<top), stoppedByTime: timedOut) }
            progress(width)
            let deadline = secondsPerWidth.map { ContinuousClock.now + .milliseconds(Int64($0 * 1000)) }
            guard let attaining = try floor.attainingStudent(width: width, weights: teacher.weights) else {
                throw ModelError.inapplicable("the width floor has no factors for width \(width)")
            }
            var g = SeededGenerator(seed: SeededGenerator.derive(seed, UInt64(width)))
            let scale = (teacher.embeddings.frobeniusNormSquared / Double(teacher.embeddings.storage.count)).squareRoot()
            var best: (kl: Double, f: Matrix, g: Matrix) = (.infinity, attaining.embeddings, attaining.unembeddings)
            for start in 0..<starts {
                var f = start == 0 ? attaining.embeddings : g.gaussianMatrix(rows: teacher.inputCount, columns: width, scale: scale)
                var u = start == 0 ? attaining.unembeddings : g.gaussianMatrix(rows: teacher.labelCount, columns: width, scale: 1)
                let (kl, cut) = descend(&f, &u, divergence, deadline: deadline, stop: stop)
                if cut { timedOut = timedOut || !(stop?() ?? false) }
                if kl < best.kl { best = (kl, f, u) }
            }
            let student = try SoftmaxModel(embeddings: best.f, unembeddings: best.g, weights: teacher.weights)
            let pair = try ModelPair(teacher, student), floorPair = try ModelPair(teacher, attaining)
            let enclosed = try pair.certifiedDivergence()
            let t12 = try T12WidthFloorBound().certify(pair)
            rows.append(Row(width: width, logitFloor: floor.floor(width: width), klFound: enclosed.klForward.upper,
                       dLogitSquaredOfKLStudent: pair.exactLogitDistanceSquared().doubleValue,
                       agreementOfKLStudent: Self.agreement(teacherLabels, student.predictedLabels()),
                       klOfFloorStudent: floorPair.klDivergence(),
                       agreementOfFloorStudent: Self.agreement(teacherLabels, attaining.predictedLabels()),
                       t12Holds: t12.isCertified ? t12.outcome == .holds : nil))
        }
        return Result(rows: rows, notSearched: [], stoppedByTime: timedOut)
    }

    /// Adam on KL(teacher‖student) over F and G; returns the least KL seen (and leaves F, G
    /// there), and whether the deadline or an interrupt cut the descent short.
    func descend(_ f: inout Matrix, _ g: inout Matrix, _ divergence: DivergencePair,
                 deadline: ContinuousClock.Instant? = nil, stop: (@Sendable () -> Bool)? = nil) -> (kl: Double, cut: Bool) {
        var cut = false
        var mf = Matrix(rows: f.rows, columns: f.columns), vf = mf
        var mg = Matrix(rows: g.rows, columns: g.columns), vg = mg
        var best = (kl: Double.infinity, f: f, g: g)
        let (b1, b2) = (0.9, 0.999)
        for step in 1...max(1, iterations) {
            if step % 16 == 1, (deadline.map { ContinuousClock.now >= $0 } ?? false) || (stop?() ?? false) { cut = true; break }
            let (values, gradF, gradG) = divergence.evaluate(embeddings: f, unembeddings: g) { _ in (1, 0) }
            guard values.forward.isFinite, let gradF, let gradG else { break }
            if values.forward < best.kl { best = (values.forward, f, g) }
            let c1 = 1 - (Double(step) * b1.log).exp, c2 = 1 - (Double(step) * b2.log).exp
            func update(_ x: inout Matrix, _ grad: Matrix, _ m: inout Matrix, _ v: inout Matrix) {
                for t in x.storage.indices {
                    m.storage[t] = b1 * m.storage[t] + (1 - b1) * grad.storage[t]
                    v.storage[t] = b2 * v.storage[t] + (1 - b2) * grad.storage[t] * grad.storage[t]
                    x.storage[t] -= learningRate * (m.storage[t] / c1) / ((v.storage[t] / c2).squareRoot() + 1e-12)
                }
            }
            update(&f, gradF, &mf, &vf)
            update(&g, gradG, &mg, &vg)
        }
        (f, g) = (best.f, best.g)
        return (best.kl, cut)
    }

    static func agreement(_ a: [Int], _ b: [Int]) -> Double {
        Double(zip(a, b).filter { $0 == $1 }.count) / Double(max(a.count, 1))
    }
}
