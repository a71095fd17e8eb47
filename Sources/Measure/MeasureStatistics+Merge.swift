import Foundation
import Numerics
import Theory

/// Why shard statistics (or a partial file) cannot be merged.
public enum MeasureMergeError: Error, CustomStringConvertible {
    /// No partials given.
    case nothingToMerge
    /// Not a readable partial of this format and version (truncated, damaged, other version).
    case unreadable(file: String, reason: String)
    /// The checksum does not match the statistics: edited after it was written.
    case checksumMismatch(file: String)
    /// Sizes or arrays that contradict the partial's own identity.
    case inconsistent(file: String, reason: String)
    /// Partials of different pairs or options.
    case differentPair(file: String, first: String, difference: String)
    /// Two partials cover the same rows.
    case overlap(file: String, rows: Range<Int>, coveredUpTo: Int)
    /// No partial covers these rows.
    case missingRows(Range<Int>)
    /// Statistics of part of the rows asked for a measurement.
    case incomplete(rows: Range<Int>, inputs: Int)

    public var description: String {
        switch self {
        case .nothingToMerge: return "no partial statistics to merge"
        case let .unreadable(file, reason): return "\(file): \(reason)"
        case let .checksumMismatch(file): return "\(file): checksum mismatch — the partial was edited or damaged after it was written"
        case let .inconsistent(file, reason): return "\(file): inconsistent partial: \(reason)"
        case let .differentPair(file, first, difference):
            return "\(file) is from another pair or other options than \(first) (\(difference))"
        case let .overlap(file, rows, upTo):
            return "\(file) covers rows \(rows.lowerBound)..<\(rows.upperBound), which overlap rows already covered (up to \(upTo))"
        case let .missingRows(rows): return "rows \(rows.lowerBound)..<\(rows.upperBound) are missing (no partial covers them)"
        case let .incomplete(rows, inputs):
            return "statistics of rows \(rows.lowerBound)..<\(rows.upperBound) of \(inputs): merge every shard first"
        }
    }
}

extension MeasureStatistics {
    /// The statistics of the union of the shards' rows. Refuses shards of different
    /// pairs or options (identity), and row ranges that overlap or leave rows out.
    /// Means are combined with weights W_s/ΣW_s by compensated sums, so the result
    /// does not depend on the shard count beyond a few ε relative.
    public static func merge(_ parts: [MeasureStatistics], names: [String]) throws -> MeasureStatistics {
        guard let first = parts.first else { throw MeasureMergeError.nothingToMerge }
        for (part, name) in zip(parts, names) {
            try part.validate(file: name)
        }
        for (part, name) in zip(parts, names) where part.identity != first.identity {
            throw MeasureMergeError.differentPair(file: name, first: names[0], difference: describeDifference(first.identity, part.identity))
        }
        for (part, name) in zip(parts, names) where part.pivot?.pairs != first.pivot?.pairs || part.pivot?.t5Pairs != first.pivot?.t5Pairs
            || part.momentAA.count != first.momentAA.count {
            throw MeasureMergeError.differentPair(file: name, first: names[0], difference: "other pivot pairs or moment sizes")
        }
        // T5's carried rows of G are the pair's own: the same wherever present.
        let carriers = parts.filter { $0.pivot?.t5Labels != nil }
        for (part, name) in zip(parts, names) where part.pivot?.t5Labels != nil
            && (part.pivot?.t5Labels != carriers[0].pivot?.t5Labels || part.pivot?.t5RowsA != carriers[0].pivot?.t5RowsA
                || part.pivot?.t5RowsB != carriers[0].pivot?.t5RowsB) {
            throw MeasureMergeError.differentPair(file: name, first: names[0], difference: "other rows of G at T5's labels")
        }
        let order = parts.indices.sorted { parts[$0].rowStart < parts[$1].rowStart }
        var next = 0
        for i in order {
            let p = parts[i]
            if p.rowStart < next { throw MeasureMergeError.overlap(file: names[i], rows: p.rowStart..<p.rowEnd, coveredUpTo: next) }
            if p.rowStart > next { throw MeasureMergeError.missingRows(next..<p.rowStart) }
            next = p.rowEnd
        }
        if next != first.identity.inputs {
            throw MeasureMergeError.missingRows(next..<first.identity.inputs)
        }
        // Shares W_s/ΣW; where the totals are each finite but their sum overflows, from the
        // totals scaled by one power of two (the largest to [1, 2)), and the interval sums
        // likewise, so that the shards still merge; the merged total itself is then +∞ (it is
        // only reported).
        let largest = parts.map(\.weightTotal).max()!
        let scale = NeumaierSum.total(parts.map(\.weightTotal)).isFinite ? 1 : Double(sign: .plus, exponent: -largest.exponent, significand: 1)
        let scaledTotal = NeumaierSum.total(parts.map { $0.weightTotal * scale })
        let share = parts.map { $0.weightTotal * scale / scaledTotal }
        let total = scaledTotal / scale
        func mean(_ value: (MeasureStatistics) -> Double) -> Double {
            var s = NeumaierSum()
            for (p, w) in zip(parts, share) { s.add(w * value(p)) }
            return s.value
        }
        func means(_ value: (MeasureStatistics) -> PackedDoubles) -> PackedDoubles {
            PackedDoubles((0..<value(first).count).map { j in mean { value($0)[j] } })
        }
        func logMean(_ value: (MeasureStatistics) -> Double) -> Double {
            logSumExp(zip(parts, share).map { $1.log + value($0) })
        }
        func optionalMean(_ value: (MeasureStatistics) -> Double?) -> Double? {
            parts.allSatisfy({ value($0) != nil }) ? mean { value($0)! } : nil
        }
        var pivot = first.pivot
        if var merged = pivot {
            merged.residuals = merged.residuals.indices.map { j in
                parts.allSatisfy({ $0.pivot?.residuals[j] != nil }) ? mean { $0.pivot!.residuals[j]! } : nil
            }
            merged.directEvaluations = parts.reduce(0) { $0 + ($1.pivot?.directEvaluations ?? 0) }
            // Each merged r is the shards' weighted mean, so its rounding is within theirs (nil
            // where a partial did not carry its estimate; +∞, nothing known of some pair's digits,
            // stays +∞).
            merged.roundingSum = optionalMean { $0.pivot?.roundingSum }
            merged.t5Residuals = means { $0.pivot!.t5Residuals }
            merged.t5LogitSums = means { $0.pivot!.t5LogitSums }
            if carriers.count < parts.count { (merged.t5Labels, merged.t5RowsA, merged.t5RowsB) = (nil, nil, nil) }
            pivot = merged
        }
        var notes: [String] = []
        // Each shard's notes once; their recomputed-row counts added (identical counts were kept once).
        var recomputed = 0
        for note in parts.flatMap(\.notes) {
            if let count = PairMeasurement.recomputedRows(in: note) { recomputed += count } else if !notes.contains(note) { notes.append(note) }
        }
        if recomputed > 0 { notes.append(PairMeasurement.recomputationNote(recomputed)) }
        // Interval sums add (outward rounding); one shard without them leaves T6 screened.
        // Scaled by the weights' common power of two, so that their sum stays in range.
        let sums = parts.map { $0.enclosures.flatMap { FastLogitSums(stored: $0.values)?.scaled(by: scale) } }
        var enclosures: PackedDoubles?
        if let firstSums = sums.first ?? nil, sums.allSatisfy({ $0 != nil }) {
            enclosures = PackedDoubles(sums.dropFirst().reduce(firstSums) { $0.adding($1!) }.stored)
        } else if sums.contains(where: { $0 != nil }) {
            notes.append("fast enclosures: \(sums.filter { $0 == nil }.count) of \(parts.count) partials carry none (written with --certify never, or their logits overflow); T6 is screened")
        }
        // Interval moments add likewise; they need the logit enclosures too (the weight total, d_logit²).
        let moments = parts.map { $0.fastMoments?.scaled(by: scale) }
        var fastMoments: FastMomentSums?
        if enclosures != nil, let firstMoments = moments.first ?? nil, moments.allSatisfy({ $0 != nil }) {
            fastMoments = moments.dropFirst().reduce(firstMoments) { $0.adding($1!) }
        } else if moments.contains(where: { $0 != nil }) {
            notes.append("interval moments: \(moments.filter { $0 == nil }.count) of \(parts.count) partials carry none (written with --certify never)\(enclosures == nil ? ", or the logit enclosures are missing" : ""); T3, T4, T5, T7 and T12 are screened")
        }
        // Covariances about the shards' means where a shard centred a column in two passes (an
        // offset); the others' from their moments, as before.
        let centred = parts.contains { $0.centredMoments != nil } ? CentredMoments.merged(parts.map(\.centredOrFromMoments), shares: share) : nil
        var merged = MeasureStatistics(
            format: format, version: version, identity: first.identity, rowStart: 0, rowEnd: first.identity.inputs,
            weightTotal: total, weightHash: nil, shards: parts.reduce(0) { $0 + $1.shards },
            logitDistanceSquared: mean(\.logitDistanceSquared), klAB: mean(\.klAB), klBA: mean(\.klBA),
            logPerInputT6: logMean(\.logPerInputT6), logPerInputT6Sharp: logMean(\.logPerInputT6Sharp),
            logTauA: parts.map(\.logTauA).min()!, logTauB: parts.map(\.logTauB).min()!,
            representationAB: optionalMean(\.representationAB), representationBA: optionalMean(\.representationBA),
            momentAA: means(\.momentAA), momentBB: means(\.momentBB), momentBA: means(\.momentBA),
            meanA: means(\.meanA), meanB: means(\.meanB), gramAA: first.gramAA, gramBB: first.gramBB, gramAB: first.gramAB,
            unembeddingSingularValuesA: first.unembeddingSingularValuesA,
            unembeddingSingularValuesB: first.unembeddingSingularValuesB, pivot: pivot, enclosures: enclosures,
            fastMoments: fastMoments, rowLevels: Self.mergedRowLevels(parts.map(\.rowLevels)), pivotNote: first.pivotNote, notes: notes)
        merged.centredMoments = centred
        return merged
    }

