import Dispatch
import Numerics

/// One (pivot p, subset S) of the pivot form: S is d labels other than p.
public struct PivotSubset: Sendable, Hashable, Codable {
    public let pivot: Int
    public let subset: [Int]
    public init(pivot: Int, subset: [Int]) { self.pivot = pivot; self.subset = subset }
}

/// How the (p, S) pairs of the pivot form are chosen.
public enum PivotSelection: Sendable {
    /// Every (p, S) with S an unordered d-subset of the other labels, when there are
    /// at most `limit` of them; otherwise `sampled` with the given sizes and seed.
    case automatic(limit: Int = 20_000, pivots: Int = 100, subsetsPerPivot: Int = 200, seed: UInt64 = 0)
    /// `pivots` distinct pivots drawn without replacement, and for each
    /// `subsetsPerPivot` uniform d-subsets of the other labels (the reference's
    /// estimator draws 100 × 200), or each d-subset once where there are no more.
    case sampled(pivots: Int, subsetsPerPivot: Int, seed: UInt64)
    /// Exactly these pairs, to reproduce an external computation.
    case explicit([PivotSubset])

    /// At most how many (p, S) pairs it gives.
    public var largestPairCount: Int {
        switch self {
        case let .automatic(limit, pivots, subsets, _): max(limit, Self.product(pivots, subsets))
        case let .sampled(pivots, subsets, _): Self.product(pivots, subsets)
        case let .explicit(pairs): pairs.count
        }
    }

    private static func product(_ a: Int, _ b: Int) -> Int {
        let (count, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? .max : count
    }

    /// A short name of this selection for per-pair caches, built from integers (the
    /// reflective description cost 2 % of `verify`).
    var cacheKey: String {
        switch self {
        case let .automatic(limit, pivots, subsets, seed): return "a\(limit).\(pivots).\(subsets).\(seed)"
        case let .sampled(pivots, subsets, seed): return "s\(pivots).\(subsets).\(seed)"
        case let .explicit(pairs): return "e" + pairs.map { "\($0.pivot):" + $0.subset.map(String.init).joined(separator: ",") }.joined(separator: ";")
        }
    }
}

/// d_rep,pivot² with its bookkeeping.
public struct PivotDissimilarity: Sendable {
    /// Mean of r(p, S) over the pairs used.
    public let mean: Double
    /// Standard error of the mean (0 when every pair was enumerated).
    public let standardError: Double
    public let pairsUsed: Int
    /// Pairs skipped because L₁(p, S) was numerically singular.
    public let pairsSkipped: Int
    public let exhaustive: Bool
    /// Pairs recomputed because the moment form cancelled (from the residual, directly or from the
    /// rows' triangular factor, or exactly) or their map was ill-conditioned (exactly, or estimated).
    public let directEvaluations: Int
    /// Of those, the pairs computed exactly (rational r(p, S), the nearest Double kept) where the
    /// caller allowed it (`pivotDissimilarity(_:exactWhereCancelled:)`).
    public let exactEvaluations: Int
    /// An a priori estimate of the mean's rounding error from the pairs recomputed in double
    /// precision (`PivotMoments.roundingEstimate`; 0 when none were): where the residuals lie
    /// near the rounding of the embeddings (near-orbit pairs) it can exceed the mean itself.
    public let roundingError: Double

    /// Share of the sum of r(p, S) carried by the `tailCount` largest pairs: near 1 the
    /// mean rests on a handful of pairs (ill-conditioned L₁) and is not to be trusted.
    public let topShare: Double
    /// The median of the means of `groupCount` consecutive groups of the pairs (a
    /// median-of-means estimate, robust to a few huge r(p, S)); nil below 2 groups' worth.
    public let medianOfMeans: Double?
    /// The largest cond(L₁(p, S)) among the `tailCount` largest pairs (nil when not
    /// computed, e.g. in a merge of shards, which does not hold the unembeddings).
    public var largestCondition: Double?
    /// Indices (into the pairs) of the largest r(p, S), largest first.
    package let largestIndices: [Int]

    static let tailCount = 10
    static let groupCount = 10

