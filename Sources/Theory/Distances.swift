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
