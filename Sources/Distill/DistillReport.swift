import Foundation
import ModelFiles
import Plots
import Theory

/// Markdown, JSON and SVG for a distillation run.
public enum DistillReport {
    public static func json(_ r: DistillResult) throws -> String { try ReportJSON.encode(r, snakeCase: true) }

    /// mean ± std, or the mean alone with "± —" when there is one value (no spread to show).
    static func pm(_ m: MeanStd?, _ digits: Int = 3) -> String {
        guard let m else { return "–" }
        let small = m.mean != 0 && abs(m.mean) < 1e-3
        let mean = String(format: small ? "%.2e" : "%.\(digits)f", m.mean)
        guard m.count > 1 else { return mean + " ± —" }
        return mean + " ± " + String(format: small ? "%.1e" : "%.\(digits)f", m.std)
    }

    public static func markdown(_ r: DistillResult) -> String {
        let c = r.configuration
        let teacherAcc = MeanStd(r.teachers.map(\.testAccuracy))
        let source = c.data == nil
            ? "\(c.arms) arms, \(c.labels) labels, \(c.pointsPerArm) points per arm (60/20/20 train/validation/test), noise \(c.noise)"
            : "dataset \(r.dataset)"
        var lines = ["# Distillation on \(c.data == nil ? "interleaved spirals" : r.dataset)", "",
                     "\(source); \(c.seeds) seed(s); \(String(format: "%.0f", r.seconds)) s.", ""]
        lines += settings(r)
        lines += ["", "## Teacher", "",
                  "| | train | validation | test |", "|---|---|---|---|",
                  "| accuracy | \(pm(MeanStd(r.teachers.map(\.trainAccuracy)))) | \(pm(MeanStd(r.teachers.map(\.validationAccuracy)))) | \(pm(teacherAcc)) |"]
        let bits = ["train", "validation", "test"].map { split in pm(MeanStd(r.teachers.compactMap { $0.crossEntropyBits[split] })) }
        lines.append("| cross-entropy (bits per \(c.data?.contains("next character") == true ? "character" : "input")) | \(bits.joined(separator: " | ")) |")
        lines.append("")
        lines.append("Epochs run \(r.teachers.map { String($0.epochsRun) }.joined(separator: ", ")); kept (least validation loss) \(r.teachers.map { String($0.keptEpoch) }.joined(separator: ", ")).")
        if !r.baselines.isEmpty {
            lines += ["", "Baselines on the same test block: " + r.baselines.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }.joined(separator: "; ") + "."]
        }
        lines += ["", "Students: distilled on the training inputs from the teacher's logits (at most \(c.studentTraining.epochs) epochs); each is also snapshotted at the first epoch its held-out (validation) agreement with the teacher reaches \(c.matchAgreement.map { String($0) }.joined(separator: ", "))\(c.matchKL.isEmpty ? "" : " or its held-out KL(teacher‖student) falls to \(c.matchKL.map { String($0) }.joined(separator: ", ")) nats"); \"final\" is the model kept at the end\(c.studentTraining.patience == nil ? "" : " (the epoch of least validation loss)"). All numbers on the test split, mean ± std over the seeds that reached the stage (— with one seed); KL is KL(teacher‖student), d_rep is d_rep(teacher←student)²/E‖f_teacher‖², m_CCA the mean centred canonical correlation of the embeddings, probe the held-out accuracy of a logistic probe fitted on the training split, gap its difference from the teacher's, d_logit² / T12 floor how far the student's d_logit² is above the least any student of its width can reach (1 = at the floor; THEORY.md §9), and the T11 floor the accuracy T11 guarantees the teacher's probe transported to the student (A = G̃_T⁺G̃_S) from the logit residuals alone.", "",
                  "## Concepts", "",
                  "A concept is encoded beyond the label when the teacher's probe beats the label-only baseline (the concept's majority value within each class the teacher predicts) by at least 0.1; students are compared only on concepts the teacher reads at least 0.1 above the majority baseline. teacher-pc* are the teacher's own concepts (`--teacher-concepts`).", "",
                  "| concept | function of the label? | majority | teacher probe (held-out) | label-only baseline | teacher reads it? | encoded beyond the label? |", "|---|---|---|---|---|---|---|"]
        for name in r.concepts {
            let probe = MeanStd(r.teachers.compactMap { $0.probes[name] }), labelOnly = MeanStd(r.teachers.compactMap { $0.labelOnly[name] })
            let majority = MeanStd(r.teachers.compactMap { $0.majority[name] })
            lines.append("| \(name) | \(r.conceptIsLabelFunction[name] == true ? "yes" : "no") | \(pm(majority)) | \(pm(probe)) | \(pm(labelOnly)) | \(probe.mean >= majority.mean + 0.1 ? "yes" : "no") | \(probe.mean >= labelOnly.mean + 0.1 ? "yes" : "no") |")
        }
        let compared = comparedConcepts(r)
        for stage in r.stages {
            let cells = r.aggregates.filter { $0.stage == stage }
            guard !cells.isEmpty else {
                lines += ["", "## Stage \(stage)", "", "No student reached this stage in any seed."]
                continue
            }
            lines += ["", "## Stage \(stage)", "",
                      "| student | objective | seeds | epoch | agreement | KL | d_logit | d_logit² / T12 floor | scale-free d_rep | m_CCA |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for a in cells {
                let m = a.metrics
                let epochs = MeanStd(r.students.filter { $0.stage == stage && $0.shape == a.shape && $0.objective == a.objective }.map { Double($0.epoch) })
                let floorRatio = m["floor_ratio"].map { pm($0, 2) } ?? "— (floor 0)"
                lines.append("| \(a.shape) | \(a.objective.rawValue) | \(a.seeds) | \(String(format: "%.0f", epochs.mean)) | \(pm(m["agreement"])) | \(pm(m["kl"], 4)) | \(pm(m["d_logit"])) | \(floorRatio) | \(pm(m["d_rep_scale_free"])) | \(pm(m["mcca"])) |")
            }
            guard !compared.isEmpty else { continue }
            lines += ["", "Concepts at \(stage): the student's own probe (gap to the teacher's), the teacher's probe transported to the student, and T11's floors under the transported probe's accuracy (from the logit residuals; from KL through T6.sharp).", "",
                      "| student | objective | concept | student probe (gap) | transported probe | T11 floor (logit) | T11 floor (KL) |",
                      "|---|---|---|---|---|---|---|"]
            for a in cells {
                for name in compared {
                    let m = a.metrics
                    guard let student = m["probe:\(name)"], let teacher = m["teacher_probe:\(name)"] else { continue }
                    func cell(_ key: String) -> String { m[key].map { $0.mean.isNaN ? "—" : pm($0) } ?? "—" }
                    lines.append("| \(a.shape) | \(a.objective.rawValue) | \(name) | \(pm(student)) (\(String(format: "%+.3f", student.mean - teacher.mean))) | \(cell("transported:\(name)")) | \(cell("floor:\(name)")) | \(cell("floor_kl:\(name)")) |")
                }
            }
        }
        lines += ["", "## What came out", ""] + r.findings.map { "- \($0)" }
        lines += ["", "Figures: mcca.svg, drep.svg (bars, final stage, ±1 std over seeds), mcca-vs-agreement.svg (first seed, every epoch), embeddings-*.svg (test inputs of the first seed, teacher beside each final student with the teacher's d). Models: models/teacher.npz and models/student-SHAPE-OBJECTIVE-STAGE.npz (first seed, test split; `measure`, `counterexample --family CE4 --teacher`)."]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The concepts students are compared on: those the teacher reads at least 0.1 above
    /// the majority baseline (mean over seeds).
    static func comparedConcepts(_ r: DistillResult) -> [String] {
        r.concepts.filter { name in
            MeanStd(r.teachers.compactMap { $0.probes[name] }).mean >= MeanStd(r.teachers.compactMap { $0.majority[name] }).mean + 0.1
        }
    }

