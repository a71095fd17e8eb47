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
    /// Held-out (validation) agreement thresholds at which each student is snapshotted.
    public var matchAgreement = [0.95, 0.98]
    /// Concepts the teacher encodes by construction, added per seed (`TeacherConcepts`).
    public var teacherConcepts = 0
    public var baseSeed: UInt64 = 1
    /// The dataset's description when not the spirals (set by `run`).
    public var data: String?

    public init() {}

    /// Student shapes for embedding dimensions `dimensions`: hidden widths are the
    /// teacher's scaled by d_student/d_teacher (rounded, at least 1).
    public static func scaledStudents(_ dimensions: [Int], teacherHidden: [Int], teacherEmbedding: Int) -> [StudentShape] {
        dimensions.map { d in
            let hidden = teacherHidden.map { max(1, Int((Double($0) * Double(d) / Double(teacherEmbedding)).rounded())) }
            return StudentShape(name: "d=\(d)", hidden: hidden, embedding: d)
        }
    }

    func validate(labels: Int) throws {
        guard seeds >= 1, seeds <= 100 else { throw DistillError.badConfiguration("--seeds must be between 1 and 100") }
        guard matchAgreement.allSatisfy({ $0 > 0 && $0 <= 1 }) else { throw DistillError.badConfiguration("agreement thresholds must lie in (0, 1]") }
        guard teacherEmbedding >= 1, labels >= teacherEmbedding + 1 else {
            throw DistillError.badConfiguration("the teacher's d must be below the number of labels (diversity needs k ≥ d + 1)")
        }
        guard !students.isEmpty, !objectives.isEmpty else { throw DistillError.badConfiguration("nothing to distil") }
        guard (0...teacherEmbedding).contains(teacherConcepts) else {
            throw DistillError.badConfiguration("--teacher-concepts must be between 0 and the teacher's d = \(teacherEmbedding)")
        }
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
    /// The first concept's held-out probe accuracy (kept for older readers of the JSON).
    public let probeAccuracy: Double
    /// Every concept's held-out probe accuracy on the teacher's embeddings.
    public let probes: [String: Double]
    /// Every concept's label-only baseline: the majority value of the concept within each
    /// class the teacher predicts on the training split, scored on the test split.
    public let labelOnly: [String: Double]
    public let finalLoss: Double
}

/// One distilled student at one stage (`final`, or the first epoch its held-out
/// agreement reached a threshold), measured on the test split against its teacher.
public struct StudentMeasurement: Codable, Sendable {
    public let objective: DistillObjective
    public let shape: String
    public let embeddingDimension: Int
    public let seed: UInt64
    /// "final" or "agreement>=0.95" etc.
    public let stage: String
    /// Epochs trained at this stage.
    public let epoch: Int
    /// Fraction of test inputs where student and teacher predict the same label.
    public let agreement: Double
    public let testAccuracy: Double
    public let kl: Double
    public let dLogit: Double
    /// d_rep(teacher←student)² / E‖f_teacher‖².
    public let dRepScaleFree: Double
    /// Mean centred canonical correlation of teacher and student embeddings.
    public let mcca: Double
    /// The first concept's probe accuracy, student and teacher.
    public let probeAccuracy: Double
    public let teacherProbeAccuracy: Double
    /// Every concept's held-out probe accuracy on the student's embeddings, and the teacher's.
    public let probes: [String: Double]
    public let teacherProbes: [String: Double]
    /// T11 per concept, on the test split: the teacher's probe (fitted on the training split)
    /// transported to the student by A = G̃_T⁺G̃_S, its accuracy, and the floor T11 puts under
    /// it from the logit residuals (covariance form) and from KL (through T6.sharp). Absent
    /// where T11 is inapplicable (G̃_T without full column rank).
    public let transportedProbes: [String: Double]
    public let floors: [String: Double]
    public let floorsKL: [String: Double]
    /// T12 on the test split: the least d_logit² any student of this width can reach
    /// (the teacher's spectrum tail), and d_logit² over it (nil when the floor is 0).
    public let widthFloor: Double
    public let floorRatio: Double?
    public let finalLoss: Double

