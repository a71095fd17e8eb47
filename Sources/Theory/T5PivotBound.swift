import Numerics

/// T5, the pivot-form bounds (Proofs/T5-pivot-bounds.md). With δ = Λ̃₁ − Λ̃₂:
/// - `.subsetSum`: r(p,S) ≤ σ_min(L₁)⁻² E_x Σ_{l∈S}(δ_l − δ_p)² for each pair;
/// - `.allLabels`: r(p,S) ≤ k σ_min(L₁)⁻² d_logit² for each pair;
/// - `.averaged`: mean over all (p,S) of r ≤ κ (2d/(k−1)) d_logit²,
///   κ = max_{p,S} σ_min(L₁(p,S))⁻² (every pair enumerated; needs d₁ = d₂).
///
/// The per-pair forms scan the pairs of `selection` and report the pair with the
/// largest ratio lhs/rhs; `certify` decides that pair exactly.
public struct T5PivotBound: PairStatement {
    public enum Form: String, Sendable, CaseIterable { case subsetSum, allLabels, averaged }

    public let id = StatementID.T5
    public let variant: Form
    public let constantScale: Double
    public let selection: PivotSelection
    /// Beyond this many pairs the averaged form is not certified (left undecided).
    public let exactPairLimit: Int
    /// Beyond this many pairs k·C(k−1, d) the averaged form is not evaluated at all
    /// (reported inapplicable, with the count).
    public let enumerationLimit: Int

    public init(_ variant: Form, constantScale: Double = 1,
                selection: PivotSelection = .automatic(limit: 2000, pivots: 10, subsetsPerPivot: 20),
                exactPairLimit: Int = 400, enumerationLimit: Int = 20_000) {
        self.variant = variant
        self.constantScale = constantScale
        self.selection = selection
        self.exactPairLimit = exactPairLimit
        self.enumerationLimit = enumerationLimit
    }

    public var form: String {
        switch variant {
        case .subsetSum: return "r(p,S) ≤ σ_min(L₁)⁻² E_x Σ_{l∈S}(δ_l − δ_p)²"
        case .allLabels: return "r(p,S) ≤ k σ_min(L₁)⁻² d_logit²"
        case .averaged: return "mean_{p,S} r(p,S) ≤ κ (2d/(k−1)) d_logit²"
        }
    }

    /// One pair's double-precision terms, and what the worst pair is chosen by: the logarithms
    /// of r(p,S)·σ_min(L₁)² and of the subset sum, taken from the logarithms of the factors (no
    /// product that leaves the Double range) and, where the terms of one scan come from a
    /// balanced pair (`balanced`), on its scale, the same for every pair of the scan, so they
    /// rank pairs whose r and σ_min² lie beyond the Double range.
    package struct PairTerms {
        package let pair: PivotSubset
        package let residual: Double
        package let sigmaMin: Double
        package let logitSum: Double
        let logRankingProduct: Double
        let logRankingLogitSum: Double

        package init(pair: PivotSubset, residual: Double, sigmaMin: Double, logitSum: Double) {
            (self.pair, self.residual, self.sigmaMin, self.logitSum) = (pair, residual, sigmaMin, logitSum)
            (logRankingProduct, logRankingLogitSum) = (residual.log + 2 * sigmaMin.log, logitSum.log)
        }

        /// r(p,S), σ_min(L₁) and the subset sum all normal numbers.
        var isNormal: Bool { residual.isNormal && sigmaMin.isNormal && logitSum.isNormal }

        /// Terms of the balanced pair (`balanced`) on the original pair's scale; the ranking
        /// keys stay on the balanced scale.
        init(balanced t: PairTerms, _ b: Balance) {
            (pair, logRankingProduct, logRankingLogitSum) = (t.pair, t.logRankingProduct, t.logRankingLogitSum)
            residual = Double(sign: .plus, exponent: -2 * b.embedding, significand: t.residual)
            sigmaMin = Double(sign: .plus, exponent: -b.unembedding, significand: t.sigmaMin)
            logitSum = Double(sign: .plus, exponent: -2 * b.logit, significand: t.logitSum)
        }
    }

    /// The powers of two that multiply the first model's f, g and logits in `balanced`.
    package struct Balance: Sendable { package let embedding: Int, unembedding: Int, logit: Int }

