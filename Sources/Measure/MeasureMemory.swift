import Foundation
import Numerics
import Theory

/// What `measure` holds at its peak, judged from the models' shapes before their arrays are
/// read, so that a pair too large for the machine is refused with the reason instead of being
/// killed by the system part-way through.
public enum MeasureMemory {
    /// Bytes at the peak of a run over `rows` of `inputs` inputs (a shard's rows, or all N) of a
    /// pair with `k` labels and embedding dimensions dA, dB, on `workers` workers: what is held
    /// throughout, plus the largest of its phases.
    /// - Held: the process's baseline; both models' arrays as Doubles (rows×d and k×d); a centred
    ///   copy of each G; for one run below language-model scale (k·(dA² + dB²) ≤ 10⁸), whose
    ///   similarity measures work from the rows, six more copies of the rows and four of the wider
    ///   model's extra columns.
    /// - The d×d work and the passes: c·max(d)² Doubles (c = 48 for one certified run: the
    ///   moments, their decompositions and the enclosures, whose intervals take two Doubles an
    ///   entry; 18 uncertified; a shard, which decomposes nothing, 44 and 12); the screen's logit
    ///   blocks (`LogitPassPlan`, two a worker, a worker a chunk); a certified run's 400 bytes an
    ///   input; 1.5 more copies of the rows for a shard's statistics or one run's on the moments
    ///   route; a shard's interval moments' row blocks where it certifies, and for `weighted` files
    ///   both files' whole w with their normalised copies (32 bytes an input, as every shard checks
    ///   all N weights).
    /// - One run's N×k arrays (`wholeLogitBytes`), where N·k is small enough for them.
    /// - The pivot form's tables (`pivoting`: whether it runs; 24·k² bytes where k ≤ 4 096), and
    ///   held, its `pivotPairs` pairs.
    /// Certifying, at least the arrays and the certified pass's blocks (`FastLogitSums`, one set a
    /// worker, a worker a block). For shards it rises with the rows (a whole run, which forms no
    /// shard terms, can be estimated below a large shard).
    ///
    /// Against 24 peaks measured at nine shapes, as runs and shards, certified and not, it lies
    /// 7 % below to 9 % above them, and 10–65 % above at k = 1 000, d = 8 and at N = 200 000,
    /// d = 32, whose phases do not hold their buffers at once (notes/benchmarks.md, stops 52–54);
    /// against 12 runs of d = 3 and 8 whose N×k logits dominate, 9 % below to 1 % above (stop 65);
    /// against 12 runs of k = 2 and 10 whose rows dominate, of equal and unequal widths, 16 % below
    /// to 33 % above (stop 66: what the allocator keeps of the two sides' copies varies by 10 %).
    /// A one-row shard of k = 1 000, d = 8 peaks 12 % above it (it had held twice the estimate,
    /// stop 54, before the pivot tables were counted).
    public static func estimatedBytes(rows n: Int, inputs: Int, labels k: Int, dimensions: (a: Int, b: Int), workers: Int,
                                      certifying: Bool, weighted: Bool = false, pivoting: Bool = false,
                                      pivotPairs: Int = 20_000) -> Double {
        let (da, db) = (Double(dimensions.a), Double(dimensions.b))
        let d = da + db, top = max(da, db), rows = Double(n), labels = Double(k), shard = n < inputs
        let arrays = 8 * (rows * d + labels * d)
        let squares: Double = shard ? (certifying ? 44 : 12) : (certifying ? 48 : 18)
        // The screen's blocks: chunkRows × labelBlock ≤ min(min(rows, 2048)·k, 2²³) a model
        // (`LogitPassPlan`), an envelope that rises with the rows; a worker per chunk.
        let plan = LogitPassPlan(inputs: max(n, 1), labels: max(k, 1))
        let screen = Double(min(workers, plan.chunks.count)) * 2 * 8 * min(Double(min(n, LogitPassPlan.chunkRowLimit)) * labels, 0x1p23)
        // Six copies of both models' rows, and four more of the wider model's extra columns: its
        // canonical-correlation bases, QR factors and products are each that wide, and where the
        // widths differ they peaked up to 1.6 times an estimate without them (stop 66: N = 60 000,
        // k = 2, d = 2 and 60), partly freed memory the allocator keeps (`HeapRetention`).
        let onRows = !shard && labels * (da * da + db * db) <= 1e8
        let rowRoute = onRows ? 8 * rows * (6 * d + 4 * abs(da - db)) : 0
        // A shard's statistics hold 1.5 more copies of its rows (the weighted rows of the moments),
        // and certifying, the interval moments' row blocks (2 Doubles an entry, `FastEmbeddingMoments`,
        // 2¹⁵ rows a block). One run on the moments route forms the same statistics, with its rows'
        // covariances (`CentredMoments`), after its logit pass: a phase of its own (N = 10⁵, k = 1 000,
        // d = 256 and 256 peaked there at 899 MiB, against an estimate of 502 MiB without it; stop 73).
        let statisticsRows = !onRows ? 12 * rows * d + (shard && weighted ? 32 * Double(inputs) : 0) : 0
        let shardRows = shard ? statisticsRows : 0
        let shardMoments = shard && certifying ? 16 * min(rows, 0x1p15) * d : 0
        // A certified run's per-input intervals and sums: 400 bytes an input, whatever d (N = 200 000,
        // d = 8 peaked 28 % above the estimate without it; stop 54).
        let perInput = !shard && certifying ? 400 * rows : 0
        // The pivot sample's pairs, their values and, in a shard, their sums as the partial writes
        // them: 100 + 20·d bytes a pair in a run, 800 + 60·d in a shard (stop 65's attack: 118–137 at
        // d = 2 over 10⁶ and 5·10⁶ pairs, 1.1 kB at d = 64; a shard 865 at d = 2, 4.5 kB at d = 64).
        let pairs = pivoting ? Double(pivotPairs) * (shard ? 800 + 60 * top : 100 + 20 * top) : 0
        let held = Self.baseline + arrays + 8 * labels * d + rowRoute + pairs
        // The pivot form's three |U|×|U| tables over the labels its pairs use (`PivotMoments`), formed
        // where |U|² ≤ 2²⁴: |U| is k where k ≤ 4 096 (the default sample of 100 × 200 subsets uses
        // nearly every label), and beyond, too many for the tables (k = 4 000: 384 MB of a 427 MB peak).
        // And where its pairs cancel (every pair of an orbit pair), the rows' triangular factor: the
        // weighted rows of both models, their N×2d stack and LAPACK's copy (`PivotMoments.stackedFactor`).
        let pivotTables = pivoting ? (k <= 4096 ? 24 * labels * labels : 0) + 24 * rows * d : 0
        let sum = max(held + 8 * squares * top * top + screen + shardRows + shardMoments + perInput,
                      held + 8 * squares * top * top + statisticsRows + perInput,
                      held + (shard ? 0 : wholeLogitBytes(inputs: n, labels: k, dimensions: dimensions, certifying: certifying)),
                      held + shardRows + pivotTables)
        guard certifying else { return sum }
        let blockRows = min(FastLogitSums.rowsPerBlock(inputs: n, labels: k), max(n, 1))
        let blockWorkers = min(workers, (max(n, 1) + blockRows - 1) / blockRows)
        let absolute = FastLogitSums.automaticBound(inputs: inputs, labels: k, dimensions: dimensions.a + dimensions.b) == .absoluteProducts
        return max(sum, Self.baseline + arrays + Double(blockWorkers) * Double(blockRows) * labels * 16 * (absolute ? 2 : 1))
    }