    /// The aggregated metrics, by their JSON names (plus "probe:NAME" per concept).
    public static let metricNames = ["agreement", "test_accuracy", "kl", "d_logit", "d_rep_scale_free", "mcca",
                                     "probe_accuracy", "teacher_probe_accuracy", "width_floor", "floor_ratio"]

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
        case "width_floor": return widthFloor
        case "floor_ratio": return floorRatio ?? .nan
        default:
            if name.hasPrefix("probe:") { return probes[String(name.dropFirst(6))] ?? .nan }
            if name.hasPrefix("teacher_probe:") { return teacherProbes[String(name.dropFirst(14))] ?? .nan }
            if name.hasPrefix("transported:") { return transportedProbes[String(name.dropFirst(12))] ?? .nan }
            if name.hasPrefix("floor:") { return floors[String(name.dropFirst(6))] ?? .nan }
            if name.hasPrefix("floor_kl:") { return floorsKL[String(name.dropFirst(9))] ?? .nan }
            preconditionFailure("unknown metric \(name)")
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

/// One (objective, student shape, stage) cell over the seeds that reached the stage.
public struct Aggregate: Codable, Sendable {
    public let objective: DistillObjective
    public let shape: String
    public let stage: String
    public let seeds: Int
    public let metrics: [String: MeanStd]
}

/// One epoch of a student's training (first seed): held-out agreement and m_CCA on the test split.
public struct TracePoint: Codable, Sendable {
    public let epoch: Int
    public let agreement: Double
    public let mcca: Double
}

/// The first seed's training trace of one student.
public struct StudentTrace: Codable, Sendable {
    public let objective: DistillObjective
    public let shape: String
    public let points: [TracePoint]
}

public struct DistillResult: Codable, Sendable {
    public let configuration: DistillConfiguration
    public let dataset: String
    public let concepts: [String]
    /// Per concept: is it a function of the label on the whole dataset?
    public let conceptIsLabelFunction: [String: Bool]
    /// The stages reported, in order ("final" last).
    public let stages: [String]
    public let teachers: [TeacherMeasurement]
    public let students: [StudentMeasurement]
    public let aggregates: [Aggregate]
    /// Plain-language comparison of the logit objectives with KL, from the numbers.
    public let findings: [String]
    public let traces: [StudentTrace]
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

