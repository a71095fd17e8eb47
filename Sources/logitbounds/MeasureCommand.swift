import ArgumentParser
import Foundation
import Harness
import ModelFiles
import Plots
import Numerics
import Measure
import Theory

struct MeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Every distance of THEORY.md §3 and every bound T3–T7 for a teacher and a student model file.",
        discussion: """
        A = TEACHER (first file), B = STUDENT (second). Each file is a NumPy .npz with arrays f (N×d embeddings), \
        g (k×d unembeddings) and optionally w (N input weights); float16/32/64, C or Fortran order, \
        np.savez or np.savez_compressed. The two files need the same N inputs (in the same order) and k labels; \
        d may differ.

        Reported: d_logit and d_logit², KL both ways, log τ, d_rep both ways (least squares; when certifying, \
        checked against its fast enclosure, and computed exactly, or flagged, where κ(G̃) ≥ 10⁸) and the scale-free \
        d_rep²/E‖f_A‖², d_unemb, the pivot form d_rep,pivot² (mean ± standard error over sampled (p, S), and its \
        tail: the 10 largest pairs' share of the sum, a median of 10 group means, their cond(L₁); by default \
        every (p, S) when k·C(k − 1, d) ≤ 20 000, with no sampling error, else 100 pivots × 200 subsets; when d ≤ 64), \
        m_CCA centred and uncentred with the canonical correlations, \
        linear CKA, Procrustes and SVCCA, and T3–T7 (T5 per pair over 200 (p, S) evenly spaced through the pivot sample; \
        T7 with B as the student). Bounds are certified by fast enclosure (Double intervals with proven \
        error bounds, Proofs/certificates.md) when N·k·(d_A+d_B) ≤ 2·10⁸ (CIFAR shape is 10⁸), and where \
        that cannot decide, exactly or by MPFR when N·k·(d_A+d_B) ≤ 2·10⁶ (and, but for T6, d_A + d_B ≤ 100: the \
        exact level's d×d rational work grows faster than (d_A + d_B)³) (--certify auto; --certify always \
        lifts that limit; either only where the exact logits and their MPFR enclosures, about 800 bytes an input \
        and label, and the run's memory estimate with a quarter more fit); otherwise reported from the double-precision screen and marked so. T3–T7 and \
        T12 are tried by fast enclosure at any size: T6's enclosures of d_logit², KL and log τ come from one \
        streamed pass over blocks of rows (no N×k array kept), printed as "certified enclosures"; T3, T4, T7 and \
        T12 from d×d interval moments and Grams (BLAS with a priori bounds) and that d_logit²; T5 at the \
        screen's worst pivot pair (named in its note) from that pair's d×d pivot matrices; --concept's T11 from \
        the rows' enclosed margins and transported scores. At language-model \
        scale (k·(d_A² + d_B²) > 10⁸) beyond the exact limit, one pass over the rows gives the logit statistics and the \
        d×d moments, and m_CCA, CKA, Procrustes, SVCCA, d_unemb and T7 come from those moments (as in a merge). \
        The covariances are M − μμᵀ, except where a column's mean lies beyond 16 times its spread (a large \
        offset, where that cancels): there they come from the rows centred in two passes, and a shard carries \
        them in its partial for the merge to combine about the shards' means.

        Sharded (for N beyond one machine): `measure A.npz B.npz --shard i/n --partial FILE` reads only rows \
        ⌊N(i−1)/n⌋ ..< ⌊Ni/n⌋ of f and w (and g whole) and writes that shard's sufficient statistics \
        (per-input sums, d×d moments, the pivot form's per-pair sums, G's rows at T5's labels and, when \
        k·d_A ≤ 10⁶, G_A for the merged tail's cond(L₁); JSON with a checksum); \
        `logitbounds merge PART…` prints the report of all rows. Each partial carries its rows' interval \
        sums and interval d×d moments (unless written with --certify never), and the merge adds them in \
        interval arithmetic, so merged T3, T4, T5, T6, T7 and T12 are certified where the enclosures decide them \
        (T5 at its worst pair, from G's carried rows); m_CCA, CKA, Procrustes, SVCCA, \
        d_unemb and T7 come from the merged d×d moments.

        JSON keys name their quantity: `…_squared` where the value is squared (`d_logit_squared`, \
        `d_rep_pivot_squared`, `d_rep_ab_squared_scale_free`); the earlier `d_rep_pivot` and \
        `d_rep_scale_free_ab` are still written, as aliases, for one release.

        Memory: before reading the arrays, the run's peak is estimated from the files' headers (both \
        models' arrays, a centred copy of each g, the d×d work, the logit pass's blocks, the N×k arrays of \
        small runs, the pivot form's tables; README, "Memory") \
        and a pair that would not fit in the memory this process may use (the machine's, or its control \
        group's limit such as a Slurm job's --mem; LOGITBOUNDS_MEMORY_LIMIT, e.g. 16G in powers of 1024, \
        replaces both) is refused with the estimate, the fewest shards that would fit, and exit 2, instead \
        of being killed by the system part-way.

        With --concept or --teacher-concepts, an interrupt (Ctrl-C) stops the concepts' probes: the run \
        reports the distances, the bounds and the concepts measured, names those it did not measure, and \
        exits 130, or 1 where a bound is certified violated (the phases before the concepts finish first; \
        a second interrupt, half a second or more after the first, quits at once).

        Exit status: 0 when no bound is certified violated, 1 when one is, 2 on bad input, 130 when \
        interrupted.
        """)

    @Argument(help: "Teacher model file A (.npz).")
    var teacher: String

    @Argument(help: "Student model file B (.npz).")
    var student: String

    @Flag(help: "Print the measurement as JSON on standard output.")
    var json = false

    @Option(parsing: .unconditional, help: "Pivot form: number of pivots drawn without replacement (default 100).")
    var pivots: Int?

    @Option(parsing: .unconditional, help: "Pivot form: subsets S per pivot (default 200).")
    var subsets: Int?

    @Option(parsing: .unconditional, help: "Pivot form: sampling seed.")
    var seed: UInt64 = 0

    @Option(name: .customLong("pivot-subsets"),
            help: "Pivot form: an explicit list of (p, S), as JSON [{\"pivot\": p, \"subset\": [l1, …, ld]}, …] or as text with one line \"p l1 … ld\" per pair (0-based labels below k; d distinct labels other than p). Blank lines and lines starting with # are skipped; commas or whitespace separate. A file or a pipe, read where the pivot form runs (d_A = d_B, k ≥ d + 1) and checked against the files' headers, with each bad pair's line, before the models are read.")
    var pivotSubsets: String?

    @Flag(name: .customLong("no-pivot"), help: "Skip the pivot form (and T5).")
    var noPivot = false

    @Option(help: "Certify bounds: auto (fast enclosure first — T3–T7 and T12 at any size — then exact/MPFR where it cannot decide, up to N·k·(d_A+d_B) = 2·10⁶ and, but for T6, d_A + d_B = 100, and where it fits in memory), always (exact/MPFR at any size where the fast enclosure cannot decide: rational arithmetic on every logit, minutes and gigabytes at language-model shape; screened, with a note, where it would not fit in memory), or never.")
    var certify: String = "auto"

    @Option(help: "Directory for report.md and report.json.")
    var out: String?

    @Option(parsing: .unconditional, help: "Measure shard i of n (1-based, e.g. 3/8) of the input rows; needs --partial.")
    var shard: String?

    @Option(help: "Write the shard's sufficient statistics to this file (for `logitbounds merge`).")
    var partial: String?

    @Option(name: .customLong("concept"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("A concept NAME=FILE.npy: N values 0/1 (float, int or bool) in the models' input order. Repeatable. Reported per concept: held-out probes on both models, the majority and label-only baselines, the transported probe and T11's floor on its accuracy.", valueName: "NAME=FILE"))
    var concepts: [String] = []

    @Option(name: .customLong("teacher-concepts"), parsing: .unconditional,
            help: "Also measure n concepts the teacher encodes by construction: [uⱼᵀf_A > its median] for the top n principal directions of f_A's within-class covariance (class = the teacher's predicted label). 1 ≤ n ≤ d_A.")
    var teacherConcepts: Int?

    @Option(name: .customLong("concept-folds"), parsing: .unconditional, help: "Concept probes: folds of the cross-validation (2…20, default 5).")
    var conceptFolds = 5

    @Option(name: .customLong("concept-seed"), parsing: .unconditional, help: "Concept probes: seed of the fold shuffle (default 0).")
    var conceptSeed: UInt64 = 0

    func validate() throws {
        if let pivots, !(1...100_000).contains(pivots) { throw ValidationError("--pivots must be in 1…100000, got \(pivots)") }
        if let subsets, !(1...100_000).contains(subsets) { throw ValidationError("--subsets must be in 1…100000, got \(subsets)") }
        if (pivots ?? 100) * (subsets ?? 200) > 10_000_000 {
            throw ValidationError("--pivots × --subsets must be at most 10⁷ (p, S) pairs, got \((pivots ?? 100) * (subsets ?? 200))")
        }
        if pivotSubsets != nil && (pivots != nil || subsets != nil) {
            throw ValidationError("--pivot-subsets replaces --pivots/--subsets; give one or the other")
        }
        if noPivot && (pivotSubsets != nil || pivots != nil || subsets != nil) {
            throw ValidationError("--no-pivot contradicts the pivot options")
        }
        guard PairMeasurement.Certification(rawValue: certify) != nil else {
            throw ValidationError("--certify must be auto, always or never, got \(certify)")
        }
        if let teacherConcepts, !(1...64).contains(teacherConcepts) {
            throw ValidationError("--teacher-concepts must be in 1…64 (and at most the teacher's d), got \(teacherConcepts)")
        }
        guard (2...20).contains(conceptFolds) else { throw ValidationError("--concept-folds must be in 2…20, got \(conceptFolds)") }
        var names = Set<String>()
        for text in concepts {
            let (name, _) = try Self.splitConcept(text)
            guard names.insert(name).inserted else { throw ValidationError("--concept \(name) is given twice; each concept needs its own name") }
            if let n = teacherConcepts, (1...n).map({ "teacher-pc\($0)" }).contains(name) {
                throw ValidationError("--concept \(name) has the name of one of --teacher-concepts' concepts (\(n == 1 ? "teacher-pc1" : "teacher-pc1…teacher-pc\(n)")); give it another name")
            }
        }
        // Options that only act on concepts, given without any.
        if concepts.isEmpty && teacherConcepts == nil && (conceptFolds != 5 || conceptSeed != 0) {
            throw ValidationError("--concept-folds and --concept-seed need --concept or --teacher-concepts")
        }
        if shard != nil && (!concepts.isEmpty || teacherConcepts != nil) {
            throw ValidationError("concepts are not available in a sharded measure: their probes are fitted on every row at once (cross-validated); run measure on the whole files with --concept")
        }
        if shard != nil || partial != nil {
            guard shard != nil, partial != nil else {
                throw ValidationError(shard == nil ? "--partial needs --shard i/n" : "--shard needs --partial FILE (where the shard's statistics go)")
            }
            _ = try parseShard(shard!)
            if certify == "always" { throw ValidationError("--certify always needs every row at once; a shard cannot certify") }
            if out != nil || json { throw ValidationError("a shard writes only its --partial file; give --out/--json to `merge`") }
        }
    }

    /// "NAME=FILE" as (NAME, FILE).
    static func splitConcept(_ text: String) throws -> (name: String, file: String) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex, text.index(after: equals) != text.endIndex else {
            throw ValidationError("--concept must look like NAME=FILE.npy, got \"\(text)\"")
        }
        return (String(text[..<equals]), String(text[text.index(after: equals)...]))
    }

    /// The concept files, read and checked against the models' N.
    func readConcepts(inputs n: Int) throws -> [PairMeasurement.NamedConcept] {
        try concepts.map { text in
            let (name, file) = try Self.splitConcept(text)
            do {
                return PairMeasurement.NamedConcept(name: name, source: file,
                                                    values: try ModelFile.readConcept(URL(fileURLWithPath: file), expected: n))
            } catch let e as ModelFileError { throw CLIError("--concept \(name): \(e.description)") }
        }
    }

    /// Every file the command reads (the models, concepts, pivot subsets), which no output may replace.
    var inputFiles: [String] {
        [teacher, student] + concepts.compactMap { try? Self.splitConcept($0).1 } + (pivotSubsets.map { [$0] } ?? [])
    }

    /// Whether the pivot form runs, as far as the flags say, without reading a `--pivot-subsets`
    /// file (which may be a pipe, read once by `pivotSubsetPairs`): any pivot flag or seed forces it.
    var pivotOptions: PairMeasurement.Options {
        var options = PairMeasurement.Options(skipPivot: noPivot, certification: PairMeasurement.Certification(rawValue: certify)!)
        options.forcePivot = pivotSubsets != nil || pivots != nil || subsets != nil || seed != 0
        return options
    }

    /// At most how many (p, S) pairs the pivot form takes, from the flags: P·S for --pivots/--subsets,
    /// the default sample's 20 000, either no more than the k·C(k − 1, d) pairs there are; for a
    /// --pivot-subsets file as many lines as it could hold (each at least 2(d + 1) bytes), from its
    /// size or, for a pipe (which cannot be read twice), from the `subsetBytes` read from it; before
    /// a pipe is read, as the default.
    func pivotPairBound(dimension d: Int, labels: Int, subsetBytes: Int? = nil) -> Int {
        if let pivotSubsets {
            guard let size = subsetBytes ?? Self.regularFileSize(pivotSubsets) else { return 20_000 }
            return size / (2 * (d + 1)) + 1
        }
        // No more than the k·C(k − 1, d) pairs there are (k = 10, d = 3: 840 for 10⁶ asked).
        var possible = Double(labels)
        for i in 0..<d where possible < 1e18 { possible *= Double(max(labels - 1 - i, 0)) / Double(i + 1) }
        let available = possible < 1e18 ? max(Int(possible.rounded()), 1) : .max
        if pivots != nil || subsets != nil {
            let (count, overflow) = (pivots ?? 100).multipliedReportingOverflow(by: subsets ?? 200)
            return min(overflow ? .max : count, available)
        }
        return min(20_000, available)
    }

    /// The `--pivot-subsets` pairs, read before the models. A pipe's pairs are counted against the
    /// memory this process may use once its bytes are in (the check before the run took the
    /// default sample's 20 000: a million piped lines peaked at 4.7 times a 40 MiB limit), and
    /// before they are parsed (about 100 bytes a pair of d = 3, from 8 bytes a line).
    /// Each pair is checked against the files' headers here, with its line (a bad label had been
    /// found after the whole measurement, without a line: minutes at scale). Where the pivot form
    /// does not run (d_A ≠ d_B, k < d + 1; its note says so) the file is not read: its pairs would
    /// not be used, and the memory check counts them only where they are.
    func pivotSubsetPairs(shards count: Int, shapes: (ModelShape, ModelShape)) throws -> [PivotSubset]? {
        let dimensions = (shapes.0.dimension, shapes.1.dimension)
        guard let pivotSubsets else { return nil }
        guard PairMeasurement.runsPivotForm(dimensions: dimensions, labels: shapes.0.labels, pivotOptions) else {
            FileHandle.standardError.write(Data("measure: \(pivotSubsets) is not read: the pivot form does not run on this pair (the report's pivot row says why)\n".utf8))
            return nil
        }
        let data = try Self.pivotSubsetData(pivotSubsets)
        if !Self.isRegularFile(pivotSubsets) { try requireMemory(shards: count, subsetBytes: data.count) }
        let (pairs, lines) = try Self.parsePivotSubsets(data, path: pivotSubsets)
        for (index, pair) in pairs.enumerated() {
            if let why = Self.pivotSubsetFault(pair, labels: shapes.0.labels, size: shapes.0.dimension) {
                throw CLIError("\(lines.map { "\(pivotSubsets):\($0[index])" } ?? "\(pivotSubsets), pair \(index + 1) of the list"): \(why)")
            }
        }
        return pairs
    }

    /// What is wrong with a (p, S) pair for k labels and subsets of `size` labels; nil if nothing.
    static func pivotSubsetFault(_ pair: PivotSubset, labels k: Int, size: Int) -> String? {
        let shown = "pivot \(pair.pivot) with subset \(pair.subset)"
        if let label = ([pair.pivot] + pair.subset).first(where: { $0 < 0 }) { return "\(shown): label \(label) is negative" }
        if let label = ([pair.pivot] + pair.subset).first(where: { $0 >= k }) { return "\(shown): label \(label) is not below k = \(k)" }
        if pair.subset.contains(pair.pivot) { return "\(shown): the subset holds its pivot" }
        if Set(pair.subset).count < pair.subset.count { return "\(shown): a label is repeated" }
        if pair.subset.count != size { return "\(shown): \(pair.subset.count) labels, where the subsets hold d = \(size)" }
        return nil
    }

    /// The pivot and certification options as given, with the `--pivot-subsets` pairs already read.
    func options(pivotSubsets pairs: [PivotSubset]?) throws -> PairMeasurement.Options {
        var options = PairMeasurement.Options(skipPivot: noPivot,
                                              certification: PairMeasurement.Certification(rawValue: certify)!)
        options.teacherConcepts = teacherConcepts ?? 0
        // `requireMemory` has already refused a malformed LOGITBOUNDS_MEMORY_LIMIT.
        options.memoryLimit = try? MachineMemory.bytes()
        options.conceptOptions.folds = conceptFolds
        options.conceptOptions.seed = conceptSeed
        if let pairs {
            options.pivotSelection = .explicit(pairs)
        } else if pivots != nil || subsets != nil {
            options.pivotSelection = .sampled(pivots: pivots ?? 100, subsetsPerPivot: subsets ?? 200, seed: seed)
        } else if seed != 0 {
            options.pivotSelection = PairMeasurement.defaultPivotSelection(seed: seed)
        }
        return options
    }

    /// k = 1 in both files: every probability is 1, every distance and bound 0 ≤ 0 (a report that
    /// says nothing); refused as the pair's other shapes are.
    static func requireLabels(_ pair: ModelPair) throws {
        guard pair.first.labelCount >= 2 else {
            throw CLIError("k = 1: a softmax over one label is constant (every probability 1), so there is nothing to measure; the files need k ≥ 2 labels")
        }
    }

    /// `--shard i/n --partial FILE`: this shard's rows only, statistics written.
    func runShard(_ shard: String, partial: String) throws {
        let (index, count) = try parseShard(shard)
        try refuseOverwritingInput(partial, inputs: inputFiles, what: "partial")
        try requireWritableFile(partial, what: "partial")
        let shapes = try requireMemory(shards: count)
        let subsets = try pivotSubsetPairs(shards: count, shapes: shapes)
        let progress = ProgressReporter(label: "measure", plain: true)
        progress.note("reading shard \(index + 1)/\(count) of \(teacher) and \(student)")
        let statistics: MeasureStatistics
        do {
            let (a, b) = (try ModelFile.readRows(URL(fileURLWithPath: teacher), shard: index + 1, of: count),
                          try ModelFile.readRows(URL(fileURLWithPath: student), shard: index + 1, of: count))
            guard a.totalInputs == b.totalInputs else {
                throw CLIError("\(teacher) has N = \(a.totalInputs) inputs but \(student) has N = \(b.totalInputs)")
            }
            // Every shard checks all N weights of both files, so a mismatch is refused by each.
            try ModelPair.requireAgreeingWeights(raw: a.fileWeights, b.fileWeights, inputs: a.totalInputs)
            // Partials add raw weights in Double: where the file's sum leaves the range every shard
            // refuses alike (shard 1 of [10³⁰⁸, 10³⁰⁸, 1, …] had refused and shard 2 had written its
            // partial; no shard's sum exceeds the file's).
            if let w = a.fileWeights, !w.reduce(0, +).isFinite {
                throw CLIError("the raw weights of \(teacher) sum beyond the Double range, which a sharded measure's partials cannot add; divide every weight by the same power of two, so that they sum below about 10³⁰⁸ (the means do not change), or measure the pair unsharded")
            }
            let pair = try ModelPair(a.model, b.model)
            try Self.requireLabels(pair)
            progress.note("rows \(a.rows.lowerBound)..<\(a.rows.upperBound) of \(a.totalInputs)")
            statistics = try MeasureStatistics(shard: pair, rows: a.rows, totalInputs: a.totalInputs,
                                               rawWeights: a.rawWeights, options: try options(pivotSubsets: subsets),
                                               arrays: (a.arrayChecksums, b.arrayChecksums))
        } catch let e as ModelFileError { throw CLIError(e.description) }
          catch let e as ModelError { throw CLIError("\(teacher) and \(student): \(e.description)") }
        // A partial that merge would refuse (values that overflow; weights summing beyond the
        // Double range are refused above, for the whole file) is refused now, before it is written.
        do { try statistics.validate(file: partial) } catch let e as MeasureMergeError {
            // The partial is not written: name the rows, not a file that does not exist.
            guard case let .inconsistent(_, reason) = e else { throw CLIError("this shard's statistics cannot be merged: \(e.description)") }
            throw CLIError("rows \(statistics.rowStart)..<\(statistics.rowEnd) of \(teacher) and \(student): this shard's statistics cannot be merged, so \(partial) was not written: \(reason)")
        }
        let text = try MeasurePartial(teacher: teacher, student: student, statistics: statistics).encoded()
        do { try text.write(toFile: partial, atomically: true, encoding: .utf8) } catch {
            throw CLIError("cannot write the partial \(partial): \(fileErrorSentence(error))")
        }
        progress.note("wrote \(partial) (rows \(statistics.rowStart)..<\(statistics.rowEnd)); merge every shard with `logitbounds merge`")
    }

    func run() throws {
        if let shard, let partial { return try runShard(shard, partial: partial) }
        let shapes = try requireMemory(shards: 1)
        let subsets = try pivotSubsetPairs(shards: 1, shapes: shapes)
        let directory = try out.map {
            try OutputDirectory($0, writes: ["report.md", "report.json", "width-floor.svg", "width-floor-student.npz"], inputs: inputFiles)
        }
        let progress = ProgressReporter(label: "measure", plain: json)
        // The concepts' probes are the part a run may cut short: an interrupt stops them, and the
        // run reports the phases done and the concepts measured. Installed before the files are
        // read (a Ctrl-C while reading large files had killed the run).
        let interruptible = !concepts.isEmpty || teacherConcepts != nil
        if interruptible {
            Interrupt.shared.install("measure", stops: "finishing the work in flight (the phases before the concepts run to their end), skipping the concepts not yet fitted, then reporting")
        }
        let pair: ModelPair
        do {
            progress.note("reading \(teacher) and \(student)")
            let (a, b) = try Self.readBoth(teacher, student)
            pair = try ModelPair(a, b)
            try Self.requireLabels(pair)
        } catch let e as ModelFileError { throw CLIError(e.description) }
          catch let e as ModelError { throw CLIError("\(teacher) and \(student): \(e.description)") }
        var options = try options(pivotSubsets: subsets)
        options.concepts = try readConcepts(inputs: pair.first.inputCount)
        if options.teacherConcepts > pair.first.dimension {
            throw CLIError("--teacher-concepts \(options.teacherConcepts) exceeds the teacher's d = \(pair.first.dimension)")
        }
        let measurement: PairMeasurement
        do {
            measurement = try PairMeasurement.measure(pair, options: options, stop: { interruptible && Interrupt.shared.isRaised }) { progress.note($0) }
        } catch let e as ModelError { throw CLIError(e.description) }
        let markdown = MeasurementFormatter.markdown(measurement, teacher: teacher, student: student)
        directory?.attempt("measure") { directory in
            try markdown.write(to: directory.path("report.md"), atomically: true, encoding: .utf8)
            try measurement.jsonReport().write(to: directory.path("report.json"), atomically: true, encoding: .utf8)
            if let curve = measurement.widthFloorCurve {
                try MeasurementFormatter.widthFloorChart(curve, measurement: measurement)
                    .write(to: directory.path("width-floor.svg"), atomically: true, encoding: .utf8)
            }
            // T12's attaining student at B's width, on A's inputs (the QR route's factors; none
            // from the moments at language-model scale).
            if !pair.usesGramRoutes, let floor = try? WidthFloor(pair.first), let student = try floor.attainingStudent(width: pair.second.dimension, weights: pair.weights) {
                try ModelFile.write(student, to: directory.path("width-floor-student.npz"))
            }
        }
        print(json ? try measurement.jsonReport() : markdown)
        let t11 = (measurement.concepts ?? []).compactMap(\.t11)
        if (measurement.bounds + t11).contains(where: { $0.certified && $0.holds == false }) { throw ExitCode(1) }
        if let unmeasured = measurement.conceptsNotMeasured {
            FileHandle.standardError.write(Data("measure: interrupted: \(unmeasured.count) concept\(unmeasured.count == 1 ? "" : "s") not measured\n".utf8))
            throw ExitCode(130)
        }
    }

    /// Refuses, from the files' headers and before any array is read, a pair whose run (or
    /// whose shards, one of `count`) would not fit in the memory this process may use
    /// (`MeasureMemory`, `MachineMemory`): the system would kill it part-way instead.
    @discardableResult
    func requireMemory(shards count: Int, subsetBytes: Int? = nil) throws -> (ModelShape, ModelShape) {
        let (a, b): (ModelShape, ModelShape)
        do { (a, b) = (try ModelFile.shape(URL(fileURLWithPath: teacher)), try ModelFile.shape(URL(fileURLWithPath: student))) }
        catch let e as ModelFileError { throw CLIError(e.description) }
        let limit: Double
        do { limit = try MachineMemory.bytes() } catch let e as MachineMemory.InvalidLimit { throw CLIError(e.description) }
        // Files that disagree (N, k) are refused here, before either is read (a student of another
        // N was read whole first: 6 GB at N = 2²⁸); a shard count beyond N is left to the reading.
        do { try ModelPair.requireComparable(inputs: (a.inputs, b.inputs), labels: (a.labels, b.labels)) }
        catch let e as ModelError { throw CLIError(e.description) }
        let n = a.inputs
        guard count <= n else { return (a, b) }
        if let why = MeasureMemory.refusal(rows: n / count + (n % count == 0 ? 0 : 1), inputs: n, labels: a.labels,
                                           dimensions: (a.dimension, b.dimension), workers: BLASThreads.cores,
                                           certifying: certify != "never", weighted: a.weighted || b.weighted,
                                           pivoting: PairMeasurement.runsPivotForm(dimensions: (a.dimension, b.dimension), labels: a.labels, pivotOptions),
                                           pivotPairs: pivotPairBound(dimension: a.dimension, labels: a.labels, subsetBytes: subsetBytes),
                                           limit: limit) {
            throw CLIError(why)
        }
        return (a, b)
    }

    /// Reads the two model files at once (one per core); the teacher's error wins.
    static func readBoth(_ first: String, _ second: String) throws -> (SoftmaxModel, SoftmaxModel) {
        let models = try BLASThreads.parallelMap(2, workers: 2) { i in
            try ModelFile.read(URL(fileURLWithPath: i == 0 ? first : second))
        }
        return (models[0], models[1])
    }

    /// The pivot-subset pipe's largest size: 1 GiB (a million pairs of d = 64 take about 200 MB),
    /// so that /dev/zero is refused, not read until memory runs out.
    static let pipeLimit = 1 << 30

    /// Whether `path`, its links followed, is a regular file; a pipe is opened once only, by
    /// `readPipe` (Foundation's `contents(atPath:)` opened and closed a named pipe first, and a
    /// short writer's data was lost in between: the second open then waited for ever).
    static func isRegularFile(_ path: String) -> Bool { regularFileSize(path) != nil }

    /// A regular file's size, its links followed; nil for anything else.
    static func regularFileSize(_ path: String) -> Int? {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG ? Int(status.st_size) : nil
    }

    /// Everything a pipe or device at `path` gives until its end; nil where it cannot be opened or
    /// read (no such file, a directory).
    static func readPipe(_ path: String) throws -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        // A quarter of the memory this process may use, where that is less.
        let limit = min(pipeLimit, Int(min((try? MachineMemory.bytes()) ?? .infinity, 0x1p62) / 4))
        var data = Data()
        while true {
            // nil or empty at the end; a read that fails (a directory) throws.
            let chunk: Data?
            do { chunk = try handle.read(upToCount: 1 << 20) } catch { return nil }
            guard let chunk, !chunk.isEmpty else { return data }
            data.append(chunk)
            guard data.count <= limit else {
                throw CLIError("\(path): the pivot-subset file passes \(MeasureMemory.describe(bytes: Double(limit))) (1 GiB, or a quarter of the memory this process may use); a million pairs of d = 64 take about 200 MB")
            }
        }
    }

    /// The pivot-subset file's bytes.
    static func pivotSubsetData(_ path: String) throws -> Data {
        // "FILE/" names a directory (Foundation would read the file); a pipe such as /dev/stdin is read
        // (Foundation's `contents(atPath:)` reads regular files only), up to `pipeLimit` bytes.
        guard let data = path.hasSuffix("/") ? nil : Self.isRegularFile(path) ? FileManager.default.contents(atPath: path) : try readPipe(path) else {
            // Why (no such file, a directory, "FILE/", permission), as for model files.
            do { try ModelFile.requireRegularFile(URL(fileURLWithPath: path)) } catch let e as ModelFileError {
                throw CLIError(e.description + " (the pivot-subset file)")
            }
            throw CLIError("\(path): cannot read the pivot-subset file")
        }
        return data
    }

    /// (p, S) pairs from JSON or from text lines "p l1 … ld", with each text pair's line (one Int a
    /// pair: a String each had held 60 MB more for a million pairs).
    static func parsePivotSubsets(_ data: Data, path: String) throws -> (pairs: [PivotSubset], lines: [Int]?) {
        // A byte-order mark (some editors write one) is not part of the first line.
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        if text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("[") {
            let pairs: [PivotSubset]
            do { pairs = try ReportJSON.decode([PivotSubset].self, from: data) } catch {
                throw CLIError("\(path): not a JSON list of {\"pivot\": p, \"subset\": [...]} (\(decodingSentence(error, data: data)))")
            }
            guard !pairs.isEmpty else { throw CLIError("\(path): no (p, S) pairs found (an empty JSON list)") }
            return (pairs, nil)
        }
        var out: [PivotSubset] = [], lines: [Int] = []
        // Split on any line end: "\r\n" is one Character in Swift, so splitting on
        // "\n" alone would keep a CRLF file as one line.
        for (number, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            // Any whitespace separates (a no-break space too, which looks like a space when shown).
            let fields = line.split(whereSeparator: { $0.isWhitespace || $0 == "," })
            if fields.isEmpty || fields[0].hasPrefix("#") { continue }
            let values = fields.map { Int($0) }
            if let huge = fields.first(where: { Int($0) == nil && !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }) {
                throw CLIError("\(path):\(number + 1): label \(huge) is out of range (a label is below k)")
            }
            guard values.count >= 2, values.allSatisfy({ $0 != nil && $0! >= 0 }) else {
                // Shown with control characters escaped (a NUL byte had shown as "0 1 2 3").
                throw CLIError("\(path):\(number + 1): expected \"p l1 … ld\" (non-negative integers), got \(String(line).debugDescription)")
            }
            out.append(PivotSubset(pivot: values[0]!, subset: values.dropFirst().map { $0! }))
            lines.append(number + 1)
        }
        guard !out.isEmpty else { throw CLIError("\(path): no (p, S) pairs found") }
        return (out, lines)
    }
}

