import Foundation
import Numerics

/// d_logit², KL both ways, log τ of both models and T6's per-input sums as fast
/// enclosures, from one streamed pass over blocks of rows: each block's logits come from
/// one dgemm per model, P = fl(F_blk Gᵀ), with the a priori bound of Proofs/certificates.md
/// §4 on every entry, and each row is reduced to five enclosures at once (`Row`). Nothing
/// N×k is kept, so it runs at any size in memory flat in N; the sums are raw-weighted
/// (Σ wᵢ·termᵢ and Σ wᵢ), so shards add (`adding`) and a merge divides once (`mean`).
///
/// Each logit's error bound is either
/// - `.absoluteProducts`: γ_d/(1 − γ_d)·Q + 2dη with Q = fl(|F||G|ᵀ) by a second dgemm
///   (the tightest; twice the products' cost; rows by midpoint and radius too, with the row's
///   largest bound as the radius, where they come out within 2⁻³⁰), or
/// - `.norms`: γ_d/(1 − γ_d)·‖f‖‖g‖ + 2dη with the row norms bounded above once per row
///   (Cauchy–Schwarz, Σ|f_j g_j| ≤ ‖f‖‖g‖; §4 "Logits by norms"): no second product, and
///   rows reduced by midpoint and radius (`MidpointRow`), so the pass costs about the
///   screen's (1.3× its logit pass at language-model shape).
/// `automatic` takes the first when N·k·(d₁ + d₂) ≤ 2·10⁸ (where the products are cheap
/// and near-ties are common: the harness's pairs), the second above.
///
/// Blocks' shapes depend on N and k alone and the block sums are added in block order,
/// so the result does not depend on the number of workers.
public struct FastLogitSums: Sendable, Equatable {
    public enum ProductBound: String, Sendable, Codable { case absoluteProducts = "absolute products", norms }

    /// One input's enclosures: ‖C(Λ₁ − Λ₂)‖², KL_x(M₁‖M₂), KL_x(M₂‖M₁), log τ_x of each model.
    public struct Row: Sendable, Equatable {
        public var distanceSquared: FastInterval
        public var klFirstSecond: FastInterval
        public var klSecondFirst: FastInterval
        public var logTauFirst: FastInterval
        public var logTauSecond: FastInterval
        /// Whether the interval kernel formed it (the midpoint pass could not: models near
        /// each other, logits too wide), rather than the midpoint pass.
        public var refined = true
        /// A lower bound on log KL_x(M₁‖M₂) where KL_x's enclosure reaches 0 (KL_x below the
        /// Double range: logits near 10⁹ a fraction apart), from two labels (`RowKernel.logKLLower`);
        /// −∞ elsewhere.
        public var logKLFirstSecondLower = -Double.infinity
    }

    public private(set) var rows = 0
    /// Σ wᵢ (raw weights; the row count when uniform).
    public private(set) var weightTotal = FastInterval.zero
    /// Σ wᵢ ‖C(Λ₁ᵢ − Λ₂ᵢ)‖², Σ wᵢ KL_xᵢ(M₁‖M₂), Σ wᵢ KL_xᵢ(M₂‖M₁).
    public private(set) var distanceSquared = FastInterval.zero
    public private(set) var klFirstSecond = FastInterval.zero
    public private(set) var klSecondFirst = FastInterval.zero
    /// T6's per-input sums Σ wᵢ KL_xᵢ(M₁‖M₂)/τ_xᵢ² and Σ wᵢ 2KL_xᵢ(M₁‖M₂)/τ_xᵢ, with
    /// τ_x = min(τ_x(M₁), τ_x(M₂)) (an upper end may be +∞ when τ_x is below ~10⁻¹⁵⁴).
    public private(set) var perInputT6 = FastInterval.zero
    public private(set) var perInputT6Sharp = FastInterval.zero
    /// Lower bounds on log perInputT6 and log perInputT6Sharp (each sum is at least its largest
    /// term), from the rows whose 1/τ_x² leaves the Double range, where the sums saturate at
    /// the largest Double: the report then shows the right side from its logarithm. −∞ when
    /// no such row was added.
    public private(set) var perInputT6LogLower = -Double.infinity
    public private(set) var perInputT6SharpLogLower = -Double.infinity
    /// A lower bound on log Σ wᵢ KL_xᵢ(M₁‖M₂) (its largest term) from the rows whose KL enclosure
    /// reaches 0 (`Row.logKLFirstSecondLower`), where the sum's own lower end may be 0; −∞ when
    /// there are none.
    public private(set) var klFirstSecondLogLower = -Double.infinity
    /// min over rows of log τ_x of each model (+∞ for no rows).
    public private(set) var logTauFirst = FastInterval(.infinity)
    public private(set) var logTauSecond = FastInterval(.infinity)
    public private(set) var productBound = ProductBound.norms
    /// Rows formed by the interval kernel rather than the midpoint pass (`Row.refined`).
    public private(set) var refinedRows = 0

    public init(productBound: ProductBound) { self.productBound = productBound }

    /// The weighted mean Σ wᵢ·termᵢ / Σ wᵢ of a sum.
    public func mean(_ sum: FastInterval) -> FastInterval { sum / weightTotal }
    public var logitDistanceSquared: FastInterval { mean(distanceSquared) }

