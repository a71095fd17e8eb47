import Foundation
import Numerics
import Theory

/// The sufficient statistics of `measure` over a range of input rows (a shard), from
/// which `merge` rebuilds the measurement of all rows (`measure --shard i/n --partial`).
///
/// Everything `measure` reports is a function of
/// - per-input means: d_logit², KL both ways, the per-input T6 sums (kept as logarithms,
///   so τ_x far below the Double range cannot overflow them), d_rep both ways (the maps
///   A₁₂ = G̃_A⁺G̃_B and A₂₁ come from the unembeddings alone, so each shard forms the
///   residuals of its own rows directly), r(p, S) of the pivot form and T5's subset sums;
/// - minima: log τ of each model;
/// - d×d moments: E f_A f_Aᵀ, E f_B f_Bᵀ, E f_B f_Aᵀ and the means (m_CCA, CKA, Procrustes,
///   SVCCA, d_unemb, σ_min(F̂_A) for T4, and T7's terms);
/// - the unembeddings' d×d Grams and singular values, identical in every shard (checked
///   at merge).
/// A shard stores its means under its own normalised weights and its raw weight total
/// W_s (its row count when the weights are uniform, which stay implicit); the merge
/// averages the means with weights W_s / ΣW_s, using compensated (Neumaier) sums.
public struct MeasureStatistics: Codable, Sendable {
    public static let format = "logitbounds-measure-partial"
    /// 6 (stop 66): the pivot pairs packed (`PackedPivotSubsets`).
    public static let version = 7

    /// What must agree between shards of one measurement.
    public struct Identity: Codable, Sendable, Equatable {
        public let inputs: Int
        public let labels: Int
        public let dimensionA: Int
        public let dimensionB: Int
        /// FNV-1a (64-bit) of each model's unembeddings as read, in hexadecimal.
        public let unembeddingHashA: String
        public let unembeddingHashB: String
        /// Whether the files carry input weights (w); without them the weights are uniform.
        public let weighted: Bool
        /// The pivot selection and options, in words ("none" with --no-pivot).
        public let options: String
        /// Each file's arrays as its archive's CRC-32s ("f 1a2b3c4d g … w …"), so that
        /// partials of another student f or other weights (same g) are refused; empty for
        /// statistics formed in memory rather than read from files.
        public let arraysA: String
        public let arraysB: String
        enum CodingKeys: String, CodingKey {
            case inputs, labels, dimensionA = "d_a", dimensionB = "d_b", unembeddingHashA = "unembedding_hash_a"
            case unembeddingHashB = "unembedding_hash_b", weighted, options, arraysA = "arrays_a", arraysB = "arrays_b"
        }
    }

    /// The pivot form's per-pair values (and T5's first pairs), for one shard.
    public struct Pivot: Codable, Sendable {
        @PackedPivotSubsets public var pairs: [PivotSubset]
        /// r(p, S) under the shard's weights; nil where L₁(p, S) is singular.
        public var residuals: [Double?]
        public let exhaustive: Bool
        public var directEvaluations: Int
        /// T5 over the first pairs: their r(p, S), σ_min(L₁) and subset logit sums.
        @PackedPivotSubsets public var t5Pairs: [PivotSubset]
        public var t5Residuals: PackedDoubles
        public var t5SigmaMin: PackedDoubles
        public var t5LogitSums: PackedDoubles
        public let t5Note: String?
        /// The first model's unembeddings G_A (k×d_A, row-major) when k·d_A ≤ 10⁶, so that a
        /// merge can report cond(L₁) of the merged largest pairs (which no shard can know);
        /// checked against the identity's hash of G_A. nil above that size.
        public var unembeddings: PackedDoubles?
        /// The labels T5's pairs use (ascending) and G_A's and G_B's rows at them (row-major), so
        /// that a merge encloses L₁ and L₂ at the merged worst pair; nil when not written.
        public var t5Labels: [Int]? = nil
        public var t5RowsA: PackedDoubles? = nil
        public var t5RowsB: PackedDoubles? = nil
        /// The sum over the pairs recomputed in double precision of the a priori estimates of their
        /// r's rounding (`PivotDissimilarity.roundingError` times the pairs), under the shard's
        /// weights; a merge takes their weighted mean, as the residuals', so that a merged mean at
        /// the rounding of the embeddings (a near-orbit pair) is flagged as one run's is. nil in
        /// partials written before stop 68.
        public var roundingSum: Double? = nil
        enum CodingKeys: String, CodingKey {
            case pairs, residuals, exhaustive, directEvaluations = "direct_evaluations", t5Pairs = "t5_pairs"
            case t5Residuals = "t5_residuals", t5SigmaMin = "t5_sigma_min", t5LogitSums = "t5_logit_sums", t5Note = "t5_note"
            case unembeddings = "unembeddings_a", t5Labels = "t5_labels", t5RowsA = "t5_unembedding_rows_a", t5RowsB = "t5_unembedding_rows_b"
            case roundingSum = "rounding_sum"
        }

        /// G's entry (model 0: A, 1: B) at a label of `t5Labels`, for T5's fast verdict; nil
        /// when the rows were not carried.
        public func t5Unembedding(dimension d: Int) -> ((Int, Int, Int) -> Double)? {
            guard let labels = t5Labels, let a = t5RowsA, let b = t5RowsB else { return nil }
            let row = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
            return { model, label, column in (model == 0 ? a : b)[row[label]! * d + column] }
        }
    }

    /// The largest k·d_A for which a partial carries G_A (8 MB of doubles).
    static let carriedUnembeddingLimit = 1_000_000
    /// The most values of G's rows at T5's labels a partial carries (16 MB of doubles: every
    /// label of 200 pairs at d = 64); above, a merge screens T5.
    static let carriedT5RowLimit = 2_000_000