    /// Runs the experiment on `dataset`, or on fresh spirals per seed when nil.
    public static func run(_ configuration: DistillConfiguration, dataset: Dataset? = nil, workers: Int = 2,
                           progress: @escaping @Sendable (Int, Int) -> Void = { _, _ in })
        throws -> (result: DistillResult, pictures: Pictures?) {
        var named = configuration
        named.data = dataset?.name
        let config = named
        try config.validate(labels: dataset?.labelCount ?? config.labels)
        let started = Date()
        let seeds = (0..<config.seeds).map { SeededGenerator.derive(config.baseSeed, UInt64($0)) }
        let given = try seeds.map { seed -> Dataset in
            if let dataset { return dataset }
            return try Dataset(spirals: SpiralData(arms: config.arms, labels: config.labels, pointsPerArm: config.pointsPerArm,
                                                   noise: config.noise, seed: seed))
        }
        let k = given[0].labelCount, inputs = given[0].inputDimension
        let jobsPerSeed = config.students.count * config.objectives.count
        let total = seeds.count * (1 + jobsPerSeed)
        let counter = Counter()
        let stages = config.matchAgreement.sorted().map(Self.stageName) + ["final"]
        // Phase 1: one teacher per seed; phase 2: every (seed, shape, objective) student.
        // Each job is seeded on its own, so the split across workers changes nothing.
        let teacherRuns = try BLASThreads.parallelMap(seeds.count, workers: workers) { s -> TeacherRun in
            var teacher = MLP(input: inputs, hidden: config.teacherHidden, embedding: config.teacherEmbedding,
                              labels: k, seed: SeededGenerator.derive(seeds[s], 1))
            let history = try Trainer.trainClassifier(&teacher, data: given[s].train, options: config.teacherTraining,
                                                      seed: SeededGenerator.derive(seeds[s], 2))
            let seeded = try withTeacherConcepts(given[s], teacher: teacher, count: config.teacherConcepts)
            let probes = try fittedProbes(teacher, seeded)
            let accuracies = probes.mapValues { $0.accuracy }
            let measurement = TeacherMeasurement(
                seed: seeds[s], trainAccuracy: Trainer.accuracy(teacher, seeded.train),
                validationAccuracy: Trainer.accuracy(teacher, seeded.validation),
                testAccuracy: Trainer.accuracy(teacher, seeded.test),
                probeAccuracy: seeded.conceptNames.first.flatMap { accuracies[$0] } ?? .nan, probes: accuracies,
                labelOnly: labelOnlyBaselines(teacher, seeded), finalLoss: history.last ?? .nan)
            progress(counter.increment(), total)
            return TeacherRun(model: teacher, measurement: measurement, data: seeded, probes: probes.mapValues { $0.probe })
        }
        // Each seed's dataset with its teacher's own concepts (the same data otherwise).
        let data = teacherRuns.map(\.data)
        let studentRuns = try BLASThreads.parallelMap(seeds.count * jobsPerSeed, workers: workers)
        { job -> (measurements: [StudentMeasurement], models: [(stage: String, model: MLP)], trace: StudentTrace?) in
            let s = job / jobsPerSeed, j = job % jobsPerSeed / config.objectives.count, o = job % config.objectives.count
            let shape = config.students[j], objective = config.objectives[o], teacher = teacherRuns[s].model
            var student = MLP(input: inputs, hidden: shape.hidden, embedding: shape.embedding, labels: k,
                              seed: SeededGenerator.derive(seeds[s], 100 + UInt64(j)))
            let thresholds = config.matchAgreement.sorted()
            let teacherValidation = Trainer.argmax(teacher.forward(data[s].validation.inputs).logits)
            let teacherTest = teacher.forward(data[s].test.inputs)
            let widthFloor = try WidthFloor(SoftmaxModel(embeddings: teacherTest.embeddings, unembeddings: teacher.unembeddings))
            var snapshots: [(stage: String, epoch: Int, model: MLP)] = []
            var tracePoints: [TracePoint] = []
            let losses = try Trainer.distill(&student, from: teacher, inputs: data[s].train.inputs, objective: objective,
                                             options: config.studentTraining,
                                             seed: SeededGenerator.derive(seeds[s], 200 + UInt64(j * 10 + o))) { epoch, model in
                let predicted = Trainer.argmax(model.forward(data[s].validation.inputs).logits)
                let agreement = Double(zip(predicted, teacherValidation).filter { $0 == $1 }.count) / Double(predicted.count)
                for threshold in thresholds where agreement >= threshold && !snapshots.contains(where: { $0.stage == stageName(threshold) }) {
                    snapshots.append((stageName(threshold), epoch, model))
                }
                if s == 0 {
                    let pass = model.forward(data[s].test.inputs)
                    let agree = zip(Trainer.argmax(pass.logits), Trainer.argmax(teacherTest.logits)).filter { $0 == $1 }.count
                    let mcca = (try? CanonicalCorrelations(teacherTest.embeddings, pass.embeddings,
                                                           weights: Array(repeating: 1 / Double(pass.embeddings.rows), count: pass.embeddings.rows),
                                                           centred: true).mean) ?? .nan
                    tracePoints.append(TracePoint(epoch: epoch, agreement: Double(agree) / Double(pass.embeddings.rows), mcca: mcca))
                }
            }
            snapshots.append(("final", config.studentTraining.epochs, student))
            let measurements = try snapshots.map { snapshot in
                try measure(snapshot.model, against: teacher, teacherTest: teacherTest, data: data[s], objective: objective, shape: shape, seed: seeds[s],
                            stage: snapshot.stage, epoch: snapshot.epoch, teacherProbes: teacherRuns[s].measurement.probes,
                            teacherProbeDirections: teacherRuns[s].probes, widthFloor: widthFloor, finalLoss: losses.last ?? .nan)
            }
            progress(counter.increment(), total)
            let trace = s == 0 ? StudentTrace(objective: objective, shape: shape.name, points: tracePoints) : nil
            return (measurements, s == 0 ? snapshots.map { ($0.stage, $0.model) } : [], trace)
        }
        let students = studentRuns.flatMap(\.measurements)
        let aggregates = aggregate(students, config, stages: stages, concepts: data[0].conceptNames)
        let result = DistillResult(configuration: config, dataset: data[0].name, concepts: data[0].conceptNames,
                                   conceptIsLabelFunction: Dictionary(uniqueKeysWithValues: zip(data[0].conceptNames, data[0].conceptIsLabelFunction)),
                                   stages: stages, teachers: teacherRuns.map(\.measurement), students: students,
                                   aggregates: aggregates, findings: findings(aggregates, config, stages: stages),
                                   traces: studentRuns.compactMap(\.trace), seconds: Date().timeIntervalSince(started))
        // Pictures: the first seed's test inputs, teacher beside each final student with the teacher's d.
        let first = data[0].test, teacher = teacherRuns[0].model
        let firstSeed = studentRuns.prefix(jobsPerSeed)
        let drawn = firstSeed.compactMap { run -> (title: String, f: Matrix, g: Matrix)? in
            guard let m = run.measurements.last, m.embeddingDimension == config.teacherEmbedding,
                  let model = run.models.last?.model else { return nil }
            return ("\(m.shape), \(m.objective.rawValue)", model.embed(first.inputs), model.unembeddings)
        }
        let models = firstSeed.flatMap { run in
            run.models.map { snapshot in
                (name: "student-\(run.measurements[0].shape)-\(run.measurements[0].objective.rawValue)-\(snapshot.stage)",
                 f: snapshot.model.embed(first.inputs), g: snapshot.model.unembeddings)
            }
        }
        let pictures = Pictures(labels: first.labels, teacher: (teacher.embed(first.inputs), teacher.unembeddings),
                                students: drawn, models: models)
        return (result, pictures)
    }

