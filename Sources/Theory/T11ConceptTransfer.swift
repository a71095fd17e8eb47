import Numerics

/// T11 (concept transfer, THEORY.md §8; Proofs/T11-concept-transfer.md): for a teacher
/// probe (u, b) and its transport (A₁₂ᵀu, b) to the student, if G̃₁ has full column rank,
/// for every γ > 0
///   P_w(ĉ₁ ≠ ĉ₂) ≤ P_w(|m| < γ) + vᵀΣ_δv/γ²            (`.covariance`, the floor)
///               ≤ P_w(|m| < γ) + ‖v‖²·d_logit²/γ²          (`.scalar`)
///               ≤ P_w(|m| < γ) + ‖u‖²·d_logit²/(σ_min(G̃₁)²γ²)   (`.sigma`),
/// with m = uᵀf₁ + b and v = (G̃₁⁺)ᵀu. (P_w(|m| < γ) ≤ P_w(|m| ≤ γ), THEORY.md's form.)
///
/// Each probe is checked at the γ that minimises its right side in double precision.
/// The screen is conservative: an input whose margin or transported score is within
/// rounding of 0 counts as disagreeing, margins within rounding of γ as not below it.
/// The certificate is exact: margins, transported scores (A₁₂ exactly), P_w(|m| < γ)
/// and the residual term in rationals (vᵀΣ_δv through T3's identity, exact once G̃₁'s
/// full column rank is decided exactly); the σ_min form by exact inertia (`SigmaCertificate`).
/// `constantScale` multiplies the right side (< 1 plants a false statement).
public struct T11ConceptTransferBound: PairStatement {
    public let id = StatementID.T11
    public let variant: ConceptTransfer.Form
    public let constantScale: Double
    /// The probes checked on a pair (all of them; the verdict is the worst).
    let probes: @Sendable (ModelPair) -> [ProbeDirection]
    /// Whether `probes` are the harness's, whose transfers are then computed once per pair and
    /// shared by the three forms, their screens and their certificates.
    let harnessProbesUsed: Bool
    /// Whether `certify` certifies every probe, not only those its screen cannot decide
    /// (`verify --certify all`).
    let certifyEveryProbe: Bool
    /// Whether a probe whose best right side is the trivial 1 (no γ does better) is left
    /// out: the tightness explorer asks how close non-vacuous bounds get.
    let nonVacuousOnly: Bool

    public init(_ variant: ConceptTransfer.Form = .covariance, constantScale: Double = 1, certifyEveryProbe: Bool = false,
                nonVacuousOnly: Bool = false, probes: (@Sendable (ModelPair) -> [ProbeDirection])? = nil) {
        self.variant = variant
        self.constantScale = constantScale
        self.certifyEveryProbe = certifyEveryProbe
        self.nonVacuousOnly = nonVacuousOnly
        self.probes = probes ?? T11ConceptTransferBound.harnessProbes
        harnessProbesUsed = probes == nil
    }

    /// The probes this statement checks on a pair: all of them, or with `nonVacuousOnly`
    /// those whose best right side is below the total weight.
    func transfers(_ pair: ModelPair) throws -> [ConceptTransfer] {
        let all = harnessProbesUsed ? try pair.cache.value("t11.harnessTransfers") { try probes(pair).map { try ConceptTransfer(pair, probe: $0) } }
            : try probes(pair).map { try ConceptTransfer(pair, probe: $0) }
        return all.filter { t in
            !nonVacuousOnly || t.bound(variant).value < t.weights.reduce(0, +)
        }
    }

    public var form: String {
        switch variant {
        case .covariance: return "P_w(ĉ₁ ≠ ĉ₂) ≤ P_w(|m| < γ) + vᵀΣ_δv / γ²"
        case .scalar: return "P_w(ĉ₁ ≠ ĉ₂) ≤ P_w(|m| < γ) + ‖v‖²·d_logit² / γ²"
        case .sigma: return "P_w(ĉ₁ ≠ ĉ₂) ≤ P_w(|m| < γ) + ‖u‖²·d_logit² / (σ_min(G̃₁)²γ²)"
        }
    }