    /// The shard's covariances: carried, or M − μμᵀ from its moments (no column took the second pass).
    var centredOrFromMoments: CentredMoments {
        centredMoments ?? {
            let (aa, bb, ba) = momentMatrices
            return CentredMoments(moments: aa, bb, ba, meanA: meanA.values, meanB: meanB.values)
        }()
    }

    /// M_AA, M_BB and M_BA as matrices.
    var momentMatrices: (aa: Matrix, bb: Matrix, ba: Matrix) {
        let (dA, dB) = (identity.dimensionA, identity.dimensionB)
        func matrix(_ v: PackedDoubles, _ r: Int, _ c: Int) -> Matrix { try! Matrix(rows: r, columns: c, storage: v.values) }
        return (matrix(momentAA, dA, dA), matrix(momentBB, dB, dB), matrix(momentBA, dB, dA))
    }

    /// The shards' row levels together (largest of the largest, smallest of the smallest nonzero);
    /// nil when one partial carries none. A shard whose rows are all 0 ([0, 0]) counts too.
    static func mergedRowLevels(_ parts: [PackedDoubles?]) -> PackedDoubles? {
        guard parts.allSatisfy({ $0 != nil }) else { return nil }
        let levels = parts.map { $0!.values }
        return PackedDoubles([0, 2].flatMap { j in [levels.map { $0[j] }.max()!, levels.map { $0[j + 1] }.min()!] })
    }

    /// Why model A's (`ofA`) or B's merged second moment cannot stand for its rows: they lie more
    /// than 2²⁶ apart in scale (inputs weighted far apart) and the moment, which squares that, is
    /// singular to within its resolution (rank `rank` of `dimension`), or so ill-conditioned
    /// (`eigenvalues`, when given: d·u·κ ≥ 10⁻², the moment accuracy note's estimate) that solves
    /// through it lose every digit: its sums lost the lighter rows to rounding, where F̂ itself
    /// is of full rank (20 inputs at 2²⁰⁰ in a 3-dimensional subspace: d_unemb 1.63 for 0.84).
    /// nil otherwise.
    func momentLostRows(ofA isA: Bool, rank: Int, dimension: Int, eigenvalues: [Double] = []) -> String? {
        let condition = Self.condition(eigenvalues) ?? .infinity
        let lost = rank < dimension || (!eigenvalues.isEmpty && Self.solveErrorEstimate(condition: condition, dimension: dimension) >= 1e-2)
        guard lost, let levels = rowLevels?.values else { return nil }
        let spread = isA ? levels[0] - levels[1] : levels[2] - levels[3]
        guard spread > 26 else { return nil }
        let state = rank < dimension ? "is singular to within its resolution (rank \(rank) of \(dimension))"
            : "has condition number \(String(format: "%.1g", condition))"
        return "model \(isA ? "A" : "B")'s weighted embeddings W^{1/2}F have rows 2^\(Int(spread.rounded())) apart in scale (inputs weighted far apart, or embeddings of very different sizes), and their merged second moment, which squares that, \(state): its sums lost the lighter rows to rounding; measure the pair unsharded, where the least squares runs on the rows"
    }

    /// A symmetric moment's condition number from its eigenvalues, nil unless the smallest is > 0.
    static func condition(_ eigenvalues: [Double]) -> Double? {
        let top = eigenvalues.max() ?? 0, bottom = eigenvalues.min() ?? 0
        return bottom > 0 ? top / bottom : nil
    }

    /// The relative error a solve through a moment of that condition number may carry: d·u·κ
    /// (an a priori estimate, not a bound).
    static func solveErrorEstimate(condition: Double, dimension d: Int) -> Double { Double(d) * Double.ulpOfOne / 2 * condition }

    /// The accuracy of d_unemb(A←B)² = tr S_AA − 2 tr(S_AB Bᵀ) + tr(B S_BB Bᵀ) from the merged
    /// moments (a priori estimates, not bounds): the three terms (`terms`, the sum of their
    /// magnitudes) cancel to `squared`, losing about 10·d·u·terms of it; and B = M_AA⁺M_AB carries
    /// d·u·κ(M_AA) (`solveErrorEstimate`), which moves d_unemb by ‖G̃_B‖‖δB‖. A student within
    /// 10⁻⁹ of its teacher had d_unemb shown as 0 for 2.8·10⁻⁸ (terms near 800 cancelling to
    /// 10⁻¹⁵). `lost` where the cancellation leaves no digit or the estimate is unbounded (d_unemb
    /// not computed), else `note`
    /// where d_unemb's relative error may pass 10⁻⁶. Where the value is mostly error the estimate,
    /// relative to it, understates it (an attack's merge: 5.7·10⁻⁴ for 6.8·10⁻⁷ beside "about 0.02"),
    /// so `unembeddingShown` gives the certified enclosure beside it where the partials carry one.
    ///
    /// `solveFailed`: the partials carried interval moments but their solve through M_AA failed
    /// (M_AA not shown nonsingular from them), so no enclosure can stand beside the estimate. Every
    /// such merge an attack found had the value mostly error under an estimate of 0.9 … 10 (3 for
    /// 10.38 where the exact value is 7.2·10⁻⁸): an estimate from 10⁻² up is then `lost`, and a
    /// smaller one, down to 0, says that nothing bounds it. `enclosureFromZero`: the enclosure
    /// reaches 0, so it bounds the value only from above; an estimate from 10⁻² up is `lost` there
    /// too (an attack's merge: 0.0131 "wrong by about 1 relative" beside [0, 25.67] for an exact
    /// 1.9·10⁻¹⁰, and 22 more such values off by more than 10⁻²).
    static func unembeddingAccuracy(squared: Double, terms: Double, map b: Matrix, condition: Double, gramTrace: Double,
                                    dimension d: Int, solveFailed: Bool = false, enclosureFromZero: Bool = false) -> (lost: String?, note: String?) {
        let u = Double.ulpOfOne / 2, cancellation = 10 * Double(d) * u * terms
        guard squared > cancellation else {
            return ("the merged moments' formula tr S_AA − 2 tr(S_AB Bᵀ) + tr(B S_BB Bᵀ) cancels terms of size \(String(format: "%.2g", terms)) "
                + "below their rounding (about \(String(format: "%.1g", cancellation))): the models agree too closely for the moments; an unsharded measure computes it exactly", nil)
        }
        let distance = squared.squareRoot()
        let estimate = cancellation / squared / 2
            + gramTrace.squareRoot() * b.frobeniusNorm * solveErrorEstimate(condition: condition, dimension: d) / distance
        let failed = "the partials' interval moments could not enclose it (M_AA not shown nonsingular from them)"
        guard estimate.isNaN || estimate > 1e-6 else {
            // Small, but no enclosure bounds it: said, as the estimate has understated before.
            return (nil, solveFailed ? "d_unemb A←B: formed from the merged moments; its a priori error estimate is below 10⁻⁶ relative, but \(failed), so nothing bounds that error; an unsharded measure computes it exactly" : nil)
        }
        // No estimate (κ(M_AA) infinite: M_AA singular to within rounding) leaves no certain digit (an
        // attack's merge read "about inf relative"). A finite one is kept however large: it is not
        // scale-invariant (a column 2⁵⁰ apart puts it far above the error), nor a bound (an attack's
        // "about 0.9" for a value 5·10⁴ times its own), hence the enclosure beside it where there is one.
        guard estimate.isFinite else {
            return ("its a priori error estimate from the merged moments is unbounded (M_AA is singular to within rounding); an unsharded measure computes it exactly", nil)
        }
        if solveFailed || enclosureFromZero, estimate >= 1e-2 {
            let why = solveFailed ? failed : "the partials' interval moments enclose d_unemb² only from 0"
            return ("its a priori error estimate from the merged moments is \(String(format: "%.1g", estimate)) relative, and \(why), "
                + "where such estimates have understated the error of values that are mostly error; an unsharded measure computes it exactly", nil)
        }
        return (nil, "d_unemb A←B: formed from the merged moments, it may be wrong by about \(String(format: "%.1g", estimate)) relative "
            + "(an a priori estimate: its terms cancel \(String(format: "%.2g", terms)) to \(String(format: "%.2g", squared)), and B = M_AA⁺M_AB carries d·u·κ(M_AA)); "
            + (solveFailed ? "\(failed), so nothing bounds that error; " : "") + "an unsharded measure computes it exactly")
    }

