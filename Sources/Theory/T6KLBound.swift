import Foundation
import Numerics

/// T6: if every probability of both models is ≥ τ > 0, then
/// d_logit² ≤ KL(M₁‖M₂) / τ² (`.global`), and with a per-input τ_x,
/// d_logit² ≤ E_x KL_x(M₁‖M₂) / τ_x² (`.perInput`, never weaker).
/// Proof: Proofs/T6-kl-bound.md.
///
/// The sharper constant the tightness explorer pointed to, proven in
/// Proofs/T6-sharp-kl-bound.md: d_logit² ≤ 2 KL(M₁‖M₂) / τ (`.sharp`) and
/// d_logit² ≤ E_x 2 KL_x / τ_x (`.sharpPerInput`). Since τ ≤ 1/k ≤ 1/2, 2/τ ≤ 1/τ²,
/// so the 1/τ² forms are weaker corollaries of these. The right side is exponentially large in the
/// logit scale: the bound is vacuous on realistic models, which is T6's point.
///
/// Certification encloses KL and τ with MPFR (outward rounding) and d_logit²
/// exactly; "holds" needs the upper end of the left side below the lower end of
/// the right side. The enclosures start at 128 bits; an undecided comparison is
/// retried at 256, 512 and 1024 bits.
public struct T6KLBound: PairStatement {
    public enum Form: String, Sendable, CaseIterable {
        case global, perInput, sharp, sharpPerInput

        /// The 2/τ forms rather than the 1/τ² ones.
        public var isSharp: Bool { self == .sharp || self == .sharpPerInput }
        /// Each input with its own τ_x rather than one τ for the sample.
        public var isPerInput: Bool { self == .perInput || self == .sharpPerInput }
    }

    public let id = StatementID.T6
    public let variant: Form
    public let constantScale: Double
    /// Whether a screened near-tie or violation is redone from the exact logit differences
    /// (`ModelPair.refinedDivergence`, O(N·k·(d₁ + d₂)) in exact integers, about 1.5 s at
    /// N·k·(d₁ + d₂) = 2.4·10⁷): `measure` allows it where it allows the exact level, and at
    /// any certification up to `refinementSizeLimit`; beyond, it would run for hours at
    /// language-model shape.
    public let refiningScreen: Bool

    /// N·k·(d₁ + d₂) up to which `measure` refines T6's screen whatever the certification.
    public static let refinementSizeLimit = 2e7

    public init(_ variant: Form = .global, constantScale: Double = 1, refiningScreen: Bool = true) {
        self.variant = variant
        self.constantScale = constantScale
        self.refiningScreen = refiningScreen
    }

    public var form: String {
        switch variant {
        case .global: return "d_logit² ≤ KL(M₁‖M₂) / τ²"
        case .perInput: return "d_logit² ≤ E_x KL_x(M₁‖M₂) / τ_x²"
        case .sharp: return "d_logit² ≤ 2 KL(M₁‖M₂) / τ"
        case .sharpPerInput: return "d_logit² ≤ E_x 2 KL_x(M₁‖M₂) / τ_x"
        }
    }

    /// log of the factor multiplying KL for a given log τ: −2 log τ, or log 2 − log τ.
    func logFactor(_ logTau: Double) -> Double {
        variant.isSharp ? 0.6931471805599453 - logTau : -2 * logTau
    }

    /// The double screen. When it is a near-tie or a violation, it is redone once (where
    /// `refiningScreen`) from the exact logit differences rounded once (`ModelPair.refinedDivergence`):
    /// for near-equal models (orbit pairs, rounding-level KL) the plain double KL is
    /// noise, and the refined screen usually separates the sides, sparing the MPFR
    /// certification. What still needs it is certified by `check` as before.
    /// T6 has no hypothesis beyond the pair itself: never inapplicable.
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? { nil }

    public func screen(_ pair: ModelPair) throws -> Verdict {
        let stats = pair.logitStatistics()
        let plain = verdict(lhs: try pair.logitDistanceSquared(), klPerInput: stats.klPerInput, stats: stats,
                            weights: pair.weights)
        guard plain.needsCertification, refiningScreen, let refined = pair.refinedDivergence() else { return plain }
        return verdict(lhs: refined.logitDistanceSquared, klPerInput: refined.klPerInput, stats: stats,
                       weights: pair.weights)
    }