    public func screen(_ pair: ModelPair) throws -> Verdict {
        guard try pair.firstUnembeddingsTransportable() else {
            // Say which: exactly rank-deficient, or of full rank but beyond Double's reach (κ ≳ 10¹⁴),
            // where the probes' transport A₁₂ cannot be formed in Double and nothing is checked.
            if pair.exactMomentsAffordable, (try? exactGram(pair))?.fullRank == true {
                return .inapplicable(id, form, level: .double, "G̃₁ is of full column rank exactly but rank-deficient to Double precision (κ ≳ 10¹⁴): the probes cannot be transported in Double; not checked")
            }
            return .inapplicable(id, form, level: .double, "σ_min(G̃₁) = 0: G̃₁ does not have full column rank")
        }
        var worst: Verdict?
        for t in try transfers(pair) {
            let v = screen(t)
            if worst == nil || v.ratio > worst!.ratio || v.outcome == .violated { worst = v }
        }
        return worst ?? .inapplicable(id, form, level: .double, nonVacuousOnly ? "every probe's bound is vacuous (≥ 1)" : "no probe")
    }

    /// Applicable where the fast level's verified solve proves G̃₁ of full column rank and the
    /// probes can be transported in Double (the screen's own test), with no Double transfers
    /// (exact orbit pairs, decided from d_logit² = 0, then form none); elsewhere, and when
    /// vacuous probes are left out, the screen answers.
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? {
        if !nonVacuousOnly, pair.fastIdentifiability() != nil, (try? pair.firstUnembeddingsTransportable()) == true { return nil }
        return try screenedInapplicability(pair)
    }

