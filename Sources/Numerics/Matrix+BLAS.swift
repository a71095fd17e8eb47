import CBLAS
import CFastKernels
import Dispatch
import Foundation

/// Products on OpenBLAS. Each costs O(m n k) flops.
///
/// OpenBLAS always runs single-threaded here (`BLASThreads`); a large product is cut
/// into blocks whose shapes depend on the product's shape alone (`ProductBlocks`; slices of
/// a long inner dimension, `InnerSlices`), and the blocks are shared out to Swift workers. Every entry is therefore computed by the
/// same dgemm call shape whatever the number of workers or cores: the Doubles depend on
/// the BLAS kernel (the CPU), never on the thread count.
extension Matrix {
    /// op(self) · op(other) with op = transpose when the flag is set (dgemm).
    ///
    /// Shapes must fit; a mismatch is a programming error here. Use
    /// `checkedProduct` where the shapes come from user data.
    public func multiplied(by other: Matrix, transposeSelf: Bool = false,
                           transposeOther: Bool = false) -> Matrix {
        multiplied(by: other, transposeSelf: transposeSelf, transposeOther: transposeOther, workers: nil)
    }

    /// The product with `workers` forced (nil: `BLASThreads.workers(forFlops:)`); the
    /// result does not depend on it (tests use it to check that).
    public func multiplied(by other: Matrix, transposeSelf: Bool, transposeOther: Bool, workers: Int?) -> Matrix {
        let m = transposeSelf ? columns : rows
        let inner = transposeSelf ? rows : columns
        let innerOther = transposeOther ? other.columns : other.rows
        let n = transposeOther ? other.rows : other.columns
        precondition(inner == innerOther, "Matrix product: inner dimensions \(inner) and \(innerOther) differ")
        guard m > 0, n > 0, inner > 0 else { return Matrix(rows: m, columns: n) }
        BLASThreads.ensureSerial()
        let (lda, ldb) = (columns, other.columns)
        // dgemm with β = 0 writes every entry of its block of C, so C is not zeroed beforehand.
        let c = [Double](unsafeUninitializedCapacity: m * n) { c, count in
            let out = SendableBuffer(c)
            storage.withUnsafeBufferPointer { a in
                other.storage.withUnsafeBufferPointer { b in
                    let (pa, pb) = (SendableAddress(a.baseAddress!), SendableAddress(b.baseAddress!))
                    // Rows r and columns q of C over the inner indices l, into `target` (leading
                    // dimension n): op(A)'s rows are A's rows, or its columns when transposed, and its
                    // columns l are A's columns, or its rows; likewise for op(B).
                    let product: @Sendable (Range<Int>, Range<Int>, Range<Int>, UnsafeMutablePointer<Double>) -> Void = { r, q, l, target in
                        let aStart = transposeSelf ? l.lowerBound * lda + r.lowerBound : r.lowerBound * lda + l.lowerBound
                        let bStart = transposeOther ? q.lowerBound * ldb + l.lowerBound : l.lowerBound * ldb + q.lowerBound
                        cblas_dgemm(CblasRowMajor,
                                    transposeSelf ? CblasTrans : CblasNoTrans,
                                    transposeOther ? CblasTrans : CblasNoTrans,
                                    blasint(r.count), blasint(q.count), blasint(l.count), 1.0,
                                    pa.pointer + aStart, blasint(Swift.max(lda, 1)),
                                    pb.pointer + bStart, blasint(Swift.max(ldb, 1)), 0.0,
                                    target, blasint(Swift.max(n, 1)))
                    }
                    // Row block r and column block q of C over the whole inner dimension.
                    let block: @Sendable (Range<Int>, Range<Int>) -> Void = { r, q in
                        product(r, q, 0..<inner, out.buffer.baseAddress! + r.lowerBound * n + q.lowerBound)
                    }
                    if let slices = InnerSlices(rows: m, columns: n, inner: inner) {
                        return slices.sum(into: out.buffer, workers: workers) { product(0..<m, 0..<n, $0, $1) }
                    }
                    guard ProductBlocks.splits(rows: m, columns: n, inner: inner) else { return block(0..<m, 0..<n) }
                    let blocks = ProductBlocks(rows: m, columns: n, inner: inner)
                    BLASThreads.forEachBlock(blocks.count, workers: workers ?? BLASThreads.workers(forFlops: blocks.flops)) { index in
                        let (r, q) = blocks.block(index)
                        block(r, q)
                    }
                }
            }
            count = m * n
        }
        return try! Matrix(rows: m, columns: n, storage: c)
    }

