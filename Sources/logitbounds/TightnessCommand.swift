import ArgumentParser
import Foundation
import Tightness

struct TightnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tightness",
        abstract: "How loose is each bound? Push left side / right side as high as it goes, then certify the best pair.",
        usage: "logitbounds tightness --statement <statement> [<options>]",
        discussion: """
        Statements: \(TightnessStatement.allCases.map(\.rawValue).joined(separator: ", ")), T10 (both T10 forms), or all.

        Two searches per statement: a random sweep over the verify harness's generators (ratio \
        quantiles and max), and an adversarial search: multi-start Adam on an analytic gradient \
        (T3, T6) and Nelder–Mead (every statement). Every candidate is recomputed at the certified \
        level (GMP or MPFR); a ratio above 1 there is a certified violation.

        T6 and T6.sharp maximise d_logit²/KL with every probability ≥ τ, for each --k and --tau, \
        and plot it against τ with the proven constants 1/τ² (T6) and 2/τ (T6.sharp).

        T10.cka and T10.procrustes search one identifiability class: for a whitened and an \
        anisotropic first model (d, N as given) over maps A ∈ GL(d), the infimum of linear CKA \
        and the supremum of the Procrustes distance between f and A f, against the proven \
        λ_min(Σ)/‖Σ‖_F and (2 − 2(λ_min(Σ)/tr Σ)^{1/2})^{1/2} (1/√d and √(2 − 2/√d) whitened). \
        The best pair is certified on the exact orbit image (A inverted in rationals, so its logits \
        equal the first model's exactly; its moments from Σ and A; λ_min by exact inertia counts, \
        bisected until decided; CKA² exact, the nuclear norm enclosed): fast enclosure where that \
        decides, else level enclosure.

        --constant-scale s multiplies the right side (s < 1 plants a false constant, to watch the \
        explorer catch it).

        An interrupt (Ctrl-C) ends the searches in flight as the budget would: their candidates are \
        certified and reported (marked not reproducible to the bit), the statements not yet begun are \
        named, and the run exits 130 (1 where a violation is certified); a second interrupt, half a second or more after the first, quits at once.

        Exit status: 0 nothing violated, 1 a certified violation, 2 bad usage, 130 interrupted.
        """)

    @Option(help: "T3, T4, T5.pair, T5.averaged, T6, T6.sharp, T7, T7.corollary, T10.cka, T10.procrustes, T10 (both), T11, T12 or all.")
    var statement: String

    @Option(parsing: .unconditional, help: "Number of labels k; comma-separated values for T6's τ-curve (others use the first).")
    var k = "20"

    @Option(parsing: .unconditional, help: "Embedding dimension d (both models).")
    var d = 4

    @Option(parsing: .unconditional, help: "Number of inputs N of the searched pairs.")
    var inputs = 8

    @Option(parsing: .unconditional, help: "T6: τ floors, comma-separated (default 1e-1,1e-2,…,1e-6; those ≥ 1/k are skipped).")
    var tau: String?

    @Option(parsing: .unconditional, help: "Time per statement, e.g. 60s, 2m or 20 (seconds); at most one day.")
    var budget = "20s"

    @Option(parsing: .unconditional, help: "Most evaluations of each Nelder–Mead search (1…10⁸); with it the run is reproducible to the bit unless --budget, then only a cap, is reached first.")
    var evaluations: Int?

    @Option(parsing: .unconditional, help: "Seed of the sweep and of the random starts.")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "Multiply every right side by this (1 = the theorems).")
    var constantScale = 1.0

    @Option(help: "Directory for report.md, tightness.json, one SVG per statement and the maximising pairs (.npz).")
    var out: String?

    @Flag(help: "Print the JSON report on standard output (progress lines stay on standard error).")
    var json = false

    static func seconds(_ text: String) throws -> Double {
        var t = text.trimmingCharacters(in: .whitespaces), factor = 1.0
        if t.hasSuffix("m") { factor = 60; t.removeLast() } else if t.hasSuffix("s") { t.removeLast() }
        guard let v = Double(t), v.isFinite, v > 0, v * factor <= maximumBudget else {
            throw ValidationError("--budget must be a duration such as 60s, 2m or 20, above 0 and at most one day (86400 s), got \"\(text)\"")
        }
        return v * factor
    }

    func statements() throws -> [TightnessStatement] {
        if statement == "all" { return TightnessStatement.allCases }
        if statement == "T10" { return [.T10cka, .T10procrustes] }
        guard let s = TightnessStatement(rawValue: statement) else {
            throw ValidationError("--statement must be one of \(TightnessStatement.allCases.map(\.rawValue).joined(separator: ", ")), T10 or all, got \(statement)")
        }
        return [s]
    }

    func configuration() throws -> TightnessConfiguration {
        var c = TightnessConfiguration()
        c.labels = try commaSeparated(k, option: "k", of: "integers") { Int($0) }
        c.dimension = d
        c.inputs = inputs
        if let tau { c.taus = try commaSeparated(tau, option: "tau", of: "numbers") { Double($0) } }
        c.budgetSeconds = try Self.seconds(budget)
        if let evaluations {
            guard (1...100_000_000).contains(evaluations) else { throw ValidationError("--evaluations must be in 1…10⁸") }
            c.evaluationLimit = evaluations
        }
        c.seed = seed
        c.constantScale = constantScale
        return c
    }

    /// One day: longer searches belong to several seeded runs.
    static let maximumBudget = 86_400.0

    func validate() throws {
        _ = try statements()
        let c = try configuration()
        guard c.labels.allSatisfy({ (2...1000).contains($0) }) else { throw ValidationError("every --k must be in 2…1000, got \(k)") }
        guard (1...64).contains(d), c.labels.allSatisfy({ $0 >= d + 1 }) else {
            throw ValidationError("--d must be in 1…64 and below every --k, got \(d)")
        }
        guard (d + 2...100_000).contains(inputs) else { throw ValidationError("--inputs must be in \(d + 2)…100000, got \(inputs)") }
        guard c.taus.allSatisfy({ $0 > 0 && $0 < 1 }) else { throw ValidationError("every --tau must lie in (0, 1)") }
    }

    func run() throws {
        var config = try configuration()
        let directory = try out.map(OutputDirectory.init)
        let progress = ProgressReporter(label: "tightness", plain: true)
        // An interrupt ends the searches in flight as their budget would; the statement is then
        // certified and reported, and the statements after it are not explored.
        Interrupt.shared.install("tightness")
        config.stop = { Interrupt.shared.isRaised }
        var results: [TightnessResult] = [], notExplored: [String] = []
        for s in try statements() {
            guard !Interrupt.shared.isRaised else { notExplored.append(s.rawValue); continue }
            do {
                results.append(try TightnessExplorer.explore(s, config) { progress.note($0) })
            } catch is TightnessError where Interrupt.shared.isRaised {
                // Interrupted before a candidate it could certify (none searched, or none decided).
                notExplored.append(s.rawValue)
            } catch let e as TightnessError { throw CLIError(e.description) }
        }
        let interrupted = Interrupt.shared.isRaised ? notExplored : nil
        directory?.attempt("tightness") { directory in
            let files = try TightnessReport.write(results, config: config, notExplored: interrupted, to: directory.url)
            progress.note("wrote \(files.count) files to \(directory.url.path) (report.md, tightness.json, SVG plots, maximising pairs)")
        }
        if json {
            print(try TightnessReport.json(results, config: config, notExplored: interrupted))
        } else {
            print(TightnessReport.markdown(results, config: config, notExplored: interrupted), terminator: "")
        }
        let violated = results.filter(\.certifiedViolation)
        if !violated.isEmpty {
            FileHandle.standardError.write(Data("""
                !!! CERTIFIED VIOLATION: \(violated.map(\.statement.rawValue).joined(separator: ", ")) — \
                a pair with left side > right side, proven \(violated.map { $0.certified.level.rawValue }.joined(separator: "/")).\
                \(out == nil ? " Rerun with --out DIR to save it." : " Saved in \(out!).")

                """.utf8))
            throw ExitCode(1)
        }
        if interrupted != nil { throw ExitCode(130) }
    }
}