    /// Adds one row of weight `weight` (an enclosure: a scaled weight the scaling rounded).
    mutating func add(_ r: Row, weight: FastInterval) {
        rows += 1
        if r.refined { refinedRows += 1 }
        weightTotal = weightTotal + weight
        distanceSquared = distanceSquared + weight * r.distanceSquared
        klFirstSecond = klFirstSecond + weight * r.klFirstSecond
        klSecondFirst = klSecondFirst + weight * r.klSecondFirst
        let logTau = FastInterval.min(r.logTauFirst, r.logTauSecond)
        let weighted = weight * r.klFirstSecond
        perInputT6 = perInputT6 + weighted * (FastInterval(-2) * logTau).exp
        perInputT6Sharp = perInputT6Sharp + FastInterval(2) * weighted * (-logTau).exp
        // τ_x below e^{−350}: a term near or beyond the Double range; its logarithm, from
        // enclosures of log w, log KL_x and log τ_x (no exponential), bounds the sum's from below.
        if r.logKLFirstSecondLower > -.infinity, weight.lo > 0 {
            klFirstSecondLogLower = Swift.max(klFirstSecondLogLower, (weight.log + FastInterval(r.logKLFirstSecondLower)).lo)
        }
        if logTau.lo < -350, weight.lo > 0,
           case let logKL = r.klFirstSecond.lo > 0 ? Swift.max(FastInterval(r.klFirstSecond.lo).log.lo, r.logKLFirstSecondLower) : r.logKLFirstSecondLower,
           logKL > -.infinity {
            let logTerm = weight.log + FastInterval(logKL)
            perInputT6LogLower = max(perInputT6LogLower, (logTerm + FastInterval(-2) * logTau).lo)
            perInputT6SharpLogLower = max(perInputT6SharpLogLower, (logTerm + FastInterval(2).log - logTau).lo)
        }
        logTauFirst = FastInterval.min(logTauFirst, r.logTauFirst)
        logTauSecond = FastInterval.min(logTauSecond, r.logTauSecond)
    }

    /// The sums over both sets of rows (shards of one pair), added in interval arithmetic.
    public func adding(_ o: FastLogitSums) -> FastLogitSums {
        var s = self
        s.rows += o.rows
        s.refinedRows += o.refinedRows
        s.weightTotal = weightTotal + o.weightTotal
        s.distanceSquared = distanceSquared + o.distanceSquared
        s.klFirstSecond = klFirstSecond + o.klFirstSecond
        s.klSecondFirst = klSecondFirst + o.klSecondFirst
        s.perInputT6 = perInputT6 + o.perInputT6
        s.perInputT6Sharp = perInputT6Sharp + o.perInputT6Sharp
        s.perInputT6LogLower = max(perInputT6LogLower, o.perInputT6LogLower)
        s.perInputT6SharpLogLower = max(perInputT6SharpLogLower, o.perInputT6SharpLogLower)
        s.klFirstSecondLogLower = max(klFirstSecondLogLower, o.klFirstSecondLogLower)
        s.logTauFirst = FastInterval.min(logTauFirst, o.logTauFirst)
        s.logTauSecond = FastInterval.min(logTauSecond, o.logTauSecond)
        return s
    }

    /// Every raw-weighted sum (the weight total included) times `factor` > 0, enclosed (log τ
    /// unchanged): the means are unchanged. A merge scales shards by one power of two so that
    /// totals each finite but together beyond the Double range still add.
    public func scaled(by factor: Double) -> FastLogitSums {
        guard factor != 1 else { return self }
        var s = self
        let f = FastInterval(factor)
        s.weightTotal = weightTotal * f
        s.distanceSquared = distanceSquared * f
        s.klFirstSecond = klFirstSecond * f
        s.klSecondFirst = klSecondFirst * f
        s.perInputT6 = perInputT6 * f
        s.perInputT6Sharp = perInputT6Sharp * f
        let logFactor = f.log.lo
        s.perInputT6LogLower = perInputT6LogLower + logFactor
        s.perInputT6SharpLogLower = perInputT6SharpLogLower + logFactor
        s.klFirstSecondLogLower = klFirstSecondLogLower + logFactor
        return s
    }

    /// The row count, the sixteen interval ends, the bound, the refined-row count and the three
    /// logarithms' lower bounds (the two per-input sums', KL's), in a fixed order (a measure
    /// partial stores them bit for bit); `init(stored:)` reads them back.
    public var stored: [Double] {
        [Double(rows)] + [weightTotal, distanceSquared, klFirstSecond, klSecondFirst, perInputT6, perInputT6Sharp, logTauFirst, logTauSecond]
            .flatMap { [$0.lo, $0.hi] }
            + [productBound == .norms ? 1 : 0, Double(refinedRows), perInputT6LogLower, perInputT6SharpLogLower, klFirstSecondLogLower]
    }

    /// Sums read back from `stored`; nil when the array is not 22 values (or 19, written before
    /// the logarithms were stored: then −∞) with ordered, non-NaN ends, counts 0 ≤ refined ≤ rows,
    /// and each logarithm's lower bound below +∞ and at most the log of its sum's upper end (a
    /// term is at most the sum of nonnegative terms).
    public init?(stored v: [Double]) {
        guard v.count == 19 || v.count == 22, v[0] >= 0, v[0] == v[0].rounded(), v[0] < 0x1p52, !v.contains(where: \.isNaN),
              v[18] >= 0, v[18] <= v[0], v[18] == v[18].rounded() else { return nil }
        let intervals = stride(from: 1, to: 17, by: 2).map { FastInterval(lo: v[$0], hi: v[$0 + 1]) }
        guard intervals.allSatisfy({ $0.lo <= $0.hi }), v[17] == 0 || v[17] == 1 else { return nil }
        let logLowers = v.count == 22 ? (v[19], v[20], v[21]) : (-Double.infinity, -Double.infinity, -Double.infinity)
        for (logLower, sum) in [(logLowers.0, intervals[4]), (logLowers.1, intervals[5]), (logLowers.2, intervals[2])] where logLower > -.infinity {
            guard logLower < .infinity, sum.hi > 0, !(sum.hi.isFinite && logLower > FastInterval(sum.hi).log.hi) else { return nil }
        }
        rows = Int(v[0])
        refinedRows = Int(v[18])
        (weightTotal, distanceSquared, klFirstSecond, klSecondFirst) = (intervals[0], intervals[1], intervals[2], intervals[3])
        (perInputT6, perInputT6Sharp, logTauFirst, logTauSecond) = (intervals[4], intervals[5], intervals[6], intervals[7])
        (perInputT6LogLower, perInputT6SharpLogLower, klFirstSecondLogLower) = logLowers
        productBound = v[17] == 1 ? .norms : .absoluteProducts
    }