    /// self[rows, :] · other[otherRows, :]ᵀ written into `out` (rows.count ×
    /// otherRows.count, row-major), without copying either block: the streamed
    /// logit blocks F[i…] G̃[y…]ᵀ. Reuses `out`'s storage when its size fits. One
    /// dgemm call, on the calling thread.
    public func rowBlockProduct(rows: Range<Int>, with other: Matrix, otherRows: Range<Int>, into out: inout [Double]) {
        precondition(columns == other.columns, "rowBlockProduct: inner dimensions \(columns) and \(other.columns) differ")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= self.rows && otherRows.lowerBound >= 0
                     && otherRows.upperBound <= other.rows, "rowBlockProduct: row range out of bounds")
        let m = rows.count, n = otherRows.count
        // A smaller block (a pass's last label block) shrinks `out` in place, and a larger one
        // frees it first: assigning a new array while the old one is alive held both, one
        // block more per caller at the pass's end (≈ 120 MB above the estimate, stop 53).
        if out.count > m * n {
            out.removeLast(out.count - m * n)
        } else if out.count < m * n {
            out = []
            out = [Double](repeating: 0, count: m * n)
        }
        guard m > 0, n > 0, columns > 0 else { return }
        BLASThreads.ensureSerial()
        storage.withUnsafeBufferPointer { a in
            other.storage.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { c in
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(m), blasint(n), blasint(columns), 1.0,
                                a.baseAddress! + rows.lowerBound * columns, blasint(columns),
                                b.baseAddress! + otherRows.lowerBound * columns, blasint(columns), 0.0,
                                c.baseAddress, blasint(n))
                }
            }
        }
    }

    /// selfᵀ·other (other given) by one plain cblas_dgemm call, or selfᵀ·self's upper triangle
    /// by one cblas_dsyrk (other nil), into `out` (columns × columns of the result): no blocking,
    /// threaded as OpenBLAS is set. The bench's floor for the d×d Grams; measure's own Grams
    /// have fixed blocks (`gram`, `multiplied(by:transposeSelf:)`).
    public func plainTransposeProduct(_ other: Matrix?, into out: inout [Double]) {
        let n = other?.columns ?? columns
        precondition(other.map { $0.rows == rows } ?? true, "plainTransposeProduct: \(rows) and \(other?.rows ?? 0) rows")
        if out.count != columns * n { out = [Double](repeating: 0, count: columns * n) }
        guard rows > 0, columns > 0, n > 0 else { return }
        BLASThreads.ensureSerial()
        storage.withUnsafeBufferPointer { a in
            out.withUnsafeMutableBufferPointer { c in
                if let other {
                    other.storage.withUnsafeBufferPointer { b in
                        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blasint(columns), blasint(n), blasint(rows), 1.0,
                                    a.baseAddress, blasint(columns), b.baseAddress, blasint(n), 0.0, c.baseAddress, blasint(n))
                    }
                } else {
                    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, blasint(columns), blasint(rows), 1.0,
                                a.baseAddress, blasint(columns), 0.0, c.baseAddress, blasint(columns))
                }
            }
        }
    }

    /// The product, throwing `dimensionMismatch` when the inner dimensions differ.
    public func checkedProduct(_ other: Matrix, operation: String = "product") throws -> Matrix {
        guard columns == other.rows else {
            throw NumericsError.dimensionMismatch(operation: operation, left: shape, right: other.shape)
        }
        return multiplied(by: other)
    }

    /// The Gram matrix selfᵀ·self (d×d for an n×d matrix), symmetric to the last bit.
    /// Column blocks of the result (`GramBlocks`): dsyrk on the diagonal blocks (half
    /// the flops of a general product), dgemm above them, mirrored below; for n ≥ 32·d (and
    /// n·d² ≥ 2·10⁷, d² ≤ 2²¹), one dsyrk per slice of rows (`InnerSlices`), summed. The blocks' shapes depend on the
    /// matrix's shape alone, so the result does not depend on the number of workers.
    public func gram(workers: Int? = nil) -> Matrix {
        let n = columns
        guard n > 0, rows > 0 else { return Matrix(rows: n, columns: n) }
        BLASThreads.ensureSerial()
        var out = Matrix(rows: n, columns: n)
        let ld = blasint(n)
        out.storage.withUnsafeMutableBufferPointer { c in
            let target = SendableBuffer(c)
            storage.withUnsafeBufferPointer { a in
                let pa = SendableAddress(a.baseAddress!)
                // The upper triangle of the diagonal block i over rows l of A, into `corner`.
                let diagonal: @Sendable (Range<Int>, Range<Int>, UnsafeMutablePointer<Double>) -> Void = { i, l, corner in
                    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, blasint(i.count), blasint(l.count),
                                1.0, pa.pointer + l.lowerBound * n + i.lowerBound, ld, 0.0, corner, ld)
                }
                let block: @Sendable (Range<Int>, Range<Int>) -> Void = { i, j in
                    let corner = target.buffer.baseAddress! + i.lowerBound * n + j.lowerBound
                    if i == j {
                        diagonal(i, 0..<rows, corner)
                    } else {
                        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, blasint(i.count), blasint(j.count), blasint(rows),
                                    1.0, pa.pointer + i.lowerBound, ld, pa.pointer + j.lowerBound, ld, 0.0, corner, ld)
                    }
                }
                if let slices = InnerSlices(rows: n, columns: n, inner: rows, flops: Double(rows) * Double(n) * Double(n)) {
                    // Each slice's Gram (rows of A in the slice), its upper triangle, summed.
                    return slices.sum(into: target.buffer, workers: workers) { diagonal(0..<n, $0, $1) }
                }
                guard GramBlocks.splits(rows: rows, columns: n) else { return block(0..<n, 0..<n) }
                let blocks = GramBlocks(rows: rows, columns: n)
                BLASThreads.forEachBlock(blocks.count, workers: workers ?? BLASThreads.workers(forFlops: blocks.flops)) { index in
                    let (i, j) = blocks.block(index)
                    block(i, j)
                }
            }
            for i in 0..<n {
                for j in 0..<i { c[i * n + j] = c[j * n + i] }
            }
        }
        return out
    }

    /// The matrix–vector product selfᵀ · v (dgemv, transposed): one entry per column.
    public func transposedApplied(to v: [Double]) -> [Double] { vectorProduct(v, transposed: true) }

    /// The matrix–vector product self · v (dgemv).
    public func applied(to v: [Double]) -> [Double] { vectorProduct(v, transposed: false) }

    /// selfᵀ·diag(c)·self·v without forming the Gram: for each block of `gramVectorBlock` entries'
    /// rows, u = X_b·v then X_bᵀ·(c_b ∘ u) added in, the block read from memory once for both
    /// dgemv calls (two plain dgemv calls read the whole of a tall X twice). The rows are cut into
    /// at most 8 chunks of at least 4 blocks (a function of the shape alone), each chunk's sum
    /// formed by one worker in block order and the chunks' sums added in chunk order: the bits
    /// depend on the shape and the BLAS kernel, never on the number of workers (`workers` forces
    /// it; tests compare).
    public func weightedGramApplied(to v: [Double], weights c: [Double], workers: Int? = nil) -> [Double] {
        precondition(v.count == columns && c.count == rows, "weighted Gram·vector: lengths \(v.count), \(c.count) for \(rows)×\(columns)")
        guard rows > 0, columns > 0 else { return [Double](repeating: 0, count: columns) }
        BLASThreads.ensureSerial()
        let block = Swift.max(1, Self.gramVectorBlock / columns), n = columns
        let chunks = evenRanges(rows, parts: Swift.min(8, Swift.max(1, rows / (4 * block))))
        let flops = 4 * Double(rows) * Double(columns)
        let sums = storage.withUnsafeBufferPointer { a in
            let pa = SendableAddress(a.baseAddress!)
            return try! BLASThreads.parallelMap(chunks.count, workers: workers ?? BLASThreads.workers(forFlops: flops)) { chunk in
                var out = [Double](repeating: 0, count: n), u = [Double](repeating: 0, count: block)
                for start in stride(from: chunks[chunk].lowerBound, to: chunks[chunk].upperBound, by: block) {
                    let count = Swift.min(block, chunks[chunk].upperBound - start), x = pa.pointer + start * n
                    cblas_dgemv(CblasRowMajor, CblasNoTrans, blasint(count), blasint(n), 1.0, x, blasint(n), v, 1, 0.0, &u, 1)
                    for i in 0..<count { u[i] *= c[start + i] }
                    cblas_dgemv(CblasRowMajor, CblasTrans, blasint(count), blasint(n), 1.0, x, blasint(n), u, 1, 1.0, &out, 1)
                }
                return out
            }
        }
        return sums.dropFirst().reduce(into: sums[0]) { total, sum in for j in 0..<n { total[j] += sum[j] } }
    }

    /// Entries per row block of `weightedGramApplied` (64 Ki Doubles, 512 KiB: within a core's L2).
    static let gramVectorBlock = 1 << 16

    /// op(self) · v by one dgemv, op the transpose when `transposed`.
    private func vectorProduct(_ v: [Double], transposed: Bool) -> [Double] {
        let (inner, outer) = transposed ? (rows, columns) : (columns, rows)
        precondition(v.count == inner, "Matrix·vector: length \(v.count) for \(inner) \(transposed ? "rows" : "columns")")
        var out = [Double](repeating: 0, count: outer)
        guard rows > 0, columns > 0 else { return out }
        BLASThreads.ensureSerial()
        storage.withUnsafeBufferPointer { a in
            cblas_dgemv(CblasRowMajor, transposed ? CblasTrans : CblasNoTrans, blasint(rows), blasint(columns), 1.0,
                        a.baseAddress, blasint(columns), v, 1, 0.0, &out, 1)
        }
        return out
    }
}