    /// The partials' enclosure of d_unemb², its ends as the Doubles they are (shortest round-trip
    /// form), so that the range shown holds the value.
    static func enclosed(_ e: FastInterval) -> String { "the partials' interval moments enclose d_unemb² in [\(e.lo), \(e.hi)]" }

    /// The merged d_unemb² shown (nil: not computed) and its notes, from the moments' Double `value`,
    /// its a priori `accuracy` and the partials' certified `enclosure` of it (nil where they carry
    /// none). An enclosure within 10⁻⁶ of its lower end certifies the value: shown, or the
    /// enclosure's midpoint where the value lies outside it, with no estimate. A wider one is given
    /// beside the estimate's note, and a value outside it is moved to its nearer end, with a note: an
    /// attack's merge had shown 5.7·10⁻⁴ for 6.8·10⁻⁷ beside "about 0.02".
    static func unembeddingShown(_ value: Double, accuracy: (lost: String?, note: String?),
                                 enclosure e: FastInterval?) -> (shown: Double?, notes: [String]) {
        guard let e else { return accuracy.lost.map { (nil, ["d_unemb A←B: not computed (\($0))"]) } ?? (value, accuracy.note.map { [$0] } ?? []) }
        let range = enclosed(e)
        let outside = value < e.lo || value > e.hi
        func moved(_ shown: String) -> String {
            "d_unemb A←B: the moments' Double value of d_unemb², \(String(format: "%.6g", value)), lies outside its certified enclosure [\(e.lo), \(e.hi)] from the partials' interval moments; \(shown) is shown"
        }
        if e.lo > 0, e.hi - e.lo <= 1e-6 * e.lo {
            return outside ? (e.midpoint, [moved("its midpoint")]) : (value, [])
        }
        if let lost = accuracy.lost { return (nil, ["d_unemb A←B: not computed (\(lost)); \(range)"]) }
        return (min(max(value, e.lo), e.hi), (accuracy.note.map { ["\($0); \(range)"] } ?? []) + (outside ? [moved("its nearer end")] : []))
    }

    /// A note where the shards' d_rep(`direction`)² (`squared`), least squares through the target's
    /// G̃ in double precision, may be off by more than 10⁻⁶ relative: an a priori estimate,
    /// d·u·κ(G̃_target)·‖W^{1/2}F_source‖·‖A‖₂/d_rep with ‖A‖₂ ≤ σ_max(G̃_source)/σ_min(G̃_target)
    /// (with 10·d and √d·‖A‖₂ it had noted ordinary merges at d = 32, 10⁻⁶ … 2·10⁻⁵ for errors
    /// near 10⁻¹³; it still runs 10²–10³ above the errors seen); plus the rounding of the residual
    /// rows W^{1/2}(f_target − Af_source) themselves, which dominates near an orbit pair (stop 67's
    /// audit: 61 % off beside "about 0.2", and "about 0.3" for pure rounding on exact orbits). Each
    /// entry takes d_source multiply–adds, a subtraction and the weight's root, so whatever the order
    /// and the kernel (FMA or not) it is within γ_{d_source+3}·(|f_target| + |A||f_source|): over the
    /// rows, u·(d_source + 3)·(‖W^{1/2}F_target‖ + √min(d)·‖A‖₂‖W^{1/2}F_source‖)/d_rep to first order
    /// (‖|A|‖₂ ≤ ‖A‖_F ≤ √rank·‖A‖₂). Its first form, u·√(2d_target + 2)·(…) with ‖A‖₂, counted the
    /// rounding as random and the target's width: on OpenBLAS's Prescott kernel a merged T12
    /// attaining student of width 1 was off by 1/1.4 of that estimate times the value shown (1/4.3
    /// now; the least margin over seven kernels, notes/findings.md stop 68)
    /// (`target`, `source`: the partials' singular values; `transportedSquared`: ‖W^{1/2}F_source‖²;
    /// `targetSquared`: ‖W^{1/2}F_target‖²).
    static func representationAccuracyNote(_ direction: String, squared: Double, target: [Double], source: [Double],
                                           transportedSquared: Double, targetSquared: Double) -> String? {
        // An exactly singular G̃ (σ = 0: d ≥ k, say) makes T3 inapplicable instead.
        guard let top = target.first, let bottom = target.last, bottom > 0, let sourceTop = source.first else { return nil }
        let d = Double(target.count), kappa = top / bottom, u = Double.ulpOfOne / 2, map = sourceTop / bottom
        let solve = d * u * kappa * transportedSquared.squareRoot() * map
        let terms = Double(source.count + 3), rank = Double(min(source.count, target.count)).squareRoot()
        let residual = u * terms * (targetSquared.squareRoot() + rank * map * transportedSquared.squareRoot())
        let estimate = (solve + residual) / squared.squareRoot()
        guard estimate.isNaN || estimate > 1e-6 else { return nil }
        let size = estimate.isFinite && estimate < 1 ? "be wrong by about \(String(format: "%.1g", estimate)) relative"
            : "have no correct digit (the estimate is \(String(format: "%.1g", estimate)) relative)"
        let name = direction == "A←B" ? "G̃_A" : "G̃_B"
        return "d_rep(\(direction)): the shards' least squares through \(name) in double precision may \(size) (an a priori estimate from "
            + "κ(\(name)) ≈ \(String(format: "%.2g", kappa)), ‖W^{1/2}F‖ and d_rep itself); an unsharded measure computes it exactly"
    }

    static func describeDifference(_ a: Identity, _ b: Identity) -> String {
        var out: [String] = []
        if (a.inputs, a.labels, a.dimensionA, a.dimensionB) != (b.inputs, b.labels, b.dimensionA, b.dimensionB) {
            out.append("sizes N = \(a.inputs), k = \(a.labels), d = \(a.dimensionA)/\(a.dimensionB) vs N = \(b.inputs), k = \(b.labels), d = \(b.dimensionA)/\(b.dimensionB)")
        }
        if a.unembeddingHashA != b.unembeddingHashA || a.unembeddingHashB != b.unembeddingHashB { out.append("different unembeddings") }
        if a.weighted != b.weighted { out.append("weighted vs uniform inputs") }
        if a.options != b.options { out.append("options \"\(a.options)\" vs \"\(b.options)\"") }
        if a.arraysA != b.arraysA { out.append("teacher arrays (CRC-32) \(a.arraysA) vs \(b.arraysA)") }
        if a.arraysB != b.arraysB { out.append("student arrays (CRC-32) \(a.arraysB) vs \(b.arraysB)") }
        return out.joined(separator: "; ")
    }

    /// The measurement of these statistics (merged over every row), as `measure` reports
    /// it. T6 is certified from the shards' interval sums, and T3, T4, T5, T7 and T12 from their
    /// interval moments (T5 with G's carried rows at its labels), when every partial carries them.
    public func measurement() throws -> PairMeasurement {
        let note = "merged from \(shards) shard(s)"
        let t6 = fastLogitSums == nil ? "no interval sums carried, so T6 is screened too" : "T6 certified from the partials' interval sums where they decide it"
        let others = fastMoments == nil || fastLogitSums == nil ? "no interval moments carried, so T3, T4, T5, T7 and T12 are screened"
            : "T3, T4, T5, T7 and T12 certified from the partials' interval moments and the Grams' column bounds (T5 with G's carried rows) where they decide them"
        let covariances = centredMoments == nil ? "" : "the covariances combined about the shards' means from their rows centred in two passes (a column's mean lies far beyond its spread); "
        return try measurement(context: note + ": moments and per-input sums combined with compensated sums; " + covariances
                                   + "m_CCA, CKA, Procrustes, SVCCA, d_unemb and T7 from the merged d×d moments; " + t6 + "; " + others,
                               boundNote: note + ": double-precision screen (the interval statistics could not decide it, or were not carried)",
                               routes: "moments (merged shards)")
    }

    /// The d×d statistics as fast enclosures, when the partials carried them.
    func fastMomentStatistics(grams: (Matrix, Matrix, Matrix)) -> FastMomentStatistics? {
        guard let fastMoments, let sums = fastLogitSums else { return nil }
        return fastMoments.statistics(labels: identity.labels, dA: identity.dimensionA, dB: identity.dimensionB,
                                      weightTotal: sums.weightTotal, grams: grams, logitDistanceSquared: sums.logitDistanceSquared)
    }