    /// Mean and standard error of the r(p, S) that exist (nil: L₁ singular, skipped),
    /// and the tail statistics.
    package init(_ residuals: [Double?], exhaustive: Bool, directEvaluations: Int, exactEvaluations: Int = 0,
                 roundingSum: Double = 0) {
        let indexed = residuals.enumerated().compactMap { i, r in r.map { (i, $0) } }
        let values = indexed.map(\.1)
        let total = values.reduce(0, +)
        let top = indexed.sorted { $0.1 > $1.1 }.prefix(Self.tailCount)
        largestIndices = top.map(\.0)
        topShare = total > 0 ? top.reduce(0) { $0 + $1.1 } / total : 0
        if values.count >= 2 * Self.groupCount {
            let size = values.count / Self.groupCount
            let means = (0..<Self.groupCount).map { g in values[(g * size)..<((g + 1) * size)].reduce(0, +) / Double(size) }.sorted()
            medianOfMeans = (means[Self.groupCount / 2 - 1] + means[Self.groupCount / 2]) / 2
        } else {
            medianOfMeans = nil
        }
        largestCondition = nil
        let n = Double(values.count)
        let mean = values.reduce(0, +) / max(n, 1)
        // The spread relative to the largest value, so squares neither underflow (residuals
        // ~10⁻³⁰⁵ gave "± 0") nor overflow.
        let largest = values.reduce(0) { max($0, abs($1)) }
        let unit = largest > 0 && largest.isFinite ? largest : 1
        let scaledVariance = values.count > 1 ? values.reduce(0) { $0 + (($1 - mean) / unit) * (($1 - mean) / unit) } / (n - 1) : 0
        self.mean = values.isEmpty ? .nan : mean
        standardError = exhaustive ? 0 : unit * (scaledVariance / max(n, 1)).squareRoot()
        pairsUsed = values.count
        pairsSkipped = residuals.count - values.count
        self.exhaustive = exhaustive
        self.directEvaluations = directEvaluations
        self.exactEvaluations = exactEvaluations
        roundingError = roundingSum / max(n, 1)
    }
}

extension ModelPair {
    /// L_j(p, S): rows g_j(l) − g_j(p) for l ∈ S.
    static func pivotMatrix(_ g: Matrix, _ ps: PivotSubset) -> Matrix {
        Matrix(rows: ps.subset.count, columns: g.columns) { i, j in g[ps.subset[i], j] - g[ps.pivot, j] }
    }

    /// A_{p,S} = L₁⁻¹L₂ by LU, with L₁'s columns first brought near 1 by powers of two, D:
    /// A = D·(L₁D)⁻¹L₂. LU with partial pivoting scales exactly with D, but the reciprocal
    /// condition estimate that calls L₁ singular does not: a column of G 2³⁰ smaller than the
    /// others (F's 2³⁰ larger, the same model) made every L₁ "singular". Throws where the
    /// equilibrated L₁ is singular to within rounding. D brings each column's largest entry into
    /// [1, 2), as `PivotMoments.residuals`' LU path does: both judge the same matrix, so a pair
    /// that path solved is not called singular when recomputed here.
    static func pivotMap(_ g1: Matrix, _ g2: Matrix, _ ps: PivotSubset) throws -> Matrix {
        try conditionedPivotMap(g1, g2, ps).map
    }

    /// `pivotMap` with a condition number for its forward error: the equilibrated L₁D's 1-norm
    /// condition estimate (LAPACK's dgecon, from the LU at hand) times the spread of D, as A = D·Y
    /// scales the rows of Y = (L₁D)⁻¹L₂, whose error is about κ(L₁D)·u·‖Y‖.
    static func conditionedPivotMap(_ g1: Matrix, _ g2: Matrix, _ ps: PivotSubset) throws -> (map: Matrix, condition: Double) {
        let l1 = pivotMatrix(g1, ps)
        let exponents = Matrix.equilibration(norms: l1.columnMaxima)
        let lu = try ModelError.wrapping { try LUDecomposition(l1.scalingColumns(byPowersOfTwo: exponents)) }
        let x = try ModelError.wrapping { try lu.solve(pivotMatrix(g2, ps)) }
        let spread = Double(sign: .plus, exponent: (exponents.max() ?? 0) - (exponents.min() ?? 0), significand: 1)
        return (x.scaled(rows: exponents, columns: [Int](repeating: 0, count: x.columns)), spread / lu.reciprocalCondition)
    }