/// How a product C = op(A)·op(B) (m×n, inner dimension K) is cut: below about 2·10⁷
/// flops one block; above, up to 8 row blocks of C (or column blocks when C is wider
/// than tall), each of at least 64 rows. A function of (m, n, K) only.
struct ProductBlocks {
    static let parallelFlops = 2e7
    let rowRanges: [Range<Int>]
    let columnRanges: [Range<Int>]
    let flops: Double

    init(rows m: Int, columns n: Int, inner: Int) {
        flops = 2 * Double(m) * Double(n) * Double(inner)
        let split = flops >= Self.parallelFlops
        rowRanges = split && m >= n ? evenRanges(m, parts: Swift.min(8, m / 64)) : [0..<m]
        columnRanges = split && m < n ? evenRanges(n, parts: Swift.min(8, n / 64)) : [0..<n]
    }

    /// Whether the product is cut at all (most products of small models are not: one
    /// dgemm, no bookkeeping).
    @inline(__always)
    static func splits(rows m: Int, columns n: Int, inner: Int) -> Bool {
        2 * Double(m) * Double(n) * Double(inner) >= parallelFlops && Swift.max(m, n) >= 128
    }

    var count: Int { rowRanges.count * columnRanges.count }
    func block(_ index: Int) -> (Range<Int>, Range<Int>) {
        (rowRanges[index / columnRanges.count], columnRanges[index % columnRanges.count])
    }
}

