@testable import Numerics
import Testing

/// `ModularRank`: a lower bound on the rank over ℚ, proved equal to it at min(rows, columns).
/// Each against the exact rank, inertia₊(XᵀX) in rationals.
@Suite("Ranks modulo a prime")
struct ModularRankTests {
    static func exactRank(_ x: Matrix) throws -> Int {
        let r = try RationalMatrix(exactly: x)
        return try r.transposed.multiplied(by: r).symmetricInertia().positive
    }

    /// X = AB with A rows×r and B r×columns of small integers (products exact in Double), then
    /// its rows and columns scaled by powers of two from 2⁻¹⁰⁷⁰ (subnormal) to 2⁹⁰⁰: the same rank.
    static func matrix(rows: Int, columns: Int, rank r: Int, spread: Bool, _ g: inout SeededGenerator) throws -> Matrix {
        let a = Matrix(rows: rows, columns: r) { _, _ in Double(Int(g.uniform() * 17) - 8) }
        let b = Matrix(rows: r, columns: columns) { _, _ in Double(Int(g.uniform() * 17) - 8) }
        var x = a.multiplied(by: b)
        guard spread else { return x }
        let rowPowers = (0..<rows).map { _ in Int(g.uniform() * 1200) - 600 }
        let columnPowers = (0..<columns).map { _ in Int(g.uniform() * 600) - 300 }
        for i in 0..<rows { for j in 0..<columns { x[i, j] = Double(sign: .plus, exponent: rowPowers[i] + columnPowers[j], significand: x[i, j]) } }
        x[0, 0] = 0x1p-1070 * 3        // a subnormal entry
        return x
    }

    @Test("The bound equals the exact rank, and is proved exactly when full", arguments: [false, true])
    func againstExactRank(spread: Bool) throws {
        var g = SeededGenerator(seed: spread ? 72 : 71)
        var checked = 0, full = 0
        for (rows, columns) in [(5, 3), (3, 5), (12, 12), (30, 9), (9, 30), (40, 25)] {
            for r in [1, min(rows, columns) / 2, min(rows, columns)] where r > 0 {
                let x = try Self.matrix(rows: rows, columns: columns, rank: r, spread: spread, &g)
                let exact = try Self.exactRank(x)
                let bound = try #require(ModularRank.lowerBound(rows: rows, columns: columns) { x[$0, $1] })
                #expect(bound.rank == exact, "\(rows)×\(columns) of rank \(exact): bound \(bound.rank)")
                #expect(bound.exact == (exact == min(rows, columns)), "\(rows)×\(columns) of rank \(exact): exact \(bound.exact)")
                checked += 1
                if bound.exact { full += 1 }
            }
        }
        #expect(checked == 18 && full >= 6)
    }

    /// Two columns equal up to one ulp: of full rank over ℚ, which Double's SVD cannot see.
    @Test("A column one ulp from another: full rank, proved")
    func oneUlpApart() throws {
        var g = SeededGenerator(seed: 73)
        var x = Matrix(rows: 20, columns: 4) { _, _ in g.gaussian() }
        for i in 0..<20 { x[i, 3] = x[i, 2] }
        x[7, 3] = x[7, 2].nextUp
        #expect(try Self.exactRank(x) == 4)
        let bound = try #require(ModularRank.lowerBound(rows: 20, columns: 4) { x[$0, $1] })
        #expect(bound.rank == 4 && bound.exact)
        x[7, 3] = x[7, 2]
        let deficient = try #require(ModularRank.lowerBound(rows: 20, columns: 4) { x[$0, $1] })
        #expect(deficient.rank == 3 && !deficient.exact)
    }

    /// Rank 1 only if subnormal and normal entries convert exactly: rows (3, 5)·2⁻¹⁰⁷⁴,
    /// (3, 5)·2⁻¹⁰⁰⁰ and −(6, 10)·2⁻¹⁰⁶⁰; a fourth row (3, 5 + 2⁻⁵⁰)·2⁻¹⁰⁰⁰ makes it 2.
    @Test("Subnormal and normal rows of one direction: rank 1; one row off: rank 2, proved")
    func subnormalRows() throws {
        let rows: [[Double]] = [[3 * 0x1p-1074, 5 * 0x1p-1074], [3 * 0x1p-1000, 5 * 0x1p-1000], [-6 * 0x1p-1060, -10 * 0x1p-1060]]
        let bound = try #require(ModularRank.lowerBound(rows: 3, columns: 2) { rows[$0][$1] })
        #expect(bound.rank == 1 && !bound.exact)
        let off = rows + [[3 * 0x1p-1000, (5 + 0x1p-50) * 0x1p-1000]]
        let full = try #require(ModularRank.lowerBound(rows: 4, columns: 2) { off[$0][$1] })
        #expect(full.rank == 2 && full.exact)
    }

    @Test("Not finite, all zero, empty and too large")
    func edges() {
        #expect(ModularRank.lowerBound(rows: 2, columns: 2) { $0 == 1 && $1 == 1 ? .nan : 1 } == nil)
        #expect(ModularRank.lowerBound(rows: 2, columns: 2) { _, _ in .infinity } == nil)
        let zero = ModularRank.lowerBound(rows: 3, columns: 2) { _, _ in 0 }
        #expect(zero?.rank == 0 && zero?.exact == true)
        let empty = ModularRank.lowerBound(rows: 0, columns: 4) { _, _ in 1 }
        #expect(empty?.rank == 0 && empty?.exact == true)
        #expect(ModularRank.lowerBound(rows: 1 << 20, columns: 100, operationLimit: 1e9) { _, _ in 1 } == nil)
    }
}
