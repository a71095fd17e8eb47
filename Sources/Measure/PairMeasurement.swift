import Foundation
import Numerics
import Theory

/// Every quantity of THEORY.md §3 and every bound T3–T7 for one pair (A = first,
/// B = second), as `logitbounds measure` reports it. JSON keys are snake_case.
public struct PairMeasurement: Codable, Sendable {
    public struct Sizes: Codable, Sendable {
        public let n: Int, k: Int, dA: Int, dB: Int
        enum CodingKeys: String, CodingKey { case n, k, dA = "d_a", dB = "d_b" }
    }

    /// d_rep,pivot² with its bookkeeping, or why it was not computed.
    public struct Pivot: Codable, Sendable {
        public let mean: Double?
        public let standardError: Double?
        public let pairsUsed: Int
        public let pairsSkipped: Int
        public let exhaustive: Bool
        public let note: String?
        /// The heavy tail: share of the sum carried by the 10 largest r(p, S), a
        /// median-of-means estimate (10 groups) beside the mean, and the largest cond(L₁)
        /// among those 10 pairs (nil in a merge of shards).
        public let topShare: Double?
        public let medianOfMeans: Double?
        public let largestCondition: Double?
        /// A mean beyond the normal Double range, in scientific notation from its logarithm
        /// (`mean` is then its Double: 0, subnormal or +∞), as bounds give `lhs_scientific`.
        public let meanScientific: String?
        /// An a priori estimate of the mean's rounding error from the pairs whose moment form
        /// cancelled and were recomputed in double precision (`PivotDissimilarity.roundingError`);
        /// nil where none were (those computed exactly have none).
        public let roundingError: Double?
        /// Whether `roundingError` exceeds 10⁻⁶ of the mean (or is not a number): the value is then
        /// shown as known only to about it. Judged before a balanced pair's mean and estimate are
        /// scaled back (where the estimate may underflow).
        public let atRoundingLevel: Bool
        enum CodingKeys: String, CodingKey {
            case mean, standardError = "standard_error", pairsUsed = "pairs_used", pairsSkipped = "pairs_skipped"
            case exhaustive, note, topShare = "top_10_share", medianOfMeans = "median_of_means"
            case largestCondition = "largest_condition_top_10", meanScientific = "mean_scientific"
            case roundingError = "rounding_error_estimate", atRoundingLevel = "at_rounding_level"
        }

        init(mean: Double?, standardError: Double?, pairsUsed: Int, pairsSkipped: Int, exhaustive: Bool, note: String?,
             topShare: Double? = nil, medianOfMeans: Double? = nil, largestCondition: Double? = nil, meanScientific: String? = nil,
             roundingError: Double? = nil, atRoundingLevel: Bool = false) {
            self.mean = mean; self.standardError = standardError; self.pairsUsed = pairsUsed
            self.pairsSkipped = pairsSkipped; self.exhaustive = exhaustive; self.note = note
            self.topShare = topShare; self.medianOfMeans = medianOfMeans; self.largestCondition = largestCondition
            self.meanScientific = meanScientific; self.roundingError = roundingError; self.atRoundingLevel = atRoundingLevel
        }

        init(_ p: PivotDissimilarity, note: String?) {
            // None where every recomputed pair was exact, or none was estimated (a merge's pairs).
            let rounding = p.directEvaluations > p.exactEvaluations && p.roundingError != 0 ? p.roundingError : nil
            self.init(mean: p.mean, standardError: p.standardError, pairsUsed: p.pairsUsed, pairsSkipped: p.pairsSkipped,
                      exhaustive: p.exhaustive, note: note, topShare: p.topShare, medianOfMeans: p.medianOfMeans,
                      largestCondition: p.largestCondition, roundingError: rounding,
                      atRoundingLevel: rounding.map { !($0 <= 1e-6 * abs(p.mean)) } ?? false)
        }

        /// Whether a few pairs carry most of the mean (the 10 largest above half of it).
        public var heavyTail: Bool { (topShare ?? 0) > 0.5 && pairsUsed > 20 }
    }

    /// One bound: both sides, whether it holds, and how that was decided.
    public struct Bound: Codable, Sendable {
        public let id: String
        public let form: String
        public let lhs: Double
        public let rhs: Double
        /// The verdict: certified when `certified`, else the double-precision screen.
        public let holds: Bool?
        public let outcome: String
        public let level: String
        public let certified: Bool
        public let ratio: Double
        public internal(set) var note: String?
        /// A side beyond the Double range (lhs/rhs ±∞ or 0), in scientific notation from
        /// its exact or enclosed value; nil when the Double holds it.
        public let lhsScientific: String?
        public let rhsScientific: String?
        /// left/right in scientific notation from the sides' log₁₀ magnitudes, when a side is
        /// beyond the Double range and the ratio is too (`ratio` is then 0 or +∞).
        public let ratioScientific: String?

        enum CodingKeys: String, CodingKey {
            case id, form, lhs, rhs, holds, outcome, level, certified, ratio, note
            case lhsScientific = "lhs_scientific", rhsScientific = "rhs_scientific", ratioScientific = "ratio_scientific"
        }

        /// A certified verdict with its notes and, where its fast side lies far from the screen's
        /// Double value `screened` of that side, the note saying so (`looseSideNote`), joined: one
        /// run's and a merge's T3, T4, T6 and T7 alike.
        init(_ verdict: Verdict, screened: Double?, notes: [String?]) {
            let all = (notes + [PairMeasurement.looseSideNote(verdict, screened: screened)]).compactMap { $0 }
            self.init(verdict, note: all.isEmpty ? nil : all.joined(separator: "; "))
        }

        /// A screen never reports a violation: a double-level verdict that needs
        /// certification (a crossing or a near-tie) becomes "not decided by the
        /// screen" here, whichever path produced it.
        init(_ verdict: Verdict, note: String? = nil) {
            let v = verdict.needsCertification ? verdict.notDecidedByScreen : verdict
            id = v.id.rawValue
            form = v.form
            // A side whose Double overflowed or underflowed in the verdict's arithmetic (an exact
            // T4's d_logit²/σ_min² with σ_min² subnormal) while its exact magnitude fits a Double:
            // that magnitude (to the log's precision), not inf or 0; scientific notation is kept
            // for sides beyond the range.
            // Subnormal magnitudes too (T5's right side near 10⁻³¹³ was 0, T3's a copy of its left).
            func side(_ x: Double, _ log10: Double?) -> Double {
                guard Verdict.outOfRange(x, log10), let log10 else { return x }
                let magnitude = Foundation.exp(log10 * Double.ln10)
                return magnitude > 0 && magnitude.isFinite ? (x.sign == .minus && !x.isNaN ? -1 : 1) * magnitude : x
            }
            lhs = side(v.lhs, v.lhsLog10)
            rhs = side(v.rhs, v.rhsLog10)
            holds = v.outcome == .holds ? true : (v.outcome == .violated ? false : nil)
            outcome = v.outcome.rawValue
            level = v.level.rawValue
            certified = v.isCertified
            ratio = v.ratio
            // T5's verdict is at one pivot pair (the screen's worst): the note names it.
            let pair = v.id == .T5 && v.outcome != .inapplicable ? v.constantName.range(of: "p = ").map { "at the pair " + v.constantName[$0.lowerBound...] } : nil
            let base = note ?? (v.outcome == .inapplicable || v.outcome == .undecided ? v.certificate : nil)
            self.note = pair.map { [base, $0].compactMap { $0 }.joined(separator: "; ") } ?? base
            // A certified verdict's sides are shown rounded outward: for "holds" the left side up and
            // the right down, for "violated" the reverse (both had been to nearest, 6 digits).
            let (left, right): (FloatingPointRoundingRule, FloatingPointRoundingRule) = !v.isCertified ? (.toNearestOrEven, .toNearestOrEven)
                : v.outcome == .holds ? (.up, .down) : v.outcome == .violated ? (.down, .up) : (.toNearestOrEven, .toNearestOrEven)
            lhsScientific = Verdict.outOfRange(lhs, v.lhsLog10) ? v.lhsLog10.map { Rational.report(log10: $0, rounding: left) } : nil
            rhsScientific = Verdict.outOfRange(rhs, v.rhsLog10) ? v.rhsLog10.map { Rational.report(log10: $0, rounding: right) } : nil
            if lhsScientific != nil || rhsScientific != nil, let a = v.lhsLog10, let b = v.rhsLog10, a.isFinite, b.isFinite,
               !(ratio.isNormal && ratio.isFinite) {
                ratioScientific = Rational.report(log10: a - b)
            } else {
                ratioScientific = nil
            }
        }
    }

    public let sizes: Sizes
    public let dLogit: Double
    public let dLogitSquared: Double
    /// d_logit and d_logit² from the exact rational, in scientific notation, when
    /// the Double cannot hold d_logit² (it overflowed); nil otherwise.
    public let dLogitExact: String?
    public let dLogitSquaredExact: String?
    /// d_logit² in scientific notation from the pass on rescaled embeddings
    /// (`ModelPair.rescaledLogitDistance`), when it overflows a Double, d_logit does not,
    /// and no exact value was formed; nil otherwise.
    public var dLogitSquaredRescaled: String? = nil
    public let klAB: Double
    public let klBA: Double
    public let logTauA: Double
    public let logTauB: Double
    public let dRepAB: Double?
    public let dRepBA: Double?
    public let dRepScaleFreeAB: Double?
    public let dUnembAB: Double?
    public let dRepPivot: Pivot
    public let mccaCentered: Double
    public let mccaUncentered: Double
    public let canonicalCorrelationsCentered: [Double]
    public let canonicalCorrelationsUncentered: [Double]
    /// Linear CKA, Procrustes distance, SVCCA (THEORY.md §7): not class functions (T10).
    public let linearCKA: Double?
    public let procrustesDistance: Double?
    public let svcca: Double?
    /// Why they are undefined, when they are.
    public let similarityUndefined: String?
    /// Linear CKA with the unbiased HSIC₁ estimator (`UnbiasedLinearCKA`), and why it is
    /// not given when it is not (weighted inputs, N < 4, a merge of shards).
    public internal(set) var linearCKAUnbiased: Double? = nil
    public internal(set) var linearCKAUnbiasedNote: String? = nil
    public internal(set) var bounds: [Bound]
    /// "svd" or "gram" (GramRoutes.swift) for the unembedding-side quantities.
    public let routes: String
    /// Seconds per phase, in the order run.
    public internal(set) var timings: [Timing]

