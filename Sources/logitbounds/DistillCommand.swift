import ArgumentParser
import Distill
import Foundation

struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill",
        abstract: "Reproduce the distillation claim (THEORY.md §6) on synthetic spirals and measure it with the theory core.",
        discussion: """
        Per seed: a teacher MLP is trained with cross-entropy on interleaved spiral arms; students of \
        several shapes are distilled from its logits with KL(teacher‖student), the centred and the raw \
        squared logit difference, and the absolute logit difference. Each student is measured on the \
        test split: agreement with the teacher's predictions, KL, d_logit, scale-free d_rep, m_CCA \
        with the teacher's embeddings, and the held-out linear-probe accuracy of a concept (the arm \
        starts in the upper half-plane) next to the teacher's. The report says which way the \
        comparison fell.

        Exit status: 0 success, 2 bad usage or a failed training run.
        """)

    @Option(parsing: .unconditional, help: "Number of seeds (each: new data, teacher and students).")
    var seeds = 3

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
        c.teacherTraining.learningRate = learningRate; c.studentTraining.learningRate = learningRate
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
        guard labels >= 5 else { throw ValidationError("--labels must be at least 5: the teacher's d = 4 needs k ≥ d + 1") }
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
            (result, pictures) = try DistillExperiment.run(try configuration()) { done, total in progress.update(done, total) }
        } catch let e as DistillError { throw CLIError(e.description) }
        directory?.attempt("distill") { directory in
            let files = try DistillReport.write(result, pictures: pictures, to: directory.url)
            progress.note("wrote \(files.count) files to \(directory.url.path)")
        }
        if json { print(try DistillReport.json(result)) }
        else { print(DistillReport.markdown(result), terminator: "") }
    }
}