    /// Where stored sums (a partial's) contradict one another for a pair with `k` labels, what
    /// they contradict; nil when consistent. Genuine sums always are: each enclosure holds its true
    /// value, and the true values obey, with τ_x ≤ 1/k (the least of k probabilities) and τ_x ≥ τ_min
    /// (the least over rows, whose log the log τ intervals bound below),
    ///   Σ w·KL_x/τ_x² ∈ [k²·Σ w·KL_x, Σ w·KL_x/τ_min²],  Σ 2w·KL_x/τ_x ∈ [2k·Σ w·KL_x, 2Σ w·KL_x/τ_min],
    /// log τ_min ≤ −log k, and each logarithm's lower bound at most the log of its sum's upper
    /// bound. A forged partial with per-input sums of [0, 1] merged into a certified violation.
    public func inconsistency(labels k: Int) -> String? {
        let kl = klFirstSecond, labels = FastInterval(Double(k))
        let logTauMin = Swift.min(logTauFirst.lo, logTauSecond.lo)
        if rows > 0, logTauMin > (-labels.log).hi { return "log τ ≥ \(logTauMin) lies above −log k: some probability of k would exceed 1/k" }
        guard kl.hi >= 0, perInputT6.hi >= 0, perInputT6Sharp.hi >= 0 else { return "a sum of nonnegative terms has a negative upper end" }
        let inverseTau = FastInterval(-logTauMin).exp
        for (name, sum, power, logLower) in [("Σ w·KL_x/τ_x²", perInputT6, 2.0, perInputT6LogLower),
                                              ("Σ 2w·KL_x/τ_x", perInputT6Sharp, 1.0, perInputT6SharpLogLower)] {
            let scale = power == 2 ? FastInterval(1) : FastInterval(2)
            let least = (scale * FastInterval(kl.lo) * (power == 2 ? labels.squared : labels)).lo
            if sum.hi < least { return "\(name) ≤ \(sum.hi) lies below its least value \(least) given Σ w·KL_x ≥ \(kl.lo)" }
            let most = (scale * FastInterval(kl.hi) * (power == 2 ? inverseTau.squared : inverseTau)).hi
            if sum.lo > most { return "\(name) ≥ \(sum.lo) lies above its largest value \(most) given Σ w·KL_x and τ" }
            if logLower > -.infinity, kl.hi > 0 {
                let logMost = (scale.log + FastInterval(kl.hi).log - FastInterval(power) * FastInterval(logTauMin)).hi
                if logLower > logMost { return "the logarithm \(logLower) of \(name)'s largest term exceeds its largest value \(logMost) given Σ w·KL_x and τ" }
            }
        }
        return nil
    }

    /// The bound `automatic` chooses for a pair of this size.
    public static func automaticBound(_ pair: ModelPair) -> ProductBound {
        automaticBound(inputs: pair.first.inputCount, labels: pair.first.labelCount, dimensions: pair.first.dimension + pair.second.dimension)
    }

    /// The same from the sizes (a shard passes the whole pair's N).
    public static func automaticBound(inputs n: Int, labels k: Int, dimensions d: Int) -> ProductBound {
        Double(n) * Double(k) * Double(d) <= 2e8 ? .absoluteProducts : .norms
    }
}

extension FastLogitSums {
    /// The pass over `pair`'s rows, each weighted by `rawWeights[i]` (nil: the pair's given
    /// weights scaled by a power of two to the largest, `scaledWeightEnclosures`, so that weights
    /// near 10³⁰⁸ do not overflow the sums; the means are unchanged). nil when a logit or its bound is not finite (the logits overflow).
    /// `workers` forces the worker count (the result does not depend on it).
    public static func compute(_ pair: ModelPair, rawWeights: [Double]? = nil, bound: ProductBound? = nil,
                               workers forced: Int? = nil) -> FastLogitSums? {
        let n = pair.first.inputCount, k = pair.first.labelCount
        let bound = bound ?? automaticBound(pair)
        let weights = rawWeights.map { $0.map(FastInterval.init) } ?? FastLogitDistance.scaledWeightEnclosures(pair.first.givenWeights)
        precondition(weights.count == n, "FastLogitSums: \(weights.count) weights for N = \(n)")
        let sides = Side.both(pair, bound: bound)
        let block = rowsPerBlock(inputs: n, labels: k)
        let blocks = (n + block - 1) / block
        let flops = 2 * Double(n) * Double(k) * Double(pair.first.dimension + pair.second.dimension) * (bound == .norms ? 1 : 2)
        let workers = min(blocks, forced ?? min(workerLimit(rowsPerBlock: block, labels: k, bound: bound),
                                                (flops > 5e7 ? BLASThreads.workers(forFlops: flops) : 1)))
        let parts = try? BLASThreads.parallelMap(blocks, workers: workers, state: { BlockBuffers() }) { b, buffers -> FastLogitSums? in
            let range = (b * block)..<min(n, (b + 1) * block)
            var sums = FastLogitSums(productBound: bound)
            guard let rows = blockRows(sides, range, buffers: &buffers) else { return nil }
            for (i, r) in zip(range, rows) { sums.add(r, weight: weights[i]) }
            return sums
        }
        guard let parts, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.reduce(FastLogitSums(productBound: bound)) { $0.adding($1!) }
    }