    public struct Timing: Codable, Sendable {
        public let phase: String
        public let seconds: Double
    }
    public let notes: [String]
    /// T12: the least d_logit² of any student of B's width (the teacher's spectrum tail),
    /// d_logit² over it (absent when the floor is 0), and the floor at every width 1 … d_A.
    public internal(set) var widthFloor: Double? = nil
    public internal(set) var widthFloorRatio: Double? = nil
    public internal(set) var widthFloorCurve: [Double]? = nil
    /// The curve in scientific notation, where an entry leaves the normal Double range (nil otherwise).
    public internal(set) var widthFloorCurveScientific: [String]? = nil
    /// Why the floor is 0 at B's width, when it is.
    public internal(set) var widthFloorNote: String? = nil
    /// `--concept` and `--teacher-concepts`: each concept's probes, baselines and T11 floor.
    public internal(set) var concepts: [ConceptReport]? = nil
    /// How the concept probes were fitted, in words.
    public internal(set) var conceptFitting: String? = nil
    /// The concepts an interrupt left unmeasured (`measure`'s `stop`), in the order given; nil when
    /// every concept was measured.
    public internal(set) var conceptsNotMeasured: [String]? = nil
    /// Certified enclosures of the logit statistics from the streamed fast pass
    /// (`FastLogitSums`), when it ran: every value above lies within these.
    public internal(set) var enclosures: Enclosures? = nil
    /// KL and log τ in scientific notation where their MPFR enclosures are tight but beyond the
    /// Double range (logits near 10³¹⁰: the Doubles above are ±inf); nil otherwise.
    public internal(set) var divergenceScientific: DivergenceScientific? = nil

    public struct DivergenceScientific: Codable, Sendable {
        public let klAB: String?
        public let klBA: String?
        public let logTauA: String?
        public let logTauB: String?
        enum CodingKeys: String, CodingKey { case klAB = "kl_ab", klBA = "kl_ba", logTauA = "log_tau_a", logTauB = "log_tau_b" }
    }

    /// [lo, hi] of d_logit², both KLs and both log τ, and the per-logit error bound used.
    public struct Enclosures: Codable, Sendable {
        public let dLogitSquared: [Double]
        public let klAB: [Double]
        public let klBA: [Double]
        public let logTauA: [Double]
        public let logTauB: [Double]
        public let productBound: String
        enum CodingKeys: String, CodingKey {
            case dLogitSquared = "d_logit_squared", klAB = "kl_ab", klBA = "kl_ba", logTauA = "log_tau_a", logTauB = "log_tau_b"
            case productBound = "product_bound"
        }
        /// Each quantity's known range applied: d_logit² and KL ≥ 0, log τ ≤ 0.
        public init(_ s: FastLogitSums) {
            func ends(_ x: FastInterval) -> [Double] { [x.lo, x.hi] }
            func logTau(_ x: FastInterval) -> [Double] { [Swift.min(x.lo, 0), Swift.min(x.hi, 0)] }
            dLogitSquared = ends(s.logitDistanceSquared.clampedNonNegative)
            klAB = ends(s.mean(s.klFirstSecond).clampedNonNegative)
            klBA = ends(s.mean(s.klSecondFirst).clampedNonNegative)
            (logTauA, logTauB) = (logTau(s.logTauFirst), logTau(s.logTauSecond))
            productBound = s.productBound.rawValue
        }

        /// `value` when it lies in `ends`, else the enclosure's midpoint (within 10⁻⁶) or nearer end, and a note saying so
        /// (a double-precision value outside its certified enclosure is wrong in its digits:
        /// KL at logits near 10⁻¹⁵, KL underflowing where the enclosure is a normal number).
        static func reconciled(_ name: String, _ value: Double, _ ends: [Double], notes: inout [String]) -> Double {
            guard ends[0].isFinite, ends[1].isFinite, !(ends[0] <= value && value <= ends[1]) else { return value }
            // Within 10⁻⁶ the midpoint; wider, the nearer end (an enclosure of a KL spanning 142
            // decades, from a weight near the subnormals, had its midpoint shown, 10¹⁴¹ from its value).
            let narrow = ends[1] - ends[0] <= max(1e-6 * max(abs(ends[0]), abs(ends[1])), .leastNormalMagnitude)
            let midpoint = narrow || value.isNaN   // a NaN has no nearer end
            let shown = midpoint ? ends[0] / 2 + ends[1] / 2 : min(max(value, ends[0]), ends[1])
            notes.append("\(name): the double-precision value \(value) lies outside its certified enclosure [\(ends[0]), \(ends[1])]; its \(midpoint ? "midpoint" : "nearer end") \(shown) is shown")
            return shown
        }

        /// "the certified enclosures d_logit² ∈ [lo, hi], …" of those among d_logit² and both KLs whose
        /// enclosure is wider than 10⁻⁶ of its (normal) value given; nil when none is. One run and a
        /// merge say it alike.
        func wide(_ distance: Double, _ kl: Double, _ reverseKL: Double) -> String? {
            let wide = [("d_logit²", distance, dLogitSquared), ("KL(A‖B)", kl, klAB), ("KL(B‖A)", reverseKL, klBA)]
                .filter { $0.1.isNormal && $0.2[1] - $0.2[0] > 1e-6 * $0.1 }
            return wide.isEmpty ? nil : "the certified enclosures " + wide.map { "\($0.0) ∈ [\($0.2[0]), \($0.2[1])]" }.joined(separator: ", ")
        }

        /// d_logit², both KLs and both log τ reconciled with these enclosures.
        func reconcile(_ v: (Double, Double, Double, Double, Double), notes: inout [String]) -> (Double, Double, Double, Double, Double) {
            (Self.reconciled("d_logit²", v.0, dLogitSquared, notes: &notes), Self.reconciled("KL(A‖B)", v.1, klAB, notes: &notes),
             Self.reconciled("KL(B‖A)", v.2, klBA, notes: &notes), Self.reconciled("log τ(A)", v.3, logTauA, notes: &notes),
             Self.reconciled("log τ(B)", v.4, logTauB, notes: &notes))
        }
    }

    enum CodingKeys: String, CodingKey {
        case sizes, dLogit = "d_logit", dLogitSquared = "d_logit_squared", klAB = "kl_ab", klBA = "kl_ba"
        case dLogitExact = "d_logit_exact", dLogitSquaredExact = "d_logit_squared_exact"
        case dLogitSquaredRescaled = "d_logit_squared_rescaled"
        case logTauA = "log_tau_a", logTauB = "log_tau_b", dRepAB = "d_rep_ab", dRepBA = "d_rep_ba"
        case dRepScaleFreeAB = "d_rep_ab_squared_scale_free", dUnembAB = "d_unemb_ab", dRepPivot = "d_rep_pivot_squared"
        case mccaCentered = "mcca_centered", mccaUncentered = "mcca_uncentered"
        case canonicalCorrelationsCentered = "canonical_correlations_centered"
        case canonicalCorrelationsUncentered = "canonical_correlations_uncentered"
        case linearCKA = "linear_cka", procrustesDistance = "procrustes_distance", svcca
        case similarityUndefined = "similarity_undefined"
        case linearCKAUnbiased = "linear_cka_unbiased", linearCKAUnbiasedNote = "linear_cka_unbiased_note"
        case bounds, routes, timings = "timings_seconds", notes, concepts, conceptFitting = "concept_fitting"
        case conceptsNotMeasured = "concepts_not_measured"
        case widthFloor = "d_logit_squared_width_floor", widthFloorRatio = "width_floor_ratio"
        case widthFloorCurve = "width_floor_curve", widthFloorNote = "width_floor_note", enclosures
        case widthFloorCurveScientific = "width_floor_curve_scientific"
        case divergenceScientific = "divergence_scientific"
    }

    /// Records T12's floor at B's width and the curve over every width.
    mutating func recordWidthFloor(_ floor: WidthFloor) {
        let value = floor.floor(width: sizes.dB)
        widthFloor = value
        widthFloorRatio = value > 0 ? dLogitSquared / value : nil
        widthFloorCurve = floor.curve
        // Beyond the Double range, each width's floor in scientific notation from its logarithm.
        if let curve = widthFloorCurve, curve.contains(where: { !$0.isFinite || ($0 != 0 && !$0.isNormal) }) {
            widthFloorCurveScientific = curve.indices.map { Rational.report(log10: floor.floorLog10(width: $0 + 1)) }
        }
        widthFloorNote = T12WidthFloorBound.trivial(teacherDimension: sizes.dA, studentDimension: sizes.dB, labels: sizes.k)
    }

    /// Keys of earlier releases, still written beside the new ones for one release:
    /// `d_rep_pivot` (now `d_rep_pivot_squared`: its mean is of squared residuals) and
    /// `d_rep_scale_free_ab` (now `d_rep_ab_squared_scale_free`: d_rep² / E‖f_A‖²).
    enum AliasKeys: String, CodingKey {
        case dRepPivot = "d_rep_pivot", dRepScaleFreeAB = "d_rep_scale_free_ab"
    }

    /// The JSON report `measure` and `merge` print: every key, plus the aliases.
    public func jsonReport() throws -> String { try ReportJSON.encode(WithAliases(measurement: self)) }

    struct WithAliases: Encodable {
        let measurement: PairMeasurement
        func encode(to encoder: any Encoder) throws {
            try measurement.encode(to: encoder)
            var aliases = encoder.container(keyedBy: AliasKeys.self)
            try aliases.encode(measurement.dRepPivot, forKey: .dRepPivot)
            try aliases.encode(measurement.dRepScaleFreeAB, forKey: .dRepScaleFreeAB)
        }
    }

    /// When the bounds are certified rather than screened.
    public enum Certification: String, Sendable, CaseIterable {
        /// By fast enclosure when N·k·(d_A + d_B) ≤ 2·10⁸; where that cannot decide,
        /// exactly or by MPFR when N·k·(d_A + d_B) ≤ 2·10⁶.
        case auto
        case always
        case never
    }

    /// A concept given by the user: N values 0/1 in the models' input order.
    public struct NamedConcept: Sendable {
        public let name: String
        public let source: String
        public let values: [Bool]
        public init(name: String, source: String, values: [Bool]) {
            self.name = name; self.source = source; self.values = values
        }
    }

    /// Options for `measure`.
    public struct Options: Sendable {
        /// Pivot pairs: nil for the default (`defaultPivotSelection`: every pair up to 20 000,
        /// else 100 pivots × 200 subsets, seed 0; skipped when d > 64 unless `forcePivot`).
        public var pivotSelection: PivotSelection?
        public var forcePivot: Bool
        public var skipPivot: Bool
        public var certification: Certification
        /// Concepts to measure (T11), and how many of the teacher's own to add.
        public var concepts: [NamedConcept] = []
        public var teacherConcepts = 0
        public var conceptOptions = ConceptReport.Options()
        /// Workers for the concepts' probes (nil: every core). The values do not depend on it; which
        /// concepts an interrupt leaves unmeasured does.
        public var conceptWorkers: Int? = nil
        /// The bytes this process may use (`MachineMemory`), where known: `--certify always` forms
        /// the exact level beyond its automatic size only where it fits (`exactLevelDenied`).
        public var memoryLimit: Double?
        /// Whether the exact and MPFR levels run on `pair`: automatically within the exact level's
        /// size (N·k·(d_A + d_B) ≤ 2·10⁶), and with `always` at any size; either only where they fit
        /// in memory (`exactLevelShortfall`).
        func allowsExactLevel(_ pair: ModelPair) -> Bool {
            switch certification {
            case .never: false
            case .auto: pair.exactLevelAffordable && exactLevelShortfall(pair) == nil
            case .always: exactLevelShortfall(pair) == nil
            }
        }