    /// The right side is summed in log space (log KL_x + log factor), so that a factor
    /// beyond the Double range (τ below ~e^−354) gives rhs = +∞ against a finite left
    /// side, a clear "holds", instead of ∞·0 or a comparison of infinities.
    package func verdict(lhs: Double, klPerInput: [Double], stats: LogitStatistics, weights w: [Double]) -> Verdict {
        if variant.isPerInput {
            // Directly when every factor is a finite Double, in log space otherwise.
            var direct = 0.0
            for x in w.indices {
                direct += w[x] * klPerInput[x] * logFactor(stats.logTauPerInput[x]).exp
                if !direct.isFinite { break }
            }
            if direct.isFinite { return verdict(lhs: lhs, kl: .nan, logTau: stats.logTau, perInputMean: direct) }
            let logMean = perInputLogMean(klPerInput: klPerInput, logTauPerInput: stats.logTauPerInput, weights: w)
            return verdict(lhs: lhs, kl: .nan, logTau: stats.logTau, perInputLogMean: logMean)
        }
        let kl = w.indices.reduce(0.0) { $0 + w[$1] * klPerInput[$1] }
        return verdict(lhs: lhs, kl: kl, logTau: stats.logTau, perInputLogMean: nil)
    }

    /// log E_x KL_x · factor(τ_x), summed in log space (any τ_x).
    package func perInputLogMean(klPerInput: [Double], logTauPerInput: [Double], weights w: [Double]) -> Double {
        logSumExp(w.indices.map { w[$0].log + klPerInput[$0].log + logFactor(logTauPerInput[$0]) })
    }

    /// The verdict from d_logit², KL and log τ (global forms) or log E_x KL_x·factor(τ_x)
    /// (per-input forms; `perInputMean` is that mean itself when it is a finite Double);
    /// also used by merged shard statistics.
    package func verdict(lhs: Double, kl: Double, logTau: Double, perInputMean: Double? = nil, perInputLogMean: Double? = nil) -> Verdict {
        let rhs: Double
        if variant.isPerInput {
            let direct = perInputMean ?? (perInputLogMean ?? .nan).exp
            rhs = direct.isFinite ? constantScale * direct : (constantScale.log + (perInputLogMean ?? .nan)).exp
        } else {
            rhs = (constantScale.log + kl.log + logFactor(logTau)).exp
        }
        let name = variant.isSharp ? "2/τ" : "1/τ²"
        return Verdict(id: id, form: form, level: .double, outcome: lhs <= rhs ? .holds : .violated,
                       lhs: lhs, rhs: rhs, constant: constantScale * logFactor(logTau).exp,
                       constantName: variant.isPerInput ? "\(constantScale)·\(name.replacingOccurrences(of: "τ", with: "τ_x")) per input"
                                                        : "\(constantScale)·\(name), log τ = \(logTau)")
    }

    /// Both sides as fast enclosures from the streamed pass (`FastLogitSums`): d_logit²,
    /// KL and log τ with proven error bounds in Double arithmetic, at any size. nil when
    /// they overlap (a near-tie, or KL at rounding level), and `certify` decides.
    /// nil (escalate) where d_logit² is exactly 0 (`certify` decides 0 ≤ KL·factor at once;
    /// the streamed pass there runs every row through the interval kernel, to no use).
    public func fastCertify(_ pair: ModelPair) throws -> Verdict? {
        pair.logitDistanceIsExactlyZero ? nil : pair.fastLogitSums().flatMap(fastVerdict)
    }