    /// The measurement, with `context` as its first note, `boundNote` on every bound.
    func measurement(context: String, boundNote: String, routes: String) throws -> PairMeasurement {
        guard rowStart == 0, rowEnd == identity.inputs else {
            throw MeasureMergeError.incomplete(rows: rowStart..<rowEnd, inputs: identity.inputs)
        }
        let (n, k, dA, dB) = (identity.inputs, identity.labels, identity.dimensionA, identity.dimensionB)
        func matrix(_ v: [Double], _ r: Int, _ c: Int) -> Matrix { try! Matrix(rows: r, columns: c, storage: v) }
        let (mAA, mBB, mBA) = momentMatrices
        let (meanA, meanB) = (self.meanA.values, self.meanB.values)
        let accurate = centredMoments
        let cAA = accurate?.aa ?? CentredMoments.covariance(mAA, meanA, meanA), cBB = accurate?.bb ?? CentredMoments.covariance(mBB, meanB, meanB)
        let cBA = accurate?.ba ?? CentredMoments.covariance(mBA, meanB, meanA)
        let sAA = matrix(gramAA.values, dA, dA), sBB = matrix(gramBB.values, dB, dB), sAB = matrix(gramAB.values, dA, dB)
        // Each d×d moment is decomposed once; whitening, pseudo-inverses, σ_min(F̂_A),
        // SVCCA's principal directions and T7's terms all read these.
        // Two at a time, one per core (LAPACK's eigensolver scales poorly on 2 threads at d ~ 10³).
        let moments = [cAA, cBB, mAA, mBB]
        let decomposed = try BLASThreads.parallelMap(4, workers: 2) { try Self.decompose(moments[$0]) }
        let spectra = Spectra(cAA: decomposed[0], cBB: decomposed[1], mAA: decomposed[2], mBB: decomposed[3],
                              centredRounding: accurate?.rounding(nil), between: accurate?.betweenScale(nil))
        // The canonical correlations do not depend on the columns' scales, but a moment squares
        // them: a column 2²⁰ below the others moved m_CCA by 3·10⁻⁵, one 2⁵⁰ below put it at 0.25
        // for 0.98. Where the columns' scales spread beyond 2⁸, the correlations (and their rank
        // notes) come from moments with each column brought near 1 by a power of two.
        let equilibration = Self.correlationEquilibration(mAA, mBB)
        // One run's covariances are its rows' own (`CentredMoments`): where a column was taken
        // twice (an offset), they are brought near 1 by their own diagonals, not by the uncentred
        // ones, which scale an offset column by its offset (a column at 10⁶ + noise beside plain
        // ones lost its direction: m_CCA centred 0.731 for 0.803, a review's model). Elsewhere the
        // two equilibrations are one, as before.
        let centredEquilibration = accurate?.tookSecondPass == true ? Self.correlationEquilibration(cAA, cBB) : equilibration
        let centredScaled = centredEquilibration.map { a, b in
            (cAA: cAA.scaledSymmetrically(a), cBB: cBB.scaledSymmetrically(b), cBA: cBA.scaled(rows: b, columns: a), sAA: sAA.scaledSymmetrically(a.map { -$0 }))
        }
        let uncentredScaled = equilibration.map { a, b in
            (mAA: mAA.scaledSymmetrically(a), mBB: mBB.scaledSymmetrically(b), mBA: mBA.scaled(rows: b, columns: a), sAA: sAA.scaledSymmetrically(a.map { -$0 }))
        }
        let correlationSpectra = centredScaled == nil && uncentredScaled == nil ? spectra : try {
            let equilibrated = [centredScaled?.cAA ?? cAA, centredScaled?.cBB ?? cBB, uncentredScaled?.mAA ?? mAA, uncentredScaled?.mBB ?? mBB]
            let parts = try BLASThreads.parallelMap(4, workers: 2) { try Self.decompose(equilibrated[$0]) }
            return Spectra(cAA: parts[0], cBB: parts[1], mAA: parts[2], mBB: parts[3], centredRounding: accurate?.rounding(centredEquilibration),
                           between: accurate?.betweenScale(centredEquilibration))
        }()
        let (correlationCBA, correlationMBA) = (centredScaled?.cBA ?? cBA, uncentredScaled?.mBA ?? mBA)
        // T7's μ and R do not depend on the columns' scales either (M₂₂S₂₂ is similar to
        // DM₂₂D·D⁻¹S₂₂D⁻¹; R = tr S₂₂E likewise), and T12's width floor is read from that μ: they
        // come from the same equilibrated moments, with S_AA scaled by D⁻¹ (a student's column
        // 2⁶⁰ apart had truncated the moments' pseudo-inverses: the floor read 5.94 for 13.0).
        let t7Moments = (cAA: centredScaled?.cAA ?? cAA, centredSAA: centredScaled?.sAA ?? sAA,
                         mAA: uncentredScaled?.mAA ?? mAA, sAA: uncentredScaled?.sAA ?? sAA)
        // The decompositions' readers, each running LAPACK on one core (an SVD's bidiagonalisation
        // is matrix–vector work), on two workers, the longest first: CKA, Procrustes and SVCCA
        // (0.29 s at d = 768), both m_CCA, T7's μ and R for both centrings (B the student; about
        // 0.17 s each; T12's spectrum is the uncentred μ); one after another they took 1.1 s
        // (notes/benchmarks.md, stop 49). Every product inside has fixed blocks, so the Doubles are
        // those of one worker. Each result is read where it is used, so a failure surfaces there.
        let parts = try BLASThreads.parallelMap(5, workers: 2) { task in
            Result { () throws -> MomentReaders in
                switch task {
                case 0: return .similarity(try Self.similarity(spectra, cAA, cBB, cBA, inputs: n))
                case 1: return .correlations(try Self.canonicalCorrelations(correlationSpectra.cAA, correlationSpectra.cBB, correlationCBA, inputs: n,
                                                                            resolutions: correlationSpectra.centredResolutions))
                case 2: return .correlations(try Self.canonicalCorrelations(correlationSpectra.mAA, correlationSpectra.mBB, correlationMBA, inputs: n))
                default:
                    let centred = task == 4
                    return .t7Spectrum(try T7CanonicalCorrelationBound.momentSpectrum(
                        m11Inverse: Self.pseudoInverse(centred ? correlationSpectra.cBB : correlationSpectra.mBB), m22: centred ? t7Moments.cAA : t7Moments.mAA,
                        m22Eigen: centred ? correlationSpectra.cAA : correlationSpectra.mAA, m12: centred ? correlationCBA : correlationMBA,
                        s22: centred ? t7Moments.centredSAA : t7Moments.sAA))
                }
            }
        }
        let centredCCA = try parts[1].get().correlations, uncentredCCA = try parts[2].get().correlations
        var notes = self.notes
        notes.append(context)
        // Models within rounding of each other (an orbit pair, say): the shards' enclosure of d_logit²
        // reaches 0 or is wide, and the value shown, its midpoint, has no certain leading digit.
        let withinRounding = fastLogitSums.map { let d = $0.logitDistanceSquared; return d.lo <= 0 || d.hi - d.lo > 1e-3 * d.hi } ?? false
        if withinRounding, let d = fastLogitSums?.logitDistanceSquared {
            // The ends as the Doubles they are, the lower one at 0 at least (d_logit² ≥ 0; rounded to
            // three digits they had not enclosed it, and a negative end was shown).
            notes.append("d_logit² ∈ [\(d.lo > 0 ? d.lo : 0), \(d.hi)]: the models agree to within the rounding of their logits, so d_logit² and both KLs shown (from their enclosures) may be wrong in their leading digits, and so may d_unemb and T7's left side, formed from moments that resolve 1 − ρ² only down to about 10⁻¹⁶; an unsharded `measure --certify always` forms the logit differences exactly")
        }
        for (values, isCentred) in [(centredCCA, true), (uncentredCCA, false)] {
            let (rankA, rankB) = correlationSpectra.ranks(centred: isCentred, inputs: n)
            if let note = PairMeasurement.rankNote(values, rankA: rankA, rankB: rankB, dA: dA, dB: dB, centred: isCentred, moments: true,
                                                   merged: !oneRun, aboutShardMeans: isCentred && correlationSpectra.between != nil) { notes.append(note) }
        }

        // d_unemb(A←B)² = tr S_AA − 2 tr(S_AB Bᵀ) + tr(B S_BB Bᵀ), B = M_AA⁺ M_AB; from the
        // equilibrated moments where there are any, B = D_A(D_A M_AA D_A)⁺(D_A M_AB D_B)D_B⁻¹.
        // Not where model A's moment lost its lighter rows (inputs weighted far apart): its
        // pseudo-inverse had put d_unemb² at 10.5 for 0.213, without a word.
        if rowLevels == nil, identity.weighted {
            notes.append("the partials (written before row levels were carried) do not say how far apart the weighted inputs lie: where weights lie many orders apart the merged moments lose the lighter inputs to rounding, and d_unemb, T4 and T7 from them may be wrong; write the partials again, or measure unsharded")
        }
        let lostRowsA = momentLostRows(ofA: true, rank: Self.momentRank(correlationSpectra.mAA.eigenvalues, inputs: n), dimension: dA,
                                       eigenvalues: spectra.mAA.eigenvalues)
        // The partials' interval moments enclose d_unemb² (T4's left side, certified): no Double
        // value outside it is shown, and where the value's accuracy is only estimated, the enclosure
        // is given beside the estimate (which understates the error of a value that is mostly error).
        let fast = fastMomentStatistics(grams: (sAA, sAB, sBB))
        let enclosure = fast.flatMap { FastUnembeddingDissimilarity(moments: $0.moments, grams: $0.grams)?.squared }
        if let lostRowsA {
            notes.append("d_unemb A←B: not computed (\(lostRowsA))" + (enclosure.map { "; " + Self.enclosed($0) } ?? ""))
        }
        var dUnemb: Double?
        var dUnembMissing = lostRowsA
        if lostRowsA == nil {
            let b = equilibration.map { a, b in
                Self.pseudoInverse(correlationSpectra.mAA).multiplied(by: correlationMBA.transposed).scaled(rows: a, columns: b.map { -$0 })
            } ?? Self.pseudoInverse(spectra.mAA).multiplied(by: mBA.transposed)
            var cross = 0.0, quadratic = 0.0
            let bs = b.multiplied(by: sBB)
            for t in sAB.storage.indices { cross += sAB.storage[t] * b.storage[t] }
            for t in bs.storage.indices { quadratic += bs.storage[t] * b.storage[t] }
            let trace = (0..<dA).reduce(0.0) { $0 + sAA[$1, $1] }
            let value = max(trace - 2 * cross + quadratic, 0)
            let accuracy = Self.unembeddingAccuracy(squared: value, terms: trace + 2 * abs(cross) + abs(quadratic), map: b,
                                                    condition: Self.condition(correlationSpectra.mAA.eigenvalues) ?? .infinity,
                                                    gramTrace: (0..<dB).reduce(0.0) { $0 + sBB[$1, $1] }, dimension: max(dA, dB),
                                                    solveFailed: fast != nil && enclosure == nil, enclosureFromZero: enclosure.map { $0.lo <= 0 } ?? false)
            let (shown, unembeddingNotes) = Self.unembeddingShown(value, accuracy: accuracy, enclosure: enclosure)
            notes += unembeddingNotes
            if let shown { dUnemb = shown } else { dUnembMissing = accuracy.lost }
        }
        let similarity = try parts[0].get().similarity
        if let note = Self.momentAccuracyNote(spectra, means: (meanA, meanB), dimension: max(dA, dB)) { notes.append(note) }
        // d_rep is the shards' own least squares through G̃ in double precision; one run computes it
        // exactly within the exact level's size. A merge gives an a priori estimate of its error
        // (`representationAccuracyNote`): nearly collinear unembeddings (2.19 shown where the exact
        // value is 2.9·10¹⁷), and a near-identical pair (d_rep 3·10⁻⁴ off at d_logit ~ 10⁻²⁰) had none.
        let (traceA, traceB) = ((0..<dA).reduce(0.0) { $0 + mAA[$1, $1] }, (0..<dB).reduce(0.0) { $0 + mBB[$1, $1] })
        for (direction, squared, target, source, transported, own) in [
            ("A←B", representationAB, unembeddingSingularValuesA.values, unembeddingSingularValuesB.values, traceB, traceA),
            ("B←A", representationBA, unembeddingSingularValuesB.values, unembeddingSingularValuesA.values, traceA, traceB),
        ] {
            if let squared, let note = Self.representationAccuracyNote(direction, squared: squared, target: target, source: source,
                                                                         transportedSquared: transported, targetSquared: own) {
                notes.append(note)
            }
        }

        let pivotResult: PairMeasurement.Pivot
        if let pivot {
            var p = PivotDissimilarity(pivot.residuals, exhaustive: pivot.exhaustive, directEvaluations: pivot.directEvaluations,
                                       roundingSum: pivot.roundingSum ?? 0)
            if p.directEvaluations > 0 {
                // Flagged as one run's: the mean at the rounding of the embeddings (a near-orbit pair).
                let flagged = PairMeasurement.Pivot(p, note: nil).atRoundingLevel
                notes.append(PairMeasurement.pivotRecomputationNote(p.directEvaluations, shards: shards,
                                                                    rounding: flagged ? String(format: "%.3g", p.roundingError) : nil))
                if pivot.roundingSum == nil {
                    notes.append("pivot form: not every partial carries its estimate of the recomputed pairs' rounding (written before stop 68), so a mean at the rounding of the embeddings is not flagged")
                }
            }
            if let carried = pivot.unembeddings, let g = try? Matrix(rows: k, columns: dA, storage: carried.values) {
                // The merged largest pairs' cond(L₁), from the G_A every partial carries (as one run computes it).
                p.largestCondition = ModelPair.largestPivotCondition(g, pairs: pivot.pairs, indices: p.largestIndices)
            } else if shards > 1 {
                notes.append("pivot form: cond(L₁) of the largest pairs is not computed in this merge (the partials carry G_A only when k·d_A ≤ 10⁶)")
            }
            // Shards carry r(p, S) in Double on the models as given: with models at scales far apart
            // every r may underflow, and a mean of 0 (or a subnormal one) was shown unmarked.
            let underflow = p.pairsUsed > 0 && !p.mean.isNormal && !p.mean.isInfinite && !p.mean.isNaN
                ? "d_rep,pivot² is below the normal Double range in the shards' sums (0 here may be any value under about 2.2·10⁻³⁰⁸): measure the pair unsharded for its value" : nil
            pivotResult = PairMeasurement.everyPivotSingular(p) ?? PairMeasurement.Pivot(p, note: underflow)
        } else {
            pivotResult = PairMeasurement.skippedPivot(pivotNote ?? "not computed")
        }
        let bounds = try self.bounds(spectra, rankSpectra: correlationSpectra, dUnembSquared: dUnemb, dUnembMissing: dUnembMissing,
                                     note: boundNote, fast: fast,
                                     oneMinusRho: (centred: Self.oneMinusSquared(centredCCA, dA), uncentred: Self.oneMinusSquared(uncentredCCA, dA)),
                                     t7Spectra: (centred: try parts[4].get().t7Spectrum, uncentred: try parts[3].get().t7Spectrum))
        // The certified enclosures, when carried, hold every value shown.
        let enclosures = fastLogitSums.map(PairMeasurement.Enclosures.init)
        var values = (logitDistanceSquared, klAB, klBA, logTauA, logTauB)
        if let enclosures {
            values = enclosures.reconcile(values, notes: &notes)
            // Enclosures wider than 10⁻⁶ about the values shown leave their sixth digit uncertain (an
            // attack's merged KL was 4·10⁻⁶ off, unremarked); models within rounding have their note.
            if !withinRounding, let wide = enclosures.wide(values.0, values.1, values.2) {
                notes.append(wide + " are wider than 10⁻⁶ of the values shown, which may then be off beyond their sixth digit; an unsharded `measure --certify always` forms them from exactly formed logit differences")
            }
        }
        let dl2 = values.0
        let scale = (0..<dA).reduce(0.0) { $0 + mAA[$1, $1] }
        if scale == 0 { notes.append(PairMeasurement.zeroScaleNote) }
        if let note = PairMeasurement.klUnderflowNote(distanceSquared: dl2, kl: [values.1, values.2]) { notes.append(note) }
        // T12 from the moments: σ² = eig(M_AA S_AA), T7's μ without centring (M₂₂ = M_AA, S₂₂ = S_AA).
        let widthFloor = WidthFloor(spectrumOfMS: try parts[3].get().t7Spectrum.mu, dimension: dA, labels: k)
        let t12 = T12WidthFloorBound()
        let t12Verdict = T12WidthFloorBound.trivial(teacherDimension: dA, studentDimension: dB, labels: k)
            .map { Verdict.inapplicable(.T12, t12.form, level: .double, $0) }
            ?? fast.flatMap { t12.fastVerdict($0) }
            ?? t12.verdict(floor: widthFloor.floor(width: dB), logitDistanceSquared: dl2)
        if let tie = similarity.svccaTie { notes.append(tie) }
        var measured = PairMeasurement(
            sizes: PairMeasurement.Sizes(n: n, k: k, dA: dA, dB: dB),
            dLogit: dl2.squareRoot(), dLogitSquared: dl2, dLogitExact: nil, dLogitSquaredExact: nil,
            klAB: values.1, klBA: values.2, logTauA: values.3, logTauB: values.4,
            dRepAB: representationAB.map { $0.squareRoot() }, dRepBA: representationBA.map { $0.squareRoot() },
            dRepScaleFreeAB: scale > 0 ? representationAB.map { $0 / scale } : nil, dUnembAB: dUnemb.map { $0.squareRoot() },
            dRepPivot: pivotResult, mccaCentered: Self.mean(centredCCA), mccaUncentered: Self.mean(uncentredCCA),
            canonicalCorrelationsCentered: centredCCA, canonicalCorrelationsUncentered: uncentredCCA,
            linearCKA: similarity.cka, procrustesDistance: similarity.procrustes, svcca: similarity.svcca,
            similarityUndefined: similarity.undefined,
            bounds: bounds + [PairMeasurement.Bound(t12Verdict, note: t12Verdict.outcome == .inapplicable ? nil
                                                        : t12Verdict.isCertified ? Self.certifiedNote(shards) : boundNote)],
            routes: routes, timings: [], notes: oneRun ? notes.map(PairMeasurement.oneRunWording) : notes)
        if oneRun {
            for i in measured.bounds.indices { measured.bounds[i].note = measured.bounds[i].note.map(PairMeasurement.oneRunWording) }
        }
        measured.recordWidthFloor(widthFloor)
        measured.enclosures = enclosures
        measured.linearCKAUnbiasedNote = "not in a merge of shards: the unbiased estimator needs every input's norms, which a partial does not carry"
        return measured
    }

