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

        Ctrl-C stops every training run at its next mini-batch and starts no other (runs whose \
        training had ended are still measured); the report (and --out) then holds the teachers and \
        students that finished, each as an uninterrupted run gives it, names the rest, and the exit \
        status is 130. The figures of one seed and the models are then the first seed's whose teacher \
        finished. Interrupted before any teacher finished, nothing is written. A Ctrl-C after the \
        last run finished changes nothing (exit 0). A second Ctrl-C quits at once.

        Exit status: 0 success, 2 bad usage or a failed training run, 130 interrupted (some run did not finish).
        """)

    @Option(parsing: .unconditional, help: "Number of seeds (each: a teacher and its students). Default 3; 1 with --text.")
    var seeds: Int?

    @Option(help: "A labelled dataset (.npz with x, y, optional split and c_NAME concepts) instead of the spirals.")
    var data: String?

    @Option(parsing: .upToNextOption,
            help: ArgumentHelp("UTF-8 text files or directories (every file under them, each real file once, concatenated sorted by path) for next-character prediction, instead of the spirals: input the previous --context characters through a learned character embedding, label the next character; contiguous 60/20/20 blocks.", valueName: "PATH"))
    var text: [String] = []

    @Option(parsing: .unconditional, help: "Characters of context for --text (1…64, default 16).")
    var context = 16

    @Option(name: .customLong("character-dimension"), parsing: .unconditional, help: "Dimension of the character embedding for --text (1…256, default 24).")
    var characterDimension: Int?

    @Option(name: .customLong("teacher-hidden"), parsing: .unconditional, help: "Teacher hidden widths, comma-separated (default 64,64 for spirals; 128,128 for --data with D ≥ 32, else 64,64; 512,512 for --text).")
    var teacherHidden: String?

    @Option(name: .customLong("teacher-dimension"), parsing: .unconditional, help: "Teacher embedding dimension d (default 4 for spirals; min(8, k − 1) for --data; 32 for --text).")
    var teacherDimension: Int?

    @Option(parsing: .unconditional, help: "Student embedding dimensions, comma-separated; hidden widths scale with the teacher's by d/d_teacher (default d = 2, 4, 6 for spirals; d/2, d, 3d/2 for --data; 8, 16, 32 for --text).")
    var students: String?

    @Option(name: .customLong("match-agreement"), parsing: .unconditional, help: "Held-out agreement thresholds for the matched snapshots, comma-separated (default 0.95,0.98; 0.75,0.85 for --text; empty for none).")
    var matchAgreement: String?

    @Option(name: .customLong("match-kl"), parsing: .unconditional, help: "Held-out KL(teacher‖student) thresholds in nats for matched snapshots, comma-separated (default none; 0.1,0.05 for --text; empty for none).")
    var matchKL: String?

    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Mini-batch size of every training run (default 64; 128 for --text).")
    var batchSize: Int?

    @Option(parsing: .unconditional, help: "Spiral arms (2 … 1000).")
    var arms = 8

    @Option(parsing: .unconditional, help: "Labels (arm a has label a mod labels).")
    var labels = 8

    @Option(parsing: .unconditional, help: "Points per arm, split 60/20/20.")
    var pointsPerArm = 250

    @Option(parsing: .unconditional, help: "Standard deviation of the Gaussian noise on each coordinate (adjacent arms are 1/arms apart).")
    var noise = 0.02

    @Option(parsing: .unconditional, help: "Training epochs of the teacher, the most with early stopping (default 300 for spirals; 5·10⁵/N_train within 20…500 for --data; 8 for --text).")
    var teacherEpochs: Int?

    @Option(parsing: .unconditional, help: "Training epochs of each student, the most with early stopping (default as the teacher's; 10 for --text).")
    var studentEpochs: Int?

    @Option(parsing: .unconditional, help: "Adam step size of every training run (default 0.01; 0.001 for --text).")
    var learningRate: Double?

    @Option(parsing: .unconditional, help: "Dropout rate on the hidden layers of every network during training (default 0; 0.2 for --text).")
    var dropout: Double?

    @Option(name: .customLong("weight-decay"), parsing: .unconditional, help: "Decoupled weight decay on the layer weights and G (default 0).")
    var weightDecay: Double?

    @Option(parsing: .unconditional, help: "Early stopping: epochs without a better validation loss before stopping; the best epoch is kept (default off; 2 for the teacher and 3 for students with --text).")
    var patience: Int?

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

    /// The defaults for the data (`DistillConfiguration.defaults`), then every option given.
    func configuration(for dataset: Dataset?) throws -> DistillConfiguration {
        var c = DistillConfiguration.defaults(for: dataset)
        c.arms = arms; c.labels = labels; c.pointsPerArm = pointsPerArm; c.noise = noise
        c.baseSeed = seed
        c.teacherConcepts = teacherConcepts
        if let seeds { c.seeds = seeds }
        if let characterDimension { c.characterDimension = characterDimension }
        if let teacherEpochs {
            c.teacherTraining.epochs = teacherEpochs
            if studentEpochs == nil { c.studentTraining.epochs = teacherEpochs }
        }
        if let studentEpochs { c.studentTraining.epochs = studentEpochs }
        for path in [\DistillConfiguration.teacherTraining, \.studentTraining] {
            if let learningRate { c[keyPath: path].learningRate = learningRate }
            if let batchSize { c[keyPath: path].batchSize = batchSize }
            if let dropout { c[keyPath: path].dropout = dropout }
            if let weightDecay { c[keyPath: path].weightDecay = weightDecay }
            if let patience { c[keyPath: path].patience = patience }
        }
        if let teacherHidden {
            c.teacherHidden = try commaSeparated(teacherHidden, option: "teacher-hidden", of: "widths 1…4096") { Int($0).flatMap { (1...4096).contains($0) ? $0 : nil } }
        }
        if let teacherDimension { c.teacherEmbedding = teacherDimension }
        if let students {
            let dims = try commaSeparated(students, option: "students", of: "dimensions 1…256") { Int($0).flatMap { (1...256).contains($0) ? $0 : nil } }
            // Students are named by their width: two of one width would be merged into one row.
            if let twice = dims.first(where: { d in dims.filter { $0 == d }.count > 1 }) {
                throw ValidationError("--students lists d = \(twice) twice; give each width once")
            }
            c.students = DistillConfiguration.scaledStudents(dims, teacherHidden: c.teacherHidden, teacherEmbedding: c.teacherEmbedding)
        } else if teacherHidden != nil || teacherDimension != nil {
            c.students = DistillConfiguration.scaledStudents(c.students.map(\.embedding), teacherHidden: c.teacherHidden,
                                                             teacherEmbedding: c.teacherEmbedding)
        }
        if let matchAgreement {
            c.matchAgreement = try Self.thresholds(matchAgreement, option: "match-agreement", of: "thresholds in (0, 1]") { $0 > 0 && $0 <= 1 }
        }
        if let matchKL {
            c.matchKL = try Self.thresholds(matchKL, option: "match-kl", of: "KL values in nats, positive") { $0 > 0 && $0.isFinite }
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

    static func thresholds(_ text: String, option: String, of what: String, _ valid: (Double) -> Bool) throws -> [Double] {
        text.isEmpty ? [] : try commaSeparated(text, option: option, of: what) { Double($0).flatMap { valid($0) ? $0 : nil } }
    }

    func validate() throws {
        if let seeds { guard (1...100).contains(seeds) else { throw ValidationError("--seeds must be between 1 and 100") } }
        guard arms >= 2, labels >= 2, labels <= arms, arms <= 1000 else {
            throw ValidationError("need 2 ≤ --labels ≤ --arms ≤ 1000, got --labels \(labels) --arms \(arms)")
        }
        guard data == nil || text.isEmpty else { throw ValidationError("give --data or --text, not both") }
        guard (1...64).contains(context) else { throw ValidationError("--context must be in 1…64") }
        if let characterDimension, !(1...256).contains(characterDimension) { throw ValidationError("--character-dimension must be in 1…256") }
        if data == nil && text.isEmpty {
            let d = teacherDimension ?? 4
            guard labels >= d + 1 else { throw ValidationError("--labels must be at least \(d + 1): the teacher's d = \(d) needs k ≥ d + 1") }
        }
        if let teacherDimension, !(1...256).contains(teacherDimension) { throw ValidationError("--teacher-dimension must be in 1…256") }
        if let batchSize, !(1...100_000).contains(batchSize) { throw ValidationError("--batch-size must be in 1…100000") }
        guard pointsPerArm >= 10, pointsPerArm <= 100_000 else { throw ValidationError("--points-per-arm must be between 10 and 100000") }
        guard noise >= 0, noise.isFinite else { throw ValidationError("--noise must be a non-negative number") }
        for epochs in [teacherEpochs, studentEpochs].compactMap({ $0 }) where !(1...100_000).contains(epochs) {
            throw ValidationError("epochs must be between 1 and 100000")
        }
        if let learningRate { guard learningRate > 0, learningRate < 1 else { throw ValidationError("--learning-rate must lie in (0, 1)") } }
        if let dropout { guard dropout >= 0, dropout < 1 else { throw ValidationError("--dropout must lie in [0, 1)") } }
        if let weightDecay { guard weightDecay >= 0, weightDecay < 1 else { throw ValidationError("--weight-decay must lie in [0, 1)") } }
        if let patience { guard (1...1000).contains(patience) else { throw ValidationError("--patience must be in 1…1000") } }
        _ = try configuration(for: nil)
    }

    func run() throws {
        let corpus: (text: String, files: [String])?
        do { corpus = text.isEmpty ? nil : try TextCorpus.read(text) } catch let e as DistillError { throw CLIError(e.description) }
        // The files read: no --out file may replace one (checked again at each write).
        let inputs = [data].compactMap { $0 } + (corpus?.files ?? [])
        let directory = try out.map { try OutputDirectory($0, writes: ["report.md", "distill.json"], inputs: inputs) }
        // The figures' and models' names depend on the run, so an input where they may go is refused first.
        if let directory, let input = inputs.first(where: { DistillReport.mayWrite(over: $0, in: directory.url) }) {
            throw CLIError("the input \(input) lies where distill writes its report, figures or models: it could be overwritten; use another --out")
        }
        let progress = ProgressReporter(label: "distill", plain: json)
        Interrupt.shared.install("distill", stops: "stopping the training runs at their next mini-batch, then reporting the teachers and students that finished")
        let (result, pictures): (DistillResult, DistillExperiment.Pictures?)
        do {
            var dataset = try data.map { try Dataset.read(URL(fileURLWithPath: $0), seed: seed) }
            if let corpus {
                progress.note("read \(corpus.files.count) file(s), \(corpus.text.count) characters")
                let name = corpus.files.count == 1 ? URL(fileURLWithPath: corpus.files[0]).lastPathComponent
                    : "\(corpus.files.count) files under \(text.joined(separator: ", "))"
                dataset = try Dataset.text(corpus.text, name: name, context: context)
            }
            let config = try configuration(for: dataset)
            if let dataset, dataset.labelCount < config.teacherEmbedding + 1 {
                throw CLIError("\(dataset.name) has k = \(dataset.labelCount) labels; the teacher's d = \(config.teacherEmbedding) needs k ≥ d + 1 (lower --teacher-dimension)")
            }
            (result, pictures) = try DistillExperiment.run(config, dataset: dataset, stop: { Interrupt.shared.isRaised }) { done, total in
                progress.update(work: done, of: total)
            }
        } catch let e as DistillError {
            if case .interrupted = e {
                directory?.removeIfCreatedAndEmpty()
                FileHandle.standardError.write(Data("\(e.description)\n".utf8))
                throw ExitCode(130)
            }
            throw CLIError(e.description)
        }
        directory?.attempt("distill") { directory in
            let files = try DistillReport.write(result, pictures: pictures, to: directory.url, protecting: inputs)
            progress.note("wrote \(files.count) files to \(directory.url.path)")
        }
        if json { print(try DistillReport.json(result)) }
        else { print(DistillReport.markdown(result), terminator: "") }
        if result.interrupted != nil { throw ExitCode(130) }
    }
}
