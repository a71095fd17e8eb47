import Dispatch
import Foundation
import Numerics

/// Every logit-level quantity of a pair from one streamed pass over the inputs:
/// d_logit², KL in both directions per input, and log τ per input and per model.
/// The N×k logits are never held at once (see `computeLogitStatistics`).
public struct LogitStatistics: Sendable {
    public let logitDistanceSquared: Double
    /// KL_x(M₁‖M₂) per input.
    public let klPerInput: [Double]
    /// KL_x(M₂‖M₁) per input.
    public let reverseKLPerInput: [Double]
    /// log τ_x = min_y min(log p₁(y|x), log p₂(y|x)) per input.
    public let logTauPerInput: [Double]
    /// log τ(M₁) and log τ(M₂).
    public let logTauFirst: Double
    public let logTauSecond: Double
    /// Rows whose KL needed the cancellation-free kernel (see `LogitRowAccumulator`).
    public let accurateRecomputations: Int
    /// The blocks the pass used, and how many workers shared them (the values do
    /// not depend on the latter).
    public let plan: LogitPassPlan
    public let workers: Int
    let weights: [Double]

    /// KL(M₁‖M₂) = E_x KL_x.
    public var kl: Double { zip(weights, klPerInput).reduce(0) { $0 + $1.0 * $1.1 } }
    /// KL(M₂‖M₁).
    public var reverseKL: Double { zip(weights, reverseKLPerInput).reduce(0) { $0 + $1.0 * $1.1 } }
    /// log τ over both models.
    public var logTau: Double { min(logTauFirst, logTauSecond) }

    /// The statistics of the pair in the other order.
    var swapped: LogitStatistics {
        LogitStatistics(logitDistanceSquared: logitDistanceSquared, klPerInput: reverseKLPerInput,
                        reverseKLPerInput: klPerInput, logTauPerInput: logTauPerInput, logTauFirst: logTauSecond,
                        logTauSecond: logTauFirst, accurateRecomputations: accurateRecomputations,
                        plan: plan, workers: workers, weights: weights)
    }
}

extension ModelPair {
    /// G̃₁ and G̃₂, computed once per pair (on two workers when they are large: each is
    /// formed alone, so its bits do not depend on that).
    public var centredUnembeddings: (first: Matrix, second: Matrix) {
        cache.value("centredG") {
            let large = Double(first.labelCount) * Double(first.dimension + second.dimension) > 1e6
            let models = [first, second]
            let g = (try? BLASThreads.parallelMap(2, workers: large ? 2 : 1) { models[$0].centredUnembeddings })
                ?? models.map(\.centredUnembeddings)
            return (g[0], g[1])
        }
    }

    /// Λ̃₁ or Λ̃₂ (N×k), computed once per pair: for the small models of the
    /// harness, where several checks read whole centred logits.
    public func centredLogits(ofFirst: Bool) -> Matrix {
        cache.value(ofFirst ? "centredLogits1" : "centredLogits2") { (ofFirst ? first : second).centredLogits }
    }

    /// The streamed logit statistics, computed once per pair.
    public func logitStatistics() -> LogitStatistics {
        cache.value("logitStatistics") { computeLogitStatistics() }
    }

    /// d_logit and log₁₀ d_logit² when d_logit² overflows a Double but d_logit does not
    /// (logits between about 10¹⁵⁴ and 10³⁰⁸), or underflows (logits near 10⁻¹⁵⁴ and below, down
    /// to 2⁻¹⁰⁰⁰; the blocks are then scaled up, exact for normal logits): the streamed pass again, with every block of
    /// logits times one power of two 2^−e as it is formed, e chosen from each model's largest
    /// entries so that the squares fit. The logits are finite here, so the scaling is exact
    /// (barring logits below 2^(e−1022), which are 10⁻¹⁵⁰ of the largest or less), and the pass
    /// gives 2^−2e times d_logit²; no copy of F or G is made. nil when an entry is not finite or
    /// the scaled pass still overflows (the logits themselves leave the Double range).
    /// `squared` is d_logit² itself, 2^2e times the scaled pass's (one rounding), +∞ where it
    /// overflows.
    public func rescaledLogitDistance() -> (distance: Double, squared: Double, log10Squared: Double)? {
        let (g1, g2) = centredUnembeddings
        // |centred logit| ≤ d·max|f|·max|g̃| for each model; over k labels and both models, the
        // square root of Σ_y (difference)² ≤ 2d√k times the larger. Kept below 2⁴⁹⁸ ≈ 10¹⁵⁰.
        let sizes = [(first.embeddings.maxAbs, g1.maxAbs), (second.embeddings.maxAbs, g2.maxAbs)]
        guard sizes.allSatisfy({ $0.0.isFinite && $0.1.isFinite }) else { return nil }
        let exponents = sizes.filter { $0.0 > 0 && $0.1 > 0 }.map { Int($0.0.exponent) + Int($0.1.exponent) + 2 }
        guard let top = exponents.max() else { return nil }
        let d = Double(max(first.dimension, second.dimension)), k = Double(first.labelCount)
        let e = top + Int(Foundation.log2(2 * d * k.squareRoot()).rounded(.up)) - 498
        // Scaled up (e < 0) only where the largest logit is a normal number: below 2⁻¹⁰⁰⁰ the
        // blocks, formed before the scaling, have lost their digits.
        guard e != 0, top > -1000 else { return nil }
        let squared = computeLogitStatistics(scalingLogitsBy: -e).logitDistanceSquared
        guard squared.isFinite else { return nil }
        let distance = Double(sign: .plus, exponent: e, significand: squared.squareRoot())
        return distance.isFinite ? (distance, Double(sign: .plus, exponent: 2 * e, significand: squared),
                                    Foundation.log10(squared) + 2 * Double(e) * Foundation.log10(2.0)) : nil
    }