    /// The enclosures as interval sums, when carried.
    var fastLogitSums: FastLogitSums? { enclosures.flatMap { FastLogitSums(stored: $0.values) } }

    /// What the merged d×d moments cannot carry, which one run working from F itself does: a moment
    /// below the normal Double range (embeddings near 10⁻¹⁵⁴ or less: their squares underflow), or an
    /// ill-conditioned one (the moments square F's condition number, and the solves through them
    /// lose about d·u·κ(M) of their relative accuracy: an a priori estimate, not a bound). nil when
    /// neither loses more than 10⁻⁶.
    static func momentAccuracyNote(_ spectra: Spectra, means: (a: [Double], b: [Double]), dimension d: Int) -> String? {
        let affected = "d_unemb, m_CCA, CKA, Procrustes, SVCCA and the screened T4, T7 and T12"
        // Squares underflowed: the second moment is (nearly) 0 though the mean is not.
        for (name, moment, mean) in [("A", spectra.mAA, means.a), ("B", spectra.mBB, means.b)]
        where (moment.eigenvalues.max() ?? 0) < Double.leastNormalMagnitude && mean.contains(where: { $0 != 0 }) {
            return "model \(name)'s embeddings are so small that their squares underflow (near 10⁻¹⁵⁴ or below): its merged second moment is 0 or subnormal, so \(affected) from the merged moments are not meaningful; scale F up by a power of two (and G down by the same) or measure unsharded"
        }
        let uncentred = [("M_AA", spectra.mAA), ("M_BB", spectra.mBB)], centred = [("centred M_AA", spectra.cAA), ("centred M_BB", spectra.cBB)]
        // Covariances M − μμᵀ inherit the uncentred moments' conditioning; those of rows centred in
        // two passes (`CentredMoments`) do not, and around an offset M's κ (10¹³ at a spread 10⁻⁶)
        // had been charged to m_CCA centred, CKA, Procrustes and SVCCA, right to 10⁻¹⁵ (stop 72's attack).
        let groups = spectra.centredRounding == nil ? [(uncentred + centred, affected)]
            : [(uncentred, "d_unemb, m_CCA uncentred and the screened T4, uncentred T7 and T12"),
               (centred, "m_CCA centred, CKA, Procrustes, SVCCA and the screened centred T7")]
        let notes = groups.compactMap { moments, affected -> String? in
            let conditions = moments.compactMap { name, e in Self.condition(e.eigenvalues).map { (name, $0) } }
            guard let worst = conditions.max(by: { $0.1 < $1.1 }) else { return nil }
            let estimate = Self.solveErrorEstimate(condition: worst.1, dimension: d)
            guard estimate > 1e-6 else { return nil }
            return "the merged \(worst.0) has condition number \(String(format: "%.2g", worst.1)) (the moments square the embeddings' κ): \(affected) from the merged moments may be wrong by about \(String(format: "%.1g", min(estimate, 1))) relative (an a priori estimate, d·u·κ); an unsharded run works from F itself"
        }
        return notes.isEmpty ? nil : notes.joined(separator: "; ")
    }