    /// Rows per block, a function of N and k alone. Each block's dgemm packs all of G again, so
    /// a block holds up to 2²⁵ logits (256 MiB) per model where that is at least 320 rows: at
    /// k = 50 257, blocks of 83 rows spent 12 % of the pass copying G, 333 rows (2²⁴ logits) cut
    /// the certified pass by about 17 % (notes/benchmarks.md, stop 43), and 667 rows by a further
    /// 0.22–0.31 s for 150 MB more resident on two workers (notes/benchmarks.md, stop 51; 1 024
    /// rows were slower). Otherwise about 2²² logits (32 MiB) per model, as before (2²⁵ there
    /// would mean 33 rows and 0.5 GiB of buffers per worker at k = 10⁶); at most 1 024 rows and
    /// at least 8. `compute` caps the workers so that their buffers stay within a quarter of
    /// the machine's memory.
    package static func rowsPerBlock(inputs n: Int, labels k: Int) -> Int {
        let k = max(k, 1), rows = (1 << 25) / k
        return max(8, min(1024, rows >= 320 ? rows : (1 << 22) / k))
    }

    /// The most workers whose block buffers (both models' products, and with absolute products
    /// their Q too) fit in a quarter of the memory this process may use (`MachineMemory`: a
    /// control group's limit where one is set), at least one: each worker keeps
    /// its own (0.5 GiB at k = 50 257), so a many-core host would otherwise hold gigabytes.
    /// Only the speed depends on it (the result does not depend on the worker count).
    static func workerLimit(rowsPerBlock rows: Int, labels k: Int, bound: ProductBound) -> Int {
        let bytes = Double(rows) * Double(k) * 8 * 2 * (bound == .absoluteProducts ? 2 : 1)
        let memory = (try? MachineMemory.bytes()) ?? Double(ProcessInfo.processInfo.physicalMemory)
        return max(1, Int(min(memory / 4 / max(bytes, 1), 1e6)))
    }

    /// The largest of a row's entry bounds e = ((c·Q)⁺ + 2dη)⁺, which rise with Q: one radius for
    /// every logit of the row (`underflow` = 2dη); +∞ when an entry of Q is not finite.
    static func rowRadius(_ q: ArraySlice<Double>, factor: Double, underflow: Double) -> Double {
        var largest = 0.0
        for x in q {
            guard x.isFinite else { return .infinity }
            largest = Swift.max(largest, x)
        }
        return ((factor * largest).nextUp + underflow).nextUp
    }

    /// Each row's enclosures (for checks against MPFR on small pairs); nil as `compute`.
    public static func rowEnclosures(_ pair: ModelPair, bound: ProductBound? = nil) -> [Row]? {
        return blockRows(Side.both(pair, bound: bound ?? automaticBound(pair)), 0..<pair.first.inputCount)
    }

    /// One model's operands: F, G, and per bound |G| or the row norms' upper bounds.
    struct Side: Sendable {
        let f: Matrix, g: Matrix
        let absoluteG: Matrix?
        let gNorms: [Double]
        /// max_y ‖g_y‖↑ (norms bound): one radius bound for a whole row of logits.
        let largestGNorm: Double
        /// max_y |g_yj| for each column j (norms bound): Σ_j|f_j|·max_y|g_yj| bounds Σ_j|f_j g_yj|
        /// for every label at once, and a column scaling of the model (F's column ×2ᵖ, G's ×2⁻ᵖ:
        /// the same logits) leaves it as it is, where ‖f‖·‖g‖ grows 2ᵖ-fold.
        let gColumnMaxima: [Double]
        let factor: Double
        let underflow: Double
        init(_ model: SoftmaxModel, bound: ProductBound) {
            (f, g) = (model.embeddings, model.unembeddings)
            absoluteG = bound == .absoluteProducts ? g.absoluteValues : nil
            gNorms = bound == .norms ? FastMath.rowNormUpperBounds(g) : []
            largestGNorm = gNorms.max() ?? .infinity
            gColumnMaxima = bound == .norms ? g.columnMaxima : []
            factor = FastMath.productErrorFactor(f.columns)
            underflow = Double(2 * f.columns) * Double.leastNonzeroMagnitude
        }

        /// Both models' sides; their row-norm bounds (k·d each, 3.9·10⁷ entries at
        /// language-model shape) on two cores when they are large.
        static func both(_ pair: ModelPair, bound: ProductBound) -> [Side] {
            let large = Double(pair.first.labelCount) * Double(pair.first.dimension + pair.second.dimension) > 1e6
            return (try? BLASThreads.parallelMap(2, workers: large ? 2 : 1) { Side($0 == 0 ? pair.first : pair.second, bound: bound) })
                ?? [pair.first, pair.second].map { Side($0, bound: bound) }
        }
    }