    /// Every setting of the run, defaults included.
    static func settings(_ r: DistillResult) -> [String] {
        let c = r.configuration
        func training(_ t: TrainingOptions) -> String {
            "at most \(t.epochs) epochs, batch \(t.batchSize), Adam step \(t.learningRate), dropout \(t.dropout), weight decay \(t.weightDecay), "
                + (t.patience.map { "early stopping with patience \($0) (the epoch of least validation loss kept)" } ?? "no early stopping (the last epoch kept)")
        }
        var lines = ["## Settings (defaults included)", "",
                     "- teacher: \(r.characters.map { "character embedding e = \($0.dimension) over \($0.context) characters of context (\($0.vocabulary) codes), then " } ?? "")tanh MLP \(c.teacherHidden.map(String.init).joined(separator: " → ")) → d = \(c.teacherEmbedding), unembedding without bias; \(training(c.teacherTraining))",
                     "- students: " + c.students.map { "\($0.name) (\($0.hidden.map(String.init).joined(separator: " → ")) → \($0.embedding))" }.joined(separator: ", ") + "; \(training(c.studentTraining)); objectives \(c.objectives.map(\.rawValue).joined(separator: ", "))",
                     "- stages: agreement ≥ \(c.matchAgreement.map { String($0) }.joined(separator: ", ")); KL ≤ \(c.matchKL.isEmpty ? "none" : c.matchKL.map { String($0) }.joined(separator: ", ")); final",
                     "- seeds \(c.seeds) (base \(c.baseSeed)); teacher concepts \(c.teacherConcepts)"]
        if c.data == nil { lines.append("- spirals: \(c.arms) arms, \(c.labels) labels, \(c.pointsPerArm) points per arm, noise \(c.noise)") }
        return lines
    }