    /// Where an entry of either model lies beyond 2^±100: the pair with F₁, G₁ and F₂ brought
    /// near 1 by powers of two and G₂ by the power that scales the second model's logits by
    /// 2^(a+c), as the first model's. With F₁·2^a, G₁·2^c, F₂·2^b, G₂·2^(a+c−b), L₁ scales by
    /// 2^c and L₂ by 2^(a+c−b), so A(p,S) = L₁⁻¹L₂ by 2^(a−b) and f₁ − A f₂ by 2^a: r(p,S) by
    /// 2^2a, σ_min(L₁)² by 2^2c, both per-pair keys by 2^2(a+c) on every pair and the subset sum
    /// by the same. nil where nothing lies out of range or a scaled entry would be infinite.
    /// Formed once per pair (T5 and the pivot form share it).
    package static func balanced(_ pair: ModelPair) -> (pair: ModelPair, balance: Balance)? {
        guard pair.entriesBeyondNormalScale else { return nil }
        return pair.cache.value("balancedPair") { balancing(pair) }
    }

    static func balancing(_ pair: ModelPair) -> (pair: ModelPair, balance: Balance)? {
        func exponent(_ m: Matrix) -> Int { let top = m.maxAbs; return top > 0 && top.isFinite ? Int(top.exponent) : 0 }
        let (a, c, b) = (-exponent(pair.first.embeddings), -exponent(pair.first.unembeddings), -exponent(pair.second.embeddings))
        let scaled = try? ModelPair(
            SoftmaxModel(embeddings: pair.first.embeddings.scaled(byPowerOfTwo: a), unembeddings: pair.first.unembeddings.scaled(byPowerOfTwo: c),
                         weightsOf: pair.first),
            SoftmaxModel(embeddings: pair.second.embeddings.scaled(byPowerOfTwo: b),
                         unembeddings: pair.second.unembeddings.scaled(byPowerOfTwo: a + c - b), weightsOf: pair.first))
        scaled?.inheritWithholding(from: pair)
        return scaled.map { ($0, Balance(embedding: a, unembedding: c, logit: a + c)) }
    }

    func applicability(_ pair: ModelPair) -> String? {
        let d = pair.first.dimension, k = pair.first.labelCount
        if pair.second.dimension != d { return "the pivot form needs d₁ = d₂" }
        if k < d + 1 { return "the pivot form needs k ≥ d + 1" }
        let count = Double(k) * binomial(k - 1, d)
        if variant == .averaged && count > Double(enumerationLimit) {
            return "the averaged form needs all \(count) pivot pairs, above the enumeration limit \(enumerationLimit)"
        }
        return nil
    }

    /// The terms on the pair as given, or, where some leave the normal range (models scaled
    /// apart), on the balanced pair when fewer of its terms do. Balancing is not always better:
    /// with the teacher's F alone near 2⁻⁵¹⁰ (its logits far below the student's), r is
    /// dominated by A f₂, and bringing F₁ near 1 scales the student's logits up by 2⁵¹⁰ until r
    /// overflows.
    package func terms(_ pair: ModelPair, _ chosen: [PivotSubset]) -> (terms: [PairTerms], skipped: Int) {
        let plain = unbalancedTerms(pair, chosen)
        let outside = plain.terms.count { !$0.isNormal }
        guard outside > 0, let (scaled, balance) = Self.balanced(pair) else { return plain }
        let (terms, skipped) = unbalancedTerms(scaled, chosen)
        return terms.count { !$0.isNormal } < outside ? (terms.map { PairTerms(balanced: $0, balance) }, skipped) : plain
    }