/// How a product whose inner dimension K is long against its m×n result (K ≥ 32·max(m, n) for
/// two slices of at least 16·max(m, n), with at least 2·10⁷ flops and m·n ≤ 2²¹: the
/// unembeddings' Grams and cross products at language-model scale, 768×768 over k = 50 257) is
/// cut instead: into `count` consecutive slices of K, each slice's product into a buffer of its
/// own, the buffers then added in slice order. Cutting the result into blocks there made every
/// block read the whole of one factor again (a 768×768 cross product read G 8 times); the slices
/// read each factor once; and a thin result (d = 50 moments over N = 200 000 inputs), which blocks
/// of the result never cut, goes to both cores. At most 8 slices and 2²² buffered Doubles
/// (32 MiB); nil below 2 slices or below `ProductBlocks.parallelFlops` (`flops`: 2mnK for a
/// product, n²K for a Gram). A function of (m, n, K) only, so the sum does not depend on the
/// number of workers.
struct InnerSlices {
    let ranges: [Range<Int>]
    let flops: Double

    init?(rows m: Int, columns n: Int, inner: Int, flops: Double? = nil) {
        let flops = flops ?? 2 * Double(m) * Double(n) * Double(inner)
        let count = Swift.min(8, inner / (16 * Swift.max(m, n, 1)), (1 << 22) / Swift.max(m * n, 1))
        guard flops >= ProductBlocks.parallelFlops, count >= 2 else { return nil }
        ranges = evenRanges(inner, parts: count)
        self.flops = flops
    }