    /// The verdict from streamed sums (one run's or merged shards'); nil when undecided.
    package func fastVerdict(_ sums: FastLogitSums) -> Verdict? {
        let scale = FastInterval(constantScale)
        let rhs: FastInterval
        var rhsLog10: Double? = nil
        // A right side's lower bound known only as a logarithm: shown (`Verdict.fast` shows it
        // where it exceeds the Double lower end), and e^{log lower} raises the enclosure's lower
        // end for the decision (the largest Double where that overflows: the side exceeds it).
        func raised(_ side: FastInterval, logLower: Double) -> FastInterval {
            rhsLog10 = (logLower / Double.ln10).nextDown
            let floor = Swift.min(FastMath.expLower(logLower), .greatestFiniteMagnitude)
            return floor > side.lo ? FastInterval(lo: floor, hi: Swift.max(side.hi, floor)) : side
        }
        if variant.isPerInput {
            let mean = scale * sums.mean(variant.isSharp ? sums.perInputT6Sharp : sums.perInputT6)
            // Some 1/τ_x² beyond the Double range: the largest such term's logarithm over the
            // weight total's bounds the right side below (where the sums' lower end is 0, every
            // KL_x below the Double range, or saturated).
            let logSum = variant.isSharp ? sums.perInputT6SharpLogLower : sums.perInputT6LogLower
            rhs = logSum.isFinite ? raised(mean, logLower: (scale.log + FastInterval(logSum) - sums.weightTotal.log).lo) : mean
        } else {
            let logTau = FastInterval.min(sums.logTauFirst, sums.logTauSecond)
            let factor = variant.isSharp ? FastInterval(2) * (-logTau).exp : (FastInterval(-2) * logTau).exp
            let kl = sums.mean(sums.klFirstSecond)
            let product = scale * kl * factor
            // 1/τ² beyond the Double range (logits ≳ 350 apart; the product's lower end may stay
            // finite when KL is small), or KL's lower end 0 (every KL_x below the Double range,
            // where log KL ≥ its largest term's log over the weight total): the right side from
            // its logarithm, log c + log KL + log factor.
            let logKL: Double? = kl.lo > 0 ? kl.log.lo
                : sums.klFirstSecondLogLower > -.infinity ? (FastInterval(sums.klFirstSecondLogLower) - sums.weightTotal.log).lo : nil
            if let logKL, !(factor.lo < 1e300) || kl.lo <= 0 {
                let logFactor = variant.isSharp ? FastInterval(2).log - logTau : FastInterval(-2) * logTau
                rhs = raised(product, logLower: (scale.log + FastInterval(logKL) + logFactor).lo)
            } else {
                rhs = product
            }
        }
        return Verdict.fast(id, form, lhs: sums.logitDistanceSquared, rhs: rhs, constant: .nan,
                            constantName: "\(constantScale)·\(variant.isSharp ? "2/τ" : "1/τ²") (fast enclosures, \(sums.productBound.rawValue) bound)",
                            rhsLog10: rhsLog10)
    }

    public func certify(_ pair: ModelPair) throws -> Verdict {
        let d = pair.exactLogitDistanceSquared()
        if d.isZero {
            // d_logit² = 0 exactly: the conditionals are equal, so KL = 0 as well and the right
            // side is exactly 0 (no Double pass to show it).
            return Verdict(id: id, form: form, level: .exact, outcome: .holds, lhs: 0, rhs: 0,
                           constant: .nan, constantName: "", exactLHS: "0",
                           certificate: "d_logit² is exactly 0: the conditionals are equal, so KL = 0 and 0 ≤ 0")
        }
        // 128 bits decide almost every case at a fraction of the cost (MPFR's exp is
        // the bulk of certification); wider enclosures only when undecided.
        // Beyond 1 024 bits only at the logits' own magnitude (`divergencePrecision`: logits beyond 10²⁶⁰).
        let ladder = pair.divergencePrecisions(after: [Interval.defaultBits, 512, 1024])
        var verdict = try certify(pair, exactLHS: d, bits: 128)
        for bits in ladder where verdict.outcome == .undecided {
            verdict = try certify(pair, exactLHS: d, bits: bits)
        }
        // Decided, but a right side beyond the Double range (τ ≈ e^{−10³⁰⁰}: 1/τ² overflows even
        // MPFR, whose enclosure is then [max, +∞] and shown by its lower end).
        guard verdict.outcome == .undecided else { return verdict.rhs.isFinite ? verdict : try inLogarithms(verdict, pair, exactLHS: d) }
        var logFailure = ""
        if let logVerdict = try certifyInLogSpaceWidening(pair, exactLHS: d, failure: &logFailure) { return logVerdict }
        // Undecided: say what each attempt left open. A right side not bounded on both
        // sides is not shown as a number (its midpoint would be ∞ or 0).
        // (From its logarithm: a right side below the Double range has a midpoint of 0.)
        let bounded = verdict.rhs.isFinite && verdict.rhsLog10?.isFinite == true
        return Verdict(id: id, form: form, level: .enclosure, outcome: .undecided, lhs: verdict.lhs, rhs: bounded ? verdict.rhs : .nan,
                       constant: .nan, constantName: verdict.constantName, exactLHS: verdict.exactLHS,
                       certificate: "not decided: at 128 to \(ladder.last!) bits the right side's MPFR enclosure (\(verdict.certificate ?? "")) "
                           + "does not separate from the exact left side d_logit² ≈ \(String(format: "%.6g", verdict.lhs)); "
                           + "compared as logarithms, \(logFailure)",
                       lhsLog10: verdict.lhsLog10, rhsLog10: bounded ? verdict.rhsLog10 : nil)
    }