    /// The screen of one probe at its best γ, with conservative sides.
    public func screen(_ t: ConceptTransfer) -> Verdict {
        let r = t.residual(variant), best = t.bound(variant)
        let lhs = t.disagreementUpper
        guard let gamma = best.gamma else {
            // The best γ is none: the right side is P_w(|m| < ∞) = 1 ≥ any disagreement.
            let rhs = constantScale * t.weights.reduce(0, +)
            return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated, lhs: lhs, rhs: rhs,
                           constant: constantScale, constantName: "γ = ∞")
        }
        // No input even near disagreeing: 0 ≤ the right side whatever its rounding, so the
        // right side is shown as computed; otherwise its conservative lower end.
        let rhs = lhs == 0 ? constantScale * best.value
            : constantScale * (t.belowLower(gamma) + (variant == .covariance ? t.residualSecondMomentLower
                                                        : r * (1 - 1e-12 - t.logitDistanceRelativeError)) / (gamma * gamma))
        return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated, lhs: lhs, rhs: rhs,
                       constant: constantScale / (gamma * gamma), constantName: "\(constantScale)/γ² at γ = \(gamma)")
    }

    /// G̃₁ᵀG̃₁ exactly and whether it is positive definite (the exact teacher forms both once,
    /// for the screen's rank question, the three forms' certificates and the other statements).
    func exactGram(_ pair: ModelPair) throws -> (gram: RationalMatrix, fullRank: Bool) {
        let teacher = try pair.exact().first
        return (teacher.centredUnembeddingGram, try teacher.centredUnembeddingsHaveFullRank())
    }

    /// Certifies the probes whose screen is a near-tie or a crossing (every probe with
    /// `certifyEveryProbe`), and the worst probe in any case, so the pair's verdict —
    /// the worst probe's — is certified; a certified violation is returned at once.
    public func certify(_ pair: ModelPair) throws -> Verdict {
        let exact = try pair.exact()
        // G̃₁ᵀG̃₁ and its rank, once per pair (the three forms share them).
        let (gram, fullRank) = try exactGram(pair)
        guard fullRank else {
            return .inapplicable(id, form, level: .exact, "G̃₁ᵀG̃₁ is exactly singular: G̃₁ lacks full column rank")
        }
        var worst: (verdict: Verdict, transfer: ConceptTransfer)?
        for t in try transfers(pair) {
            let screened = screen(t)
            let v = certifyEveryProbe || screened.needsCertification ? try certify(pair, exact, gram: gram, transfer: t) : screened
            if v.outcome == .violated && v.isCertified { return v }
            if worst == nil || v.ratio > worst!.verdict.ratio { worst = (v, t) }
        }
        guard let worst else { return .inapplicable(id, form, level: .exact, "no probe") }
        return worst.verdict.level == .double ? try certify(pair, exact, gram: gram, transfer: worst.transfer) : worst.verdict
    }

    /// Every probe decided from fast enclosures at the screen's γ (A₁₂ by a verified
    /// solve, which also proves G̃₁ of full column rank; margins and scores as enclosed
    /// dot products); the pair's verdict is the worst probe's. nil when any probe's
    /// sides overlap: the exact certificate then decides the pair.
    /// Nothing N×k is formed beyond what the pair's other fast certificates hold: the
    /// covariance form needs only the rows, the Grams and the weights (O(N d + k d²)), and the
    /// scalar and σ forms take d_logit² from `fastLogitDistanceSquared` (the streamed pass at
    /// scale), so it runs at any size (`measure --concept`).
    public func fastCertify(_ pair: ModelPair) throws -> Verdict? {
        guard let identifiability = pair.fastIdentifiability() else { return nil }
        // d_logit² = 0 exactly (the exact orbit pairs; integer arithmetic, cheap at the sizes
        // the exact level takes): δ = 0, so by T3's identity every transported score equals its
        // margin and no probe disagrees.
        if pair.logitDistanceIsExactlyZero {
            return Verdict(id: id, form: form, level: .exact, outcome: .holds, lhs: 0, rhs: 0, constant: constantScale,
                           constantName: "\(constantScale)", exactLHS: "0",
                           certificate: "d_logit² = 0 exactly and G̃₁ of full column rank (verified solve): δ = 0, so s = m (T3's identity) and P_w(ĉ₁ ≠ ĉ₂) = 0")
        }
        var worst: Verdict?
        for t in try transfers(pair) {
            guard let v = fastVerdict(t, pair, identifiability) else { return nil }
            if v.outcome == .violated { return v }
            if worst == nil || v.ratio > worst!.ratio { worst = v }
        }
        return worst
    }

    /// One probe's enclosed parts, shared by the three forms: uᵀf₁ and (A₁₂ᵀu)ᵀf₂ per input
    /// (without the bias), and P_w(ĉ₁ ≠ ĉ₂) enclosed.
    struct FastProbeParts: Sendable {
        let teacher: [FastInterval]
        let student: [FastInterval]
        let disagreement: FastInterval
        /// |m| = |uᵀf₁ + b| per input, shared by the three forms.
        let margins: [FastInterval]
        /// E_w(m − s)² (the covariance form's residual, independent of γ).
        let residualSecondMoment: FastInterval
    }

    /// Probabilities under the normalised weights, which sum to exactly 1: within [0, 1]
    /// whatever the enclosures' rounding (so "no input can disagree" is exactly 0, and γ = ∞
    /// compares with exactly the constant).
    static func probability(_ lo: FastInterval, _ hi: FastInterval) -> FastInterval {
        FastInterval(lo: min(max(lo.lo, 0), 1), hi: min(max(hi.hi, 0), 1))
    }

    static func fastProbeParts(_ probe: ProbeDirection, _ pair: ModelPair, _ identifiability: FastIdentifiability) -> FastProbeParts {
        let u = probe.weights, bias = FastInterval(probe.bias), a = identifiability.map
        let w = pair.fastWeights()
        // (Lazy sums: no array per row.)
        let transported = (0..<a.columns).map { j in FastInterval.sum((0..<a.rows).lazy.map { a[$0, j] * FastInterval(u[$0]) }) }
        let f1 = pair.first.embeddings, f2 = pair.second.embeddings
        let teacherParts: [FastInterval] = u.withUnsafeBufferPointer { pu in
            f1.storage.withUnsafeBufferPointer { pf in
                (0..<f1.rows).map { FastInterval.dot(pu, UnsafeBufferPointer(rebasing: pf[($0 * f1.columns)..<(($0 + 1) * f1.columns)])) }
            }
        }
        let studentParts = (0..<f2.rows).map { i in FastInterval.sum((0..<f2.columns).lazy.map { transported[$0] * FastInterval(f2[i, $0]) }) }
        var certainlyDisagree: [FastInterval] = [], possiblyDisagree: [FastInterval] = []
        for i in w.indices {
            let m = teacherParts[i] + bias, s = studentParts[i] + bias
            let agree = (m.lo > 0 && s.lo > 0) || (m.hi <= 0 && s.hi <= 0)
            let disagree = (m.lo > 0 && s.hi <= 0) || (m.hi <= 0 && s.lo > 0)
            if disagree { certainlyDisagree.append(w[i]) }
            if !agree { possiblyDisagree.append(w[i]) }
        }
        return FastProbeParts(teacher: teacherParts, student: studentParts,
                              disagreement: probability(FastInterval.sum(certainlyDisagree), FastInterval.sum(possiblyDisagree)),
                              margins: teacherParts.map { ($0 + bias).magnitude },
                              residualSecondMoment: FastInterval.sum(w.indices.lazy.map { w[$0] * (teacherParts[$0] - studentParts[$0]).squared }))
    }

    func fastVerdict(_ t: ConceptTransfer, _ pair: ModelPair, _ identifiability: FastIdentifiability) -> Verdict? {
        let u = t.probe.weights
        let w = pair.fastWeights(), scale = FastInterval(constantScale)
        let parts = pair.cache.value("t11.fastParts." + t.probe.cacheKey) { Self.fastProbeParts(t.probe, pair, identifiability) }
        let lhs = parts.disagreement
        // The left side shown is the enclosure's upper end; where that is not the disagreement
        // to six digits, the Double count is given beside it.
        let total = t.weights.reduce(0, +), point = t.disagreement / total
        let note = lhs.hi - lhs.lo > 1e-6 ? "; P_w(ĉ₁ ≠ ĉ₂) = \(point) in Double (the left side shown is the enclosure's conservative end)" : ""
        guard let gamma = t.bound(variant).gamma else {
            return Verdict.fast(id, form, lhs: lhs, rhs: scale, constant: constantScale, constantName: "γ = ∞", note: note)
        }
        let g = FastInterval(gamma)
        // P_w(|m| < γ): the weights of inputs certainly below γ, and of those possibly below.
        var certainlyBelow = FastInterval.zero, possiblyBelow = FastInterval.zero
        for (i, m) in parts.margins.enumerated() where m.lo < gamma {
            possiblyBelow = possiblyBelow + w[i]
            if m.hi < gamma { certainlyBelow = certainlyBelow + w[i] }
        }
        let below = Self.probability(certainlyBelow, possiblyBelow)
        let residual: FastInterval
        switch variant {
        case .covariance:
            residual = parts.residualSecondMoment
        case .scalar:
            guard let v = identifiability.solving(u), let d = pair.fastLogitDistanceSquared() else { return nil }
            residual = FastInterval.sum(zip(u, v).map { FastInterval($0) * $1 }) * d
        case .sigma:
            // Only a lower end: σ_min² is bounded above (a Rayleigh quotient), not below.
            guard let d = pair.fastLogitDistanceSquared() else { return nil }
            let top = (FastInterval.sum(u.map { FastInterval($0).squared }) * d).lo
            residual = FastInterval(lo: (top / identifiability.sigmaMinSquaredUpper).nextDown, hi: .infinity)
        }
        // The residual term, and so the right side, is ≥ 0 in every form (a mean of squares;
        // ‖v‖²·d_logit²; ‖u‖²·d_logit²/σ²).
        let rhs = (scale * (below + residual.clampedNonNegative / g.squared)).clampedNonNegative
        return Verdict.fast(id, form, lhs: lhs, rhs: rhs, constant: constantScale / (gamma * gamma),
                            constantName: "\(constantScale)/γ² at γ = \(gamma)", note: note)
    }

    /// The exact decision for one probe at the screen's γ.
    func certify(_ pair: ModelPair, _ exact: ExactModelPair, gram: RationalMatrix, transfer t: ConceptTransfer) throws -> Verdict {
        // The exact margins and scores of a probe, once per pair (the three forms share them).
        let e = try pair.cache.value("t11.exactTransfer." + t.probe.cacheKey) { try ExactConceptTransfer(exact, probe: t.probe) }
        let scale = SigmaCertificate.exact(constantScale)
        let gamma = t.bound(variant).gamma
        let lhs = e.disagreement
        guard let gamma, let g = Rational(exactly: gamma) else {
            let rhs = scale * Rational.sum(exact.weights)
            return verdict(lhs: lhs, rhs: rhs, gamma: nil, why: "γ = ∞: the right side is the total weight")
        }
        let below = e.below(g)
        let gamma2 = g.squared
        switch variant {
        case .covariance:
            let rhs = scale * (below + e.residualSecondMoment / gamma2)
            return verdict(lhs: lhs, rhs: rhs, gamma: gamma, why: "exact: disagreement, P_w(|m| < γ) and vᵀΣ_δv = E_w(m − s)² (T3's identity) in rationals")
        case .scalar:
            let rhs = scale * (below + (try e.transportedNormSquared(gram: gram)) * pair.exactLogitDistanceSquared() / gamma2)
            return verdict(lhs: lhs, rhs: rhs, gamma: gamma, why: "exact: ‖v‖² = uᵀ(G̃₁ᵀG̃₁)⁻¹u and d_logit² in rationals")
        case .sigma:
            // lhs ≤ s(P + c/σ²) with c = ‖u‖²d²/γ²: trivially when lhs ≤ sP, else σ² ≤ c/(lhs/s − P).
            let c = e.probeNormSquared * pair.exactLogitDistanceSquared() / gamma2
            let excess = lhs / scale - below
            let sigma = t.sigmaMin
            let rhsDouble = constantScale * (below.doubleValue + c.doubleValue / (sigma * sigma))
            if excess.sign <= 0 {
                return Verdict(id: id, form: form, level: .exact, outcome: .holds, lhs: lhs.doubleValue, rhs: rhsDouble,
                               constant: constantScale / (gamma * gamma), constantName: "\(constantScale)/γ² at γ = \(gamma)",
                               exactLHS: lhs.exactString, certificate: "exact: the disagreement is at most s·P_w(|m| < γ)")
            }
            let (outcome, why) = try SigmaCertificate.decide(lhs: excess, numerator: c, gram: gram, matrixName: "G̃₁")
            return Verdict(id: id, form: form, level: .exact, outcome: outcome, lhs: lhs.doubleValue, rhs: rhsDouble,
                           constant: constantScale / (gamma * gamma), constantName: "\(constantScale)/γ² at γ = \(gamma)",
                           exactLHS: lhs.exactString, certificate: why)
        }
    }

    package func verdict(lhs: Rational, rhs: Rational, gamma: Double?, why: String) -> Verdict {
        Verdict(id: id, form: form, level: .exact, outcome: lhs < rhs || lhs == rhs ? .holds : .violated,
                lhs: lhs.doubleValue, rhs: rhs.doubleValue, constant: gamma.map { constantScale / ($0 * $0) } ?? constantScale,
                constantName: gamma.map { "\(constantScale)/γ² at γ = \($0)" } ?? "γ = ∞", exactLHS: lhs.exactString,
                certificate: why, lhsLog10: lhs.log10Magnitude, rhsLog10: rhs.log10Magnitude)
    }

    /// The harness's probes, a function of the pair alone (so a shrunk pair keeps its
    /// probes' recipe): (1) a pseudo-random direction with b at the weighted median of
    /// its margins (a balanced concept); (2) another direction with b putting one input
    /// just off the boundary (a margin of 10⁻⁶ of its terms' size); (3) u along the right-singular
    /// vector of G̃₁'s smallest singular value, where ‖v‖/‖u‖ = 1/σ_min is largest;
    /// (4) the first coordinate's sign, (e₁, 0), the probe of the `boundary` generator's
    /// equality case.
    public static let harnessProbes: @Sendable (ModelPair) -> [ProbeDirection] = { pair in
        let f = pair.first.embeddings, d = f.columns, n = f.rows
        var g = SeededGenerator(seed: 0x7111 &+ UInt64(d) &* 31 &+ UInt64(n))
        let random = (0..<d).map { _ in g.gaussian() }, other = (0..<d).map { _ in g.gaussian() }
        let median = balancedThreshold(f.applied(to: random), weights: pair.weights)
        // The near-boundary probe leaves input N/2 a margin of 10⁻⁶ of its terms' size:
        // far above rounding (the screen decides its sign), far below the other margins.
        let terms = f.row(n / 2).enumerated().map { $0.element * other[$0.offset] }
        let nearBoundary = -terms.reduce(0, +) + 1e-6 * terms.reduce(0) { $0 + abs($1) }
        var probes = [ProbeDirection(weights: random, bias: -median), ProbeDirection(weights: other, bias: nearBoundary)]
        if let svd = try? SingularValueDecomposition(pair.centredUnembeddings.first), svd.v.columns == d {
            let worst = (0..<d).map { svd.v[$0, d - 1] }
            probes.append(ProbeDirection(weights: worst, bias: -balancedThreshold(f.applied(to: worst), weights: pair.weights)))
        }
        probes.append(ProbeDirection(weights: (0..<d).map { $0 == 0 ? 1 : 0 }, bias: 0))
        return probes
    }
}

