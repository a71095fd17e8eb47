import Foundation
import Numerics
import Theory

/// The fast certificate level checked against the exact and MPFR levels (issue 28's
/// soundness test, `bench --target enclosures`): on each pair, the fast intervals — each
/// logit, d_logit², each KL_x and log τ_x, each entry of A₁₂ and of the embedding moments,
/// d_unemb², and the σ_min² upper bounds of T3 and T4 — must contain the
/// exact value (GMP) or the 128-bit MPFR enclosure, and no fast verdict (T1.triangle,
/// T3, T4, T5's three forms, T6's four, T7's four, T11's three, T12) may contradict the exact or MPFR verdict. Counts
/// how often each check escalates past the fast level.
public struct FastCrossCheck: Sendable {
    /// Fast intervals compared, and those that missed the exact or MPFR value.
    public var intervals = 0
    public var missed = 0
    /// Fast verdicts compared with a decided certificate, and those that disagreed.
    public var verdicts = 0
    public var contradictions = 0
    /// Per check name: cases the fast level decided, and cases it passed on.
    public var decidedFast: [String: Int] = [:]
    public var escalated: [String: Int] = [:]
    public var pairs = 0
    /// Fast intervals that overlap the 128-bit MPFR enclosure without containing it (the
    /// MPFR enclosure too wide to tell, e.g. KL ~10⁻⁶⁰⁰ of subnormal logits): not misses;
    /// and how many of them were not on a subnormal pair (expected none).
    public var inconclusive = 0
    public var inconclusiveOutsideSubnormal = 0
    /// Compared certificates that were violations (with a planted scale below 1): the
    /// pairs on which a wrong fast "holds" would show.
    public var violatedReferences = 0
    /// Streamed passes run (two bounds per pair) and rows the midpoint pass formed.
    public var streamedPasses = 0
    public var midpointRows = 0
    /// Pairs whose Grams were enclosed by norm bounds (the language-model routes), and the
    /// checks the fast level decided on them.
    public var gramRoutePairs = 0
    public var gramRouteDecidedFast: [String: Int] = [:]
    var onGramRoute = false
    /// The first misses or contradictions, described (at most five).
    public var failures: [String] = []
    public var firstFailure: String? { failures.first }

    public init() {}

    public mutating func merge(_ other: FastCrossCheck) {
        intervals += other.intervals; missed += other.missed; verdicts += other.verdicts
        contradictions += other.contradictions; pairs += other.pairs; inconclusive += other.inconclusive
        inconclusiveOutsideSubnormal += other.inconclusiveOutsideSubnormal; violatedReferences += other.violatedReferences
        streamedPasses += other.streamedPasses; midpointRows += other.midpointRows; gramRoutePairs += other.gramRoutePairs
        gramRouteDecidedFast.merge(other.gramRouteDecidedFast, uniquingKeysWith: +)
        decidedFast.merge(other.decidedFast, uniquingKeysWith: +)
        escalated.merge(other.escalated, uniquingKeysWith: +)
        failures = Array((failures + other.failures).prefix(5))
    }

    mutating func fail(_ what: String) {
        if failures.count < 5 { failures.append(what) }
    }

    /// Whether the fast interval contains the rational (an infinite end contains everything beyond it).
    static func contains(_ f: FastInterval, _ q: Rational) -> Bool {
        (Rational(exactly: f.lo).map { $0 <= q } ?? (f.lo == -.infinity)) && (Rational(exactly: f.hi).map { q <= $0 } ?? (f.hi == .infinity))
    }

    /// Whether the fast interval contains the whole MPFR enclosure.
    static func contains(_ f: FastInterval, _ v: Interval) -> Bool {
        (f.lo == -.infinity || Interval(exactly: f.lo)!.isCertainlyAtMost(v)) && (f.hi == .infinity || v.isCertainlyAtMost(Interval(exactly: f.hi)!))
    }

    /// Whether the fast interval and the MPFR enclosure share no point: then the fast one
    /// misses the true value, which the MPFR enclosure holds.
    static func disjoint(_ f: FastInterval, _ v: Interval) -> Bool {
        (f.hi != .infinity && Interval(exactly: f.hi)!.isCertainlyBelow(v)) || (f.lo != -.infinity && v.isCertainlyBelow(Interval(exactly: f.lo)!))
    }

    /// The fast interval against the 128-bit MPFR enclosure of one value: a miss when they
    /// are disjoint, inconclusive when they overlap without containment (MPFR's enclosure
    /// too wide, as for KL ~10⁻⁶⁰⁰ between models with subnormal logits).
    mutating func expect(_ f: FastInterval, within v: Interval, subnormal: Bool, _ what: @autoclosure () -> String) {
        if FastCrossCheck.contains(f, v) { intervals += 1 } else if FastCrossCheck.disjoint(f, v) {
            expect(false, "\(what()) against \(v)")
        } else {
            inconclusive += 1
            if !subnormal { inconclusiveOutsideSubnormal += 1 }
        }
    }

