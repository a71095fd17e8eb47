import Foundation
import Numerics
import Measure
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
    /// KL(teacher‖student) thresholds (nats, validation mean) at which each student is
    /// also snapshotted (first crossing).
    public var matchKL: [Double] = []
    /// The character embedding's dimension e, for text datasets (inputs are codes).
    public var characterDimension = 24
    /// Concepts the teacher encodes by construction, added per seed (`TeacherConcepts`).
    public var teacherConcepts = 0
    public var baseSeed: UInt64 = 1
    /// The dataset's description when not the spirals (set by `run`).
    public var data: String?

    public init() {}

    /// The defaults for a dataset: the spirals' (nil), a labelled `--data` set's (sized by
    /// its N, D and k), or text's (a character-embedding language model with dropout and
    /// early stopping, sized to finish in about 15 minutes on 2 cores with one seed).
    public static func defaults(for dataset: Dataset?) -> DistillConfiguration {
        var c = DistillConfiguration()
        guard let dataset else { return c }
        let k = dataset.labelCount
        if dataset.characterVocabulary != nil {
            c.seeds = 1
            c.teacherHidden = [512, 512]
            c.teacherEmbedding = min(32, k - 1)
            c.students = scaledStudents([8, 16, 32].map { min($0, k - 1) }, teacherHidden: c.teacherHidden,
                                        teacherEmbedding: c.teacherEmbedding)
            for path in [\DistillConfiguration.teacherTraining, \.studentTraining] {
                c[keyPath: path].learningRate = 1e-3
                c[keyPath: path].batchSize = 128
                c[keyPath: path].dropout = 0.2
            }
            // Epoch caps set by the time budget (≤ 15 minutes on 2 cores with these sizes),
            // fixed before the students' results were looked at.
            c.teacherTraining.epochs = 8
            c.teacherTraining.patience = 2
            c.studentTraining.epochs = 10
            c.studentTraining.patience = 3
            c.matchAgreement = [0.75, 0.85]
            c.matchKL = [0.1, 0.05]
            return c
        }
        let d = max(1, min(8, k - 1))
        c.teacherHidden = dataset.inputDimension >= 32 ? [128, 128] : [64, 64]
        c.teacherEmbedding = d
        c.students = scaledStudents(Array(Set([max(1, d / 2), d, min(3 * d / 2, k - 1)])).sorted(), teacherHidden: c.teacherHidden,
                                    teacherEmbedding: d)
        let epochs = max(20, min(500, 500_000 / max(dataset.train.count, 1)))
        c.teacherTraining.epochs = epochs
        c.studentTraining.epochs = epochs
        return c
    }

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
    /// Every concept's majority baseline on the test split (always answering its commoner value).
    public let majority: [String: Double]
    public let finalLoss: Double
    /// Mean cross-entropy in bits per input (per character for text) on each split.
    public let crossEntropyBits: [String: Double]
    /// Epochs run, and the epoch kept (least validation loss with early stopping).
    public let epochsRun: Int
    public let keptEpoch: Int
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
    /// How many values (seeds) the mean is over; with one there is no spread.
    public let count: Int

    init(_ values: [Double]) {
        let n = Double(values.count)
        let m = values.reduce(0, +) / n
        mean = m
        count = values.count
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
    /// The dataset's own baselines (for text: n-gram top-1 accuracies on the test block).
    public let baselines: [String: Double]
    /// The character-embedding layer, for text.
    public let characters: MLP.Characters?
    /// What an interrupted run did not finish (nil when every run finished); everything else in
    /// the result is over the teachers and students that did.
    public let interrupted: DistillInterruption?
}