/// The weighted median: the smallest value whose cumulative weight reaches half.
public func weightedMedian(_ values: [Double], weights: [Double]) -> Double {
    let (order, position) = weightedMedianPosition(values, weights: weights)
    return values[order[position]]
}

/// The order of `values` and the position in it of the weighted median.
func weightedMedianPosition(_ values: [Double], weights: [Double]) -> (sorted: [Int], position: Int) {
    let order = values.indices.sorted { values[$0] < values[$1] }
    let half = weights.reduce(0, +) / 2
    var total = 0.0
    for (position, i) in order.enumerated() {
        total += weights[i]
        if total >= half { return (order, position) }
    }
    return (order, max(order.count - 1, 0))
}

/// A threshold that splits `values` at their weighted median but equals none of them:
/// halfway between the median and the next larger value (a probe's margins then
/// stay off 0).
func balancedThreshold(_ values: [Double], weights: [Double]) -> Double {
    let (order, position) = weightedMedianPosition(values, weights: weights)
    let median = values[order[position]]
    guard let next = order[(position + 1)...].map({ values[$0] }).first(where: { $0 > median }) else { return median + 1 }
    return median / 2 + next / 2
}

/// T11's quantities for one probe in exact rationals (the certificate's side).
struct ExactConceptTransfer {
    let exact: ExactModelPair
    let u: [Rational]
    let margins: [Rational]
    let scores: [Rational]

