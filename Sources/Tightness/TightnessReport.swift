import Foundation
import ModelFiles
import Plots
import Theory

/// Markdown, JSON, SVG and model files for a set of tightness results.
public enum TightnessReport {
    /// The JSON document: `{"seed": s, "budget_seconds": b, "statements": [...]}`, and after an
    /// interrupt `"interrupted": true` and the statements it left unexplored (`"not_explored"`).
    public struct Document: Codable {
        public let seed: UInt64
        public let budgetSeconds: Double
        public let statements: [TightnessResult]
        public var interrupted: Bool? = nil
        public var notExplored: [String]? = nil
    }

    /// `notExplored` (nil: no interrupt) names the statements an interrupt left unexplored.
    public static func json(_ results: [TightnessResult], config: TightnessConfiguration, notExplored: [String]? = nil) throws -> String {
        try ReportJSON.encode(Document(seed: config.seed, budgetSeconds: config.budgetSeconds, statements: results,
                                       interrupted: notExplored.map { _ in true }, notExplored: notExplored),
                              snakeCase: true)
    }

    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "\(v)" }
        if v != 0 && (abs(v) < 1e-3 || abs(v) >= 1e5) { return String(format: "%.4e", v) }
        // Ratios near the bound need their digits: 0.99999 must not print as 1.
        if abs(v - 1) < 1e-3 || abs(v - 2) < 1e-3 { return String(format: "%.10g", v) }
        return String(format: "%.6g", v)
    }

    /// A Markdown table.
    static func table(_ header: [String], _ rows: [[String]]) -> [String] {
        ["| " + header.joined(separator: " | ") + " |", "|" + String(repeating: "---|", count: header.count)]
            + rows.map { "| " + $0.map(markdownCell).joined(separator: " | ") + " |" }
    }

    /// The summary table and, per statement, its searches (and T6's τ-curve).
    public static func markdown(_ results: [TightnessResult], config: TightnessConfiguration, notExplored: [String]? = nil) -> String {
        var lines = ["# Tightness of the bounds", "",
                     "Seed \(config.seed), budget \(number(config.budgetSeconds)) s per statement" +
                        (config.constantScale != 1 ? ", **constant scale \(config.constantScale) (a planted false constant)**" : "") + "."]
        if let notExplored {
            let cut = results.filter { $0.notes.contains(TightnessExplorer.interruptedNote) }.map(\.statement.rawValue)
            lines += ["", "**Interrupted:** \(results.count) statement\(results.count == 1 ? "" : "s") explored"
                + (cut.isEmpty ? "" : " (\(cut.joined(separator: ", ")) cut short: not reproducible to the bit)")
                + (notExplored.isEmpty ? "." : "; not explored: \(notExplored.joined(separator: ", ")).")
                + " The rows below are certified as in a whole run.", ""]
        }
        lines += [
                     "Ratio = left side / right side; the theorem says ≤ 1. The certified column recomputes the best pair's ratio exactly (GMP) or as an MPFR enclosure.", ""]
        lines += table(["statement", "proven constant", "sweep median", "sweep max", "best ratio", "found by", "certified"],
                       results.map { r in
                           [r.statement.rawValue, r.provenConstant, number(r.sweep.median), number(r.sweep.max), number(r.bestRatio),
                            r.foundBy.rawValue,
                            (r.certifiedViolation ? "**VIOLATED** " : "") + "\(r.certified.outcome.rawValue) (\(r.certified.level.rawValue))"]
                       })
        for r in results {
            lines += ["", "## \(r.statement.rawValue): \(r.form)", "",
                      "k = \(r.labels), d = \(r.dimension), N = \(r.inputs); \(number(r.seconds)) s. Random sweep: \(r.sweep.cases) cases, ratio quantiles 50 % \(number(r.sweep.median)), 90 % \(number(r.sweep.quantile90)), 99 % \(number(r.sweep.quantile99)), max \(number(r.sweep.max))" + (r.sweep.worst.map { " (generator \($0.generator), seed \($0.seed))" } ?? "") + ".", "",
                      ] + table(["search", "k", "τ", "best ratio", "evaluations", "starts"], r.searches.map {
                          [$0.method.rawValue, "\($0.labels)", $0.tau.map(number) ?? "–", number($0.bestRatio),
                           "\($0.evaluations)", "\($0.starts)"]
                      })
            lines += ["", "By generator: " + r.sweep.byGenerator.map { "\($0.generator) median \(number($0.median)), max \(number($0.max)) (\($0.cases))" }.joined(separator: "; ") + "."]
            if let curve = r.tauCurve {
                lines += ["", "Largest d_logit²/KL found with every probability ≥ the floor τ, recomputed from the best pair's stored logits; τ_pair is that pair's own τ (T6 proves ratio·τ_pair² ≤ 1, T6.sharp ratio·τ_pair ≤ 2):", ""]
                lines += table(["k", "floor τ", "τ_pair", "largest d_logit²/KL", "× τ_pair (≤ 2)", "× τ_pair² (≤ 1)", "certified", "found by"],
                               curve.map { ["\($0.labels)", number($0.tau), number($0.pairTau), number($0.largestRatio), number($0.timesTau),
                                            number($0.timesTauSquared), $0.certified.rawValue, $0.foundBy.rawValue] })
            }
            if let rows = r.vacuity, !rows.isEmpty {
                lines += ["", "T6 at trained-model τ (k = \(rows[0].labels), student = teacher + 1 % noise; doubles):", ""]
                lines += table(["target τ", "log10 τ", "KL", "d_logit²", "log10(1/τ²)", "log10(2/τ)", "d_logit² / (KL/τ²)", "d_logit² / (2KL/τ)"],
                               rows.map { [number($0.targetTau), number($0.logTau / Double.ln10), number($0.kl), number($0.dLogitSquared),
                                           number($0.log10InverseTauSquared), number($0.log10TwoOverTau), number($0.ratioT6), number($0.ratioT6Sharp)] })
            }
            if let rows = r.classInfimum, !rows.isEmpty {
                let name = r.statement == .T10cka ? "CKA" : "Procrustes"
                let extremum = r.statement == .T10cka ? "proven infimum" : "proven supremum"
                lines += ["", "\(name) over one identifiability class (d = \(r.dimension), N = \(r.inputs)); each best pair certified on the exact orbit image (d_logit² = 0 exactly):", ""]
                lines += table(["teacher", extremum, "whitened value (d = \(r.dimension))", "found", "certified ratio", "certified", "cond(A)", "evaluations", "dependence on embeddings beyond Σ"],
                               rows.map { [$0.teacher, number($0.provenExtremum), number($0.whitenedExtremum), number($0.found),
                                           number($0.ratio), "\($0.outcome.rawValue) (\($0.level.rawValue))", number($0.mapCondition),
                                           "\($0.evaluations)", number($0.embeddingDependence)] })
            }
            if let rows = r.t7Closeness, !rows.isEmpty {
                lines += ["", "T7 on typical pairs (k = \(r.labels), d = \(r.dimension), N = \(max(r.inputs, 50)); medians; model 1 = student; doubles):", ""]
                lines += table(["pairs", "cases", "Σ(1−ρ²)μ / d_logit²", "R / d_logit²", "mean ρ² (true)", "corollary's lower bound on mean ρ²", "bound ≤ 0 (vacuous)"],
                               rows.map { [$0.kind, "\($0.cases)", number($0.medianTraceOverDLogit), number($0.medianResidualOverDLogit),
                                           number($0.medianMeanRhoSquared), number($0.medianCorollaryLowerBound), number($0.vacuousFraction)] })
            }
            lines += ["", "Certified: \(r.certified.outcome.rawValue) at the \(r.certified.level.rawValue) level, lhs \(number(r.certified.lhs)), rhs \(number(r.certified.rhs)), ratio \(number(r.certified.ratio))." + (r.certified.certificate.map { " \($0)." } ?? "")]
            if r.certifiedViolation {
                lines.append("**Certified violation**: the maximising pair is saved as \(r.statement.rawValue)-first.npz / \(r.statement.rawValue)-second.npz.")
            }
            lines += r.notes.map { "- \($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The statement's plot: T6 on log–log axes with 1/τ² and 2/τ; the others the ratio
    /// against σ_min (T3, T4) or d_logit (T5, T7), with the bound's line at 1.
    public static func plot(_ r: TightnessResult) -> String {
        let sweep = r.sweepPoints.map { (x: $0.parameter, y: $0.plotted) }
        if let curve = r.tauCurve {
            // The τ range of the adversarial curve (a decade either side); generated pairs
            // whose τ underflows far below it are left out of the picture, not the report.
            let taus = curve.map(\.pairTau).filter { $0 > 0 && $0.isFinite }
            let lo = max((taus.min() ?? 1e-6) / 10, 1e-300), hi = min((taus.max() ?? 0.1) * 10, 0.5)
            let grid = (0...40).map { lo * ((hi / lo).log * Double($0) / 40).exp }
            var series = [SVGChart.Series("random sweep (generators)", sweep, colour: 7)]
            for (i, k) in Set(curve.map(\.labels)).sorted().enumerated() {
                series.append(SVGChart.Series("adversarial max, k = \(k)", curve.filter { $0.labels == k }.map { (x: $0.pairTau, y: $0.largestRatio) },
                                              colour: [2, 4, 5, 6, 8, 9][i % 6]))
            }
            series.append(SVGChart.Series("1/τ² (T6, proven)", grid.map { (x: $0, y: 1 / ($0 * $0)) }, mark: .line, colour: 3))
            series.append(SVGChart.Series("2/τ (T6.sharp, proven)", grid.map { (x: $0, y: 2 / $0) }, mark: .dashedLine, colour: 0))
            return SVGChart(title: "\(r.statement.rawValue): d_logit²/KL against τ", xLabel: "τ = min probability",
                            yLabel: "d_logit² / KL", xAxis: .log, yAxis: .log, series: series, xLimits: (lo, hi)).render()
        }
        let xs = sweep.map(\.x).filter { $0 > 0 && $0.isFinite }
        let lo = xs.min() ?? 1e-3, hi = max(xs.max() ?? 1, lo * 10)
        var series = [SVGChart.Series("random sweep (generators)", sweep, colour: 7),
                      SVGChart.Series("bound: ratio = 1", [(x: lo, y: 1), (x: hi, y: 1)], mark: .dashedLine, colour: 3)]
        if let rows = r.classInfimum {
            for (i, row) in rows.enumerated() {
                series.append(SVGChart.Series("adversarial best, \(row.teacher) teacher", [(x: row.mapCondition, y: row.ratio)],
                                              colour: [2, 4][i % 2]))
            }
        } else if let pair = r.bestPair {
            series.append(SVGChart.Series("adversarial best (\(r.foundBy == .gradient ? "gradient" : r.foundBy == .nelderMead ? "Nelder–Mead" : "sweep"))",
                                          [(x: r.statement.parameter(pair), y: r.bestRatio)], colour: 2))
        }
        return SVGChart(title: "\(r.statement.rawValue): left side / right side", xLabel: r.statement.parameterName,
                        yLabel: "ratio lhs / rhs", xAxis: .log, yAxis: .log, series: series).render()
    }

    /// Writes report.md, tightness.json, one SVG per statement and the maximising pairs.
    public static func write(_ results: [TightnessResult], config: TightnessConfiguration, notExplored: [String]? = nil,
                             to directory: URL) throws -> [URL] {
        var out = try ReportDirectory(directory)
        try out.put("report.md", markdown(results, config: config, notExplored: notExplored))
        try out.put("tightness.json", json(results, config: config, notExplored: notExplored))
        for r in results {
            try out.put("\(r.statement.rawValue).svg", plot(r))
            if let pair = r.bestPair {
                for (name, model) in [("first", pair.first), ("second", pair.second)] {
                    let file = "\(r.statement.rawValue)-\(name).npz"
                    try ModelFile.write(model, to: out.target(file))
                    out.record(file)
                }
            }
        }
        return out.written
    }
}