    /// `decided`, or the same decision reached by comparing logarithms (`certifyInLogSpace`)
    /// where that decides alike: it carries a right side beyond the Double range as its
    /// magnitude, where `decided` shows a saturated or infinite end.
    package func inLogarithms(_ decided: Verdict, _ pair: ModelPair, exactLHS d: Rational) throws -> Verdict {
        var failure = ""
        return try certifyInLogSpaceWidening(pair, exactLHS: d, failure: &failure) { $0.outcome == decided.outcome } ?? decided
    }

    /// `certifyInLogSpace` at 256 bits, then at the logits' own precision where that passes 1 024
    /// bits (logits near 10³¹⁰: every KL_x enclosure reaches 0 at 256 bits, and the side showed
    /// MPFR's saturated 10^(1.4·10¹⁸)): the first verdict `accept` takes, nil when none.
    func certifyInLogSpaceWidening(_ pair: ModelPair, exactLHS d: Rational, failure: inout String,
                                   accept: (Verdict) -> Bool = { _ in true }) throws -> Verdict? {
        for bits in pair.divergencePrecisions(after: [Interval.defaultBits]) {
            if let logs = try certifyInLogSpace(pair, exactLHS: d, bits: bits, failure: &failure), accept(logs) { return logs }
        }
        return nil
    }

    /// The same comparison with both sides as logarithms: log d_logit² against
    /// log(scale · KL) + log factor (per input: a log-sum-exp of log w + log KL_x + log
    /// factor_x). Nothing is exponentiated, so a right side like KL·e^{10¹⁵⁵} (τ far
    /// beyond even MPFR's exponent range) is still compared. nil when a KL enclosure
    /// is not positive (its log is undefined) or the logarithms' enclosures overlap, with
    /// `failure` saying which.
    package func certifyInLogSpace(_ pair: ModelPair, exactLHS d: Rational, bits: Int = 256, failure: inout String) throws -> Verdict? {
        let enclosed = try pair.certifiedDivergence(bits: bits)
        let logScale = try Interval(exactly: constantScale, bits: bits)!.log()
        let logTwo = try Interval(exactly: 2, bits: bits)!.log()
        let two = Interval(exactly: 2, bits: bits)!
        func logFactor(_ logTau: Interval) -> Interval { variant.isSharp ? logTwo - logTau : -(two * logTau) }
        let logRHS: Interval
        do {
            if variant.isPerInput {
                let terms = try zip(enclosed.weights, zip(enclosed.klPerInput, enclosed.logTauPerInput))
                    .filter { $0.1.0.upper > 0 }
                    .map { w, t in try w.log() + t.0.log() + logFactor(t.1) }
                guard !terms.isEmpty else { failure = "every input's KL enclosure reaches 0 (no logarithm)"; return nil }
                logRHS = logScale + Interval.logSumExp(terms)
            } else {
                // log KL as the log-sum-exp of log w + log KL_x: the mean's own enclosure can
                // have lower end 0 where every KL_x is far below 1 (its log then undefined),
                // while each KL_x's enclosure stays positive.
                let terms = try zip(enclosed.weights, enclosed.klPerInput).filter { $0.1.upper > 0 }.map { w, kl in try w.log() + kl.log() }
                guard !terms.isEmpty else { failure = "every input's KL enclosure reaches 0 (no logarithm)"; return nil }
                logRHS = logScale + Interval.logSumExp(terms) + logFactor(Interval.min(enclosed.logTauFirst, enclosed.logTauSecond))
            }
        } catch {
            failure = "a logarithm is undefined on its enclosure (\(error))"
            return nil
        }
        let logLHS = try Interval(d, bits: bits).log()
        let outcome: Outcome = logLHS.isCertainlyAtMost(logRHS) ? .holds : (logRHS.isCertainlyBelow(logLHS) ? .violated : .undecided)
        guard outcome != .undecided else {
            failure = "log right side ∈ \(logRHS) overlaps log left side ∈ \(logLHS) at \(bits) bits"
            return nil
        }
        // The right side shown: the guaranteed lower end of its log when finite (a holds
        // then reads with a ratio that is an upper bound), else the upper end.
        let shown = [logRHS.lower, logRHS.upper].first { $0.isFinite } ?? .nan
        return Verdict(id: id, form: form, level: .enclosure, outcome: outcome, lhs: d.doubleValue, rhs: shown.exp,
                       constant: .nan, constantName: "MPFR \(bits)-bit enclosures of the logarithms",
                       exactLHS: d.exactString, certificate: "log right side ∈ \(logRHS), log left side ∈ \(logLHS)",
                       lhsLog10: d.log10Magnitude, rhsLog10: shown / .ln10)
    }