    init(_ exact: ExactModelPair, probe: ProbeDirection) throws {
        self.exact = exact
        guard let b = Rational(exactly: probe.bias) else { throw ModelError.badProbe("bias must be finite") }
        let u = try probe.weights.map { w in
            guard let r = Rational(exactly: w) else { throw ModelError.badProbe("weights must be finite") }
            return r
        }
        let f1 = exact.first.embeddings, f2 = exact.second.embeddings
        let a = try exact.identifiabilityMap()
        let column = RationalMatrix(rows: u.count, columns: 1, entries: u)
        // Fraction-free products (`RationalMatrix.multiplied`): one integer dot product and one
        // division per entry, where a sum of rationals takes a gcd per term.
        let transported = try ModelError.wrapping { try a.transposed.multiplied(by: column) }   // A₁₂ᵀu
        self.u = u
        // uᵀf₁ on integers (every Double is dyadic) when the source Doubles are at hand.
        if let source = exact.first.source,
           let products = try? RationalMatrix.exactProduct(source.embeddings, transposing: Matrix(rows: 1, columns: u.count, storage: probe.weights)) {
            margins = products.entries.map { $0 + b }
        } else {
            margins = try ModelError.wrapping { try f1.multiplied(by: column) }.entries.map { $0 + b }
        }
        scores = try ModelError.wrapping { try f2.multiplied(by: transported) }.entries.map { $0 + b }
    }