    /// A worker's product buffers, reused from block to block: a block's products are up to
    /// 256 MiB per model (`rowsPerBlock`; twice that with absolute products, which only pairs of
    /// N·k·(d₁ + d₂) ≤ 2·10⁸ use), and fresh ones for every block cost their zero fill and page
    /// faults.
    struct BlockBuffers {
        var p: [[Double]] = [[], []], q: [[Double]] = [[], []]
    }

    /// The enclosures of rows `range`, one dgemm per model (two with absolute products):
    /// each row by the midpoint pass where it is tight, else by the interval kernel.
    static func blockRows(_ sides: [Side], _ range: Range<Int>) -> [Row]? {
        var buffers = BlockBuffers()
        return blockRows(sides, range, buffers: &buffers)
    }

    /// The same, the products written into `buffers` (and left there for the next block).
    static func blockRows(_ sides: [Side], _ range: Range<Int>, buffers: inout BlockBuffers) -> [Row]? {
        let block = Block(sides, range, reusing: &buffers)
        defer { buffers = BlockBuffers(p: block.p, q: block.q) }
        let kernel = RowKernel(labels: block.k)
        defer { kernel.deallocate() }
        var out: [Row] = []
        out.reserveCapacity(range.count)
        for r in 0..<range.count {
            if let row = block.midpointRow(r, scratch: kernel) {
                out.append(row)
                continue
            }
            block.fill(r, kernel)
            guard let row = kernel.row() else { return nil }
            out.append(row)
        }
        return out
    }

    /// Every logit's enclosure, row-major N×k per model (for checks on small pairs).
    public static func logitEnclosures(_ pair: ModelPair, bound: ProductBound) -> (first: [FastInterval], second: [FastInterval]) {
        let block = Block([pair.first, pair.second].map { Side($0, bound: bound) }, 0..<pair.first.inputCount)
        let kernel = RowKernel(labels: block.k)
        defer { kernel.deallocate() }
        var first: [FastInterval] = [], second: [FastInterval] = []
        for r in 0..<pair.first.inputCount {
            block.fill(r, kernel)
            for y in 0..<kernel.k { first.append(kernel.logit(0, y)); second.append(kernel.logit(1, y)) }
        }
        return (first, second)
    }

    /// A block of rows' products: P = fl(F_blk Gᵀ) per model, and Q = fl(|F_blk||G|ᵀ) or the
    /// rows' c·‖f‖ bounds. Entry (i, y) is [P − e, P + e] pushed out one Double,
    /// e = fl↑(fl↑(c·t) + 2dη) with c = γ_d/(1 − γ_d) and t = Q_iy (absolute products) or
    /// the smaller of fl↑(‖f_i‖↑·‖g_y‖↑) and Σ_j|f_ij|·max_y|g_yj| pushed up (norms).
    struct Block {
        let sides: [Side]
        let k: Int
        var p: [[Double]] = [[], []], q: [[Double]] = [[], []]
        var fNorms: [[Double]] = [[], []]
        /// fl↑(c·Σ_j|f_ij|·max_y|g_yj|) per row (norms): one bound for every label of the row.
        var columnBounds: [[Double]] = [[], []]

        /// The products of rows `range` in arrays of their own.
        init(_ sides: [Side], _ range: Range<Int>) {
            var buffers = BlockBuffers()
            self.init(sides, range, reusing: &buffers)
        }

        /// The products of rows `range`, written into `buffers`' arrays, which the block takes
        /// (so that it holds their only references and the products overwrite them in place).
        init(_ sides: [Side], _ range: Range<Int>, reusing buffers: inout BlockBuffers) {
            self.sides = sides
            k = sides[0].g.rows
            (p, q) = (buffers.p, buffers.q)
            buffers = BlockBuffers()
            for s in 0..<2 {
                let f = sides[s].f, d = f.columns
                f.rowBlockProduct(rows: range, with: sides[s].g, otherRows: 0..<k, into: &p[s])
                let rows = try! Matrix(rows: range.count, columns: d, storage: Array(f.storage[(range.lowerBound * d)..<(range.upperBound * d)]))
                if let absoluteG = sides[s].absoluteG {
                    rows.absoluteValues.rowBlockProduct(rows: 0..<range.count, with: absoluteG, otherRows: 0..<k, into: &q[s])
                } else {
                    fNorms[s] = FastMath.rowNormUpperBounds(rows).map { (sides[s].factor * $0).nextUp }
                    columnBounds[s] = Self.columnBounds(rows, sides[s].gColumnMaxima).map { (sides[s].factor * $0).nextUp }
                }
            }
        }

        /// Σ_j|x_ij|·m_j for each row, every product and sum rounded to nearest and pushed up one
        /// Double: at least the exact sum (nonnegative terms; Proofs/certificates.md §4, "Logits by
        /// norms"). +∞ where it overflows, which the smaller-of-two then passes over.
        static func columnBounds(_ x: Matrix, _ m: [Double]) -> [Double] {
            (0..<x.rows).map { i in
                var sum = 0.0
                for j in 0..<x.columns { sum = (sum + (abs(x[i, j]) * m[j]).nextUp).nextUp }
                return sum
            }
        }

        /// Row r's logit enclosures into the kernel's buffers.
        func fill(_ r: Int, _ kernel: RowKernel) {
            for s in 0..<2 {
                let side = sides[s]
                let (lo, hi) = s == 0 ? (kernel.lo1, kernel.hi1) : (kernel.lo2, kernel.hi2)
                let base = r * k
                for y in 0..<k {
                    let raw = side.absoluteG != nil ? (side.factor * q[s][base + y]).nextUp
                        : min((fNorms[s][r] * side.gNorms[y]).nextUp, columnBounds[s][r])
                    let e = (raw + side.underflow).nextUp
                    let v = p[s][base + y]
                    lo[y] = (v - e).nextDown
                    hi[y] = (v + e).nextUp
                }
            }
        }