    func unbalancedTerms(_ pair: ModelPair, _ chosen: [PivotSubset]) -> (terms: [PairTerms], skipped: Int) {
        let d = pair.first.dimension
        let moments = pair.cache.value("pivotMoments") { PivotMoments(pair) }
        let logitSums = logitDifferenceSums(pair, chosen)
        var out: [PairTerms] = []
        var skipped = 0
        // Tiny d×d systems in preallocated buffers: Jacobi SVD of L₁ (L₁ counts as
        // singular when σ_min ≤ ε·σ_max), an in-place Gaussian solve for A = L₁⁻¹L₂,
        // and r from the moments; no LAPACK call and no temporaries per pair.
        let g1 = pair.first.unembeddings.storage, g2 = pair.second.unembeddings.storage
        var l1 = [Double](repeating: 0, count: d * d), lu = l1, a = l1, columns = l1
        var norms = [Double](repeating: 0, count: d), lanes = [SIMD8<Double>](repeating: SIMD8(), count: d)
        // Jacobi runs on L₁ scaled by a power of two bringing G₁'s largest entry near 1 when
        // it is beyond 2^±100 (`outOfRangeExponent`; exact; σ scaled back after): its squared
        // column norms and their products
        // overflowed for |G| ≳ 10⁷⁷ (a wrong worst pair) and 10¹⁵⁴ (every L₁ "singular").
        let exponent = pair.first.unembeddings.outOfRangeExponent
        // (top, bottom) σ of L₁ (in l1) by one-sided Jacobi, each column of L₁ first scaled by
        // the power of two in `columnExponents` (none: by 2^−exponent alone). L₁'s columns go to
        // SIMD8 lanes (zero-padded) when d ≤ 8, else to a column-major copy.
        func jacobi(columnExponents: [Int]?) -> (top: Double, bottom: Double) {
            for i in 0..<d {
                for j in 0..<d {
                    let scaled = Double(sign: .plus, exponent: columnExponents?[j] ?? -exponent, significand: l1[i * d + j])
                    if d <= 8 { lanes[j][i] = scaled } else { columns[j * d + i] = scaled }
                }
            }
            if d <= 8 {
                SmallMatrixKernels.jacobiColumnNorms(&lanes, rows: d, norms: &norms)
            } else {
                SmallMatrixKernels.jacobiColumnNorms(&columns, rows: d, columns: d, norms: &norms)
            }
            return (norms.max()!.squareRoot(), norms.min()!.squareRoot())
        }
        for (index, ps) in chosen.enumerated() {
            for (i, l) in ps.subset.enumerated() {
                for j in 0..<d {
                    l1[i * d + j] = g1[l * d + j] - g1[ps.pivot * d + j]
                    a[i * d + j] = g2[l * d + j] - g2[ps.pivot * d + j]
                }
            }
            let (top, scaledBottom) = jacobi(columnExponents: nil)
            // One-sided Jacobi's σ are accurate relative to themselves up to about ε·κ of L₁ with
            // its columns equilibrated (its stopping test is relative), so singularity is judged
            // there: a column of G 2⁶⁰ smaller than the others (F's 2⁶⁰ larger, the same logits)
            // leaves L₁ well conditioned but for that scale, where ε·σ_max called it singular.
            let nonsingular = scaledBottom > Double.ulpOfOne * top || {
                let equilibrated = jacobi(columnExponents: try! Matrix(rows: d, columns: d, storage: l1).columnEquilibration)
                return equilibrated.bottom > Double.ulpOfOne * equilibrated.top
            }()
            guard nonsingular else { skipped += 1; continue }
            let bottom = exponent == 0 ? scaledBottom : Double(sign: .plus, exponent: exponent, significand: scaledBottom)
            lu = l1
            SmallMatrixKernels.solveInPlace(&lu, d, &a, d)
            var r = moments.residual(a)
            if r < 1e-6 * moments.traceM11 { r = moments.directResidual(try! Matrix(rows: d, columns: d, storage: a)) }
            out.append(PairTerms(pair: ps, residual: r, sigmaMin: bottom, logitSum: logitSums[index]))
        }
        return (out, skipped)
    }

    /// E_x Σ_{l∈S}(δ_l − δ_p)² for each pair, δ = Λ̃₁ − Λ̃₂, summed over the blocks of logit
    /// differences: O(N·Σ|S|) and nothing k×k (the k×k Gram δᵀWδ it replaces needed 80 GB at
    /// k = 10⁵), and no cancellation.
    func logitDifferenceSums(_ pair: ModelPair, _ chosen: [PivotSubset]) -> [Double] {
        var sums = [Double](repeating: 0, count: chosen.count)
        let w = pair.weights
        pair.forEachLogitDifferenceBlock { range, delta in
            let k = delta.columns
            delta.storage.withUnsafeBufferPointer { x in
                for (r, i) in range.enumerated() {
                    let row = r * k
                    for (index, ps) in chosen.enumerated() {
                        let p = x[row + ps.pivot]
                        var s = 0.0
                        for l in ps.subset { s += (x[row + l] - p) * (x[row + l] - p) }
                        sums[index] += w[i] * s
                    }
                }
            }
        }
        return sums
    }