        /// Whether the exact level's d×d rational work (`ModelPair.exactWidthLimit`: d_rep, d_unemb,
        /// T3–T5, T7, T11, T12) runs on `pair`: as `allowsExactLevel`, and under `auto` only up to
        /// d_A + d_B = 100 (T6 and d_logit², which need only the exact logits, do not ask this).
        func allowsExactMoments(_ pair: ModelPair) -> Bool { allowsExactMoments(pair, exactLevel: allowsExactLevel(pair)) }

        /// `allowsExactMoments` where `allowsExactLevel` is already known.
        func allowsExactMoments(_ pair: ModelPair, exactLevel: Bool) -> Bool {
            exactLevel && (certification == .always || pair.withinExactWidth)
        }

        /// Where a note points to the exact level: "--certify always" and what it does; where the
        /// exact level would not fit in memory (`exactLevelShortfall`), that instead: `always` given
        /// and denied, or `auto` where `always` would be.
        func exactLevelAdvice(_ gives: String, _ pair: ModelPair) -> String {
            guard exactLevelShortfall(pair) != nil else { return "--certify always \(gives)" }
            return certification == .always ? "the exact level, which \(gives), does not fit in memory (see the notes)"
                : "the exact level (--certify always), which \(gives), would not fit in memory"
        }

        /// "; " and `exactLevelAdvice`, or nothing where `always` already forms the exact level.
        func exactLevelPointer(_ gives: String, _ pair: ModelPair) -> String {
            certification == .always && exactLevelDenied(pair) == nil ? "" : "; " + exactLevelAdvice(gives, pair)
        }

        /// Why the exact and MPFR levels would not fit on `pair` (nil: they would, or no limit is
        /// known): the run's own peak (`MeasureMemory.estimatedBytes` with a quarter more: it lies up
        /// to 10 % below the peaks measured at small d) and what those levels hold
        /// (`MeasureMemory.exactLevelBytes`) pass `memoryLimit`, where the system would kill the run.
        func exactLevelShortfall(_ pair: ModelPair) -> String? {
            guard let memoryLimit else { return nil }
            let (n, k) = (pair.first.inputCount, pair.first.labelCount)
            let dimensions = (pair.first.dimension, pair.second.dimension)
            let run = MeasureMemory.estimatedBytes(rows: n, inputs: n, labels: k, dimensions: dimensions, workers: BLASThreads.cores,
                                                   certifying: true, pivoting: PairMeasurement.runsPivotForm(dimensions: dimensions, labels: k, self),
                                                   pivotPairs: (pivotSelection ?? PairMeasurement.defaultPivotSelection(seed: 0)).largestPairCount)
            let exact = MeasureMemory.exactLevelBytes(inputs: n, labels: k, wideExponents: pair.entriesSpanWideExponents)
            guard Self.runMargin * run + exact > memoryLimit else { return nil }
            return "its exact logits and their MPFR enclosures need about \(MeasureMemory.describe(bytes: exact)) beside the run's estimated \(MeasureMemory.describe(bytes: run)) and a quarter more, "
                + "more than the \(MeasureMemory.describe(bytes: memoryLimit)) this process may use (the machine's memory, its control group's limit, or LOGITBOUNDS_MEMORY_LIMIT)"
        }

        /// The run's estimate times this, beside the exact logits, must fit.
        public static let runMargin = 1.25

        /// Why a run that would form the exact level (`always`, or `auto` within its automatic size)
        /// forms none on `pair`; nil where it does, or would not anyway.
        func exactLevelDenied(_ pair: ModelPair) -> String? {
            let wanted = certification == .always || (certification == .auto && pair.exactLevelSize <= ModelPair.exactSizeLimit)
            guard wanted, let why = exactLevelShortfall(pair) else { return nil }
            return certification == .always
                ? "--certify always forms no exact or MPFR level on this pair: \(why), so what the fast enclosure cannot decide is screened; "
                    + "where a note below suggests an unsharded `measure --certify always`, it is this exact level, which does not fit"
                : "no exact or MPFR level on this pair, though it is within their automatic size: \(why), so what the fast enclosure cannot decide is screened"
        }

        public init(pivotSelection: PivotSelection? = nil, forcePivot: Bool = false, skipPivot: Bool = false,
                    certification: Certification = .auto) {
            self.pivotSelection = pivotSelection
            self.forcePivot = forcePivot
            self.skipPivot = skipPivot
            self.certification = certification
        }
    }

    static let certificationSizeLimit = ModelPair.exactSizeLimit

    /// √r as a Double where r is beyond the normal range and √r is not: r·2^−2h ≈ 1, its
    /// square root times 2^h (two roundings); nil at 0 or where √r leaves the range too.
    static func squareRoot(_ r: Rational) -> Double? {
        guard !r.isZero else { return nil }
        let h = Int((r.log10Magnitude * Foundation.log2(10.0) / 2).rounded())
        guard abs(h) <= 1070 else { return nil }
        // 2^−h from two normal powers of two (each |h/2| ≤ 535).
        let unit = [h / 2, h - h / 2].map { Rational(exactly: Double(sign: .plus, exponent: -$0, significand: 1))! }.reduce(.one, *)
        let root = Double(sign: .plus, exponent: h, significand: (r * unit * unit).doubleValue.squareRoot())
        return root.isFinite && root > 0 ? root : nil
    }

    /// 10³·√k·η, η = 2d·u·B bounding each logit difference's rounding
    /// (|fl(fᵀg) − fᵀg| ≤ γ_d Σ|f_j g_j| ≤ d·u·B per model): a d_logit below it is within
    /// 1000× of what rounding alone can produce. B is the smaller of two bounds on Σ|f_j g_j|:
    /// max‖f‖·max‖g‖, and Σ_j max|f_j|·max|g_j|, which a column scaling of the model (F's column
    /// ×2ᵖ, G's ×2⁻ᵖ: the same logits) leaves as it is, where the first grew 2ᵖ-fold (at p = 50 a
    /// pair 0.8 apart in d_logit² was said to agree to within rounding). Norms by scaled sums, so
    /// rows near the ends of the Double range (F/s, G·s at s = 10²⁰⁰) give the logits' scale, not 0·∞.
    static func roundingNoise(_ pair: ModelPair) -> Double {
        func largestRowNorm(_ m: Matrix) -> Double {
            // Every row scaled alike (`scaledToUnitMaximum`), so the largest norm stays the largest.
            let top = m.maxAbs
            guard top > 0, top.isFinite else { return top }
            let unit = m.scaledToUnitMaximum
            let squares = (0..<m.rows).reduce(0.0) { best, i in max(best, (0..<m.columns).reduce(0.0) { $0 + unit[i, $1] * unit[i, $1] }) }
            return Double(sign: .plus, exponent: Int(top.exponent), significand: squares.squareRoot())
        }
        // Σ_j max|f_j|·max|g_j|, each product formed from the columns' largest entries.
        func columnwise(_ m: SoftmaxModel) -> Double {
            let (f, g) = (m.embeddings.columnMaxima, m.unembeddings.columnMaxima)
            return zip(f, g).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let product = [pair.first, pair.second].map { m in
            let rows = largestRowNorm(m.embeddings) * largestRowNorm(m.unembeddings), columns = columnwise(m)
            return columns.isFinite ? min(rows, columns) : rows
        }.max() ?? 0
        let eta = 2 * Double(max(pair.first.dimension, pair.second.dimension)) * Double.ulpOfOne / 2 * product
        return 1e3 * Double(pair.first.labelCount).squareRoot() * eta
    }

    /// The fast enclosure (`PairStatement.fastCertify`) runs in O(N k d) interval
    /// operations per model: up to N·k·(d_A + d_B) = 2·10⁸ (CIFAR shape is 10⁸).
    static let fastCertificationSizeLimit = 2e8
    static let pivotDimensionLimit = 64
    static let t5PairLimit = 200

    /// Measures `pair`; `progress` receives the name of each phase as it starts. Once `stop` answers
    /// true (an interrupt), no concept's probes start and those being fitted are abandoned: the
    /// concepts whose probes were all fitted are measured and reported, the others named in
    /// `conceptsNotMeasured`. The phases before the concepts always finish.
    public static func measure(_ pair: ModelPair, options: Options = Options(), stop: @escaping @Sendable () -> Bool = { false },
                               progress: (String) -> Void = { _ in }) throws -> PairMeasurement {
        // Freed d×d matrices and row blocks stay in the process for the next ones: without it a
        // certified run at language-model shape spent about 10 % of its time faulting fresh pages
        // (user + system time 25.6 → 24.1 s; notes/benchmarks.md, stop 47).
        HeapRetention.enable()
        // Where the exact and MPFR levels would not fit, no shortcut forms them either.
        if options.exactLevelShortfall(pair) != nil { pair.withholdExactLevel() }
        // Under `auto`, nor the exact level's d×d rational work beyond its width (`allowsExactMoments`).
        if options.certification == .auto && !pair.withinExactWidth { pair.withholdExactMoments() }
        var m = try measureWithoutConcepts(pair, options: options, progress: progress)
        // Both routes of a single run have the rows at hand: under equal weights the unbiased CKA comes
        // from the Grams they formed (the similarity measures' on the rows' route, the covariances'
        // on the moments route); otherwise from the rows (O(N d²)).
        // The phases after the main ones, timed into the same list.
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            try Self.timed(name, into: &m.timings, progress: progress, body)
        }
        let unbiased = timed("unbiased CKA") { pair.unbiasedLinearCKA() }
        (m.linearCKAUnbiased, m.linearCKAUnbiasedNote) = (unbiased.value, unbiased.note)
        guard !options.concepts.isEmpty || options.teacherConcepts > 0 else { return m }
        var conceptOptions = options.conceptOptions
        conceptOptions.fastCertificate = options.certification != .never
        conceptOptions.exactCertificate = options.allowsExactMoments(pair)
        conceptOptions.exactLevelDenied = options.exactLevelShortfall(pair) != nil
        conceptOptions.divergence = (m.klAB, min(m.logTauA, m.logTauB))
        let fixedOptions = conceptOptions
        let concepts = try timed("concepts (probes, T11)") { () throws -> ([ConceptReport], [String]) in
            let predicted = pair.first.predictedLabels()
            let derived = try TeacherConcepts.derive(pair.first, count: options.teacherConcepts, predicted: predicted)
            let all = options.concepts.map { ($0.name, $0.source, $0.values) }
                + derived.map { ($0.name, "the teacher's own (within-class principal direction \($0.name.dropFirst(10)))", $0.values) }
            // Concepts are independent: one per core, each computed the same way whatever the
            // number of workers (the pair's shared statistics formed once, before).
            // The probes first, one task per concept and side (the bulk of the work, balanced
            // across the cores), then each concept's transport and T11.
            _ = pair.logitSummary()
            // A side not started, or abandoned, once `stop` answers true is nil.
            let workers = options.conceptWorkers ?? BLASThreads.cores
            let sides = try BLASThreads.parallelMap(2 * all.count, workers: workers) { j -> ConceptReport.SideProbe? in
                guard !stop() else { return nil }
                do {
                    return try ConceptReport.sideProbe(j % 2 == 0 ? pair.first.embeddings : pair.second.embeddings, values: all[j / 2].2,
                                                       weights: pair.weights, options: fixedOptions, stop: stop)
                } catch is CancellationError { return nil }
            }
            let fitted = all.indices.filter { sides[2 * $0] != nil && sides[2 * $0 + 1] != nil }
            let reports = try BLASThreads.parallelMap(fitted.count, workers: workers) { index in
                let i = fitted[index]
                return try ConceptReport.measure(pair, name: all[i].0, source: all[i].1, values: all[i].2, predicted: predicted,
                                                 options: fixedOptions, sides: (sides[2 * i]!, sides[2 * i + 1]!))
            }
            let unmeasured = all.indices.filter { sides[2 * $0] == nil || sides[2 * $0 + 1] == nil }.map { all[$0].0 }
            return (reports, unmeasured)
        }
        m.concepts = concepts.0
        m.conceptsNotMeasured = concepts.1.isEmpty ? nil : concepts.1
        let n = pair.first.inputCount
        // Fewer inputs than folds: `crossValidatedPredictions` holds out one input at a time.
        m.conceptFitting = conceptOptions.fitting + (n < conceptOptions.folds
            ? " — only N = \(n) inputs, so leave-one-out (\(max(2, n)) folds) and held-out accuracies from at most \(max(n - 1, 1)) training inputs each"
            : "")
        return m
    }

