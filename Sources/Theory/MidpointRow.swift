import Numerics

/// One row of the streamed pass by midpoint and radius (Proofs/certificates.md §5, "The
/// row by midpoints"): the logits are Λ_s = P_s + ε_s with |ε_s| ≤ R_s entrywise, P_s the
/// computed Doubles. Two plain Double passes over the labels give d_logit², both KLs and
/// log τ at P with a priori bounds on their rounding, and each is then widened by its
/// sensitivity to the R_s. No per-label interval arithmetic: this is what makes the pass
/// cost about the screen's at language-model scale. nil when an enclosure is not tight
/// (relative width above `relativeWidth`, e.g. models nearly equal, where the interval kernel's
/// variance form keeps KL's digits) or a value leaves the kernels' ranges.
enum MidpointRow {
    static let u = 0x1p-53
    static let eta = Double.leastNonzeroMagnitude

    /// Every sum over a row's labels is formed in blocks of this many labels, the blocks' sums
    /// then added in turn: no term meets more than `roundings(labels:)` roundings, so the a
    /// priori factor is γ of that count (1 999 at k = 10⁶) where a sum in one run needs γ_k.
    static let block = FastMath.midpointBlock

    /// The most roundings a term meets in such a sum of k terms: k − 1 within one block; else
    /// b − 1 within its block and ⌈k/b⌉ − 1 among the blocks' sums (each sum starts at 0, so
    /// its first addition is exact).
    static func roundings(labels k: Int) -> Int {
        k <= block ? Swift.max(k - 1, 0) : (block - 1) + ((k + block - 1) / block - 1)
    }

    /// g ≥ γ_{n+2}, n = `roundings(labels: k)`: the factor of any of the row's sums of k terms
    /// or products (one rounding more), with one to spare; γ_{k+1} in one block, as before blocks.
    static func sumErrorFactor(labels k: Int) -> Double {
        FastMath.productErrorFactor(roundings(labels: k) + 2)
    }

    /// A non-negative interval [lo, hi] is tight when lo > 0 and hi − lo ≤ w·hi.
    static func tight(_ x: FastInterval, _ w: Double) -> Bool { x.lo > 0 && x.hi - x.lo <= w * x.hi }