        /// One radius per model and row: |Λ_y − P_y| ≤ R for every label (at least each entry's
        /// bound in `fill`, which rises with Q_y; NaN or +∞ when a bound is not finite).
        func radius(model s: Int, row r: Int) -> Double {
            let side = sides[s]
            guard side.absoluteG != nil else {
                return (min((fNorms[s][r] * side.largestGNorm).nextUp, columnBounds[s][r]) + side.underflow).nextUp
            }
            return FastLogitSums.rowRadius(q[s][(r * k)..<((r + 1) * k)], factor: side.factor, underflow: side.underflow)
        }

        /// The midpoint pass on row r: nil where its enclosures are not tight, and the interval
        /// kernel takes the row. With absolute products (small pairs, near-ties common) the
        /// radius is the row's largest entry bound and "tight" means a relative width of
        /// 2⁻³⁰, not 2⁻²⁰, so that the row's enclosures stay about as narrow as the kernel's —
        /// up to one summation block of labels: beyond it the kernel's k outward-rounded
        /// additions leave it wider than the midpoint pass's blocked sums (at k = 10⁶, 4·10⁻⁶
        /// relative against 10⁻⁸–10⁻⁷), and 2⁻²⁰ holds as under norms.
        func midpointRow(_ r: Int, scratch: RowKernel) -> Row? {
            let radii = (0..<2).map { radius(model: $0, row: r) }
            guard radii.allSatisfy({ $0.isFinite }) else { return nil }
            let relativeWidth = sides[0].absoluteG == nil || k > MidpointRow.block
                ? RowKernel.directRelativeWidth : RowKernel.absoluteProductsMidpointWidth
            return p[0].withUnsafeBufferPointer { p1 in
                p[1].withUnsafeBufferPointer { p2 in
                    MidpointRow.reduce(p1.baseAddress! + r * k, p2.baseAddress! + r * k, labels: k, radii: (radii[0], radii[1]),
                                       relativeWidth: relativeWidth, scratch: scratch)
                }
            }
        }
    }
}

/// One row's reduction from its logit enclosures [loₛ, hiₛ] (s = 1, 2), in buffers reused
/// across the rows of a block: three passes over the labels (a fourth only where a KL's
/// direct sum is too wide), one exp kernel call per logit (`FastMath.expEnclosure`) and
/// the conditionals by multiplication with enclosed reciprocals. See `row()`.
final class RowKernel {
    let k: Int
    let lo1, hi1, lo2, hi2: UnsafeMutableBufferPointer<Double>
    /// exp(Λ − m) enclosed, per model.
    let a1lo, a1hi, a2lo, a2hi: UnsafeMutableBufferPointer<Double>

    /// Step 6's constants for this k (the midpoint rows' d_logit²).
    let distanceConstants: MidpointRow.DistanceConstants?

    init(labels k: Int) {
        self.k = k
        distanceConstants = MidpointRow.DistanceConstants(labels: k)
        func buffer() -> UnsafeMutableBufferPointer<Double> {
            let b = UnsafeMutableBufferPointer<Double>.allocate(capacity: k)
            b.initialize(repeating: 0)
            return b
        }
        (lo1, hi1, lo2, hi2) = (buffer(), buffer(), buffer(), buffer())
        (a1lo, a1hi, a2lo, a2hi) = (buffer(), buffer(), buffer(), buffer())
    }

    func deallocate() { for b in [lo1, hi1, lo2, hi2, a1lo, a1hi, a2lo, a2hi] { b.deallocate() } }

    @inline(__always) func logit(_ s: Int, _ y: Int) -> FastInterval {
        s == 0 ? FastInterval(lo: lo1[y], hi: hi1[y]) : FastInterval(lo: lo2[y], hi: hi2[y])
    }

    /// p_y = exp(Λ_y − m)·(1/S) ∩ [0, 1], with 1/S enclosed by `reciprocal`.
    @inline(__always) static func probability(_ lo: Double, _ hi: Double, _ reciprocal: (lo: Double, hi: Double)) -> FastInterval {
        FastInterval(lo: Swift.max((lo * reciprocal.lo).nextDown, 0), hi: Swift.min((hi * reciprocal.hi).nextUp, 1))
    }

    /// The direct sum's enclosure is kept when its width is at most this share of its upper
    /// end; otherwise the variance form (Proofs/certificates.md §5) is formed and intersected.
    static let directRelativeWidth = 0x1p-20

    /// How tight a row by midpoints must be under absolute products (the harness's small
    /// pairs, whose near-ties the kernel's narrower enclosures decide): 2⁻³⁰ relative.
    static let absoluteProductsMidpointWidth = 0x1p-30