    /// The pairs a selection stands for (labels k, dimension d).
    public static func pivotSubsets(_ selection: PivotSelection, labelCount k: Int,
                                    dimension d: Int) throws -> (pairs: [PivotSubset], exhaustive: Bool) {
        switch selection {
        case let .explicit(list):
            for ps in list {
                guard (0..<k).contains(ps.pivot), ps.subset.count == d,
                      ps.subset.allSatisfy({ (0..<k).contains($0) && $0 != ps.pivot }),
                      Set(ps.subset).count == d else {
                    throw ModelError.shapeMismatch("pivot \(ps.pivot) with subset \(ps.subset) is not a pivot and \(d) distinct other labels among k = \(k)")
                }
            }
            return (list, false)
        case let .automatic(limit, pivots, subsets, seed):
            if Double(k) * binomial(k - 1, d) <= Double(limit) {
                var all: [PivotSubset] = []
                for p in 0..<k {
                    let others = (0..<k).filter { $0 != p }
                    forEachCombination(of: others.count, choose: d) { all.append(PivotSubset(pivot: p, subset: $0.map { others[$0] })) }
                }
                return (all, true)
            }
            return try pivotSubsets(.sampled(pivots: pivots, subsetsPerPivot: subsets, seed: seed), labelCount: k, dimension: d)
        case let .sampled(pivots, subsets, seed):
            guard pivots > 0, subsets > 0 else {
                throw ModelError.shapeMismatch("pivot sampling needs at least one pivot and one subset")
            }
            var g = SeededGenerator(seed: seed)
            var labels = Array(0..<k)
            for i in 0..<(k - 1) { labels.swapAt(i, g.int(in: i...(k - 1))) }
            var out: [PivotSubset] = []
            // A pivot with no more d-subsets than `subsets` gets each once (drawing them repeated
            // some: k = 142, d = 1 drew 200 of 141 subsets per pivot); every pivot, all of them.
            let listsSubsets = binomial(k - 1, d) <= Double(subsets)
            for p in labels.prefix(min(pivots, k)) {
                var others = (0..<k).filter { $0 != p }
                if listsSubsets {
                    forEachCombination(of: others.count, choose: d) { out.append(PivotSubset(pivot: p, subset: $0.map { others[$0] })) }
                    continue
                }
                for _ in 0..<subsets {
                    // Partial Fisher–Yates: the first d entries are a uniform d-subset.
                    for i in 0..<d {
                        others.swapAt(i, g.int(in: i...(others.count - 1)))
                    }
                    out.append(PivotSubset(pivot: p, subset: Array(others.prefix(d))))
                }
            }
            return (out, listsSubsets && pivots >= k)
        }
    }

    /// d_rep,pivot²: the mean over (p, S) of r(p, S) = E_x ‖f₁ − A_{p,S} f₂‖² with
    /// A_{p,S} = L₁⁻¹ L₂ (needs d₁ = d₂ = d and k ≥ d + 1).
    ///
    /// Moment form: with M₁₁ = F₁ᵀWF₁, M₂₁ = F₂ᵀWF₁, M₂₂ = F₂ᵀWF₂ formed once
    /// (O(N d²)), r = tr M₁₁ − 2 tr(A M₂₁) + tr(A M₂₂ Aᵀ) costs O(d³) per pair.
    /// It cancels when r ≪ tr M₁₁ (relative error ~ε·tr M₁₁ / r), so a pair whose
    /// moment value is below 1e−6·tr M₁₁ is recomputed from the residual: directly (O(N d²)),
    /// or where four or more cancel, from the rows' triangular factor (`PivotMoments.stackedFactor`,
    /// O(d³) a pair after one O(N d²) factorisation). Pairs whose L₁ is numerically singular (LAPACK's reciprocal
    /// condition below ε, with L₁'s columns equilibrated) are skipped and counted.
    ///
    /// `exactWhereCancelled` computes the cancelled pairs exactly instead (rational moments and
    /// maps, `ExactModelPair.pivotResidual`) where their count times d³ is within
    /// `exactCancelledBudget`: near-orbit pairs, whose residuals lie near the rounding of the
    /// embeddings, had means 19 % off (and 7·10⁻³¹ for an exact 0) in double precision. The
    /// caller says whether the exact level may form.
    public func pivotDissimilarity(_ selection: PivotSelection = .automatic(), exactWhereCancelled: Bool = false) throws -> PivotDissimilarity {
        let d = first.dimension
        guard second.dimension == d else {
            throw ModelError.pairMismatch("the pivot form needs equal dimensions, got d₁ = \(d), d₂ = \(second.dimension)")
        }
        guard first.labelCount >= d + 1 else {
            throw ModelError.shapeMismatch("the pivot form needs k ≥ d + 1 labels")
        }
        let values = try pivotResidualValues(selection, exactWhereCancelled: exactWhereCancelled)
        var result = PivotDissimilarity(values.residuals, exhaustive: values.exhaustive, directEvaluations: values.direct,
                                        exactEvaluations: values.exact, roundingSum: values.rounding)
        result.largestCondition = Self.largestPivotCondition(first.unembeddings, pairs: values.pairs, indices: result.largestIndices)
        return result
    }

    /// The largest cond(L₁(p, S)) over the given pairs (the pivot form's heavy tail); +∞ for a
    /// singular L₁, nil when none could be computed.
    package static func largestPivotCondition(_ g: Matrix, pairs: [PivotSubset], indices: [Int]) -> Double? {
        indices.compactMap { i -> Double? in
            guard let s = try? pivotMatrix(g, pairs[i]).singularValues(), let top = s.first, let bottom = s.last else { return nil }
            return bottom > 0 ? top / bottom : .infinity
        }.max()
    }

