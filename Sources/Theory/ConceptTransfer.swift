import Numerics

/// A linear probe on embeddings: ĉ(x) = [uᵀf(x) + b > 0] (THEORY.md §8).
public struct ProbeDirection: Sendable, Codable, Equatable {
    public let weights: [Double]
    public let bias: Double

    public init(weights: [Double], bias: Double) {
        self.weights = weights
        self.bias = bias
    }

    /// The probe's bits as a short key for per-pair caches (no decimal formatting).
    var cacheKey: String { (weights + [bias]).map { String($0.bitPattern, radix: 36) }.joined(separator: ",") }

    /// uᵀf(x) + b for every row of `f`.
    public func scores(_ f: Matrix) -> [Double] {
        precondition(f.columns == weights.count, "probe: \(weights.count) weights for \(f.columns) embedding coordinates")
        return f.applied(to: weights).map { $0 + bias }
    }

    /// ‖u‖, finite and not 0 wherever it is, even where ‖u‖² is not (`scaledNorm`).
    public var norm: Double { weights.scaledNorm }
}

/// T11's quantities for one teacher probe (u, b) on one pair (THEORY.md §8), in double
/// precision: the teacher's margins m = uᵀf₁ + b, the transported probe's scores
/// s = uᵀA₁₂f₂ + b (A₁₂ = G̃₁⁺G̃₂ from the unembeddings alone), the residuals
/// e = m − s = uᵀG̃₁⁺(Λ̃₁ − Λ̃₂) and the three right-hand sides' residual terms:
///   E_w[e²] = vᵀΣ_δv  ≤  ‖v‖²·d_logit²  ≤  ‖u‖²·d_logit²/σ_min(G̃₁)²,  v = (G̃₁⁺)ᵀu.
/// The disagreement P_w(ĉ₁ ≠ ĉ₂) is bounded by P_w(|m| < γ) + (residual term)/γ² for
/// every γ > 0 (Proofs/T11-concept-transfer.md); `bound(residual:)` takes the best γ.
///
/// E_w[e²] is computed from the embeddings (e = F₁u − F₂A₁₂ᵀu, O(N d)); by T3's identity it
/// equals the output-only vᵀΣ_δv exactly when G̃₁ has full column rank (the exact
/// certificate computes it from the logits). Cost O(N(d₁ + d₂)) given A₁₂ and σ(G̃₁), and one
/// pass over the logits (cached per pair) where d_logit² is not a normal number for models whose
/// entries lie beyond 2^±100.
public struct ConceptTransfer: Sendable {
    public let probe: ProbeDirection
    public let margins: [Double]
    public let transportedScores: [Double]
    public let weights: [Double]
    /// E_w[e²] = vᵀΣ_δv.
    public let residualSecondMoment: Double
    /// ‖v‖² = ‖(G̃₁⁺)ᵀu‖².
    public let transportedNormSquared: Double
    /// ‖v‖, formed so that it is finite and not 0 wherever ‖v‖ is (‖v‖² may not be).
    let transportedNorm: Double
    public let logitDistanceSquared: Double
    /// d_logit, from the rescaled pass where d_logit² overflows or underflows (the models'
    /// logits near the ends of the Double range), so that ‖v‖·d_logit is formed before squaring.
    let logitDistance: Double
    /// How far, relatively, `logitDistanceSquared` may be from the true value beyond its
    /// rounding (0 from the screen's pass; the enclosure's relative width from the streamed
    /// fast pass's midpoint): the screen lowers its right side by it.
    let logitDistanceRelativeError: Double
    public let sigmaMin: Double
    /// Rounding allowances of each margin and score (for the screen's conservative sides).
    let marginTolerance: [Double]
    let scoreTolerance: [Double]
    /// (|mᵢ|, wᵢ) in increasing |mᵢ|, sorted once: every γ search (`bound`) is then O(N).
    let sortedMargins: [(magnitude: Double, weight: Double)]
    /// `bound(residual: residual(form))` for the three forms, in `Form.allCases` order.
    private(set) var formBounds: [(value: Double, gamma: Double?)] = []

    /// The right-hand side's residual term in each form.
    public enum Form: String, Sendable, CaseIterable, Codable {
        /// vᵀΣ_δv: the floor.
        case covariance
        /// ‖v‖²·d_logit².
        case scalar
        /// ‖u‖²·d_logit²/σ_min(G̃₁)².
        case sigma
    }