    func certify(_ pair: ModelPair, exactLHS d: Rational, bits: Int) throws -> Verdict {
        let enclosed = try pair.certifiedDivergence(bits: bits)
        let scale = Interval(exactly: constantScale, bits: bits)!
        let two = Interval(exactly: 2, bits: bits)!
        // The factor multiplying KL: 1/τ² = exp(−2 log τ) or 2/τ = 2 exp(−log τ).
        func factor(_ logTau: Interval) -> Interval {
            variant.isSharp ? two * (-logTau).exp : (-(two * logTau)).exp
        }
        let rhs: Interval
        if variant.isPerInput {
            rhs = scale * Interval.sum(zip(enclosed.weights, zip(enclosed.klPerInput, enclosed.logTauPerInput))
                .map { w, t in w * t.0 * factor(t.1) }, bits: bits)
        } else {
            rhs = scale * enclosed.klForward * factor(Interval.min(enclosed.logTauFirst, enclosed.logTauSecond))
        }
        let lhs = Interval(d, bits: bits)
        let outcome: Outcome = lhs.isCertainlyAtMost(rhs) ? .holds : (rhs.isCertainlyBelow(lhs) ? .violated : .undecided)
        // The right side shown is the certificate's conservative end, as at the fast level: the
        // lower end for "holds", the upper for "violated", else the midpoint (the midpoint had
        // been shown up to 6·10⁻⁸ above the exact value beside a "holds"). An enclosure [x, +∞]
        // (the right side overflows MPFR) shows its lower end x; it was shown as inf. A right side
        // rounded down to the greatest finite Double lies beyond the range: ∞, which `certify`
        // then shows from logarithms (whose own end may be that Double: 10^(7.8·10³⁰⁷)).
        func shown(_ e: Interval) -> Double {
            outcome == .holds || !e.upper.isFinite ? e.lower : outcome == .violated ? e.upper : e.midpoint
        }
        let right = shown(rhs)
        return Verdict(id: id, form: form, level: .enclosure, outcome: outcome, lhs: d.doubleValue,
                       rhs: right == .greatestFiniteMagnitude ? .infinity : right,
                       constant: .nan, constantName: "MPFR \(bits)-bit enclosures",
                       exactLHS: d.exactString, certificate: "right side ∈ \(rhs), left side exact",
                       lhsLog10: d.log10Magnitude, rhsLog10: (try? rhs.log()).map { shown($0) / Double.ln10 })
    }
}

extension ModelPair {
    /// KL in both directions and log τ of both models, as guaranteed enclosures.
    /// Computed once per pair and precision, shared by T6's certification and every
    /// other caller (it holds intervals only, never the pair).
    public func certifiedDivergence(bits: Int = Interval.defaultBits) throws -> EnclosedDivergence {
        try cache.value("enclosed.\(bits)") { try EnclosedDivergence(self, bits: bits) }
    }

    /// MPFR's precision for KL and log τ at this pair's logits: about log₂ 10·(log₁₀ max|Λ| + 40)
    /// bits, with max|Λ| ≤ d·max|f|·max|g| over both models (formed in logarithms), so that
    /// Σp(Λ₁ − Λ₂ − Δlse) keeps 40 decimal digits below the logits' size. Above 1 024 bits only for
    /// logits beyond about 10²⁶⁰ (|Λ| near 10³¹⁰ cancels 1 030 bits: KL ∈ [0, ∞] at 1 024).
    package var divergencePrecision: Int {
        let magnitude = [first, second].map { m in
            Foundation.log10(m.embeddings.maxAbs) + Foundation.log10(m.unembeddings.maxAbs) + Foundation.log10(Double(m.dimension))
        }.filter(\.isFinite).max() ?? 0
        return 64 * Int(((Swift.max(magnitude, 0) + 40) * Foundation.log2(10.0) / 64).rounded(.up)) + 64
    }