    /// Each slice's product written by `product(slice, buffer)` (m·n Doubles, every one written,
    /// or, for a Gram, its upper triangle), on up to `workers` workers, summed into `out` in
    /// slice order (entries a slice leaves unwritten are summed too, from zeroed buffers).
    func sum(into out: UnsafeMutableBufferPointer<Double>, workers: Int?,
             _ product: @Sendable (Range<Int>, UnsafeMutablePointer<Double>) -> Void) {
        let size = out.count
        let buffers = UnsafeMutableBufferPointer<Double>.allocate(capacity: size * ranges.count)
        buffers.initialize(repeating: 0)
        defer { buffers.deallocate() }
        let shared = SendableBuffer(buffers), ranges = ranges
        BLASThreads.forEachBlock(ranges.count, workers: workers ?? BLASThreads.workers(forFlops: flops)) { s in
            product(ranges[s], shared.buffer.baseAddress! + s * size)
        }
        for t in 0..<size {
            var total = buffers[t]
            for s in 1..<ranges.count { total += buffers[s * size + t] }
            out[t] = total
        }
    }
}

/// How a Gram AᵀA (n×n, A with N rows) is cut: one dsyrk below about 2·10⁷ flops or
/// for n < 128; above, column blocks of at least 64 (at most 8 of them) and every
/// block pair (i ≤ j) of the upper triangle. A function of (N, n) only.
struct GramBlocks {
    let ranges: [Range<Int>]
    let pairs: [(Int, Int)]
    let flops: Double

    @inline(__always)
    static func splits(rows: Int, columns n: Int) -> Bool {
        Double(rows) * Double(n) * Double(n) >= ProductBlocks.parallelFlops && n >= 128
    }

    init(rows: Int, columns n: Int) {
        flops = Double(rows) * Double(n) * Double(n)
        let parts = Self.splits(rows: rows, columns: n) ? Swift.min(8, n / 64) : 1
        let ranges = evenRanges(n, parts: parts)
        self.ranges = ranges
        pairs = ranges.indices.flatMap { i in (i..<ranges.count).map { (i, $0) } }
    }

    var count: Int { pairs.count }
    func block(_ index: Int) -> (Range<Int>, Range<Int>) { (ranges[pairs[index].0], ranges[pairs[index].1]) }
}