    /// An upper bound t on λ_min of the exact symmetric matrix: M − tI must not be positive definite.
    mutating func expectSmallestEigenvalue(of m: RationalMatrix, atMost t: Double, _ what: @autoclosure () -> String) throws {
        guard t.isFinite, let bound = Rational(exactly: t) else { return }
        expect(!(try m.shiftingDiagonal(by: bound).isPositiveDefinite()), "\(what()): λ_min above \(t)")
    }

    mutating func expect(_ inside: Bool, _ what: @autoclosure () -> String) {
        intervals += 1
        if !inside { missed += 1; fail(what()) }
    }

    /// Every comparison on one pair (the third model serves T1's triangle); `plantedScale`
    /// below 1 plants false statements, so that the certificates include violations and a
    /// wrong fast "holds" would show as a contradiction.
    public static func run(_ pair: ModelPair, third: SoftmaxModel, label: String, plantedScale: Double = 1) throws -> FastCrossCheck {
        var c = FastCrossCheck()
        c.pairs = 1
        let exact = try pair.exact()
        let subnormal = label.contains("subnormal")
        if let distance = pair.fastLogitDistance() {
            for (fast, model) in [(distance.first, exact.first), (distance.second, exact.second)] {
                let logits = model.logits, entries = fast.entries
                for t in entries.indices {
                    c.expect(contains(entries[t], logits[t / fast.columns, t % fast.columns]), "\(label): logit \(t) \(entries[t])")
                }
            }
            c.expect(contains(distance.squared, exact.logitDistanceSquared), "\(label): d_logit² \(distance.squared)")
        }
        // Both product bounds of the streamed pass, row by row, and the sums' means.
        let mpfr = try pair.certifiedDivergence(bits: 128)
        let reverse = try pair.swapped.certifiedDivergence(bits: 128)
        for bound in [FastLogitSums.ProductBound.absoluteProducts, .norms] {
            guard let rows = FastLogitSums.rowEnclosures(pair, bound: bound),
                  let sums = FastLogitSums.compute(pair, bound: bound) else { continue }
            c.streamedPasses += 1
            c.midpointRows += rows.filter { !$0.refined }.count
            let logits = FastLogitSums.logitEnclosures(pair, bound: bound)
            for (fast, model) in [(logits.first, exact.first), (logits.second, exact.second)] {
                let k = model.logits.columns
                for t in fast.indices {
                    c.expect(contains(fast[t], model.logits[t / k, t % k]), "\(label) (\(bound)): streamed logit \(t) \(fast[t])")
                }
            }
            for (x, row) in rows.enumerated() {
                c.expect(row.klFirstSecond, within: mpfr.klPerInput[x], subnormal: subnormal, "\(label) (\(bound)): KL_\(x) \(row.klFirstSecond)")
                c.expect(row.klSecondFirst, within: reverse.klPerInput[x], subnormal: subnormal, "\(label) (\(bound)): reverse KL_\(x) \(row.klSecondFirst)")
                c.expect(FastInterval.min(row.logTauFirst, row.logTauSecond), within: mpfr.logTauPerInput[x], subnormal: subnormal,
                         "\(label) (\(bound)): log τ_\(x)")
            }
            c.expect(sums.logTauFirst, within: mpfr.logTauFirst, subnormal: subnormal, "\(label) (\(bound)): log τ(M₁) \(sums.logTauFirst)")
            c.expect(sums.logTauSecond, within: mpfr.logTauSecond, subnormal: subnormal, "\(label) (\(bound)): log τ(M₂) \(sums.logTauSecond)")
            c.expect(sums.mean(sums.klFirstSecond), within: mpfr.klForward, subnormal: subnormal, "\(label) (\(bound)): mean KL \(sums.mean(sums.klFirstSecond))")
            c.expect(sums.mean(sums.klSecondFirst), within: mpfr.klBackward, subnormal: subnormal, "\(label) (\(bound)): mean reverse KL")
            c.expect(contains(sums.logitDistanceSquared, exact.logitDistanceSquared), "\(label) (\(bound)): streamed d_logit² \(sums.logitDistanceSquared)")
        }
        // The centred unembeddings' Grams (by norm bounds on the language-model route).
        let grams = pair.fastUnembeddingGrams()
        if pair.formedNormBoundedGrams { (c.gramRoutePairs, c.onGramRoute) = (1, true) }
        let (g1, g2) = (exact.first.centredUnembeddings, exact.second.centredUnembeddings)
        for (name, fast, reference) in [("S₁₁", grams.first, g1.weightedGram()), ("S₁₂", grams.cross, try g1.transposed.multiplied(by: g2)),
                                        ("S₂₂", grams.second, g2.weightedGram())] {
            for i in 0..<reference.rows {
                for j in 0..<reference.columns {
                    c.expect(contains(fast[i, j], reference[i, j]), "\(label): \(name)[\(i),\(j)] \(fast[i, j])")
                }
            }
        }
        if let identifiability = pair.fastIdentifiability() {
            try c.expectSmallestEigenvalue(of: exact.first.centredUnembeddingGram, atMost: identifiability.sigmaMinSquaredUpper,
                                           "\(label): σ_min(G̃₁)² upper bound")
            let a = try exact.identifiabilityMap()
            for i in 0..<a.rows {
                for j in 0..<a.columns {
                    c.expect(contains(identifiability.map[i, j], a[i, j]), "\(label): A₁₂[\(i),\(j)] \(identifiability.map[i, j])")
                }
            }
        }
        do {
            let moments = pair.fastEmbeddingMoments()
            let m = exact.moments()
            for (name, fast, reference) in [("M₁₁", moments.m11, m.m11), ("M₂₁", moments.m21, m.m21), ("M₂₂", moments.m22, m.m22)] {
                for i in 0..<reference.rows {
                    for j in 0..<reference.columns {
                        c.expect(contains(fast[i, j], reference[i, j]), "\(label): \(name)[\(i),\(j)] \(fast[i, j])")
                    }
                }
            }
        }
        // T7's upper ends from the rows (near-equal models): every 1 − ρᵢ² at most its upper end
        // (not below the certified bracket's lower end) and R inside its enclosure, exactly.
        for centred in [false, true] {
            guard let rows = pair.fastT7SpectraFromRows(centred: centred), let certified = try pair.certifiedT7Spectra(centred: centred) else { continue }
            c.expect(contains(rows.residual, certified.residual), "\(label): T7 R (rows, centred \(centred)) \(rows.residual)")
            for (i, q) in zip(rows.oneMinusRhoSquared, certified.qLower).enumerated() {
                c.expect(q.0.hi.isFinite && Rational(exactly: q.0.hi)! >= q.1, "\(label): T7 1 − ρ\(i)² upper end (rows, centred \(centred)) \(q.0.hi) below \(q.1.doubleValue)")
            }
        }
        if let unembedding = pair.fastUnembeddingDissimilarity() {
            c.expect(contains(unembedding.squared, try exact.unembeddingDissimilaritySquared()), "\(label): d_unemb² \(unembedding.squared)")
            try c.expectSmallestEigenvalue(of: exact.moments().m11, atMost: unembedding.sigmaMinSquaredUpper, "\(label): σ_min(F̂₁)² upper bound")
        }
        try c.compareVerdicts(pair, third: third, label: label, scale: plantedScale)
        return c
    }