    /// `scratch` gives T1's distance constants; a row whose d_logit² or KLs are wider than
    /// `relativeWidth` (relatively) is nil.
    static func reduce(_ p1: UnsafePointer<Double>, _ p2: UnsafePointer<Double>, labels k: Int,
                       radii: (Double, Double), relativeWidth: Double = RowKernel.directRelativeWidth,
                       scratch: RowKernel) -> FastLogitSums.Row? {
        // Pass 1: the largest and least logits, c_y = RN(P₁ − P₂): Σc, Σ|c|, max c, min c.
        let first = firstPass(p1, p2, labels: k)
        let (m1, n1, m2, n2) = (first.m1, first.n1, first.m2, first.n2)
        let (sumC, sumAbsC, cMax, cMin) = (first.sumC, first.sumAbsC, first.cMax, first.cMin)
        guard sumAbsC.isFinite, m1.isFinite, m2.isFinite, n1.isFinite, n2.isFinite else { return nil }
        // Models within about √(R/w) of each other (osc = max c − min c < 1): each KL ≤ ½e^{osc}·osc²/4
        // < e·osc²/8 while its widening below is at least 2R₂ (2R₁) each side, a relative width of
        // about 32R/(e·osc²) ≥ w when osc²·w < 4(R₁ + R₂) ≤ 8 max R; such a row cannot be tight, and
        // the interval kernel takes it without the passes below (a shortcut, not a bound).
        let oscillation = cMax - cMin
        if oscillation < 1, oscillation * oscillation * relativeWidth < 4 * (radii.0 + radii.1) { return nil }
        // Ranges W_s = m_s − n_s (rounded up): every x = P − m has |x| ≤ W. Beyond uW = 10⁻³ the
        // argument's rounding would cost digits: the interval kernel takes the row.
        let w1 = (m1 - n1).nextUp, w2 = (m2 - n2).nextUp
        guard u * Swift.max(w1, w2) <= 1e-3 else { return nil }
        let mean = sumC / Double(k)
        // Pass 2: t = exp(RN(P − m)) by the kernel; S = Σt; A = Σ t·c, B = Σ t·|c| per model;
        // ‖v‖² with v = RN(c − mean); ‖c‖² (the exponentials formed block by block in C).
        let second = FastMath.midpointExponentialPass(p1, p2, shifts: (m1, m2), labels: k, mean: mean)
        let (s1, s2, a1, a2, b1, b2) = (second.s1, second.s2, second.a1, second.a2, second.b1, second.b2)
        let (vv, cc) = (second.vv, second.cc)
        // From here on, a few interval operations per row (outward rounding, §1).
        typealias I = FastInterval
        let g = sumErrorFactor(labels: k)                  // any of the blocked sums of k terms or products
        guard g < 1e-3 else { return nil }
        let kEta = I(Double(2 * k)) * I(eta)               // ≥ every underflow allowance of k terms
        func up(_ x: I) -> Double { x.hi }
        // ε_s ≥ the kernel's relative error at the rounded argument: 3.52u + (e^{uW} − 1)(1 + 3.52u).
        func epsilon(_ w: Double) -> Double { up((I(3.6) + I(1.01) * I(w)) * I(u)) }
        let (e1, e2) = (epsilon(w1), epsilon(w2))
        let gI = I(g)
        // S_s: |Ŝ − S| ≤ σS (S ≥ 1: the term at the largest logit is e⁰), σ = ε + g(1 + ε) + 2kη.
        func sum(_ hat: Double, _ e: Double) -> I? {
            let sigma = up(I(e) + gI * (I(1) + I(e)) + kEta)
            guard sigma < 0.01 else { return nil }
            return I(hat) / I(lo: (1 - sigma).nextDown, hi: (1 + sigma).nextUp)
        }
        guard let bigS1 = sum(s1, e1), let bigS2 = sum(s2, e2) else { return nil }
        let lse1 = I(m1) + bigS1.log, lse2 = I(m2) + bigS2.log          // at P
        // Σ|z| ≤ Σ̂|c|/(1 − g) with z = P₁ − P₂ exact (|c − z| ≤ u|c|).
        let oneMinusG = I(1) - gI
        let absZ = up(I(sumAbsC) * I(1.0.nextUp) / oneMinusG)
        // E_p z = Σ T z / S with T = e^{P−m}: |A − Σ T z| ≤ (ε + u + g(1 + ε))·Σ T|c| + (1 + g)ηΣ|c| + 2kη,
        // and Σ T|c| ≤ (B + 2kη + ηΣ|c|)/((1 − g)(1 − ε)).
        func expectation(_ aHat: Double, _ bHat: Double, _ e: Double, _ bigS: I) -> I {
            let weighted = up((I(bHat) + kEta + I(eta) * I(absZ)) / ((I(1) - gI) * (I(1) - I(e))))
            let error = up((I(e) + I(u) + gI * (I(1) + I(e))) * I(weighted) + (I(1) + gI) * I(eta) * I(absZ) + kEta)
            return I(lo: (aHat - error).nextDown, hi: (aHat + error).nextUp) / bigS
        }
        let ez1 = expectation(a1, b1, e1, bigS1), ez2 = expectation(a2, b2, e2, bigS2)
        // KL at P: KL(p‖q) = E_p z − (lse₁ − lse₂), KL(q‖p) = (lse₁ − lse₂) − E_q z.
        let shift = lse1 - lse2
        let kl12AtP = ez1 - shift, kl21AtP = shift - ez2
        // Sensitivity to the logits' errors (mean value theorem; ‖∇_a KL‖₁ = E_p|δ − E_pδ| ≤ osc δ,
        // ‖∇_b KL‖₁ = ‖q − p‖₁ ≤ 2, and osc grows by ≤ 2(R₁ + R₂) along the segment).
        let (r1, r2) = (I(radii.0), I(radii.1))
        let osc = I(cMax) - I(cMin) + I(2 * u) * I(Swift.max(Swift.abs(cMax), Swift.abs(cMin))) + I(2) * (r1 + r2)
        let kl12 = widen(kl12AtP, by: r1 * osc + I(2) * r2).clampedNonNegative
        let kl21 = widen(kl21AtP, by: r2 * osc + I(2) * r1).clampedNonNegative
        let distance = distanceSquared(labels: k, mean: mean, sumAbsC: sumAbsC, vv: vv, cc: cc, radii: radii,
                                       constants: scratch.distanceConstants)
        // log τ_s = min Λ − lse(Λ), lse(Λ) within R_s of lse(P).
        let tauFirst = widen(I(n1), by: r1) - widen(lse1, by: r1)
        let tauSecond = widen(I(n2), by: r2) - widen(lse2, by: r2)
        guard tight(distance, relativeWidth), tight(kl12, relativeWidth), tight(kl21, relativeWidth) else { return nil }
        return FastLogitSums.Row(distanceSquared: distance, klFirstSecond: kl12, klSecondFirst: kl21,
                                 logTauFirst: tauFirst, logTauSecond: tauSecond, refined: false)
    }

