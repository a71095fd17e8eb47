import Foundation
import ModelFiles
import Numerics
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
        if let interrupted = r.interrupted { lines += interruption(interrupted, r) + [""] }
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
                lines += ["", "## Stage \(stage)", "", "No student reached this stage in any seed\(r.interrupted == nil ? "" : " (of the runs that finished)")."]
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
        lines += ["", "Figures (each stage side by side, one dot per seed, one colour per objective throughout): mcca.svg, drep.svg, kl.svg, agreement.svg, width-floor.svg (d_logit² over T12's floor), probe-gap.svg and t11-floor.svg (concepts the teacher reads); mcca-vs-agreement.svg (first seed, every epoch, one panel per width, against 1 − agreement); embeddings-*.svg (test inputs of the first seed, teacher beside each final student with the teacher's d). Models: models/teacher.npz and models/student-SHAPE-OBJECTIVE-STAGE.npz (first seed, test split; `measure`, `counterexample --family CE4 --teacher`), with each concept on the same rows as models/concept-NAME.npy (`measure --concept NAME=FILE`)."]
        return lines.joined(separator: "\n") + "\n"
    }

    /// An interrupted run's figures say so under them: their cells are over the runs that finished.
    static func interruptedNote(_ r: DistillResult) -> String? {
        r.interrupted.map { _ in
            "Interrupted: \(finishedStudents(r)) of \(configuredStudents(r)) students and \(r.teachers.count) of \(r.configuration.seeds) teachers finished."
        }
    }

    /// Student runs that finished (each has a "final" stage and maybe matched ones).
    static func finishedStudents(_ r: DistillResult) -> Int {
        Set(r.students.map { "\($0.seed) \($0.shape) \($0.objective)" }).count
    }

    /// Student runs the configuration asks for: every seed, shape and objective.
    static func configuredStudents(_ r: DistillResult) -> Int {
        r.configuration.seeds * r.configuration.students.count * r.configuration.objectives.count
    }

    /// What an interrupt left unfinished, and that the report is over the rest.
    static func interruption(_ i: DistillInterruption, _ r: DistillResult) -> [String] {
        // Seeds by their place in the run (1, 2, …) beside the derived value the JSON keys them by.
        let all = (0..<r.configuration.seeds).map { SeededGenerator.derive(r.configuration.baseSeed, UInt64($0)) }
        func seed(_ value: UInt64) -> String { all.firstIndex(of: value).map { "seed \($0 + 1) (\(value))" } ?? "seed \(value)" }
        // Per seed: the runs cut short by name, the ones not started counted.
        let seeds = i.studentsNotFinished.map(\.seed).reduce(into: [UInt64]()) { if !$0.contains($1) { $0.append($1) } }
        let students = seeds.map { value in
            let runs = i.studentsNotFinished.filter { $0.seed == value }
            let cut = runs.filter(\.started).map { "\($0.shape) \($0.objective.rawValue) cut in epoch \($0.epochsRun + 1) of at most \(r.configuration.studentTraining.epochs)" }
            let waiting = runs.count - cut.count
            return "\(seed(value)): " + (cut + (waiting == 0 ? [] : ["\(waiting) not started"])).joined(separator: ", ")
        }
        var parts = ["\(r.teachers.count) of \(r.configuration.seeds) teachers and \(finishedStudents(r)) of \(configuredStudents(r)) students finished"]
        if !i.teachersNotFinished.isEmpty {
            parts.append("teachers not finished (their students not run): " + i.teachersNotFinished.map(seed).joined(separator: ", "))
        }
        if !students.isEmpty { parts.append("students not finished: " + students.joined(separator: "; ")) }
        return ["**Interrupted:** " + parts.joined(separator: "; ") + ". Everything below is over the runs that finished, which are as an uninterrupted run's; "
                + "the figures of one seed and the models are \(seed(i.drawnSeed))'s, the first whose teacher finished."]
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

    /// One colour per objective, the same in every figure.
    static func colour(_ o: DistillObjective) -> Int { DistillObjective.allCases.firstIndex(of: o)! }

    /// m_CCA against 1 − agreement (log scale: the last decades, where students approach
    /// the teacher) over training, first seed: one panel per student width, one line per
    /// objective, the agreement stages marked.
    static func traceChart(_ r: DistillResult) -> String {
        let panels = r.configuration.students.map { shape in
            (title: shape.name, series: r.traces.filter { $0.shape == shape.name }.map { t in
                (name: t.objective.rawValue, colour: colour(t.objective),
                 points: t.points.map { (x: max(1 - $0.agreement, 1e-4), y: $0.mcca) })
            })
        }
        return SVGPanels.lines(title: "m_CCA with the teacher against disagreement over training (first seed; test sample; every epoch)",
                               xLabel: "1 − agreement with the teacher (log scale; right = far from the teacher)", yLabel: "m_CCA (centred)",
                               xAxis: .log, panels: panels,
                               markers: r.configuration.matchAgreement.map { (x: 1 - $0, label: "agreement \($0)") },
                               note: interruptedNote(r))
    }

    /// One quantity at every stage, per student width and objective, each seed a dot.
    static func stageFigure(_ r: DistillResult, title: String, yLabel: String, logScale: Bool = false,
                            value: (StudentMeasurement) -> Double?) -> String {
        let objectives = r.configuration.objectives, shapes = r.configuration.students.map(\.name)
        let values = r.stages.map { stage in
            shapes.map { shape in
                objectives.map { objective in
                    r.students.filter { $0.stage == stage && $0.shape == shape && $0.objective == objective }.compactMap(value)
                }
            }
        }
        return SVGPanels.strips(title: title, yLabel: yLabel, panels: r.stages, groups: shapes,
                                series: objectives.map(\.rawValue), colours: objectives.map(colour), values: values, logScale: logScale,
                                note: interruptedNote(r))
    }

    /// The figures of a run: one per quantity with every stage side by side.
    static func figures(_ r: DistillResult) -> [(file: String, svg: String)] {
        let compared = comparedConcepts(r)
        func meanOver(_ names: [String], _ f: (String) -> Double?) -> Double? {
            let v = names.compactMap(f)
            return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
        }
        var out: [(String, String)] = [
            ("mcca.svg", stageFigure(r, title: "m_CCA with the teacher's embeddings at each stage (higher = more linearly similar)", yLabel: "m_CCA (centred)") { $0.mcca }),
            ("drep.svg", stageFigure(r, title: "scale-free d_rep(teacher ← student) at each stage (lower = closer)", yLabel: "d_rep² / E‖f_teacher‖²", logScale: true) { $0.dRepScaleFree }),
            ("kl.svg", stageFigure(r, title: "KL(teacher‖student) on the test split at each stage", yLabel: "KL (nats)", logScale: true) { $0.kl }),
            ("agreement.svg", stageFigure(r, title: "agreement with the teacher's predictions at each stage", yLabel: "fraction of test inputs") { $0.agreement }),
            ("width-floor.svg", stageFigure(r, title: "d_logit² over T12's width floor at each stage (1 = at the floor; students narrower than the teacher)", yLabel: "d_logit² / floor", logScale: true) { $0.floorRatio }),
            ("mcca-vs-agreement.svg", traceChart(r)),
        ]
        if !compared.isEmpty {
            out.append(("probe-gap.svg", stageFigure(r, title: "student probe minus teacher probe, mean over the concepts the teacher reads (\(compared.count))", yLabel: "probe accuracy gap") { m in
                meanOver(compared) { name in m.probes[name].flatMap { p in m.teacherProbes[name].map { p - $0 } } }
            }))
            out.append(("t11-floor.svg", stageFigure(r, title: "T11's floor under the transported probe, mean over the concepts the teacher reads (\(compared.count))", yLabel: "guaranteed accuracy") { m in
                meanOver(compared) { m.floors[$0] }
            }))
        }
        return out
    }

    /// Writes report.md, distill.json, mcca.svg, drep.svg, the embedding figures, and
    /// the first seed's models on its test inputs (models/teacher.npz and
    /// models/student-SHAPE-OBJECTIVE.npz, arrays f and g, uniform weights) for
    /// `measure`, `counterexample --family CE4 --teacher` and `--reference`.
    /// Whether a run writing into `directory` may write over `file` (after symlinks): an .md,
    /// .json or .svg file in it (report, JSON, figures, whose names depend on the run's students
    /// and objectives), or any file under its models/ folder (models and concepts).
    public static func mayWrite(over file: String, in directory: URL) -> Bool {
        let root = directory.resolvingSymlinksInPath().standardizedFileURL.path, models = root + "/models"
        // A file that does not exist (yet) is placed by its folder, whose links are resolved.
        let given = URL(fileURLWithPath: file).standardizedFileURL
        let url = (FileManager.default.fileExists(atPath: given.path) ? given.resolvingSymlinksInPath()
            : given.deletingLastPathComponent().resolvingSymlinksInPath().appendingPathComponent(given.lastPathComponent)).standardizedFileURL
        let folder = url.deletingLastPathComponent().path
        return folder == models || folder.hasPrefix(models + "/") || (folder == root && ["md", "json", "svg"].contains(url.pathExtension))
    }

    /// `protecting`: the run's input files (dataset, corpus), which no write replaces.
    public static func write(_ r: DistillResult, pictures: DistillExperiment.Pictures?, to directory: URL, protecting inputs: [String] = []) throws -> [URL] {
        var out = try ReportDirectory(directory, protecting: inputs)
        try out.put("report.md", markdown(r))
        try out.put("distill.json", json(r))
        for (file, svg) in figures(r) { try out.put(file, svg) }
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
                try ModelFile.write(try SoftmaxModel(embeddings: m.f, unembeddings: m.g), to: out.target(file))
                out.record(file)
            }
            // Each concept on the same rows, as 0/1 vectors for `measure --concept NAME=FILE`.
            for concept in pictures.concepts {
                let file = modelFileName("concept-" + concept.name).replacingOccurrences(of: ".npz", with: ".npy")
                try NumpyArray(shape: [concept.values.count], values: concept.values.map { $0 ? 1 : 0 }).npyData()
                    .write(to: out.target(file))
                out.record(file)
            }
        }
        return out.written
    }
}
