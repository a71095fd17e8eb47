import Numerics
import Theory

/// Runs the two searches for one statement — a random sweep over the harness's
/// generators and an adversarial optimiser under the statement's hypotheses —
/// then recomputes the best pair's ratio at the certified level.
public enum TightnessExplorer {
    public static func explore(_ which: TightnessStatement, _ config: TightnessConfiguration,
                               progress: (String) -> Void = { _ in }) throws -> TightnessResult {
        try validate(config)
        if let measure = which.classInfimumMeasure {
            return try T10Explorer.explore(which, measure, config, progress: progress)
        }
        let started = ContinuousClock.now
        var notes: [String] = []
        var k = config.labels[0]
        var d = config.dimension
        if which.isT6 && d >= k {
            // The T6 search needs no embedding dimension; only the sweep's generators do.
            notes.append("the random sweep uses d = \(k - 1) (d must be below k = \(k))")
            d = k - 1
        }
        guard k >= d + 1 else {
            throw TightnessError.badConfiguration("--d must be below k (got d = \(d), k = \(k))")
        }
        if which == .T5averaged {
            // Every (p, S) is enumerated per evaluation, and certified exactly at the
            // end: keep k·C(k−1, d) ≤ 400.
            let limited = largestLabelCount(upTo: k, dimension: d, pairLimit: 400)
            if limited < k { notes.append("T5.averaged enumerates every (p, S): k lowered from \(k) to \(limited) so k·C(k−1, d) ≤ 400") }
            k = limited
        }
        if !which.isT6 {
            // Nelder–Mead keeps a (P+1)×P simplex: bound P, so its memory stays ≤ 140 MB.
            let p = PairLayout(labels: k, inputs: config.inputs, firstDimension: d, secondDimension: d).parameterCount
            if p > NelderMead.parameterLimit {
                let most = NelderMead.parameterLimit / (2 * d) - k
                throw TightnessError.badConfiguration("--inputs \(config.inputs) with k = \(k), d = \(d) gives \(p) parameters to search; "
                    + "Nelder–Mead's simplex would hold \(String(format: "%.3g", Double(p + 1) * Double(p) * 8 / 1e9)) GB: at most "
                    + "\(NelderMead.parameterLimit) parameters, so --inputs ≤ \(max(most, 0)) here")
            }
        }
        let statement = which.statement(scale: config.constantScale, dimension: d)!   // T10 returned above
        let sweepBudget = config.budgetSeconds * 0.2
        progress("\(which.rawValue): random sweep (≤ \(config.sweepCases) cases, \(format(sweepBudget)) s)")
        let points = sweep(which, statement, size: CaseSize(labels: k, dimension: d, inputs: config.inputs),
                           config: config, deadline: Deadline(seconds: sweepBudget, stop: config.stop))
        let summary = summarise(points)

        let searchBudget = config.budgetSeconds - elapsed(since: started)
        var found = which.isT6
            ? try searchT6(which, statement, config: config, seconds: searchBudget, progress: progress)
            : searchPairs(which, statement, labels: k, dimension: d, config: config, seconds: searchBudget,
                          progress: progress)
        // Asked once the searches are over: an interrupt that came during them cut them short.
        if config.stop() {
            notes.append(Self.interruptedNote)
            // T6's τ-curve: the grid points whose searches never ran.
            let points = Dictionary(grouping: found.searches.filter { $0.tau != nil }) { "k = \($0.labels), τ = \($0.tau!)" }
            let unsearched = points.filter { $0.value.allSatisfy { $0.evaluations == 0 } }.keys.sorted()
            if !unsearched.isEmpty { notes.append("not searched after the interrupt (absent from the τ-curve): \(unsearched.joined(separator: "; "))") }
        }
        if let worst = summary.worst {
            let generator = ModelGenerator(rawValue: worst.generator)!
            found.candidates.append((generator.pair(seed: worst.seed, size: CaseSize(labels: k, dimension: d, inputs: config.inputs)), .sweep))
        }
        progress("\(which.rawValue): certifying \(found.candidates.count) candidate pair(s)")
        let best = try bestCertified(found.candidates, statement, name: which.rawValue)
        let certified = best.verdict
        return TightnessResult(statement: which, form: statement.form, labels: k, dimension: d, inputs: config.inputs,
                               constantScale: config.constantScale, sweep: summary, sweepPoints: points,
                               searches: found.searches, bestRatio: certified.ratio, foundBy: best.method,
                               certified: CertifiedCheck(certified), tauCurve: found.tauCurve,
                               vacuity: which.isT6 ? VacuityRow.rows(seed: config.seed) : nil,
                               t7Closeness: which == .T7 || which == .T7corollary
                                   ? T7ClosenessRow.rows(labels: k, dimension: d, inputs: max(config.inputs, 50), seed: config.seed) : nil,
                               notes: notes,
                               seconds: elapsed(since: started), pair: best.pair)
    }

