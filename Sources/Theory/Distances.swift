import Foundation
import Numerics

/// The distances of THEORY.md §3 in double precision. Row blocks keep memory at
/// O(block · k) whatever N is.
extension ModelPair {
    /// Calls `body(range, δ)` with δ = Λ̃₁ − Λ̃₂ for consecutive row blocks.
    func forEachLogitDifferenceBlock(_ body: (Range<Int>, Matrix) throws -> Void) rethrows {
        let (g1, g2) = centredUnembeddings
        let n = first.inputCount, step = rowsPerBlock()
        // One block: the pair's memoised centred logits (the same products), so the
        // checks that read them do not form them again.
        if n <= step { return try body(0..<n, centredLogits(ofFirst: true) - centredLogits(ofFirst: false)) }
        for start in stride(from: 0, to: n, by: step) {
            let rows = Array(start..<min(n, start + step))
            let l1 = first.embeddings.selectingRows(rows).multiplied(by: g1, transposeOther: true)
            let l2 = second.embeddings.selectingRows(rows).multiplied(by: g2, transposeOther: true)
            try body(start..<(start + rows.count), l1 - l2)
        }
    }

    /// d_logit² = E_x ‖Λ̃₁(x) − Λ̃₂(x)‖² = ‖W^{1/2}(Λ̃₁ − Λ̃₂)‖_F², the mean squared
    /// Aitchison distance between the conditionals, from `logitStatistics()`.
    ///
    /// Direct path: the difference of centred logits is formed row block by row
    /// block (O(N k (d₁ + d₂)) flops), so no cancellation beyond the rounding of
    /// each logit (about ε‖f‖‖g‖ per entry, which dominates only when the models
    /// nearly agree; the certified level is exact).
    public func logitDistanceSquared() throws -> Double {
        logitStatistics().logitDistanceSquared
    }

    /// d_logit², KL(M₁‖M₂) and log τ, for reports and screens that need only these, with the
    /// relative error d_logit²'s value may carry beyond its rounding: the screen's pass when it
    /// has already run (error 0: its rounding is what the screens allow for), else the midpoints
    /// of the streamed fast pass's enclosures when that pass has run and they are tight (each
    /// within its half-width, at most 2⁻²¹ relative, of the true value; the error returned is
    /// d_logit²'s whole width over its lower end, which bounds that), else the screen's pass. On the language-model route this spares a second
    /// pass over the N×k logits; preferring a pass already made keeps the value independent of
    /// which statements ran first.
    public func logitSummary() -> (distanceSquared: Double, kl: Double, logTau: Double, relativeError: Double) {
        func screen(_ stats: LogitStatistics) -> (Double, Double, Double, Double) {
            (stats.logitDistanceSquared, stats.kl, stats.logTau, 0)
        }
        if let stats = cache.peek("logitStatistics", as: LogitStatistics.self) { return screen(stats) }
        if let sums = cache.peek("fastLogitSums", as: FastLogitSums?.self) ?? nil {
            let values = [sums.logitDistanceSquared, sums.mean(sums.klFirstSecond), sums.logTauFirst, sums.logTauSecond]
            if values.allSatisfy({ $0.lo.isFinite && $0.hi.isFinite }),
               values[0...1].allSatisfy({ $0.lo > 0 && $0.hi - $0.lo <= 0x1p-20 * $0.hi }) {
                let d = values[0]
                return (d.midpoint, values[1].midpoint, min(values[2].midpoint, values[3].midpoint), ((d.hi - d.lo) / d.lo).nextUp)
            }
        }
        return screen(logitStatistics())
    }

    /// d_logit² alone, as `logitSummary` gives it, or from the fast enclosure of d_logit² where
    /// that is already formed and tight (2⁻²⁰ relative; its midpoint, with the whole width over the
    /// lower end as the error) and no Double pass has run: T11's transfers need no other statistic,
    /// and the certified run forms that enclosure first.
    public func logitDistanceSquaredEstimate() -> (value: Double, relativeError: Double) {
        if cache.peek("logitStatistics", as: LogitStatistics.self) == nil,
           let d = cache.peek("fastLogitDistanceSquared", as: FastInterval?.self) ?? nil,
           d.lo > 0, d.hi.isFinite, d.hi - d.lo <= 0x1p-20 * d.hi {
            return (d.midpoint, ((d.hi - d.lo) / d.lo).nextUp)
        }
        let summary = logitSummary()
        return (summary.distanceSquared, summary.relativeError)
    }

    /// d_logit, the square root of `logitDistanceSquared`.
    public func logitDistance() throws -> Double { try logitDistanceSquared().squareRoot() }

    /// KL(M₁ ‖ M₂) = E_x Σ_y p₁ (log p₁ − log p₂), per input by
    /// `logitRowStatistics` (cancellation-free on nearly equal rows): finite for
    /// finite logits, never negative (the MPFR enclosure `certifiedDivergence` is
    /// exact to the model's Doubles).
    public func klDivergence() -> Double { logitStatistics().kl }

