import ArgumentParser
import Distill
import Foundation

struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Reproduce the distillation claim (THEORY.md §6) on synthetic spirals or any labelled dataset (--data) and measure it with the theory core.",
        discussion: """
        Per seed: a teacher MLP is trained with cross-entropy on interleaved spiral arms (default) or on \
        --data FILE.npz (arrays x: N×D, y: N labels 0…k−1, optional split: 0/1/2 per row, else a seeded \
        stratified 60/20/20 split, and concepts c_NAME: 0/1 per row); students of several shapes are \
        distilled from its logits with KL(teacher‖student), the centred and the raw squared logit \
        difference (summed over labels), and the absolute logit difference (averaged over labels). Each \
        student is measured on the test split at the first epoch its held-out agreement with the teacher \
        reaches each --match-agreement threshold and at the end: agreement, KL, d_logit, scale-free d_rep, \
        m_CCA with the teacher's embeddings, and every concept's held-out linear-probe accuracy beside the \
        teacher's. The report says which way the comparison fell at each stage. --out also writes the first \
        seed's teacher and students (each stage) as model files under models/.

        Exit status: 0 success, 2 bad usage or a failed training run.
        """)

    @Option(parsing: .unconditional, help: "Number of seeds (each: new data, teacher and students).")
    var seeds = 3

    @Option(help: "A labelled dataset (.npz with x, y, optional split and c_NAME concepts) instead of the spirals.")
    var data: String?

    @Option(help: "UTF-8 text for next-character prediction (input: the previous --context characters, one-hot; label: the next character; contiguous 60/20/20 blocks), instead of the spirals.")
    var text: String?

    @Option(parsing: .unconditional, help: "Characters of context for --text (1…64).")
    var context = 8

    @Option(name: .customLong("teacher-hidden"), help: "Teacher hidden widths, comma-separated (default 64,64).")
    var teacherHidden: String?

    @Option(name: .customLong("teacher-dimension"), parsing: .unconditional, help: "Teacher embedding dimension d (default 4).")
    var teacherDimension: Int?

    @Option(help: "Student embedding dimensions, comma-separated; hidden widths scale with the teacher's by d/d_teacher (default: the spiral shapes d = 2, 4, 6).")
    var students: String?

    @Option(name: .customLong("match-agreement"), help: "Held-out agreement thresholds for the matched snapshots, comma-separated (default 0.95,0.98; empty for none).")
    var matchAgreement: String?

    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Mini-batch size of every training run (default 64).")
    var batchSize = 64

    @Option(parsing: .unconditional, help: "Spiral arms (2 … 1000).")
    var arms = 8

    @Option(parsing: .unconditional, help: "Labels (arm a has label a mod labels).")
    var labels = 8

    @Option(parsing: .unconditional, help: "Points per arm, split 60/20/20.")
    var pointsPerArm = 250

    @Option(parsing: .unconditional, help: "Standard deviation of the Gaussian noise on each coordinate (adjacent arms are 1/arms apart).")
    var noise = 0.02

    @Option(parsing: .unconditional, help: "Training epochs of the teacher.")
    var teacherEpochs = 300

    @Option(parsing: .unconditional, help: "Training epochs of each student.")
    var studentEpochs = 300

    @Option(help: "Adam step size of every training run.")
    var learningRate = 1e-2

    @Option(help: "Objectives, comma-separated: kl, logit-centred, logit-raw, logit-abs (default all).")
    var objectives: String?

    @Option(name: .customLong("teacher-concepts"), parsing: .unconditional,
            help: "Add n concepts each teacher encodes by construction: [uⱼᵀf > median] for the top n principal directions of its training embeddings' within-class covariance (0 … the teacher's d; default 0).")
    var teacherConcepts = 0

    @Option(parsing: .unconditional, help: "Seed of the whole run.")
    var seed: UInt64 = 1

    @Option(help: "Directory for report.md, distill.json and SVG figures.")
    var out: String?

    @Flag(help: "Print the JSON report on standard output.")
    var json = false

    func configuration() throws -> DistillConfiguration {
        var c = DistillConfiguration()
        c.seeds = seeds; c.arms = arms; c.labels = labels; c.pointsPerArm = pointsPerArm; c.noise = noise
        c.teacherTraining.epochs = teacherEpochs; c.studentTraining.epochs = studentEpochs
        c.baseSeed = seed
        c.teacherConcepts = teacherConcepts
        c.teacherTraining.learningRate = learningRate; c.studentTraining.learningRate = learningRate
        c.teacherTraining.batchSize = batchSize; c.studentTraining.batchSize = batchSize
        if let teacherHidden {
            c.teacherHidden = try commaSeparated(teacherHidden, option: "teacher-hidden", of: "widths 1…4096") { Int($0).flatMap { (1...4096).contains($0) ? $0 : nil } }
        }
        if let teacherDimension { c.teacherEmbedding = teacherDimension }
        if let students {
            let dims = try commaSeparated(students, option: "students", of: "dimensions 1…256") { Int($0).flatMap { (1...256).contains($0) ? $0 : nil } }
            c.students = DistillConfiguration.scaledStudents(dims, teacherHidden: c.teacherHidden, teacherEmbedding: c.teacherEmbedding)
        } else if teacherHidden != nil || teacherDimension != nil {
            c.students = DistillConfiguration.scaledStudents([max(1, c.teacherEmbedding / 2), c.teacherEmbedding, c.teacherEmbedding * 3 / 2],
                                                             teacherHidden: c.teacherHidden, teacherEmbedding: c.teacherEmbedding)
        }
        if let matchAgreement {
            c.matchAgreement = matchAgreement.isEmpty ? [] : try commaSeparated(matchAgreement, option: "match-agreement", of: "thresholds in (0, 1]") {
                Double($0).flatMap { $0 > 0 && $0 <= 1 ? $0 : nil }
            }
        }
        if let objectives {
            c.objectives = try commaSeparated(objectives, option: "objectives",
                                              of: "objectives among kl, logit-centred, logit-raw, logit-abs") {
                DistillObjective(rawValue: $0)
            }
            if let twice = c.objectives.first(where: { o in c.objectives.filter { $0 == o }.count > 1 }) {
                throw ValidationError("--objectives lists \(twice.rawValue) twice; give each objective once")
            }
        }
        return c
    }

    func validate() throws {
        guard seeds >= 1, seeds <= 100 else { throw ValidationError("--seeds must be between 1 and 100") }
        guard arms >= 2, labels >= 2, labels <= arms, arms <= 1000 else {
            throw ValidationError("need 2 ≤ --labels ≤ --arms ≤ 1000, got --labels \(labels) --arms \(arms)")
        }
        guard data == nil || text == nil else { throw ValidationError("give --data or --text, not both") }
        guard (1...64).contains(context) else { throw ValidationError("--context must be in 1…64") }
        if data == nil && text == nil {
            let d = teacherDimension ?? 4
            guard labels >= d + 1 else { throw ValidationError("--labels must be at least \(d + 1): the teacher's d = \(d) needs k ≥ d + 1") }
        }
        if let teacherDimension, !(1...256).contains(teacherDimension) { throw ValidationError("--teacher-dimension must be in 1…256") }
        guard (1...100_000).contains(batchSize) else { throw ValidationError("--batch-size must be in 1…100000") }
        guard pointsPerArm >= 10, pointsPerArm <= 100_000 else { throw ValidationError("--points-per-arm must be between 10 and 100000") }
        guard noise >= 0, noise.isFinite else { throw ValidationError("--noise must be a non-negative number") }
        guard (1...100_000).contains(teacherEpochs), (1...100_000).contains(studentEpochs) else {
            throw ValidationError("epochs must be between 1 and 100000")
        }
        guard learningRate > 0, learningRate < 1 else { throw ValidationError("--learning-rate must lie in (0, 1)") }
        _ = try configuration()
    }

    func run() throws {
        let directory = try out.map(OutputDirectory.init)
        let progress = ProgressReporter(label: "distill", plain: json)
        let (result, pictures): (DistillResult, DistillExperiment.Pictures?)
        do {
            let config = try configuration()
            var dataset = try data.map { try Dataset.read(URL(fileURLWithPath: $0), seed: config.baseSeed) }
            if let text {
                let content: String
                do { content = try String(contentsOf: URL(fileURLWithPath: text), encoding: .utf8) } catch {
                    throw CLIError("\(text): cannot read it as UTF-8 text")
                }
                dataset = try Dataset.text(content, name: URL(fileURLWithPath: text).lastPathComponent, context: context)
            }
            if let dataset, dataset.labelCount < config.teacherEmbedding + 1 {
                throw CLIError("\(dataset.name) has k = \(dataset.labelCount) labels; the teacher's d = \(config.teacherEmbedding) needs k ≥ d + 1 (lower --teacher-dimension)")
            }
            (result, pictures) = try DistillExperiment.run(config, dataset: dataset) { done, total in progress.update(done, total) }
        } catch let e as DistillError { throw CLIError(e.description) }
        directory?.attempt("distill") { directory in
            let files = try DistillReport.write(result, pictures: pictures, to: directory.url)
            progress.note("wrote \(files.count) files to \(directory.url.path)")
        }
        if json { print(try DistillReport.json(result)) }
        else { print(DistillReport.markdown(result), terminator: "") }
    }
}
