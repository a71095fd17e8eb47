import Foundation
import Numerics
import Theory

/// A student's architecture.
public struct StudentShape: Codable, Sendable, Hashable {
    public let name: String
    public let hidden: [Int]
    public let embedding: Int

    public init(name: String, hidden: [Int], embedding: Int) {
        self.name = name; self.hidden = hidden; self.embedding = embedding
    }
}

/// Everything a run needs; the defaults are the documented default run.
public struct DistillConfiguration: Sendable, Codable {
    public var seeds = 3
    public var arms = 8
    public var labels = 8
    public var pointsPerArm = 250
    public var noise = 0.02
    public var teacherHidden = [64, 64]
    public var teacherEmbedding = 4
    public var students = [StudentShape(name: "narrow d=2", hidden: [32, 32], embedding: 2),
                           StudentShape(name: "same d=4", hidden: [64, 64], embedding: 4),
                           StudentShape(name: "wide d=6", hidden: [128, 128], embedding: 6)]
    public var objectives = DistillObjective.allCases
    public var teacherTraining = TrainingOptions(epochs: 300, learningRate: 1e-2)
    public var studentTraining = TrainingOptions(epochs: 300, learningRate: 1e-2)
    public var baseSeed: UInt64 = 1

    public init() {}

    func validate() throws {
        guard seeds >= 1, seeds <= 100 else { throw DistillError.badConfiguration("--seeds must be between 1 and 100") }
        guard teacherEmbedding >= 1, labels >= teacherEmbedding + 1 else {
            throw DistillError.badConfiguration("the teacher's d must be below the number of labels (diversity needs k ≥ d + 1)")
        }
        guard !students.isEmpty, !objectives.isEmpty else { throw DistillError.badConfiguration("nothing to distil") }
        guard students.allSatisfy({ $0.embedding >= 1 && $0.hidden.allSatisfy { $0 >= 1 } }) else {
            throw DistillError.badConfiguration("student widths and dimensions must be ≥ 1")
        }
    }
}

/// One trained teacher.
public struct TeacherMeasurement: Codable, Sendable {
    public let seed: UInt64
    public let trainAccuracy: Double
    public let validationAccuracy: Double
    public let testAccuracy: Double
    public let probeAccuracy: Double
    public let finalLoss: Double
}

/// One distilled student, measured on the test split against its teacher.
public struct StudentMeasurement: Codable, Sendable {
    public let objective: DistillObjective
    public let shape: String
    public let seed: UInt64
    /// Fraction of test inputs where student and teacher predict the same label.
    public let agreement: Double
    public let testAccuracy: Double
    public let kl: Double
    public let dLogit: Double
    /// d_rep(teacher←student)² / E‖f_teacher‖².
    public let dRepScaleFree: Double
    /// Mean centred canonical correlation of teacher and student embeddings.
    public let mcca: Double
    public let probeAccuracy: Double
    public let teacherProbeAccuracy: Double
    public let finalLoss: Double

    /// The aggregated metrics, by their JSON names.
    public static let metricNames = ["agreement", "test_accuracy", "kl", "d_logit", "d_rep_scale_free", "mcca",
                                     "probe_accuracy", "teacher_probe_accuracy"]

    func metric(_ name: String) -> Double {
        switch name {
        case "agreement": return agreement
        case "test_accuracy": return testAccuracy
        case "kl": return kl
        case "d_logit": return dLogit
        case "d_rep_scale_free": return dRepScaleFree
        case "mcca": return mcca
        case "probe_accuracy": return probeAccuracy
        case "teacher_probe_accuracy": return teacherProbeAccuracy
        default: preconditionFailure("unknown metric \(name)")
        }
    }
}

/// Mean and sample standard deviation over seeds.
public struct MeanStd: Codable, Sendable {
    public let mean: Double
    public let std: Double

    init(_ values: [Double]) {
        let n = Double(values.count)
        let m = values.reduce(0, +) / n
        mean = m
        std = values.count < 2 ? 0 : (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot()
    }
}

/// One (objective, student shape) cell over all seeds.
public struct Aggregate: Codable, Sendable {
    public let objective: DistillObjective
    public let shape: String
    public let seeds: Int
    public let metrics: [String: MeanStd]
}

public struct DistillResult: Codable, Sendable {
    public let configuration: DistillConfiguration
    public let teachers: [TeacherMeasurement]
    public let students: [StudentMeasurement]
    public let aggregates: [Aggregate]
    /// Plain-language comparison of the logit objectives with KL, from the numbers.
    public let findings: [String]
    public let seconds: Double
}

/// Trains the teachers and students and measures them with the theory core.
public enum DistillExperiment {
    /// The embeddings the report draws: test inputs of the first seed.
    public struct Pictures: Sendable {
        public let labels: [Int]
        public let teacher: (f: Matrix, g: Matrix)
        public let students: [(title: String, f: Matrix, g: Matrix)]
        /// Every student of the first seed on its test inputs, any dimension, for export.
        public let models: [(name: String, f: Matrix, g: Matrix)]
    }

