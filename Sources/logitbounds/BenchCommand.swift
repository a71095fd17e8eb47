import ArgumentParser
import Foundation
import Harness
import ModelFiles
import Numerics
import Measure
import Theory

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: verify throughput, measure at CIFAR-100 and language-model shapes, model-file fuzzing.",
        usage: "logitbounds bench [<options>]",
        discussion: """
        Targets (--target):

        - verify: pairs per second of `verify` on small pairs (k ≤ 20, d ≤ 8, N ≤ 200), every check of \
        T1–T7 and T10–T12: the screen (--certify screen) and the default (every verdict certified) in one \
        run, their ratio, and which level decided (--cases, --threads, --seed).

        - cifar: `measure` on N = 10000, d = 50, k = 100 (files written and read back), including the pivot \
        form with 100 pivots × 200 subsets; the moment form against the direct per-pair O(N d²) evaluation \
        on the same pairs (speed ratio and largest relative difference); m_CCA alone.

        - lm: `measure --no-pivot` on N = 4096, d = 768, k = 50257 in child processes, uncertified \
        (--certify never) and certified (the default): wall time, peak resident memory, phases, which bounds \
        were certified, and both against the floor (F_A G_Aᵀ and F_B G_Bᵀ by one plain dgemm call each, timed \
        in the same run) with the BLAS kernel, and the Grams' floor (G_AᵀG_A, G_BᵀG_B by one dsyrk each, \
        G_AᵀG_B by one dgemm: d×d products every run forms); then a run with --teacher-concepts 2 (the \
        concepts' time, T11's levels).

        - fuzz: seeded mutations of model files through the reader (--cases mutants).

        - enclosures: the fast certificate level against the exact and MPFR levels on --cases pairs (a corpus \
        with k ≤ 12, d ≤ 6, N ≤ 80 from every generator, plus rounding-adversarial and subnormal ones): every \
        fast interval must contain the exact or MPFR value and no fast verdict may contradict a certificate \
        (exit 1 if either fails); how often each check escalates.

        Figures go to standard output; notes/benchmarks.md records them.
        """)

    @Option(help: "verify, cifar, lm, fuzz or enclosures.")
    var target = "verify"

    @Option(parsing: .unconditional, help: "verify: pairs to check; fuzz: mutants to try.")
    var cases = 4000

    @Option(parsing: .unconditional, help: "verify: worker threads (1…256).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(parsing: .unconditional, help: "Seed for generated models (and the verify corpus).")
    var seed: UInt64 = 7

    @Option(name: .customLong("planted-scale"), parsing: .unconditional,
            help: "enclosures: scale every statement's constant (below 1 plants false statements, so the certificates include violations and a wrong fast \"holds\" would show).")
    var plantedScale = 1.0

    func validate() throws {
        guard ["verify", "cifar", "lm", "fuzz", "enclosures"].contains(target) else {
            throw ValidationError("--target must be verify, cifar, lm, fuzz or enclosures, got \(target)")
        }
        // A benchmark, not a run: at ~2 000 pairs/s, 10⁷ cases is already over an hour.
        guard (1...10_000_000).contains(cases) else { throw ValidationError("--cases must be in 1…10⁷ (a benchmark; use verify for long runs), got \(cases)") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1…256, got \(threads)") }
        guard plantedScale > 0, plantedScale <= 1 else { throw ValidationError("--planted-scale must be in (0, 1], got \(plantedScale)") }
    }

    func run() throws {
        switch target {
        case "verify": try verifyThroughput()
        case "cifar": try cifar()
        case "lm": try languageModel()
        case "enclosures": try enclosures()
        default: try fuzz()
        }
    }

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    /// verify's default (every verdict certified) and its screen (`--certify screen`) on
    /// the same corpus in one run, and their ratio; then where the certified run's
    /// verdicts were decided.
    func verifyThroughput() throws {
        let corpus = CorpusSpec(seed: seed, cases: cases, maxLabels: 20, maxDimension: 8, maxInputs: 200)
        var rates: [Double] = []
        var lastReport: VerificationReport?
        for certifyAll in [false, true] {
            let verifier = try Verifier(corpus: corpus, threads: threads, certifyAll: certifyAll)
            let start = Date()
            let report = try verifier.run()
            let seconds = Date().timeIntervalSince(start)
            let certified = report.theorems.reduce(0) { $0 + $1.certified }
            let decided = report.theorems.reduce(0) { $0 + $1.cases - $1.undecided }
            rates.append(Double(cases) / seconds)
            print(String(format: "verify %@: %d pairs in %.2f s = %.0f pairs/s on %d threads (%d of %d decided verdicts certified, %d checks per pair)",
                         certifyAll ? "certified (default)" : "screen (--certify screen)", cases, seconds, rates.last!, threads,
                         certified, decided, verifier.checks.count))
            lastReport = report
        }
        print(String(format: "certified run at %.1f%% of the screen's rate (%.1f× slower)", 100 * rates[1] / rates[0], rates[0] / rates[1]))
        if let report = lastReport {
            let sum = { (key: KeyPath<CheckSummary, Int>) in report.theorems.reduce(0) { $0 + $1[keyPath: key] } }
            print("decided by: fast enclosure \(sum(\.certifiedFast)), MPFR \(sum(\.certifiedMPFR)), exact \(sum(\.certifiedExact)); undecided \(sum(\.undecided))")
        }
    }

    /// The fast level against the exact and MPFR ones (`FastCrossCheck`).
    func enclosures() throws {
        // Smaller than verify's corpus (k ≤ 12, d ≤ 6, N ≤ 80) so that 10⁵ pairs take minutes:
        // every generator's shapes and the adversarial families still occur.
        let corpus = CorpusSpec(seed: seed, cases: cases, maxLabels: 12, maxDimension: 6, maxInputs: 80)
        let start = Date()
        let c = try FastCrossCheck.run(corpus, cases: cases, threads: threads, plantedScale: plantedScale) { done in
            FileHandle.standardError.write(Data("enclosures: \(done)/\(cases) pairs\n".utf8))
        }
        let seconds = Date().timeIntervalSince(start)
        print(String(format: "enclosures: %d pairs in %.1f s; %d fast intervals checked, %d missed the exact/MPFR value; "
                     + "%d fast verdicts compared with a certificate (%d of them certified violations), %d contradicted",
                     c.pairs, seconds, c.intervals, c.missed, c.verdicts, c.violatedReferences, c.contradictions))
        for name in Set(c.decidedFast.keys).union(c.escalated.keys).sorted() {
            let fast = c.decidedFast[name] ?? 0, up = c.escalated[name] ?? 0
            print(String(format: "  %-18@ decided fast %6d, escalated %6d (%.1f %%)", name as NSString, fast, up,
                         100 * Double(up) / Double(max(fast + up, 1))))
        }
        print("  \(c.gramRoutePairs) pairs on the language-model routes (centred Grams by norm bounds; T4's d_unemb² from them)")
        print("  \(c.inconclusive) fast intervals overlapped a 128-bit MPFR enclosure too wide to contain them (not misses; \(c.inconclusiveOutsideSubnormal) of them outside the subnormal pairs)")
        if !c.failures.isEmpty {
            print("first failures:\n" + c.failures.map { "  \($0)" }.joined(separator: "\n"))
            throw ExitCode(1)
        }
    }

    /// A teacher with Gaussian factors and a student perturbed by 5 %.
    func generatedPair(inputs n: Int, dimension d: Int, labels k: Int) -> (SoftmaxModel, SoftmaxModel) {
        var g = SeededGenerator(seed: seed)
        let f = g.gaussianMatrix(rows: n, columns: d, scale: 3 / Double(d).squareRoot())
        let u = g.gaussianMatrix(rows: k, columns: d, scale: 1)
        let teacher = try! SoftmaxModel(embeddings: f, unembeddings: u)
        return (teacher, ModelGenerator.perturb(teacher, by: 0.05, using: &g))
    }

    func writeFiles(_ pair: (SoftmaxModel, SoftmaxModel), name: String) throws -> (URL, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("logitbounds-bench-\(name)-\(seed)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let a = dir.appendingPathComponent("teacher.npz"), b = dir.appendingPathComponent("student.npz")
        try ModelFile.write(pair.0, to: a)
        try ModelFile.write(pair.1, to: b)
        return (a, b)
    }

    func cifar() throws {
        let (n, d, k) = (10_000, 50, 100)
        let (a, b) = try writeFiles(generatedPair(inputs: n, dimension: d, labels: k), name: "cifar")
        defer { try? FileManager.default.removeItem(at: a.deletingLastPathComponent()) }
        print("CIFAR-100 shape: N = \(n), d = \(d), k = \(k)")
        // Screened (--certify never) and certified (auto: fast enclosures) runs interleaved in
        // one process, so the ratio is measured under the same load.
        var seconds: [Bool: [Double]] = [false: [], true: []]
        for run in 1...4 {
            let certified = run % 2 == 0
            let start = DispatchTime.now().uptimeNanoseconds
            let pair = try ModelPair(try ModelFile.read(a), try ModelFile.read(b))
            let m = try PairMeasurement.measure(pair, options: .init(
                pivotSelection: .sampled(pivots: 100, subsetsPerPivot: 200, seed: 0), certification: certified ? .auto : .never))
            let total = Self.seconds(since: start)
            seconds[certified]!.append(total)
            let count = m.bounds.filter(\.certified).count, applicable = m.bounds.filter { $0.outcome != "inapplicable" }.count
            print(String(format: "  measure run %d (read both files + every quantity + pivot form 100×200 + bounds T3–T7, T12 %@): %.3f s; %d of %d applicable bounds certified (%@)",
                         run, certified ? "certified" : "screened", total, count, applicable,
                         Set(m.bounds.filter(\.certified).map(\.level)).sorted().joined(separator: ", ")))
            if run >= 3 {
                print("    phases: " + m.timings.map { String(format: "%@ %.3f s", $0.phase, $0.seconds) }.joined(separator: ", "))
            }
        }
        print(String(format: "  certified against screened (best of 2 each): %.2f×", seconds[true]!.min()! / seconds[false]!.min()!))
        // The pivot form: moment form (O(d³) per pair) against the direct residual (O(N d²) per pair).
        let pair = try ModelPair(try ModelFile.read(a), try ModelFile.read(b))
        let selection = PivotSelection.sampled(pivots: 100, subsetsPerPivot: 200, seed: 0)
        var start = DispatchTime.now().uptimeNanoseconds
        let moment = try pair.pivotDissimilarity(selection)
        let momentSeconds = Self.seconds(since: start)
        let pairs = try ModelPair.pivotSubsets(selection, labelCount: k, dimension: d).pairs
        let sample = Array(pairs.prefix(1000))
        start = DispatchTime.now().uptimeNanoseconds
        let direct = try sample.map { try pair.pivotResidualDirect($0) }
        let directSeconds = Self.seconds(since: start) * Double(pairs.count) / Double(sample.count)
        let momentValues = try pair.pivotDissimilarity(.explicit(sample))
        let directMean = direct.reduce(0, +) / Double(direct.count)
        let perPair = pair.pivotResiduals(sample)
        let worst = zip(perPair, direct).map { m, x in m.map { abs($0 - x) / x } ?? .infinity }.max() ?? 0
        print(String(format: "  pivot form, %d pairs: moment form %.3f s; direct O(N d²) per pair %.2f s (timed on %d pairs, scaled) → %.0f× faster",
                     pairs.count, momentSeconds, directSeconds, sample.count, directSeconds / momentSeconds))
        print(String(format: "    over the %d timed pairs: largest per-pair relative difference %.2e; mean r moment %.12g, direct %.12g; full mean %.6g ± %.2g",
                     sample.count, worst, momentValues.mean, directMean, moment.mean, moment.standardError))
        var cca: [Double] = []
        for _ in 0..<5 {
            start = DispatchTime.now().uptimeNanoseconds
            _ = try CanonicalCorrelations(pair.first.embeddings, pair.second.embeddings, weights: pair.weights, centred: true)
            cca.append(Self.seconds(since: start))
        }
        print(String(format: "  m_CCA (centred, exact SVD/QR-based) alone: best %.1f ms, median %.1f ms of 5", cca.min()! * 1e3,
                     cca.sorted()[2] * 1e3))
    }

    func languageModel() throws {
        let (n, d, k) = (4096, 768, 50_257)
        print("Language-model shape: N = \(n), d = \(d), k = \(k); generating and writing the two models …")
        let models = generatedPair(inputs: n, dimension: d, labels: k)
        let (a, b) = try writeFiles(models, name: "lm")
        defer { try? FileManager.default.removeItem(at: a.deletingLastPathComponent()) }
        let peak = Self.dgemmRate()
        print(String(format: "  this machine's dgemm now: %.1f GFLOP/s (4096×4096×768, both cores)", peak))
        let floor = Self.plainLogitProductsSeconds(models.0, models.1)
        print(String(format: "  the floor — F_A G_Aᵀ and F_B G_Bᵀ in double, one plain cblas_dgemm call each (no blocking; OpenBLAS on %d threads, kernel %@): %.2f s",
                     BLASThreads.cores, BLASThreads.kernel, floor))
        // The d×d Grams of the unembeddings every run forms at this shape (d_rep's map, d_unemb,
        // T3, T4, T7, T12): 4kd² flops against the floor's 4Nkd, so d/N of it at equal speed.
        let grams = Self.plainGramsSeconds(models.0, models.1)
        print(String(format: "  the Grams' floor — G_AᵀG_A and G_BᵀG_B (one plain cblas_dsyrk each) and G_AᵀG_B (one cblas_dgemm): %.2f s, %.2f of the floor (d/N = %.2f)",
                     grams, grams / floor, Double(d) / Double(n)))
        // Uncertified (--certify never) and certified (the default) runs, each in a child
        // process (reading included), timed beside the floor.
        var walls: [Bool: Double] = [:]
        for certified in [false, true] {
            let (wall, peakGB, m) = try Self.childMeasure(["measure", a.path, b.path, "--no-pivot", "--json"] + (certified ? [] : ["--certify", "never"]))
            walls[certified] = wall
            let decided = m.bounds.filter(\.certified)
            print(String(format: "  measure --no-pivot%@ (child process, reading included): %.2f s wall, peak resident %.2f GB; %d of %d applicable bounds certified (%@)",
                         certified ? "" : " --certify never", wall, peakGB, decided.count, m.bounds.filter { $0.outcome != "inapplicable" }.count,
                         Set(decided.map { "\($0.id) \($0.level)" }).sorted().joined(separator: ", ")))
            print("    phases: " + m.timings.map { String(format: "%@ %.2f s", $0.phase, $0.seconds) }.joined(separator: ", "))
            if let e = m.enclosures {
                print(String(format: "    enclosures (%@ bound): d_logit² ∈ [%.15g, %.15g], KL(A‖B) ∈ [%.15g, %.15g]; reported d_logit² %.15g, KL %.15g",
                             e.productBound, e.dLogitSquared[0], e.dLogitSquared[1], e.klAB[0], e.klAB[1], m.dLogitSquared, m.klAB))
            }
        }
        print(String(format: "  uncertified / floor = %.2f (goal ≤ 1.3); uncertified / (floor + Grams' floor) = %.2f; certified / uncertified = %.2f (goal ≤ 1.5); kernel %@",
                     walls[false]! / floor, walls[false]! / (floor + grams), walls[true]! / walls[false]!, BLASThreads.kernel))
        // Concepts at this shape: the teacher's own two, T11 on each (certified by fast enclosure
        // at any size), after the ratios so that they do not change them.
        let (wall, _, m) = try Self.childMeasure(["measure", a.path, b.path, "--no-pivot", "--json", "--teacher-concepts", "2"])
        let concepts = m.timings.first { $0.phase.hasPrefix("concepts") }?.seconds ?? .nan
        print(String(format: "  measure --no-pivot --teacher-concepts 2: %.2f s wall, of which the concepts (probes with 5-fold cross-validation, T11) %.2f s; T11: %@",
                     wall, concepts, (m.concepts ?? []).map { c in c.t11.map { "\(c.name) \($0.outcome) (\($0.level)\($0.certified ? ", certified" : ""))" } ?? "\(c.name) —" }
                        .joined(separator: "; ")))
    }

    /// Runs this executable with `arguments` (a `measure … --json`), returning its wall
    /// time, peak resident memory (GB, the largest child so far) and report.
    static func childMeasure(_ arguments: [String]) throws -> (wall: Double, peakGB: Double, report: PairMeasurement) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.isExecutableFile(atPath: process.executableURL!.path),
           let own = Bundle.main.executableURL { process.executableURL = own }
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let start = DispatchTime.now().uptimeNanoseconds
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let wall = seconds(since: start)
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        guard process.terminationStatus == 0 else { throw CLIError("measure exited with \(process.terminationStatus)") }
        return (wall, Double(usage.ru_maxrss) / 1_048_576, try ReportJSON.decode(PairMeasurement.self, from: data))
    }

    /// Seconds for F_A G_Aᵀ and F_B G_Bᵀ (N×k each) by one plain dgemm call each, OpenBLAS
    /// threaded over every core: the floor of any exact d_logit/KL computation (issue 28).
    static func plainLogitProductsSeconds(_ a: SoftmaxModel, _ b: SoftmaxModel) -> Double {
        let (n, k) = (a.inputCount, a.labelCount)
        var buffer = [Double](repeating: 0, count: n * k)
        return BLASThreads.withOpenBLASThreads(BLASThreads.cores) {
            let start = DispatchTime.now().uptimeNanoseconds
            a.embeddings.rowBlockProduct(rows: 0..<n, with: a.unembeddings, otherRows: 0..<k, into: &buffer)
            b.embeddings.rowBlockProduct(rows: 0..<n, with: b.unembeddings, otherRows: 0..<k, into: &buffer)
            return seconds(since: start)
        }
    }

    /// Seconds for G_AᵀG_A, G_BᵀG_B (one cblas_dsyrk each) and G_AᵀG_B (one cblas_dgemm), on
    /// every core: the Grams' share of the work beside `plainLogitProductsSeconds`.
    static func plainGramsSeconds(_ a: SoftmaxModel, _ b: SoftmaxModel) -> Double {
        var buffer: [Double] = []
        return BLASThreads.withOpenBLASThreads(BLASThreads.cores) {
            let start = DispatchTime.now().uptimeNanoseconds
            a.unembeddings.plainTransposeProduct(nil, into: &buffer)
            b.unembeddings.plainTransposeProduct(nil, into: &buffer)
            a.unembeddings.plainTransposeProduct(b.unembeddings, into: &buffer)
            return seconds(since: start)
        }
    }

    /// GFLOP/s of a 4096×4096×768 product (the logit pass's shape class) on all cores.
    static func dgemmRate() -> Double {
        var g = SeededGenerator(seed: 1)
        let a = g.gaussianMatrix(rows: 4096, columns: 768, scale: 1), b = g.gaussianMatrix(rows: 4096, columns: 768, scale: 1)
        _ = a.multiplied(by: b, transposeOther: true)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            _ = a.multiplied(by: b, transposeOther: true)
            best = min(best, seconds(since: start))
        }
        return 2 * 4096 * 4096 * 768 / best / 1e9
    }

    func fuzz() throws {
        var fuzzer = try ModelFileFuzzer(seed: seed)
        let start = DispatchTime.now().uptimeNanoseconds
        let count = try fuzzer.run(iterations: cases)
        print(String(format: "model-file fuzzing: %d mutants in %.1f s, %d read, %d rejected with ModelFileError, 0 crashes",
                     cases, Self.seconds(since: start), count.accepted, count.rejected))
    }
}