    public let format: String
    public let version: Int
    public let identity: Identity
    /// Rows [rowStart, rowEnd) of the files; merged statistics cover 0..<inputs.
    public let rowStart: Int
    public let rowEnd: Int
    /// Σ of the raw weights of these rows (their count when uniform).
    public let weightTotal: Double
    /// FNV-1a of the raw weights of these rows; nil when uniform.
    public let weightHash: String?
    /// The shards merged into these statistics (1 for a shard).
    public let shards: Int

    // Means under the rows' normalised weights.
    public let logitDistanceSquared: Double
    public let klAB: Double
    public let klBA: Double
    /// log E_x KL_x(A‖B)/τ_x² and log E_x 2 KL_x(A‖B)/τ_x (T6's per-input forms).
    public let logPerInputT6: Double
    public let logPerInputT6Sharp: Double
    public let logTauA: Double
    public let logTauB: Double
    public let representationAB: Double?
    public let representationBA: Double?
    /// E f_A f_Aᵀ (d_A×d_A), E f_B f_Bᵀ, E f_B f_Aᵀ (d_B×d_A), row-major; E f_A, E f_B.
    public let momentAA: PackedDoubles
    public let momentBB: PackedDoubles
    public let momentBA: PackedDoubles
    public let meanA: PackedDoubles
    public let meanB: PackedDoubles
    // Unembedding side (identical in every shard).
    public let gramAA: PackedDoubles
    public let gramBB: PackedDoubles
    public let gramAB: PackedDoubles
    public let unembeddingSingularValuesA: PackedDoubles
    public let unembeddingSingularValuesB: PackedDoubles
    public var pivot: Pivot?
    /// The streamed fast enclosures of these rows' logit statistics under their raw
    /// weights (`FastLogitSums.stored`, 22 values; 19 in partials written before the
    /// logarithms were stored); nil with --certify never or when the logits overflow. A merge
    /// adds them in interval arithmetic, so T6 stays certified.
    public var enclosures: PackedDoubles?
    /// The rows' d×d moments and sums as fast enclosures under their raw weights, and the
    /// Grams' column bounds (`FastMomentSums`); nil with --certify never and in a single run
    /// (which certifies from its rows). A merge adds them, so T3, T4, T5 (with `Pivot`'s rows of G), T7 and T12 are certified.
    public var fastMoments: FastMomentSums? = nil
    /// log₂ of the largest and smallest nonzero row levels √wᵢ·maxⱼ|fᵢⱼ| of F̂_A, then of F̂_B,
    /// under the raw weights (`rowLevels(_:rawWeights:)`): how far apart the rows lie, which
    /// the d×d moments cannot tell. nil in partials written before it was carried.
    public var rowLevels: PackedDoubles? = nil
    /// The covariances from the rows centred in two passes (`CentredMoments`): one run's always; a
    /// shard's where a column of either side takes the second pass (a large offset, where M − μμᵀ
    /// from the moments cancels: m_CCA centred read 0 for 0.694 at a spread 2·10⁻⁷ of the offset,
    /// stop 71's attack), which a merge combines about the shards' means. nil elsewhere: M − μμᵀ
    /// then rounds within 257·ε of the spread, and a partial stays as it was.
    var centredMoments: CentredMoments? = nil
    /// Whether these are one run's statistics (never written): its notes speak of its own moments.
    var oneRun = false
    /// Why the pivot form was not computed, when it was not.
    public let pivotNote: String?
    public let notes: [String]

    enum CodingKeys: String, CodingKey {
        case format, version, identity, rowStart = "row_start", rowEnd = "row_end", weightTotal = "weight_total"
        case weightHash = "weight_hash", shards, logitDistanceSquared = "d_logit_squared", klAB = "kl_ab", klBA = "kl_ba"
        case logPerInputT6 = "log_per_input_t6", logPerInputT6Sharp = "log_per_input_t6_sharp"
        case logTauA = "log_tau_a", logTauB = "log_tau_b", representationAB = "d_rep_ab_squared"
        case representationBA = "d_rep_ba_squared", momentAA = "moment_aa", momentBB = "moment_bb", momentBA = "moment_ba"
        case meanA = "mean_a", meanB = "mean_b", gramAA = "gram_aa", gramBB = "gram_bb", gramAB = "gram_ab"
        case unembeddingSingularValuesA = "unembedding_singular_values_a"
        case unembeddingSingularValuesB = "unembedding_singular_values_b", pivot, pivotNote = "pivot_note", notes, enclosures
        case fastMoments = "fast_moments", rowLevels = "row_levels", centredMoments = "centred_moments"
    }
}