    /// The note of a statement whose searches an interrupt cut short (`TightnessConfiguration.stop`).
    public static let interruptedNote = "interrupted: the searches stopped when the interrupt came, before the budget (or --evaluations) ran out; the candidates found so far were certified as usual, but this result is not reproducible to the bit"

    /// What the adversarial searches produced: their summaries, every search's best
    /// pair, and for T6 the τ-curve.
    struct Found {
        var searches: [SearchSummary] = []
        var candidates: [(pair: ModelPair, method: SearchResult.Method)] = []
        var tauCurve: [TauPoint]?
    }

    /// T6: the searches at every (k, τ) of the grid, each point recomputed from its
    /// certified pair.
    static func searchT6(_ which: TightnessStatement, _ statement: any PairStatement, config: TightnessConfiguration,
                         seconds: Double, progress: (String) -> Void) throws -> Found {
        let form: T6KLBound.Form = which == .T6sharp ? .sharp : .global
        let grid = config.labels.flatMap { labels in config.taus.filter { $0 * Double(labels) < 1 }.map { (labels, $0) } }
        guard !grid.isEmpty else { throw TightnessError.badConfiguration("no τ below 1/k for the given --k and --tau") }
        var found = Found(tauCurve: [])
        for (index, (labels, tau)) in grid.enumerated() {
            progress("\(which.rawValue): adversarial search at k = \(labels), τ = \(tau) (\(index + 1)/\(grid.count))")
            let objective = T6Objective(labels: labels, tau: tau, form: form, constantScale: config.constantScale)
            let results = optimise(objective, config: config, seed: SeededGenerator.derive(config.seed, UInt64(index)),
                                   seconds: seconds / Double(grid.count))
            found.searches += results.map {
                SearchSummary(method: $0.method, bestRatio: $0.value.exp, evaluations: $0.evaluations, starts: $0.starts,
                              labels: labels, tau: tau)
            }
            guard let best = results.max(by: { $0.value < $1.value }), best.value.isFinite,
                  let pair = try? objective.pair(best.best) else { continue }
            found.candidates.append((pair, best.method))
            // The curve reports the pair itself, not the optimiser's double value: the
            // certified verdict gives d_logit² exactly and KL·constant(τ_pair) enclosed.
            guard let verdict = try? statement.certify(pair) else { continue }
            // In logarithms: at τ = 10⁻³⁰⁰ the factor 1/τ² overflows and rhs/factor underflows,
            // which printed d_logit²/KL = inf beside "holds".
            let logTau = pair.logitStatistics().logTau, actual = logTau.exp
            let logFactor = config.constantScale.log + (form.isSharp ? (2.0).log - logTau : -2 * logTau)
            let logLargest = verdict.lhs.log - verdict.rhs.log + logFactor
            let largest = logLargest.exp
            found.tauCurve!.append(TauPoint(labels: labels, tau: tau, pairTau: actual, largestRatio: largest,
                                            timesTau: (logLargest + logTau).exp, timesTauSquared: (logLargest + 2 * logTau).exp,
                                            certified: verdict.outcome, foundBy: best.method))
        }
        return found
    }

    /// Every other statement: freely parametrised pairs (T3 with its analytic gradient).
    static func searchPairs(_ which: TightnessStatement, _ statement: any PairStatement, labels k: Int, dimension d: Int,
                            config: TightnessConfiguration, seconds: Double, progress: (String) -> Void) -> Found {
        let objective: any TightnessObjective = which == .T3
            ? T3Objective(labels: k, dimension: d, inputs: config.inputs, constantScale: config.constantScale)
            : ScreenedPairObjective(statement, layout: PairLayout(labels: k, inputs: config.inputs, firstDimension: d,
                                                                  secondDimension: which == .T12 ? max(1, d - 1) : d))
        progress("\(which.rawValue): adversarial search over \(objective.parameterCount) parameters (\(format(seconds)) s)")
        var found = Found()
        for r in optimise(objective, config: config, seed: config.seed, seconds: seconds) {
            found.searches.append(SearchSummary(method: r.method, bestRatio: r.value.exp, evaluations: r.evaluations,
                                                starts: r.starts, labels: k, tau: nil))
            if r.value.isFinite, let pair = try? objective.pair(r.best) { found.candidates.append((pair, r.method)) }
        }
        return found
    }

    /// Every candidate re-decided at the certified level; the best certified ratio wins.
    /// Near equality (and near d_logit = 0) the double screen's ratio is rounding noise,
    /// so it cannot pick the winner.
    static func bestCertified(_ candidates: [(pair: ModelPair, method: SearchResult.Method)],
                              _ statement: any PairStatement, name: String) throws
        -> (pair: ModelPair, method: SearchResult.Method, verdict: Verdict) {
        guard !candidates.isEmpty else { throw TightnessError.nothingSearched(name) }
        let decided = candidates.compactMap { c -> (pair: ModelPair, method: SearchResult.Method, verdict: Verdict)? in
            guard let v = try? statement.certify(c.pair), v.outcome == .holds || v.outcome == .violated,
                  v.ratio.isFinite else { return nil }
            return (c.pair, c.method, v)
        }
        guard let best = decided.max(by: { $0.verdict.ratio < $1.verdict.ratio }) else {
            throw TightnessError.nothingApplicable(name)
        }
        return best
    }