    /// The statements with a fast path: fast verdict against the certificate.
    mutating func compareVerdicts(_ pair: ModelPair, third: SoftmaxModel, label: String, scale s: Double) throws {
        let metric = T1LogitMetric()
        record("T1.triangle", fast: try metric.fastTriangle(pair, third, rhsScale: s),
               certified: { try metric.certifyTriangle(pair, third, rhsScale: s) }, label)
        var statements: [(String, any PairStatement)] = [("T3", T3EmbeddingBound(constantScale: s)), ("T4", T4UnembeddingBound(constantScale: s))]
        statements += T5PivotBound.Form.allCases.map { ("T5.\($0.rawValue)", Check.harnessT5($0, constantScale: s)) }
        statements += T6KLBound.Form.allCases.map { ("T6.\($0.rawValue)", T6KLBound($0, constantScale: s)) }
        for form in T7CanonicalCorrelationBound.Form.allCases {
            for centred in [false, true] {
                statements.append(("T7.\(form.rawValue).\(centred ? "centred" : "uncentred")", T7CanonicalCorrelationBound(form, centred: centred, constantScale: s)))
            }
        }
        statements += ConceptTransfer.Form.allCases.map { ("T11.\($0.rawValue)", T11ConceptTransferBound($0, constantScale: s)) }
        statements.append(("T12", T12WidthFloorBound(constantScale: s)))
        for (name, statement) in statements where try statement.screen(pair).outcome != .inapplicable {
            record(name, fast: try statement.fastCertify(pair), certified: { try statement.certify(pair) }, label)
        }
        // The mixed T7 conjecture (no constant to plant: the boundary generator's pairs, where it
        // fails, expose a false fast "holds").
        record("T7.mixed", fast: MixedT7Conjecture.fastVerdict(pair), certified: { try MixedT7Conjecture.certify(pair) }, label)
    }

