import Foundation
import ModelFiles
import Numerics
import Plots
import Theory

/// Writes a counterexample to a directory: report.md, report.json, teacher.npz and
/// student.npz (arrays f, g, w), embeddings.svg, and frontier.svg, cka.svg or sweep.svg.
public enum CounterexampleWriter {
    /// Every file `write` may write (a command checks them against its inputs before any work).
    public static let files = ["report.md", "report.json", "teacher.npz", "student.npz", "embeddings.svg", "frontier.svg", "cka.svg", "sweep.svg"]

    /// `protecting`: the command's input files (CE4's teacher, reference student, concept),
    /// which no write replaces.
    public static func write(_ report: CounterexampleReport, _ construction: Construction, to dir: URL, protecting inputs: [String] = []) throws {
        var out = try ReportDirectory(dir, protecting: inputs)
        func file(_ name: String) throws -> URL {
            assert(files.contains(name), "\(name) is not in CounterexampleWriter.files")
            return try out.target(name)
        }
        func put(_ name: String, _ text: String) throws {
            assert(files.contains(name), "\(name) is not in CounterexampleWriter.files")
            try out.put(name, text)
        }
        try ModelFile.write(construction.pair.first, to: file("teacher.npz"))
        try ModelFile.write(construction.pair.second, to: file("student.npz"))
        let pair = construction.pair
        let embeddings = try SVGFigure.embeddings(teacher: (pair.first.embeddings, pair.first.unembeddings),
                                              student: (pair.second.embeddings, pair.second.unembeddings),
                                              inputLabels: construction.inputLabels,
                                              title: "\(report.family): teacher (left) and student (right), coloured by label")
        try put("embeddings.svg", embeddings)
        if let search = report.search {
            try put("frontier.svg", frontierChart(search).render())
        } else if report.family == "CE5" {
            let sweep = report.pairs.filter { $0.parameter != nil }
            let chart = SVGChart(title: "CE5: linear CKA within one identifiability class (d_logit² = 0 exactly)",
                                 xLabel: "dimension d", yLabel: "value", series: [
                SVGChart.Series("linear CKA (certified upper end)", sweep.map { ($0.parameter!, $0.linearCKACertified?.upper ?? .nan) }, mark: .line, colour: 0),
                SVGChart.Series("1/√d", sweep.map { ($0.parameter!, 1 / $0.parameter!.squareRoot()) }, mark: .dashedLine, colour: 3),
                SVGChart.Series("Procrustes distance (certified lower end)", sweep.map { ($0.parameter!, $0.procrustesDistanceCertified?.lower ?? .nan) }, mark: .line, colour: 1),
                SVGChart.Series("m_CCA", sweep.map { ($0.parameter!, $0.mccaCentered) }, mark: .points, colour: 2),
            ])
            try put("cka.svg", chart.render())
        } else if let name = report.sweepParameter {
            let sweep = report.pairs.filter { $0.parameter != nil }
            let values = sweep.map { $0.parameter! }
            try put("sweep.svg", SVGFigure.sweep(parameter: name, values: values, series: [
                ("KL(A‖B) upper", sweep.map(\.klAB.upper)),
                ("d_logit", sweep.map { $0.dLogitSquared.double.squareRoot() }),
                ("scale-free d_rep", sweep.map(\.dRepScaleFreeAB)),
                ("1 − m_CCA", sweep.map { 1 - $0.mccaCentered }),
            ], title: "\(report.family): certified KL falls, representations stay apart"))
        }
        try put("report.md", markdown(report))
        try put("report.json", report.json())
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
            "| d_logit² | \(main.dLogitSquared.text) | exact rational |",
            "| d_rep(A←B)² | \(main.dRepABSquared.text) | exact rational |",
            "| scale-free d_rep(A←B) | \(sci(main.dRepScaleFreeAB)) | exact ratio |",
            "| log τ(A), log τ(B) | \(sci(main.logTauA.lower)), \(sci(main.logTauB.lower)) (lower ends) | MPFR enclosure |",
            "| m_CCA embeddings, centred / uncentred | \(sci(main.mccaCentered)) / \(sci(main.mccaUncentered)) | SVD, double |",
            "| m_CCA unembeddings, centred / uncentred | \(sci(main.unembeddingMccaCentered)) / \(sci(main.unembeddingMccaUncentered)) | SVD, double |",
            "| m_CCA embeddings, centred, certified | \(main.mccaCenteredCertified.map { "[\(String(format: "%.9f", $0.lower)), \(String(format: "%.9f", $0.upper))]" } ?? "undefined (a moment matrix is singular)") | exact inertia of the rational pencil |",
            "| linear probe for \"\(r.conceptName)\": teacher / student (chance \(sci(main.probeChance))) | \(sci(main.probeAccuracyTeacher)) / \(sci(main.probeAccuracyStudent)) | logistic probe fitted in double; its accuracy exact |",
            "| linear CKA (not a class function) | \(main.linearCKACertified.map { "[\(String(format: "%.6f", $0.lower)), \(String(format: "%.6f", $0.upper))]" } ?? "undefined") | √ of the exact rational CKA², enclosed |",
            "| Procrustes distance (not a class function) | \(main.procrustesDistanceCertified.map { "[\(String(format: "%.6f", $0.lower)), \(String(format: "%.6f", $0.upper))]" } ?? "undefined") | exact moments, nuclear norm by exact inertia brackets |",
            "", "## What they show", "",
        ]
        for c in r.claims {
            lines.append("- \(c.holds ? "✔" : "✘") \(c.statement)\(c.certified ? "" : " — a double-precision check, not a certificate")")
        }
        if r.family == "CE5" {
            lines += ["", "## Sweep over d", "", "| d | linear CKA (certified) | 1/√d | Procrustes (certified) | √(2 − 2/√d) | m_CCA |", "|---:|---:|---:|---:|---:|---:|"]
            for p in r.pairs where p.parameter != nil {
                let d = p.parameter!
                lines.append("| \(Int(d)) | \(p.linearCKACertified.map { String(format: "%.5f", $0.upper) } ?? "—") | \(String(format: "%.5f", 1 / d.squareRoot())) | \(p.procrustesDistanceCertified.map { String(format: "%.5f", $0.lower) } ?? "—") | \(String(format: "%.5f", (2 - 2 / d.squareRoot()).squareRoot())) | \(String(format: "%.6f", p.mccaCentered)) |")
            }
            lines += ["", "![CKA against d](cka.svg)"]
        } else if let search = r.search {
            lines += ["", "## The search", "",
                      "Objective: maximise \(search.dissimilarityName) (`--objective \(search.objective.rawValue)`), student dimension \(search.studentDimension). Concept: \(search.conceptSource).",
                      "Settings: " + search.settings.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)" }.joined(separator: ", ") + ".", "",
                      "## Frontier: what KL ≤ ε allows for this teacher", ""]
            lines += frontierTable(r)
            lines += ["", "\"found\" is a lower bound on what KL ≤ ε allows (a search); \"theory allows\" is T7 ∘ T6.sharp for m_CCA and T3 ∘ T6.sharp for d_rep, evaluated at the found pair (double precision from certified ends).", ""]
            for point in search.frontier {
                lines.append("- ε = \(point.epsilon): best start \(point.start)\(point.interpolation < 1 ? ", interpolated toward the teacher (t = \(sci(point.interpolation)))" : ""); \(point.effort.evaluations) evaluations over \(point.effort.starts) starts (\(point.effort.feasibleStarts) feasible) on \(point.effort.workers) workers in \(String(format: "%.1f", point.effort.seconds)) s, stopped by \(point.effort.interrupted ? "an interrupt (cut short; not reproducible to the bit)" : point.effort.stoppedByTime ? "the time budget (not reproducible to the bit)" : "the evaluation count (deterministic for the seed)"); τ = \(TheoryAllowance.tauText(point.theory.logTau)); \(point.theory.note).")
            }
            if !search.notSearched.isEmpty {
                lines += ["", "**Interrupted:** ε = \(search.notSearched.map { sci($0) }.joined(separator: ", ")) not searched; the Reproduce line below runs every ε."]
            }
            if let ref = search.reference {
                let kl = max(ref.klAB.upper, ref.klBA.upper)
                lines += ["", "**Your student** (`\(ref.file)`) has KL ≤ \(sci(kl)) (certified upper end, worse direction) and m_CCA \(sci(ref.mccaCentered)).",
                          "A student within KL ≤ ε of the teacher can have m_CCA as low as: " +
                          zip(search.frontier, r.pairs.sorted { ($0.parameter ?? 0) < ($1.parameter ?? 0) }).map { "\(sci($0.0.epsilon)) → \(sci($0.1.mccaCenteredCertified?.upper ?? $0.1.mccaCentered))" }.joined(separator: ", ") + "."]
            }
            lines += ["", "![frontier](frontier.svg)"]
        } else if r.sweepParameter != nil {
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

    /// CE4's frontier as Markdown table rows, ε ascending.
    public static func frontierTable(_ r: CounterexampleReport) -> [String] {
        guard let search = r.search else { return [] }
        func sci(_ x: Double) -> String { String(format: "%.3g", x) }
        var lines = ["| ε | KL(A‖B) upper | KL(B‖A) upper | m_CCA certified | scale-free d_rep | probe teacher / student | found \(search.dissimilarityName) | theory allows |",
                     "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for point in search.frontier {
            guard let p = r.pairs.first(where: { $0.parameter == point.epsilon }) else { continue }
            let bracket = p.mccaCenteredCertified.map { "[\(String(format: "%.4f", $0.lower)), \(String(format: "%.4f", $0.upper))]" } ?? "undefined"
            let allows: String
            switch search.objective {
            case .mcca: allows = point.theory.mccaLowerBound > 0 ? "1 − m_CCA ≤ \(sci(1 - point.theory.mccaLowerBound))" : "anything (vacuous)"
            case .drep: allows = "≤ \(sci(point.theory.scaleFreeDRepBound))"
            case .probe: allows = "no bound"
            }
            lines.append("| \(sci(point.epsilon)) | \(sci(p.klAB.upper)) | \(sci(p.klBA.upper)) | \(bracket) | \(sci(p.dRepScaleFreeAB)) | \(sci(p.probeAccuracyTeacher)) / \(sci(p.probeAccuracyStudent)) | \(sci(point.dissimilarity))\(point.dissimilarityCertified ? "" : " (not certified)") | \(allows) |")
        }
        return lines
    }

    /// Best dissimilarity against ε (log axis), with the theory's bound where it says
    /// something and a shaded band where it is vacuous (allows any value), the user's
    /// student labelled; the y-axis fitted to the data (log where it spans decades).
    static func frontierChart(_ search: CE4SearchReport) -> SVGChart {
        let found = search.frontier.map { ($0.epsilon, max($0.dissimilarity, 0)) }
        var series = [SVGChart.Series("found (search; a dot per ε)", found, mark: .lineWithPoints, colour: 0)]
        // The theory's allowance at each ε, nil where it is vacuous (1 − m_CCA ≥ 1, d_rep unbounded).
        let allowance: [(epsilon: Double, value: Double?)] = search.frontier.map { p in
            switch search.objective {
            case .mcca: let v = 1 - p.theory.mccaLowerBound; return (p.epsilon, v < 1 ? v : nil)
            case .drep: return (p.epsilon, p.theory.scaleFreeDRepBound.isFinite ? p.theory.scaleFreeDRepBound : nil)
            case .probe: return (p.epsilon, nil)
            }
        }
        let bound = allowance.compactMap { a in a.value.map { (a.epsilon, $0) } }
        if !bound.isEmpty { series.append(SVGChart.Series("theory allows (at the found pair)", bound, mark: .dashedLine, colour: 3)) }
        if let ref = search.reference {
            let y: Double
            switch search.objective {
            case .mcca: y = 1 - ref.mccaCentered
            case .drep: y = ref.dRepScaleFreeAB
            case .probe: y = .nan
            }
            if y.isFinite {
                series.append(SVGChart.Series("your student (KL \(String(format: "%.2g", max(ref.klAB.upper, ref.klBA.upper))))",
                                              [(max(ref.klAB.upper, ref.klBA.upper), y)], mark: .points, colour: 2))
            }
        }
        let ys = series.flatMap { $0.points.map(\.y) }.filter { $0 > 0 && $0.isFinite }
        let spansDecades = (ys.max() ?? 1) / (ys.min() ?? 1) > 30
        var chart = SVGChart(title: "CE4 frontier: \(search.dissimilarityName) within KL ≤ ε", xLabel: "ε (KL budget, both directions)",
                             yLabel: search.dissimilarityName, xAxis: .log, yAxis: spansDecades ? .log : .linear, series: series)
        // Vacuous ε: shaded from halfway (geometrically) after the last informative ε.
        let vacuous = allowance.filter { $0.value == nil }.map(\.epsilon), informative = allowance.filter { $0.value != nil }.map(\.epsilon)
        if search.objective != .probe, let first = vacuous.min() {
            let from = informative.filter { $0 < first }.max().map { ($0 * first).squareRoot() } ?? -.infinity
            let to = informative.filter { $0 > first }.min().map { ($0 * first).squareRoot() } ?? .infinity
            chart.bands = [(from, to, "theory vacuous here (allows any value)")]
        }
        return chart
    }
}