    /// KL_x(M₁ ‖ M₂) for each input, from `logitStatistics()`.
    public func klPerInput() -> [Double] { logitStatistics().klPerInput }

    /// d_rep(M₁←M₂)² = E_x ‖f₁(x) − A₁₂ f₂(x)‖² with A₁₂ = G̃₁⁺G̃₂ (least-squares
    /// form; the map comes from the unembeddings, never fitted to embeddings).
    /// Direct: the residual F₁ − F₂A₁₂ᵀ is formed, O(N d₁ d₂).
    public func representationDissimilaritySquared() throws -> Double {
        try cache.value("drep12") { try computeRepresentationDissimilaritySquared() }
    }

    func computeRepresentationDissimilaritySquared() throws -> Double {
        try representationResidual(reverse: false).frobeniusNormSquared
    }

    /// W^{1/2}(F₁ − F₂A₁₂ᵀ), or W^{1/2}(F₂ − F₁A₂₁ᵀ) when `reverse`: d_rep is its Frobenius norm.
    /// The map's powers of two are applied after the product (`ScaledMap.rightProduct`: models at
    /// scales far apart, where the map over- or underflows and F₂A₁₂ᵀ does not).
    func representationResidual(reverse: Bool) throws -> Matrix {
        let map = reverse ? try scaledLeastSquaresMap(reverse: true) : try scaledIdentifiabilityMap()
        let (target, source) = reverse ? (second, first) : (first, second)
        return (target.embeddings - map.rightProduct(source.embeddings)).scalingRows(by: first.sqrtWeights)
    }

    /// d_rep(M₂←M₁)², the other direction, sharing this pair's cached quantities.
    public func reverseRepresentationDissimilaritySquared() throws -> Double {
        try representationResidual(reverse: true).frobeniusNormSquared
    }

    /// The distances d_rep(A←B), d_rep(B←A) and d_unemb(A←B) (not squared) from their
    /// squares; where a square leaves the normal Double range (entries ≳ 10¹⁵⁴ or ≲ 10⁻¹⁵⁴) and the residual is
    /// formed directly, from the residual's scaled Frobenius norm, so the distance is
    /// finite whenever it is representable.
    public func distance(fromSquared squared: Double, _ which: ResidualDistance) -> Double {
        // An honest square within the normal range needs nothing more; one that overflowed,
        // underflowed (subnormal embeddings) or is 0 is formed again from the residual.
        guard !squared.isNormal else { return squared.squareRoot() }
        let residual: Matrix? = switch which {
        case .representation: try? representationResidual(reverse: false)
        case .reverseRepresentation: try? representationResidual(reverse: true)
        case .unembedding: usesGramRoutes ? nil : try? unembeddingResidual()
        }
        return residual?.frobeniusNorm ?? .infinity
    }

    public enum ResidualDistance: Sendable { case representation, reverseRepresentation, unembedding }

    /// d_rep² / E_x ‖f₁(x)‖²: the scale-free ratio (0 = identical up to the class map).
    public func scaleFreeRepresentationDissimilarity() throws -> Double {
        try representationDissimilaritySquared() / first.weightedEmbeddings.frobeniusNormSquared
    }

    /// d_unemb(M₁←M₂)² = ‖G̃₁ − G̃₂ Bᵀ‖_F² with B = F̂₁⁺F̂₂, F̂ = W^{1/2}F: roles of
    /// inputs and labels swapped.
    public func unembeddingDissimilaritySquared() throws -> Double {
        try cache.value("dunemb12") { try computeUnembeddingDissimilaritySquared() }
    }

    func computeUnembeddingDissimilaritySquared() throws -> Double {
        let b = try scaledEmbeddingLeastSquaresMap()
        if gramRoutesInRange(centredUnembeddings.first, centredUnembeddings.second), b.isPlain, b.map.outOfRangeExponent == 0 {
            return try unembeddingResidualFromGrams(b.map)
        }
        return try unembeddingResidual(b).frobeniusNormSquared
    }

    /// G̃₁ − G̃₂Bᵀ, d_unemb's residual (B = F̂₁⁺F̂₂ as a `ScaledMap` unless given), the powers
    /// applied after the product.
    func unembeddingResidual(_ map: ScaledMap? = nil) throws -> Matrix {
        let b = try map ?? scaledEmbeddingLeastSquaresMap()
        let (g1, g2) = centredUnembeddings
        return g1 - b.rightProduct(g2)
    }
}

extension SoftmaxModel {
    /// log τ(M) = min_{i,y} log p(y|xᵢ), from the stable log-softmax (τ itself
    /// underflows in doubles for large logits).
    public var logTau: Double { logConditionals.storage.min() ?? 0 }

    /// τ(M) = min_{i,y} p(y|xᵢ); 0 when it underflows (use `logTau`).
    public var tau: Double { logTau.exp }
}

