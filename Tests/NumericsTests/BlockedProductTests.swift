import CBLAS
@testable import Numerics
import Testing

/// Products and Grams are cut into blocks whose shapes depend on the product's shape
/// alone (`ProductBlocks`, `GramBlocks`), so the worker count cannot change a single
/// bit; and each block is a BLAS call, so the result is within the a priori bound
/// |fl(AB) − AB| ≤ γ_K |A||B| of the exact product (γ_K = Kε/(1 − Kε)).
@Suite("Blocked products and Grams: independent of the worker count, within γ_K|A||B|")
struct BlockedProductTests {
    /// Checks every entry of `c` against the product computed by a plain loop in
    /// `Double` (itself within γ_K|A||B|), allowing twice the bound.
    func expectNearNaive(_ c: Matrix, _ a: Matrix, _ b: Matrix) {
        let k = a.columns, gamma = Double(k) * Double.ulpOfOne / (1 - Double(k) * Double.ulpOfOne)
        var worst = 0.0
        for i in stride(from: 0, to: a.rows, by: 7) {
            for j in stride(from: 0, to: b.columns, by: 5) {
                var sum = 0.0, absolute = 0.0
                for t in 0..<k {
                    sum += a[i, t] * b[t, j]
                    absolute += abs(a[i, t] * b[t, j])
                }
                worst = max(worst, abs(c[i, j] - sum) / (2 * gamma * absolute))
            }
        }
        #expect(worst <= 1, "worst error over 2γ_K|A||B|: \(worst)")
    }