    /// The results of `measurement`'s tasks that read the moments' decompositions.
    enum MomentReaders: Sendable {
        case correlations([Double])
        case similarity(Similarity)
        case t7Spectrum(T7Spectrum)

        var correlations: [Double] { if case .correlations(let c) = self { return c }; preconditionFailure("not canonical correlations") }
        var similarity: Similarity { if case .similarity(let s) = self { return s }; preconditionFailure("not the similarity measures") }
        var t7Spectrum: T7Spectrum { if case .t7Spectrum(let t) = self { return t }; preconditionFailure("not T7's spectrum") }
    }

    /// T7's μ and R from the moments (`T7CanonicalCorrelationBound.momentSpectrum`).
    typealias T7Spectrum = (mu: [Double], residual: Double)

    /// Linear CKA, Procrustes and SVCCA, or why they are undefined.
    typealias Similarity = (cka: Double?, procrustes: Double?, svcca: Double?, undefined: String?, svccaTie: String?)

    /// The decompositions of the four d×d moments (centred and not, both models).
    struct Spectra: Sendable {
        let cAA: SymmetricEigendecomposition, cBB: SymmetricEigendecomposition
        let mAA: SymmetricEigendecomposition, mBB: SymmetricEigendecomposition
        /// Σⱼ rⱼ² per side where the covariances came from rows centred in two passes
        /// (`CentredMoments`: one run's, or a merge's around an offset), in the moments'
        /// equilibration; nil where they are M − μμᵀ from the merged moments.
        var centredRounding: (x: Double, y: Double)? = nil
        /// Where a merge combined the covariances about the shards' means: each side's
        /// between-shard scale (`CentredMoments.betweenScale`) and the number of shards.
        var between: (x: Double, y: Double, shards: Int)? = nil
        /// What each side's covariance is resolved to (`momentRank`): λ_max of its uncentred moment,
        /// the scale at which M − μμᵀ rounds; with rows centred in two passes, the smaller Σⱼ rⱼ² where
        /// an offset made it so (the same scale as before where no column took the second pass:
        /// Σⱼ rⱼ² is then tr M ≥ λ_max); and a merge's between-shard term.
        var centredResolutions: (x: MomentResolution, y: MomentResolution) {
            let uncentred = (x: mAA.eigenvalues.first ?? 0, y: mBB.eigenvalues.first ?? 0)
            guard let r = centredRounding else { return (MomentResolution(scale: uncentred.x), MomentResolution(scale: uncentred.y)) }
            return (MomentResolution(scale: min(uncentred.x, r.x), between: between?.x ?? 0, shards: between?.shards ?? 0),
                    MomentResolution(scale: min(uncentred.y, r.y), between: between?.y ?? 0, shards: between?.shards ?? 0))
        }

        /// Each side's numerical rank (`momentRank`) of its covariance or of its second moment.
        func ranks(centred: Bool, inputs n: Int) -> (a: Int, b: Int) {
            guard centred else { return (MeasureStatistics.momentRank(mAA.eigenvalues, inputs: n), MeasureStatistics.momentRank(mBB.eigenvalues, inputs: n)) }
            let resolutions = centredResolutions
            return (MeasureStatistics.momentRank(cAA.eigenvalues, inputs: n, resolution: resolutions.x),
                    MeasureStatistics.momentRank(cBB.eigenvalues, inputs: n, resolution: resolutions.y))
        }
    }

    /// How finely a d×d moment's eigenvalues are known (`momentRank`).
    struct MomentResolution: Sendable {
        /// The scale at which its summed products round: λ_max of M for M − μμᵀ; for rows centred in
        /// two passes (a merge's: the shards' weighted Σⱼ rⱼ²) the smaller of λ_max of M and Σⱼ rⱼ²,
        /// each in the equilibration its covariance is decomposed in (`Spectra.centredResolutions`).
        var scale: Double = 0
        /// A merge's between-shard term Σₛ πₛ‖eₛ‖² + ‖ē‖² (`CentredMoments.merged`) and its number
        /// of shards S; 0 and 0 for one run's moments or a merge of M − μμᵀ.
        var between: Double = 0
        var shards = 0

        /// The eigenvalue below which a d×d moment summed over n rows is rounding: (n + d)·ε·λ_max
        /// at the scale it rounds at. A merge about the shards' means rounds its within-shard part
        /// at the shards' own scale and its between-shard part (S products of mean differences, one
        /// subtraction of ē ēᵀ, each difference rounded once) entrywise within (S + 4)·ε·Σπ|eₛ||eₛ|ᵀ,
        /// a nonnegative matrix whose norm is at most `between` (a sum over the columns already),
        /// and the eigensolver is allowed d·ε·λ_max (as `pseudoInverse`; measured at d = 16…200 with
        /// an exact dependence: 0.13·ε·λ_max at most): a spread between the shards' means far above
        /// the spread within them (shards around 0 beside shards around 10⁶) no longer sets the
        /// floor at (N + d)·ε of itself, which had dropped a direction one run keeps (m_CCA 0.740
        /// for 0.806, stop 72's attack).
        func tolerance(top: Double, inputs n: Int, dimension d: Int) -> Double {
            let ulp = Double.ulpOfOne
            guard shards > 0 else { return Double(n + d) * ulp * max(top, scale) }
            return Double(n + d) * ulp * scale + Double(shards + 4) * ulp * between + Double(d) * ulp * top
        }
    }