    /// ‖C(Λ₁ − Λ₂)‖² for one row from its computed logits P₁, P₂ and radii R₁, R₂
    /// (|Λ_sy − P_sy| ≤ R_s): two plain passes and step 6 of Proofs/certificates.md §5, "The
    /// row by midpoints" (T1's three distances; `reduce` shares the step).
    static func distanceSquared(_ p1: UnsafePointer<Double>, _ p2: UnsafePointer<Double>, labels k: Int,
                                radii: (Double, Double), constants: DistanceConstants?) -> FastInterval {
        let (sumC, sumAbsC) = differenceSums(p1, p2, labels: k)
        guard sumAbsC.isFinite else { return .entire }
        let mean = sumC / Double(k)
        let (vv, cc) = varianceSums(p1, p2, labels: k, mean: mean)
        return distanceSquared(labels: k, mean: mean, sumAbsC: sumAbsC, vv: vv, cc: cc, radii: radii, constants: constants)
    }

    // The passes' sums, in C (`FastMath.midpointFirstPass`, `midpointSecondPass`): each formed in
    // blocks of `block` labels, a block in four running sums added in order at its end, the
    // blocks' sums then added in turn. In a block of m labels a term meets at most ⌈m/4⌉ − 1 + 3
    // roundings, at most m − 1 (for m < 4 the empty lanes add exact zeros), so `roundings` bounds
    // it (tests check every sum against its exact value on rows that round every addition one
    // way). `vectors: false` runs them without AVX2 (the same bits).

    /// Pass 1 of `reduce`: each model's largest and least logit, and of c_y = RN(P₁ − P₂) the
    /// blocked Σc and Σ|c|, max c and min c.
    static func firstPass(_ p1: UnsafePointer<Double>, _ p2: UnsafePointer<Double>, labels k: Int,
                          vectors: Bool = true) -> FastMath.MidpointFirstPass {
        FastMath.midpointFirstPass(p1, p2, labels: k, vectors: vectors)
    }

    /// Pass 2 of `reduce`, given t_s = exp(P_s − m_s): the blocked S_s = Σt_s, A_s = Σt_s·c,
    /// B_s = Σt_s·|c|, V = Σv² with v = RN(c − mean), and C = Σc².
    static func secondPass(_ p1: UnsafePointer<Double>, _ p2: UnsafePointer<Double>, _ t1: UnsafePointer<Double>, _ t2: UnsafePointer<Double>,
                           labels k: Int, mean: Double, vectors: Bool = true) -> FastMath.MidpointSecondPass {
        FastMath.midpointSecondPass(p1, p2, exponentials: (t1, t2), labels: k, mean: mean, vectors: vectors)
    }

    /// T1's distances' first pass: pass 1's Σc and Σ|c| of c_y = RN(P₁ − P₂).
    static func differenceSums(_ p1: UnsafePointer<Double>, _ p2: UnsafePointer<Double>, labels k: Int,
                               vectors: Bool = true) -> (sumC: Double, sumAbsC: Double) {
        let r = FastMath.midpointFirstPass(p1, p2, labels: k, vectors: vectors)
        return (r.sumC, r.sumAbsC)
    }

    /// T1's distances' second pass: pass 2's V = Σv² with v = RN(c − mean) and C = Σc² alone.
    static func varianceSums(_ p1: UnsafePointer<Double>, _ p2: UnsafePointer<Double>, labels k: Int, mean: Double,
                             vectors: Bool = true) -> (vv: Double, cc: Double) {
        let r = FastMath.midpointSecondPass(p1, p2, exponentials: nil, labels: k, mean: mean, vectors: vectors)
        return (r.vv, r.cc)
    }

