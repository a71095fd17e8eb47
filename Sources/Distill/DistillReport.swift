import Foundation
import ModelFiles
import Plots
import Theory

/// Markdown, JSON and SVG for a distillation run.
public enum DistillReport {
    public static func json(_ r: DistillResult) throws -> String { try ReportJSON.encode(r, snakeCase: true) }

    static func pm(_ m: MeanStd?, _ digits: Int = 3) -> String {
        guard let m else { return "–" }
        let format = m.mean != 0 && abs(m.mean) < 1e-3 ? "%.2e ± %.1e" : "%.\(digits)f ± %.\(digits)f"
        return String(format: format, m.mean, m.std)
    }

    public static func markdown(_ r: DistillResult) -> String {
        let c = r.configuration
        let teacherAcc = MeanStd(r.teachers.map(\.testAccuracy)), teacherProbe = MeanStd(r.teachers.map(\.probeAccuracy))
        var lines = ["# Distillation on interleaved spirals", "",
                     "\(c.arms) arms, \(c.labels) labels, \(c.pointsPerArm) points per arm (60/20/20 train/validation/test), noise \(c.noise); \(c.seeds) seed(s); \(String(format: "%.0f", r.seconds)) s.",
                     "Teacher: MLP 2 → \(c.teacherHidden.map(String.init).joined(separator: " → ")) → d = \(c.teacherEmbedding) (tanh), unembedding without bias, cross-entropy, \(c.teacherTraining.epochs) epochs. Test accuracy \(pm(teacherAcc)); concept probe on its embeddings \(pm(teacherProbe)).",
                     "Students: distilled on the training inputs from the teacher's logits for \(c.studentTraining.epochs) epochs. All numbers on the test split, mean ± std over seeds; KL is KL(teacher‖student), d_rep is d_rep(teacher←student)²/E‖f_teacher‖², m_CCA the mean centred canonical correlation of the embeddings, probe the held-out accuracy of a logistic probe for the concept \"the arm starts in the upper half-plane\".", "",
                     "| student | objective | agreement | KL | d_logit | scale-free d_rep | m_CCA | probe (student) | probe (teacher) |",
                     "|---|---|---|---|---|---|---|---|---|"]
        for a in r.aggregates {
            let m = a.metrics
            lines.append("| \(a.shape) | \(a.objective.rawValue) | \(pm(m["agreement"])) | \(pm(m["kl"], 4)) | \(pm(m["d_logit"])) | \(pm(m["d_rep_scale_free"])) | \(pm(m["mcca"])) | \(pm(m["probe_accuracy"])) | \(pm(m["teacher_probe_accuracy"])) |")
        }
        lines += ["", "## What came out", ""] + r.findings.map { "- \($0)" }
        lines += ["", "Figures: mcca.svg, drep.svg (bars, ±1 std over seeds), embeddings-*.svg (test inputs of the first seed, teacher beside each student with the teacher's d)."]
        return lines.joined(separator: "\n") + "\n"
    }

    static func bars(_ r: DistillResult, metric: String, title: String, yLabel: String) -> String {
        let shapes = r.configuration.students.map(\.name)
        let series = r.configuration.objectives.map { objective -> (name: String, means: [Double], stds: [Double]) in
            let cells = shapes.map { shape in r.aggregates.first { $0.shape == shape && $0.objective == objective }?.metrics[metric] }
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
                let file = "models/" + m.name.map { $0.isLetter || $0.isNumber || $0 == "-" ? String($0) : "-" }.joined() + ".npz"
                try ModelFile.write(try SoftmaxModel(embeddings: m.f, unembeddings: m.g), to: directory.appendingPathComponent(file))
                out.record(file)
            }
        }
        return out.written
    }
}
