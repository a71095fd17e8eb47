import Numerics

/// The distances of THEORY.md §3 in double precision. Row blocks keep memory at
/// O(block · k) whatever N is.
extension ModelPair {
    /// Rows per block when a quantity needs N×k values.
    static let rowBlock = 512

    /// Calls `body(range, δ)` with δ = Λ̃₁ − Λ̃₂ for consecutive row blocks.
    func forEachLogitDifferenceBlock(_ body: (Range<Int>, Matrix) throws -> Void) rethrows {
        let g1 = first.centredUnembeddings, g2 = second.centredUnembeddings
        let n = first.inputCount
        for start in stride(from: 0, to: n, by: Self.rowBlock) {
            let rows = Array(start..<min(n, start + Self.rowBlock))
            let l1 = first.embeddings.selectingRows(rows).multiplied(by: g1, transposeOther: true)
            let l2 = second.embeddings.selectingRows(rows).multiplied(by: g2, transposeOther: true)
            try body(start..<(start + rows.count), l1 - l2)
        }
    }

    /// d_logit² = E_x ‖Λ̃₁(x) − Λ̃₂(x)‖² = ‖W^{1/2}(Λ̃₁ − Λ̃₂)‖_F², the mean squared
    /// Aitchison distance between the conditionals.
    ///
    /// Direct path: the difference of centred logits is formed row block by row
    /// block (O(N k (d₁ + d₂)) flops), so no cancellation beyond the rounding of
    /// each logit (about ε‖f‖‖g‖ per entry, which dominates only when the models
    /// nearly agree; the certified level is exact).
    public func logitDistanceSquared() throws -> Double {
        cache.value("dlogit2") { computeLogitDistanceSquared() }
    }

    func computeLogitDistanceSquared() -> Double {
        var total = 0.0
        let w = weights
        forEachLogitDifferenceBlock { range, delta in
            for (r, i) in range.enumerated() {
                var s = 0.0
                for y in 0..<delta.columns { s += delta[r, y] * delta[r, y] }
                total += w[i] * s
            }
        }
        return total
    }

    /// d_logit, the square root of `logitDistanceSquared`.
    public func logitDistance() throws -> Double { try logitDistanceSquared().squareRoot() }

    /// KL(M₁ ‖ M₂) = E_x Σ_y p₁ (log p₁ − log p₂), per input by the
    /// cancellation-free `klDivergence(logitsP:logitsQ:)` of Numerics: finite for
    /// finite logits, never negative, and accurate down to the rounding of the
    /// logits themselves (the MPFR enclosure `certifiedDivergence` is exact to
    /// the model's Doubles).
    public func klDivergence() -> Double {
        klPerInput().enumerated().reduce(0) { $0 + weights[$1.offset] * $1.element }
    }

    /// KL_x(M₁ ‖ M₂) for each input.
    public func klPerInput() -> [Double] {
        cache.value("klPerInput") { computeKLPerInput() }
    }

    func computeKLPerInput() -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(first.inputCount)
        let n = first.inputCount
        for start in stride(from: 0, to: n, by: Self.rowBlock) {
            let rows = Array(start..<min(n, start + Self.rowBlock))
            let l1 = first.embeddings.selectingRows(rows).multiplied(by: first.unembeddings, transposeOther: true)
            let l2 = second.embeddings.selectingRows(rows).multiplied(by: second.unembeddings, transposeOther: true)
            for r in rows.indices { out.append(Numerics.klDivergence(logitsP: l1.row(r), logitsQ: l2.row(r))) }
        }
        return out
    }

    /// d_rep(M₁←M₂)² = E_x ‖f₁(x) − A₁₂ f₂(x)‖² with A₁₂ = G̃₁⁺G̃₂ (least-squares
    /// form; the map comes from the unembeddings, never fitted to embeddings).
    /// Direct: the residual F₁ − F₂A₁₂ᵀ is formed, O(N d₁ d₂).
    public func representationDissimilaritySquared() throws -> Double {
        let a = try identifiabilityMap()
        let residual = first.embeddings - second.embeddings.multiplied(by: a, transposeOther: true)
        return residual.scalingRows(by: first.sqrtWeights).frobeniusNormSquared
    }

    /// d_rep² / E_x ‖f₁(x)‖²: the scale-free ratio (0 = identical up to the class map).
    public func scaleFreeRepresentationDissimilarity() throws -> Double {
        try representationDissimilaritySquared() / first.weightedEmbeddings.frobeniusNormSquared
    }

    /// d_unemb(M₁←M₂)² = ‖G̃₁ − G̃₂ Bᵀ‖_F² with B = F̂₁⁺F̂₂, F̂ = W^{1/2}F: roles of
    /// inputs and labels swapped.
    public func unembeddingDissimilaritySquared() throws -> Double {
        let b: Matrix
        do { b = try first.weightedEmbeddings.pseudoInverse().multiplied(by: second.weightedEmbeddings) }
        catch let e as NumericsError { throw ModelError.numerics(e) }
        let residual = first.centredUnembeddings - second.centredUnembeddings.multiplied(by: b, transposeOther: true)
        return residual.frobeniusNormSquared
    }
}

extension SoftmaxModel {
    /// log τ(M) = min_{i,y} log p(y|xᵢ), from the stable log-softmax (τ itself
    /// underflows in doubles for large logits).
    public var logTau: Double { logConditionals.storage.min() ?? 0 }

    /// τ(M) = min_{i,y} p(y|xᵢ); 0 when it underflows (use `logTau`).
    public var tau: Double { logTau.exp }
}