    /// Bytes a whole run holds in N×k arrays at once, in the phase that forms them (beside the models'
    /// arrays and the rows' copies, not the d×d work or the passes' blocks, which come before or after):
    /// T7's terms from the teacher's logits where N·k ≤ 2²⁴ (`T7CanonicalCorrelationBound.computeTerms`:
    /// the centred logits, kept, and four transient copies at its peak); certifying, both models' enclosed
    /// logits P and Q, kept, where N·k ≤ 2²² (`ModelPair.fastLogitsFit`); none on the language-model
    /// route. An orbit pair of d = 3, k = 200, N = 20 000 peaked at 2.2 times an estimate without this
    /// phase (stop 64). The exact and MPFR levels are not in it: a run forms them only where they fit
    /// beside it (`PairMeasurement.Options.exactLevelShortfall`).
    static func wholeLogitBytes(inputs n: Int, labels k: Int, dimensions: (a: Int, b: Int), certifying: Bool) -> Double {
        let logits = Double(n) * Double(k), size = logits * Double(dimensions.a + dimensions.b)
        // On the language-model route (k·(dA² + dB²) > 10⁸) T7 comes from d×d moments: nothing N×k
        // but the enclosed logits, where they fit.
        let (da, db) = (Double(dimensions.a), Double(dimensions.b))
        let t7: Double = Double(k) * (da * da + db * db) <= 1e8 && logits <= 0x1p24 ? 40 : 0
        let enclosed: Double = certifying && logits <= 0x1p22 && size <= 2e8 ? 32 : 0
        return (t7 + enclosed) * logits
    }