    /// P_w(ĉ₁ ≠ ĉ₂), exactly.
    var disagreement: Rational {
        Rational.sum(exact.weights.indices.filter { (margins[$0].sign > 0) != (scores[$0].sign > 0) }.map { exact.weights[$0] })
    }

    /// P_w(|m| < γ), exactly.
    func below(_ gamma: Rational) -> Rational {
        Rational.sum(exact.weights.indices.filter { margins[$0].magnitude < gamma }.map { exact.weights[$0] })
    }

    var probeNormSquared: Rational { Rational.sum(u.map(\.squared)) }

    /// (G̃₁ᵀG̃₁)⁻¹u.
    func solved(gram: RationalMatrix) throws -> [Rational] {
        try ModelError.wrapping { try gram.solve(RationalMatrix(rows: u.count, columns: 1, entries: u)).entries }
    }

    /// ‖v‖² = uᵀ(G̃₁ᵀG̃₁)⁻¹u.
    func transportedNormSquared(gram: RationalMatrix) throws -> Rational {
        Rational.sum(zip(u, try solved(gram: gram)).map { $0 * $1 })
    }

    /// vᵀΣ_δv = E_w (vᵀδ)², exactly. With G̃₁ of full column rank (checked exactly before),
    /// T3's identity vᵀδ(x) = uᵀ(f₁(x) − A₁₂f₂(x)) = m(x) − s(x) holds in rationals, so
    /// the sum runs over the exact margins and scores: O(N) instead of O(N k).
    /// (`T11Tests` checks the identity against vᵀδ formed from the exact logits.)
    var residualSecondMoment: Rational {
        Rational.sum(exact.weights.indices.map { exact.weights[$0] * (margins[$0] - scores[$0]).squared })
    }
}