    /// The row's five enclosures from the logit buffers; nil when an end is not finite.
    func row() -> FastLogitSums.Row? {
        // Pass 1: finiteness, the largest upper ends, the least ends (τ), Σ(Λ₁ − Λ₂).
        var m1 = -Double.infinity, m2 = -Double.infinity
        var minLo1 = Double.infinity, minHi1 = Double.infinity, minLo2 = Double.infinity, minHi2 = Double.infinity
        var total = FastInterval.zero
        for y in 0..<k {
            guard lo1[y].isFinite, hi1[y].isFinite, lo2[y].isFinite, hi2[y].isFinite else { return nil }
            (m1, m2) = (Swift.max(m1, hi1[y]), Swift.max(m2, hi2[y]))
            (minLo1, minHi1, minLo2, minHi2) = (Swift.min(minLo1, lo1[y]), Swift.min(minHi1, hi1[y]), Swift.min(minLo2, lo2[y]), Swift.min(minHi2, hi2[y]))
            total = total + (logit(0, y) - logit(1, y))
        }
        let mean = total / FastInterval(Double(k))
        // Pass 2: exp(Λ − m) of both models and their sums S; ‖C(Λ₁ − Λ₂)‖² = Σ (c_y − c̄)².
        var s1 = FastInterval.zero, s2 = FastInterval.zero, distance = FastInterval.zero
        for y in 0..<k {
            let e1 = FastMath.expEnclosure((lo1[y] - m1).nextDown, (hi1[y] - m1).nextUp)
            let e2 = FastMath.expEnclosure((lo2[y] - m2).nextDown, (hi2[y] - m2).nextUp)
            (a1lo[y], a1hi[y], a2lo[y], a2hi[y]) = (e1.lo, e1.hi, e2.lo, e2.hi)
            s1 = s1 + FastInterval(lo: e1.lo, hi: e1.hi)
            s2 = s2 + FastInterval(lo: e2.lo, hi: e2.hi)
            distance = distance + (logit(0, y) - logit(1, y) - mean).squared
        }
        // lse = m + log S, and lse ≥ max_y lo_y (Σ e^Λ ≥ e^{max Λ}) — the lower end that remains
        // when S's lower end underflows (logits so wide, |Λ| ≳ 10¹⁷, that exp(lo − m) < η);
        // then 1/S is bounded above by +∞ and the conditionals by 1.
        guard s1.hi.isFinite, s2.hi.isFinite else { return nil }
        func lse(_ m: Double, _ s: FastInterval, _ lo: UnsafeMutableBufferPointer<Double>) -> FastInterval {
            let upper = (FastInterval(m) + s.log).hi, floor = lo.reduce(-Double.infinity, Swift.max)
            return FastInterval(lo: s.lo > 0 ? Swift.max((FastInterval(m) + s.log).lo, floor) : floor, hi: upper)
        }
        let lse1 = lse(m1, s1, lo1), lse2 = lse(m2, s2, lo2)
        func reciprocal(_ s: FastInterval) -> (lo: Double, hi: Double) { ((1 / s.hi).nextDown, s.lo > 0 ? (1 / s.lo).nextUp : .infinity) }
        let r1 = reciprocal(s1), r2 = reciprocal(s2)
        // Pass 3: KL's direct sums both ways, Σ p(Λ₁ − Λ₂ − (lse₁ − lse₂)) and
        // Σ q(Λ₂ − Λ₁ − (lse₂ − lse₁)); centres c ≈ E δ for the variance form; δ's range.
        let shift = lse1 - lse2
        var direct12 = FastInterval.zero, direct21 = FastInterval.zero
        var c12 = 0.0, c21 = 0.0, dLo = Double.infinity, dHi = -Double.infinity
        for y in 0..<k {
            let p = Self.probability(a1lo[y], a1hi[y], r1), q = Self.probability(a2lo[y], a2hi[y], r2)
            let d = logit(0, y) - logit(1, y), t = d - shift
            direct12 = direct12 + FastInterval.nonNegativeTimes(p, t)
            direct21 = direct21 - FastInterval.nonNegativeTimes(q, t)
            c12 -= p.midpoint * d.midpoint
            c21 += q.midpoint * d.midpoint
            (dLo, dHi) = (Swift.min(dLo, d.lo), Swift.max(dHi, d.hi))
        }
        direct12 = direct12.clampedNonNegative
        direct21 = direct21.clampedNonNegative
        func tight(_ x: FastInterval) -> Bool { MidpointRow.tight(x, Self.directRelativeWidth) }
        let refine12 = !tight(direct12) && c12.isFinite, refine21 = !tight(direct21) && c21.isFinite
        guard refine12 || refine21 else {
            return row(distance, direct12, direct21, FastInterval(lo: minLo1, hi: minHi1) - lse1, FastInterval(lo: minLo2, hi: minHi2) - lse2)
        }
        // Pass 4, where needed: E(δ − c), E(δ − c)² and E(δ − c)³ under p (δ = Λ₂ − Λ₁) and
        // under q (δ = Λ₁ − Λ₂), for the variance form (KL within ½e^{∓osc}·Var, §5) and the
        // third-order form.
        var second12 = FastInterval.zero, first12 = FastInterval.zero, third12 = FastInterval.zero
        var second21 = FastInterval.zero, first21 = FastInterval.zero, third21 = FastInterval.zero
        let centre12 = FastInterval(c12), centre21 = FastInterval(c21)
        for y in 0..<k {
            let d = logit(0, y) - logit(1, y)
            if refine12 {
                let p = Self.probability(a1lo[y], a1hi[y], r1), centred = -d - centre12, square = centred.squared
                second12 = second12 + FastInterval.nonNegativeTimes(p, square)
                first12 = first12 + FastInterval.nonNegativeTimes(p, centred)
                third12 = third12 + FastInterval.nonNegativeTimes(p, square * centred)
            }
            if refine21 {
                let q = Self.probability(a2lo[y], a2hi[y], r2), centred = d - centre21, square = centred.squared
                second21 = second21 + FastInterval.nonNegativeTimes(q, square)
                first21 = first21 + FastInterval.nonNegativeTimes(q, centred)
                third21 = third21 + FastInterval.nonNegativeTimes(q, square * centred)
            }
        }
        // osc = max δ − min δ is the same both ways (δ = ±(Λ₁ − Λ₂)).
        let osc = FastInterval(dHi) - FastInterval(dLo), half = FastInterval(0.5)
        func varianceForm(_ second: FastInterval, _ first: FastInterval) -> FastInterval {
            let variance = (second - first.squared).clampedNonNegative
            return FastInterval(lo: (half * (-osc).exp * variance).lo, hi: (half * osc.exp * second).hi)
        }
        func refined(_ direct: FastInterval, _ second: FastInterval, _ first: FastInterval, _ third: FastInterval) -> FastInterval {
            let variance = Self.intersect(direct, varianceForm(second, first))
            let third = Self.thirdOrderKL(second: second, first: first, third: third, oscillation: osc)
            return third.lo.isFinite && third.hi.isFinite ? Self.intersect(variance, third) : variance
        }
        var result = row(distance, refine12 ? refined(direct12, second12, first12, third12) : direct12,
                         refine21 ? refined(direct21, second21, first21, third21) : direct21,
                         FastInterval(lo: minLo1, hi: minHi1) - lse1, FastInterval(lo: minLo2, hi: minHi2) - lse2)
        if !(result.klFirstSecond.lo > 0) { result.logKLFirstSecondLower = logKLLower(lse: lse1, oscillation: osc) }
        return result
    }