    /// Bytes the exact and MPFR levels add where a run forms them: both models' exact logits (a
    /// dyadic Int128 and its exponent each, GMP integers past that), the rationals formed from them,
    /// and where T6 is certified by MPFR, every conditional's interval and each input's: 800 an input
    /// and label and 1 600 an input (near-ties of k = 2 took 2.8 kB an input), four times that
    /// where the entries span `wideExponents` (`ModelPair.entriesSpanWideExponents`: the logits then
    /// mostly GMP integers, MPFR's precision higher). Measured (stop 65) on near-tie pairs whose T6
    /// MPFR certifies: 770–780 bytes above the run without them at N·k = 2·10⁵ and 8·10⁵; on orbit
    /// pairs, whose T6 needs no MPFR, 95–132 (stop 64), and 493 for columns scaled 10^±150, whose
    /// MPFR cost is not measured (the factor 4 is the exact logits').
    public static func exactLevelBytes(inputs n: Int, labels k: Int, wideExponents: Bool = false) -> Double {
        (wideExponents ? 4 : 1) * (800 * Double(n) * Double(k) + 1600 * Double(n))
    }

    /// A size in bytes as a reader takes it (GiB, MiB, KiB, bytes; rounded up below GiB).
    public static func describe(bytes: Double) -> String {
        bytes >= 0x1p30 ? String(format: "%.2f GiB", bytes / 0x1p30)
            : bytes >= 0x1p20 ? String(format: "%.0f MiB", (bytes / 0x1p20).rounded(.up))
            : bytes >= 0x1p10 ? String(format: "%.0f KiB", (bytes / 0x1p10).rounded(.up)) : String(format: "%.0f bytes", bytes.rounded(.up))
    }

    /// Bytes at the peak of `merge` over files of these sizes, read one at a time, whose partials
    /// carry `pivotPairs` (p, S) pairs of `subsetSize` labels (every shard the same sample, held once:
    /// 48 + 8·(d + 1) bytes a pair), or, where that is not yet known (`pivotPairs` nil: before the
    /// first partial is decoded), the largest file alone. The rest of each file decodes to 0.8 of
    /// its text (base64 moments to 0.75, JSON residuals to 0.64); the largest file's text with its
    /// decoding's temporaries, its checksum's canonical re-encoding and the merged pair's d×d work
    /// take 7 times its size; and 4 MiB above `baseline`. Against four merges (stop 66, `mergeMemory`
    /// in the tests) it lies 4 % to 21 % above their peaks, and 49 % above at d = 1 024, where the
    /// d×d moments fill the partials.
    public static func mergeEstimatedBytes(fileSizes: [Int], pivotPairs: Int?, subsetSize d: Int = 0) -> Double {
        // The baseline and 4 MiB: merges of the smallest partials peaked 2 MiB above `baseline` (stop 66).
        let (base, largest) = (Self.baseline + 0x1p22, Double(fileSizes.max() ?? 0))
        guard let pivotPairs else { return base + 7.8 * largest }
        let (pairs, labels) = (Double(pivotPairs), Double(d + 1))
        let pairsText = pairs * 4 * (labels + 1) * 4 / 3
        let rest = fileSizes.reduce(0.0) { $0 + max(Double($1) - pairsText, 0) }
        return base + 0.8 * rest + pairs * (48 + 8 * labels) + 7 * largest
    }