    /// `rescaledLogitDistance()`, computed once per pair.
    public func cachedRescaledLogitDistance() -> (distance: Double, squared: Double, log10Squared: Double)? {
        cache.value("rescaledLogitDistance") { rescaledLogitDistance() }
    }

    /// Whether an entry of F or G of either model lies beyond 2^±100 (`outOfRangeExponent`):
    /// where squares and products of the models' quantities may leave the Double range.
    public var entriesBeyondNormalScale: Bool {
        cache.value("entriesBeyondNormalScale") {
            [first.embeddings, first.unembeddings, second.embeddings, second.unembeddings].contains { $0.outOfRangeExponent != 0 }
        }
    }

    /// Whether some model's nonzero entries of F and of G together span more than 2⁶⁴ in magnitude
    /// (the product of the two spreads: a dot product's terms range over both): there most exact
    /// logits need GMP integers (the terms lie too far apart for Int128), which
    /// `MeasureMemory.exactLevelBytes` counts (an attack's pair with columns 10^±150: 493 bytes
    /// an input and label, against 95–132 for ordinary entries).
    public var entriesSpanWideExponents: Bool {
        cache.value("entriesSpanWideExponents") {
            func spread(_ m: Matrix) -> Double {
                var (low, high) = (Double.infinity, 0.0)
                for x in m.storage where x != 0 { (low, high) = (Swift.min(low, abs(x)), Swift.max(high, abs(x))) }
                return high > 0 ? high / low : 1
            }
            return [first, second].contains { spread($0.embeddings) * spread($0.unembeddings) > 0x1p64 }
        }
    }

    /// Rows per block when whole logit rows are formed: about 2²¹ Doubles (16 MiB).
    func rowsPerBlock() -> Int { max(8, min(512, (1 << 21) / max(first.labelCount, 1))) }