    public static func run(_ config: DistillConfiguration, workers: Int = 2,
                           progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in })
        throws -> (result: DistillResult, pictures: Pictures?) {
        try config.validate()
        let started = Date()
        let seeds = (0..<config.seeds).map { SeededGenerator.derive(config.baseSeed, UInt64($0)) }
        let data = try seeds.map {
            try SpiralData(arms: config.arms, labels: config.labels, pointsPerArm: config.pointsPerArm,
                           noise: config.noise, seed: $0)
        }
        let jobsPerSeed = config.students.count * config.objectives.count
        let total = seeds.count * (1 + jobsPerSeed)
        let counter = Counter()
        // Phase 1: one teacher per seed; phase 2: every (seed, shape, objective) student.
        // Each job is seeded on its own, so the split across workers changes nothing.
        let teacherRuns = try BLASThreads.parallelMap(seeds.count, workers: workers) { s -> (MLP, TeacherMeasurement) in
            var teacher = MLP(input: 2, hidden: config.teacherHidden, embedding: config.teacherEmbedding,
                              labels: config.labels, seed: SeededGenerator.derive(seeds[s], 1))
            let history = try Trainer.trainClassifier(&teacher, data: data[s].train, options: config.teacherTraining,
                                                      seed: SeededGenerator.derive(seeds[s], 2))
            let measurement = TeacherMeasurement(
                seed: seeds[s], trainAccuracy: Trainer.accuracy(teacher, data[s].train),
                validationAccuracy: Trainer.accuracy(teacher, data[s].validation),
                testAccuracy: Trainer.accuracy(teacher, data[s].test), probeAccuracy: try probeAccuracy(teacher, data[s]),
                finalLoss: history.last ?? .nan)
            progress(counter.increment(), total)
            return (teacher, measurement)
        }
        let studentRuns = try BLASThreads.parallelMap(seeds.count * jobsPerSeed, workers: workers) { job -> (StudentMeasurement, MLP) in
            let s = job / jobsPerSeed, j = job % jobsPerSeed / config.objectives.count, o = job % config.objectives.count
            let shape = config.students[j], objective = config.objectives[o], teacher = teacherRuns[s].0
            var student = MLP(input: 2, hidden: shape.hidden, embedding: shape.embedding, labels: config.labels,
                              seed: SeededGenerator.derive(seeds[s], 100 + UInt64(j)))
            let losses = try Trainer.distill(&student, from: teacher, inputs: data[s].train.inputs, objective: objective,
                                             options: config.studentTraining,
                                             seed: SeededGenerator.derive(seeds[s], 200 + UInt64(j * 10 + o)))
            let m = try measure(student, against: teacher, data: data[s], objective: objective, shape: shape,
                                seed: seeds[s], teacherProbe: teacherRuns[s].1.probeAccuracy, finalLoss: losses.last ?? .nan)
            progress(counter.increment(), total)
            return (m, student)
        }
        let students = studentRuns.map(\.0)
        let aggregates = aggregate(students, config)
        let result = DistillResult(configuration: config, teachers: teacherRuns.map(\.1), students: students,
                                   aggregates: aggregates, findings: findings(aggregates, config),
                                   seconds: Date().timeIntervalSince(started))
        // Pictures: the first seed's test inputs, teacher beside each student with the teacher's d.
        let first = data[0].test, teacher = teacherRuns[0].0
        let drawn = studentRuns.prefix(jobsPerSeed).filter { $0.1.embeddingDimension == config.teacherEmbedding }
            .map { (title: "\($0.0.shape), \($0.0.objective.rawValue)", f: $0.1.embed(first.inputs), g: $0.1.unembeddings) }
        let models = studentRuns.prefix(jobsPerSeed)
            .map { (name: "student-\($0.0.shape)-\($0.0.objective.rawValue)", f: $0.1.embed(first.inputs), g: $0.1.unembeddings) }
        let pictures = Pictures(labels: first.labels, teacher: (teacher.embed(first.inputs), teacher.unembeddings),
                                students: drawn, models: models)
        return (result, pictures)
    }