    /// Where a model is written under --out: "models/NAME.npz", with every character
    /// other than letters, digits and "-" replaced by "-" (stage names hold ">=" and ".").
    public static func modelFileName(_ name: String) -> String {
        "models/" + name.map { $0.isLetter || $0.isNumber || $0 == "-" ? String($0) : "-" }.joined() + ".npz"
    }

    /// The file of a student's model at a stage.
    public static func studentFileName(_ m: StudentMeasurement) -> String {
        modelFileName("student-\(m.shape)-\(m.objective.rawValue)-\(m.stage)")
    }

    /// m_CCA against held-out agreement over training, one line per objective and shape
    /// (first seed).
    static func traceChart(_ r: DistillResult) -> SVGChart {
        let series = r.traces.enumerated().map { i, t in
            SVGChart.Series("\(t.shape), \(t.objective.rawValue)", t.points.map { ($0.agreement, $0.mcca) }, mark: .line, colour: i)
        }
        return SVGChart(title: "m_CCA with the teacher against agreement, over training (first seed)",
                        xLabel: "agreement with the teacher (test split)", yLabel: "m_CCA (centred)", series: series)
    }

    static func bars(_ r: DistillResult, metric: String, title: String, yLabel: String) -> String {
        let shapes = r.configuration.students.map(\.name)
        let series = r.configuration.objectives.map { objective -> (name: String, means: [Double], stds: [Double]) in
            let cells = shapes.map { shape in r.aggregates.first { $0.shape == shape && $0.objective == objective && $0.stage == "final" }?.metrics[metric] }
            return (objective.rawValue, cells.map { $0?.mean ?? .nan }, cells.map { $0?.std ?? 0 })
        }
        return SVGFigure.bars(groups: shapes, series: series, title: title, yLabel: yLabel)
    }

    /// Writes report.md, distill.json, mcca.svg, drep.svg, the embedding figures, and
    /// the first seed's models on its test inputs (models/teacher.npz and
    /// models/student-SHAPE-OBJECTIVE.npz, arrays f and g, uniform weights) for
    /// `measure`, `counterexample --family CE4 --teacher` and `--reference`.
    public static func write(_ r: DistillResult, pictures: DistillExperiment.Pictures?, to directory: URL) throws -> [URL] {
        var out = try ReportDirectory(directory)
        try out.put("report.md", markdown(r))
        try out.put("distill.json", json(r))
        for (metric, file, title, axis) in [
            ("mcca", "mcca.svg", "m_CCA with the teacher's embeddings (higher = more linearly similar)", "mean canonical correlation"),
            ("d_rep_scale_free", "drep.svg", "scale-free d_rep(teacher ← student) (lower = closer)", "d_rep² / E‖f_teacher‖²"),
            ("agreement", "agreement.svg", "agreement with the teacher's predictions", "fraction of test inputs"),
        ] {
            try out.put(file, bars(r, metric: metric, title: title, yLabel: axis))
        }
        try out.put("mcca-vs-agreement.svg", traceChart(r).render())
        for s in pictures?.students ?? [] {
            let name = "embeddings-" + s.title.map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
            try out.put(name + ".svg", try SVGFigure.embeddings(teacher: pictures!.teacher, student: (s.f, s.g),
                                                               inputLabels: pictures!.labels,
                                                               title: "teacher (left) and student \(s.title) (right), coloured by label"))
        }
        if let pictures {
            let models = directory.appendingPathComponent("models")
            try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
            let named = [(name: "teacher", f: pictures.teacher.f, g: pictures.teacher.g)] + pictures.models
            for m in named {
                let file = modelFileName(m.name)
                try ModelFile.write(try SoftmaxModel(embeddings: m.f, unembeddings: m.g), to: directory.appendingPathComponent(file))
                out.record(file)
            }
        }
        return out.written
    }
}