/// 0..<n cut into `parts` (at least 1) consecutive ranges whose lengths differ by at most one.
func evenRanges(_ n: Int, parts: Int) -> [Range<Int>] {
    let p = Swift.max(1, Swift.min(parts, n))
    return (0..<p).map { (n * $0 / p)..<(n * ($0 + 1) / p) }
}

/// A buffer that several workers write at disjoint indices.
struct SendableBuffer: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Double>
    init(_ buffer: UnsafeMutableBufferPointer<Double>) { self.buffer = buffer }
}

/// A read-only address shared by workers.
struct SendableAddress: @unchecked Sendable {
    let pointer: UnsafePointer<Double>
    init(_ pointer: UnsafePointer<Double>) { self.pointer = pointer }
}

/// OpenBLAS's threads, and the Swift workers that replace them.
///
/// OpenBLAS's threaded products round differently from its serial ones on some
/// kernels, and its thread count is one setting for the whole process. So this
/// library sets OpenBLAS to one thread before its first call (`OPENBLAS_NUM_THREADS`
/// has no effect on results) and uses the cores above BLAS: large products and Grams
/// in fixed blocks (`ProductBlocks`, `GramBlocks`), and whole tasks (cases, chunks of
/// rows, students, starts) through `concurrentWorkers` and `parallelMap`. Work split
/// this way gives the same Doubles whatever the number of workers or cores, provided
/// each task's calls have fixed shapes.
public enum BLASThreads {
    private static let serial: Void = { openblas_set_num_threads(1) }()
    private static let regions = RegionCount()

    /// Sets OpenBLAS to one thread, once per process; every BLAS and LAPACK call of
    /// this module is preceded by it.
    @inline(__always)
    public static func ensureSerial() { _ = serial }

    /// OpenBLAS's own thread count (1 once this module has run a product).
    public static var current: Int { Int(openblas_get_num_threads()) }

    /// The kernel OpenBLAS chose for this CPU (or that `OPENBLAS_CORETYPE` forced),
    /// e.g. "Haswell", "SkylakeX": a BLAS call's rounding depends on it.
    public static var kernel: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// The kernel this program chose at load time because OpenBLAS fell back to its generic
    /// Prescott kernels on a CPU that supports better ones (CFastKernels' blas_kernel.c), or
    /// nil where OpenBLAS's own choice or `OPENBLAS_CORETYPE` stands.
    public static var kernelChosenHere: String? { logitbounds_blas_kernel_chosen().map { String(cString: $0) } }

    /// `kernel`, with how it was chosen when this program chose it.
    public static var kernelDescription: String {
        let simulated = logitbounds_blas_fallback_simulated() != 0
            ? " [OpenBLAS put on Prescott first by LOGITBOUNDS_TEST_PRESCOTT_FALLBACK, a test setting]" : ""
        return (kernelChosenHere == nil ? kernel
            : "\(kernel) [chosen by logitbounds where OpenBLAS fell back to Prescott; OPENBLAS_CORETYPE overrides]") + simulated
    }

    /// OpenBLAS's build configuration ("OpenBLAS 0.3.21 DYNAMIC_ARCH …").
    public static var configuration: String { openblas_get_config().map { String(cString: $0) } ?? "unknown" }

    /// The cores this process may use (at most 64).
    public static var cores: Int { Swift.max(1, Swift.min(64, ProcessInfo.processInfo.activeProcessorCount)) }

    /// Workers for one piece of work of this many flops: the calling thread plus every
    /// core no running worker occupies, when the work is large enough to pay for threads,
    /// else one. (Only the speed depends on it: a product's blocks are the same.)
    public static func workers(forFlops flops: Double) -> Int {
        guard flops >= ProductBlocks.parallelFlops else { return 1 }
        return Swift.max(1, cores - Swift.max(regions.active - 1, 0))
    }