    /// Probe fitted on the training split's embeddings, scored on the test split.
    static func probeAccuracy(_ model: MLP, _ data: SpiralData) throws -> Double {
        try LinearProbe.fit(embeddings: model.embed(data.train.inputs), concept: data.train.concept)
            .accuracy(on: model.embed(data.test.inputs), concept: data.test.concept)
    }

    static func measure(_ student: MLP, against teacher: MLP, data: SpiralData, objective: DistillObjective,
                        shape: StudentShape, seed: UInt64, teacherProbe: Double, finalLoss: Double) throws -> StudentMeasurement {
        let x = data.test.inputs
        let t = teacher.forward(x), s = student.forward(x)
        let pair = try ModelPair(SoftmaxModel(embeddings: t.embeddings, unembeddings: teacher.unembeddings),
                                 SoftmaxModel(embeddings: s.embeddings, unembeddings: student.unembeddings))
        let agree = zip(Trainer.argmax(t.logits), Trainer.argmax(s.logits)).filter { $0 == $1 }.count
        return StudentMeasurement(objective: objective, shape: shape.name, seed: seed,
                                  agreement: Double(agree) / Double(x.rows), testAccuracy: Trainer.accuracy(student, data.test),
                                  kl: pair.klDivergence(), dLogit: try pair.logitDistance(),
                                  dRepScaleFree: try pair.scaleFreeRepresentationDissimilarity(),
                                  mcca: try pair.embeddingCorrelations(centred: true).mean,
                                  probeAccuracy: try probeAccuracy(student, data), teacherProbeAccuracy: teacherProbe,
                                  finalLoss: finalLoss)
    }

    static func aggregate(_ students: [StudentMeasurement], _ config: DistillConfiguration) -> [Aggregate] {
        config.students.flatMap { shape in
            config.objectives.map { objective in
                let cell = students.filter { $0.shape == shape.name && $0.objective == objective }
                var metrics: [String: MeanStd] = [:]
                for name in StudentMeasurement.metricNames { metrics[name] = MeanStd(cell.map { $0.metric(name) }) }
                return Aggregate(objective: objective, shape: shape.name, seeds: cell.count, metrics: metrics)
            }
        }
    }

    /// For each student shape: do the logit objectives give higher m_CCA and lower
    /// d_rep than KL at comparable agreement? Stated from the numbers, either way.
    static func findings(_ aggregates: [Aggregate], _ config: DistillConfiguration) -> [String] {
        guard config.objectives.contains(.kl) else { return ["KL was not among the objectives: no comparison."] }
        func f(_ v: Double) -> String { String(format: "%.3f", v) }
        return config.students.map { shape in
            let cells = aggregates.filter { $0.shape == shape.name }
            guard let kl = cells.first(where: { $0.objective == .kl }) else { return "" }
            let others = cells.filter { $0.objective != .kl }
            let mcca = { (a: Aggregate) in a.metrics["mcca"]!.mean }
            let drep = { (a: Aggregate) in a.metrics["d_rep_scale_free"]!.mean }
            let agree = { (a: Aggregate) in a.metrics["agreement"]!.mean }
            let higher = others.filter { mcca($0) > mcca(kl) }.map(\.objective.rawValue)
            let lower = others.filter { drep($0) < drep(kl) }.map(\.objective.rawValue)
            let comparable = others.allSatisfy { abs(agree($0) - agree(kl)) <= 0.02 }
            var s = "\(shape.name): KL gives m_CCA \(f(mcca(kl))), scale-free d_rep \(f(drep(kl))), agreement \(f(agree(kl))); "
            s += others.map { "\($0.objective.rawValue) \(f(mcca($0))) / \(f(drep($0))) / \(f(agree($0)))" }.joined(separator: "; ")
            s += ". Higher m_CCA than KL: \(higher.isEmpty ? "none" : higher.joined(separator: ", ")) of \(others.count); "
            s += "lower d_rep than KL: \(lower.isEmpty ? "none" : lower.joined(separator: ", ")) of \(others.count); "
            s += comparable ? "agreement within 0.02 of KL's for every objective." : "agreement differs from KL's by more than 0.02 for some objective, so the comparison is not at equal agreement."
            return s
        }
    }
}

/// A thread-safe counter.
final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    /// Adds one and returns the new value.
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}