    /// The most cancelled pairs times d³ that `exactWhereCancelled` computes exactly: each pair
    /// takes about 0.2 µs·d³ (orbit pairs, d = 3 … 24: 10 µs to 2.8 ms), so about 2 s.
    public static let exactCancelledBudget = 1e7

    /// r(p, S) for each pair of the selection (nil where L₁(p, S) is singular), with the
    /// pairs, whether they are all of them, how many were recomputed from the residual, how
    /// many of those exactly, and the sum of the others' rounding estimates.
    package func pivotResidualValues(_ selection: PivotSelection, exactWhereCancelled: Bool = false) throws
        -> (pairs: [PivotSubset], residuals: [Double?], exhaustive: Bool, direct: Int, exact: Int, rounding: Double) {
        let (pairs, exhaustive) = try Self.pivotSubsets(selection, labelCount: first.labelCount, dimension: first.dimension)
        let moments = cache.value("pivotMoments") { PivotMoments(self) }
        let (values, onLUPath) = moments.residualsMarkingLUPath(pairs)
        let threshold = 1e-6 * moments.traceM11
        // One factorisation of the rows serves every cancelled pair where it costs less than their
        // direct residuals (about four of them): an orbit pair, where every pair cancels, spent
        // 16 s on 20 000 direct residuals at N = 80 000, d = 3, and O(N d²) more at every d.
        let cancelled = values.filter { $0.map { $0 < threshold } ?? false }.count
        let d = Double(first.dimension)
        let exactPair = exactWhereCancelled && cancelled > 0 && Double(cancelled) * d * d * d <= Self.exactCancelledBudget
            ? try? exact() : nil
        let factor = cancelled >= 4 && exactPair == nil ? moments.stackedFactor() : nil
        var direct = 0, exactCount = 0, rounding = 0.0
        // One pair's exact r, counted; `.some(nil)` where its L₁ is exactly singular, whether or
        // not the double LU solved it (skipped, as the double path skips numerically singular
        // pairs, and uncounted); nil where the exact path failed otherwise (the double path decides).
        func exactResidual(_ exact: ExactModelPair, _ ps: PivotSubset) -> Double?? {
            do {
                let value = try exact.pivotResidual(ps).doubleValue
                exactCount += 1
                return .some(value)
            } catch ModelError.numerics(.singular) {
                direct -= 1
                return .some(nil)
            } catch { return nil }
        }
        let residuals = try zip(pairs, values).map { ps, residual -> Double? in
            guard var r = residual else { return nil }
            if r < threshold {
                direct += 1
                if let exactPair, let value = exactResidual(exactPair, ps) { return value }
                let (map, condition) = try Self.conditionedPivotMap(first.unembeddings, second.unembeddings, ps)
                r = factor.map { PivotMoments.factorResidual($0, map) } ?? moments.directResidual(map)
                rounding += moments.roundingEstimate(residual: r, map: map, condition: condition)
            }
            return r
        }
        // Ill-conditioned maps: a pair whose A = L₁⁻¹L₂ carries an error κ·u·‖A‖ has a moment-form
        // value that need not cancel, yet is rounding (two labels 10⁻¹⁰ apart on a near-orbit pair:
        // three pairs of cond(L₁) ≈ 10¹² showed 1.8·10⁻⁸ for an exact 4.8·10⁻¹³, unflagged, stop 67's
        // second attack). Every pair the Gram path passed to the LU path (cond(L₁L₁ᵀ) beyond its
        // threshold) is checked, and the largest of the others, until ten in a row are accurate
        // to 10⁻⁶ by the estimate (an error inflates a value); those that are not are computed
        // exactly where allowed (within the budget), else their estimate is added.
        // (Only the moment form's own values: a cancelled pair recomputed above is not checked again.)
        var checked = residuals
        let momentForm: [(index: Int, value: Double)] = values.enumerated().compactMap { i, r in
            guard let r, !(r < threshold) else { return nil }
            return (i, r)
        }
        let luPairs = momentForm.filter { onLUPath[$0.index] }.map(\.index)
        let others = momentForm.filter { !onLUPath[$0.index] }.sorted { $0.value > $1.value }.map(\.index)
        let cube = d * d * d
        var exactBudget = exactWhereCancelled ? Self.exactCancelledBudget - Double(cancelled) * cube : 0
        // The Gram path's error grows as cond(L₁L₁ᵀ) = κ², the LU path's as κ.
        for (list, gram) in [(luPairs, false), (others, true)] {
            var accurate = 0
            for index in list {
                if gram && accurate >= 10 { break }
                let r = checked[index]!, ps = pairs[index]
                var estimate = Double.infinity
                var map: Matrix? = nil
                if let (solved, condition) = try? Self.conditionedPivotMap(first.unembeddings, second.unembeddings, ps) {
                    let kappa = gram ? condition * condition : condition
                    estimate = moments.roundingEstimate(residual: r, map: solved, condition: condition) + moments.momentFormRounding(map: solved, condition: kappa)
                    map = solved
                }
                // NaN counts as inaccurate; a pair singular to this solve is the worst conditioned.
                guard !(estimate <= 1e-6 * r) || map == nil else { accurate += 1; continue }
                accurate = 0
                direct += 1
                if exactBudget >= cube, let exact = try? exactPair ?? self.exact() {
                    exactBudget -= cube
                    if let value = exactResidual(exact, ps) { checked[index] = value; continue }
                }
                // Not solvable here: skipped as numerically singular, as the double path skips them.
                guard map != nil else { (checked[index], direct) = (nil, direct - 1); continue }
                rounding += estimate
            }
        }
        return (pairs, checked, exhaustive, direct, exactCount, rounding)
    }

