import Foundation
import Numerics
import Theory

/// CE4 as a search (THEORY.md §5): within KL(A‖B) ≤ ε and KL(B‖A) ≤ ε of a teacher A,
/// the student B (any F_B ∈ R^{N×d_B}, G_B ∈ R^{k×d_B}; the teacher's N, k and weights)
/// that makes the chosen objective smallest.
///
/// 1. Starts (`CE4StartBuilder`): the teacher, the Fisher-null move, relabellings of
///    the teacher's confident class geometry (CE1's mechanism), random perturbations,
///    and the best student of a previous ε.
/// 2. From each start, an augmented Lagrangian on the constraints
///    c = log KL − log(margin·ε) ≤ 0 (both directions), minimised by Adam on the
///    analytic gradients with a cosine-decayed step (per block: `learningRate` × the
///    RMS row norm of the teacher's F or G); multipliers are updated every
///    `innerSteps` evaluations and the penalty doubles while the violation does not
///    fall by a quarter. The best student whose double-precision KLs are both within
///    margin·ε is kept.
/// 3. The best candidates are certified in turn: the student, or its interpolation
///    toward the teacher B(t) = B₀ + t(B − B₀) with t shrunk until the double screen
///    passes, is accepted only when both MPFR KL enclosures have upper ends ≤ ε.
///
/// The starts run on `workers` threads. Each start stops after `evaluationsPerStart`
/// objective evaluations, or earlier when the time budget runs out; the result is
/// deterministic for a seed whenever the evaluation count, not the clock, stopped
/// every start (`SearchEffort.stoppedByTime` says which).
public struct CE4Search: Sendable {
    public var objective: StudentObjectiveKind = .mcca
    public var studentDimension: Int?
    public var starts = 12
    public var evaluationsPerStart = 2500
    /// Seconds for one ε, all starts together (wall clock).
    public var timeBudget = 120.0
    public var seed: UInt64 = 1
    public var workers = 2
    /// The fraction of ε the optimisation aims at, leaving room for certification.
    public var margin = 0.9
    public var learningRate = 0.01
    public var innerSteps = 100
    /// A floor on the log of every probability of the student, log τ (nil: none). With a floor the
    /// T3 ∘ T6.sharp bound at that τ covers every student the search may return, so
    /// found/bound says how tight the theorem is; without one a student may become far
    /// more confident than its teacher, which makes τ, and the bound, vacuous.
    public var studentLogTauFloor: Double?

    public init() {}

    /// The outcome for one ε.
    public struct Outcome: Sendable {
        public let epsilon: Double
        public let student: SoftmaxModel
        /// The objective's double value at the certified student.
        public let objectiveValue: Double
        /// The start the certified student came from.
        public let start: String
        /// The interpolation toward the teacher that certification needed (1 = none).
        public let interpolation: Double
        public let effort: SearchEffort
        /// The certified pair (teacher, student), whose caches hold the enclosures.
        public let pair: ModelPair
    }

    /// Where the effort went: starts, evaluations, time, and what stopped the search.
    public struct SearchEffort: Codable, Sendable {
        public var starts: Int
        public var feasibleStarts: Int
        public var evaluations: Int
        public var seconds: Double
        /// True when the clock (--budget), not the evaluation count, stopped a start.
        public var stoppedByTime: Bool
        /// True when an interrupt (SIGINT) stopped a start: this ε's search was cut short.
        public var interrupted: Bool
        public var workers: Int
        /// Each start's kind and its best feasible objective value (nil: none feasible).
        public var perStart: [StartSummary]

        enum CodingKeys: String, CodingKey {
            case starts, evaluations, seconds, workers
            case feasibleStarts = "feasible_starts", stoppedByTime = "stopped_by_time", perStart = "per_start", interrupted
        }
    }

    public struct StartSummary: Codable, Sendable {
        public let start: String
        public let bestObjective: Double?
        public let evaluations: Int
        enum CodingKeys: String, CodingKey { case start, evaluations, bestObjective = "best_objective" }
    }

    struct Candidate {
        let value: Double
        let embeddings: Matrix
        let unembeddings: Matrix
    }

    struct StartOutcome {
        let best: Candidate?
        let evaluations: Int
        let stoppedByTime: Bool
        let interrupted: Bool
    }

