import CBLAS
import Dispatch
import Foundation

/// Products on OpenBLAS. Each costs O(m n k) flops; OpenBLAS threading is set by
/// `BLASThreads`.
extension Matrix {
    /// op(self) · op(other) with op = transpose when the flag is set (dgemm).
    ///
    /// Shapes must fit; a mismatch is a programming error here. Use
    /// `checkedProduct` where the shapes come from user data.
    public func multiplied(by other: Matrix, transposeSelf: Bool = false,
                           transposeOther: Bool = false) -> Matrix {
        let m = transposeSelf ? columns : rows
        let inner = transposeSelf ? rows : columns
        let innerOther = transposeOther ? other.columns : other.rows
        let n = transposeOther ? other.rows : other.columns
        precondition(inner == innerOther, "Matrix product: inner dimensions \(inner) and \(innerOther) differ")
        guard m > 0, n > 0, inner > 0 else { return Matrix(rows: m, columns: n) }
        let (lda, ldb) = (columns, other.columns)
        // dgemm with β = 0 writes every entry of C, so C is not zeroed beforehand.
        let c = [Double](unsafeUninitializedCapacity: m * n) { c, count in
            storage.withUnsafeBufferPointer { a in
                other.storage.withUnsafeBufferPointer { b in
                    cblas_dgemm(CblasRowMajor,
                                transposeSelf ? CblasTrans : CblasNoTrans,
                                transposeOther ? CblasTrans : CblasNoTrans,
                                blasint(m), blasint(n), blasint(inner), 1.0,
                                a.baseAddress, blasint(Swift.max(lda, 1)),
                                b.baseAddress, blasint(Swift.max(ldb, 1)), 0.0,
                                c.baseAddress, blasint(Swift.max(n, 1)))
                }
            }
            count = m * n
        }
        return try! Matrix(rows: m, columns: n, storage: c)
    }

    /// self[rows, :] · other[otherRows, :]ᵀ written into `out` (rows.count ×
    /// otherRows.count, row-major), without copying either block: the streamed
    /// logit blocks F[i…] G̃[y…]ᵀ. Reuses `out`'s storage when its size fits.
    public func rowBlockProduct(rows: Range<Int>, with other: Matrix, otherRows: Range<Int>, into out: inout [Double]) {
        precondition(columns == other.columns, "rowBlockProduct: inner dimensions \(columns) and \(other.columns) differ")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= self.rows && otherRows.lowerBound >= 0
                     && otherRows.upperBound <= other.rows, "rowBlockProduct: row range out of bounds")
        let m = rows.count, n = otherRows.count
        if out.count != m * n { out = [Double](repeating: 0, count: m * n) }
        guard m > 0, n > 0, columns > 0 else { return }
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

    /// The product, throwing `dimensionMismatch` when the inner dimensions differ.
    public func checkedProduct(_ other: Matrix, operation: String = "product") throws -> Matrix {
        guard columns == other.rows else {
            throw NumericsError.dimensionMismatch(operation: operation, left: shape, right: other.shape)
        }
        return multiplied(by: other)
    }

    /// The Gram matrix selfᵀ·self (d×d for an n×d matrix), by dsyrk: half the
    /// flops of a general product, symmetric to the last bit.
    public func gram() -> Matrix {
        let n = columns
        var out = Matrix(rows: n, columns: n)
        guard n > 0, rows > 0 else { return out }
        storage.withUnsafeBufferPointer { a in
            out.storage.withUnsafeMutableBufferPointer { c in
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, blasint(n), blasint(rows),
                            1.0, a.baseAddress, blasint(n), 0.0, c.baseAddress, blasint(n))
            }
        }
        for i in 0..<n {
            for j in 0..<i { out.storage[i * n + j] = out.storage[j * n + i] }
        }
        return out
    }

    /// The matrix–vector product self · v (dgemv).
    public func applied(to v: [Double]) -> [Double] {
        precondition(v.count == columns, "Matrix·vector: length \(v.count) for \(columns) columns")
        var out = [Double](repeating: 0, count: rows)
        guard rows > 0, columns > 0 else { return out }
        storage.withUnsafeBufferPointer { a in
            cblas_dgemv(CblasRowMajor, CblasNoTrans, blasint(rows), blasint(columns), 1.0,
                        a.baseAddress, blasint(columns), v, 1, 0.0, &out, 1)
        }
        return out
    }
}

/// Control of OpenBLAS's own thread pool, so that parallel work in Swift does not
/// oversubscribe the cores: call `BLASThreads.set(1)` before running several
/// BLAS-heavy tasks at once, and `BLASThreads.set(cores)` for one large product.
/// `OPENBLAS_NUM_THREADS` in the environment sets the starting value.
public enum BLASThreads {
    public static func set(_ count: Int) {
        openblas_set_num_threads(Int32(Swift.max(1, count)))
    }

    public static var current: Int { Int(openblas_get_num_threads()) }

    /// Runs `work(0)`, …, `work(workers − 1)` on concurrent threads with OpenBLAS
    /// pinned to one thread meanwhile (restored afterwards), so Swift workers and
    /// BLAS threads do not oversubscribe the cores. One worker runs inline with
    /// BLAS threading untouched.
    public static func concurrentWorkers(_ workers: Int, _ work: @Sendable (Int) -> Void) {
        guard workers > 1 else { work(0); return }
        let previous = current
        set(1)
        defer { set(previous) }
        DispatchQueue.concurrentPerform(iterations: workers, execute: work)
    }

    /// `body(0)`, …, `body(count − 1)` shared out to `workers` concurrent workers
    /// (each takes the next index when it is free), results in index order; the
    /// error of the lowest failing index is rethrown.
    public static func parallelMap<T: Sendable>(_ count: Int, workers: Int,
                                                _ body: @Sendable (Int) throws -> T) throws -> [T] {
        let results = IndexedResults<T>(count)
        concurrentWorkers(Swift.max(1, Swift.min(workers, count))) { _ in
            while let i = results.nextIndex() { results.set(i, Result { try body(i) }) }
        }
        return try results.values.map { try $0!.get() }
    }
}

/// Results written by index from several threads, and the next index to hand out.
private final class IndexedResults<T>: @unchecked Sendable {
    private var slots: [Result<T, any Error>?]
    private var next = 0
    private let lock = NSLock()

    init(_ count: Int) { slots = Array(repeating: nil, count: count) }

    func nextIndex() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < slots.count else { return nil }
        next += 1
        return next - 1
    }

    func set(_ i: Int, _ r: Result<T, any Error>) { lock.lock(); slots[i] = r; lock.unlock() }
    var values: [Result<T, any Error>?] { lock.lock(); defer { lock.unlock() }; return slots }
}