    public init(_ pair: ModelPair, probe: ProbeDirection) throws {
        let first = pair.first, second = pair.second
        guard probe.weights.count == first.dimension else {
            throw ModelError.badProbe("\(probe.weights.count) weights for the teacher's d = \(first.dimension)")
        }
        guard probe.weights.allSatisfy(\.isFinite), probe.bias.isFinite else {
            throw ModelError.badProbe("weights and bias must be finite")
        }
        let diversity = try pair.firstDiversity()
        guard try pair.firstUnembeddingsTransportable() else {
            throw ModelError.inapplicable("σ_min(G̃₁) = 0: G̃₁ does not have full column rank")
        }
        self.probe = probe
        // A₁₂ = 2^power·D·M·C, and F₂A₁₂ᵀu is formed as 2^power·((F₂C)(Mᵀ(Du))) with F₂C and
        // Mᵀ(Du) each scaled near 1: for models at scales far apart A₁₂, or F₂ times Mᵀu, may leave the
        // Double range where the scores do not.
        let map = try pair.scaledIdentifiabilityMap()
        let (transported, power) = map.transposeApplied(to: probe.weights)   // 2^−power·A₁₂ᵀu
        margins = probe.scores(first.embeddings)
        weights = pair.weights
        let teacherPart = first.embeddings.applied(to: probe.weights)
        func student(_ f: Matrix, _ x: [Double]) -> [Double] {
            var (values, scale) = f.scaledApplication(to: x)
            values.scale(byPowerOfTwo: scale + power)
            return values
        }
        // F₂A₁₂ᵀu = (F₂C)·(2^−power Mᵀ(Du))·2^power (C: the map's column powers).
        let f2 = map.scalingSource(second.embeddings)
        let studentPart = student(f2, transported)
        transportedScores = studentPart.map { $0 + probe.bias }
        residualSecondMoment = zip(weights, zip(teacherPart, studentPart)).reduce(0) { sum, t in
            let e = t.1.0 - t.1.1
            return sum + t.0 * e * e
        }
        transportedNorm = try pair.transportedNorm(probe.weights)
        transportedNormSquared = transportedNorm * transportedNorm
        (logitDistanceSquared, logitDistanceRelativeError) = pair.logitDistanceSquaredEstimate()
        // Where d_logit² is not a normal number for models beyond 2^±100 and the rescaled pass
        // cannot say, d_logit is unknown (NaN), not the root of an underflowed 0: the forms that
        // need it then give no floor rather than a residual of 0.
        logitDistance = logitDistanceSquared.isNormal || !(logitDistanceSquared.isInfinite || pair.entriesBeyondNormalScale)
            ? logitDistanceSquared.squareRoot()
            : pair.cachedRescaledLogitDistance()?.distance ?? .nan
        // Where G̃₁ is of full rank only column by column (`firstUnembeddingsTransportable`: a column
        // far smaller than the others), its Double σ_min is rounding noise: the σ form, which needs
        // it, gives no floor (NaN), and the transport's conditioning is the equilibrated G̃₁'s.
        let diverse = diversity.unembeddingsDiverse
        sigmaMin = diverse ? diversity.sigmaMinUnembeddings : .nan
        // A margin is a dot product of d + 1 exact terms: its rounding is at most
        // (d + 1)ε·(Σ|uⱼfᵢⱼ| + |b|). A transported score also inherits A₁₂ᵀu's error: column j
        // of A₁₂ is solved on its own, and with G̃₁'s columns equilibrated (G̃₁D, A₁₂ = D·A′) to
        // about κ·ε·‖A′_{:j}‖ in every entry, so (A₁₂ᵀu)ⱼ errs by about κε‖A′_{:j}‖‖Du‖ (even
        // where it should be 0), times |f₂ᵢⱼ|. κ is the smaller of G̃₁'s and G̃₁D's: the solve
        // scales exactly with D, so either bounds it. Within 10× those (and never below 10⁻⁹ of
        // the terms) the screen leaves a sign undecided. (max|A₁₂ᵀu|·Σⱼ|f₂ᵢⱼ| and κ(G̃₁) alone had
        // grown 2⁶⁰-fold with a column of either model 2⁶⁰ apart: every sign undecided.)
        func condition(_ values: [Double]) -> Double { (values.first ?? 1) / max(values.last ?? 0, .leastNormalMagnitude) }
        let given = diverse ? condition(diversity.unembeddingSingularValues) : .infinity
        let kappa = given <= 1e6 ? given : min(given, condition(try pair.firstEquilibratedUnembeddingSVD().svd.singularValues))
        let eps = Double.ulpOfOne
        let d1 = Double(first.dimension + 1), d2 = Double(second.dimension + 1)
        let absU = probe.weights.map(abs), absT = transported.map(abs)
        let absF2 = f2.absoluteValues
        let e = pair.firstEquilibration(), none = [Int](repeating: 0, count: map.map.columns)
        var equilibratedU = probe.weights
        for i in equilibratedU.indices { equilibratedU[i] = Double(sign: .plus, exponent: e[i], significand: equilibratedU[i]) }
        let uNorm = equilibratedU.scaledNorm
        // A′ = D⁻¹A₁₂ = 2^power·(2^(rowPowers − e − s)M), s = power − map.power (transposeApplied's shift).
        let shift = power - map.power
        let columnErrors = map.map.scaled(rows: zip(map.rowPowers, e).map { $0 - $1 - shift }, columns: none).columnNorms.map { $0 * uNorm }
        let rowSums2 = student(absF2, columnErrors)   // Σⱼ|f₂ᵢⱼ|·‖A′_{:j}‖‖Du‖
        let dots2 = student(absF2, absT)
        marginTolerance = first.embeddings.absoluteValues.applied(to: absU).map {
            let terms = $0 + abs(probe.bias)
            return max(1e-9 * terms, 10 * d1 * eps * terms)
        }
        scoreTolerance = zip(dots2, rowSums2).map { dot, rowSum in
            let terms = dot + abs(probe.bias)
            return max(1e-9 * terms, 10 * d2 * eps * (terms + kappa * rowSum))
        }
        sortedMargins = Self.sortedMagnitudes(margins: margins, weights: weights)
        formBounds = Form.allCases.map { bound(residual: residual($0)) }
    }