    /// op(A)·op(B) for every pair of transposes on 1 worker and on each of `workers`: the same
    /// Doubles, and near the naive product. Returns the comparisons made.
    func expectWorkerIndependentProducts(_ a: Matrix, _ b: Matrix, workers: [Int]) -> Int {
        var compared = 0
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let left = ta ? a.transposed : a, right = tb ? b.transposed : b
            let serial = left.multiplied(by: right, transposeSelf: ta, transposeOther: tb, workers: 1)
            for count in workers {
                let same = left.multiplied(by: right, transposeSelf: ta, transposeOther: tb, workers: count) == serial
                #expect(same, "\(a.rows)×\(b.columns)×\(a.columns), transposes \(ta) \(tb), \(count) workers")
                compared += 1
            }
            expectNearNaive(serial, a, b)
        }
        return compared
    }

    /// AᵀA on 1 worker and on each of `workers`: the same Doubles, symmetric, near the naive
    /// product. Returns the comparisons made.
    func expectWorkerIndependentGram(_ a: Matrix, workers: [Int]) -> Int {
        let serial = a.gram(workers: 1)
        for count in workers {
            let same = a.gram(workers: count) == serial
            #expect(same, "Gram of \(a.rows)×\(a.columns), \(count) workers")
        }
        let symmetric = serial == serial.transposed
        #expect(symmetric)
        expectNearNaive(serial, a.transposed, a)
        return workers.count
    }

    @Test("A product above the block threshold: the same Doubles on 1, 2, 3 and 5 workers, every transpose")
    func productWorkers() {
        var g = SeededGenerator(seed: 3101)
        var compared = 0
        for (m, n, k) in [(700, 300, 100), (90, 1500, 200)] {
            let a = g.gaussianMatrix(rows: m, columns: k), b = g.gaussianMatrix(rows: k, columns: n)
            let blocks = ProductBlocks(rows: m, columns: n, inner: k)
            #expect(blocks.count > 1, "\(m)×\(n)×\(k) should be cut into blocks")
            compared += expectWorkerIndependentProducts(a, b, workers: [2, 3, 5])
        }
        #expect(compared == 24)
    }

    @Test("A Gram above the block threshold: the same Doubles on 1, 2 and 4 workers, symmetric, within γ_N|A|ᵀ|A|")
    func gramWorkers() {
        var g = SeededGenerator(seed: 3102)
        var compared = 0
        for (rows, columns) in [(2_000, 200), (300, 700), (50, 40)] {
            compared += expectWorkerIndependentGram(g.gaussianMatrix(rows: rows, columns: columns), workers: [2, 4])
        }
        #expect(GramBlocks(rows: 2_000, columns: 200).count == 6)
        #expect(GramBlocks(rows: 50, columns: 40).count == 1)
        #expect(compared == 6)
    }

    /// A long inner dimension (K ≥ 32·max(m, n)) is cut into slices whose products are summed in
    /// slice order (`InnerSlices`): the unembeddings' cross products and Grams at language-model
    /// scale, and thin results over many inputs, which blocks of the result never cut.
    @Test("Products and Grams over a long inner dimension, summed in slices: the same Doubles on 1, 2 and 3 workers, every transpose, within γ_K|A||B|")
    func innerSlices() {
        var g = SeededGenerator(seed: 3103)
        var compared = 0
        // Inner dimensions that the slices do not divide evenly.
        for (m, n, k, count) in [(130, 140, 9_001, 4), (20, 30, 30_003, 8)] {
            #expect(InnerSlices(rows: m, columns: n, inner: k)?.ranges.count == count, "\(m)×\(n)×\(k)")
            compared += expectWorkerIndependentProducts(g.gaussianMatrix(rows: m, columns: k), g.gaussianMatrix(rows: k, columns: n), workers: [2, 3])
        }
        for (rows, columns, count) in [(5_001, 150, 2), (60_003, 20, 8)] {
            #expect(InnerSlices(rows: columns, columns: columns, inner: rows, flops: Double(rows * columns * columns))?.ranges.count == count)
            compared += expectWorkerIndependentGram(g.gaussianMatrix(rows: rows, columns: columns), workers: [2, 3])
        }
        // The sliced path is the one taken: the product equals, bit for bit, each slice's dgemm
        // (the same call: offsets into A and B, their leading dimensions) added in slice order.
        let (m, n, k) = (130, 140, 9_001)
        let a = g.gaussianMatrix(rows: m, columns: k), b = g.gaussianMatrix(rows: k, columns: n)
        let slices = InnerSlices(rows: m, columns: n, inner: k)!.ranges
        var expected = [Double](repeating: 0, count: m * n), part = expected
        for (index, slice) in slices.enumerated() {
            a.storage.withUnsafeBufferPointer { pa in
                b.storage.withUnsafeBufferPointer { pb in
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(slice.count), 1.0,
                                pa.baseAddress! + slice.lowerBound, blasint(k), pb.baseAddress! + slice.lowerBound * n, blasint(n),
                                0.0, &part, blasint(n))
                }
            }
            for t in 0..<(m * n) { expected[t] = index == 0 ? part[t] : expected[t] + part[t] }
        }
        let sliced = a.multiplied(by: b, transposeSelf: false, transposeOther: false, workers: 2).storage == expected
        #expect(sliced, "the product is not the slices' sum in slice order")
        // Short inner dimensions, small products: no slices.
        #expect(InnerSlices(rows: 700, columns: 300, inner: 100) == nil && InnerSlices(rows: 20, columns: 30, inner: 1_000) == nil)
        #expect(compared == 20)
    }

    @Test("Block shapes are a function of the product's shape: even ranges covering every row once")
    func blockShapes() {
        for (n, parts) in [(10, 3), (7, 7), (5, 9), (1000, 8), (1, 1)] {
            let ranges = evenRanges(n, parts: parts)
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == n)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            let lengths = ranges.map(\.count)
            #expect(lengths.max()! - lengths.min()! <= 1 && ranges.count == min(parts, n))
        }
    }

    /// The streamed pass reuses one buffer per model through its label blocks; its last block is
    /// narrower. Assigning a new array there held both blocks at once (≈ 120 MB above the memory
    /// estimate at N = 2 000, k = 50 000): a narrower block now keeps the buffer's storage.
    @Test("rowBlockProduct: the blocks' values, and a narrower block written into the same storage")
    func rowBlocksReuseTheirBuffer() {
        var g = SeededGenerator(seed: 53)
        let f = g.gaussianMatrix(rows: 9, columns: 4), u = g.gaussianMatrix(rows: 11, columns: 4)
        let whole = f.multiplied(by: u, transposeOther: true)
        var out: [Double] = [], blocks = 0
        var address: UnsafeMutableRawPointer?
        for (labels, rows) in [(0..<5, 2..<8), (5..<10, 2..<8), (10..<11, 2..<8), (0..<11, 0..<9)] {
            f.rowBlockProduct(rows: rows, with: u, otherRows: labels, into: &out)
            #expect(out.count == rows.count * labels.count)
            for (r, i) in rows.enumerated() {
                for (c, j) in labels.enumerated() {
                    #expect(abs(out[r * labels.count + c] - whole[i, j]) <= 1e-12 * (1 + abs(whole[i, j])))
                }
            }
            let here = out.withUnsafeMutableBufferPointer { UnsafeMutableRawPointer($0.baseAddress) }
            if labels == 10..<11 { #expect(here == address, "the narrower last block moved to new storage") }
            address = here
            blocks += 1
        }
        #expect(blocks == 4)
    }
}