    /// Runs the search for one ε. `warm` (another ε's best student) is an extra start.
    public func run(teacher: SoftmaxModel, epsilon: Double, concept: [Bool]?, warm: SoftmaxModel? = nil,
                    stop: (@Sendable () -> Bool)? = nil) throws -> Outcome {
        guard epsilon > 0, epsilon.isFinite else { throw ModelError.badWeights("ε must be positive and finite, got \(epsilon)") }
        try CE4FromTeacher.requireDiverse(teacher)
        let dimension = studentDimension ?? teacher.dimension
        guard (1...64).contains(dimension) else {
            throw ModelError.refused("the student dimension must be in 1…64, got \(dimension)")
        }
        HeapRetention.enable()
        let clock = ContinuousClock(), began = clock.now
        let deadline = began + .milliseconds(Int64(timeBudget * 1000))
        let base = try CE4StartBuilder.base(teacher, dimension: dimension, seed: seed)
        let objectiveFunction = try StudentObjective(kind: objective, teacher: teacher, concept: concept)
        let divergence = DivergencePair(teacher: teacher)
        let builder = CE4StartBuilder(base: base, teacher: teacher, objective: objectiveFunction, divergence: divergence)
        let startList = try builder.starts(count: starts, seed: SeededGenerator.derive(seed, 0x57A7), warm: warm)
        let scales = (max(base.embeddings.rmsRowNorm, 1e-300), max(base.unembeddings.rmsRowNorm, 1e-300))
        let target = margin * epsilon
        let outcomes = try BLASThreads.parallelMap(startList.count, workers: workers) { i in
            let start = startList[i]
            let refitted = start.needsRefit
                ? CE4Start(kind: start.kind, embeddings: builder.refit(start.embeddings, start.unembeddings), unembeddings: start.unembeddings)
                : start
            return try optimise(refitted, objective: objectiveFunction, divergence: divergence, target: target,
                         scales: scales, deadline: deadline, stop: stop)
        }
        var effort = SearchEffort(starts: startList.count, feasibleStarts: outcomes.filter { $0.best != nil }.count,
                                  evaluations: outcomes.reduce(0) { $0 + $1.evaluations }, seconds: 0,
                                  stoppedByTime: outcomes.contains(where: \.stoppedByTime),
                                  interrupted: outcomes.contains(where: \.interrupted), workers: workers,
                                  perStart: zip(startList, outcomes).map {
                                      StartSummary(start: $0.description, bestObjective: $1.best?.value, evaluations: $1.evaluations)
                                  })
        // Certify the best candidates in turn; the teacher-side start always certifies
        // (it is the teacher itself when d_B = d_A), so a result always exists then.
        let ranked = outcomes.indices.filter { outcomes[$0].best != nil }
            .sorted { (outcomes[$0].best!.value, $0) < (outcomes[$1].best!.value, $1) }
        for index in ranked.prefix(4) {
            let candidate = outcomes[index].best!
            if let (pair, t) = try certifiedStudent(candidate, base: base, teacher: teacher, epsilon: epsilon) {
                let value = try objectiveFunction.evaluate(embeddings: pair.second.embeddings, unembeddings: pair.second.unembeddings).value
                effort.seconds = (clock.now - began).seconds
                return Outcome(epsilon: epsilon, student: pair.second, objectiveValue: value,
                               start: startList[index].description, interpolation: t, effort: effort, pair: pair)
            }
        }
        if let (pair, _) = try certifiedStudent(Candidate(value: 0, embeddings: base.embeddings, unembeddings: base.unembeddings),
                                                base: base, teacher: teacher, epsilon: epsilon, steps: 1) {
            let value = try objectiveFunction.evaluate(embeddings: pair.second.embeddings, unembeddings: pair.second.unembeddings).value
            effort.seconds = (clock.now - began).seconds
            return Outcome(epsilon: epsilon, student: pair.second, objectiveValue: value, start: "teacher (no candidate certified)",
                           interpolation: 0, effort: effort, pair: pair)
        }
        throw ModelError.refused("CE4: no student of dimension \(dimension) was certified within KL ≤ \(epsilon) (no start met both KL constraints: the teacher mapped to that dimension may already be farther, or ε, or --tau-floor, is too tight for the search)")
    }