    /// r(p, S) by the moment form for each pair, nil where L₁(p, S) is singular
    /// (no cancellation fallback: see `pivotDissimilarity`).
    public func pivotResiduals(_ pairs: [PivotSubset]) -> [Double?] {
        cache.value("pivotMoments") { PivotMoments(self) }.residuals(pairs)
    }

    /// r(p, S) for one pair by the direct path (the residual itself, O(N d²)):
    /// the reference's per-pair computation, kept as the accuracy baseline.
    public func pivotResidualDirect(_ ps: PivotSubset) throws -> Double {
        PivotMoments.direct(first, second, try Self.pivotMap(first.unembeddings, second.unembeddings, ps))
    }
}

/// The second moments the pivot form's O(d³) path needs.
///
/// Holds the two models (values), never the `ModelPair`: a memo stored in the
/// pair's cache that kept the pair would keep the cache, and so itself, alive.
struct PivotMoments {
    let first: SoftmaxModel, second: SoftmaxModel
    let m11: Matrix, m21: Matrix, m22: Matrix
    let traceM11: Double, traceM22: Double

    init(_ pair: ModelPair) {
        first = pair.first
        second = pair.second
        let f1 = pair.first.weightedEmbeddings, f2 = pair.second.weightedEmbeddings
        let m11 = f1.gram()
        let m22 = f2.gram()
        (self.m11, self.m22) = (m11, m22)
        m21 = f2.multiplied(by: f1, transposeSelf: true)
        traceM11 = (0..<m11.rows).reduce(0) { $0 + m11[$1, $1] }
        traceM22 = (0..<m22.rows).reduce(0) { $0 + m22[$1, $1] }
    }

    /// tr M₁₁ − 2 tr(A M₂₁) + tr(A M₂₂ Aᵀ) for the d×d map A.
    func residual(_ a: Matrix) -> Double {
        a.storage.withUnsafeBufferPointer { residual($0.baseAddress!) }
    }

    /// The same on a row-major d×d buffer, with no temporaries.
    func residual(_ a: UnsafePointer<Double>) -> Double {
        let d = m11.rows
        var cross = 0.0, quad = 0.0
        m21.storage.withUnsafeBufferPointer { m21 in
            m22.storage.withUnsafeBufferPointer { m22 in
                for i in 0..<d {
                    for j in 0..<d {
                        cross += a[i * d + j] * m21[j * d + i]
                        var am22 = 0.0
                        for l in 0..<d { am22 += a[i * d + l] * m22[l * d + j] }
                        quad += am22 * a[i * d + j]
                    }
                }
            }
        }
        return max(traceM11 - 2 * cross + quad, 0)
    }

    func directResidual(_ a: Matrix) -> Double { Self.direct(first, second, a) }

    /// r(p, S) for many pairs, nil where L₁(p, S) is singular (reciprocal condition
    /// below ε, its columns equilibrated), spread over both cores.
    ///
    /// Gram path: with J = L₁⁻¹ = L₁ᵀP, P = (L₁L₁ᵀ)⁻¹, and M₂₂ = RRᵀ,
    ///   r = tr M₁₁ − 2 Σ_ij P_ij (H L₁ᵀ)_ji + Σ_ij P_ij (UUᵀ)_ij,
    /// H = L₂M₂₁, U = L₂R; the d×d matrices L₁L₁ᵀ, HL₁ᵀ and UUᵀ are gathered from
    /// k×k tables (G₁G₁ᵀ, G₂M₂₁G₁ᵀ, G₂M₂₂G₂ᵀ, formed once) by double differences, so a
    /// pair costs one d×d Cholesky inverse (~d³ flops) instead of an LU and 2d
    /// right-hand sides (~4.7d³). L₁L₁ᵀ squares L₁'s condition number, so a pair
    /// whose L₁L₁ᵀ has reciprocal condition below 10⁻⁸·ρ (cond(L₁) above 10⁴ where the
    /// differences do not cancel; ρ measures how far they do) takes the LU path below
    /// instead, which also decides singularity. The tables come from G centred over the labels.
    ///
    /// LU path: H = L₂M₂₁ and U = L₂R as row differences of per-label images; one
    /// column-major LU and one solve with 2d right-hand sides: r = tr M₁₁ −
    /// 2 tr(L₁⁻¹H) + ‖L₁⁻¹U‖_F². Falls back to `residual(_:)` per pair when M₂₂ is
    /// not positive definite.
    func residuals(_ pairs: [PivotSubset]) -> [Double?] { residualsCountingLUPath(pairs).values }