extension MeasureStatistics {
    /// The statistics of one shard: `pair` holds rows [rows.lowerBound, rows.upperBound)
    /// of files with `totalInputs` rows; `rawWeights` are those rows' weights as read (nil:
    /// uniform); `arrays` the two files' array checksums (`ModelRows.arrayChecksums`).
    /// `singleRun`: the statistics of one run's whole pair (the language-model route), never
    /// written as a partial (so without the unembeddings' hashes), whose logit enclosures are
    /// the pair's own (shared with T6) and which carries no interval moments (that run
    /// certifies T3, T4, T7 and T12 from its rows).
    public init(shard pair: ModelPair, rows: Range<Int>, totalInputs: Int, rawWeights: [Double]?,
                options: PairMeasurement.Options, arrays: (String, String) = ("", ""), singleRun: Bool = false) throws {
        guard pair.first.inputCount == rows.count else {
            throw ModelError.shapeMismatch("shard statistics: \(pair.first.inputCount) rows given for the range \(rows)")
        }
        let k = pair.first.labelCount, dA = pair.first.dimension, dB = pair.second.dimension
        // Each hash is one chain of dependent steps over k·d values: the two at once. Only a
        // partial is checked against them (a merge's compatibility, a carried G), so one run's
        // statistics, which are never written, skip them (0.06 s at language-model shape).
        let hashes = singleRun ? ["", ""]
            : try BLASThreads.parallelMap(2, workers: 2) { Self.hash(($0 == 0 ? pair.first : pair.second).unembeddings.storage) }
        identity = Identity(inputs: totalInputs, labels: k, dimensionA: dA, dimensionB: dB,
                            unembeddingHashA: hashes[0], unembeddingHashB: hashes[1],
                            weighted: rawWeights != nil, options: Self.describe(options),
                            arraysA: arrays.0, arraysB: arrays.1)
        format = Self.format
        version = Self.version
        rowStart = rows.lowerBound
        rowEnd = rows.upperBound
        weightTotal = rawWeights.map { NeumaierSum.total($0) } ?? Double(rows.count)
        weightHash = rawWeights.map(Self.hash)
        shards = 1
        var notes: [String] = []

        var sums: FastLogitSums?
        if options.certification != .never {
            // One run's rows under the pair's weights (shared with T6's certificate); a
            // shard's under its raw weights, so that the merge's mean is over every row.
            let raw = rawWeights ?? Array(repeating: 1, count: rows.count)
            sums = singleRun ? pair.fastLogitSums()
                : FastLogitSums.compute(pair, rawWeights: raw,
                                        // Chosen by the whole pair's size, so every shard takes the same bound.
                                        bound: FastLogitSums.automaticBound(inputs: totalInputs, labels: k, dimensions: dA + dB))
            if sums == nil { notes.append("fast enclosures: not formed (a logit or its error bound is not a finite Double); T6 is screened") }
            if !singleRun { fastMoments = FastMomentSums(pair, rawWeights: raw) }
        }
        enclosures = sums.map { PackedDoubles($0.stored) }
        rowLevels = PackedDoubles(Self.rowLevels(pair.first.embeddings, rawWeights: rawWeights)
                                  + Self.rowLevels(pair.second.embeddings, rawWeights: rawWeights))
        if let point = sums.flatMap(Self.midpoints) {
            // The enclosures' midpoints are the values reported (each within its enclosure's
            // half-width of the true value), so the screen's own pass over the logits is skipped.
            (logitDistanceSquared, klAB, klBA, logTauA, logTauB, logPerInputT6, logPerInputT6Sharp) = point
        } else {
            let stats = pair.logitStatistics()
            if stats.accurateRecomputations > 0 {
                notes.append(PairMeasurement.recomputationNote(stats.accurateRecomputations))
            }
            let w = pair.weights
            logitDistanceSquared = stats.logitDistanceSquared
            klAB = stats.kl
            klBA = stats.reverseKL
            logTauA = stats.logTauFirst
            logTauB = stats.logTauSecond
            let global = T6KLBound(.perInput), sharp = T6KLBound(.sharpPerInput)
            logPerInputT6 = global.perInputLogMean(klPerInput: stats.klPerInput, logTauPerInput: stats.logTauPerInput, weights: w)
            logPerInputT6Sharp = sharp.perInputLogMean(klPerInput: stats.klPerInput, logTauPerInput: stats.logTauPerInput, weights: w)
        }
        func optional(_ name: String, _ body: () throws -> Double) -> Double? {
            do { return try body() } catch { notes.append("\(name): not computed (\(error))"); return nil }
        }
        representationAB = optional("d_rep A←B") { try pair.representationDissimilaritySquared() }
        representationBA = optional("d_rep B←A") { try pair.reverseRepresentationDissimilaritySquared() }
        let fA = pair.first.weightedEmbeddings, fB = pair.second.weightedEmbeddings
        momentAA = PackedDoubles(fA.gram().storage)
        momentBB = PackedDoubles(fB.gram().storage)
        momentBA = PackedDoubles(fB.multiplied(by: fA, transposeSelf: true).storage)
        // Embeddings near 10⁻¹⁵⁴ and below: their second moments are subnormal (or 0), so
        // everything formed from them (inverses, whitening, d_unemb) loses its digits or
        // overflows. A single run's row-based route handles them; these statistics refuse.
        for (name, moment) in [("first", momentAA), ("second", momentBB)] {
            let top = moment.values.reduce(0.0) { max($0, abs($1)) }
            if top > 0 && top < 0x1p-1000 {
                throw ModelError.refused("the \(name) model's embeddings are so small (second moments near \(top)) that their moments underflow the Double range; "
                    + "scale that model's F up and its G down by the same power of two, to |f| above about 10⁻¹⁵⁰ (the logits are unchanged)")
            }
            // …and near 10¹⁵⁴ and above they overflow (the eigendecompositions then met ∞); a NaN
            // (∞ − ∞) is caught too, which the largest magnitude above skips.
            if !moment.values.allSatisfy(\.isFinite) {
                // A shard whose logits' squares (or KL) overflow as well: no rescaling helps, so say that first.
                let divergences = [("d_logit_squared", logitDistanceSquared), ("kl_ab", klAB), ("kl_ba", klBA)]
                let unscalable = singleRun ? nil : divergences.first { !$0.1.isFinite }
                throw ModelError.refused(unscalable.map { Self.squaresOverflow($0.0, $0.1) }
                                         ?? Self.overflow("the \(name) model's second moments E f fᵀ: it", embeddings: true))
            }
        }
        if !momentBA.values.allSatisfy(\.isFinite) {
            throw ModelError.refused(Self.overflow("the cross moment E f_B f_Aᵀ: it", embeddings: true))
        }
        meanA = PackedDoubles(pair.first.embeddings.weightedRowMean(pair.weights))
        meanB = PackedDoubles(pair.second.embeddings.weightedRowMean(pair.weights))
        // One run forms them always: where no column takes the second pass M − μμᵀ still rounds up
        // to 257 times as coarsely as the centred rows' own products, which an ill-conditioned
        // covariance amplifies (a review's example: 4·10⁻⁶ for 4·10⁻⁸ in its small eigenvalue).
        if singleRun || CentredMoments.needed(pair, means: (meanA.values, meanB.values)) {
            centredMoments = CentredMoments(pair, formingUnbiasedCKA: singleRun)
        }
        oneRun = singleRun
        // The pair's Grams (formed once, shared with the least-squares maps) and σ(G̃) as
        // the pair's diversity takes it (from the Grams at language-model scale).
        let grams = try pair.unembeddingGrams()
        gramAA = PackedDoubles(grams.s11.storage)
        gramBB = PackedDoubles(grams.s22.storage)
        gramAB = PackedDoubles(grams.s12.storage)
        unembeddingSingularValuesA = PackedDoubles(try pair.unembeddingSingularValues(ofFirst: true))
        unembeddingSingularValuesB = PackedDoubles(try pair.unembeddingSingularValues(ofFirst: false))

        switch PairMeasurement.pivotApplicability(pair, options) {
        case .skip(let why):
            pivot = nil
            pivotNote = why
        case .run(let selection):
            // Where an entry lies beyond 2^±100, r(p, S) from the pair balanced by powers of two and
            // scaled back, as one run's pivot form: a merge of orbit or perturbed pairs at 10⁻¹⁰⁰ had
            // shown d_rep,pivot² near E‖f_A‖² where one run showed 10⁻⁶ of it (stop 65's attack).
            let values = try T5PivotBound.balanced(pair).flatMap { balanced -> (pairs: [PivotSubset], residuals: [Double?], exhaustive: Bool, direct: Int, rounding: Double)? in
                guard let b = try? balanced.pair.pivotResidualValues(selection) else { return nil }
                let power = -2 * balanced.balance.embedding
                func back(_ x: Double) -> Double { Double(sign: .plus, exponent: power, significand: x) }
                return (b.pairs, b.residuals.map { $0.map(back) }, b.exhaustive, b.direct, back(b.rounding))
            } ?? { let v = try pair.pivotResidualValues(selection); return (v.pairs, v.residuals, v.exhaustive, v.direct, v.rounding) }()
            let (chosen, scanNote) = PairMeasurement.t5Pairs(values.pairs)
            // A pair whose σ_min(L₁) leaves the normal Double range (columns of G 2³⁰⁰ apart) has no
            // term a partial can carry: it is left out here, as in every shard (σ_min depends on
            // the model alone), and named, where the partial had been refused as inconsistent.
            let all = try T5PivotBound(.subsetSum, selection: .explicit(chosen)).cachedTerms(pair, exhaustive: false).terms
            let t5 = all.filter { $0.sigmaMin.isNormal }
            let t5Note = t5.count == all.count ? scanNote
                : [scanNote, "\(all.count - t5.count) of the \(all.count) \(Self.t5PairsLeftOut): their σ_min(L₁) not resolved in Double, 0 or beyond the normal range (measure unsharded for them)"]
                    .compactMap { $0 }.joined(separator: "; ")
            let labels = Array(Set(t5.flatMap { [$0.pair.pivot] + $0.pair.subset })).sorted()
            let carried = labels.count * (pair.first.dimension + pair.second.dimension) <= Self.carriedT5RowLimit
            func rows(_ g: Matrix) -> PackedDoubles? {
                carried ? PackedDoubles(labels.flatMap { l in (0..<g.columns).map { g[l, $0] } }) : nil
            }
            pivot = Pivot(pairs: values.pairs, residuals: values.residuals, exhaustive: values.exhaustive,
                          directEvaluations: values.direct, t5Pairs: t5.map(\.pair), t5Residuals: PackedDoubles(t5.map(\.residual)),
                          t5SigmaMin: PackedDoubles(t5.map(\.sigmaMin)), t5LogitSums: PackedDoubles(t5.map(\.logitSum)), t5Note: t5Note,
                          unembeddings: pair.first.unembeddings.storage.count <= Self.carriedUnembeddingLimit
                              ? PackedDoubles(pair.first.unembeddings.storage) : nil,
                          t5Labels: carried ? labels : nil, t5RowsA: rows(pair.first.unembeddings), t5RowsB: rows(pair.second.unembeddings),
                          roundingSum: values.rounding)
            pivotNote = nil
        }
        self.notes = notes
    }