    static func validate(_ c: TightnessConfiguration) throws {
        guard !c.labels.isEmpty, c.labels.allSatisfy({ $0 >= 2 && $0 <= 2000 }) else {
            throw TightnessError.badConfiguration("--k must be between 2 and 2000 (got \(c.labels))")
        }
        guard c.dimension >= 1 else {
            throw TightnessError.badConfiguration("--d must be at least 1 (got \(c.dimension))")
        }
        guard c.inputs >= c.dimension + 1, c.inputs <= 100_000 else {
            throw TightnessError.badConfiguration("--inputs must exceed d (got N = \(c.inputs), d = \(c.dimension))")
        }
        guard c.taus.allSatisfy({ $0 > 0 && $0 < 0.5 && $0.isFinite }) else {
            throw TightnessError.badConfiguration("--tau values must lie in (0, 1/2) (got \(c.taus))")
        }
        guard c.budgetSeconds > 0, c.budgetSeconds.isFinite else {
            throw TightnessError.badConfiguration("--budget must be a positive number of seconds")
        }
        guard c.constantScale > 0, c.constantScale.isFinite else {
            throw TightnessError.badConfiguration("--constant-scale must be positive")
        }
    }

    /// The gradient method (when the objective has an analytic gradient) then
    /// Nelder–Mead, splitting the time 1 : 1 (Nelder–Mead alone otherwise).
    static func optimise(_ objective: some SearchObjective, config: TightnessConfiguration, seed: UInt64,
                         seconds: Double) -> [SearchResult] {
        let started = ContinuousClock.now
        var out: [SearchResult] = []
        if objective.hasAnalyticGradient {
            out.append(config.gradient.maximise(objective, seed: seed, deadline: Deadline(seconds: seconds / 2, stop: config.stop)))
        }
        let rest = seconds - elapsed(since: started)
        out.append(config.nelderMead.maximise(objective, seed: SeededGenerator.derive(seed, 77),
                                              deadline: Deadline(seconds: rest, stop: config.stop), evaluationLimit: config.evaluationLimit))
        return out
    }

    /// The harness's generators in turn, case i with seed derive(seed, i).
    static func sweep(_ which: TightnessStatement, _ statement: any PairStatement, size: CaseSize,
                      config: TightnessConfiguration, deadline: Deadline) -> [SweepPoint] {
        var points: [SweepPoint] = []
        let generators = ModelGenerator.allCases
        for i in 0..<config.sweepCases where !deadline.passed {
            let generator = generators[i % generators.count]
            let seed = SeededGenerator.derive(config.seed, UInt64(i))
            let pair = generator.pair(seed: seed, size: size)
            // Near-ties and apparent violations are rounding-level in doubles: decide them
            // at the certified level, as the harness does.
            guard var v = try? statement.screen(pair) else { continue }
            if v.needsCertification, let c = try? statement.certify(pair) { v = c }
            guard v.outcome == .holds || v.outcome == .violated, v.ratio.isFinite else { continue }
            var plotted = v.ratio
            if which.isT6 {
                let kl = pair.logitStatistics().kl
                plotted = kl > 0 ? v.lhs / kl : .nan
            }
            points.append(SweepPoint(generator: generator.rawValue, seed: seed, parameter: which.parameter(pair),
                                     ratio: v.ratio, plotted: plotted))
        }
        return points
    }

    static func summarise(_ points: [SweepPoint]) -> SweepSummary {
        let ratios = points.map(\.ratio).sorted()
        func quantile(_ q: Double) -> Double {
            ratios.isEmpty ? .nan : ratios[min(ratios.count - 1, Int((q * Double(ratios.count - 1)).rounded()))]
        }
        let byGenerator = ModelGenerator.allCases.compactMap { g -> GeneratorSummary? in
            let r = points.filter { $0.generator == g.rawValue }.map(\.ratio).sorted()
            guard !r.isEmpty else { return nil }
            return GeneratorSummary(generator: g.rawValue, cases: r.count, median: r[r.count / 2], max: r.last!)
        }
        return SweepSummary(byGenerator: byGenerator, cases: points.count, applicable: points.count, median: quantile(0.5),
                            quantile90: quantile(0.9), quantile99: quantile(0.99), max: ratios.last ?? .nan,
                            worst: points.max { $0.ratio < $1.ratio })
    }

    static func largestLabelCount(upTo k: Int, dimension d: Int, pairLimit: Int) -> Int {
        var best = d + 1
        for labels in (d + 1)...max(d + 1, k) {
            var count = Double(labels)
            for j in 0..<d { count *= Double(labels - 1 - j) / Double(j + 1) }
            if count <= Double(pairLimit) { best = labels }
        }
        return best
    }

    static func elapsed(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }

    static func format(_ seconds: Double) -> String { String(Double(Int(seconds * 10)) / 10) }
}