/// The human-readable report of a measurement.
enum MeasurementFormatter {
    /// T12's floor against the student's width (log scale where positive), this student marked.
    static func widthFloorChart(_ curve: [Double], measurement m: PairMeasurement) -> String {
        let points = curve.enumerated().map { (x: Double($0.offset + 1), y: $0.element) }
        let positive = points.filter { $0.y > 0 }
        let student = (x: Double(m.sizes.dB), y: m.dLogitSquared)
        return SVGChart(title: "T12: the least d_logit² of a student of each width (the teacher's spectrum tail); this student marked",
                        xLabel: "student embedding dimension d₂", yLabel: "d_logit²",
                        yAxis: positive.count == points.count || positive.count >= 2 ? .log : .linear,
                        series: [SVGChart.Series("T12 floor Σ_{i>d₂} σᵢ²", points, mark: .lineWithPoints, colour: 0),
                                 SVGChart.Series("this student (d_B = \(m.sizes.dB))", [student], mark: .points, colour: 3)]).render()
    }

    /// The concepts section: probes, baselines and T11's floors (THEORY.md §8).
    static func conceptLines(_ concepts: [ConceptReport], fitting: String, notMeasured: [String] = []) -> [String] {
        func p(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "—" }
        var lines = ["", "## Concepts (T11: the teacher probe transported to the student by A = G̃_A⁺G̃_B)", "",
                     "Probes: \(fitting). Accuracies weighted by the inputs' weights. Floors: the in-sample teacher probe's accuracy minus T11's bound at the best γ (covariance vᵀΣ_δv, scalar ‖v‖²d_logit², KL through d_logit² ≤ 2 KL/τ); a floor above the majority baseline (by more than 10⁻⁹) is non-vacuous.", "",
                     "| concept | majority | label-only | teacher probe | student probe | teacher in-sample | transported | disagreement | floor (logit) | floor (scalar) | floor (KL) | T11 verdict |",
                     "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in concepts {
            if let why = c.undefined {
                lines.append("| \(markdownCell(c.name)) | \(p(c.majority)) | undefined: \(markdownCell(why)) |  |  |  |  |  |  |  |  |  |")
                continue
            }
            let encoded = c.encodedBeyondLabel == true ? "" : " (not beyond the label)"
            let nonVacuous = c.floorNonVacuous == true ? " **non-vacuous**" : ""
            let verdict = c.t11.map { $0.certified ? "\($0.outcome) (\($0.level), certified)" : "\($0.outcome) (screen)" } ?? (c.note ?? "—")
            lines.append("| \(markdownCell(c.name))\(c.labelFunction ? " (function of the label)" : "") | \(p(c.majority)) | \(p(c.labelOnly)) | \(p(c.teacherProbe))\(encoded) | \(p(c.studentProbe)) | \(p(c.teacherProbeInSample)) | \(p(c.transportedProbe)) | \(p(c.disagreement)) | \(p(c.floorLogit))\(nonVacuous) | \(p(c.floorLogitScalar)) | \(p(c.floorKL)) | \(verdict) |")
        }
        // Why a verdict is not certified (the bounds table's notes do the same for T3–T7, T12).
        let notes = concepts.compactMap { c in c.t11?.note.map { "- T11 on \(markdownCell(c.name)): \($0)" } }
        if !notes.isEmpty { lines += [""] + notes }
        if !notMeasured.isEmpty {
            lines += ["", "**Interrupted:** \(concepts.count) of \(concepts.count + notMeasured.count) concepts measured; not measured: \(notMeasured.map(markdownCell).joined(separator: ", "))."]
        }
        return lines
    }