    func perPairRHS(_ t: PairTerms, k: Int, logitDistanceSquared: Double) -> Double {
        let c = constantScale / (t.sigmaMin * t.sigmaMin)
        return variant == .subsetSum ? c * t.logitSum : c * Double(k) * logitDistanceSquared
    }

    /// The per-pair terms, memoised per pair and selection.
    package func cachedTerms(_ pair: ModelPair, exhaustive: Bool) throws -> (terms: [PairTerms], skipped: Int) {
        let (chosen, isAll) = try ModelPair.pivotSubsets(exhaustive ? .automatic(limit: .max) : selection,
                                                         labelCount: pair.first.labelCount, dimension: pair.first.dimension)
        // A selection that resolves to every pair shares the exhaustive scan.
        return pair.cache.value(isAll ? "T5terms.all" : "T5terms." + selection.cacheKey) { terms(pair, chosen) }
    }

    /// The screen's hypotheses without its Double d_logit² (the logit pass the certificates
    /// do not need): the shapes, and the pivot matrices' terms (which the fast certificate
    /// reads next).
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? {
        if let reason = applicability(pair) { return .inapplicable(id, form, level: .double, reason) }
        if variant == .averaged {
            let (all, skipped) = try cachedTerms(pair, exhaustive: true)
            guard skipped == 0, !all.isEmpty else {
                return .inapplicable(id, form, level: .double, "\(skipped) pivot matrices L₁(p,S) are singular to Double precision, so κ = ∞")
            }
            return nil
        }
        return try cachedTerms(pair, exhaustive: false).terms.isEmpty ? Self.everyPivotSingular(id, form) : nil
    }

    static func everyPivotSingular(_ id: StatementID, _ form: String) -> Verdict {
        .inapplicable(id, form, level: .double, "every pivot matrix L₁(p,S) is singular to Double precision (σ_min within rounding of 0)")
    }