    /// The streamed pass. Rows are split into chunks and labels into column blocks
    /// (`LogitPassPlan`), so each dgemm is a tall chunk × k_b product — the shape in
    /// which OpenBLAS runs near its peak — and a worker holds only two chunk×k_b
    /// blocks. Each row's statistics accumulate across column blocks
    /// (`LogitRowAccumulator`); rows whose KL is flagged as cancelling are
    /// recomputed from whole rows by the cancellation-free kernel.
    ///
    /// The result does not depend on the worker count: the plan is a function of N
    /// and k alone, BLAS runs single-threaded inside the pass whatever the number of
    /// workers (OpenBLAS's threaded dgemm rounds differently from its serial one on
    /// some kernels), each row is written by exactly one chunk, and the sums over
    /// rows run in row order afterwards. `workers` overrides the automatic choice
    /// (tests use it to check that independence).
    ///
    /// `scalingLogitsBy` p: every block of logits times 2^p as it is formed (exact while the
    /// logits stay in the normal range), for `rescaledLogitDistance`.
    func computeLogitStatistics(workers forced: Int? = nil, scalingLogitsBy power: Int = 0) -> LogitStatistics {
        let n = first.inputCount, k = first.labelCount
        let (g1, g2) = centredUnembeddings
        let flops = 2 * Double(n) * Double(k) * Double(first.dimension + second.dimension)
        let plan = LogitPassPlan(inputs: n, labels: k)
        let chunks = plan.chunks, labelBlock = plan.labelBlock
        // Every core when the pass is worth it and no caller's workers are running.
        let workers = min(chunks.count, forced ?? (flops > 5e7 ? BLASThreads.workers(forFlops: flops) : 1))
        let rows = UnsafeMutableBufferPointer<LogitRowStatistics>.allocate(capacity: n)
        defer { rows.deallocate() }
        let output = SendablePointer(rows)
        let work: @Sendable (Int) -> Void = { [first, second] worker in
            var l1: [Double] = [], l2: [Double] = []
            for c in stride(from: worker, to: chunks.count, by: workers) {
                let chunk = chunks[c]
                var accumulators = [LogitRowAccumulator](repeating: LogitRowAccumulator(), count: chunk.count)
                for start in stride(from: 0, to: k, by: labelBlock) {
                    let labels = start..<min(k, start + labelBlock), width = labels.count
                    first.embeddings.rowBlockProduct(rows: chunk, with: g1, otherRows: labels, into: &l1)
                    second.embeddings.rowBlockProduct(rows: chunk, with: g2, otherRows: labels, into: &l2)
                    l1.scale(byPowerOfTwo: power)
                    l2.scale(byPowerOfTwo: power)
                    l1.withUnsafeBufferPointer { p1 in
                        l2.withUnsafeBufferPointer { p2 in
                            for r in 0..<chunk.count {
                                accumulators[r].add(UnsafeBufferPointer(rebasing: p1[(r * width)..<((r + 1) * width)]),
                                                    UnsafeBufferPointer(rebasing: p2[(r * width)..<((r + 1) * width)]))
                            }
                        }
                    }
                }
                for r in 0..<chunk.count { output.buffer[chunk.lowerBound + r] = accumulators[r].statistics }
            }
        }
        BLASThreads.concurrentWorkers(workers, work)
        // Flagged rows in blocks of fixed size (a function of k alone), shared out like the
        // chunks: whole rows, so the cancellation-free kernel sees every label at once.
        let flagged = (0..<n).filter { rows[$0].klABNeedsRecomputation || rows[$0].klBANeedsRecomputation }
        let step = rowsPerBlock()
        let flaggedBlocks = stride(from: 0, to: flagged.count, by: step).map { Array(flagged[$0..<min(flagged.count, $0 + step)]) }
        let recomputeWorkers = max(1, min(workers, flaggedBlocks.count))
        BLASThreads.concurrentWorkers(recomputeWorkers) { [first, second] worker in
            for b in stride(from: worker, to: flaggedBlocks.count, by: recomputeWorkers) {
                let indices = flaggedBlocks[b]
                var l1 = first.embeddings.selectingRows(indices).multiplied(by: g1, transposeOther: true)
                var l2 = second.embeddings.selectingRows(indices).multiplied(by: g2, transposeOther: true)
                l1.storage.scale(byPowerOfTwo: power)
                l2.storage.scale(byPowerOfTwo: power)
                l1.storage.withUnsafeBufferPointer { p1 in
                    l2.storage.withUnsafeBufferPointer { p2 in
                        for (r, i) in indices.enumerated() {
                            // The other statistics are already exact sums over the row's blocks;
                            // only the flagged KL directions are recomputed from the whole rows.
                            output.buffer[i] = withRecomputedKL(output.buffer[i], UnsafeBufferPointer(rebasing: p1[(r * k)..<((r + 1) * k)]),
                                                                UnsafeBufferPointer(rebasing: p2[(r * k)..<((r + 1) * k)]))
                        }
                    }
                }
            }
        }
        let w = weights
        var distance = 0.0, tau1 = 0.0, tau2 = 0.0
        for i in 0..<n {
            distance += w[i] * rows[i].squaredDifference
            tau1 = min(tau1, rows[i].minLogPA)
            tau2 = min(tau2, rows[i].minLogPB)
        }
        return LogitStatistics(logitDistanceSquared: distance, klPerInput: rows.map(\.klAB),
                               reverseKLPerInput: rows.map(\.klBA),
                               logTauPerInput: rows.map { min($0.minLogPA, $0.minLogPB) },
                               logTauFirst: tau1, logTauSecond: tau2, accurateRecomputations: flagged.count,
                               plan: plan, workers: workers, weights: w)
    }
}

/// How the streamed pass cuts the N×k logits into blocks: an even number of chunks of
/// consecutive rows, at most `chunkRowLimit` each (two cores share them evenly), and
/// label blocks of `labelBlock` columns, so a block holds about 2²³ Doubles (64 MiB) at
/// language-model scale. A function of N and k only — never of the worker count — so
/// every dgemm of the pass has the same shape however many workers share the chunks.
public struct LogitPassPlan: Sendable, Equatable {
    public static let chunkRowLimit = 2048
    public let chunkRows: Int
    public let labelBlock: Int
    public let inputs: Int

    public init(inputs n: Int, labels k: Int) {
        inputs = n
        let chunkCount = 2 * ((n + 2 * Self.chunkRowLimit - 1) / (2 * Self.chunkRowLimit))
        chunkRows = max(1, (n + chunkCount - 1) / max(chunkCount, 1))
        labelBlock = max(1, min(k, max(256, (1 << 23) / chunkRows)))
    }

    public var chunks: [Range<Int>] {
        stride(from: 0, to: inputs, by: chunkRows).map { $0..<min(inputs, $0 + chunkRows) }
    }
}

/// A buffer the workers of one pass write at disjoint indices.
struct SendablePointer<T>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<T>
    init(_ buffer: UnsafeMutableBufferPointer<T>) { self.buffer = buffer }
}