    /// A lower bound on log KL_x(p‖q), p the first model's conditional, from any two labels y ≠ z
    /// (Proofs/certificates.md §5, "Below the Double range"): KL ≥ ½e^{−osc}·Var_p(δ) and
    /// Var_p(δ) ≥ p_y p_z/(p_y + p_z)·(δ_y − δ_z)² ≥ ½ min(p_y, p_z)·(δ_y − δ_z)², so
    ///   log KL ≥ log ¼ − osc + min(log p_y, log p_z) + 2 log|δ_y − δ_z|,
    /// with log p_y = Λ_y − lse enclosed (no exponential: it holds where p_y underflows). z is the
    /// label of the largest lower logit end, y the best other. −∞ when no pair has δ_y ≠ δ_z
    /// certainly. One pass over the labels, on rows whose KL enclosure reaches 0.
    func logKLLower(lse: FastInterval, oscillation osc: FastInterval) -> Double {
        var z = 0
        for y in 1..<k where lo1[y] > lo1[z] { z = y }
        let logPz = FastInterval(lo1[z]) - lse, dz = logit(0, z) - logit(1, z)
        var best = -Double.infinity
        for y in 0..<k where y != z {
            let gap = logit(0, y) - logit(1, y) - dz
            let magnitude = gap.lo > 0 ? gap.lo : (gap.hi < 0 ? -gap.hi : 0)
            guard magnitude > 0 else { continue }
            let logP = Swift.min((FastInterval(lo1[y]) - lse).lo, logPz.lo)
            best = Swift.max(best, (FastInterval(logP) + FastInterval(2) * FastInterval(magnitude).log).lo)
        }
        guard best > -.infinity else { return best }
        return (FastInterval(0.25).log - FastInterval(osc.hi) + FastInterval(best)).lo
    }

    /// KL_x enclosed to third order (Proofs/certificates.md §5, "Third order"): from the
    /// moments E(δ − c)ʲ, j = 1, 2, 3, under p about any c, and osc ≥ max δ − min δ,
    ///   KL = κ₂/2 + κ₃/6 + R,  |R| ≤ osc⁴/192,
    /// κ₂ = E(δ − c)² − a², κ₃ = E(δ − c)³ − 3a·E(δ − c)² + 2a³, a = E(δ − c). Where the
    /// variance form's factors e^{±osc} leave a relative width of about osc, this leaves
    /// about osc². `remainderScale` < 1 plants a bound too small (the tests show it caught).
    static func thirdOrderKL(second: FastInterval, first a: FastInterval, third: FastInterval, oscillation osc: FastInterval,
                             remainderScale: Double = 1) -> FastInterval {
        let remainder = remainderScale * (osc.squared.squared / FastInterval(192)).hi
        let k2 = (second - a.squared).clampedNonNegative
        let k3 = third - FastInterval(3) * a * second + FastInterval(2) * a * a.squared
        return FastInterval(0.5) * k2 + k3 / FastInterval(6) + FastInterval(lo: -remainder, hi: remainder)
    }

    func row(_ distance: FastInterval, _ kl12: FastInterval, _ kl21: FastInterval, _ tau1: FastInterval, _ tau2: FastInterval) -> FastLogitSums.Row {
        // log τ_x = min_y log p_y = min_y Λ_y − lse.
        FastLogitSums.Row(distanceSquared: distance, klFirstSecond: kl12, klSecondFirst: kl21, logTauFirst: tau1, logTauSecond: tau2)
    }

    /// The intersection of two enclosures of one value; never empty when both are sound
    /// (if it were, their hull: an error widens a verdict, never decides it).
    static func intersect(_ a: FastInterval, _ b: FastInterval) -> FastInterval {
        let lo = Swift.max(a.lo, b.lo), hi = Swift.min(a.hi, b.hi)
        return lo <= hi ? FastInterval(lo: lo, hi: hi) : FastInterval(lo: Swift.min(a.lo, b.lo), hi: Swift.max(a.hi, b.hi))
    }
}

extension ModelPair {
    /// The streamed fast enclosures of the pair's logit statistics under its weights,
    /// computed once (`FastLogitSums.compute`); nil when the logits overflow.
    public func fastLogitSums() -> FastLogitSums? {
        cache.value("fastLogitSums") { FastLogitSums.compute(self) }
    }
}
