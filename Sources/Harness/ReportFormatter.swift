import Foundation
import Theory

/// Human-readable forms of a verification report.
public enum ReportFormatter {
    /// The report as Markdown: what was run, one table row per check, then the
    /// conjecture search and any violations with their replay commands.
    public static func markdown(_ r: VerificationReport, seconds: Double?) -> String {
        var lines: [String] = []
        lines.append("# logitbounds verify")
        lines.append("")
        let c = r.corpus
        lines.append("Corpus: \(c.cases) generated pairs, seed \(c.seed), generators \(c.generators.map(\.rawValue).joined(separator: ", ")); "
                     + "limits k ≤ \(c.maxLabels), d ≤ \(c.maxDimension), N ≤ \(c.maxInputs)"
                     + (r.generatedSizes.map { "; generated \($0.description). " } ?? ". ")
                     + (r.isComplete ? "" : "Shards \(r.shards.map { "\($0 + 1)" }.joined(separator: ", ")) of \(r.shardCount). ")
                     + "Cases run: \(r.casesRun)" + (seconds.map { String(format: " in %.1f s.", $0) } ?? "."))
        if !r.interrupted.isEmpty {
            let total = r.shards.reduce(0) { $0 + c.caseCount(shard: $1, of: r.shardCount) }
            lines.append("")
            lines.append("**Interrupted after \(r.casesRun) of \(total) cases**: the counts below cover the cases that ran.")
        }
        if !r.plantedScales.isEmpty {
            lines.append("")
            lines.append("**Planted false statements** (constants scaled): "
                         + r.plantedScales.sorted { $0.key < $1.key }.map { "\($0.key) × \($0.value)" }.joined(separator: ", "))
        }
        lines.append("")
        lines.append(r.certifyAll
            ? "Every decided verdict of the theorems is certified: first by fast enclosure (Double intervals with proven error bounds, "
              + "Proofs/certificates.md), and where that cannot decide by MPFR enclosure or exactly (GMP rationals); the "
              + "column fast/MPFR/exact counts the level that decided each certified case, and \"screened\" (cases − certified − "
              + "undecided) is 0 for every theorem. An undecided case is not a verdict. An \"inapplicable\" case is outside the "
              + "statement's hypotheses, found by the screen or proven (T2's unequal conditionals, by the fast enclosure of d_logit²)."
            : "`--certify screen`: a \"holds\" is a double-precision screen with a relative margin above 1e−9 unless the "
              + "certified column counts it; every screened violation or near-miss is re-checked exactly (GMP rationals) or "
              + "by MPFR enclosure, and only certified violations count. The default certifies every verdict.")
        lines.append("")
        lines.append(contentsOf: r.theorems.isEmpty ? ["No theorem was checked (only the conjecture search: `--statement`)."] : table(r.theorems))
        if !r.conjectures.isEmpty { lines.append(contentsOf: conjectureSection(r)) }
        let violated = r.theorems.filter { $0.violations > 0 }
        if !violated.isEmpty {
            lines.append("")
            lines.append("## Certified violations")
            for s in violated {
                lines.append("")
                lines.append("- **\(s.name)** (\(s.form)): \(s.violations) certified; first at \(s.firstViolation?.description ?? "?").")
                if let v = s.firstViolationVerdict, let cert = v.certificate { lines.append("  Certificate: \(cert)") }
            }
        }
        let undecided = (r.theorems + r.conjectures).filter { $0.undecided > 0 }
        if !undecided.isEmpty {
            lines.append("")
            lines.append("## Undecided (no level decided them: not verdicts)")
            for s in undecided {
                lines.append("")
                lines.append("- **\(s.name)**: \(s.undecided) case\(s.undecided == 1 ? "" : "s"); "
                             + (s.firstUndecided.map { "first at \($0.description)." } ?? "the first not recorded (a shard report written before reports named it)."))
                if let v = s.firstUndecidedVerdict, let why = v.certificate { lines.append("  Why: \(why)") }
            }
        }
        if !r.replayFiles.isEmpty {
            lines.append("")
            lines.append("Replay files (shrunk violations): " + r.replayFiles.map { "`\($0)`" }.joined(separator: ", "))
        }
        lines.append("")
        lines.append("Verdict: " + (r.violationCount == 0 ? "no certified violation." : "\(r.violationCount) certified violation(s)."))
        return lines.joined(separator: "\n") + "\n"
    }

    /// The conjecture search's heading, what it counts, and its table.
    static func conjectureSection(_ r: VerificationReport) -> [String] {
        var lines = ["", "## Conjecture search (not a theorem)"]
        lines.append("")
        lines.append("THEORY.md asks whether the reference's plotted T7 quantity — centred canonical correlations with "
                     + "uncentred second-moment eigenvalues, in either pairing — can exceed d_logit². "
                     + "\"Exceeds\" counts certified exceedances (certified inertia brackets against the exact d_logit²). "
                     + (r.certifyAll ? "The fast enclosure decides first; a case it cannot decide is screened in double precision "
                        + "(\"screened\": a screened \"holds\", not a certificate), and certified where the screen sees an exceedance "
                        + "or a near-miss. " : "")
                     + "The boundary generator's pairs (built to attain proven bounds, where the quantity does exceed "
                     + "d_logit²; notes/findings.md) are not searched: they count as inapplicable here.")
        lines.append("")
        lines.append(contentsOf: table(r.conjectures, violationHeader: "exceeds"))
        return lines
    }

    static func table(_ summaries: [CheckSummary], violationHeader: String = "violations") -> [String] {
        var lines = ["| check | statement | cases | certified | fast/MPFR/exact | screened | \(violationHeader) | undecided | inapplicable | errors | worst ratio | worst case |",
                     "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for s in summaries {
            let worst = s.worstRatio.map { String(format: "%.6g", $0) } ?? "–"
            let at = s.worstCase.map { "#\($0.index) \($0.generator.rawValue) k=\($0.size.labels) d=\($0.size.dimension) N=\($0.size.inputs)" } ?? "–"
            lines.append("| \(markdownCell(s.name)) | \(markdownCell(s.form)) | \(s.cases) | \(s.certified) | \(s.certifiedFast)/\(s.certifiedMPFR)/\(s.certifiedExact) | \(s.cases - s.certified - s.undecided) | \(s.violations) | \(s.undecided) | \(s.inapplicable) | \(s.errors) | \(worst) | \(at) |")
        }
        return lines
    }

    /// The report as JSON (sorted keys, stable across runs).
    /// It carries a digest of its content, which `merge` checks.
    public static func json(_ r: VerificationReport) throws -> String {
        var signed = r
        signed.digest = try r.contentDigest()
        return try ReportJSON.encode(signed)
    }

    public static func decode(_ data: Data) throws -> VerificationReport {
        try ReportJSON.decode(VerificationReport.self, from: data)
    }
}