    /// `residuals`, and how many pairs took the LU path (all of them when M₂₂ is not positive
    /// definite).
    func residualsCountingLUPath(_ pairs: [PivotSubset]) -> (values: [Double?], luPath: Int) {
        let all = residualsMarkingLUPath(pairs)
        return (all.values, all.onLUPath.filter { $0 }.count)
    }

    /// `residuals`, and which pairs the Gram path passed to the LU path as too ill-conditioned (none
    /// where the tables are off or M₂₂ is not positive definite, when every pair takes that path).
    func residualsMarkingLUPath(_ pairs: [PivotSubset]) -> (values: [Double?], onLUPath: [Bool]) {
        let d = m11.rows
        guard let root = try? CholeskyDecomposition(m22).l else {
            return (pairs.map { ps in (try? ModelPair.pivotMap(first.unembeddings, second.unembeddings, ps)).map(residual) },
                    [Bool](repeating: false, count: pairs.count))
        }
        // G with its label mean removed: L₁ and L₂ (rows g_l − g_p) do not change, and the
        // tables' double differences below cancel only down to the rows' spread, not to a
        // common offset's square.
        let g1 = first.centredUnembeddings, g2 = second.centredUnembeddings
        let h = g2.multiplied(by: m21), u = g2.multiplied(by: root)
        // The tables over the labels the pairs use (|U|×|U|, not k×k: at k = 10⁵ three k×k
        // tables would need 240 GB), and only when they fit in 2²⁴ entries each; otherwise
        // every pair takes the LU path.
        let used = Array(Set(pairs.flatMap { [$0.pivot] + $0.subset })).sorted()
        let tables = used.count * used.count <= 1 << 24
        var position = [Int](repeating: 0, count: g1.rows)
        for (i, l) in used.enumerated() { position[l] = i }
        let (g1u, hu, uu) = tables ? (g1.selectingRows(used), h.selectingRows(used), u.selectingRows(used)) : (Matrix(rows: 0, columns: d), Matrix(rows: 0, columns: d), Matrix(rows: 0, columns: d))
        let k1 = g1u.multiplied(by: g1u, transposeOther: true), q = hu.multiplied(by: g1u, transposeOther: true)
        let k2 = uu.multiplied(by: uu, transposeOther: true)
        let width = k1.columns
        let fixedPosition = position
        let out = UnsafeMutableBufferPointer<Double?>.allocate(capacity: pairs.count)
        defer { out.deallocate() }
        out.initialize(repeating: nil)
        let results = SendablePointer(out)
        let workers = pairs.count >= 256 ? BLASThreads.workers(forFlops: .infinity) : 1
        let marks = UnsafeMutableBufferPointer<Bool>.allocate(capacity: pairs.count)
        defer { marks.deallocate() }
        marks.initialize(repeating: false)
        let onLU = SendablePointer(marks)
        let trace = traceM11
        let work: @Sendable (Int) -> Void = { worker in
            var solver = ColumnMajorSolver(dimension: d)
            var inverter = PositiveDefiniteInverter(dimension: d)
            var a = [Double](repeating: 0, count: d * d), b = [Double](repeating: 0, count: 2 * d * d)
            var c = [Double](repeating: 0, count: d * d), exponents = [Int](repeating: 0, count: d)
            for index in stride(from: worker, to: pairs.count, by: workers) {
                let ps = pairs[index]
                // Gram path, on the tables' indices of the pair's labels.
                let p = fixedPosition[ps.pivot], s = ps.subset.map { fixedPosition[$0] }
                let gathered: Double? = !tables ? nil : k1.storage.withUnsafeBufferPointer { t1 in
                    q.storage.withUnsafeBufferPointer { tq in
                        k2.storage.withUnsafeBufferPointer { t2 in
                            // ρ = maxⱼ (‖g_sⱼ‖² + ‖g_p‖²)/‖g_sⱼ − g_p‖²: how far the double
                            // differences cancel (their rounding is about ε·ρ of what they give). The
                            // Gram path's error is about cond(L₁L₁ᵀ)·ρ·dε; above 10⁸·dε the pair takes
                            // the LU path (at d = 1, where cond is 1, nearly equal labels had put the
                            // pivot mean 6·10⁻⁸ off).
                            var spread = 1.0
                            for j in 0..<d {
                                let sj = s[j] * width
                                for i in 0...j { c[j * d + i] = t1[sj + s[i]] - t1[sj + p] - t1[p * width + s[i]] + t1[p * width + p] }
                                guard c[j * d + j] > 0 else { return nil }
                                spread = max(spread, (t1[sj + s[j]] + t1[p * width + p]) / c[j * d + j])
                            }
                            guard inverter.invert(&c, threshold: 1e-8 * spread) else { return nil }
                            // Symmetric P: off-diagonal terms twice (upper triangle stored).
                            var cross = 0.0, quadratic = 0.0
                            let qpp = tq[p * width + p], kpp = t2[p * width + p]
                            for j in 0..<d {
                                let sj = s[j] * width, pjRow = p * width
                                for i in 0...j {
                                    let si = s[i] * width, factor = i == j ? 1.0 : 2.0
                                    let pij = factor * c[j * d + i]
                                    // (HL₁ᵀ)_ji + (HL₁ᵀ)_ij over 2 for the symmetric pair of terms.
                                    let hji = tq[sj + s[i]] - tq[sj + p] - tq[pjRow + s[i]] + qpp
                                    let hij = tq[si + s[j]] - tq[si + p] - tq[pjRow + s[j]] + qpp
                                    cross += pij * (i == j ? hji : 0.5 * (hji + hij))
                                    quadratic += pij * (t2[sj + s[i]] - t2[sj + p] - t2[pjRow + s[i]] + kpp)
                                }
                            }
                            return max(trace - 2 * cross + quadratic, 0)
                        }
                    }
                }
                if let gathered {
                    results.buffer[index] = gathered
                    continue
                }
                // LU path, on the labels themselves.
                // Marked only where the Gram path found L₁L₁ᵀ too ill-conditioned (with the tables off
                // every pair comes here: none is marked, and the largest are checked instead).
                if tables { onLU.buffer[index] = true }
                let pivot = ps.pivot
                for (i, l) in ps.subset.enumerated() {
                    for j in 0..<d {
                        a[j * d + i] = g1[l, j] - g1[pivot, j]
                        b[j * d + i] = h[l, j] - h[pivot, j]
                        b[(d + j) * d + i] = u[l, j] - u[pivot, j]
                    }
                }
                // L₁'s columns (contiguous) brought near 1 by powers of two first (each column's
                // largest entry into [1, 2), as in `ModelPair.pivotMap`): L₁⁻¹B = D·(L₁D)⁻¹B, row i
                // of the solution times 2^eᵢ.
                for j in 0..<d {
                    var top = 0.0
                    for i in 0..<d { top = max(top, abs(a[j * d + i])) }
                    exponents[j] = top > 0 && top.isFinite ? -Int(top.exponent) : 0
                    for i in 0..<d where exponents[j] != 0 { a[j * d + i] = Double(sign: .plus, exponent: exponents[j], significand: a[j * d + i]) }
                }
                guard solver.solve(&a, &b, rightHandSides: 2 * d) else { continue }
                var cross = 0.0, quadratic = 0.0
                for i in 0..<d { cross += Double(sign: .plus, exponent: exponents[i], significand: b[i * d + i]) }
                for t in (d * d)..<(2 * d * d) {
                    let x = Double(sign: .plus, exponent: exponents[t % d], significand: b[t])
                    quadratic += x * x
                }
                results.buffer[index] = max(trace - 2 * cross + quadratic, 0)
            }
        }
        BLASThreads.concurrentWorkers(workers, work)
        return (Array(out), Array(marks))
    }