    /// `ladder` followed by `divergencePrecision` where that passes 1 024 bits (logits beyond about
    /// 10²⁶⁰), the precisions KL's enclosures are tried at.
    package func divergencePrecisions(after ladder: [Int]) -> [Int] {
        ladder + [divergencePrecision].filter { $0 > 1024 }
    }
}

/// d_logit² and KL per input recomputed in doubles from the centred logit
/// differences Λ̃₁ − Λ̃₂, centred exactly and rounded once
/// (`ExactLogitDistance.centredDifferences`).
public struct RefinedDivergence: Sendable {
    public let logitDistanceSquared: Double
    public let klPerInput: [Double]
    /// KL_x(M₂ ‖ M₁) from the same differences.
    public let reverseKLPerInput: [Double]
    /// KL(M₁ ‖ M₂) and KL(M₂ ‖ M₁): the per-input values' means under the given weights
    /// (`ModelPair.givenWeightedMeans`).
    public let kl: Double
    public let reverseKL: Double
}

extension ModelPair {
    /// The refined double divergence, computed once; nil for non-finite models.
    /// Formed over blocks of about `refinementBlockEntries` logits (at least one row), so that it
    /// holds O(N) besides one block's exact and Double logits, not the N×k of both models (an orbit
    /// pair of N = 20 000, k = 200 had held 100 bytes a logit at once).
    public func refinedDivergence() -> RefinedDivergence? {
        cache.value("refinedDivergence") { refinedDivergence(blockEntries: Self.refinementBlockEntries) }
    }

    /// `refinedDivergence` over blocks of about `blockEntries` logits, not cached (the tests' small blocks).
    func refinedDivergence(blockEntries: Int) -> RefinedDivergence? {
        let a = first, b = second, (n, k) = (a.inputCount, a.labelCount)
        let step = Swift.max(1, blockEntries / k)
        var distances: [Double] = [], kl: [Double] = [], reverse: [Double] = []
        for start in stride(from: 0, to: n, by: step) {
            let rows = Array(start..<Swift.min(n, start + step))
            let fa = a.embeddings.selectingRows(rows), fb = b.embeddings.selectingRows(rows)
            guard let c = ExactLogitDistance.centredDifferences(fa, a.unembeddings, fb, b.unembeddings) else { return nil }
            let logits = fa.multiplied(by: a.unembeddings, transposeOther: true)
            let reverseLogits = fb.multiplied(by: b.unembeddings, transposeOther: true)
            for i in 0..<c.rows {
                let row = c.row(i)
                distances.append(row.reduce(0) { $0 + $1 * $1 })
                kl.append(Numerics.klDivergence(logitsP: logits.row(i), difference: row.map { -$0 }))
                reverse.append(Numerics.klDivergence(logitsP: reverseLogits.row(i), difference: row))
            }
        }
        let means = givenWeightedMeans([distances, kl, reverse])
        return RefinedDivergence(logitDistanceSquared: means[0], klPerInput: kl, reverseKLPerInput: reverse,
                                 kl: means[1], reverseKL: means[2])
    }

    /// The logits a block of `refinedDivergence` holds (2¹⁸: about 23 MB of exact and Double logits).
    static let refinementBlockEntries = 1 << 18

    /// Σᵢ wᵢvᵢ for each vector v, with wᵢ = gᵢ/Σg of the given weights (converted and summed once),
    /// formed exactly from the Doubles vᵢ and rounded once; NaN or ±∞ where a value is (every given
    /// weight is positive). The normalised Doubles keep only a few bits of a weight near the
    /// subnormals: an attack's weights [2, 2.5·10⁻³²³, 1] put a KL 40 % off.
    func givenWeightedMeans(_ vectors: [[Double]]) -> [Double] {
        let g = first.givenWeights.map { Rational(exactly: $0)! }
        let total = Rational.sum(g)
        return vectors.map { v in
            guard v.allSatisfy(\.isFinite) else {
                return v.contains { $0.isNaN } || (v.contains(.infinity) && v.contains(-.infinity)) ? .nan : v.contains(.infinity) ? .infinity : -.infinity
            }
            return (Rational.sum(zip(g, v).map { $0 * Rational(exactly: $1)! }) / total).doubleValue
        }
    }
}