    /// The words a partial's T5 note uses for pairs it left out (a merge reads them).
    static let t5PairsLeftOut = "pairs left out"

    /// The point values from enclosures (their midpoints; the T6 per-input means as logs),
    /// or nil when an enclosure is unbounded, or d_logit² or a KL is not tight (lower end
    /// above 0, width at most 2⁻²⁰ of the upper end: models within rounding of each other,
    /// whose midpoint would be rounding noise), or a mean whose log is needed is not
    /// positive: then the screen's pass gives them.
    static func midpoints(_ s: FastLogitSums) -> (Double, Double, Double, Double, Double, Double, Double)? {
        let values = [s.logitDistanceSquared, s.mean(s.klFirstSecond), s.mean(s.klSecondFirst), s.logTauFirst, s.logTauSecond,
                      s.mean(s.perInputT6), s.mean(s.perInputT6Sharp)]
        func tight(_ x: FastInterval) -> Bool { x.lo > 0 && x.hi - x.lo <= 0x1p-20 * x.hi }
        guard values.allSatisfy({ $0.lo.isFinite && $0.hi.isFinite }), values[0...2].allSatisfy(tight),
              values[5].midpoint > 0, values[6].midpoint > 0 else { return nil }
        let m = values.map(\.midpoint)
        return (m[0], m[1], m[2], m[3], m[4], m[5].log, m[6].log)
    }