    static func stageName(_ threshold: Double) -> String { "agreement>=\(threshold)" }

    /// One seed's trained teacher, its measurement, its dataset (with its own concepts when
    /// asked) and its concept probes.
    struct TeacherRun: Sendable {
        let model: MLP
        let measurement: TeacherMeasurement
        let data: Dataset
        let probes: [String: LinearProbe]
    }

    /// Each concept's probe: fitted on the training split's embeddings, scored on the test split.
    static func fittedProbes(_ model: MLP, _ data: Dataset) throws -> [String: (probe: LinearProbe, accuracy: Double)] {
        let train = model.embed(data.train.inputs), test = model.embed(data.test.inputs)
        var result: [String: (probe: LinearProbe, accuracy: Double)] = [:]
        for (c, name) in data.conceptNames.enumerated() {
            let probe = try LinearProbe.fit(embeddings: train, concept: data.train.concepts[c])
            result[name] = (probe, probe.accuracy(on: test, concept: data.test.concepts[c]))
        }
        return result
    }

    /// Each concept's label-only baseline: within each class the teacher predicts on the
    /// training split, the concept's majority value; scored on the test split.
    static func labelOnlyBaselines(_ teacher: MLP, _ data: Dataset) -> [String: Double] {
        let train = Trainer.argmax(teacher.forward(data.train.inputs).logits)
        let test = Trainer.argmax(teacher.forward(data.test.inputs).logits)
        let all = train + test, n = train.count
        var result: [String: Double] = [:]
        for (c, name) in data.conceptNames.enumerated() {
            let z = data.train.concepts[c] + data.test.concepts[c]
            let answers = ConceptReport.labelOnlyPredictions(train: Array(0..<n), test: Array(n..<all.count), predicted: all,
                                                             values: z, weights: [Double](repeating: 1, count: all.count))
            result[name] = LinearProbe.agreement(answers, data.test.concepts[c])
        }
        return result
    }