    /// [lo, hi] in the fewest significant digits (6 to 17) that keep the printed ends
    /// outside the interval (lo printed ≤ lo, hi printed ≥ hi) and tell them apart.
    static func enclosureText(_ lo: Double, _ hi: Double) -> String {
        guard lo.isFinite, hi.isFinite else { return "[\(lo), \(hi)]" }
        for digits in 6...17 {
            let (l, h) = (String(format: "%.\(digits)g", lo), String(format: "%.\(digits)g", hi))
            if let x = Double(l), let y = Double(h), x <= lo, y >= hi, l != h || digits == 17 { return "[\(l), \(h)]" }
        }
        return "[\(lo), \(hi)]"
    }

    static func number(_ x: Double?) -> String {
        guard let x else { return "—" }
        if x == 0 { return "0" }
        if !x.isFinite { return "\(x)" }
        return abs(x) >= 1e-3 && abs(x) < 1e6 ? String(format: "%.6g", x) : String(format: "%.4e", x)
    }

    static func markdown(_ m: PairMeasurement, teacher: String, student: String) -> String {
        var lines = ["# logitbounds measure", "",
                     "A = `\(teacher)`, B = `\(student)`: N = \(m.sizes.n) inputs, k = \(m.sizes.k) labels, d_A = \(m.sizes.dA), d_B = \(m.sizes.dB); unembedding routes: \(m.routes).",
                     "", "## Distances (THEORY.md §3)", "", "| quantity | value |", "|---|---|"]
        let pivot: String = {
            guard let mean = m.dRepPivot.mean else { return "— (\(m.dRepPivot.note ?? "not computed"))" }
            let p = m.dRepPivot
            // A mean beyond the normal range is shown from its logarithm, with the note; its
            // standard error where that is a normal number.
            if let shown = p.meanScientific {
                let se = p.standardError.flatMap { $0.isNormal && !p.exhaustive ? "± \(number($0)) s.e.; " : nil } ?? ""
                return "\(p.note ?? shown) (\(se)\(p.pairsUsed) pairs, \(p.pairsSkipped) singular skipped)\(p.atRoundingLevel ? " — **at the rounding level** (see the notes)" : "")"
            }
            // One sampled pair has no spread to estimate: say so rather than "± 0".
            let se = p.exhaustive ? "every pair: no sampling error" : p.pairsUsed < 2 ? "± — s.e. (one pair)" : "± \(number(p.standardError)) s.e."
            var tail = ""
            if let share = p.topShare, p.pairsUsed > 10 {
                tail = "; the 10 largest carry \(String(format: "%.1f", 100 * share)) % of the sum"
                    + (p.largestCondition.map { " (cond(L₁) up to \(number($0)))" } ?? "")
                    + (p.medianOfMeans.map { "; median of 10 group means \(number($0))" } ?? "")
                    + (p.heavyTail ? " — **a few pairs dominate: the mean is not to be trusted**" : "")
            }
            let rounding = p.atRoundingLevel ? " — **at the rounding level: known only to about ± \(number(p.roundingError))** (see the notes)" : ""
            return "\(number(mean)) (\(se); \(p.pairsUsed) pairs, \(p.pairsSkipped) singular skipped\(tail))\(rounding)"
        }()
        // KL and log τ beyond the Double range: from their MPFR enclosures, in scientific notation.
        func divergence(_ scientific: String?, _ value: Double) -> String { scientific.map { "\($0) (MPFR enclosure)" } ?? number(value) }
        let rows: [(String, String)] = [
            ("d_logit", m.dLogitExact.map { "\($0) (the exact rational, to 10 digits)" } ?? number(m.dLogit)),
            ("d_logit²", m.dLogitSquaredExact.map { "\($0) (the exact rational, to 10 digits)" }
                ?? m.dLogitSquaredRescaled.map { "\($0) (double precision, rescaled pass)" } ?? number(m.dLogitSquared)),
            ("KL(A‖B)", divergence(m.divergenceScientific?.klAB, m.klAB)), ("KL(B‖A)", divergence(m.divergenceScientific?.klBA, m.klBA)),
            ("log τ(A)", divergence(m.divergenceScientific?.logTauA, m.logTauA)), ("log τ(B)", divergence(m.divergenceScientific?.logTauB, m.logTauB)),
        ] + (m.enclosures.map { e in
            func ends(_ v: [Double]) -> String { enclosureText(v[0], v[1]) }
            return [("certified enclosures (streamed fast pass, \(e.productBound) bound)",
                     "d_logit² ∈ \(ends(e.dLogitSquared)), KL(A‖B) ∈ \(ends(e.klAB)), KL(B‖A) ∈ \(ends(e.klBA)), log τ(A) ∈ \(ends(e.logTauA)), log τ(B) ∈ \(ends(e.logTauB))")]
        } ?? []) + [
            ("d_rep(A←B)", number(m.dRepAB)), ("d_rep(B←A)", number(m.dRepBA)),
            ("d_rep(A←B)² / E‖f_A‖² (scale-free)", number(m.dRepScaleFreeAB)),
            ("d_unemb(A←B)", number(m.dUnembAB)), ("d_rep,pivot² (pivot form)", pivot),
            ("m_CCA centred (class function)", number(m.mccaCentered)), ("m_CCA uncentred (class function)", number(m.mccaUncentered)),
        ] + [("linear CKA", m.linearCKA), ("Procrustes distance", m.procrustesDistance), ("SVCCA (99 % variance)", m.svcca)].map { name, value in
            ("\(name) (not a class function, T10)", value.map(number) ?? "undefined: \(m.similarityUndefined ?? "")")
        }
        lines += rows.map { "| \($0.0) | \($0.1) |" }
        lines.append("| linear CKA, unbiased (HSIC₁; not a class function) | \(m.linearCKAUnbiased.map(number) ?? "— (\(m.linearCKAUnbiasedNote ?? ""))") |")
        if let floor = m.widthFloor {
            let ratio = m.widthFloorRatio.map { String(format: "; d_logit² is %.4g× the floor", $0) } ?? ""
            lines.append("| T12 width floor: least d_logit² of any student of width d_B = \(m.sizes.dB) | \(number(floor))\(m.widthFloorNote.map { " (\($0))" } ?? ratio) |")
        }
        let shown = m.canonicalCorrelationsCentered.prefix(12).map(number).joined(separator: ", ")
        lines += ["", "Canonical correlations (centred, largest first): \(shown)\(m.canonicalCorrelationsCentered.count > 12 ? ", …" : "")",
                  "", "## Bounds (T7 with B as the student)", "",
                  "Decided by fast enclosure, \"left\" and \"right\" are the certificate's conservative ends (for \"holds\", the left side's upper end and the right side's lower end), so \"left\" can lie above the value the table above shows (T3's d_rep², say) when its enclosure is wide; decided exactly, the left side is exact.", "",
                  "| id | form | left | right | left/right | verdict | level |", "|---|---|---|---|---|---|---|"]
        for b in m.bounds {
            // A Bound is violated only when certified (`Bound.init`); a screen's crossing is "not decided".
            let screen = b.level == VerdictLevel.double.rawValue
            let verdict = b.holds == true ? "holds" : b.holds == false ? "**VIOLATED**"
                : b.outcome == "undecided" && !b.certified ? (screen ? "not decided by the screen" : "undecided") : b.outcome
            // A side beyond the Double range is shown from its exact or enclosed value.
            // A screen's side that overflowed is not a value; neither is a ratio formed from one.
            let overflowed = screen && (b.lhs.isInfinite || b.rhs.isInfinite)
            func side(_ x: Double) -> String { x.isNaN ? "—" : screen && x.isInfinite ? "overflow (beyond 1.8e308)" : number(x) }
            let ratio = b.ratioScientific ?? (overflowed || (screen && b.ratio.isInfinite) ? "—" : side(b.ratio))
            // Exact sides are values; an enclosure's are its conservative ends (the header says which).
            let tag = b.level == VerdictLevel.exact.rawValue ? "certified value" : "certified bound"
            let left = b.lhsScientific.map { "\($0) (\(tag))" } ?? side(b.lhs)
            let right = b.rhsScientific.map { "\($0) (\(tag))" } ?? side(b.rhs)
            lines.append("| \(b.id) | \(markdownCell(b.form)) | \(left) | \(right) | \(ratio) | \(verdict) | \(b.outcome == "inapplicable" || screen ? b.level : "\(b.level) (\(b.certified ? "certified" : "not decided"))") |")
        }
        let bNotes = m.bounds.compactMap { b in b.note.map { "- \(b.id) \(b.form): \($0)" } }
        if !bNotes.isEmpty || !m.notes.isEmpty { lines += ["", "Notes:"] + m.notes.map { "- \($0)" } + Array(Set(bNotes)).sorted() }
        if let concepts = m.concepts { lines += conceptLines(concepts, fitting: m.conceptFitting ?? "", notMeasured: m.conceptsNotMeasured ?? []) }
        lines += ["", "Time: " + m.timings.map { "\($0.phase) \(String(format: "%.3f", $0.seconds)) s" }.joined(separator: ", ")]
        return lines.joined(separator: "\n")
    }
}