    /// [log₂ of the largest, log₂ of the smallest nonzero] row level √wᵢ·maxⱼ|fᵢⱼ| of F under the
    /// raw weights w (1 when nil), in logarithms (√w·max|f| may leave the range); [0, 0] when
    /// every row is 0.
    static func rowLevels(_ f: Matrix, rawWeights: [Double]?) -> [Double] {
        let logs = zip(f.rowLargest, rawWeights ?? Array(repeating: 1, count: f.rows)).compactMap { top, w in
            top > 0 ? Foundation.log2(top) + 0.5 * Foundation.log2(w) : nil
        }
        return [logs.max() ?? 0, logs.min() ?? 0]
    }

    /// Every size consistent with the identity, so that a partial whose checksum was
    /// forged cannot make the merge index out of range: sizes, row range, weight total,
    /// array lengths, the pivot pairs' labels; and values that must agree (the enclosures'
    /// midpoints, the carried covariances' means with the statistics' own).
    public func validate(file: String) throws {
        let (n, k, dA, dB) = (identity.inputs, identity.labels, identity.dimensionA, identity.dimensionB)
        func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
            if !ok { throw MeasureMergeError.inconsistent(file: file, reason: what()) }
        }
        try check(n >= 1 && k >= 2 && dA >= 1 && dB >= 1 && n <= 1 << 40 && k <= 1 << 24 && dA <= 1 << 14 && dB <= 1 << 14,
                  "sizes N = \(n), k = \(k), d = \(dA)/\(dB)")
        try check(0 <= rowStart && rowStart < rowEnd && rowEnd <= n, "rows \(rowStart)..<\(rowEnd) of N = \(n)")
        try check(weightTotal > 0 && weightTotal.isFinite,
                  weightTotal.isNaN || weightTotal == .infinity
                      ? "the raw weights of rows \(rowStart)..<\(rowEnd) sum beyond the Double range; divide every weight by the same power of two, so that they sum below about 10³⁰⁸ (the means do not change)"
                      : "weight total \(weightTotal) (must be finite and > 0)")
        // Every shard covers at least one row, so the counts summed at merge stay ≤ N.
        try check((1...(rowEnd - rowStart)).contains(shards), "shards = \(shards) for \(rowEnd - rowStart) rows")
        let lengths: [(String, Int, Int)] = [
            ("moment_aa", momentAA.count, dA * dA), ("moment_bb", momentBB.count, dB * dB), ("moment_ba", momentBA.count, dB * dA),
            ("mean_a", meanA.count, dA), ("mean_b", meanB.count, dB), ("gram_aa", gramAA.count, dA * dA),
            ("gram_bb", gramBB.count, dB * dB), ("gram_ab", gramAB.count, dA * dB),
        ]
        for (name, count, expected) in lengths { try check(count == expected, "\(name) has \(count) values, expected \(expected)") }
        // Values in their ranges: means of squares and divergences are ≥ 0 (d_logit² may
        // overflow to +∞, never NaN), log τ ≤ −log k, the moments and Grams finite.
        // Finite: a mean over rows with an infinite term would merge to NaN (∞ − ∞ in the
        // compensated sum); such a shard is refused when written.
        for (name, value) in [("d_logit_squared", logitDistanceSquared), ("kl_ab", klAB), ("kl_ba", klBA)] {
            try check(value >= 0 && value.isFinite, value.isNaN || value == .infinity
                ? Self.squaresOverflow(name, value) : "\(name) = \(value) (must be finite and ≥ 0)")
        }
        if !identity.weighted {
            // Uniform weights are one per row.
            try check(weightTotal == Double(rowEnd - rowStart), "weight_total = \(weightTotal) for \(rowEnd - rowStart) rows of uniform weight")
        }
        for (name, value) in [("d_rep_ab_squared", representationAB), ("d_rep_ba_squared", representationBA)] {
            if let value {
                try check(value >= 0 && value.isFinite, value == .infinity
                    ? Self.overflow(name, embeddings: true)
                    : "\(name) = \(value) (must be finite and ≥ 0)")
            }
        }
        for (name, value) in [("log_tau_a", logTauA), ("log_tau_b", logTauB)] {
            try check(value <= -Double(k).log + 1e-9 * max(1, abs(value)), "\(name) = \(value) (must be ≤ −log k)")
        }
        try check(!logPerInputT6.isNaN && !logPerInputT6Sharp.isNaN, "the per-input T6 means are NaN")
        for (name, array) in [("moment_aa", momentAA), ("moment_bb", momentBB), ("moment_ba", momentBA), ("mean_a", meanA),
                              ("mean_b", meanB), ("gram_aa", gramAA), ("gram_bb", gramBB), ("gram_ab", gramAB),
                              ("unembedding_singular_values_a", unembeddingSingularValuesA),
                              ("unembedding_singular_values_b", unembeddingSingularValuesB)] {
            try check(array.values.allSatisfy(\.isFinite), name.hasPrefix("moment") || name.hasPrefix("mean")
                ? Self.overflow(name, embeddings: true)
                : name.hasPrefix("gram")
                    ? Self.overflow(name, embeddings: false)
                    : "\(name) holds a value that is not finite")
        }
        if let enclosures {
            let sums = FastLogitSums(stored: enclosures.values)
            try check(sums.map { $0.rows == rowEnd - rowStart && $0.weightTotal.hi > 0 } == true,
                      "the enclosures (\(enclosures.count) values) are not 22 (or 19) values with ordered interval ends, counts 0 ≤ refined ≤ rows = \(rowEnd - rowStart), finite logarithms at most their sums', and a positive weight total")
            if let problem = sums?.inconsistency(labels: k) { try check(false, "the enclosures contradict themselves: \(problem)") }
            // The partial's own numbers inside its enclosures: its weight total (a compensated
            // sum, within a few ε of the exact one the enclosure holds), and its means wherever
            // the enclosure is tight (the values written are then the enclosures' midpoints).
            if let sums {
                let total = sums.weightTotal
                try check(total.lo - 1e-12 * abs(total.lo) <= weightTotal && weightTotal <= total.hi + 1e-12 * abs(total.hi),
                          "weight_total = \(weightTotal) lies outside the enclosures' weight total \(total)")
                for (name, value, enclosure) in [("d_logit_squared", logitDistanceSquared, sums.logitDistanceSquared),
                                                 ("kl_ab", klAB, sums.mean(sums.klFirstSecond)), ("kl_ba", klBA, sums.mean(sums.klSecondFirst))]
                where Self.midpoints(sums) != nil {
                    try check(enclosure.lo <= value && value <= enclosure.hi, "\(name) = \(value) lies outside its enclosure \(enclosure)")
                }
            }
        }
        if let rowLevels {
            try check(rowLevels.count == 4 && rowLevels.values.allSatisfy(\.isFinite) && rowLevels[0] >= rowLevels[1] && rowLevels[2] >= rowLevels[3],
                      "row_levels: not four finite values, each largest at least its smallest")
        }
        if let problem = centredMoments?.problem(dA: dA, dB: dB, means: (meanA.values, meanB.values), rows: rowEnd - rowStart) {
            try check(false, "centred_moments: " + problem)
        }
        if let fastMoments {
            try check(fastMoments.isConsistent(labels: k, dA: dA, dB: dB),
                      "fast_moments: an array is not d_A = \(dA), d_B = \(dB) sized, or holds NaN or interval ends out of order")
        }
        try check(unembeddingSingularValuesA.count <= dA && unembeddingSingularValuesB.count <= dB, "singular value counts")
        if let pivot {
            try check(pivot.residuals.count == pivot.pairs.count, "\(pivot.residuals.count) pivot residuals for \(pivot.pairs.count) pairs")
            try check(pivot.residuals.allSatisfy { $0.map { $0 >= 0 && $0.isFinite } ?? true },
                      pivot.residuals.contains { $0.map { !$0.isFinite } ?? false }
                          ? Self.overflow("a pivot residual r(p, S) (∝ |f|²) is not finite: it", embeddings: true)
                          : "a pivot residual is negative")
            let t5 = pivot.t5Pairs.count
            try check(pivot.t5Residuals.count == t5 && pivot.t5SigmaMin.count == t5 && pivot.t5LogitSums.count == t5, "T5 array lengths")
            // T5's screen terms choose the pair its certificate is at: each in its range.
            for (name, values, positive) in [("t5_residuals", pivot.t5Residuals, false), ("t5_logit_sums", pivot.t5LogitSums, false),
                                             ("t5_sigma_min", pivot.t5SigmaMin, true)] {
                try check(values.values.allSatisfy { $0.isFinite && (positive ? $0 > 0 : $0 >= 0) },
                          "\(name) holds a value that is \(positive ? "not finite and > 0" : "negative or not finite")")
            }
            try check(t5 <= pivot.pairs.count, "more T5 pairs than pivot pairs")
            // An estimate, +∞ where nothing is known of a pair's digits; never negative or NaN.
            try check(pivot.roundingSum.map { $0 >= 0 } ?? true, "rounding_sum = \(pivot.roundingSum ?? 0) is negative or not a number")
            // An estimate of the recomputed pairs' rounding: none recomputed, none to estimate.
            try check(pivot.roundingSum.map { $0 == 0 || pivot.directEvaluations > 0 } ?? true,
                      "rounding_sum = \(pivot.roundingSum ?? 0) with no pivot pair recomputed (direct_evaluations = 0)")
            try check(pivot.directEvaluations >= 0 && pivot.directEvaluations / shards <= pivot.pairs.count,
                      "direct_evaluations = \(pivot.directEvaluations) for \(pivot.pairs.count) pairs in \(shards) shard(s)")
            if let g = pivot.unembeddings {
                try check(g.count == k * dA && Self.hash(g.values) == identity.unembeddingHashA,
                          "the carried unembeddings_a (\(g.count) values) are not the first model's G (k·d = \(k * dA), hash \(identity.unembeddingHashA))")
            }
            for ps in pivot.pairs + pivot.t5Pairs {
                try check((0..<k).contains(ps.pivot) && ps.subset.count == dA && ps.subset.allSatisfy { (0..<k).contains($0) },
                          "pivot pair \(ps.pivot), \(ps.subset) is not within k = \(k), d = \(dA)")
            }
            if pivot.t5Labels != nil || pivot.t5RowsA != nil || pivot.t5RowsB != nil {
                // One check per way the carried rows can be wrong, each named in its message.
                let labels = pivot.t5Labels ?? []
                let used = Set(pivot.t5Pairs.flatMap { [$0.pivot] + $0.subset })
                try check(pivot.t5Labels != nil && pivot.t5RowsA != nil && pivot.t5RowsB != nil,
                          "t5_labels, t5_unembedding_rows_a and t5_unembedding_rows_b must be carried together (one of them is missing)")
                try check(zip(labels, labels.dropFirst()).allSatisfy { $0 < $1 },
                          "t5_labels are not strictly ascending")
                try check(Set(labels) == used,
                          "t5_labels (\(labels.count) labels) are not exactly the \(used.count) labels T5's pairs use")
                for (name, rows, d) in [("t5_unembedding_rows_a", pivot.t5RowsA!, dA), ("t5_unembedding_rows_b", pivot.t5RowsB!, dB)] {
                    try check(rows.count == labels.count * d,
                              "\(name) holds \(rows.count) values, not \(labels.count) t5_labels × d = \(d)")
                    try check(rows.values.allSatisfy(\.isFinite), "\(name) holds a value that is not finite")
                }
                if let g = pivot.unembeddings {
                    try check(labels.enumerated().allSatisfy { i, l in (0..<dA).allSatisfy { g[l * dA + $0] == pivot.t5RowsA![i * dA + $0] } },
                              "t5_unembedding_rows_a differ from the carried unembeddings_a")
                }
            }
        }
    }

    /// Why a shard's d_logit² (or KL) is not finite, and what to do instead.
    static func squaresOverflow(_ name: String, _ value: Double) -> String {
        "\(name) = \(value.isNaN ? "NaN" : "\(value)") (must be finite): from `measure --shard`, the logits' squares leave the Double range (logits beyond about 10¹⁵⁴; NaN where the logits themselves do, ∞ − ∞), which a partial's Double sums cannot hold, and scaling F and G apart leaves the logits as they are; measure the pair unsharded, which encloses d_logit², KL and log τ in MPFR"
    }

    /// Why a value overflowed, and the rescaling that avoids it: F or G (whichever the value
    /// grows with) scaled down and the other up by the same power of two leaves every logit as it is.
    static func overflow(_ name: String, embeddings: Bool) -> String {
        let (small, large, entry) = embeddings ? ("F", "G", "f") : ("G", "F", "g")
        return "\(name) overflows the Double range (\(embeddings ? "embeddings" : "unembeddings") near 10¹⁵⁰ or beyond): scale that model's \(small) down and its \(large) up by the same power of two, to |\(entry)| below about 10¹⁵⁰ (the logits are unchanged)"
    }

    /// The options that shards must share, in words.
    static func describe(_ options: PairMeasurement.Options) -> String {
        if options.skipPivot { return "no pivot" }
        switch options.pivotSelection {
        case nil: return "pivot default (every pair up to 20 000, else 100 × 200, seed 0)"
        case .automatic(let limit, let pivots, let subsets, let seed)?:
            return "pivot automatic(limit \(limit), \(pivots) × \(subsets), seed \(seed))"
        case .sampled(let pivots, let subsets, let seed)?: return "pivot sampled(\(pivots) × \(subsets), seed \(seed))"
        case .explicit(let list)?:
            return "pivot explicit(\(list.count) pairs, hash \(hash(list.flatMap { [Double($0.pivot)] + $0.subset.map(Double.init) })))"
        }
    }

    /// A 64-bit FNV-1a-style hash over the values' bit patterns, one 64-bit word per step
    /// (with a final avalanche), in hexadecimal: any changed value changes it with
    /// overwhelming probability. Not cryptographic; it guards against mixing pairs.
    static func hash(_ values: [Double]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in values { h = (h ^ v.bitPattern) &* 0x0000_0100_0000_01B3 }
        h ^= h >> 33; h = h &* 0xff51_afd7_ed55_8ccd; h ^= h >> 33
        return String(h, radix: 16)
    }
}

