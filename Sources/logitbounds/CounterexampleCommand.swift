import ArgumentParser
import Counterexamples
import Foundation
import ModelFiles
import Numerics
import Theory

struct CounterexampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "counterexample",
        abstract: "Build a certified low-KL, high-dissimilarity pair (T8) or a linearly related, different pair (T9).",
        discussion: """
        Families (THEORY.md §5):
          CE1  label permutation with growing margin L (default: a sweep over L)
          CE2  swap of ambiguous label pairs (unembeddings not linearly related)
          CE3  counter-rotation: m_CCA = 1 on both sides, conditionals far apart (T9)
          CE4  from any teacher (--teacher FILE.npz, else a generated one): KL ≤ ε
        KL is certified by MPFR enclosures and d_logit², d_rep² exactly, from the Doubles written to the .npz files.
        Exit status: 0 when every claim of the family holds, 1 when one does not, 2 on bad input.
        """)

    @Option(help: "CE1, CE2, CE3 or CE4.")
    var family: String

    @Option(parsing: .unconditional, help: "Unembedding norm L (CE1: the exported pair's margin, default 24; CE2: 16; CE3: 4).")
    var margin: Double?

    @Option(help: "CE1: comma-separated margins to sweep (default 4,8,16,24,32,48). Empty for none.")
    var sweep: String?

    @Option(help: "CE4: the teacher model file (.npz with arrays f, g and optionally w).")
    var teacher: String?

    @Option(help: "CE4: the KL budget ε, checked against certified upper ends in both directions.")
    var epsilon = 1e-3

    @Option(parsing: .unconditional, help: "Seed for the construction's noise (and for CE4's generated teacher).")
    var seed: UInt64 = 1

    @Option(help: "Directory for report.md, report.json, teacher.npz, student.npz and SVG figures.")
    var out: String?

    @Flag(help: "Print the JSON report on standard output.")
    var json = false

    func validate() throws {
        guard ["CE1", "CE2", "CE3", "CE4"].contains(family) else {
            throw ValidationError("--family must be CE1, CE2, CE3 or CE4, got \(family)")
        }
        if let margin, !(margin.isFinite && margin > 0 && margin <= 1e6) { throw ValidationError("--margin must be in (0, 10⁶]") }
        guard epsilon.isFinite, epsilon > 0 else { throw ValidationError("--epsilon must be positive") }
        if teacher != nil && family != "CE4" { throw ValidationError("--teacher applies to CE4 only") }
        _ = try sweepValues()
    }

    func sweepValues() throws -> [Double] {
        guard family == "CE1" else { return [] }
        let text = sweep ?? "4,8,16,24,32,48"
        guard !text.isEmpty else { return [] }
        return try commaSeparated(text, option: "sweep", of: "positive numbers") { Double($0).flatMap { $0 > 0 ? $0 : nil } }
    }

    var reproduceCommand: String {
        var parts = ["logitbounds counterexample --family \(family) --seed \(seed)"]
        if let margin { parts.append("--margin \(margin)") }
        if let sweep { parts.append("--sweep \"\(sweep)\"") }
        if let teacher { parts.append("--teacher \(teacher)") }
        if family == "CE4" { parts.append("--epsilon \(epsilon)") }
        if let out { parts.append("--out \(out)") }
        return parts.joined(separator: " ")
    }

    func run() throws {
        let directory = try out.map(OutputDirectory.init)
        let construction: Construction
        var sweepPairs: [(Double, Construction)] = []
        do {
            switch family {
            case "CE1":
                var ce1 = CE1LabelPermutation()
                ce1.seed = seed
                if let margin { ce1.margin = margin }
                construction = try ce1.build()
                sweepPairs = try sweepValues().map { L in
                    var c = ce1
                    c.margin = L
                    return (L, try c.build())
                }
            case "CE2":
                var ce2 = CE2AmbiguousPairSwap()
                ce2.seed = seed
                if let margin { ce2.margin = margin }
                construction = try ce2.build()
            case "CE3":
                var ce3 = CE3CounterRotation()
                ce3.seed = seed
                if let margin { ce3.margin = margin }
                construction = try ce3.build()
            default:
                var ce4 = CE4FromTeacher()
                ce4.epsilon = epsilon
                ce4.seed = seed
                construction = try ce4.build(teacher: try loadTeacher())
            }
        } catch let e as ModelFileError { throw CLIError(e.description) }
          catch let e as ModelError { throw CLIError(e.description) }
        let report = try CounterexampleReport(construction, sweep: sweepPairs,
                                              sweepParameter: sweepPairs.isEmpty ? nil : "margin L", command: reproduceCommand)
        var written = false
        directory?.attempt("counterexample") { directory in
            try CounterexampleWriter.write(report, construction, to: directory.url)
            FileHandle.standardError.write(Data("counterexample: wrote \(directory.url.path)/report.md\n".utf8))
            written = true
        }
        if json { print(try report.json()) } else if !written { print(CounterexampleWriter.markdown(report)) }
        else { print(report.claims.map { "\($0.holds ? "✔" : "✘") \($0.statement)" }.joined(separator: "\n")) }
        if !report.allClaimsHold { throw ExitCode(1) }
    }

    func loadTeacher() throws -> SoftmaxModel {
        if let teacher { return try ModelFile.read(URL(fileURLWithPath: teacher)) }
        var g = SeededGenerator(seed: seed)
        return ModelGenerator.model(labels: 10, dimension: 4, inputs: 60, scale: 3, using: &g)
    }
}
