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

        - CE1: label permutation with growing margin L (default: a sweep over L).

        - CE2: swap of ambiguous label pairs (unembeddings not linearly related).

        - CE3: counter-rotation: m_CCA = 1 on both sides, conditionals far apart (T9).

        - CE4: search from any teacher (--teacher FILE.npz, else a generated one): the student within \
        KL(A‖B) ≤ ε and KL(B‖A) ≤ ε that is most dissimilar by --objective, for each ε given.

        - CE5: one identifiability class, linear CKA ≈ 1/√d: d_logit² = 0 exactly, Procrustes far from 0 \
        (T10; --dimension d, default 4, with a sweep over d = 2…16 for cka.svg).

        Certified, from the Doubles written to the .npz files: KL (MPFR enclosures), d_logit² and d_rep² (exact), \
        the centred m_CCA (an enclosure from exact inertia counts of the rational moment pencil) and each fitted \
        probe's accuracy (its score signs decided in rationals). Not certified: that the search found the most \
        dissimilar student (it is a search: the frontier is a lower bound on what KL ≤ ε allows), the probe \
        objective's value, and the theory bounds printed beside the result (double precision from certified ends). \
        CE4's search is deterministic for a seed when the evaluation count, not --budget, stops it (the report says).

        Exit status: 0 when every claim of the family holds, 1 when one does not, 2 on bad input, 130 when \
        interrupted (CE4 reports the ε finished so far).
        """)

    @Option(help: "CE1, CE2, CE3, CE4 or CE5.")
    var family: String

    @Option(parsing: .unconditional, help: "CE5: the embedding dimension d (2…64).")
    var dimension: Int?

    @Option(parsing: .unconditional, help: "Unembedding norm L (CE1: the exported pair's margin, default 24; CE2: 16; CE3: 4).")
    var margin: Double?

    @Option(parsing: .unconditional, help: "CE1: comma-separated margins to sweep (default 4,8,16,24,32,48). Empty for none.")
    var sweep: String?

    @Option(help: "CE4: the teacher model file (.npz with arrays f, g and optionally w; N·k ≤ 10⁷ and (N + k)·d ≤ 10⁸, checked from its headers before it is read; near N·k = 10⁷ a run takes minutes and several GB whatever --budget, which bounds the search alone).")
    var teacher: String?

    @Option(parsing: .upToNextOption,
            help: "CE4: KL budgets ε (one or more, space- or comma-separated; default 1e-3), each checked against certified upper ends in both directions.")
    var epsilon: [String] = []

    @Option(help: "CE4: mcca (maximise 1 − m_CCA, centred), drep (scale-free d_rep(A←B)) or probe (make the concept linearly unreadable).")
    var objective = "mcca"

    @Option(help: "CE4: a .npy vector of N values 0/1 (the concept to probe); default: the teacher's most linearly recoverable grouping of labels.")
    var concept: String?

    @Option(name: .customLong("student-dimension"), parsing: .unconditional, help: "CE4: the student's embedding dimension (default: the teacher's).")
    var studentDimension: Int?

    @Option(parsing: .unconditional, help: "CE4: wall-clock seconds per ε, all starts together (≤ 86400).")
    var budget = 120.0

    @Option(parsing: .unconditional, help: "CE4: evaluations per start (1…10⁷); the search is deterministic when these, not --budget, stop it.")
    var evaluations = 2500

    @Option(parsing: .unconditional, help: "CE4: number of starts (1…256).")
    var starts = 12

    @Option(parsing: .unconditional, help: "CE4: worker threads for the starts (1…64).")
    var workers = 2

    @Option(name: .customLong("tau-floor"), parsing: .unconditional,
            help: "CE4: keep every probability of the student ≥ τ (a number in (0, 1/k], or 'teacher' for the teacher's own τ), so that T3 ∘ T6.sharp at that τ bounds every student searched; default none.")
    var tauFloor: String?

    @Option(help: "CE4: search (default), or fisher-null: the single local move of earlier releases (one ε), kept as the baseline the search is measured against.")
    var method = "search"

    @Option(help: "CE4: a student you already have (.npz), placed against the frontier.")
    var reference: String?

    @Flag(name: .customLong("width-curve"),
          help: "CE4: instead of the KL ball, for every narrower width d₂ = 1 … min(d, k − 1) − 1 the least KL(teacher‖student) a search over students of that width reaches (certified KL of what it found) beside T12's exact logit floor for that width.")
    var widthCurve = false

    @Option(parsing: .unconditional, help: "Seed for the construction's noise (and for CE4's generated teacher).")
    var seed: UInt64 = 1

    @Option(help: "Directory for report.md, report.json, teacher.npz, student.npz and SVG figures.")
    var out: String?

    @Flag(help: "Print the JSON report on standard output.")
    var json = false

    func validate() throws {
        guard ["CE1", "CE2", "CE3", "CE4", "CE5"].contains(family) else {
            throw ValidationError("--family must be CE1, CE2, CE3, CE4 or CE5, got \(family)")
        }
        if let dimension {
            guard family == "CE5" else { throw ValidationError("--dimension applies to CE5 only") }
            guard (2...64).contains(dimension) else { throw ValidationError("--dimension must be in 2…64 (CE5 needs d ≥ 2), got \(dimension)") }
        }
        if let margin, !(margin.isFinite && margin > 0 && margin <= 1e6) { throw ValidationError("--margin must be in (0, 10⁶]") }
        let epsilons = try epsilonValues()
        if family != "CE4" {
            let given = [teacher != nil ? "--teacher" : nil, concept != nil ? "--concept" : nil, reference != nil ? "--reference" : nil,
                         studentDimension != nil ? "--student-dimension" : nil, !epsilon.isEmpty ? "--epsilon" : nil].compactMap { $0 }
            if let first = given.first { throw ValidationError("\(first) applies to CE4 only") }
        }
        guard epsilons.count <= 64 else { throw ValidationError("--epsilon: at most 64 values, got \(epsilons.count)") }
        guard ["search", "fisher-null"].contains(method) else { throw ValidationError("--method must be search or fisher-null, got \(method)") }
        if method == "fisher-null" && (epsilons.count > 1 || objective != "mcca" || concept != nil || studentDimension != nil || reference != nil) {
            throw ValidationError("--method fisher-null takes one --epsilon and none of --objective, --concept, --student-dimension, --reference")
        }
        if let tauFloor, tauFloor != "teacher" {
            guard let t = Double(tauFloor), t > 0, t < 1 else { throw ValidationError("--tau-floor must be 'teacher' or a number in (0, 1), got \(tauFloor)") }
        }
        if tauFloor != nil && family != "CE4" { throw ValidationError("--tau-floor applies to CE4 only") }
        if widthCurve {
            guard family == "CE4" else { throw ValidationError("--width-curve applies to CE4 only") }
            let ignored = [!epsilon.isEmpty ? "--epsilon" : nil, method != "search" ? "--method" : nil, objective != "mcca" ? "--objective" : nil,
                           concept != nil ? "--concept" : nil, reference != nil ? "--reference" : nil,
                           studentDimension != nil ? "--student-dimension" : nil, tauFloor != nil ? "--tau-floor" : nil].compactMap { $0 }
            if !ignored.isEmpty {
                throw ValidationError("--width-curve searches every narrower width for the least KL; it takes none of \(ignored.joined(separator: ", ")) (it uses --teacher, --starts, --evaluations, --budget per width, --seed)")
            }
        }
        guard StudentObjectiveKind(rawValue: objective) != nil else {
            throw ValidationError("--objective must be mcca, drep or probe, got \(objective)")
        }
        if let studentDimension, !(1...64).contains(studentDimension) { throw ValidationError("--student-dimension must be in 1…64") }
        guard budget.isFinite, budget > 0, budget <= 86400 else { throw ValidationError("--budget must be in (0, 86400] seconds") }
        guard (1...10_000_000).contains(evaluations) else { throw ValidationError("--evaluations must be in 1…10⁷") }
        guard (1...256).contains(starts) else { throw ValidationError("--starts must be in 1…256") }
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be in 1…64") }
        _ = try sweepValues()
    }

    func epsilonValues() throws -> [Double] {
        guard !epsilon.isEmpty else { return [1e-3] }
        let values = try epsilon.flatMap { text in
            try commaSeparated(text, option: "epsilon", of: "positive finite numbers") { Double($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } }
        }
        return values
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
        if let dimension { parts.append("--dimension \(dimension)") }
        if let sweep { parts.append("--sweep \"\(sweep)\"") }
        if let teacher { parts.append("--teacher \(teacher)") }
        if family == "CE4" && method == "fisher-null" {
            parts.append("--method fisher-null --epsilon \((try? epsilonValues())?.first ?? 1e-3)")
        } else if family == "CE4" {
            parts.append("--epsilon " + ((try? epsilonValues()) ?? []).map { "\($0)" }.joined(separator: " "))
            parts.append("--objective \(objective) --starts \(starts) --evaluations \(evaluations) --budget \(budget)")
            if let concept { parts.append("--concept \(concept)") }
            if let studentDimension { parts.append("--student-dimension \(studentDimension)") }
            if let reference { parts.append("--reference \(reference)") }
            if let tauFloor { parts.append("--tau-floor \(tauFloor)") }
        }
        if let out { parts.append("--out \(out)") }
        return parts.joined(separator: " ")
    }

    /// The files this command reads (CE4's teacher, concept and reference student): no --out
    /// file may replace one.
    var inputFiles: [String] { [teacher, concept, reference].compactMap { $0 } }

    /// The --out directory, its files checked against the inputs before any work.
    func outputDirectory(writes names: [String]) throws -> OutputDirectory? {
        try out.map { try OutputDirectory($0, writes: names, inputs: inputFiles) }
    }

    func run() throws {
        if widthCurve { return try runWidthCurve() }
        if family == "CE4" && method == "search" { return try runSearch() }
        let directory = try outputDirectory(writes: CounterexampleWriter.files)
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
            case "CE5":
                var ce5 = CE5IdentifiabilityBlind()
                if let dimension { ce5.dimension = dimension }
                if let margin { ce5.margin = margin }
                construction = try ce5.build()
                sweepPairs = try Array(2...16).map { d in
                    var c = ce5
                    c.dimension = d
                    return (Double(d), try c.build())
                }
            case "CE3":
                var ce3 = CE3CounterRotation()
                ce3.seed = seed
                if let margin { ce3.margin = margin }
                construction = try ce3.build()
            default:
                var ce4 = CE4FromTeacher()
                ce4.epsilon = try epsilonValues()[0]
                ce4.seed = seed
                construction = try ce4.build(teacher: try loadTeacher())
            }
        } catch let e as ModelFileError { throw CLIError(e.description) }
          catch let e as ModelError { throw CLIError(e.description) }
        let report = try CounterexampleReport(construction, sweep: sweepPairs,
                                              sweepParameter: sweepPairs.isEmpty ? nil : (family == "CE5" ? "dimension d" : "margin L"),
                                              command: reproduceCommand)
        var written = false
        directory?.attempt("counterexample") { directory in
            try CounterexampleWriter.write(report, construction, to: directory.url, protecting: inputFiles)
            FileHandle.standardError.write(Data("counterexample: wrote \(directory.url.path)/report.md\n".utf8))
            written = true
        }
        if json { print(try report.json()) } else if !written { print(CounterexampleWriter.markdown(report)) }
        else { print(report.claims.map { "\($0.holds ? "✔" : "✘") \($0.statement)" }.joined(separator: "\n")) }
        if !report.allClaimsHold { throw ExitCode(1) }
    }

    /// CE4: the search over each ε, certified, with its frontier.
    func runSearch() throws {
        let directory = try outputDirectory(writes: CounterexampleWriter.files)
        Interrupt.shared.install("counterexample")
        let result: CE4Frontier.Result
        do {
            let teacherModel = try loadTeacher()
            let conceptValues = try concept.map {
                (try ModelFile.readConcept(URL(fileURLWithPath: $0), expected: teacherModel.inputCount), "concept from \($0)")
            }
            let referenceModel = try reference.map { path in
                // Its inputs and labels must be the teacher's: checked from the headers before it is read.
                let url = URL(fileURLWithPath: path), shape = try ModelFile.shape(url)
                guard shape.inputs == teacherModel.inputCount, shape.labels == teacherModel.labelCount else {
                    throw CLIError("--reference \(path) has N = \(shape.inputs) inputs and k = \(shape.labels) labels; the teacher has N = \(teacherModel.inputCount) and k = \(teacherModel.labelCount)")
                }
                return (try ModelFile.read(url), path)
            }
            var frontier = CE4Frontier()
            frontier.epsilons = try epsilonValues()
            frontier.search.objective = StudentObjectiveKind(rawValue: objective)!
            frontier.search.studentDimension = studentDimension
            frontier.search.timeBudget = budget
            frontier.search.evaluationsPerStart = evaluations
            frontier.search.starts = starts
            frontier.search.workers = workers
            frontier.search.seed = seed
            if let tauFloor {
                let logTau = tauFloor == "teacher" ? teacherModel.logConditionals.storage.min()! : Double(tauFloor)!.log
                guard logTau <= -Double(teacherModel.labelCount).log + 1e-12 else {
                    throw CLIError("--tau-floor \(tauFloor) exceeds 1/k = 1/\(teacherModel.labelCount): no model has every probability that large")
                }
                frontier.search.studentLogTauFloor = logTau
            }
            result = try frontier.run(teacher: teacherModel, concept: conceptValues, reference: referenceModel,
                                      progress: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) },
                                      stop: { Interrupt.shared.isRaised })
        } catch let e as ModelFileError { throw CLIError(e.description) }
          catch let e as ModelError { throw CLIError(e.description) }
        let report = CounterexampleReport(search: result, command: reproduceCommand)
        var written = false
        directory?.attempt("counterexample") { directory in
            try CounterexampleWriter.write(report, result.constructions.last!, to: directory.url, protecting: inputFiles)
            FileHandle.standardError.write(Data("counterexample: wrote \(directory.url.path)/report.md\n".utf8))
            written = true
        }
        if json { print(try report.json()) } else if !written { print(CounterexampleWriter.markdown(report)) }
        else { print(CounterexampleWriter.frontierTable(report).joined(separator: "\n")) }
        if result.interrupted { throw ExitCode(130) }
        if !report.allClaimsHold { throw ExitCode(1) }
    }

    /// CE4 --width-curve: per narrower width, the least KL found beside T12's logit floor.
    func runWidthCurve() throws {
        let directory = try outputDirectory(writes: ["width-curve.md", "width-curve.json"])
        let result: WidthKLCurve.Result
        Interrupt.shared.install("counterexample")
        do {
            var curve = WidthKLCurve()
            curve.seed = seed
            curve.starts = starts
            curve.iterations = evaluations
            curve.secondsPerWidth = budget
            result = try curve.run(teacher: try loadTeacher(), progress: {
                FileHandle.standardError.write(Data("counterexample: width \($0)\n".utf8))
            }, stop: { Interrupt.shared.isRaised })
        } catch let e as ModelFileError { throw CLIError(e.description) }
          catch let e as ModelError { throw CLIError(e.description) }
        let rows = result.rows
        func f(_ x: Double) -> String { x == 0 ? "0" : (abs(x) >= 1e-3 && abs(x) < 1e5 ? String(format: "%.4g", x) : String(format: "%.3e", x)) }
        let lines = ["# The width floor against KL (T12 and CE4's search)", "",
                     "For each width d₂: T12's floor on d_logit² (exact; the truncated-SVD student attains it), that student's KL and agreement, and the least KL(teacher‖student) a search over every student of width d₂ reached (Adam on KL's gradient from the floor student and random starts; the KL is the upper end of an MPFR enclosure of the student found; a search, so the true least KL may be lower), with that student's d_logit² (at least the floor: T12, certified) and agreement.", "",
                     "| d₂ | logit floor (T12) | KL of the floor student | its agreement | least KL found | its d_logit² | its d_logit² / floor | its agreement | T12 on it |",
                     "|---|---|---|---|---|---|---|---|---|"]
            + rows.map { r in
                "| \(r.width) | \(f(r.logitFloor)) | \(f(r.klOfFloorStudent)) | \(f(r.agreementOfFloorStudent)) | \(f(r.klFound)) | \(f(r.dLogitSquaredOfKLStudent)) | \(f(r.logitFloor > 0 ? r.dLogitSquaredOfKLStudent / r.logitFloor : .nan)) | \(f(r.agreementOfKLStudent)) | \(r.t12Holds.map { $0 ? "holds (certified)" : "VIOLATED (certified)" } ?? "undecided") |"
            }
        let stopped = ["", "Search: \(starts) starts of at most \(evaluations) Adam steps per width, \(budget) s per width; "
                       + (result.stoppedByTime ? "the time budget stopped some searches (not reproducible to the bit)." : "stopped by the step count (deterministic for the seed).")]
            + (result.notSearched.isEmpty ? [] : ["", "**Interrupted:** widths \(result.notSearched.map(String.init).joined(separator: ", ")) not searched."])
        let markdown = (lines + stopped).joined(separator: "\n")
        let jsonText = try ReportJSON.encode(rows)
        directory?.attempt("counterexample") { directory in
            try markdown.write(to: directory.path("width-curve.md"), atomically: true, encoding: .utf8)
            try jsonText.write(to: directory.path("width-curve.json"), atomically: true, encoding: .utf8)
        }
        print(json ? jsonText : markdown)
        if rows.contains(where: { $0.t12Holds == false }) { throw ExitCode(1) }
        if !result.notSearched.isEmpty || Interrupt.shared.isRaised { throw ExitCode(130) }
    }

    /// CE4's teacher: the file, refused by its headers' N·k before it is read, or a generated one.
    func loadTeacher() throws -> SoftmaxModel {
        if let teacher {
            let url = URL(fileURLWithPath: teacher), shape = try ModelFile.shape(url)
            do { try CE4FromTeacher.requireSize(inputs: shape.inputs, labels: shape.labels, dimension: shape.dimension) }
            catch let e as ModelError { throw CLIError("\(teacher): \(e.description)") }
            return try ModelFile.read(url)
        }
        var g = SeededGenerator(seed: seed)
        return ModelGenerator.model(labels: 10, dimension: 4, inputs: 60, scale: 3, using: &g)
    }
}