/// A Double array written in JSON as base64 of its little-endian IEEE 754 bytes: exact
/// (every bit, NaN and ±∞ included), a third of the size of decimal text, and fast to read
/// and write — the moments and Grams of a partial hold 3·d² numbers each side.
public struct PackedDoubles: Codable, Sendable, Equatable {
    public var values: [Double]
    public init(_ values: [Double]) { self.values = values }
    public var count: Int { values.count }
    public subscript(i: Int) -> Double { values[i] }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let data = Data(base64Encoded: text), data.count % 8 == 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not base64 of 8-byte doubles"))
        }
        values = data.withUnsafeBytes { raw in
            (0..<(data.count / 8)).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var data = Data(count: 8 * values.count)
        data.withUnsafeMutableBytes { raw in
            for (i, v) in values.enumerated() { raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
        }
        var container = encoder.singleValueContainer()
        try container.encode(data.base64EncodedString())
    }
}

/// (p, S) pairs written in JSON as base64 of little-endian Int32s, each pair as its subset's size,
/// p, then S's labels: a partial's largest part, which as a pretty-printed JSON list of objects
/// (before version 6) took 20 MB of a 27 MB partial at the default 20 000 pairs of d = 64 and one
/// JSON object for every pair to read back. Labels beyond Int32 are written as Int32.max, which a
/// merge refuses as beyond k (k ≤ 2²⁴).
@propertyWrapper
public struct PackedPivotSubsets: Codable, Sendable {
    public var wrappedValue: [PivotSubset]
    public init(wrappedValue: [PivotSubset]) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        func corrupted(_ why: String) -> DecodingError {
            .dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: why))
        }
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let data = Data(base64Encoded: text), data.count % 4 == 0 else { throw corrupted("not base64 of 4-byte integers") }
        let values = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        }
        var pairs: [PivotSubset] = [], i = 0
        while i < values.count {
            let size = values[i]
            guard size >= 0, size <= values.count - i - 2 else { throw corrupted("a pivot pair of \(size) labels runs past the end") }
            let labels = values[(i + 1)...(i + 1 + size)]
            guard labels.allSatisfy({ $0 >= 0 }) else { throw corrupted("a negative label") }
            pairs.append(PivotSubset(pivot: labels.first!, subset: Array(labels.dropFirst())))
            i += 2 + size
        }
        wrappedValue = pairs
    }

    public func encode(to encoder: any Encoder) throws {
        var data = Data(capacity: 4 * wrappedValue.reduce(0) { $0 + 2 + $1.subset.count })
        func append(_ value: Int) { withUnsafeBytes(of: Int32(clamping: value).littleEndian) { data.append(contentsOf: $0) } }
        for pair in wrappedValue {
            append(pair.subset.count)
            append(pair.pivot)
            pair.subset.forEach(append)
        }
        var container = encoder.singleValueContainer()
        try container.encode(data.base64EncodedString())
    }
}