    /// The dataset with `count` concepts of the teacher's own (`TeacherConcepts`): directions
    /// and thresholds from its training-split embeddings, read on every split.
    static func withTeacherConcepts(_ data: Dataset, teacher: MLP, count: Int) throws -> Dataset {
        guard count > 0 else { return data }
        let train = teacher.embed(data.train.inputs)
        let predicted = Trainer.argmax(teacher.forward(data.train.inputs).logits)
        let directions = try TeacherConcepts.directions(embeddings: train, weights: [Double](repeating: 1, count: train.rows),
                                                        predicted: predicted, count: count)
        func split(_ p: Dataset.Split) -> Dataset.Split {
            let f = teacher.embed(p.inputs)
            return Dataset.Split(inputs: p.inputs, labels: p.labels, concepts: p.concepts + directions.map { $0.values(f) })
        }
        return try Dataset(name: data.name, labelCount: data.labelCount, conceptNames: data.conceptNames + directions.map(\.name),
                           train: split(data.train), validation: split(data.validation), test: split(data.test))
    }

    /// `teacherTest` is the teacher's forward pass on the test split, computed once per job.
    static func measure(_ student: MLP, against teacher: MLP, teacherTest t: MLP.Forward, data: Dataset, objective: DistillObjective,
                        shape: StudentShape, seed: UInt64, stage: String, epoch: Int, teacherProbes: [String: Double],
                        teacherProbeDirections: [String: LinearProbe], widthFloor: WidthFloor,
                        finalLoss: Double) throws -> StudentMeasurement {
        let x = data.test.inputs
        let s = student.forward(x)
        let pair = try ModelPair(SoftmaxModel(embeddings: t.embeddings, unembeddings: teacher.unembeddings),
                                 SoftmaxModel(embeddings: s.embeddings, unembeddings: student.unembeddings))
        let agree = zip(Trainer.argmax(t.logits), Trainer.argmax(s.logits)).filter { $0 == $1 }.count
        let probes = try fittedProbes(student, data).mapValues(\.accuracy)
        let floor = widthFloor.floor(width: shape.embedding)
        let first = data.conceptNames.first
        // T11 on the test split for each concept's teacher probe.
        var transported: [String: Double] = [:], floors: [String: Double] = [:], floorsKL: [String: Double] = [:]
        let stats = pair.logitStatistics()
        for (c, name) in data.conceptNames.enumerated() {
            guard let probe = teacherProbeDirections[name], let teacherAccuracy = teacherProbes[name],
                  let transfer = try? ConceptTransfer(pair, probe: probe.direction) else { continue }
            let z = data.test.concepts[c]
            transported[name] = LinearProbe.agreement(transfer.transportedScores.map { $0 > 0 }, z)
            floors[name] = max(0, teacherAccuracy - transfer.bound(residual: transfer.residual(.covariance)).value)
            let kl = transfer.transportedNormSquared * 2 * stats.kl * (-stats.logTau).exp
            floorsKL[name] = max(0, teacherAccuracy - transfer.bound(residual: kl.isFinite ? kl : .infinity).value)
        }
        return StudentMeasurement(objective: objective, shape: shape.name, embeddingDimension: shape.embedding, seed: seed,
                                  stage: stage, epoch: epoch,
                                  agreement: Double(agree) / Double(x.rows), testAccuracy: Trainer.accuracy(student, data.test),
                                  kl: pair.klDivergence(), dLogit: try pair.logitDistance(),
                                  dRepScaleFree: try pair.scaleFreeRepresentationDissimilarity(),
                                  mcca: try pair.embeddingCorrelations(centred: true).mean,
                                  probeAccuracy: first.flatMap { probes[$0] } ?? .nan,
                                  teacherProbeAccuracy: first.flatMap { teacherProbes[$0] } ?? .nan,
                                  probes: probes, teacherProbes: teacherProbes, transportedProbes: transported,
                                  floors: floors, floorsKL: floorsKL, widthFloor: floor,
                                  floorRatio: floor > 0 ? (try pair.logitDistanceSquared()) / floor : nil, finalLoss: finalLoss)
    }