    static func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }

    /// 1 − ρᵢ² on the teacher's side (dimension d₂), padded with 1, ρ decreasing.
    static func oneMinusSquared(_ rho: [Double], _ d2: Int) -> [Double] {
        (0..<d2).map { $0 < rho.count ? max(0, 1 - rho[$0] * rho[$0]) : 1 }
    }

    /// 1/√λ for the leading eigenvalues (decreasing) on the moments' numerical range
    /// (`momentRank`).
    static func inverseRoots(_ values: [Double], inputs n: Int, resolution: MomentResolution = MomentResolution()) -> [Double] {
        values.prefix(momentRank(values, inputs: n, resolution: resolution)).map { 1 / $0.squareRoot() }
    }

    /// The numerical rank of a second-moment matrix FᵀWF from its eigenvalues (decreasing):
    /// those above (N + d)·ε·λ_max. A moment summed over N rows carries an absolute error of
    /// about that size in every eigenvalue, so it resolves singular values of F only down to
    /// √((N + d)ε)·σ_max — an exactly rank-deficient F (N ≤ d, collinear or constant columns)
    /// has its zero eigenvalues at rounding level, which the square root would lift to
    /// ~10⁻⁸σ_max, far above the SVD's tolerance. Below that resolution the merge treats F as
    /// rank-deficient, as a single run's exact certificate finds it. `resolution` says the scale
    /// a covariance rounds at (`MomentResolution`): M − μμᵀ rounds at λ_max of M, so constant
    /// embeddings have a covariance of pure rounding, which is rank 0.
    static func momentRank(_ values: [Double], inputs n: Int, resolution: MomentResolution = MomentResolution()) -> Int {
        let top = max(values.first ?? 0, 0)
        guard top > 0 else { return 0 }
        let tolerance = resolution.tolerance(top: top, inputs: n, dimension: values.count)
        return values.prefix { $0 > tolerance }.count
    }

    /// A symmetric moment's inverse square root on its numerical range, as W with WᵀMW = I.
    static func whitening(_ e: SymmetricEigendecomposition, inputs n: Int, resolution: MomentResolution = MomentResolution()) -> Matrix {
        let scales = inverseRoots(e.eigenvalues, inputs: n, resolution: resolution)
        return e.eigenvectors.leadingColumns(scales.count).scalingColumns(by: scales)
    }

    /// M⁺ of a symmetric positive semidefinite M from its decomposition (eigenvalues at or
    /// below d·ε·λ_max dropped, as `pseudoInverse` drops singular values).
    static func pseudoInverse(_ e: SymmetricEigendecomposition) -> Matrix {
        let top = max(e.eigenvalues.first ?? 0, 0), d = e.eigenvalues.count
        let kept = e.eigenvalues.filter { top > 0 && $0 > Double(d) * Double.ulpOfOne * top }.count
        let v = e.eigenvectors.leadingColumns(kept)
        return v.scalingColumns(by: e.eigenvalues.prefix(kept).map { 1 / $0 }).multiplied(by: v, transposeOther: true)
    }

    static func decompose(_ m: Matrix) throws -> SymmetricEigendecomposition {
        try ModelError.wrapping { try SymmetricEigendecomposition(symmetrised(m)) }
    }

    /// Powers of two bringing each column of A's and of B's embeddings near norm 1, from the
    /// uncentred moments' diagonals (the scale each column, centred or not, is rounded at); nil
    /// when on each side every column lies within 2⁸ of the others (no equilibration needed:
    /// the moments as they are, and their decompositions, serve).
    static func correlationEquilibration(_ mAA: Matrix, _ mBB: Matrix) -> (a: [Int], b: [Int])? {
        let (a, b) = (mAA.momentEquilibration, mBB.momentEquilibration)
        return Matrix.spread(a) > 8 || Matrix.spread(b) > 8 ? (a, b) : nil
    }

    /// Canonical correlations from the moments' decompositions: the singular values of
    /// W_yᵀ M_yx W_x.
    static func canonicalCorrelations(_ xx: SymmetricEigendecomposition, _ yy: SymmetricEigendecomposition, _ yx: Matrix,
                                      inputs n: Int, resolutions: (x: MomentResolution, y: MomentResolution) = (MomentResolution(), MomentResolution())) throws -> [Double] {
        let wx = whitening(xx, inputs: n, resolution: resolutions.x), wy = whitening(yy, inputs: n, resolution: resolutions.y)
        let m = min(xx.eigenvalues.count, yy.eigenvalues.count)
        guard wx.columns > 0, wy.columns > 0 else { return Array(repeating: 0, count: m) }
        return try correlations(wy.multiplied(by: yx, transposeSelf: true).multiplied(by: wx), count: m)
    }

    /// The singular values of a whitened cross-moment K, clamped to [0, 1], `count` of
    /// them (zeros for directions lost to rank).
    static func correlations(_ k: Matrix, count m: Int) throws -> [Double] {
        let s = try ModelError.wrapping { try k.singularValues() }
        return (0..<m).map { $0 < s.count ? min(max(s[$0], 0), 1) : 0 }
    }

    /// Linear CKA, Procrustes and SVCCA (99 % variance) from centred moments, as
    /// `SimilarityMeasures` defines them on the data.
    static func similarity(_ spectra: Spectra, _ cAA: Matrix, _ cBB: Matrix, _ cBA: Matrix,
                           inputs n: Int) throws -> Similarity {
        func trace(_ m: Matrix) -> Double { (0..<m.rows).reduce(0.0) { $0 + m[$1, $1] } }
        let (tA, tB) = (trace(cAA), trace(cBB))
        // Zero variance to within the moments' resolution: a covariance M − μμᵀ of constant
        // embeddings is rounding at M's scale (CKA showed 5·10⁻¹⁸ where a run says undefined).
        let ranks = spectra.ranks(centred: true, inputs: n)
        let flatA = ranks.a == 0
        if flatA || ranks.b == 0 {
            let why = spectra.centredRounding == nil
                ? "to within the merged moments' resolution (every input at one point, or a spread below about (N + d)·ε of the embeddings' size, which only an unsharded run resolves)"
                : "(every input at one point, to within the data's rounding)"
            return (nil, nil, nil, "\(flatA ? "the first" : "the second") model's embeddings have zero variance \(why)", nil)
        }
        // From norms that do not overflow where their squares would (moments ≳ 10¹⁵⁴), and
        // √tA·√tB rather than √(tA·tB).
        let ratio = cBA.frobeniusNorm / (cAA.frobeniusNorm.squareRoot() * cBB.frobeniusNorm.squareRoot())
        let cka = min(ratio * ratio, 1)  // 1.0000000000000004 had shown where a between-shard spread dominates
        let nuclear = try ModelError.wrapping { try cBA.singularValues() }.reduce(0, +) / (tA.squareRoot() * tB.squareRoot())
        let procrustes = max(0, 2 - 2 * min(nuclear, 1)).squareRoot()
        // SVCCA: the top principal directions V keeping 99 % of each side's variance; in
        // that eigenbasis the projected covariances are diagonal, so the CCA is the
        // singular values of Λ_B^{-1/2} V_BᵀC_BA V_A Λ_A^{-1/2}.
        func principal(_ e: SymmetricEigendecomposition) -> (vectors: Matrix, values: [Double], tie: SimilarityMeasures.PrincipalTie?) {
            let energy = e.eigenvalues.map { max($0, 0) }
            let cut = SimilarityMeasures.principalCut(energy, keeping: 0.99, rows: n)
            return (e.eigenvectors.leadingColumns(cut.count), Array(energy.prefix(cut.count)), cut.tie)
        }
        let (vA, lA, tieA) = principal(spectra.cAA), (vB, lB, tieB) = principal(spectra.cBB)
        let (sA, sB) = (inverseRoots(lA, inputs: n), inverseRoots(lB, inputs: n))
        let m = min(lA.count, lB.count)
        let svcca = sA.isEmpty || sB.isEmpty ? 0 : mean(try correlations(
            vB.leadingColumns(sB.count).multiplied(by: cBA.multiplied(by: vA.leadingColumns(sA.count)), transposeSelf: true)
                .scalingRows(by: sB).scalingColumns(by: sA), count: m))
        return (cka, procrustes, svcca, nil, SimilarityMeasures.tieNote((tieA, tieB), fraction: 0.99))
    }

    /// Whether T5's certificate from the carried rows of G agrees with the shards' own screen
    /// terms at its pair: σ_min(L₁)² within 10⁻⁶ and r(p, S) not above the enclosure's upper end,
    /// nor below it by more than 10⁻³. Rows edited alike in every partial (which no checksum
    /// or equality between partials catches) then leave T5 screened.
    static func rowsAgree(_ v: Verdict, terms: [T5PivotBound.PairTerms], labels k: Int, dl2: Double, t5: T5PivotBound) -> Bool {
        guard let worst = t5.worstPair(terms, labels: k, logitDistanceSquared: dl2) else { return false }
        let sigmaSquared = worst.sigmaMin * worst.sigmaMin, fromRows = 1 / v.constant
        return abs(fromRows - sigmaSquared) <= 1e-6 * sigmaSquared
            && worst.residual <= v.lhs * (1 + 1e-9) && v.lhs <= worst.residual * (1 + 1e-3) + 1e-300
    }

    /// The note on a bound certified from merged interval moments.
    static func certifiedNote(_ shards: Int) -> String {
        "merged from \(shards) shard(s): certified by fast enclosure from the partials' interval moments (added in interval arithmetic) and the Grams' column bounds"
    }

    /// T3–T7 in the order `measure` reports them: T3, T4 and T7 certified from `fast` (the
    /// interval statistics of merged partials) where they decide, else screened from the statistics.
    /// `rankSpectra` decide the moments' ranks (T4's and T7's hypotheses): the equilibrated
    /// moments' where the columns spread beyond 2⁸ (a column 2⁶⁰ apart is no rank deficiency;
    /// T4 and T7 had read "singular"), else `spectra`.
    func bounds(_ spectra: Spectra, rankSpectra: Spectra, dUnembSquared: Double?, dUnembMissing: String? = nil, note: String, fast: FastMomentStatistics?,
                oneMinusRho: (centred: [Double], uncentred: [Double]),
                t7Spectra: (centred: T7Spectrum, uncentred: T7Spectrum)) throws -> [PairMeasurement.Bound] {
        let dl2 = logitDistanceSquared
        let eig = spectra.mAA.eigenvalues
        let diversity = Diversity(dimension: identity.dimensionA, labelCount: identity.labels,
                                  embeddingSingularValues: eig.map { max($0, 0).squareRoot() },
                                  unembeddingSingularValues: unembeddingSingularValuesA.values)
        var out: [PairMeasurement.Bound] = []
        func add(_ v: Verdict, _ extra: String? = nil) {
            // An undecided verdict's reason is its certificate: shown first.
            let why = v.outcome == .undecided ? v.certificate : nil
            out.append(PairMeasurement.Bound(v, note: v.outcome == .inapplicable ? nil : [why, note, extra].compactMap { $0 }.joined(separator: "; ")))
        }
        let n = identity.inputs
        for (bound, lhs) in [(T3EmbeddingBound().bound, representationAB), (T4UnembeddingBound().bound, dUnembSquared)] {
            if let fast, let v = bound.id == .T3 ? T3EmbeddingBound().fastVerdict(fast) : T4UnembeddingBound().fastVerdict(fast) {
                out.append(PairMeasurement.Bound(v, screened: lhs, notes: [Self.certifiedNote(shards)]))
                continue
            }
            // T4's F̂₁ from its moment: full rank only on the moments' numerical range.
            let rankA = Self.momentRank(rankSpectra.mAA.eigenvalues, inputs: n)
            if bound.id == .T4, rankA < identity.dimensionA {
                add(momentLostRows(ofA: true, rank: rankA, dimension: identity.dimensionA).map { .undecided(bound.id, bound.form, level: .double, $0) }
                    ?? .inapplicable(bound.id, bound.form, level: .double,
                                     "\(bound.matrixName) does not have full column rank (its second moment is singular to within its resolution)"))
                continue
            }
            guard bound.fullRank(diversity) else {
                add(.inapplicable(bound.id, bound.form, level: .double,
                                  "\(bound.matrixName) does not have full column rank to within rounding (its smallest singular value, in double precision, is below max(k, d)·ε of its largest; an unsharded `measure --certify always` decides the rank exactly)"))
                continue
            }
            guard let lhs else {
                // d_unemb not formed from the merged moments (their sums cannot carry it): not decided here.
                let missing = bound.id == .T4 ? dUnembMissing : nil
                add(missing.map { .undecided(bound.id, bound.form, level: .double, "d_unemb is not computed: \($0)") }
                    ?? .inapplicable(bound.id, bound.form, level: .double, "its left side could not be computed"))
                continue
            }
            add(bound.verdict(lhs: lhs, sigmaMin: bound.sigmaMin(diversity), logitDistanceSquared: dl2))
        }
        if let pivot {
            let t5 = T5PivotBound(.subsetSum, selection: .explicit(pivot.t5Pairs))
            let terms = pivot.t5Pairs.indices.map {
                T5PivotBound.PairTerms(pair: pivot.t5Pairs[$0], residual: pivot.t5Residuals[$0], sigmaMin: pivot.t5SigmaMin[$0],
                                       logitSum: pivot.t5LogitSums[$0])
            }
            let unembedding = pivot.t5Unembedding(dimension: identity.dimensionA)
            let fastT5 = fast.flatMap { s in unembedding.flatMap { t5.fastVerdict(s, terms: terms, logitDistanceSquared: dl2, unembedding: $0) } }
            if let v = fastT5, Self.rowsAgree(v, terms: terms, labels: identity.labels, dl2: dl2, t5: t5) {
                out.append(PairMeasurement.Bound(v, note: [Self.certifiedNote(shards), pivot.t5Note].compactMap { $0 }.joined(separator: "; ")))
            } else {
                let why = fast == nil ? nil : unembedding == nil
                    ? "T5 is screened: not every partial carries G's rows at T5's labels (they are written up to \(Self.carriedT5RowLimit) values)"
                    : fastT5 != nil ? "T5 is screened: the carried rows of G disagree with the partials' own σ_min(L₁) or r(p, S) at its pair" : nil
                let extra = [pivot.t5Note, why].compactMap { $0 }.joined(separator: "; ")
                if terms.isEmpty, pivot.t5Note?.contains(MeasureStatistics.t5PairsLeftOut) == true {
                    // Every pair left out for its range, none found singular: not decided here.
                    add(.undecided(.T5, t5.form, level: .double, "not decided: no pair's terms in the partials (\(extra))"))
                } else {
                    add(t5.verdict(terms: terms, labels: identity.labels, logitDistanceSquared: dl2), extra.isEmpty ? nil : extra)
                }
            }
        }
        // T6 from the streamed enclosures' interval sums (certified, one run or merged);
        // screened where they are absent or cannot decide.
        let sums = fastLogitSums
        for form in T6KLBound.Form.allCases {
            let statement = T6KLBound(form)
            if let sums, let v = statement.fastVerdict(sums) {
                out.append(PairMeasurement.Bound(v, screened: dl2, notes: [shards > 1
                    ? "merged from \(shards) shards: certified from their interval sums, added in interval arithmetic"
                    : "certified from the streamed fast enclosure (one pass over blocks of rows)"]))
                continue
            }
            let screened = statement.verdict(lhs: dl2, kl: klAB, logTau: min(logTauA, logTauB),
                                             perInputLogMean: form == .perInput ? logPerInputT6 : form == .sharpPerInput ? logPerInputT6Sharp : nil)
            out.append(PairMeasurement.Bound(screened, note: screened.outcome == .inapplicable ? nil : sums == nil
                ? "double-precision screen: no interval sums to certify it from (written with --certify never, or logits beyond the Double range)"
                : "double-precision screen: the fast enclosure could not decide"))
        }
        // T7 with B as the student (model 1) and A as the teacher (model 2); its terms
        // once per centring.
        let terms = [false, true].map { centred in
            T7CanonicalCorrelationBound.momentTerms(oneMinusRhoSquared: centred ? oneMinusRho.centred : oneMinusRho.uncentred,
                                                    spectrum: centred ? t7Spectra.centred : t7Spectra.uncentred, logitDistanceSquared: dl2)
        }
        // T7's enclosed spectra once per centring (the two uncentred forms share theirs).
        let swapped = fast?.swapped
        let fastSpectra = [false, true].map { centred in swapped.flatMap { $0.t7Spectra(centred: centred) } }
        for (variant, centred) in [(T7CanonicalCorrelationBound.Form.traceBound, false), (.traceBound, true), (.corollary, false)] {
            let statement = T7CanonicalCorrelationBound(variant, centred: centred)
            if let swapped, let spectra = fastSpectra[centred ? 1 : 0],
               let v = statement.fastVerdict(spectra, logitDistanceSquared: swapped.logitDistanceSquared) {
                // Its side against the moments' Double value (a merge's T7 had shown 0.03974 for 0.03953, unremarked).
                let screened = statement.verdict(terms[centred ? 1 : 0], secondDimension: identity.dimensionA, labels: identity.labels)
                out.append(PairMeasurement.Bound(v, screened: screened.lhs, notes: [Self.certifiedNote(shards)]))
                continue
            }
            // As a single run's certificate: inapplicable when an embedding second moment is singular.
            let ranks = rankSpectra.ranks(centred: centred, inputs: n)
            if ranks.a < identity.dimensionA || ranks.b < identity.dimensionB {
                let lost = momentLostRows(ofA: true, rank: ranks.a, dimension: identity.dimensionA)
                    ?? momentLostRows(ofA: false, rank: ranks.b, dimension: identity.dimensionB)
                add(lost.map { .undecided(.T7, statement.form, level: .double, $0) }
                    ?? .inapplicable(.T7, statement.form, level: .double,
                                     "an embedding \(centred ? "covariance" : "second moment") is singular (to within the moments' resolution)"))
                continue
            }
            add(statement.verdict(terms[centred ? 1 : 0], secondDimension: identity.dimensionA, labels: identity.labels))
        }
        return out
    }
}