    /// The residual term of a form: vᵀΣ_δv, ‖v‖²d², or ‖u‖²d²/σ_min².
    public func residual(_ form: Form) -> Double {
        switch form {
        // E_w e² ≤ ‖v‖²d_logit² (Cauchy–Schwarz): where rounding puts the computed covariance
        // above the scalar form (exact orbit pairs: d_logit² = 0 exactly, Σ_δ at 10⁻³¹), the
        // smaller of the two is the better double value of the same quantity.
        case .covariance:
            let scalar = residual(.scalar)
            return scalar.isNaN ? residualSecondMoment : min(residualSecondMoment, scalar)
        case .scalar: return Self.squaredProduct(transportedNormSquared * logitDistanceSquared, transportedNorm, logitDistance)
        case .sigma:
            // (‖u‖/σ_min)² rather than ‖u‖²/σ_min²: u and σ_min scale together with the teacher's
            // embeddings, and their squares alone may leave the Double range.
            let ratio = probe.norm / sigmaMin
            return Self.squaredProduct(ratio * ratio * logitDistanceSquared, ratio, logitDistance)
        }
    }

    /// The KL form's residual term ‖v‖²·2KL/τ (T6.sharp: d_logit² ≤ 2KL/τ), formed from ‖v‖ and
    /// (2KL/τ)^{1/2} where the product of squares is not a normal number; nil where KL is lost to
    /// rounding (0 or NaN beside a d_logit not known to be 0: models near uniform whose double KL
    /// cancelled), which would put a floor at the in-sample accuracy.
    public func klResidual(kl: Double, logTau: Double) -> Double? {
        guard kl > 0 || (kl == 0 && logitDistance == 0) else { return nil }
        let bound = 2 * kl * (-logTau).exp
        return Self.squaredProduct(transportedNormSquared * bound, transportedNorm, bound.squareRoot())
    }

    /// (a·b)² given the product of squares `plain`: `plain` where it is a normal number (the
    /// usual case, unchanged), else (a·b)² formed from the factors, finite and not 0 wherever
    /// a·b's square is (a factor's square alone may overflow or underflow).
    static func squaredProduct(_ plain: Double, _ a: Double, _ b: Double) -> Double {
        guard !plain.isNormal else { return plain }
        let product = a * b
        return product * product
    }