/// Neumaier's compensated sum: the rounding error of each addition is carried and
/// added back, so the result is the correctly rounded sum to within about 2ε
/// relative (for sums without heavy cancellation), whatever the number of terms. A sum that
/// is infinite (an infinite term, or overflow) is that infinity: its compensation, ∞ − ∞, is NaN.
public struct NeumaierSum: Sendable {
    public private(set) var sum = 0.0
    var compensation = 0.0
    public init() {}
    public mutating func add(_ x: Double) {
        let t = sum + x
        compensation += abs(sum) >= abs(x) ? (sum - t) + x : (x - t) + sum
        sum = t
    }
    public var value: Double { sum.isFinite ? sum + compensation : sum }
    public static func total(_ xs: [Double]) -> Double {
        var s = NeumaierSum()
        for x in xs { s.add(x) }
        return s.value
    }
}

/// A partial file of `measure --shard i/n --partial FILE`: the shard's statistics, the
/// files it measured, and an FNV-1a checksum of the statistics' canonical JSON (sorted
/// keys), so a truncated or edited partial is refused rather than merged.
public struct MeasurePartial: Codable, Sendable {
    public let teacher: String
    public let student: String
    public let checksum: String
    public private(set) var statistics: MeasureStatistics
    /// The length in bytes of the statistics' canonical JSON, which the checksum hashes: what a
    /// partial's file holds without the whitespace it may have lost (`merge`'s memory estimate).
    /// Not written; set where the checksum is computed.
    public private(set) var canonicalBytes = 0