    /// Step 6's constants for k labels, each rounded the safe way (Lemma 1): formed once per
    /// product of distances, not per row.
    struct DistanceConstants {
        let k: Double
        /// ≥ 2kη, the underflow allowance of k terms.
        let kEta: Double
        /// ≥ (1 + 2u)/(1 − g): Σ|z| ≤ Σ̂|c|·this (g from `sumErrorFactor`).
        let absoluteScale: Double
        /// ≤ 1/(1 + g) and ≥ 1/(1 − g): ‖v‖² ∈ (V ± 2kη)·[these].
        let lowScale: Double
        let highScale: Double
        /// ≥ (g + u)/k, β's first term per unit of Σ|z|.
        let betaScale: Double
        /// ≥ √k.
        let rootK: Double
        /// nil when k is too large for the sums' bound (g ≥ 10⁻³).
        init?(labels k: Int) {
            let g = MidpointRow.sumErrorFactor(labels: k)
            guard g < 1e-3 else { return nil }
            self.k = Double(k)
            kEta = (Double(2 * k) * MidpointRow.eta).nextUp
            let oneMinusG = (1 - g).nextDown, onePlusG = (1 + g).nextUp
            absoluteScale = (1.0.nextUp / oneMinusG).nextUp
            lowScale = (1 / onePlusG).nextDown
            highScale = (1 / oneMinusG).nextUp
            betaScale = ((g + MidpointRow.u).nextUp / Double(k)).nextUp
            rootK = Double(k).squareRoot().nextUp
        }
    }

    /// Step 6 from the passes' sums: μ̂ = RN(fl(Σc)/k), fl(Σ|c|), V = fl(Σv²) with v = RN(c − μ̂),
    /// C = fl(Σc²) (c = RN(P₁ − P₂)), each summed in blocks (`roundings`). Scalar steps, each
    /// rounded to nearest and then pushed one Double toward safety (Lemma 1); nonnegative, or
    /// the whole line when a sum overflowed or k is too large.
    static func distanceSquared(labels k: Int, mean: Double, sumAbsC: Double, vv: Double, cc: Double,
                                radii: (Double, Double), constants: DistanceConstants? = nil) -> FastInterval {
        guard let c = constants ?? DistanceConstants(labels: k) else { return .entire }
        // Σ|z| ≤ Σ̂|c|(1 + 2u)/(1 − g) with z = P₁ − P₂ exact (|c − z| ≤ u|c|).
        let absZ = (sumAbsC * c.absoluteScale).nextUp
        // ‖Cz‖: ≤ ‖z − μ̂1‖ ≤ ‖v‖ + ‖ζ‖ (ζ = u(|c| + |v|)), ≥ √((‖v‖ − ‖ζ‖)₊² − kβ²), β ≥ |z̄ − μ̂|.
        let vSquaredLow = Swift.max(((vv - c.kEta).nextDown * c.lowScale).nextDown, 0)
        let vSquaredHigh = ((vv + c.kEta).nextUp * c.highScale).nextUp
        let vLow = vSquaredLow.squareRoot().nextDown, vHigh = vSquaredHigh.squareRoot().nextUp
        let cNorm = (((cc + c.kEta).nextUp * c.highScale).nextUp).squareRoot().nextUp
        let zeta = (u * (cNorm + vHigh).nextUp).nextUp
        let beta = (((c.betaScale * absZ).nextUp + (u * Swift.abs(mean)).nextUp).nextUp + eta).nextUp
        let upper = (vHigh + zeta).nextUp
        let lowerBase = Swift.max((vLow - zeta).nextDown, 0)
        let lowerSquared = Swift.max(((lowerBase * lowerBase).nextDown - ((c.k * beta).nextUp * beta).nextUp).nextDown, 0)
        let lower = lowerSquared.squareRoot().nextDown
        // Λ's errors move ‖C(Λ₁ − Λ₂)‖ by at most ‖ε₁ − ε₂‖ ≤ √k(R₁ + R₂).
        let spread = (c.rootK * (radii.0 + radii.1).nextUp).nextUp
        let low = Swift.max((lower - spread).nextDown, 0), high = (upper + spread).nextUp
        let distance = FastInterval(lo: Swift.max((low * low).nextDown, 0), hi: (high * high).nextUp)
        return distance.lo.isNaN || distance.hi.isNaN ? .entire : distance
    }

    /// x ± r (r ≥ 0 enclosed; its upper end used).
    static func widen(_ x: FastInterval, by r: FastInterval) -> FastInterval {
        x + FastInterval(lo: -r.hi, hi: r.hi)
    }
}
