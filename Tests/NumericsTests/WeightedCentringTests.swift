import Foundation
import Numerics
import Testing

@Suite("Weighted centring in two passes where an offset needs them")
struct WeightedCentringTests {
    static func weights(_ n: Int, using g: inout SeededGenerator) -> [Double] {
        let raw = (0..<n).map { _ in g.uniform(in: 0.1...1) }
        let total = raw.reduce(0, +)
        return raw.map { $0 / total }
    }

    /// Columns whose mean is within 16 times their spread take one pass: the same scalar
    /// operations as `subtractingFromRows` then `scalingRows`, so the same bits.
    @Test("Without an offset: one pass, the bits of subtracting the mean and scaling the rows")
    func onePass() throws {
        var g = SeededGenerator(seed: 5)
        let x = g.gaussianMatrix(rows: 300, columns: 7) + Matrix(rows: 300, columns: 7, repeating: 3)
        let w = Self.weights(300, using: &g), root = w.map { $0.squareRoot() }
        let centring = WeightedCentring(x, weights: w, rowFactors: root)
        #expect(!centring.corrected.contains(true))
        #expect(centring.centred == x.subtractingFromRows(x.weightedRowMean(w)).scalingRows(by: root))
        // The rounding scale is the uncentred norm there.
        let raw = x.scalingRows(by: root).frobeniusNormSquared
        #expect(abs(centring.roundingScaleSquared - raw) <= 1e-12 * raw && abs(centring.uncentredSquared - raw) <= 1e-12 * raw)
    }

    /// Around an offset 10¹² times the spread, one pass leaves each column's mean off by about
    /// γ_N of the offset; two leave it within about γ_N of the spread, and the rounding scale
    /// is the spread's.
    @Test("Around a large offset: the second pass leaves each column's weighted mean within N·ε of its spread")
    func twoPasses() throws {
        var g = SeededGenerator(seed: 6)
        let (n, d) = (5_000, 6)
        let z = g.gaussianMatrix(rows: n, columns: d)
        let x = Matrix(rows: n, columns: d) { i, j in 1e6 + 1e-6 * z[i, j] }
        let w = Self.weights(n, using: &g)
        let centring = WeightedCentring(x, weights: w)
        let onePass = x.subtractingFromRows(x.weightedRowMean(w))
        #expect(centring.corrected == Array(repeating: true, count: d))
        var checked = 0
        for j in 0..<d {
            let spread = centring.spreadSquared[j].squareRoot()
            // Each mean summed exactly enough (Kahan–Babuška) that its own rounding is far below both.
            func mean(_ m: Matrix) -> Double {
                var (sum, c) = (0.0, 0.0)
                for i in 0..<n { let t = w[i] * m[i, j], s = sum + t; c += abs(sum) >= abs(t) ? (sum - s) + t : (t - s) + sum; sum = s }
                return sum + c
            }
            #expect(abs(mean(centring.centred)) <= Double(n) * Double.ulpOfOne * spread, "column \(j): mean \(mean(centring.centred)) for a spread \(spread)")
            #expect(abs(mean(onePass)) > 1e3 * Double(n) * Double.ulpOfOne * spread, "the premise: one pass leaves \(mean(onePass))")
            checked += 1
        }
        #expect(checked == d)
        #expect(centring.roundingScaleSquared <= 1.01 * centring.spreadSquared.reduce(0, +))
    }

    /// Constant columns (every input at one point) centre to at most γ_N of the first pass's
    /// rounding of the mean: zero variance at the rounding scale.
    @Test("Constant columns: within N·ε of the rounding scale, which is itself the first pass's rounding")
    func constantColumns() throws {
        var g = SeededGenerator(seed: 7)
        let n = 999
        let x = Matrix(rows: n, columns: 3) { _, j in [0.1, 3e5, -7.3][j] }
        let w = Self.weights(n, using: &g)
        let centring = WeightedCentring(x, weights: w, rowFactors: w.map { $0.squareRoot() })
        let floor = Double(n) * Double.ulpOfOne
        #expect(centring.centred.frobeniusNormSquared <= floor * floor * centring.roundingScaleSquared)
        #expect(centring.roundingScaleSquared <= 1e-20 * centring.uncentredSquared)
    }
}
