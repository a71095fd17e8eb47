import ArgumentParser
import Foundation
import Harness
import ModelFiles
import Theory

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every statement (T1–T7, T10–T12) on a corpus of generated model pairs.",
        discussion: """
        Each case is a teacher/student pair from a named generator (independent, perturbed, orbit, \
        illConditioned, scaled, skewedWeights, mixedDimension, boundary), rebuilt from (seed, case index). \
        Every decided verdict is certified (the default, --certify all): first by fast enclosure (Double \
        intervals with proven error bounds, Proofs/certificates.md), and where that cannot decide by MPFR \
        enclosure or exactly (GMP rationals); the report counts which level decided each case, and a case no \
        level decides is "undecided", never a verdict: the report names each check's first undecided case and \
        why (`--shard i+1/N`, with N the --cases given, re-runs case i alone). --certify screen is the old fast mode: the double \
        screen decides a "holds" when its margin exceeds 1e−9 relative, and only screened violations and \
        near-misses are certified. Certified violations are shrunk and saved as replay files (with --out).

        Examples:
          logitbounds verify --out report
          logitbounds verify --statement T3 --cases 20000 --json
          logitbounds verify --shard 2/8 --json > shard2.json
            (then: logitbounds merge shard*.json)
          logitbounds verify --plant T3=0.5 --out planted
            (a false statement: exits 1)
        """)

    @Option(parsing: .unconditional, help: "Number of generated pairs in the corpus (1 … 10¹²; cases are generated one at a time, so memory does not grow with it). An interrupt (Ctrl-C) stops after the cases in flight and reports the cases run, exit 130.")
    var cases = 3000

    @Option(parsing: .unconditional, help: "Corpus seed; the same seed gives the same models bit for bit.")
    var seed: UInt64 = 1

    @Option(name: .customLong("statement"), help: "Only this statement id (T1–T7, T10–T12: those with a pair check) or check name (e.g. T5.subsetSum, T7.mixed); repeatable. Default: all.")
    var statements: [String] = []

    @Option(name: .customLong("generator"), help: "Only this generator; repeatable. Default: all.")
    var generators: [String] = []

    @Option(parsing: .unconditional, help: "Largest label count k of a generated case (2 … 1000).")
    var maxLabels = 20

    @Option(parsing: .unconditional, help: "Largest dimension d of a generated case (1 … 64; also at most k − 1 and N − 2).")
    var maxDimension = 8

    @Option(parsing: .unconditional, help: "Largest input count N of a generated case (3 … 100000).")
    var maxInputs = 200

    @Option(parsing: .unconditional, help: "Run shard i of n (1-based, e.g. 3/8): a disjoint, deterministic part of the corpus.")
    var shard: String?

    @Option(parsing: .unconditional, help: "Worker threads (default: all cores). OpenBLAS runs single-threaded meanwhile.")
    var threads: Int?

    @Option(name: .customLong("plant"), parsing: .unconditionalSingleValue, help: "Scale a statement's constant, e.g. T3=0.5 (a planted false statement, to see the harness fail); repeatable.")
    var plants: [String] = []

    @Option(help: "Which verdicts to certify: all (default: every verdict, by fast enclosure first, then MPFR or exact where it cannot decide) or screen (the double screen decides a \"holds\" with a relative margin above 1e−9; only screened violations and near-misses are certified; about 2× faster). `violations` is a synonym of screen.")
    var certify = "all"

    @Option(help: "Re-check the pair saved in a replay file instead of running a corpus.")
    var replay: String?

    @Option(help: "Directory for report.md, report.json and replay files of shrunk violations.")
    var out: String?

    @Flag(help: "Print the JSON report on standard output (progress becomes plain lines on standard error).")
    var json = false

    func validate() throws {
        guard (1...CorpusSpec.maximumCases).contains(cases) else {
            throw ValidationError("--cases must be between 1 and \(CorpusSpec.maximumCases), got \(cases)")
        }
        guard (2...CorpusSpec.maximumLabels).contains(maxLabels), (1...CorpusSpec.maximumDimension).contains(maxDimension),
              (3...CorpusSpec.maximumInputs).contains(maxInputs) else {
            throw ValidationError("--max-labels must be in 2…\(CorpusSpec.maximumLabels), --max-dimension in 1…\(CorpusSpec.maximumDimension) "
                                  + "and --max-inputs in 3…\(CorpusSpec.maximumInputs); got \(maxLabels), \(maxDimension), \(maxInputs)")
        }
        if let threads, !(1...1024).contains(threads) { throw ValidationError("--threads must be in 1…1024, got \(threads)") }
        guard ["screen", "violations", "all"].contains(certify) else {
            throw ValidationError("--certify must be all or screen, got \(certify)")
        }
        _ = try parsedShard()
        _ = try parsedPlants()
        _ = try parsedGenerators()
    }

    func parsedShard() throws -> (index: Int, count: Int) {
        guard let shard else { return (0, 1) }
        return try parseShard(shard)
    }

    func parsedPlants() throws -> [StatementID: Double] {
        var scales: [StatementID: Double] = [:]
        for plant in plants {
            let parts = plant.split(separator: "=")
            guard parts.count == 2, let id = StatementID(rawValue: String(parts[0])), let s = Double(parts[1]),
                  s.isFinite, s > 0 else {
                throw ValidationError("--plant must look like T3=0.5 (an id T1…T12 and a positive factor), got \(plant)")
            }
            // T2 (identifiability), T8, T9 (counterexample families) and T10 (class invariance)
            // have no constant to scale: planting one would silently change nothing.
            guard !Self.unplantable.contains(id) else {
                throw ValidationError("--plant \(plant): \(id.rawValue) has no constant to scale (plantable: T1, T3–T7, T11, T12)")
            }
            guard scales[id] == nil else {
                throw ValidationError("--plant \(id.rawValue) is given twice (\(scales[id]!) and \(s)); give each statement once")
            }
            scales[id] = s
        }
        return scales
    }

    func parsedGenerators() throws -> [ModelGenerator] {
        guard !generators.isEmpty else { return ModelGenerator.allCases }
        return try generators.map { name in
            guard let g = ModelGenerator(rawValue: name) else {
                throw ValidationError("unknown generator \(name); known: \(ModelGenerator.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return g
        }
    }

    func run() throws {
        let corpus = CorpusSpec(seed: seed, cases: cases, generators: try parsedGenerators(), maxLabels: maxLabels,
                                maxDimension: maxDimension, maxInputs: maxInputs)
        let verifier: Verifier
        do {
            verifier = try Verifier(corpus: corpus, only: statements.isEmpty ? nil : statements,
                                    plantedScales: try parsedPlants(),
                                    threads: threads ?? ProcessInfo.processInfo.activeProcessorCount,
                                    certifyAll: certify == "all")
        } catch let e as HarnessError { throw CLIError(e.description) }
        if let replay { return try runReplay(replay, corpus: corpus, given: verifier) }
        let (shardIndex, shardCount) = try parsedShard()
        let directory = try out.map(OutputDirectory.init)
        let progress = ProgressReporter(label: "verify", plain: json)
        Interrupt.shared.install("verify")
        let start = Date()
        var report = try verifier.run(shard: shardIndex, of: shardCount, progress: { progress.update($0, $1) },
                                      stop: { Interrupt.shared.isRaised })
        let seconds = Date().timeIntervalSince(start)
        directory?.attempt("verify") { directory in
            report.replayFiles = try verifier.saveShrunkViolations(of: report, into: directory.path("replays"))
            try ReportFormatter.markdown(report, seconds: seconds).write(to: directory.path("report.md"), atomically: true, encoding: .utf8)
            try ReportFormatter.json(report).write(to: directory.path("report.json"), atomically: true, encoding: .utf8)
            FileHandle.standardError.write(Data("verify: wrote \(directory.path("report.md").path)\n".utf8))
        }
        if json { print(try ReportFormatter.json(report)) }
        else { print(ReportFormatter.markdown(report, seconds: seconds), terminator: "") }
        if report.violationCount > 0 { throw ExitCode(1) }
        if !report.interrupted.isEmpty { throw ExitCode(130) }
    }

    /// Statements with no constant to scale: planting one would silently change nothing.
    static let unplantable: [StatementID] = [.T2, .T8, .T9, .T10]

    /// Re-checks a replay file's pair under the planted scales it was saved with (a
    /// violation of a planted statement would otherwise "hold" when replayed without them);
    /// `--plant` on the command line takes precedence (`--plant T3=1`: the true statement),
    /// and a difference from the file's is said.
    func runReplay(_ path: String, corpus: CorpusSpec, given givenVerifier: Verifier) throws {
        let file: ReplayFile
        do {
            try ModelFile.requireRegularFile(URL(fileURLWithPath: path))
            file = try ReplayFile.read(from: URL(fileURLWithPath: path))
        } catch let e as HarnessError {
            throw CLIError(e.description)
        } catch let e as ModelFileError {
            throw CLIError("--replay: \(e)")
        }
        var saved: [StatementID: Double] = [:]
        for (name, scale) in file.plantedScales {
            guard let id = StatementID(rawValue: name), !Self.unplantable.contains(id), scale.isFinite, scale > 0 else {
                throw CLIError("\(path): planted_scales has a statement with no constant to scale or a scale that is not a positive number: \(name) = \(scale) (plantable: T1, T3–T7, T11, T12)")
            }
            saved[id] = scale
        }
        if !statements.isEmpty, !statements.contains(where: { file.check == $0 || file.check.hasPrefix($0 + ".") }) {
            throw CLIError("\(path) holds a case of \(file.check), but --statement selects \(statements.joined(separator: ", ")); drop --statement to replay it")
        }
        let verifier: Verifier
        let list = { (scales: [StatementID: Double]) in
            scales.isEmpty ? "no --plant" : scales.sorted { $0.key < $1.key }.map { "--plant \($0.key.rawValue)=\($0.value)" }.joined(separator: " ")
        }
        if plants.isEmpty && !saved.isEmpty {
            do {
                verifier = try Verifier(corpus: corpus, only: statements.isEmpty ? nil : statements, plantedScales: saved,
                                        threads: 1, certifyAll: certify == "all")
            } catch let e as HarnessError { throw CLIError(e.description) }
            FileHandle.standardError.write(Data("verify: replaying with the file's \(list(saved)) (give --plant ID=1 to check the true statement)\n".utf8))
        } else {
            let given = try parsedPlants()
            if given != saved {
                FileHandle.standardError.write(Data("verify: the file was saved with \(list(saved)); replaying with \(list(given)), as the command line says\n".utf8))
            }
            verifier = givenVerifier
        }
        let verdict: Verdict
        do { verdict = try verifier.replay(file) } catch let e as HarnessError { throw CLIError(e.description) }
        if json {
            print(try ReportJSON.encode(verdict))
        } else {
            print("\(file.check) — \(verdict.form)")
            print("outcome: \(verdict.outcome.rawValue) (\(verdict.level.rawValue))")
            print("lhs = \(verdict.lhs), rhs = \(verdict.rhs), ratio = \(verdict.ratio)")
            if let c = verdict.certificate { print("certificate: \(c)") }
        }
        if verdict.outcome == .violated { throw ExitCode(1) }
    }
}