    /// R of X = W^{1/2}[F₁ | F₂] (2d×2d upper triangular, Householder QR with serial BLAS), for the
    /// pairs whose moment form cancels: r = ‖X[I; −Aᵀ]‖_F² = ‖R[I; −Aᵀ]‖_F², O(d³) a pair after one
    /// O(N d²) factorisation instead of the direct residual's O(N d²) a pair. As accurate as the
    /// direct path: X + ΔX = Q̂R with Q̂ orthonormal and ‖ΔX‖_F ≤ γ‖X‖_F (backward stability), so
    /// ‖Rv‖ is within γ‖X‖_F‖v‖₂ of ‖Xv‖, where the direct path forms Xv within γ_{2d}|X||v|
    /// (ModelFamilyTests checks both against exact r). nil where N < 2d (the direct path is as
    /// cheap there) or the factorisation fails.
    func stackedFactor() -> Matrix? {
        let d = m11.rows, f1 = first.weightedEmbeddings, f2 = second.weightedEmbeddings
        guard f1.rows >= 2 * d else { return nil }
        let x = Matrix(rows: f1.rows, columns: 2 * d) { i, j in j < d ? f1[i, j] : f2[i, j - d] }
        return try? QRDecomposition.triangularFactor(of: x)
    }

    /// An a priori estimate (not a certificate) of the rounding error of a cancelled pair's r
    /// recomputed in double precision, directly or from `stackedFactor`: the residual rows
    /// f₁ − Af₂ are formed within about e = u·(√(2d + 2)·‖X‖_F·‖[I; −Aᵀ]‖_F + κ·‖A‖_F·√tr M₂₂)
    /// in root mean square (the products' rounding, as for the factor route's backward error,
    /// X = W^{1/2}[F₁ | F₂], with √n for n terms as rounding errors accumulate in practice rather
    /// than n at worst; and A = L₁⁻¹L₂ solved by LU within about 2d·κ·u relative (κ·u alone fell 3.3
    /// times short at cond(L₁) ≈ 10¹², stop 67's second attack), κ the equilibrated
    /// L₁'s condition estimate from that LU: an SVD a pair had cost 27–57 % of an orbit pair's pivot form), so
    /// r is within about 2√r·e + e². Near-orbit pairs (r within a few ulps of tr M₁₁) have
    /// e ≳ √r: the value is rounding. On the stop-67 attack's near-orbit pairs (d = 3) it lay 28 to
    /// 200 times above the mean's error measured against exact r.
    func roundingEstimate(residual r: Double, map a: Matrix, condition kappa: Double) -> Double {
        let d = Double(m11.rows), u = Double.ulpOfOne / 2, trace22 = traceM22
        let mapNorm = a.frobeniusNormSquared.squareRoot()
        let e = u * ((2 * d + 2).squareRoot() * (traceM11 + trace22).squareRoot() * (d + mapNorm * mapNorm).squareRoot()
                     + 2 * d * kappa * mapNorm * trace22.squareRoot())
        // A condition beyond the Double range: nothing is known of r's digits.
        guard e.isFinite else { return .infinity }
        return 2 * r.squareRoot() * e + e * e
    }