/// The training runs an interrupt cut short or kept from starting.
public struct DistillInterruption: Codable, Sendable {
    /// A student run that did not finish: whether it started, and its whole epochs run of the
    /// most allowed (a run cut in its first epoch has started with 0).
    public struct Student: Codable, Sendable {
        public let seed: UInt64
        public let shape: String
        public let objective: DistillObjective
        public let started: Bool
        public let epochsRun: Int
    }
    /// Seeds whose teacher did not finish training (none of their students ran).
    public let teachersNotFinished: [UInt64]
    public let studentsNotFinished: [Student]
    /// The seed whose test inputs the figures draw, the traces follow and the models are
    /// exported on: the first whose teacher finished (the first seed when it did).
    public let drawnSeed: UInt64
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
        /// The first seed's concepts on its test inputs (the models' rows), for `measure --concept`.
        public let concepts: [(name: String, values: [Bool])]
    }

    /// Runs the experiment on `dataset`, or on fresh spirals per seed when nil. `stop` is asked
    /// before every mini-batch and every run: once it answers true, the runs in flight stop and none
    /// starts; the result is over those that finished (`DistillResult.interrupted` names the rest),
    /// and `DistillError.interrupted` is thrown when no teacher finished.
    public static func run(_ configuration: DistillConfiguration, dataset: Dataset? = nil, workers: Int = 2,
                           stop: @escaping @Sendable () -> Bool = { false },
                           progress: @escaping @Sendable (Double, Double) -> Void = { _, _ in })
        throws -> (result: DistillResult, pictures: Pictures?) {
        // Every batch allocates and frees its matrices: keep freed memory in the heap.
        HeapRetention.enable()
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
        let characters = given[0].characterVocabulary.map {
            MLP.Characters(vocabulary: $0, dimension: config.characterDimension, context: inputs)
        }
        let jobsPerSeed = config.students.count * config.objectives.count
        // Progress in units of work: an epoch costs the training rows times the network's
        // multiply–adds per row; an early stop takes its remaining epochs off the total.
        let rows = Double(given[0].train.count)
        func epochCost(_ hidden: [Int], _ d: Int) -> Double {
            let widths = [characters.map { $0.context * $0.dimension } ?? inputs] + hidden + [d, k]
            return rows * Double(zip(widths, widths.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 })
        }
        let teacherEpoch = epochCost(config.teacherHidden, config.teacherEmbedding)
        let studentEpochs = config.students.map { epochCost($0.hidden, $0.embedding) }
        let meter = WorkMeter(total: Double(seeds.count) * (teacherEpoch * Double(config.teacherTraining.epochs)
            + Double(config.objectives.count) * studentEpochs.reduce(0, +) * Double(config.studentTraining.epochs)), report: progress)
        let stages = config.matchAgreement.sorted().map(Self.stageName) + config.matchKL.sorted(by: >).map(Self.klStageName) + ["final"]
        // Phase 1: one teacher per seed; phase 2: every (seed, shape, objective) student.
        // Each job is seeded on its own, so the split across workers changes nothing.
        let teacherRuns = try BLASThreads.parallelMap(seeds.count, workers: workers) { s -> TeacherRun? in
            guard !stop() else { return nil }
            var teacher = MLP(input: inputs, hidden: config.teacherHidden, embedding: config.teacherEmbedding,
                              labels: k, seed: SeededGenerator.derive(seeds[s], 1), characters: characters)
            let history: TrainingHistory
            do {
                history = try Trainer.trainClassifier(&teacher, data: given[s].train,
                                                      validation: config.teacherTraining.patience == nil ? nil : given[s].validation,
                                                      options: config.teacherTraining, seed: SeededGenerator.derive(seeds[s], 2),
                                                      afterEpoch: { _ in meter.add(teacherEpoch) }, stop: stop)
            } catch is CancellationError { return nil }
            meter.drop(teacherEpoch * Double(config.teacherTraining.epochs - history.epochsRun))
            // One evaluation pass per split serves every measurement of the teacher.
            let (train, validation, test) = (teacher.outputs(given[s].train.inputs), teacher.outputs(given[s].validation.inputs),
                                             teacher.outputs(given[s].test.inputs))
            let seeded = try withTeacherConcepts(given[s], embeddings: (train.embeddings, validation.embeddings, test.embeddings),
                                                 predicted: Trainer.argmax(train.logits), count: config.teacherConcepts)
            let probes = try fittedProbes(train: train.embeddings, test: test.embeddings, seeded)
            let accuracies = probes.mapValues { $0.accuracy }
            let bits = 1 / 0.6931471805599453
            let measurement = TeacherMeasurement(
                seed: seeds[s], trainAccuracy: Trainer.accuracy(train.logits, seeded.train.labels),
                validationAccuracy: Trainer.accuracy(validation.logits, seeded.validation.labels),
                testAccuracy: Trainer.accuracy(test.logits, seeded.test.labels),
                probeAccuracy: seeded.conceptNames.first.flatMap { accuracies[$0] } ?? .nan, probes: accuracies,
                labelOnly: labelOnlyBaselines(train: Trainer.argmax(train.logits), test: Trainer.argmax(test.logits), seeded),
                majority: Dictionary(uniqueKeysWithValues: seeded.conceptNames.enumerated().map { c, name in
                    let share = Double(seeded.test.concepts[c].filter { $0 }.count) / Double(max(seeded.test.count, 1))
                    return (name, max(share, 1 - share))
                }),
                finalLoss: history.losses.last ?? .nan,
                crossEntropyBits: ["train": Trainer.crossEntropy(train.logits, seeded.train.labels) * bits,
                                   "validation": Trainer.crossEntropy(validation.logits, seeded.validation.labels) * bits,
                                   "test": Trainer.crossEntropy(test.logits, seeded.test.labels) * bits],
                epochsRun: history.epochsRun, keptEpoch: history.keptEpoch)
            return TeacherRun(model: teacher, measurement: measurement, data: seeded, probes: probes.mapValues { $0.probe },
                              validationLogits: validation.logits, test: test)
        }
        // The first seed whose teacher finished is the one drawn and traced.
        guard let firstSeed = teacherRuns.firstIndex(where: { $0 != nil }) else {
            throw DistillError.interrupted("before any teacher finished training")
        }
        // Each seed's dataset with its teacher's own concepts (the same data otherwise).
        let data = teacherRuns.map { $0?.data }
        let schedule = (0..<(seeds.count * jobsPerSeed)).sorted {
            let (a, b) = (studentEpochs[$0 % jobsPerSeed / config.objectives.count], studentEpochs[$1 % jobsPerSeed / config.objectives.count])
            return a != b ? a > b : $0 < $1
        }
        let traceRows = Array(0..<min(data[firstSeed]!.test.count, traceSample))
        let scheduledRuns = try BLASThreads.parallelMap(seeds.count * jobsPerSeed, workers: workers) { job -> StudentJob in
            // The costliest students first, so the last jobs to finish are short ones.
            let slot = schedule[job]
            let s = slot / jobsPerSeed, j = slot % jobsPerSeed / config.objectives.count, o = slot % config.objectives.count
            let shape = config.students[j], objective = config.objectives[o]
            guard let teacherRun = teacherRuns[s], let data = data[s] else { return .teacherNotFinished }
            guard !stop() else { return .notFinished(seed: seeds[s], shape: shape.name, objective: objective, epochsRun: nil) }
            let teacher = teacherRun.model
            var student = MLP(input: inputs, hidden: shape.hidden, embedding: shape.embedding, labels: k,
                              seed: SeededGenerator.derive(seeds[s], 100 + UInt64(j)), characters: characters)
            let teacherValidation = teacherRun.validationLogits, teacherTest = teacherRun.test
            let teacherValidationLabels = Trainer.argmax(teacherValidation), teacherTestLabels = Trainer.argmax(teacherTest.logits)
            let widthFloor = try WidthFloor(SoftmaxModel(embeddings: teacherTest.embeddings, unembeddings: teacher.unembeddings))
            var snapshots: [(stage: String, epoch: Int, model: MLP)] = []
            var tracePoints: [TracePoint] = []
            var epochsRun = 0
            let history: TrainingHistory
            do {
                history = try Trainer.distill(&student, from: teacher, inputs: data.train.inputs, objective: objective,
                                              options: config.studentTraining,
                                              seed: SeededGenerator.derive(seeds[s], 200 + UInt64(j * 10 + o))) { epoch, model in
                    epochsRun = epoch
                    meter.add(studentEpochs[j])
                    // One validation pass per epoch: agreement and KL for the stages, the
                    // objective for early stopping.
                    let logits = model.outputs(data.validation.inputs).logits
                    let agreement = Self.agreement(Trainer.argmax(logits), teacherValidationLabels)
                    let kl = Self.meanKL(teacherValidation, logits)
                    let crossed = config.matchAgreement.filter { agreement >= $0 }.map(stageName)
                        + config.matchKL.filter { kl <= $0 }.map(klStageName)
                    for stage in crossed where !snapshots.contains(where: { $0.stage == stage }) { snapshots.append((stage, epoch, model)) }
                    if s == firstSeed {
                        let pass = model.outputs(data.test.inputs.selectingRows(traceRows))
                        let mcca = (try? CanonicalCorrelations(teacherTest.embeddings.selectingRows(traceRows), pass.embeddings,
                                                               weights: Array(repeating: 1 / Double(pass.embeddings.rows), count: pass.embeddings.rows),
                                                               centred: true).mean) ?? .nan
                        let teacherLabels = traceRows.map { teacherTestLabels[$0] }
                        tracePoints.append(TracePoint(epoch: epoch, agreement: Self.agreement(Trainer.argmax(pass.logits), teacherLabels), mcca: mcca))
                    }
                    guard config.studentTraining.patience != nil else { return nil }
                    return Loss.distill(objective, teacherLogits: teacherValidation).valueAndGradient(logits).value
                } stop: { stop() }
            } catch is CancellationError {
                return .notFinished(seed: seeds[s], shape: shape.name, objective: objective, epochsRun: epochsRun)
            }
            snapshots.append(("final", history.keptEpoch, student))
            meter.drop(studentEpochs[j] * Double(config.studentTraining.epochs - history.epochsRun))
            let measurements = try snapshots.map { snapshot in
                try measure(snapshot.model, against: teacher, teacherTest: teacherTest, data: data, objective: objective, shape: shape, seed: seeds[s],
                            stage: snapshot.stage, epoch: snapshot.epoch, teacherProbes: teacherRun.measurement.probes,
                            teacherProbeDirections: teacherRun.probes, widthFloor: widthFloor, finalLoss: history.losses.last ?? .nan)
            }
            let trace = s == firstSeed ? StudentTrace(objective: objective, shape: shape.name, points: tracePoints) : nil
            return .finished(StudentRun(measurements: measurements, models: s == firstSeed ? snapshots.map { ($0.stage, $0.model) } : [],
                                        trace: trace))
        }
        // Back in (seed, shape, objective) order.
        let jobs = schedule.indices.sorted { schedule[$0] < schedule[$1] }.map { scheduledRuns[$0] }
        let studentRuns = jobs.compactMap(\.run)
        let unfinished = jobs.compactMap(\.unfinished)
        let interruption = unfinished.isEmpty && !teacherRuns.contains(where: { $0 == nil }) ? nil
            : DistillInterruption(teachersNotFinished: seeds.indices.filter { teacherRuns[$0] == nil }.map { seeds[$0] },
                                  studentsNotFinished: unfinished, drawnSeed: seeds[firstSeed])
        let students = studentRuns.flatMap(\.measurements)
        let reference = data[firstSeed]!
        let aggregates = aggregate(students, config, stages: stages, concepts: reference.conceptNames)
        let result = DistillResult(configuration: config, dataset: reference.name, concepts: reference.conceptNames,
                                   conceptIsLabelFunction: Dictionary(uniqueKeysWithValues: zip(reference.conceptNames, reference.conceptIsLabelFunction)),
                                   stages: stages, teachers: teacherRuns.compactMap { $0?.measurement }, students: students,
                                   aggregates: aggregates, findings: findings(aggregates, config, stages: stages),
                                   traces: studentRuns.compactMap(\.trace), seconds: Date().timeIntervalSince(started),
                                   baselines: given[firstSeed].baselines, characters: characters, interrupted: interruption)
        // Pictures: the first seed's test inputs, teacher beside each final student with the teacher's d.
        let first = reference.test, teacher = teacherRuns[firstSeed]!.model
        let firstSeedRuns = studentRuns.filter { $0.measurements.first?.seed == seeds[firstSeed] }
        let drawn = firstSeedRuns.compactMap { run -> (title: String, f: Matrix, g: Matrix)? in
            guard let m = run.measurements.last, m.embeddingDimension == config.teacherEmbedding,
                  let model = run.models.last?.model else { return nil }
            return ("\(m.shape), \(m.objective.rawValue)", model.embed(first.inputs), model.unembeddings)
        }
        let models = firstSeedRuns.flatMap { run in
            run.models.map { snapshot in
                (name: "student-\(run.measurements[0].shape)-\(run.measurements[0].objective.rawValue)-\(snapshot.stage)",
                 f: snapshot.model.embed(first.inputs), g: snapshot.model.unembeddings)
            }
        }
        let pictures = Pictures(labels: first.labels, teacher: (teacher.embed(first.inputs), teacher.unembeddings),
                                students: drawn, models: models,
                                concepts: Array(zip(reference.conceptNames, first.concepts).map { (name: $0, values: $1) }))
        return (result, pictures)
    }

    /// One student's trained run: its measurements at each stage, the first seed's models, its trace.
    struct StudentRun: Sendable {
        let measurements: [StudentMeasurement]
        let models: [(stage: String, model: MLP)]
        let trace: StudentTrace?
    }

    /// What one student job came to.
    enum StudentJob: Sendable {
        case finished(StudentRun)
        /// Interrupted after `epochsRun` whole epochs, or (nil) not started once interrupted.
        case notFinished(seed: UInt64, shape: String, objective: DistillObjective, epochsRun: Int?)
        /// Its seed's teacher did not finish (named in `DistillInterruption.teachersNotFinished`).
        case teacherNotFinished

        var run: StudentRun? { if case .finished(let r) = self { return r } else { return nil } }
        var unfinished: DistillInterruption.Student? {
            guard case let .notFinished(seed, shape, objective, epochs) = self else { return nil }
            return DistillInterruption.Student(seed: seed, shape: shape, objective: objective, started: epochs != nil, epochsRun: epochs ?? 0)
        }
    }

    /// The first test rows on which the training trace (agreement and m_CCA every epoch, first
    /// seed) is taken: the whole test split of the small datasets, a sample of text's.
    static let traceSample = 4096

    static func stageName(_ threshold: Double) -> String { "agreement>=\(threshold)" }
    static func klStageName(_ threshold: Double) -> String { "kl<=\(threshold)" }

    /// The fraction of equal entries.
    static func agreement(_ a: [Int], _ b: [Int]) -> Double {
        Double(zip(a, b).filter { $0 == $1 }.count) / Double(max(a.count, 1))
    }

    /// Mean over rows of KL(softmax(t) ‖ softmax(s)) (cancellation-free per row).
    static func meanKL(_ t: Matrix, _ s: Matrix) -> Double {
        (0..<t.rows).reduce(0.0) { $0 + klDivergence(logitsP: t.row($1), logitsQ: s.row($1)) } / Double(max(t.rows, 1))
    }

    /// One seed's trained teacher, its measurement, its dataset (with its own concepts when
    /// asked) and its concept probes.
    struct TeacherRun: Sendable {
        let model: MLP
        let measurement: TeacherMeasurement
        let data: Dataset
        let probes: [String: LinearProbe]
        /// The teacher's logits on the validation split and its pass on the test split,
        /// computed once for every student of the seed.
        let validationLogits: Matrix
        let test: MLP.Outputs
    }

    /// Rows a concept probe is fitted on at most: an even stride through the training
    /// split beyond that (text has over 10⁵ positions; 20 000 fix a 30-parameter probe).
    static let probeRows = 20_000

    /// Each concept's probe: fitted on the training split's embeddings (at most
    /// `probeRows`, evenly spaced), scored on the test split.
    static func fittedProbes(train: Matrix, test: Matrix, _ data: Dataset) throws -> [String: (probe: LinearProbe, accuracy: Double)] {
        let stride = max(1, (train.rows + probeRows - 1) / probeRows)
        let rows = Array(Swift.stride(from: 0, to: train.rows, by: stride))
        let fitted = stride == 1 ? train : train.selectingRows(rows)
        var result: [String: (probe: LinearProbe, accuracy: Double)] = [:]
        for (c, name) in data.conceptNames.enumerated() {
            let probe = try LinearProbe.fit(embeddings: fitted, concept: rows.map { data.train.concepts[c][$0] })
            result[name] = (probe, probe.accuracy(on: test, concept: data.test.concepts[c]))
        }
        return result
    }

    /// Each concept's label-only baseline: within each class the teacher predicts on the
    /// training split, the concept's majority value; scored on the test split.
    static func labelOnlyBaselines(train: [Int], test: [Int], _ data: Dataset) -> [String: Double] {
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
    static func withTeacherConcepts(_ data: Dataset, embeddings: (train: Matrix, validation: Matrix, test: Matrix),
                                    predicted: [Int], count: Int) throws -> Dataset {
        guard count > 0 else { return data }
        let directions = try TeacherConcepts.directions(embeddings: embeddings.train,
                                                        weights: [Double](repeating: 1, count: embeddings.train.rows),
                                                        predicted: predicted, count: count)
        func split(_ p: Dataset.Split, _ f: Matrix) -> Dataset.Split {
            Dataset.Split(inputs: p.inputs, labels: p.labels, concepts: p.concepts + directions.map { $0.values(f) })
        }
        return try Dataset(name: data.name, labelCount: data.labelCount, conceptNames: data.conceptNames + directions.map(\.name),
                           train: split(data.train, embeddings.train), validation: split(data.validation, embeddings.validation),
                           test: split(data.test, embeddings.test),
                           characterVocabulary: data.characterVocabulary, baselines: data.baselines)
    }

    /// `teacherTest` is the teacher's forward pass on the test split, computed once per job.
    static func measure(_ student: MLP, against teacher: MLP, teacherTest t: MLP.Outputs, data: Dataset, objective: DistillObjective,
                        shape: StudentShape, seed: UInt64, stage: String, epoch: Int, teacherProbes: [String: Double],
                        teacherProbeDirections: [String: LinearProbe], widthFloor: WidthFloor,
                        finalLoss: Double) throws -> StudentMeasurement {
        let x = data.test.inputs
        let s = student.outputs(x)
        let pair = try ModelPair(SoftmaxModel(embeddings: t.embeddings, unembeddings: teacher.unembeddings),
                                 SoftmaxModel(embeddings: s.embeddings, unembeddings: student.unembeddings))
        let agree = zip(Trainer.argmax(t.logits), Trainer.argmax(s.logits)).filter { $0 == $1 }.count
        let probes = try fittedProbes(train: student.embed(data.train.inputs), test: s.embeddings, data).mapValues(\.accuracy)
        let floor = widthFloor.floor(width: shape.embedding)
        let first = data.conceptNames.first
        // T11 on the test split for each concept's teacher probe.
        var transported: [String: Double] = [:], floors: [String: Double] = [:], floorsKL: [String: Double] = [:]
        let stats = pair.logitStatistics()
        for (c, name) in data.conceptNames.enumerated() {
            guard let probe = teacherProbeDirections[name], let teacherAccuracy = teacherProbes[name],
                  let transfer = try? ConceptTransfer(pair, probe: probe.direction) else { continue }
            let z = data.test.concepts[c], total = transfer.weights.reduce(0, +)
            transported[name] = LinearProbe.agreement(transfer.transportedScores.map { $0 > 0 }, z)
            // The bounds are probabilities of the weights' total (1 up to rounding): a vacuous
            // bound gives the floor 0 exactly, not teacher accuracy − 0.9999….
            func floor(_ residual: Double) -> Double {
                let bound = transfer.bound(residual: residual)
                return bound.gamma == nil ? 0 : max(0, teacherAccuracy - bound.value / total)
            }
            floors[name] = floor(transfer.residual(.covariance))
            // KL lost to rounding (`klResidual` nil): the vacuous floor 0.
            let kl = transfer.klResidual(kl: stats.kl, logTau: stats.logTau) ?? .infinity
            floorsKL[name] = floor(kl.isFinite ? kl : .infinity)
        }
        return StudentMeasurement(objective: objective, shape: shape.name, embeddingDimension: shape.embedding, seed: seed,
                                  stage: stage, epoch: epoch,
                                  agreement: Double(agree) / Double(x.rows), testAccuracy: Trainer.accuracy(s.logits, data.test.labels),
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
        // The seeds whose run of a student finished: every finished run reaches "final", so fewer
        // than the seeds there are runs an interrupt cut short or kept from starting.
        func finished(_ objective: DistillObjective, _ shape: String) -> Int {
            aggregates.first { $0.stage == "final" && $0.shape == shape && $0.objective == objective }?.seeds ?? 0
        }
        return stages.flatMap { stage in config.students.compactMap { shape -> String? in
            let interrupted = config.objectives.contains { finished($0, shape.name) < config.seeds }
            // At a matched stage, "of the n seeds that finished" where an interrupt left some unfinished.
            func of(_ objective: DistillObjective) -> String {
                interrupted && stage != "final" ? "of \(finished(objective, shape.name)) finished seeds" : "of \(config.seeds) seeds"
            }
            let unfinished = config.objectives.filter { finished($0, shape.name) == 0 }.map(\.rawValue)
            let notRun = unfinished.isEmpty ? "" : " Not finished in any seed (interrupted): \(unfinished.joined(separator: ", "))."
            let cells = aggregates.filter { $0.shape == shape.name && $0.stage == stage }
            guard let kl = cells.first(where: { $0.objective == .kl }) else {
                let why = finished(.kl, shape.name) == 0 ? "did not finish in any seed (interrupted)" : "did not reach this stage in any seed\(interrupted ? " that finished" : "")"
                return "\(stage), \(shape.name): the KL student \(why); no comparison." + (finished(.kl, shape.name) == 0 ? "" : notRun)
            }
            let others = cells.filter { $0.objective != .kl }
            guard !others.isEmpty else {
                return "\(stage), \(shape.name): only the KL student reached this stage (in \(kl.seeds) \(of(.kl))); no comparison." + notRun
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
            let missing = others.filter { $0.seeds < kl.seeds || $0.seeds < config.seeds }.map { "\($0.objective.rawValue) (\($0.seeds) \(of($0.objective)))" }
            if !missing.isEmpty || kl.seeds < config.seeds {
                s += " \(stage == "final" ? "Finished (interrupted)" : "Reached this stage"): KL in \(kl.seeds) \(of(.kl))"
                    + (missing.isEmpty ? "." : "; " + missing.joined(separator: ", ") + ".")
                if interrupted { s += " The means are over the seeds each finished, which may differ." }
            }
            return s + notRun
        } }
    }
}

/// Work done and to do, shared by the jobs; each change is reported.
final class WorkMeter: @unchecked Sendable {
    private var done = 0.0, total: Double
    private let lock = NSLock()
    private let report: @Sendable (Double, Double) -> Void

    init(total: Double, report: @escaping @Sendable (Double, Double) -> Void) {
        self.total = total
        self.report = report
    }

    func add(_ work: Double) { change { $0.done += work } }
    /// Work that will not be done after all (an early stop).
    func drop(_ work: Double) { change { $0.total -= work } }

    private func change(_ body: (WorkMeter) -> Void) {
        lock.lock()
        body(self)
        let (d, t) = (done, total)
        lock.unlock()
        report(d, t)
    }
}