    /// Why a merge of files of these sizes would not fit in `limit` bytes (`mergeEstimatedBytes`); nil when it fits.
    public static func mergeRefusal(fileSizes: [Int], pivotPairs: Int?, subsetSize d: Int = 0, limit: Double) -> String? {
        let need = mergeEstimatedBytes(fileSizes: fileSizes, pivotPairs: pivotPairs, subsetSize: d)
        guard need > limit else { return nil }
        let total = describe(bytes: fileSizes.reduce(0.0) { $0 + Double($1) })
        let files = fileSizes.count == 1 ? "this file" : "these \(fileSizes.count) files"
        return (pivotPairs == nil ? "decoding the largest of \(files) needs about \(describe(bytes: need))"
                    : "merging \(files) (\(total), \(pivotPairs!) pivot pairs) needs about \(describe(bytes: need)) at its peak")
            + " (notes/benchmarks.md, stop 66), more than the \(describe(bytes: limit)) this process may use (the machine's memory, its control "
            + "group's limit, or LOGITBOUNDS_MEMORY_LIMIT); merge on a machine with more memory, or, for measure partials, measure again with "
            + "fewer shards (each partial carries the d×d moments whole)"
    }

    /// The resident size of `measure` on a pair of 20 inputs and 3 labels (31.5 MiB, stop 54): the
    /// runtime, the libraries and OpenBLAS's buffers.
    public static let baseline = 31.5 * 0x1p20

    /// Why a run over `rows` of `inputs` inputs would not fit in `limit` bytes, with what would
    /// (how many shards, or that none does); nil when it fits.
    public static func refusal(rows n: Int, inputs: Int, labels k: Int, dimensions: (a: Int, b: Int), workers: Int,
                               certifying: Bool, weighted: Bool = false, pivoting: Bool = false, pivotPairs: Int = 20_000,
                               limit: Double) -> String? {
        // `estimatedBytes` rises with a shard's rows, so the fewest shards that fit are found by bisection.
        func need(_ rows: Int) -> Double {
            estimatedBytes(rows: rows, inputs: inputs, labels: k, dimensions: dimensions, workers: workers, certifying: certifying,
                           weighted: weighted, pivoting: pivoting, pivotPairs: pivotPairs)
        }
        let total = need(n)
        guard total > limit else { return nil }
        let size = describe(bytes:)
        let shape = "N = \(inputs)\(n < inputs ? " (\(n) in this shard)" : ""), k = \(k), d = \(dimensions.a) and \(dimensions.b)"
        let advice: String
        if inputs > 1, need(1) <= limit {
            var (lo, hi) = (1, inputs)   // need(⌈N/hi⌉) ≤ limit
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                if need((inputs + mid - 1) / mid) <= limit { hi = mid } else { lo = mid + 1 }
            }
            advice = "split the inputs into at least \(hi) shards (--shard i/\(hi) --partial FILE for i = 1 … \(hi)) and combine the partials with `logitbounds merge`"
        } else {
            let pairs = pivoting ? ", the pivot sample's \(pivotPairs) pairs (more in a shard, which writes them, than in one run)" : ""
            advice = "no shard fits: every shard holds the process's baseline (\(size(Self.baseline))), both g (k×d) whole, a centred copy of each, the d×d work\(pairs) and the logit pass's blocks, \(size(need(1))) even for one row; run it on a machine with more memory"
                + (pivoting ? ", or with fewer pivot pairs (--pivots, --subsets, a shorter --pivot-subsets file)" : "")
        }
        return "measuring this pair needs about \(size(total)) at its peak (\(shape); notes/benchmarks.md, stop 52), "
            + "more than the \(size(limit)) this process may use (the machine's memory, its control group's limit, or LOGITBOUNDS_MEMORY_LIMIT); \(advice)"
    }
}