    /// Runs `body` with OpenBLAS's own threading set to `threads` (restored to one
    /// afterwards): only for measuring OpenBLAS itself (`bench`); results computed
    /// inside depend on the thread count.
    public static func withOpenBLASThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
        ensureSerial()
        openblas_set_num_threads(Int32(Swift.max(1, threads)))
        defer { openblas_set_num_threads(1) }
        return try body()
    }

    /// Runs `work(0)`, …, `work(workers − 1)` on concurrent threads (one worker runs
    /// inline). While they run, products started elsewhere use only the cores they leave
    /// free, so the cores are not oversubscribed.
    public static func concurrentWorkers(_ workers: Int, _ work: @Sendable (Int) -> Void) {
        ensureSerial()
        regions.enter(Swift.max(workers, 1))
        defer { regions.leave(Swift.max(workers, 1)) }
        if workers > 1 {
            DispatchQueue.concurrentPerform(iterations: workers, execute: work)
        } else {
            work(0)
        }
    }

    /// `body(0)`, …, `body(count − 1)` shared out to `workers` concurrent workers
    /// (each takes the next index when it is free), results in index order; the
    /// error of the lowest failing index is rethrown.
    public static func parallelMap<T: Sendable>(_ count: Int, workers: Int,
                                                _ body: @Sendable (Int) throws -> T) throws -> [T] {
        try parallelMap(count, workers: workers, state: {}) { i, _ in try body(i) }
    }

    /// `body(0)` and `body(1)`, one computation for each of two sides (two models' embeddings),
    /// on two workers when `flops` pays for threads; the same values either way when each side
    /// runs serial BLAS.
    public static func bothSides<T: Sendable>(flops: Double, _ body: @Sendable (Int) throws -> T) throws -> (T, T) {
        let results = try parallelMap(2, workers: workers(forFlops: flops), body)
        return (results[0], results[1])
    }

    /// `parallelMap` with a value each worker keeps from one index to the next (made once per
    /// worker by `state`): scratch reused across indices. Results are in index order, so they do
    /// not depend on which worker took which index.
    public static func parallelMap<T: Sendable, State>(_ count: Int, workers: Int, state: @Sendable () -> State,
                                                       _ body: @Sendable (Int, inout State) throws -> T) throws -> [T] {
        let results = IndexedResults<T>(count)
        concurrentWorkers(Swift.max(1, Swift.min(workers, count))) { _ in
            var local = state()
            while let i = results.nextIndex() { results.set(i, Result { try body(i, &local) }) }
        }
        return try results.values.map { try $0!.get() }
    }

    /// `body(0)`, …, `body(count − 1)` on up to `workers` workers, each taking the next
    /// index when free; inline when one worker or one block.
    static func forEachBlock(_ count: Int, workers: Int, _ body: @Sendable (Int) -> Void) {
        guard count > 1, workers > 1 else {
            for i in 0..<count { body(i) }
            return
        }
        let next = IndexCounter()
        concurrentWorkers(Swift.min(workers, count)) { _ in
            while let i = next.take(below: count) { body(i) }
        }
    }
}

/// How many workers `concurrentWorkers` regions are running now.
private final class RegionCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func enter(_ workers: Int) { lock.lock(); count += workers; lock.unlock() }
    func leave(_ workers: Int) { lock.lock(); count -= workers; lock.unlock() }
    var active: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// The next index to hand out, under a lock.
private final class IndexCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    func take(below count: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}

/// Results written by index from several threads, and the next index to hand out.
private final class IndexedResults<T>: @unchecked Sendable {
    private var slots: [Result<T, any Error>?]
    private let counter = IndexCounter()
    private let lock = NSLock()
    /// The slot count, fixed: read without the lock (reading `slots.count` while another
    /// thread writes a slot is a data race, which ThreadSanitizer reports).
    private let count: Int

    init(_ count: Int) { slots = Array(repeating: nil, count: count); self.count = count }

    func nextIndex() -> Int? { counter.take(below: count) }
    func set(_ i: Int, _ r: Result<T, any Error>) { lock.lock(); slots[i] = r; lock.unlock() }
    var values: [Result<T, any Error>?] { lock.lock(); defer { lock.unlock() }; return slots }
}