extension ModelPair {
    /// A priori estimate (not a bound) of the relative error of a Double distance formed from a
    /// least-squares map M = X⁺Y: d_rep(M₁←M₂) (X = G̃₁, Y = G̃₂, the map applied to T = W^{1/2}F₂),
    /// d_rep(M₂←M₁) on the swapped pair, d_unemb(M₁←M₂) (X = W^{1/2}F₁, Y = W^{1/2}F₂, T = G̃₂).
    /// The map errs by about 10·d·u·(κ + κ²‖R‖/(‖X‖‖M‖))·‖M‖ (R = Y − X·M, the classical
    /// perturbation bound of least squares), which moves the distance by at most ‖T‖ times that.
    /// M = 2ᵖDMC and the quotients are formed in logarithms, so that models scaled far apart get an
    /// estimate, not NaN. Where X's rows lie beyond 2²⁶ apart in scale (inputs weighted far apart),
    /// κ(X) is the weights' spread, not an error: the map is solved row by row there
    /// (`rowSortedLeastSquares`), whose backward error is relative to each row, so the estimate is
    /// `rowwiseErrorEstimate`'s instead (`rowwise` true). nil when it cannot be formed; ∞ where X
    /// lacks full rank (any error possible).
    package func leastSquaresErrorEstimate(_ which: ResidualDistance, squared: Double) -> (relative: Double, rowwise: Bool)? {
        if which == .reverseRepresentation { return swapped.leastSquaresErrorEstimate(.representation, squared: squared) }
        let isUnembedding = which == .unembedding
        let (g1, g2) = centredUnembeddings
        let (x, y) = isUnembedding ? (first.weightedEmbeddings, second.weightedEmbeddings) : (g1, g2)
        guard let map = try? (isUnembedding ? scaledEmbeddingLeastSquaresMap() : scaledIdentifiabilityMap()) else { return nil }
        let transported = isUnembedding ? g2 : second.weightedEmbeddings
        let distance = self.distance(fromSquared: squared, which)
        if Matrix.spread(Matrix.equilibration(norms: x.rowLargest)) > 26 {
            return Self.rowwiseErrorEstimate(x, y, map: map, transported: transported, distance: distance,
                                             columnScales: isUnembedding ? nil : unembeddingColumnNorms(ofFirst: true)).map { ($0, true) }
        }
        guard let s = try? (isUnembedding ? firstDiversity().embeddingSingularValues : unembeddingSingularValues(ofFirst: true)),
              let top = s.first, let last = s.last, top > 0 else { return nil }
        guard last > 0, s.count >= x.columns else { return (.infinity, false) }
        let logMapNorm = map.log2FrobeniusNorm, transportedNorm = transported.frobeniusNorm
        // A zero map or a zero transported matrix moves nothing (log₂ 0 = −∞ below would meet ∞·0).
        guard transportedNorm > 0, logMapNorm > -.infinity else { return (0, false) }
        let kappa = top / last, u = 0x1p-53, d = Double(x.columns)
        // ‖R‖/(‖X‖‖M‖) in logarithms (0 for a zero residual: exp2(−∞)).
        let residual = (y - map.leftProduct(x)).frobeniusNorm
        let ratio = Foundation.exp2(Foundation.log2(residual) - Foundation.log2(top) - logMapNorm)
        let relativeMap = 10 * d * u * (kappa + kappa * kappa * ratio)
        guard distance > 0 else { return (.infinity, false) }
        // ‖T‖·‖M‖·relativeMap / distance.
        return (Foundation.exp2(Foundation.log2(transportedNorm) + logMapNorm - Foundation.log2(distance)) * relativeMap, false)
    }

    /// The estimate where X's rows lie far apart in scale: the distance's sensitivity to moving
    /// each entry of X and Y by its own relative amount, probed by solving once more with every
    /// entry moved by ±2⁻³⁰ relative (signs from a fixed seed) and scaled to 10·d·u, the
    /// row-wise backward error of the solve. Nearly parallel inputs weighted 10¹⁵ leave X well
    /// conditioned row by row (κ of its rows brought near 1: 1.2) while the map moves 10⁻⁷
    /// under such a perturbation of the data; d_unemb was 1.3·10⁻⁷ off there.
    static func rowwiseErrorEstimate(_ x: Matrix, _ y: Matrix, map: ScaledMap, transported: Matrix, distance: Double,
                                     columnScales: [Double]?) -> Double? {
        let h = 0x1p-30
        var generator = SeededGenerator(seed: 0x5EED)
        func moved(_ m: Matrix) -> Matrix {
            Matrix(rows: m.rows, columns: m.columns) { i, j in m[i, j] * (generator.next() & 1 == 0 ? 1 - h : 1 + h) }
        }
        let (xMoved, yMoved) = (moved(x), moved(y))
        guard let movedMap = try? scaledLeastSquares(xMoved, yMoved, columnScales: columnScales) else { return .infinity }
        let change = (movedMap.rightProduct(transported) - map.rightProduct(transported)).frobeniusNorm
        guard change.isFinite else { return nil }
        guard distance > 0 else { return change > 0 ? .infinity : 0 }
        return change / distance * (10 * Double(x.columns) * 0x1p-53 / h)
    }
}
