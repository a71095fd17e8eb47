import Foundation
import ModelFiles
import Numerics
import Plots
import Theory

/// Writes a counterexample to a directory: report.md, report.json, teacher.npz and
/// student.npz (arrays f, g, w), embeddings.svg, and sweep.svg for a sweep.
public enum CounterexampleWriter {
    public static func write(_ report: CounterexampleReport, _ construction: Construction, to dir: URL) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try ModelFile.write(construction.pair.first, to: dir.appendingPathComponent("teacher.npz"))
        try ModelFile.write(construction.pair.second, to: dir.appendingPathComponent("student.npz"))
        let pair = construction.pair
        try SVGFigure.embeddings(teacher: (pair.first.embeddings, pair.first.unembeddings),
                                 student: (pair.second.embeddings, pair.second.unembeddings),
                                 inputLabels: construction.inputLabels,
                                 title: "\(report.family): teacher (left) and student (right), coloured by label")
            .write(to: dir.appendingPathComponent("embeddings.svg"), atomically: true, encoding: .utf8)
        if let name = report.sweepParameter {
            let sweep = report.pairs.filter { $0.parameter != nil }
            let values = sweep.map { $0.parameter! }
            try SVGFigure.sweep(parameter: name, values: values, series: [
                ("KL(A‖B) upper", sweep.map(\.klAB.upper)),
                ("d_logit", sweep.map { $0.dLogitSquared.double.squareRoot() }),
                ("scale-free d_rep", sweep.map(\.dRepScaleFreeAB)),
                ("1 − m_CCA", sweep.map { 1 - $0.mccaCentered }),
            ], title: "\(report.family): certified KL falls, representations stay apart")
                .write(to: dir.appendingPathComponent("sweep.svg"), atomically: true, encoding: .utf8)
        }
        try markdown(report).write(to: dir.appendingPathComponent("report.md"), atomically: true, encoding: .utf8)
        try report.json().write(to: dir.appendingPathComponent("report.json"), atomically: true, encoding: .utf8)
    }

    public static func markdown(_ r: CounterexampleReport) -> String {
        let main = r.pairs.last!
        func sci(_ x: Double) -> String { String(format: "%.3g", x) }
        var lines = [
            "# \(r.family): a counterexample for \(r.theorem)", "",
            "**What was built.** \(r.summary). Teacher = model A, student = model B.", "",
            "Parameters: " + r.parameters.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", ") + ".", "",
            "## Certified numbers (exported pair)", "",
            "| quantity | value | how |", "|---|---|---|",
            "| KL(A‖B) | [\(sci(main.klAB.lower)), \(sci(main.klAB.upper))] | MPFR enclosure |",
            "| KL(B‖A) | [\(sci(main.klBA.lower)), \(sci(main.klBA.upper))] | MPFR enclosure |",
            "| d_logit² | \(sci(main.dLogitSquared.double)) | exact rational |",
            "| d_rep(A←B)² | \(sci(main.dRepABSquared.double)) | exact rational |",
            "| scale-free d_rep(A←B) | \(sci(main.dRepScaleFreeAB)) | exact ratio |",
            "| log τ(A), log τ(B) | \(sci(main.logTauA.lower)), \(sci(main.logTauB.lower)) (lower ends) | MPFR enclosure |",
            "| m_CCA embeddings, centred / uncentred | \(sci(main.mccaCentered)) / \(sci(main.mccaUncentered)) | SVD, double |",
            "| m_CCA unembeddings, centred / uncentred | \(sci(main.unembeddingMccaCentered)) / \(sci(main.unembeddingMccaUncentered)) | SVD, double |",
            "| linear probe for \"\(r.conceptName)\": teacher / student | \(sci(main.probeAccuracyTeacher)) / \(sci(main.probeAccuracyStudent)) | logistic regression |",
            "", "## What they show", "",
        ]
        for c in r.claims {
            lines.append("- \(c.holds ? "✔" : "✘") \(c.statement)\(c.certified ? "" : " — not a certificate")")
        }
        if r.sweepParameter != nil {
            lines += ["", "## Sweep over \(r.sweepParameter!)", "",
                      "| \(r.sweepParameter!) | KL(A‖B) upper | KL(B‖A) upper | d_logit | scale-free d_rep | m_CCA (centred) |",
                      "|---:|---:|---:|---:|---:|---:|"]
            for p in r.pairs where p.parameter != nil {
                lines.append("| \(p.parameter!) | \(sci(p.klAB.upper)) | \(sci(p.klBA.upper)) | \(sci(p.dLogitSquared.double.squareRoot())) | \(sci(p.dRepScaleFreeAB)) | \(sci(p.mccaCentered)) |")
            }
            lines += ["", "![sweep](sweep.svg)"]
        }
        lines += ["", "![embeddings](embeddings.svg)", "",
                  "Files: `teacher.npz`, `student.npz` (arrays `f`, `g`, `w`; `numpy.load`), `report.json`.", "",
                  "Reproduce: `\(r.command)`", ""]
        return lines.joined(separator: "\n")
    }
}