    /// `body`, announced to `progress` by `name` as it starts and its wall time appended to `timings`.
    static func timed<T>(_ name: String, into timings: inout [Timing], progress: (String) -> Void,
                         _ body: () throws -> T) rethrows -> T {
        progress(name)
        let start = DispatchTime.now().uptimeNanoseconds
        defer { timings.append(Timing(phase: name, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)) }
        return try body()
    }

    static func measureWithoutConcepts(_ pair: ModelPair, options: Options,
                                       progress: (String) -> Void) throws -> PairMeasurement {
        var timings: [Timing] = []
        var notes: [String] = []
        func timed<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
            try Self.timed(name, into: &timings, progress: progress, body)
        }
        let n = pair.first.inputCount, k = pair.first.labelCount
        let dA = pair.first.dimension, dB = pair.second.dimension
        let size = pair.exactLevelSize
        if let denied = options.exactLevelDenied(pair) { notes.append(denied) }
        if n <= max(dA, dB) + 1 {
            notes.append("only N = \(n) input\(n == 1 ? "" : "s") for d = \(max(dA, dB)): the centred embeddings cannot have full rank, so m_CCA, CKA, SVCCA, d_rep and every bound built on F's covariance describe \(n == 1 ? "a single point" : "a degenerate sample"); measure more inputs than d + 1")
        }
        if pair.usesGramRoutes && !options.allowsExactLevel(pair) {
            // Language-model scale, nothing to certify: one pass over the rows gives the
            // logit statistics and the d×d moments, and everything else follows from
            // d×d matrices (the route a merge of shards takes).
            // Certifying, the streamed fast pass gives the logit statistics' enclosures and
            // their midpoints as the values; otherwise the screen's pass gives the values.
            if options.certification == .never || timed("logits with fast enclosures (d_logit, KL, τ; T6)", { pair.fastLogitSums() }) == nil {
                _ = timed("logits (d_logit, KL, τ)") { pair.logitStatistics() }
            }
            let statistics = try timed("moments, Grams, d_rep") {
                try MeasureStatistics(shard: pair, rows: 0..<n, totalInputs: n, rawWeights: nil, options: options, singleRun: true)
            }
            var m = try timed("from the moments: m_CCA, CKA, Procrustes, SVCCA, d_unemb, T3–T7") {
                try statistics.measurement(
                    context: "language-model scale (k·(d_A² + d_B²) > 10⁸): m_CCA, CKA, Procrustes, SVCCA, d_unemb and T7 from the d×d moments of one pass over the rows"
                        + (statistics.centredMoments == nil ? "" : " (the covariances from the rows centred in two passes: a column's mean lies far beyond its spread)"),
                    boundNote: options.certification == .never ? "double-precision screen; not certified (--certify never)"
                        : "double-precision screen; not certified (the fast enclosure could not decide it or does not cover it at N·k·(d_A+d_B) = \(size); exact/MPFR need ≤ \(certificationSizeLimit))",
                    routes: "moments")
            }
            if options.certification != .never {
                m.bounds = timed("fast enclosures from d×d interval moments and Grams (T3, T4, T5, T7, T12)") {
                    certifiedAtScale(m.bounds, pair, t5: statistics.pivot.map { ($0.t5Pairs, $0.t5Note) })
                }
            }
            m.timings = timings
            return m
        }
        let stats = timed("logits (d_logit, KL, τ)") { pair.logitStatistics() }
        if stats.accurateRecomputations > 0 {
            notes.append(recomputationNote(stats.accurateRecomputations))
        }
        // A Double quantity, or why it could not be formed (the checks below say it or compute it exactly).
        func attempt(_ name: String, _ body: () throws -> Double) -> (value: Double?, failure: (any Error)?) {
            do { return (try timed(name, body), nil) } catch { return (nil, error) }
        }
        // Whether the exact level found d_rep² = 0: then d_rep is 0, not re-formed from the Double residual.
        var (exactAB, exactBA, exactUnemb): (Rational?, Rational?, Rational?) = (nil, nil, nil)
        // The checks (a fast enclosure, the exact level where allowed) are timed phases of their own:
        // under --certify always their rational work had been outside every phase.
        let checks = Self.checkPhase
        let doubleRepAB = attempt("d_rep A←B") { try pair.representationDissimilaritySquared() }
        let dRepAB = timed("d_rep A←B: \(checks)") {
            checkedRepresentationSquared(doubleRepAB.value, failure: doubleRepAB.failure, pair, reverse: false, options,
                                         notes: &notes, exactSquare: &exactAB)
        }
        let doubleRepBA = attempt("d_rep B←A") { try pair.reverseRepresentationDissimilaritySquared() }
        let dRepBA = timed("d_rep B←A: \(checks)") {
            checkedRepresentationSquared(doubleRepBA.value, failure: doubleRepBA.failure, pair, reverse: true, options,
                                         notes: &notes, exactSquare: &exactBA)
        }
        let scale = pair.first.weightedEmbeddings.frobeniusNormSquared
        // σ(W^{1/2}F₁) (T4's σ_min, and κ in d_unemb's accuracy estimate; an N×d SVD of serial
        // LAPACK) beside d_unemb's least-squares solve, also serial: 12.7 → 9 s at N = 50 000, d = 768.
        // A failure of the first is left to the readers that report it.
        let doubleUnemb = attempt("d_unemb A←B") {
            try BLASThreads.bothSides(flops: 4 * Double(n) * Double(dA * dA)) { side in
                if side == 1 { _ = try? pair.firstDiversity(); return 0 }
                return try pair.unembeddingDissimilaritySquared()
            }.0
        }
        let dUnemb = timed("d_unemb A←B: \(checks)") {
            Self.checkedUnembeddingSquared(doubleUnemb.value, failure: doubleUnemb.failure, pair, options, notes: &notes,
                                           exactSquare: &exactUnemb)
        }
        let (centred, uncentred) = try timed("m_CCA") {
            (try pair.embeddingCorrelations(centred: true), try pair.embeddingCorrelations(centred: false))
        }
        for cca in [centred, uncentred] {
            if let note = Self.rankNote(cca.values, rankA: cca.basisX.columns, rankB: cca.basisY.columns, dA: dA, dB: dB, centred: cca.centred) {
                notes.append(note)
            }
        }
        let similarity = try timed("CKA, Procrustes, SVCCA") { try pair.similarityMeasures() }
        notes += [similarity.accuracyNote, similarity.svccaTieNote].compactMap { $0 }
        let pivot = try timed("pivot form") { try pivotForm(pair, options, notes: &notes) }
        let bounds = try timed("bounds T3–T7") { try evaluateBounds(pair, options, pivotSelection: pivot.selection) }
        // A d_logit² beyond the Double range is shown from its exact value (never
        // as inf or NaN) when the pair is small enough to certify.
        // Below the normal range (subnormal embeddings) the Double is 0 or inaccurate: the
        // exact value is shown there too.
        var exactDistance: Rational?
        // Logits beyond the Double range make the pass's log τ_x NaN or −∞ (its KL may be finite
        // and wrong); logits beyond about 10¹⁵⁴ only overflow d_logit²'s squares.
        let logitsLeaveRange = stats.logTauPerInput.contains { !$0.isFinite }
        var rescaled: (distance: Double, squared: Double, log10Squared: Double)?
        if !stats.logitDistanceSquared.isNormal {
            if options.allowsExactLevel(pair) {
                exactDistance = timed("d_logit² exactly (outside the Double range)") { pair.exactLogitDistanceSquared() }
            } else {
                let d = stats.logitDistanceSquared
                rescaled = !d.isFinite && !logitsLeaveRange ? pair.cachedRescaledLogitDistance() : nil
                if let rescaled {
                    notes.append("d_logit² = \(Rational.report(log10: rescaled.log10Squared)): the pass's sums of squared logit differences overflow a Double (logits beyond about 10¹⁵⁴), so d_logit and it come from the double-precision pass with the logits scaled by one power of two, where the squares fit; \(options.exactLevelAdvice("gives its exact value", pair))")
                } else {
                    notes.append(d == 0 ? "d_logit² is 0 in double precision (0 exactly, or below about 10⁻³⁰⁸); \(options.exactLevelAdvice("gives its exact value", pair))"
                                        : "d_logit² \(d.isFinite ? "underflows" : "overflows") a Double; \(options.exactLevelAdvice("gives its exact value", pair))")
                }
            }
        }
        if let exact = exactDistance, !exact.isZero, exact.log10Magnitude < -300 {
            notes.append("d_logit² = \(exact.reportString) lies below the normal Double range: KL, d_rep,pivot² and the other second-order quantities computed in double precision underflow (a 0 here means below about 10⁻³⁰⁸); the bounds table's certified values do not")
        }
        // The certified enclosures, when formed, hold every value shown.
        let enclosures = options.certification == .never ? nil : pair.fastLogitSums().map(Enclosures.init)
        // Models that agree to near rounding: the pass's logit differences are mostly the
        // products' rounding, so d_logit² and KL lose their leading digits (2–3× off at
        // one-ulp perturbations). Small pairs get them from exactly formed differences.
        // Further from rounding they may still be off beyond the sixth digit (1.25·10⁻⁷ at
        // d_logit 3·10⁻⁹ with logits near 1): an enclosure wider than 10⁻⁶ relative about a
        // normal value asks for the same refinement, or says how far the value is certified.
        var divergence = (distance: stats.logitDistanceSquared, kl: stats.kl, reverseKL: stats.reverseKL)
        var divergenceScientific: DivergenceScientific?
        let nearRounding = stats.logitDistanceSquared.isNormal && stats.logitDistanceSquared.squareRoot() < Self.roundingNoise(pair)
        // The pass's values whose certified enclosure is wider than 10⁻⁶ relative.
        let wide = enclosures?.wide(stats.logitDistanceSquared, stats.kl, stats.reverseKL)
        let enclosed = wide ?? ""
        let rerun = options.exactLevelPointer("forms the differences exactly", pair)
        if nearRounding || (wide != nil && stats.logitDistanceSquared.isNormal) {
            if options.allowsExactLevel(pair), let refined = pair.refinedDivergence() {
                divergence = (refined.logitDistanceSquared, refined.kl, refined.reverseKL)
                let why = nearRounding ? "the models agree to within 1000× the rounding of their logits"
                    : "\(enclosed) are wider than 10⁻⁶ of the pass's values, which may then be off beyond their sixth digit"
                notes.append("\(why): d_logit² and both KLs are computed from logit differences formed exactly and rounded once (the fast pass gave d_logit² = \(String(format: nearRounding ? "%.4g" : "%.10g", stats.logitDistanceSquared)))")
            } else if nearRounding {
                notes.append("the models agree to within 1000× the rounding of their logits: d_logit² and both KLs are dominated by that rounding and may be wrong in their leading digits\(rerun)")
            } else {
                notes.append("\(enclosed) are wider than 10⁻⁶ of the values shown, which may be off beyond their sixth digit\(rerun)")
            }
        }
        var logTau = (stats.logTauFirst, stats.logTauSecond)
        if let enclosures {
            let r = enclosures.reconcile((divergence.distance, divergence.kl, divergence.reverseKL, logTau.0, logTau.1), notes: &notes)
            (divergence.kl, divergence.reverseKL, logTau) = (r.1, r.2, (r.3, r.4))
            if exactDistance == nil { divergence.distance = r.0 }
        }
        // Logits beyond the Double range (|Λ| ≳ 1.8·10³⁰⁸): the pass's KL and log τ are NaN or wrong
        // (log τ = 0 from ∞ − ∞). From their MPFR enclosures where the exact level may run, else not shown.
        if logitsLeaveRange || [divergence.kl, divergence.reverseKL, logTau.0, logTau.1].contains(where: { !$0.isFinite }) {
            let exactAllowed = options.allowsExactLevel(pair)
            // At the default precision, at 1 024 bits where that leaves a KL wide, and at the
            // logits' own magnitude where 1 024 bits cannot resolve them (|Λ| near 10³¹⁰ cancels
            // 1 030 bits in Σp(Λ₁ − Λ₂ − Δlse): KL ∈ [0, ∞] at 1 024); a value whose enclosure
            // is still wider than 10⁻⁶ relative is shown as nan beside its enclosure.
            let ladder = pair.divergencePrecisions(after: [Interval.defaultBits, 1024])
            let enclosed = exactAllowed ? ladder.lazy.compactMap { try? pair.certifiedDivergence(bits: $0) }
                .first { e in [e.klForward, e.klBackward].allSatisfy { $0.relativeWidth <= 1e-6 } }
                ?? (try? pair.certifiedDivergence(bits: ladder.last!)) : nil
            if let e = enclosed {
                func value(_ x: Interval) -> Double { x.relativeWidth <= 1e-6 ? x.midpoint : .nan }
                (divergence.kl, divergence.reverseKL, logTau) = (value(e.klForward), value(e.klBackward), (value(e.logTauFirst), value(e.logTauSecond)))
                // A tight enclosure beyond the Double range: its midpoint in scientific notation (KL had read inf).
                func scientific(_ x: Interval, _ shown: Double) -> String? { shown.isInfinite ? x.midpointScientific(digits: 10) : nil }
                divergenceScientific = DivergenceScientific(klAB: scientific(e.klForward, divergence.kl), klBA: scientific(e.klBackward, divergence.reverseKL),
                                                            logTauA: scientific(e.logTauFirst, logTau.0), logTauB: scientific(e.logTauSecond, logTau.1))
                notes.append("the logits or their differences leave the Double range: KL and log τ come from their MPFR enclosures at \(e.klForward.bits) bits (midpoints where within 10⁻⁶, else nan; beyond the Double range in scientific notation): KL(A‖B) ∈ \(e.klForward), KL(B‖A) ∈ \(e.klBackward), log τ(A) ∈ \(e.logTauFirst), log τ(B) ∈ \(e.logTauSecond)")
            } else {
                (divergence.kl, divergence.reverseKL, logTau) = (.nan, .nan, (.nan, .nan))
                notes.append("the logits or their differences leave the Double range (|Λ| or a difference ≳ 1.8·10³⁰⁸): KL and log τ are not computed (nan)\(options.exactLevelPointer("gives their MPFR enclosures", pair))")
            }
        }
        // Where the exact d_logit² lies below the normal range its note above says so; else a KL of 0 or
        // subnormal beside a positive d_logit² gets this one (logits near 10²¹⁰ whose KL is 10^(−5·10²¹⁰)
        // had shown KL 0 without it: the exact d_logit² had silenced it).
        let exactBelowRange = exactDistance.map { !$0.isZero && $0.log10Magnitude < -300 } ?? false
        let positive = exactDistance.map { $0.isZero ? 0.0 : Double.infinity } ?? divergence.distance
        if !exactBelowRange, let note = Self.klUnderflowNote(distanceSquared: positive, kl: [divergence.kl, divergence.reverseKL]) {
            notes.append(note)
        }
        if pair.first.embeddings.maxAbs == 0 { notes.append(Self.zeroScaleNote) }
        let widthFloor = try? timed("width floor curve (T12)") { try pair.widthFloor() }
        // The rescaled d_logit² where it fits a Double after all (the pass's per-row sums overflowed
        // before the weights brought them down: 3.3·10³⁰⁷ was shown as inf).
        let rescaledSquare = rescaled.flatMap { $0.squared.isFinite ? $0.squared : nil }
        // The exact d_logit² where it was formed and fits a Double (a row's square overflowing before
        // its weight of 10⁻³⁰⁰ brought it down had d_logit² shown as inf beside T6's certified 3.9·10¹⁸).
        let exactSquare = exactDistance.map(\.doubleValue).flatMap { $0.isFinite ? $0 : nil }
        var measured = PairMeasurement(
            sizes: Sizes(n: n, k: k, dA: dA, dB: dB),
            // d_logit from the exact d_logit² or the rescaled pass where d_logit² overflows; with
            // neither (logits beyond the Double range: the pass's centring gives inf − inf) +∞,
            // never NaN.
            dLogit: exactDistance.flatMap(Self.squareRoot) ?? rescaled?.distance ?? (divergence.distance.isNaN ? .infinity : divergence.distance).squareRoot(),
            dLogitSquared: exactSquare ?? rescaledSquare ?? (divergence.distance.isNaN ? .infinity : divergence.distance),
            dLogitExact: exactDistance.map { Rational.scientific(log10: $0.log10Magnitude / 2, digits: Self.exactDigits) },
            dLogitSquaredExact: exactDistance.map { $0.scientificString(digits: Self.exactDigits) },
            klAB: divergence.kl, klBA: divergence.reverseKL, logTauA: logTau.0, logTauB: logTau.1,
            dRepAB: dRepAB.map { Self.distance(pair, squared: $0, exact: exactAB, .representation) },
            dRepBA: dRepBA.map { Self.distance(pair, squared: $0, exact: exactBA, .reverseRepresentation) },
            dRepScaleFreeAB: exactAB?.isZero == true ? 0 : dRepAB.flatMap { squared in
                // Undefined when the teacher's embeddings are all 0 (E‖f_A‖² = 0; noted below).
                guard scale > 0 || pair.first.embeddings.maxAbs > 0 else { return nil }
                // From the two norms when a square leaves the normal range (0/0 for subnormal embeddings).
                return squared.isNormal && scale.isNormal ? squared / scale
                    : pow(Self.distance(pair, squared: squared, exact: exactAB, .representation) / pair.first.weightedEmbeddings.frobeniusNorm, 2)
            }, dUnembAB: dUnemb.map { Self.distance(pair, squared: $0, exact: exactUnemb, .unembedding) },
            dRepPivot: pivot.result, mccaCentered: centred.mean, mccaUncentered: uncentred.mean,
            canonicalCorrelationsCentered: centred.values, canonicalCorrelationsUncentered: uncentred.values,
            linearCKA: similarity.linearCKA, procrustesDistance: similarity.procrustesDistance, svcca: similarity.svcca,
            similarityUndefined: similarity.undefinedReason, bounds: bounds, routes: pair.usesGramRoutes ? "gram" : "svd", timings: timings, notes: notes)
        if let widthFloor { measured.recordWidthFloor(widthFloor) }
        measured.enclosures = enclosures
        measured.dLogitSquaredRescaled = rescaledSquare == nil ? rescaled.map { Rational.report(log10: $0.log10Squared) } : nil
        measured.divergenceScientific = divergenceScientific
        return measured
    }

    /// The relative accuracy to which a shown d_rep is checked.
    static let representationTolerance = 1e-6

    /// d_rep² (A←B, or B←A when `reverse`) as shown. Certifying, against the fast enclosure from the
    /// verified identifiability map (Proofs/certificates.md §6): the Double value where an
    /// enclosure within 10⁻⁶ relative holds it, its midpoint where it does not. Where no such
    /// enclosure forms (G̃ ill-conditioned, or the least-squares residual G̃_B − G̃_A·A large, which
    /// costs the Double map about κ²·u of its digits), exactly within the exact level's size;
    /// otherwise a note gives an a priori estimate of the Double value's error when it exceeds 10⁻⁶.
    /// Where the Double least squares could not form it (`failure`: labels far apart in scale), it
    /// is computed exactly within the exact level's size, else not computed, with the reason.
    /// The name of the phases that check a Double d_rep² or d_unemb² (`checkedRepresentationSquared`).
    static let checkPhase = "checked (fast enclosure, or the exact level where allowed)"

    static func checkedRepresentationSquared(_ value: Double?, failure: (any Error)? = nil, _ pair: ModelPair, reverse: Bool, _ options: Options,
                                             notes: inout [String], exactSquare: inout Rational?) -> Double? {
        let name = reverse ? "d_rep B←A" : "d_rep A←B", matrix = reverse ? "G̃_B" : "G̃_A"
        let oriented = reverse ? pair.swapped : pair
        guard let value else {
            // The Double least squares could not form it (labels far apart in scale): exactly, where allowed.
            let exact = options.allowsExactMoments(oriented) ? try? oriented.exact().representationDissimilaritySquared() : nil
            notes.append(doubleFailedNote(name, "d_rep²", exact: exact, failure: failure))
            exactSquare = exact
            return exact?.doubleValue
        }
        let tolerance = representationTolerance
        if options.certification != .never, let identifiability = oriented.fastIdentifiability() {
            let e = oriented.fastMeanSquaredDifference(first: nil, second: identifiability.map).clampedNonNegative
            if e.hi.isFinite, e.hi - e.lo <= tolerance * e.hi {
                return Enclosures.reconciled("\(name)²", value, [e.lo, e.hi], notes: &notes)
            }
        }
        let exactAllowed = options.allowsExactMoments(oriented)
        if exactAllowed {
            guard let exact = try? oriented.exact(), let squared = try? exact.representationDissimilaritySquared() else {
                notes.append("\(name): \(matrix) lacks full column rank exactly, so the least-squares map is not unique; the value shown is the double-precision minimum-norm map's residual, not certified")
                return value
            }
            let shown = squared.doubleValue
            exactSquare = squared
            if shown.isInfinite && value.isInfinite {
                notes.append("\(name): d_rep² = \(squared.reportString) (computed exactly) lies beyond the Double range; d_rep is shown \(squareRoot(squared) == nil ? "from its rescaled residual" : "as its square root")")
            } else if !(abs(shown - value) <= tolerance * abs(shown)) {
                notes.append("\(name): the fast enclosure did not pin d_rep² to 10⁻⁶, and the double-precision value \(String(format: "%.6g", value)) is off: computed exactly, d_rep² = \(squared.reportString)")
            }
            return shown
        }
        if let note = uncheckedNote(name, pair, reverse ? .reverseRepresentation : .representation, squared: value, options,
                                    source: "κ(\(matrix)) and the residual \(reverse ? "G̃_A − G̃_B·A" : "G̃_B − G̃_A·A")") {
            notes.append(note)
        }
        return value
    }

    /// The note for a Double distance shown unchecked (`--certify never`, or above the exact
    /// level's size) whose least squares may be off by more than 10⁻⁶: the a priori estimate of
    /// `ModelPair.leastSquaresErrorEstimate`, from `source`. nil where the estimate is within 10⁻⁶.
    static func uncheckedNote(_ name: String, _ pair: ModelPair, _ which: ModelPair.ResidualDistance, squared: Double, _ options: Options,
                              source: String) -> String? {
        guard let (estimate, rowwise) = pair.leastSquaresErrorEstimate(which, squared: squared),
              !(estimate <= representationTolerance) else { return nil }
        let why = options.certification == .never ? "--certify never"
            : pair.exactLevelSize > ModelPair.exactSizeLimit ? "N·k·(d_A + d_B) above the exact level's 2·10⁶; \(options.exactLevelAdvice("checks it", pair))"
            : options.certification == .auto && !pair.withinExactWidth
                ? "d_A + d_B = \(pair.first.dimension + pair.second.dimension) above the \(ModelPair.exactWidthLimit) up to which the exact level's d×d rational work runs unasked; \(options.exactLevelAdvice("checks it", pair))"
            : "the exact level, which checks it, does not fit in memory (see the notes)"
        let size = estimate.isFinite && estimate < 1 ? "wrong by about \(String(format: "%.1g", estimate)) relative" : "entirely wrong (the estimate is \(String(format: "%.1g", estimate)) relative)"
        return "\(name): not checked (\(why)); the double-precision least squares behind it may be \(size), an a priori estimate from \(rowwise ? "the map's change when every entry moves by its own rounding (the rows lie beyond 2²⁶ apart in scale)" : source)"
    }

    /// d_unemb(A←B)² checked as d_rep's is: shown from its fast enclosure where that pins it to
    /// 10⁻⁶, else computed exactly within the exact level's size (where the Double least squares
    /// failed, `failure`, too: inputs weighted far apart). Without either it is the Double value,
    /// with a note where an a priori estimate puts its error above 10⁻⁶ (`uncheckedNote`: nearly
    /// parallel inputs weighted 10¹²…10¹⁷ had it 10⁻⁷…4·10⁻⁶ off with none), or not computed with
    /// the failure named.
    static func checkedUnembeddingSquared(_ value: Double?, failure: (any Error)? = nil, _ pair: ModelPair, _ options: Options,
                                          notes: inout [String], exactSquare: inout Rational?) -> Double? {
        let name = "d_unemb A←B"
        if let value, options.certification != .never, let e = pair.fastUnembeddingDissimilarity()?.squared.clampedNonNegative,
           e.hi.isFinite, e.hi - e.lo <= representationTolerance * e.hi {
            return Enclosures.reconciled("\(name)²", value, [e.lo, e.hi], notes: &notes)
        }
        let exactAllowed = options.allowsExactMoments(pair)
        let exact = exactAllowed ? try? pair.exact().unembeddingDissimilaritySquared() : nil
        if let failure { notes.append(doubleFailedNote(name, "d_unemb²", exact: exact, failure: failure)) }
        guard let squared = exact else {
            // Within the exact level's size the exact least squares fails only where W^{1/2}F_A lacks
            // full column rank (it had been said to lie above that size).
            if failure == nil, value != nil, exactAllowed, (try? pair.exact().first.embeddingMomentIsPositiveDefinite()) == false {
                notes.append("\(name): W^{1/2}F_A lacks full column rank exactly, so the least-squares map is not unique; the value shown is the double-precision minimum-norm map's residual, not certified")
            } else if failure == nil, let value,
               let note = uncheckedNote(name, pair, .unembedding, squared: value, options, source: "κ(W^{1/2}F_A) and the residual W^{1/2}(F_B − F_A·B)") {
                notes.append(note)
            }
            return value
        }
        let shown = squared.doubleValue
        exactSquare = squared
        if failure == nil, let value, !(abs(shown - value) <= representationTolerance * abs(shown)) {
            notes.append("\(name): the fast enclosure did not pin d_unemb² to 10⁻⁶, and the double-precision value \(String(format: "%.6g", value)) is off: computed exactly, d_unemb² = \(squared.reportString)")
        }
        return shown
    }

    /// A distance shown from its square as shown (`squared`): 0 where its `exact` square (when the
    /// exact level formed it) is 0; from that square where it lies beyond the normal range, whose
    /// Double has few or no digits (the Double residual's root had been shown there: d_unemb
    /// 1.14·10⁻¹⁵⁵ for an exact 6.78·10⁻¹⁵⁶); else `ModelPair.distance(fromSquared:)`.
    static func distance(_ pair: ModelPair, squared: Double, exact: Rational?, _ which: ModelPair.ResidualDistance) -> Double {
        if let exact {
            if exact.isZero { return 0 }
            if !squared.isNormal, let root = squareRoot(exact) { return root }
        }
        return pair.distance(fromSquared: squared, which)
    }

    /// The note where a distance's Double least squares failed (`failure`): computed exactly
    /// (`exact`), or not computed.
    static func doubleFailedNote(_ name: String, _ square: String, exact: Rational?, failure: (any Error)?) -> String {
        let why = failure.map { "\($0)" } ?? "no reason given"
        return exact.map { "\(name): computed exactly, \(square) = \($0.reportString) (the double-precision least squares could not: \(why))" }
            ?? "\(name): not computed (\(why))"
    }

    /// Whether a certified side `shown` lies more than 10⁻⁶ (relative, the accuracy to which d_rep
    /// and d_unemb are shown) from the screen's Double value of the same side (finite and > 0): an
    /// enclosure too wide to read. At 10⁻³, T3's side 3.9·10⁻⁴ above d_rep² passed unremarked.
    static func sideFarOff(_ shown: Double, from screened: Double) -> Bool {
        screened.isFinite && screened > 0 && !(abs(shown - screened) <= representationTolerance * screened)
    }

    /// The note for a fast verdict whose left side shown, its enclosure's deciding end, lies far
    /// from the Double value of that side (`sideFarOff`) where the exact level did not show it (above
    /// its size, or a merge): the verdict stands for every value in the enclosure, but the side
    /// is no estimate of the quantity. nil otherwise. A merge's T4 had shown 2.3 times d_unemb².
    static func looseSideNote(_ v: Verdict, screened: Double?) -> String? {
        guard v.level == .fastEnclosure, v.outcome == .holds || v.outcome == .violated else { return nil }
        let end = v.outcome == .holds ? "upper" : "lower"
        // No Double value to read it against (a merge's d_unemb not computed: T4's side had been
        // 7.9·10⁴ times d_unemb², unremarked).
        guard let screened, !screened.isNaN else {
            return "the left side shown is the \(end) end of its fast enclosure (not certified; its double-precision value is not formed here); "
                + "the verdict is the same for every value in the enclosure"
        }
        guard sideFarOff(v.lhs, from: screened) else { return nil }
        let apart = v.lhs / screened - 1
        return "the left side shown is the \(end) end of its fast enclosure, \(String(format: "%.2g", abs(apart))) relative \(apart > 0 ? "above" : "below") "
            + "the double-precision value \(String(format: "%.6g", screened)) (not certified); the verdict is the same for every value in the enclosure"
    }

    /// Whether the pivot form runs for this pair and options, and on which selection.
    enum PivotPlan { case skip(String), run(PivotSelection) }

    static func pivotApplicability(_ pair: ModelPair, _ options: Options) -> PivotPlan {
        pivotApplicability(dimensions: (pair.first.dimension, pair.second.dimension), labels: pair.first.labelCount, options)
    }

    /// Whether the pivot form runs on a pair of these shapes (the memory estimate counts its tables).
    public static func runsPivotForm(dimensions: (a: Int, b: Int), labels k: Int, _ options: Options) -> Bool {
        if case .run = pivotApplicability(dimensions: dimensions, labels: k, options) { return true }
        return false
    }

    static func pivotApplicability(dimensions: (a: Int, b: Int), labels k: Int, _ options: Options) -> PivotPlan {
        let d = dimensions.a
        if options.skipPivot { return .skip("not requested (--no-pivot)") }
        if dimensions.b != d { return .skip("needs d_A = d_B") }
        if k < d + 1 { return .skip("needs k ≥ d + 1") }
        if d > pivotDimensionLimit && !options.forcePivot && options.pivotSelection == nil {
            return .skip("d = \(d) > \(pivotDimensionLimit): each pair solves a d×d system; pass --pivots/--subsets to run it")
        }
        return .run(options.pivotSelection ?? Self.defaultPivotSelection(seed: 0))
    }

    /// Significant digits of `d_logit_exact` and `d_logit_squared_exact` (the exact rational, through
    /// its logarithm: good to about 13 digits at 10^±617).
    static let exactDigits = 10

    /// The note that `count` pivot pairs were recomputed (one run's and a merge's), `exact` of
    /// them exactly; `rounding` the estimate of the mean's
    /// rounding error where it matters (`Pivot.atRoundingLevel`).
    /// A merge's `count` is the shards' recomputations added (`shards` of them).
    static func pivotRecomputationNote(_ count: Int, shards: Int = 1, exact: Int = 0, rounding: String? = nil) -> String {
        "pivot form: \(count) \(shards > 1 ? "pair evaluations over \(shards) shards" : "pairs") recomputed (the moment form cancelled, or its map was ill-conditioned)"
            + (exact == 0 ? "" : exact == count ? ", all exactly (rational moments and maps)" : ", \(exact) of them exactly (rational moments and maps)")
            + (rounding.map { "; those recomputed in double precision lie near the rounding of the embeddings (a near-orbit pair), so d_rep,pivot² is known only to about ± \($0) (an a priori estimate, not a certificate)" } ?? "")
    }

    /// The note that `count` rows' KL was recomputed by the cancellation-free kernel (one run's and
    /// a partial's); a merge adds the shards' counts (`recomputedRows(in:)`).
    static func recomputationNote(_ count: Int) -> String { "\(count)\(recomputationSuffix)" }
    private static let recomputationSuffix = " KL rows were recomputed by the cancellation-free kernel"
    /// The count in a `recomputationNote`; nil for any other note.
    static func recomputedRows(in note: String) -> Int? {
        note.hasSuffix(recomputationSuffix) ? Int(note.dropLast(recomputationSuffix.count)) : nil
    }

    /// A KL shown as 0 or with digits lost to underflow beside a positive d_logit² (one run and a merge).
    static func klUnderflowNote(distanceSquared: Double, kl: [Double]) -> String? {
        guard distanceSquared > 0, kl.contains(where: { !$0.isNormal && !$0.isNaN }) else { return nil }
        return "a KL lies below the normal Double range (under about 2.2·10⁻³⁰⁸): its value here is 0 or has lost digits to underflow"
    }

    static let zeroScaleNote = "the scale-free d_rep²/E‖f_A‖² is undefined: the first model's embeddings are all 0 (E‖f_A‖² = 0)"

    /// The pivot form's default: every (p, S) pair when there are at most 20 000 (k·C(k − 1, d),
    /// the sample's own size: no sampling error, standard error 0), else 100 pivots × 200 subsets
    /// (it sampled 20 000 pairs with repeats even where 60 pairs exist).
    public static func defaultPivotSelection(seed: UInt64) -> PivotSelection {
        .automatic(limit: 20_000, pivots: 100, subsetsPerPivot: 200, seed: seed)
    }

    /// T5 scans `t5PairLimit` pairs of the pivot sample, evenly spaced through it (it needs
    /// σ_min(L₁) per pair on top of r(p, S)); the note says so when that is not all of them.
    /// The first 200 were all one pivot's (the sample lists each pivot's subsets together).
    static func t5Pairs(_ pairs: [PivotSubset]) -> (pairs: [PivotSubset], note: String?) {
        guard pairs.count > t5PairLimit else { return (pairs, nil) }
        let chosen = (0..<t5PairLimit).map { pairs[$0 * pairs.count / t5PairLimit] }
        return (chosen, "scanned on \(t5PairLimit) of the \(pairs.count) (p, S) pairs, evenly spaced through the sample")
    }

    /// A note `MeasureStatistics.measurement` writes for a merge, worded for one run at large k,
    /// whose d×d moments are its own and which no unsharded run improves on (its notes had spoken
    /// of "the merged moments" and sent the user to "an unsharded measure", stop 71's attack).
    static func oneRunWording(_ note: String) -> String {
        note.replacingOccurrences(of: "the merged moments", with: "the d×d moments")
            .replacingOccurrences(of: "; an unsharded measure computes it exactly", with: "")
            .replacingOccurrences(of: "; an unsharded run works from F itself", with: "")
            .replacingOccurrences(of: "; measure the pair unsharded, where the least squares runs on the rows", with: "")
            .replacingOccurrences(of: ": measure the pair unsharded for its value", with: "")
            .replacingOccurrences(of: " or measure unsharded", with: "")
            .replacingOccurrences(of: "merged second moment", with: "second moment")
            .replacingOccurrences(of: "written with --certify never", with: "--certify never")
            .replacingOccurrences(of: "the merged ", with: "the ")
    }

    /// A note when m_CCA's mean counts correlations that are 0 only because a side's
    /// (centred or uncentred) embeddings have lower rank than min(d_A, d_B) — a constant
    /// column such as an appended bias does this to the centred ones — with the mean over
    /// the directions that vary; nil when both sides have full rank.
    /// `moments`: ranks judged from d×d moments, a merge's (`merged`) or one run's at large k;
    /// `aboutShardMeans`: a merge's covariances combined about the shards' means.
    static func rankNote(_ values: [Double], rankA: Int, rankB: Int, dA: Int, dB: Int, centred: Bool, moments: Bool = false, merged: Bool = false,
                         aboutShardMeans: Bool = false) -> String? {
        let m = values.count, r = min(rankA, rankB, m)
        // The moments' floor can drop directions of the wider side that carry variance, below its width
        // but not below m: the correlations are then over the rest, with no zero to show it (a merge
        // whose middle shard held inputs at 0 and at 10⁶ read 0.0147 for 0.400; stop 73's attack).
        if moments, r == m, rankA < dA || rankB < dB {
            let side = rankA < dA ? "first model's (rank \(rankA) of d = \(dA))" : "second model's (rank \(rankB) of d = \(dB))"
            return "m_CCA \(centred ? "centred" : "uncentred"): the \(side) \(centred ? "centred " : "")embeddings are resolved in fewer directions than their width at the \(merged ? "merged moments'" : "d×d moments'") resolution; the correlations are over the resolved ones, and may differ from \(merged ? "an unsharded run's" : "the rows'") where a dropped direction carried variance (rank is exact where it is a constant column or an exact dependence)"
        }
        guard r < m else { return nil }
        let sides = [rankA < m ? "the first model's (rank \(rankA) of d = \(dA))" : nil,
                     rankB < m ? "the second model's (rank \(rankB) of d = \(dB))" : nil].compactMap { $0 }
        let over = r == 0 ? "no direction varies" : "over the \(r) that can vary the mean is \(String(format: "%.6g", values.prefix(r).reduce(0, +) / Double(r)))"
        let resolution = !moments ? ""
            : merged && aboutShardMeans ? " (rank at the merged covariances' resolution: a spread below about √((S + 4)·ε) of the spread between the S shards' means, or √((N + d)·ε) of the spread within them, counts as none, where an unsharded run resolves down to about N·ε)"
            : merged ? " (rank at the merged moments' resolution: a spread below about √((N + d)·ε) of the embeddings' size counts as none, where an unsharded run resolves down to about N·ε)"
            : " (rank at the d×d moments' resolution: a spread below about √((N + d)·ε) of the embeddings' \(centred ? "spread" : "size") counts as none)"
        return "m_CCA \(centred ? "centred" : "uncentred") averages \(m) correlations, \(m - r) of them 0 because \(sides.joined(separator: " and ")) \(centred ? "centred " : "")embeddings lack full rank\(resolution) (a constant column, e.g. an appended bias, does this\(centred ? ", as does a column whose weighted spread is within about an ulp of its size, or a spread in some direction below about max(N, d)·ε of the embeddings' spread, which double precision cannot resolve" : "")); \(over)"
    }

    /// Why the pivot form has no value when no sampled pair could be used.
    static func allPivotsSingular(_ skipped: Int) -> String {
        "every one of the \(skipped) (p, S) pairs has an L₁ = G_S − 1g_pᵀ singular to within rounding (the teacher's unembedding differences lack rank d, or nearly: equal, collinear or nearly collinear rows of G)"
    }

    static func skippedPivot(_ why: String, singular: Int = 0) -> Pivot {
        Pivot(mean: nil, standardError: nil, pairsUsed: 0, pairsSkipped: singular, exhaustive: false, note: why)
    }

    /// The pivot form when no pair could be used (every L₁ singular), with the count; nil otherwise.
    static func everyPivotSingular(_ p: PivotDissimilarity) -> Pivot? {
        p.pairsUsed > 0 ? nil : skippedPivot(allPivotsSingular(p.pairsSkipped), singular: p.pairsSkipped)
    }

    static func pivotForm(_ pair: ModelPair, _ options: Options,
                          notes: inout [String]) throws -> (result: Pivot, selection: PivotSelection?) {
        let selection: PivotSelection
        switch pivotApplicability(pair, options) {
        case .skip(let why): return (skippedPivot(why), nil)
        case .run(let chosen): selection = chosen
        }
        // Where the models' entries lie beyond 2^±100, the pair balanced by powers of two
        // (`T5PivotBound.balanced`): r(p, S) scales by 2^2a on every pair there and cond(L₁) not
        // at all, so the mean, its standard error and the median of means are scaled back, and
        // named in a note where they leave the normal range. With the teacher alone at 2^−600
        // every r underflowed: the mean was 0, unmarked, and the tail's cond(L₁) taken at
        // arbitrary pairs; on orbit pairs at 10⁻¹⁰⁰ the pair as given gave a normal mean near
        // E‖f_A‖² for an exact 0 (stop 65's attack), so the balanced pair is taken wherever it exists.
        var p: PivotDissimilarity, power = 0
        // Cancelled pairs exactly where the exact level's d×d work may form.
        let exactly = options.allowsExactMoments(pair)
        if let balanced = T5PivotBound.balanced(pair), let q = try? balanced.pair.pivotDissimilarity(selection, exactWhereCancelled: exactly),
           q.mean.isFinite {
            (p, power) = (q, -2 * balanced.balance.embedding)
        } else {
            p = try pair.pivotDissimilarity(selection, exactWhereCancelled: exactly)
        }
        if let none = Self.everyPivotSingular(p) { return (none, selection) }
        // r(p, S) grows as |f|²·cond(L₁)²: beyond the Double range it is inf, and the mean of
        // such terms NaN. Say so, with the rescaling that avoids it, rather than print NaN.
        guard p.mean.isFinite else {
            let largest = max(pair.first.embeddings.maxAbs, pair.second.embeddings.maxAbs)
            return (skippedPivot(MeasureStatistics.overflow("the pivot form (|f| up to \(String(format: "%.3g", largest)))", embeddings: true)), selection)
        }
        func back(_ x: Double) -> Double { Double(sign: .plus, exponent: power, significand: x) }
        let unscaled = Pivot(p, note: nil)
        // The estimate scaled back, in scientific notation where it leaves the normal range.
        let roundingText: String? = unscaled.atRoundingLevel ? {
            let scaled = back(p.roundingError)
            return scaled.isNormal || !p.roundingError.isFinite ? String(format: "%.3g", scaled)
                : Rational.report(log10: p.roundingError.log / Double.ln10 + Double(power) * Double.log10Of2)
        }() : nil
        if p.directEvaluations > 0 {
            notes.append(Self.pivotRecomputationNote(p.directEvaluations, exact: p.exactEvaluations, rounding: roundingText))
        }
        guard power != 0 else { return (unscaled, selection) }
        let mean = back(p.mean)
        // Beyond the normal range the Doubles scaled back are 0, subnormal or +∞; the mean is
        // given too in scientific notation from its logarithm, as a bound's side beyond the range.
        let beyond = mean.isNormal ? nil : Rational.report(log10: p.mean.log / Double.ln10 + Double(power) * Double.log10Of2)
        return (Pivot(mean: mean, standardError: back(p.standardError), pairsUsed: p.pairsUsed, pairsSkipped: p.pairsSkipped,
                      exhaustive: p.exhaustive,
                      note: beyond.map { "d_rep,pivot² = \($0) lies beyond the normal Double range (computed on the models rescaled by powers of two, which scales it by 2^\(-power))" },
                      topShare: p.topShare, medianOfMeans: p.medianOfMeans.map(back), largestCondition: p.largestCondition,
                      meanScientific: beyond, roundingError: unscaled.roundingError.map(back), atRoundingLevel: unscaled.atRoundingLevel), selection)
    }

    /// T3–T7 screened, then certified where the size and the option allow.
    /// The statements whose fast certificate runs at any size: T6 by the streamed pass; T3,
    /// T4, T7 and T12 from d×d interval moments and Grams (BLAS with a priori bounds,
    /// Proofs/certificates.md §4) and d_logit² from the streamed pass; T5 from its worst pair's
    /// d×d pivot matrices and the rows (or the moments).
    static let fastAtAnySize: Set<StatementID> = [.T3, .T4, .T5, .T6, .T7, .T12]

    /// The moment route's screened T3, T4, T5 (at `t5`'s pairs), T7 and T12 replaced by their fast certificates
    /// from the pair's rows, wherever those decide (a screen stays, with its note, elsewhere).
    static func certifiedAtScale(_ bounds: [Bound], _ pair: ModelPair, t5: (pairs: [PivotSubset], note: String?)?) -> [Bound] {
        let swapped = pair.swappedAfterFastEnclosures(moments: true)
        // The longest (T7's two spectra, two pencils each) first.
        let pivot: [(any PairStatement, ModelPair)] = t5.map { [(T5PivotBound(.subsetSum, selection: .explicit($0.pairs)), pair)] } ?? []
        let statements: [(any PairStatement, ModelPair)] = [(T7CanonicalCorrelationBound(.traceBound, centred: false), swapped),
                                                            (T7CanonicalCorrelationBound(.traceBound, centred: true), swapped),
                                                            (T3EmbeddingBound(), pair), (T4UnembeddingBound(), pair), (T12WidthFloorBound(), pair)]
            + pivot + [(T7CanonicalCorrelationBound(.corollary, centred: false), swapped)]
        // One statement per core: their d×d eigendecompositions and solves are independent (the
        // two T7 forms without centring share one spectrum, so the corollary runs after them).
        let verdicts = (try? BLASThreads.parallelMap(statements.count - 1, workers: BLASThreads.cores) { i in
            try? statements[i].0.fastCertify(statements[i].1)
        }) ?? []
        let last = statements[statements.count - 1]
        let all = verdicts + [try? last.0.fastCertify(last.1)]
        return bounds.map { bound in
            guard let index = statements.firstIndex(where: { $0.0.id.rawValue == bound.id && $0.0.form == bound.form }),
                  index < all.count, let verdict = all[index] else { return bound }
            let t5Note = bound.id == StatementID.T5.rawValue ? t5?.note : nil
            return Bound(verdict, note: ["certified by fast enclosure: d×d interval moments and Grams (BLAS with a priori bounds), d_logit² from the streamed pass", t5Note].compactMap { $0 }.joined(separator: "; "))
        }
    }

    /// Whether a Double computation failed on a value beyond the Double range (NaN or ±∞).
    static func isNonFinite(_ error: Error) -> Bool {
        switch error {
        case ModelError.nonFinite, ModelError.numerics(.nonFinite), NumericsError.nonFinite: true
        default: false
        }
    }

    static func evaluateBounds(_ pair: ModelPair, _ options: Options,
                               pivotSelection: PivotSelection?) throws -> [Bound] {
        let size = pair.exactLevelSize
        let certifiable = size <= certificationSizeLimit
        // Whether the exact and MPFR levels may form (never under --certify never; only where they
        // fit in memory), asked once; `exactAllowed` within the exact level's automatic size too.
        // T6 needs only the exact logits; the other statements the exact level's d×d rational work,
        // under `auto` only up to d_A + d_B = 100.
        let exactLevel = options.allowsExactLevel(pair), exactMoments = options.allowsExactMoments(pair, exactLevel: exactLevel)
        let fastCertifiable = size <= fastCertificationSizeLimit
        var statements: [any PairStatement] = [T3EmbeddingBound(), T4UnembeddingBound()]
        var t5Note: String?
        if let pivotSelection {
            // T5 needs σ_min(L₁) per pair on top of r(p, S); it scans the first
            // `t5PairLimit` pairs of the pivot sample.
            let (chosen, note) = t5Pairs(try ModelPair.pivotSubsets(pivotSelection, labelCount: pair.first.labelCount,
                                                                    dimension: pair.first.dimension).pairs)
            t5Note = note
            statements.append(T5PivotBound(.subsetSum, selection: .explicit(chosen)))
        }
        let refining = exactLevel || size <= T6KLBound.refinementSizeLimit
        statements += T6KLBound.Form.allCases.map { T6KLBound($0, refiningScreen: refining) } as [any PairStatement]
        // T7: model 1 is the student. Measured as "A = teacher, B = student", so
        // it runs on the swapped pair (B, A), which reuses the logit statistics.
        let t7: [any PairStatement] = [T7CanonicalCorrelationBound(.traceBound, centred: false),
                                       T7CanonicalCorrelationBound(.traceBound, centred: true),
                                       T7CanonicalCorrelationBound(.corollary, centred: false)]
        let swapped = options.certification == .never ? pair.swapped : pair.swappedAfterFastEnclosures(moments: false)
        // T7's 1 − ρ² for both centrings (an N×d₂ SVD of serial LAPACK each, memoised on the pair) on
        // two workers at once; the rest of its terms, which hold N×k copies of the teacher's logits
        // (`MeasureMemory.wholeLogitBytes` counts one set), one centring after the other as before.
        // A failure is left to the statement's own screen, which reports it.
        let d2 = swapped.second.dimension
        _ = try? BLASThreads.bothSides(flops: 4 * Double(pair.first.inputCount) * Double(d2 * d2)) { side in
            try? swapped.embeddingComplement(centred: side == 1)
        }
        var out: [Bound] = []
        let runs: [(any PairStatement, ModelPair)] = statements.map { ($0, pair) } + t7.map { ($0, swapped) } + [(T12WidthFloorBound(), pair)]
        // Models whose entries lie beyond 2^±100: there a screen may fail on values beyond the
        // Double range, or find a quantity 0 that only underflowed (T7's μ_{d₂} at logits near
        // 10⁻³⁰⁰), while the exact level, which needs no Doubles, decides. Elsewhere a screen's
        // failure or inapplicability stands (a NaN there is a bug to see, not to cover).
        func exactInstead(_ statement: any PairStatement, _ target: ModelPair, screen why: String) -> Bound? {
            guard statement is T6KLBound ? exactLevel : exactMoments, pair.entriesBeyondNormalScale, let certified = try? statement.certify(target), certified.outcome != .inapplicable else { return nil }
            let reason = certified.outcome == .undecided ? certified.certificate.map { "; " + $0 } ?? "" : ""
            return Bound(certified, note: "the double-precision screen \(why) at this scale; decided by the exact level" + reason)
        }
        for (statement, target) in runs {
            let exactHere = statement is T6KLBound ? exactLevel : exactMoments, exactAllowed = certifiable && exactHere
            let screened: Verdict
            do { screened = try statement.screen(target) } catch let ModelError.undetermined(why) {
                // A side rounding leaves undetermined: not decided by the screen; the certificates may decide.
                screened = .undecided(statement.id, statement.form, level: .double, "not determined in Double: \(why)")
            } catch {
                if Self.isNonFinite(error), let bound = exactInstead(statement, target, screen: "failed (\(error))") {
                    out.append(bound)
                } else {
                    out.append(Bound(.inapplicable(statement.id, statement.form, level: .double, "\(error)")))
                }
                continue
            }
            if screened.outcome == .inapplicable,
               let bound = exactInstead(statement, target, screen: "found it inapplicable (\(screened.certificate ?? "no reason given"))") {
                out.append(bound)
                continue
            }
            let extra = statement.id == .T5 ? t5Note : nil
            // The fast enclosure first whenever certification is wanted or the size allows it
            // (it costs about the screen's O(N k d)); exact/MPFR only within their limit.
            // T6's enclosure streams over blocks of rows, so it runs at any size.
            if options.certification != .never, fastCertifiable || fastAtAnySize.contains(statement.id), screened.outcome != .inapplicable,
               let fast = try? statement.fastCertify(target) {
                // A fast verdict whose left side's conservative end lies far from the screen's value
                // (T4 at 4.9·10¹⁵ for d_unemb² = 9.2, inputs weighted far apart), or where the screen
                // had none, shows a side no one can read: within the exact level's size the exact
                // certificate shows the exact one.
                if exactAllowed, !(statement is T6KLBound), screened.outcome == .undecided || Self.sideFarOff(fast.lhs, from: screened.lhs),
                   let exact = try? statement.certify(target), exact.outcome == fast.outcome {
                    out.append(Bound(exact, note: extra))
                    continue
                }
                // T6 with 1/τ beyond the Double range (or near it: a right side above 10¹⁵⁰): the fast level's right side is a lower end,
                // loose for the per-input forms (10²⁷⁴ shown for 10³⁶⁷). Within the exact level's
                // size, MPFR's comparison of logarithms gives its magnitude, when it decides alike.
                let shown = (statement as? T6KLBound).flatMap { t6 in
                    (fast.rhsLog10 != nil || !(fast.rhs < 1e150)) && exactAllowed
                        ? try? t6.inLogarithms(fast, target, exactLHS: target.exactLogitDistanceSquared()) : nil
                }
                out.append(Bound(shown ?? fast, screened: screened.lhs, notes: [extra]))
                continue
            }
            guard exactHere, screened.outcome != .inapplicable else {
                // Under `auto` beyond the exact level's width (its logits within reach, its d×d work not).
                let beyondWidth = exactLevel ? "the exact level's d×d rational work, which \(screened.needsCertification ? "certifies it" : "would decide it"), "
                    + "runs unasked only up to d_A + d_B = \(ModelPair.exactWidthLimit) (here \(pair.first.dimension + pair.second.dimension); "
                    + "it grows faster than (d_A + d_B)³); " + options.exactLevelAdvice("lifts that limit", pair) : nil
                // A screen never reports a violation: a screened violation or near-tie
                // is "not decided by the screen" until it is certified.
                let note = screened.outcome == .inapplicable ? nil
                    : screened.needsCertification ? "not decided by the screen (its sides are within rounding of each other or cross); "
                        + (beyondWidth ?? options.exactLevelAdvice("certifies it", pair))
                    : options.certification == .never ? "double-precision screen; not certified (--certify never)"
                    : beyondWidth != nil && fastCertifiable ? "double-precision screen: the fast enclosure could not decide, and " + beyondWidth!
                    : options.certification == .always || certifiable ? "double-precision screen: "
                        + (fastCertifiable ? "the fast enclosure could not decide" : "N·k·(d_A+d_B) = \(size) above the fast enclosure's limit \(fastCertificationSizeLimit)")
                        + ", and the exact level does not fit in memory (see the notes)"
                    : fastCertifiable ? "double-precision screen: the fast enclosure could not decide, and exact/MPFR certification needs N·k·(d_A+d_B) ≤ \(certificationSizeLimit) (here \(size)); "
                        + options.exactLevelAdvice("lifts that limit", pair)
                    : "double-precision screen; not certified (N·k·(d_A+d_B) = \(size) above the fast enclosure's limit \(fastCertificationSizeLimit))"
                // A screen that could not decide says why (e.g. a side not determined in Double).
                let why = screened.outcome == .undecided ? screened.certificate : nil
                let joined = [why, note, extra].compactMap { $0 }.joined(separator: "; ")
                out.append(Bound(screened, note: joined.isEmpty ? nil : joined))
                continue
            }
            do { out.append(Bound(try statement.certify(target), note: extra)) } catch {
                out.append(Bound(screened, note: "certification failed: \(error)"))
            }
        }
        return out
    }
}