    func optimise(_ start: CE4Start, objective: StudentObjective, divergence: DivergencePair, target: Double,
                  scales: (Double, Double), deadline: ContinuousClock.Instant,
                  stop: (@Sendable () -> Bool)?) throws -> StartOutcome {
        var f = start.embeddings, g = start.unembeddings
        var mF = Matrix(rows: f.rows, columns: f.columns), vF = mF
        var mG = Matrix(rows: g.rows, columns: g.columns), vG = mG
        let (b1, b2) = (0.9, 0.999)
        var lambda = (0.0, 0.0), mu = 5.0
        let logTarget = target.log
        var best: Candidate?
        var lastViolation = Double.infinity
        var constraint = (0.0, 0.0)
        var evaluations = 0
        var stoppedByTime = false, interrupted = false
        for t in 1...max(1, evaluationsPerStart) {
            if t % 16 == 1 {
                if stop?() ?? false { interrupted = true; break }
                if ContinuousClock.now >= deadline { stoppedByTime = true; break }
            }
            let floor = studentLogTauFloor.map { DivergencePair.Floor(aim: $0 + 0.5, weight: mu) }
            let (kl, gradFKL, gradGKL) = divergence.evaluate(embeddings: f, unembeddings: g, floor: floor) { values in
                let klF = max(values.forward, 1e-300), klB = max(values.backward, 1e-300)
                constraint = (klF.log - logTarget, klB.log - logTarget)
                return (max(0, lambda.0 + mu * constraint.0) / klF, max(0, lambda.1 + mu * constraint.1) / klB)
            }
            let objectiveValue = try objective.evaluate(embeddings: f, unembeddings: g)
            evaluations += 1
            guard objectiveValue.value.isFinite, kl.forward.isFinite, kl.backward.isFinite else { break }
            let aboveFloor = studentLogTauFloor.map { kl.minLogQ >= $0 } ?? true
            if kl.forward <= target, kl.backward <= target, aboveFloor, objectiveValue.value < (best?.value ?? .infinity) {
                best = Candidate(value: objectiveValue.value, embeddings: f, unembeddings: g)
            }
            let gradF = objectiveValue.embeddings + gradFKL!
            let gradG = objectiveValue.unembeddings + gradGKL!
            guard gradF.storage.allSatisfy(\.isFinite), gradG.storage.allSatisfy(\.isFinite) else { break }
            let progress = Double(t) / Double(max(1, evaluationsPerStart))
            let schedule = 0.05 + 0.95 * 0.5 * (1 + cos(Double.pi * progress))
            let correction1 = 1 - pow(b1, Double(t)), correction2 = 1 - pow(b2, Double(t))
            func adam(_ x: inout Matrix, _ m: inout Matrix, _ v: inout Matrix, _ grad: Matrix, _ step: Double) {
                for e in x.storage.indices {
                    m.storage[e] = b1 * m.storage[e] + (1 - b1) * grad.storage[e]
                    v.storage[e] = b2 * v.storage[e] + (1 - b2) * grad.storage[e] * grad.storage[e]
                    x.storage[e] -= step * (m.storage[e] / correction1) / ((v.storage[e] / correction2).squareRoot() + 1e-300)
                }
            }
            adam(&f, &mF, &vF, gradF, learningRate * schedule * scales.0)
            adam(&g, &mG, &vG, gradG, learningRate * schedule * scales.1)
            if t % innerSteps == 0 {
                lambda = (max(0, lambda.0 + mu * constraint.0), max(0, lambda.1 + mu * constraint.1))
                let violation = max(constraint.0, constraint.1, 0)
                if violation > 0.75 * lastViolation { mu = min(2 * mu, 1e4) }
                lastViolation = violation
            }
        }
        return StartOutcome(best: best, evaluations: evaluations, stoppedByTime: stoppedByTime, interrupted: interrupted)
    }

    /// The candidate, or its interpolation toward the base student, with certified
    /// KL ≤ ε both ways (and, with a floor, certified log τ_B ≥ log floor): t = 1, then t shrunk by 0.8 while the double screen fails,
    /// certifying (MPFR) each t that the screen passes.
    func certifiedStudent(_ candidate: Candidate, base: SoftmaxModel, teacher: SoftmaxModel, epsilon: Double,
                          steps: Int = 40) throws -> (ModelPair, Double)? {
        var t = 1.0
        for _ in 0..<steps {
            let f = t == 1 ? candidate.embeddings : base.embeddings + t * (candidate.embeddings - base.embeddings)
            let g = t == 1 ? candidate.unembeddings : base.unembeddings + t * (candidate.unembeddings - base.unembeddings)
            let student = try SoftmaxModel(embeddings: f, unembeddings: g, weights: teacher.weights)
            let pair = try ModelPair(teacher, student)
            if pair.klDivergence() <= epsilon, pair.swapped.klDivergence() <= epsilon {
                let enclosed = try pair.certifiedDivergence()
                let floorHolds = studentLogTauFloor.map { enclosed.logTauSecond.lower >= $0 } ?? true
                if enclosed.klForward.upper <= epsilon, enclosed.klBackward.upper <= epsilon, floorHolds { return (pair, t) }
            }
            t *= 0.8
        }
        return nil
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) * 1e-18
    }
}
