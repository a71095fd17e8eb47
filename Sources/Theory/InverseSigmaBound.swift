import Numerics

/// The shared shape of T3 and T4: ℓ ≤ s · d_logit² / σ_min(M)² for a matrix M of the
/// first model that must have full column rank (s = constantScale, 1 for the theorem).
/// The screen uses Double σ_min; the certificate is exact (`SigmaCertificate.decide`
/// on MᵀM in rationals) up to 16 columns, and above by certified inertia counts of MᵀM − tI
/// (MPFR intervals, exact elimination where they cannot tell).
package struct InverseSigmaBound: Sendable {
    package let id: StatementID
    package let form: String
    /// M's name in messages, e.g. "G̃₁".
    package let matrixName: String
    package let constantScale: Double
    /// Whether M has full column rank, and its σ_min, from the first model's diversity.
    package let fullRank: @Sendable (Diversity) -> Bool
    package let sigmaMin: @Sendable (Diversity) -> Double
    /// ℓ in Double and exactly.
    package let lhs: @Sendable (ModelPair) throws -> Double
    package let exactLHS: @Sendable (ExactModelPair) throws -> Rational
    /// MᵀM exactly.
    package let gram: @Sendable (ExactModelPair) -> RationalMatrix
    /// Whether M has full column rank, exactly (from ranks modulo a prime where they prove it,
    /// else exact minors: `ExactModel.provenRank`).
    package let exactFullRank: @Sendable (ExactModelPair) throws -> Bool
    /// The fast level's left side, an upper bound on σ_min(M)², both given only when
    /// M's full column rank is proven (nil: no fast path, or not proven).
    package var fast: (@Sendable (ModelPair) -> (lhs: FastInterval, sigmaMinSquaredUpper: Double)?)? = nil
    /// Whether M has full column rank to Double precision with each column measured against its
    /// own level (M with its columns equilibrated by powers of two): a column 2⁶⁰ apart from the
    /// others (the other factor scaled back, the same model) fails Double diversity, which
    /// measures every column against the largest, and passes this.
    package var columnwiseFullRank: (@Sendable (ModelPair) -> Bool)? = nil

    package var constantName: String { "\(constantScale)/σ_min(\(matrixName))²" }

    /// The screen's hypothesis alone: M of full column rank, in Double or (rank-deficient to
    /// Double precision) exactly within the exact level's size; the Double left side is not formed.
    func inapplicability(_ pair: ModelPair) throws -> Verdict? {
        if fullRank(try pair.firstDiversity()) || fullRankBeyondDiversity(pair) { return nil }
        return .inapplicable(id, form, level: .double, "\(matrixName) does not have full column rank")
    }

    /// Whether M has full column rank where Double diversity says not: column by column, or exactly.
    func fullRankBeyondDiversity(_ pair: ModelPair) -> Bool { columnwiseFullRank?(pair) == true || exactlyFullRank(pair) }

    /// Whether M has full column rank exactly, decided within the exact level's size (false above).
    func exactlyFullRank(_ pair: ModelPair) -> Bool {
        guard pair.exactMomentsAffordable, let exact = try? pair.exact() else { return false }
        return (try? exactFullRank(exact)) == true
    }

    func screen(_ pair: ModelPair) throws -> Verdict {
        let diversity = try pair.firstDiversity()
        guard fullRank(diversity) else {
            // Rank-deficient to Double precision may still be of full rank exactly (κ ≳ 10¹⁴): within
            // the exact level's size that is decided exactly, and then the bound applies. The
            // screen compares with the Double σ_min where it is positive (a screen, as always: the
            // fast and exact certificates decide), and says "not decided" where it is 0.
            if fullRankBeyondDiversity(pair) {
                let sigma = sigmaMin(diversity)
                guard sigma > 0 else {
                    return Verdict(id: id, form: form, level: .double, outcome: .undecided, lhs: .nan, rhs: .nan, constant: .nan,
                                   constantName: constantName,
                                   certificate: "\(matrixName) is of full column rank (with its columns equilibrated, or exactly) but its Double σ_min is 0: not decided by the screen")
                }
                return verdict(lhs: try lhs(pair), sigmaMin: sigma, logitDistanceSquared: try pair.logitDistanceSquared())
            }
            return .inapplicable(id, form, level: .double, "\(matrixName) does not have full column rank")
        }
        return verdict(lhs: try lhs(pair), sigmaMin: sigmaMin(diversity), logitDistanceSquared: try pair.logitDistanceSquared())
    }

    /// The screen's verdict from its three numbers (also used by merged shard statistics).
    package func verdict(lhs l: Double, sigmaMin sigma: Double, logitDistanceSquared: Double) -> Verdict {
        let c = constantScale / (sigma * sigma)
        let rhs = c * logitDistanceSquared
        return Verdict(id: id, form: form, level: .double, outcome: l <= rhs ? .holds : .violated,
                       lhs: l, rhs: rhs, constant: c, constantName: constantName)
    }

    /// "holds" from fast enclosures: ℓ's upper end at most s·d_logit²'s lower end over an
    /// upper bound of σ_min². Only "holds": a violation needs σ_min bounded below, which
    /// the exact certificate does. nil (escalate) otherwise.
    func fastCertify(_ pair: ModelPair) -> Verdict? {
        guard let fast, let (l, sigmaSquared) = fast(pair), let d = pair.fastLogitDistanceSquared() else { return nil }
        return fastVerdict(lhs: l, sigmaSquaredUpper: sigmaSquared, logitDistanceSquared: d)
    }

    /// The same from the enclosed sides (also a merge of shards' statistics).
    func fastVerdict(lhs l: FastInterval, sigmaSquaredUpper sigmaSquared: Double, logitDistanceSquared d: FastInterval) -> Verdict? {
        guard sigmaSquared > 0 else { return nil }
        let top = (FastInterval(constantScale) * d).lo
        let rhs = FastInterval(lo: (top / sigmaSquared).nextDown, hi: .infinity)
        return Verdict.fast(id, form, lhs: l, rhs: rhs, constant: constantScale / sigmaSquared,
                            constantName: "\(constantScale)/σ², σ² ≥ σ_min(\(matrixName))² (a Rayleigh quotient)")
    }

    func certify(_ pair: ModelPair) throws -> Verdict {
        let exact = try pair.exact()
        guard try exactFullRank(exact) else {
            return .inapplicable(id, form, level: .exact, "\(matrixName)ᵀ\(matrixName) is exactly singular: \(matrixName) lacks full column rank")
        }
        let s = gram(exact)
        let pencil = SymmetricPencil(s, .identity(s.rows))
        // Each count of S's eigenvalues above t made once: the σ_min² bracket below starts from them.
        let memo = CountMemo()
        func count(_ t: Rational) throws -> Int { try memo.count(t, pencil.positiveCount) }
        // Above 16 columns the comparison is the pencil's certified count (MPFR first): `.enclosure`.
        let counted = SigmaCertificate.countedByPencil(s)
        let level: VerdictLevel = counted ? .enclosure : .exact
        let l = try exactLHS(exact)
        let distance = pair.exactLogitDistanceSquared()
        let numerator = SigmaCertificate.exact(constantScale) * distance
        let (outcome, why) = counted ? try SigmaCertificate.decide(lhs: l, numerator: numerator, size: s.rows, count: count, matrixName: matrixName)
                                     : try SigmaCertificate.decide(lhs: l, numerator: numerator, gram: s, matrixName: matrixName)
        // The right side shown is d_logit²/t with t a certified upper end of σ_min²: the Double
        // σ_min² raised slightly where one inertia count confirms it (the Double value itself had been
        // shown, up to 5.6·10⁻⁹ above the true side), else a 2⁻⁴⁴ bracket by inertia counts. The
        // bracket also serves where the Double σ_min is rounding noise: M of full rank only column
        // by column (columns 2⁵²⁰ apart: the side read 3 729 for 2·10³¹²) or only exactly (heavy,
        // nearly parallel inputs: it was nan).
        let diversity = try pair.firstDiversity()
        let estimate = fullRank(diversity) ? sigmaMin(diversity) * sigmaMin(diversity) : .nan
        var certificate = why
        // The Double σ_min² raised by 2⁻⁴⁴, then by 2⁻³⁰ (κ of 10² … 10⁴, or weights summing to
        // 1 − 10⁻¹² that the exact level renormalises), each one count, once a count below it shows
        // σ_min² > σ²(1 − 2⁻³⁰): the side then lies within 2⁻²⁹ of the true one. The bracket
        // (about 60 counts) last.
        let below = estimate.isNormal ? Rational(exactly: estimate * (1 - 0x1p-30)) : nil
        let close = try below.map { try count($0) == s.rows } ?? false
        let raised = close ? [0x1p-44, 0x1p-30].compactMap { Rational(exactly: estimate * (1 + $0)) } : []
        let upper: Rational
        if numerator.isZero, estimate.isNormal, let t = Rational(exactly: estimate) {
            upper = t                                   // the side is 0 whatever σ_min (identical models)
        } else if let t = try raised.first(where: { try count($0) < s.rows }) {
            upper = t
        } else {
            let (lo, hi) = try SigmaCertificate.smallestEigenvalue(of: pencil, known: memo.counted)
            upper = hi
            certificate += "; σ_min(\(matrixName))² ∈ [\(lo.reportString), \(hi.reportString)] by certified inertia counts"
                + (estimate.isNormal ? "" : " (its Double σ_min is rounding noise: \(matrixName) is of full column rank only column by column or exactly)")
        }
        let side = numerator / upper
        let constant = (SigmaCertificate.exact(constantScale) / upper).doubleValue
        // From logarithms where 1/t leaves the Double range (t subnormal).
        let c = constant.isNormal ? constant : (constantScale.log - upper.log10Magnitude * Double.ln10).exp
        var rhs = side.doubleBelow   // a certified lower end, rounded down
        let rhsLog10 = side.log10Magnitude
        certificate += "; the right side shown is a certified lower end: d_logit²/t, t ≥ σ_min² (the Double σ_min² raised by 2⁻⁴⁴ or 2⁻³⁰, or the bracket's upper end)"
        // At equality (T3's tight case) the lower end lies below the exact left side ("left 1 |
        // right 0.9999999999999998 | holds"). The certified comparison orders the two, so the side
        // shown keeps that order.
        let lhs = l.doubleValue
        if lhs.isFinite && rhs.isFinite && (outcome == .holds ? rhs < lhs : rhs >= lhs) {
            certificate += "; the right side's estimate \(rhs) falls on the wrong side of the exact left side: shown as \(outcome == .holds ? "the left side, which the certified comparison bounds it by" : "just below the left side")"
            rhs = outcome == .holds ? lhs : lhs.nextDown
        }
        return Verdict(id: id, form: form, level: level, outcome: outcome, lhs: lhs,
                       rhs: rhs, constant: c, constantName: constantName,
                       exactLHS: l.exactString, certificate: certificate,
                       lhsLog10: l.log10Magnitude, rhsLog10: rhsLog10)
    }
}