    /// P_w(ĉ₁ ≠ ĉ₂): the teacher probe and its transport disagree.
    public var disagreement: Double {
        zip(weights, zip(margins, transportedScores)).reduce(0) { $0 + ((($1.1.0 > 0) != ($1.1.1 > 0)) ? $1.0 : 0) }
    }

    /// The disagreement counting every input whose margin or score is within rounding of
    /// 0 as disagreeing: an upper end for the screen.
    var disagreementUpper: Double {
        var total = 0.0
        for i in weights.indices {
            let unsure = abs(margins[i]) <= marginTolerance[i] || abs(transportedScores[i]) <= scoreTolerance[i]
            if unsure || (margins[i] > 0) != (transportedScores[i] > 0) { total += weights[i] }
        }
        return total
    }

    /// min over γ > 0 of P_w(|m| < γ) + r/γ², and the γ attaining it (nil when the best is the
    /// trivial total weight: every margin 0, r too large for any γ, or r not a number). Between
    /// consecutive |m| values the first term is constant and the second decreases, so the
    /// minimum is at some |mᵢ| > 0: O(N log N).
    public func bound(residual r: Double) -> (value: Double, gamma: Double?) {
        Self.bestGamma(sorted: sortedMargins, residual: r)
    }

    /// `bound(residual: residual(form))`, computed once per form.
    public func bound(_ form: Form) -> (value: Double, gamma: Double?) {
        formBounds[Form.allCases.firstIndex(of: form)!]
    }

    static func bestGamma(margins: [Double], weights: [Double], residual r: Double) -> (value: Double, gamma: Double?) {
        bestGamma(sorted: sortedMagnitudes(margins: margins, weights: weights), residual: r)
    }

    static func sortedMagnitudes(margins: [Double], weights: [Double]) -> [(magnitude: Double, weight: Double)] {
        zip(margins, weights).map { (abs($0.0), $0.1) }.sorted { $0.magnitude < $1.magnitude }
    }

    /// The search over γ on margins sorted by magnitude.
    static func bestGamma(sorted: [(magnitude: Double, weight: Double)], residual r: Double) -> (value: Double, gamma: Double?) {
        var best: (value: Double, gamma: Double?) = (sorted.reduce(0) { $0 + $1.weight }, nil)
        var below = 0.0, index = 0
        while index < sorted.count {
            let a = sorted[index].magnitude
            // Every margin equal to a: P(|m| < a) is `below` before them.
            if a > 0 {
                let value = below + r / (a * a)
                if value < best.value { best = (value, a) }
            }
            while index < sorted.count && sorted[index].magnitude == a {
                below += sorted[index].weight
                index += 1
            }
        }
        return best
    }

    /// P_w(|m| < γ), counting margins within rounding of γ as not below it: a lower end.
    func belowLower(_ gamma: Double) -> Double {
        zip(weights, zip(margins, marginTolerance)).reduce(0) { $0 + (abs($1.1.0) + $1.1.1 < gamma ? $1.0 : 0) }
    }

    /// E_w[e²] less its rounding: each eᵢ = mᵢ − sᵢ is uncertain by the two tolerances.
    var residualSecondMomentLower: Double {
        var total = 0.0
        for i in weights.indices {
            let e = max(abs(margins[i] - transportedScores[i]) - marginTolerance[i] - scoreTolerance[i], 0)
            total += weights[i] * e * e
        }
        return min(total, residualSecondMoment)
    }
}

extension ModelPair {
    /// The SVD of G̃₁ (the first model's centred unembeddings), computed once.
    func firstUnembeddingSVD() throws -> SingularValueDecomposition {
        try cache.value("svdG1") { try ModelError.wrapping { try SingularValueDecomposition(centredUnembeddings.first) } }
    }

    /// The powers of two eⱼ bringing each column of the uncentred G₁ to a norm in [1, 2) (0 for a
    /// zero or non-finite one): G̃₁·D, D = diag(2^−eⱼ), has each column measured against its own
    /// rounding level. Exact, and G̃₁⁺ = D(G̃₁D)⁺ wherever G̃₁ has full column rank.
    func firstEquilibration() -> [Int] { Matrix.equilibration(norms: unembeddingColumnNorms(ofFirst: true)) }