    mutating func record(_ name: String, fast: Verdict?, certified: () throws -> Verdict, _ label: String) {
        // Only the fast level counts as decided fast (T11's exactly-equal shortcut is exact).
        guard let fast else { escalated[name, default: 0] += 1; return }
        if fast.level == .fastEnclosure {
            decidedFast[name, default: 0] += 1
            if onGramRoute { gramRouteDecidedFast[name, default: 0] += 1 }
        } else { escalated[name, default: 0] += 1 }
        guard let reference = try? certified(), reference.isCertified else { return }
        verdicts += 1
        if reference.outcome == .violated { violatedReferences += 1 }
        if reference.outcome != fast.outcome {
            contradictions += 1
            fail("\(label): \(name) fast \(fast.outcome) against \(reference.level.rawValue) \(reference.outcome)")
        }
    }

    /// The pairs checked: the corpus's (every generator), and every tenth index two
    /// adversarial ones — logits whose every addition is a tie rounding the same way
    /// (attaining the dot-product bound) and embeddings scaled into the subnormal range
    /// (the products underflow) — and one on the language-model routes (the Grams by norm
    /// bounds, T4's d_unemb² from them).
    public static func pair(_ corpus: CorpusSpec, index: Int) -> (ModelPair, SoftmaxModel, String) {
        let descriptor = corpus.descriptor(index)
        let base = descriptor.pair
        switch index % 10 {
        case 7: return (try! ModelPair(base.first, base.second, routes: .largeScale), descriptor.third(of: base),
                        "#\(index) \(descriptor.generator) on the language-model routes k=\(descriptor.size.labels) d=\(descriptor.size.dimension)")
        case 9: return adversarialRounding(base, label: "#\(index) rounding adversary from \(descriptor.generator)")
        case 8: return scaled(base, by: 0x1p-1070, label: "#\(index) subnormal embeddings from \(descriptor.generator)")
        default: return (base, descriptor.third(of: base), "#\(index) \(descriptor.generator) k=\(descriptor.size.labels) d=\(descriptor.size.dimension) N=\(descriptor.size.inputs)")
        }
    }

    /// Embedding rows (2^e, 2^e·u, …, 2^e·u, x) against unembedding rows (1, …, 1, r):
    /// 2^e + 2^e·u is a tie that rounds back to 2^e, d − 2 times.
    static func adversarialRounding(_ base: ModelPair, label: String) -> (ModelPair, SoftmaxModel, String) {
        let d = max(base.first.dimension, 6) , n = base.first.inputCount, k = base.first.labelCount
        func model(_ source: SoftmaxModel, shift: Double) -> SoftmaxModel {
            let f = Matrix(rows: n, columns: d) { i, j in
                let scale = Double(sign: .plus, exponent: i % 7, significand: 1)
                return j == 0 ? scale : j == d - 1 ? 1e-3 * source.embeddings[i, 0] + shift : scale * 0x1p-53
            }
            let g = Matrix(rows: k, columns: d) { y, j in j == d - 1 ? source.unembeddings[y, 0] : 1 }
            return try! SoftmaxModel(embeddings: f, unembeddings: g, weights: source.weights)
        }
        let first = model(base.first, shift: 0), second = model(base.second, shift: 1e-9)
        return (try! ModelPair(first, second), model(base.first, shift: 2e-9), label)
    }

    static func scaled(_ base: ModelPair, by s: Double, label: String) -> (ModelPair, SoftmaxModel, String) {
        func model(_ m: SoftmaxModel) -> SoftmaxModel {
            try! SoftmaxModel(embeddings: Matrix(rows: m.embeddings.rows, columns: m.embeddings.columns) { m.embeddings[$0, $1] * s },
                              unembeddings: m.unembeddings, weights: m.weights)
        }
        return (try! ModelPair(model(base.first), model(base.second)), model(base.first), label)
    }

    /// Cross-checks `cases` pairs of the corpus in blocks (memory flat however many),
    /// on `threads` workers; `progress(done)` after each block.
    public static func run(_ corpus: CorpusSpec, cases: Int, threads: Int, plantedScale: Double = 1,
                           progress: (Int) -> Void = { _ in }) throws -> FastCrossCheck {
        var total = FastCrossCheck()
        let block = 256
        for start in stride(from: 0, to: cases, by: block) {
            let count = min(block, cases - start)
            let parts = try BLASThreads.parallelMap(count, workers: threads) { i -> FastCrossCheck in
                let (pair, third, label) = pair(corpus, index: start + i)
                return try run(pair, third: third, label: label, plantedScale: plantedScale)
            }
            for p in parts { total.merge(p) }
            progress(start + count)
        }
        return total
    }
}