    enum CodingKeys: String, CodingKey { case teacher, student, checksum, statistics }

    public init(teacher: String, student: String, statistics: MeasureStatistics) throws {
        self.teacher = teacher
        self.student = student
        self.statistics = statistics
        (checksum, canonicalBytes) = try Self.canonical(statistics)
    }

    /// The FNV-1a checksum of the statistics' canonical JSON, and that text's length in bytes.
    static func canonical(_ statistics: MeasureStatistics) throws -> (checksum: String, bytes: Int) {
        let text = try ReportJSON.encode(statistics)
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return (String(h, radix: 16), text.utf8.count)
    }

    public func encoded() throws -> String { try ReportJSON.encode(self) }

    /// Whether `data` looks like a measure partial (rather than, say, a verify report): its
    /// first bytes name the format or open a "statistics" object (so a truncated partial is
    /// still recognised, and refused as truncated: with its keys sorted, the format comes after
    /// the enclosures' long base64 text, beyond the first 4 096 bytes), or it parses with one.
    public static func recognises(_ data: Data) -> Bool {
        let head = String(decoding: data.prefix(4096), as: UTF8.self)
        return head.contains(MeasureStatistics.format)
            || head.range(of: #""statistics"\s*:\s*\{"#, options: .regularExpression) != nil
            || (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["statistics"] != nil
    }

    /// Shares `other`'s pivot pairs where they equal this partial's (every shard of a measurement
    /// carries the same sample): a merge then holds one copy, not one a shard (32 partials of the
    /// default 20 000 pairs of d = 64 held 350 MB of them). The values do not change.
    public mutating func sharePivotPairs(with other: MeasurePartial) {
        guard let theirs = other.statistics.pivot, let ours = statistics.pivot else { return }
        if ours.pairs == theirs.pairs { statistics.pivot!.pairs = theirs.pairs }
        if ours.t5Pairs == theirs.t5Pairs { statistics.pivot!.t5Pairs = theirs.t5Pairs }
    }

    /// Reads a partial, refusing another format or version and a checksum mismatch.
    public static func decode(_ data: Data, file: String) throws -> MeasurePartial {
        var partial: MeasurePartial
        do { partial = try ReportJSON.decode(MeasurePartial.self, from: data) } catch {
            if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let statistics = object["statistics"] as? [String: Any],
               statistics["format"] as? String != MeasureStatistics.format || statistics["version"] as? Int != MeasureStatistics.version {
                // A version written as text ("7") is not the integer this build reads: say so, not "version 7".
                let version = statistics["version"].map { $0 is Int ? "\($0)" : "\"\($0)\" (not an integer)" } ?? "?"
                throw MeasureMergeError.unreadable(file: file, reason: "a \(statistics["format"] ?? "unknown") partial of version \(version); this build reads \(MeasureStatistics.format) version \(MeasureStatistics.version)")
            }
            throw MeasureMergeError.unreadable(file: file, reason: "not a complete measure partial (truncated or damaged: \(decodingSentence(error, data: data)))")
        }
        let s = partial.statistics
        guard s.format == MeasureStatistics.format, s.version == MeasureStatistics.version else {
            throw MeasureMergeError.unreadable(file: file, reason: "a \(s.format) partial of version \(s.version); this build reads \(MeasureStatistics.format) version \(MeasureStatistics.version)")
        }
        let canonical = try canonical(s)
        guard canonical.checksum == partial.checksum else {
            throw MeasureMergeError.checksumMismatch(file: file)
        }
        partial.canonicalBytes = canonical.bytes
        try s.validate(file: file)
        // `measure --shard` writes one shard's statistics; a larger count (checksum recomputed)
        // would pass for shards that were never measured in the merge's notes.
        guard s.shards == 1 else {
            throw MeasureMergeError.inconsistent(file: file, reason: "shards = \(s.shards): a partial holds one shard's statistics (measure --shard writes 1)")
        }
        return partial
    }
}