    static func aggregate(_ students: [StudentMeasurement], _ config: DistillConfiguration, stages: [String],
                          concepts: [String]) -> [Aggregate] {
        let names = StudentMeasurement.metricNames
            + concepts.flatMap { ["probe:\($0)", "teacher_probe:\($0)", "transported:\($0)", "floor:\($0)", "floor_kl:\($0)"] }
        return stages.flatMap { stage in
            config.students.flatMap { shape in
                config.objectives.compactMap { objective -> Aggregate? in
                    let cell = students.filter { $0.shape == shape.name && $0.objective == objective && $0.stage == stage }
                    guard !cell.isEmpty else { return nil }
                    var metrics: [String: MeanStd] = [:]
                    // A metric undefined for every seed (a T12 ratio over a zero floor, a T11
                    // floor where T11 is inapplicable) is left out, never averaged as NaN.
                    for name in names {
                        let values = cell.map { $0.metric(name) }.filter { !$0.isNaN }
                        if !values.isEmpty { metrics[name] = MeanStd(values) }
                    }
                    return Aggregate(objective: objective, shape: shape.name, stage: stage, seeds: cell.count, metrics: metrics)
                }
            }
        }
    }

    /// For each student shape: do the logit objectives give higher m_CCA and lower
    /// d_rep than KL at comparable agreement? Stated from the numbers, either way.
    static func findings(_ aggregates: [Aggregate], _ config: DistillConfiguration, stages: [String]) -> [String] {
        guard config.objectives.contains(.kl) else { return ["KL was not among the objectives: no comparison."] }
        func f(_ v: Double) -> String { String(format: "%.3f", v) }
        return stages.flatMap { stage in config.students.compactMap { shape -> String? in
            let cells = aggregates.filter { $0.shape == shape.name && $0.stage == stage }
            guard let kl = cells.first(where: { $0.objective == .kl }) else {
                return "\(stage), \(shape.name): the KL student did not reach this stage in any seed; no comparison."
            }
            let others = cells.filter { $0.objective != .kl }
            guard !others.isEmpty else {
                return "\(stage), \(shape.name): only the KL student reached this stage (in \(kl.seeds) of \(config.seeds) seeds); no comparison."
            }
            let mcca = { (a: Aggregate) in a.metrics["mcca"]!.mean }
            let drep = { (a: Aggregate) in a.metrics["d_rep_scale_free"]!.mean }
            let agree = { (a: Aggregate) in a.metrics["agreement"]!.mean }
            let higher = others.filter { mcca($0) > mcca(kl) }.map(\.objective.rawValue)
            let lower = others.filter { drep($0) < drep(kl) }.map(\.objective.rawValue)
            let comparable = others.allSatisfy { abs(agree($0) - agree(kl)) <= 0.02 }
            var s = "\(stage), \(shape.name): KL gives m_CCA \(f(mcca(kl))), scale-free d_rep \(f(drep(kl))), agreement \(f(agree(kl))); "
            s += others.map { "\($0.objective.rawValue) \(f(mcca($0))) / \(f(drep($0))) / \(f(agree($0)))" }.joined(separator: "; ")
            s += ". Higher m_CCA than KL: \(higher.isEmpty ? "none" : higher.joined(separator: ", ")) of \(others.count); "
            s += "lower d_rep than KL: \(lower.isEmpty ? "none" : lower.joined(separator: ", ")) of \(others.count); "
            s += comparable ? "agreement within 0.02 of KL's for every objective." : "agreement differs from KL's by more than 0.02 for some objective, so the comparison is not at equal agreement."
            let missing = others.filter { $0.seeds < kl.seeds || $0.seeds < config.seeds }.map { "\($0.objective.rawValue) (\($0.seeds) of \(config.seeds) seeds)" }
            if stage != "final" && (!missing.isEmpty || kl.seeds < config.seeds) {
                s += " Reached this stage: KL in \(kl.seeds) of \(config.seeds) seeds" + (missing.isEmpty ? "." : "; " + missing.joined(separator: ", ") + ".")
            }
            return s
        } }
    }
}

/// A thread-safe counter.
final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    /// Adds one and returns the new value.
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
}