    /// The SVD of G̃₁D (`firstEquilibration`), computed once, and D's exponents.
    func firstEquilibratedUnembeddingSVD() throws -> (svd: SingularValueDecomposition, exponents: [Int]) {
        try cache.value("svdG1equilibrated") {
            let exponents = firstEquilibration()
            let scaled = centredUnembeddings.first.scalingColumns(byPowersOfTwo: exponents)
            return (try ModelError.wrapping { try SingularValueDecomposition(scaled) }, exponents)
        }
    }

    /// Whether G̃₁ has full column rank to Double precision with each column measured against its
    /// own rounding level: no column at centring's rounding level of the uncentred column, and
    /// Double diversity (`Diversity.unembeddingsDiverse`) or else the rank tolerance met by G̃₁D
    /// (`firstEquilibration`). A column of G 2⁵⁰ smaller than the others (F's 2⁵⁰ larger: the
    /// logits unchanged) fails Double diversity and passes the equilibrated test; a constant column
    /// of G, whose centred column is rounding noise, is caught by the first test whatever the SVDs
    /// say. Decided once per pair.
    package func firstUnembeddingsTransportable() throws -> Bool {
        try cache.value("transportable1") {
            // A column of G̃₁ within 2kε of its uncentred column's norm is centring's rounding
            // (a constant column of G: the mean of k equal values is not always that value in
            // Double), whatever the SVD makes of it: the SVD of G̃₁ as given called a constant
            // column of 12 345.678 full rank beside columns near 1, and the equilibrated one did
            // so by chance near the rank tolerance. The centring's error is at most about k·u
            // times the uncentred column's norm.
            let k = first.labelCount
            let noise = zip(centredUnembeddings.first.columnNorms, unembeddingColumnNorms(ofFirst: true)).contains { centred, uncentred in
                !(centred > 2 * Double(k) * Double.ulpOfOne * uncentred)
            }
            if noise { return false }
            if try firstDiversity().unembeddingsDiverse { return true }
            let d = first.dimension
            guard first.labelCount > d else { return false }
            return Diversity.fullRank(try firstEquilibratedUnembeddingSVD().svd.singularValues, d, rows: first.labelCount)
        }
    }

    /// Whether F̂₁ = W^{1/2}F₁ has full column rank to Double precision with each column measured
    /// against its own norm: the rank tolerance met by the SVD of F̂₁D, D bringing each column's
    /// norm into [1, 2) by a power of two (T4's hypothesis where Double diversity, which measures
    /// every column against the largest, fails). Decided once per pair.
    package func firstEmbeddingsFullRankColumnwise() -> Bool {
        cache.value("embeddingsColumnwise1") {
            let f = first.weightedEmbeddings
            let (n, d) = (f.rows, f.columns)
            guard n >= d, let s = try? f.scalingColumns(byPowersOfTwo: f.columnEquilibration).singularValues() else { return false }
            return Diversity.fullRank(s, d, rows: n)
        }
    }

    /// ‖(G̃₁⁺)ᵀu‖ = (uᵀ(G̃₁ᵀG̃₁)⁻¹u)^{1/2} = ‖((G̃₁D)⁺)ᵀDu‖ (`firstEquilibration`), column-equilibrated
    /// so that a column scaling of the teacher (F's column ×2ᵖ, G's ×2⁻ᵖ) changes no bit of it:
    /// from the equilibrated Gram's Cholesky factor on the Gram routes, else from the SVD of
    /// G̃₁D, the norm of the ratios rᵢ = vᵢᵀDu/σᵢ (the ratio first, as u and σ scale together with
    /// the teacher's embeddings; the norm divided by the largest, so that it is finite and not 0
    /// wherever it is, even where ‖v‖² is not).
    func transportedNorm(_ u: [Double]) throws -> Double {
        let exponents = firstEquilibration()
        let scaled = zip(u, exponents).map { Double(sign: .plus, exponent: $1, significand: $0) }
        if usesGramRoutes, let grams = try? unembeddingGrams(), grams.firstUsable {
            if let x = try? CholeskyDecomposition(grams.s11.scaledSymmetrically(exponents)).solve(Matrix(rows: u.count, columns: 1, storage: scaled)) {
                return zip(scaled, x.storage).reduce(0) { $0 + $1.0 * $1.1 }.squareRoot()
            }
        }
        let svd = try firstEquilibratedUnembeddingSVD().svd
        let ratios = zip(svd.v.transposed.applied(to: scaled), svd.singularValues).map { $0 / $1 }
        return ratios.scaledNorm
    }
}