    /// The moment form's own rounding: tr M₁₁ − 2 tr(L₁⁻¹H) + ‖L₁⁻¹U‖_F², each trace solved within
    /// about κ·u relative (κ = cond(L₁)) and formed in double precision, cancels to r from terms of
    /// size (√tr M₁₁ + ‖A‖_F·√tr M₂₂)²: about u·(2d + 2)·max(κ, 1) times that (an estimate, as
    /// `roundingEstimate`; without κ it fell 3.7 times short at cond(L₁) ≈ 10¹²).
    func momentFormRounding(map a: Matrix, condition kappa: Double) -> Double {
        let d = Double(m11.rows)
        let root = traceM11.squareRoot() + a.frobeniusNormSquared.squareRoot() * traceM22.squareRoot()
        return Double.ulpOfOne / 2 * (2 * d + 2) * max(kappa, 1) * root * root
    }

    /// ‖R₁ − R₂Aᵀ‖_F², R = [R₁ | R₂] from `stackedFactor`.
    static func factorResidual(_ r: Matrix, _ a: Matrix) -> Double {
        let d = a.rows
        return (r.selectingColumns(Array(0..<d)) - r.selectingColumns(Array(d..<(2 * d))).multiplied(by: a, transposeOther: true)).frobeniusNormSquared
    }

    static func direct(_ first: SoftmaxModel, _ second: SoftmaxModel, _ a: Matrix) -> Double {
        let residual = first.embeddings - second.embeddings.multiplied(by: a, transposeOther: true)
        return residual.scalingRows(by: first.sqrtWeights).frobeniusNormSquared
    }
}

/// C(n, r) as a Double (exact below 2⁵³).
func binomial(_ n: Int, _ r: Int) -> Double {
    guard r >= 0, r <= n else { return 0 }
    var c = 1.0
    for i in 0..<min(r, n - r) { c = c * Double(n - i) / Double(i + 1) }
    return c.rounded()
}

/// Calls body with each r-subset of 0..<n, as increasing index arrays, in
/// lexicographic order.
func forEachCombination(of n: Int, choose r: Int, _ body: ([Int]) -> Void) {
    guard r <= n else { return }
    var c = Array(0..<r)
    while true {
        body(c)
        var i = r - 1
        while i >= 0 && c[i] == n - r + i { i -= 1 }
        if i < 0 { return }
        c[i] += 1
        for j in (i + 1)..<r { c[j] = c[j - 1] + 1 }
    }
}