    public func screen(_ pair: ModelPair) throws -> Verdict {
        if let inapplicable = try inapplicability(pair) { return inapplicable }
        let k = pair.first.labelCount, d = pair.first.dimension
        let dl2 = try pair.logitDistanceSquared()
        if variant == .averaged {
            let (all, _) = try cachedTerms(pair, exhaustive: true)
            let lhs = all.reduce(0) { $0 + $1.residual } / Double(all.count)
            let kappa = all.map { 1 / ($0.sigmaMin * $0.sigmaMin) }.max()!
            let c = constantScale * kappa * 2 * Double(d) / Double(k - 1)
            let rhs = c * dl2
            return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated, lhs: lhs,
                           rhs: rhs, constant: c, constantName: "\(constantScale)·κ·2d/(k−1) over \(all.count) pairs")
        }
        return verdict(terms: try cachedTerms(pair, exhaustive: false).terms, labels: k, logitDistanceSquared: dl2)
    }

    /// The per-pair screen's verdict from its terms (also used by merged shard statistics).
    package func verdict(terms all: [PairTerms], labels k: Int, logitDistanceSquared dl2: Double) -> Verdict {
        guard let worst = worstPair(all, labels: k, logitDistanceSquared: dl2) else { return Self.everyPivotSingular(id, form) }
        let rhs = perPairRHS(worst, k: k, logitDistanceSquared: dl2)
        return Verdict(id: id, form: form, level: .double, outcome: worst.residual <= rhs ? .holds : .violated,
                       lhs: worst.residual, rhs: rhs, constant: constantScale / (worst.sigmaMin * worst.sigmaMin),
                       constantName: "\(constantScale)/σ_min(L₁)² at the worst of \(all.count) pairs: \(describe(worst.pair))")
    }

    /// The key the worst pair is chosen by: log(lhs/rhs) less the factors common to every pair (the
    /// constant, and for `.allLabels` with d_logit² > 0 k·d_logit², so the screen, the certificate
    /// and the fast level, which passes 1 for a d_logit² it proves positive, pick the same pair);
    /// +∞ where only the right side is 0, and where the key is not a number (0·∞ in a side: such
    /// a pair is the one to decide exactly); −∞ where both sides are 0.
    func rankingKey(_ t: PairTerms, _ k: Int, _ dl2: Double) -> Double {
        let logDenominator = variant == .subsetSum ? t.logRankingLogitSum : dl2 > 0 ? 0 : (Double(k) * dl2).log
        let key = logDenominator == -.infinity ? (t.logRankingProduct == -.infinity ? -.infinity : .infinity)
            : t.logRankingProduct - logDenominator
        return key.isNaN ? .infinity : key
    }

    /// "p = 3, S = [0, 5]" (from integers: an array's reflective description is slow).
    func describe(_ ps: PivotSubset) -> String { "p = \(ps.pivot), S = [" + ps.subset.map(String.init).joined(separator: ", ") + "]" }

    public func certify(_ pair: ModelPair) throws -> Verdict {
        if let reason = applicability(pair) { return .inapplicable(id, form, level: .exact, reason) }
        let k = pair.first.labelCount, d = pair.first.dimension
        let exact = try ExactModelPair(pair)
        let dl2 = pair.exactLogitDistanceSquared()
        let scale = SigmaCertificate.exact(constantScale)
        if variant == .averaged { return try certifyAveraged(pair, exact, k: k, d: d) }
        let (all, _) = try cachedTerms(pair, exhaustive: false)
        guard let worst = worstPair(all, labels: k, logitDistanceSquared: dl2.doubleValue) else {
            return .inapplicable(id, form, level: .exact, "every pivot matrix L₁(p,S) is singular")
        }
        let l1 = exact.firstPivotMatrix(worst.pair)
        let gram = l1.weightedGram()
        guard try gram.isPositiveDefinite() else {
            return .inapplicable(id, form, level: .exact, "L₁(\(describe(worst.pair))) is exactly singular")
        }
        let lhs = try exact.pivotResidual(worst.pair)
        let numerator = variant == .subsetSum ? scale * pair.exactPivotLogitSum(worst.pair) : scale * Rational(k) * dl2
        let (outcome, why) = try SigmaCertificate.decide(lhs: lhs, numerator: numerator, gram: gram, matrixName: "L₁")
        let rhs = numerator.doubleValue / (worst.sigmaMin * worst.sigmaMin)
        return Verdict(id: id, form: form, level: .exact, outcome: outcome, lhs: lhs.doubleValue, rhs: rhs,
                       constant: constantScale / (worst.sigmaMin * worst.sigmaMin),
                       constantName: "\(constantScale)/σ_min(L₁)² at \(describe(worst.pair))",
                       exactLHS: lhs.exactString, certificate: why, lhsLog10: lhs.log10Magnitude,
                       rhsLog10: numerator.log10Magnitude - 2 * worst.sigmaMin.log / Double.ln10)
    }

    /// "holds" from fast enclosures (Proofs/certificates.md §6): A_{p,S} = L₁⁻¹L₂ by a
    /// verified solve (which proves L₁ nonsingular), r(p,S) enclosed, σ_min(L₁)² bounded
    /// above by a Rayleigh quotient. The per-pair forms decide the screen's worst pair (as
    /// `certify` does), at any size: r(p, S) and the subset sum E‖L₁f₁ − L₂f₂‖² (= E Σ_{l∈S}(δ_l − δ_p)²,
    /// the shift cancels) from the rows or the enclosed moments, d_logit² from the streamed
    /// pass. The averaged form decides every pair, its mean r against κ ≥ 1/σ² at the pair
    /// with the smallest σ_min, while the enclosed logits fit. nil (escalate) when not decided.
    public func fastCertify(_ pair: ModelPair) throws -> Verdict? {
        guard applicability(pair) == nil else { return nil }
        let k = pair.first.labelCount, d = pair.first.dimension, scale = FastInterval(constantScale)
        // d_logit² = 0 exactly (exact orbit pairs): every form's right side is 0 (the subset sum
        // too: δ is constant along each row), which no enclosure of r meets from below; `certify`
        // decides the equality.
        if pair.logitDistanceIsExactlyZero { return nil }
        if variant == .averaged {
            guard let distance = pair.fastLogitDistanceSquared() else { return nil }
            let (all, skipped) = try cachedTerms(pair, exhaustive: true)
            guard skipped == 0, let smallest = all.min(by: { $0.sigmaMin < $1.sigmaMin }),
                  let (_, sigmaSquared) = fastPivotMap(pair, smallest.pair),
                  sigmaSquared > 0 else { return nil }
            let moments = pair.fastEmbeddingMoments()
            var maps: [FastIntervalMatrix] = []
            for t in all {
                guard let (a, _) = fastPivotMap(pair, t.pair, sigma: false) else { return nil }
                maps.append(a)
            }
            let top = (scale * FastInterval(Double(2 * d)) / FastInterval(Double(k - 1)) * distance).lo
            let rhs = FastInterval(lo: (top / sigmaSquared).nextDown, hi: .infinity)
            let count = FastInterval(Double(all.count))
            // The moment form first (O(d³) per pair); where its cancellation leaves the sides
            // overlapping, the direct form (O(N d²) per pair).
            for direct in [false, true] {
                let lhs = FastInterval.sum(maps.map {
                    direct ? pair.fastMeanSquaredDifferenceFromRows(first: nil, second: $0) : moments.residual(map: $0)
                }) / count
                if let v = Verdict.fast(id, form, lhs: lhs, rhs: rhs, constant: constantScale * 2 * Double(d) / (Double(k - 1) * sigmaSquared),
                                        constantName: "\(constantScale)·κ·2d/(k−1), κ ≥ 1/σ² at \(describe(smallest.pair)), over \(all.count) pairs") {
                    return v
                }
            }
            return nil
        }
        let (all, _) = try cachedTerms(pair, exhaustive: false)
        // The worst pair's ratio r/(c·k·d_logit²) ranks pairs alike for every d_logit² > 0: where
        // the fast enclosure proves it positive, 1 stands in for the Double logit pass.
        let rankingDistance = (pair.fastLogitDistanceSquared()?.lo ?? 0) > 0 ? 1 : try pair.logitDistanceSquared()
        guard let worst = worstPair(all, labels: k, logitDistanceSquared: rankingDistance) else { return nil }
        let (l1, l2) = Self.fastPivotMatrices(pair, worst.pair)
        // The two per-pair forms often pick the same worst pair: A, σ² and r once for both.
        let pieces = pair.cache.value("T5fast.\(describe(worst.pair))") {
            Self.fastPivotPieces(l1, l2) { pair.fastMeanSquaredDifference(first: nil, second: $0) }
        }
        return fastVerdict(at: worst.pair, pieces, labels: k, logitDistanceSquared: pair.fastLogitDistanceSquared()) {
            pair.fastMeanSquaredDifference(first: l1, second: l2)
        }
    }

    /// The per-pair forms from d×d statistics alone (a merge of shards):
    /// the screen's worst pair of `terms`, L₁ and L₂ from `unembedding(model, label, column)` (G₁: 0, G₂: 1),
    /// r(p, S) and the subset sum in their moment forms. nil (escalate) when not decided.
    package func fastVerdict(_ s: FastMomentStatistics, terms: [PairTerms], logitDistanceSquared dl2: Double,
                            unembedding: (_ model: Int, _ label: Int, _ column: Int) -> Double) -> Verdict? {
        guard variant != .averaged, s.firstDimension == s.secondDimension,
              let worst = worstPair(terms, labels: s.labels, logitDistanceSquared: dl2) else { return nil }
        let (l1, l2) = Self.fastPivotMatrices(worst.pair, columns: s.firstDimension, unembedding: unembedding)
        guard let pieces = Self.fastPivotPieces(l1, l2, residual: { s.moments.meanSquaredDifference(first: nil, second: $0) }) else { return nil }
        return fastVerdict(at: worst.pair, pieces, labels: s.labels, logitDistanceSquared: s.logitDistanceSquared) {
            s.moments.meanSquaredDifference(first: l1, second: l2)
        }
    }

    /// What both per-pair forms need at one pair: σ² ≥ σ_min(L₁)² and r = E‖f₁ − A f₂‖² with
    /// A_{p,S} = L₁⁻¹L₂ by a verified solve (so L₁ is nonsingular).
    struct FastPivotPieces: Sendable {
        let sigmaSquared: Double
        let residual: FastInterval
    }

    /// The pieces from enclosed L₁ and L₂, r by `residual(A)`; nil when L₁ is not shown
    /// nonsingular or σ² is not positive.
    static func fastPivotPieces(_ l1: FastIntervalMatrix, _ l2: FastIntervalMatrix,
                                residual: (FastIntervalMatrix) -> FastInterval) -> FastPivotPieces? {
        guard let a = l1.solving(l2) else { return nil }
        let sigmaSquared = fastSmallestEigenvalueUpper(l1.transposeMultiplied(by: l1))
        guard sigmaSquared > 0 else { return nil }
        return FastPivotPieces(sigmaSquared: sigmaSquared, residual: residual(a))
    }

    /// The per-pair forms at pair `ps` from its pieces; the subset sum E‖L₁f₁ − L₂f₂‖² from
    /// `subsetSum` (asked only by that form). nil when the pieces are missing or the sides overlap.
    func fastVerdict(at ps: PivotSubset, _ pieces: FastPivotPieces?, labels k: Int, logitDistanceSquared distance: FastInterval?,
                     subsetSum: () -> FastInterval) -> Verdict? {
        guard let pieces else { return nil }
        let numerator: FastInterval
        switch variant {
        case .subsetSum: numerator = subsetSum()
        case .allLabels:
            guard let distance else { return nil }
            numerator = FastInterval(Double(k)) * distance
        case .averaged: return nil
        }
        let top = (FastInterval(constantScale) * numerator).lo, sigmaSquared = pieces.sigmaSquared
        return Verdict.fast(id, form, lhs: pieces.residual, rhs: FastInterval(lo: (top / sigmaSquared).nextDown, hi: .infinity),
                            constant: constantScale / sigmaSquared,
                            constantName: "\(constantScale)/σ², σ² ≥ σ_min(L₁)² at \(describe(ps))")
    }

    /// The screen's worst pair: the largest ratio lhs/rhs.
    package func worstPair(_ all: [PairTerms], labels k: Int, logitDistanceSquared dl2: Double) -> PairTerms? {
        all.max(by: { rankingKey($0, k, dl2) < rankingKey($1, k, dl2) })
    }

    /// L₁ = G₁[S] − 1 G₁[p] and L₂ likewise, enclosed; `unembedding(model, label, column)` reads
    /// G₁ (model 0) and G₂ (model 1).
    static func fastPivotMatrices(_ ps: PivotSubset, columns d: Int, unembedding: (Int, Int, Int) -> Double)
        -> (FastIntervalMatrix, FastIntervalMatrix) {
        func pivotMatrix(_ model: Int) -> FastIntervalMatrix {
            FastIntervalMatrix(rows: ps.subset.count, columns: d) { i, j in
                FastInterval(unembedding(model, ps.subset[i], j)) - FastInterval(unembedding(model, ps.pivot, j))
            }
        }
        return (pivotMatrix(0), pivotMatrix(1))
    }

    /// L₁ and L₂ of a pair's models at `ps`, enclosed.
    static func fastPivotMatrices(_ pair: ModelPair, _ ps: PivotSubset) -> (FastIntervalMatrix, FastIntervalMatrix) {
        fastPivotMatrices(ps, columns: pair.first.dimension) { ($0 == 0 ? pair.first : pair.second).unembeddings[$1, $2] }
    }

    /// A_{p,S} = L₁⁻¹L₂ enclosed and an upper bound on σ_min(L₁)²; nil when L₁ is not shown nonsingular.
    func fastPivotMap(_ pair: ModelPair, _ ps: PivotSubset, sigma: Bool = true) -> (FastIntervalMatrix, Double)? {
        let (l1, l2) = Self.fastPivotMatrices(pair, ps)
        guard let a = l1.solving(l2) else { return nil }
        return (a, sigma ? fastSmallestEigenvalueUpper(l1.transposeMultiplied(by: l1)) : .infinity)
    }

    /// Whether every L₁(p, S) of `terms` is nonsingular (κ < ∞), shown by fast enclosure where it
    /// can and decided exactly where it cannot (the screen's Double count of singular ones is not a proof).
    func everyPivotMatrixNonsingular(_ pair: ModelPair, _ exact: ExactModelPair, _ terms: [PairTerms]) throws -> Bool {
        for t in terms {
            let (l1, _) = Self.fastPivotMatrices(pair, t.pair)
            if l1.isProvenNonsingular { continue }
            guard try exact.firstPivotMatrix(t.pair).weightedGram().isPositiveDefinite() else { return false }
        }
        return true
    }

    /// lhs ≤ κ c D holds iff σ_min(L₁(p,S))² ≤ t = c D / lhs for some pair, since
    /// κ is the largest σ_min⁻²; each candidate is decided by exact inertia.
    func certifyAveraged(_ pair: ModelPair, _ exact: ExactModelPair, k: Int, d: Int) throws -> Verdict {
        let (all, skipped) = try cachedTerms(pair, exhaustive: true)
        guard skipped == 0, !all.isEmpty else {
            return .inapplicable(id, form, level: .exact, "some pivot matrix is singular, so κ = ∞")
        }
        // Equal conditionals, exactly: when G̃₂ = G̃₁A and d_rep² = 0 for A = G̃₁⁺G̃₂ (both exact),
        // every pivot map L₁(p,S)⁻¹L₂(p,S) is A (the rows' differences cancel the shift), so
        // every r(p, S) is 0 and the averaged form holds at 0 ≤ 0 — decided without
        // enumerating the pairs (exact orbit pairs were left undecided beyond the limit, and
        // enumerated below it).
        // (κ < ∞ needs every L₁(p, S) nonsingular, which the screen's Double count does not prove.)
        if pair.exactLogitDistanceSquared().isZero {
            guard try everyPivotMatrixNonsingular(pair, exact, all) else {
                return .inapplicable(id, form, level: .exact, "a pivot matrix L₁(p,S) is exactly singular, so κ = ∞")
            }
            if let a = try? exact.identifiabilityMap(), exact.representationResidual(map: a).isZero,
               (try? exact.first.centredUnembeddings.multiplied(by: a)) == exact.second.centredUnembeddings {
                let v = try screen(pair)
                return Verdict(id: id, form: form, level: .exact, outcome: .holds, lhs: 0, rhs: 0, constant: v.constant,
                               constantName: v.constantName, exactLHS: "0",
                               certificate: "d_logit² = 0 exactly, every L₁(p,S) nonsingular, G̃₂ = G̃₁A and d_rep² = 0 for A = G̃₁⁺G̃₂ (exact): every pivot map is A, so every r(p, S) = 0")
            }
        }
        guard all.count <= exactPairLimit else {
            let v = try screen(pair)
            return Verdict(id: id, form: form, level: .exact, outcome: .undecided, lhs: v.lhs, rhs: v.rhs,
                           constant: v.constant, constantName: v.constantName,
                           certificate: "\(all.count) pairs exceed the exact limit of \(exactPairLimit)")
        }
        let lhs = Rational.sum(try all.map { try exact.pivotResidual($0.pair) }) / Rational(all.count)
        let c = SigmaCertificate.exact(constantScale) * Rational(2 * d, k - 1)
        let dl2 = pair.exactLogitDistanceSquared()
        let numerator = c * dl2
        var outcome = Outcome.violated
        var why = "for every pair L₁ᵀL₁ − tI is positive definite (exact inertia), so κ < c·D/lhs"
        if lhs.isZero {
            outcome = .holds; why = "left side is exactly 0"
        } else {
            let t = numerator / lhs
            for term in all.sorted(by: { $0.sigmaMin < $1.sigmaMin }) {
                let gram = exact.firstPivotMatrix(term.pair).weightedGram()
                if try !gram.shiftingDiagonal(by: t).isPositiveDefinite() {
                    outcome = .holds
                    why = "σ_min(L₁)² ≤ c·D/lhs at \(describe(term.pair)) (exact inertia), so κ ≥ lhs/(c·D)"
                    break
                }
            }
        }
        let v = try screen(pair)
        return Verdict(id: id, form: form, level: .exact, outcome: outcome, lhs: lhs.doubleValue,
                       rhs: v.constant * dl2.doubleValue, constant: v.constant,
                       constantName: v.constantName, exactLHS: lhs.exactString, certificate: why,
                       lhsLog10: lhs.log10Magnitude, rhsLog10: v.constant.log / Double.ln10 + dl2.log10Magnitude)
    }
}
