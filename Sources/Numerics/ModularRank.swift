/// Ranks over ℚ of matrices of Doubles, bounded below by elimination modulo a prime.
///
/// Every finite Double is m·2^e with an integer m, so the matrix is 2^e_min times an integer
/// matrix X (e_min the least exponent present), of the same rank. Over the field ℤ/p, X's rank
/// can only drop (a minor that vanishes over ℚ vanishes modulo p), so the rank modulo p is a
/// lower bound on the rank over ℚ, and equals it when it reaches min(rows, columns). A bound
/// below that maximum proves nothing more: the caller then counts exactly.
///
/// Used for an inertia count at a singular point of a positive semidefinite pencil (T7's
/// 1 − ρ² = 0: inertia₊(E) = rank E, from the embeddings' ranks), where exact elimination of
/// a 48×48 rational matrix took 29 s and this takes milliseconds.
public enum ModularRank {
    /// The prime (the largest below 2³², so products fit a UInt64). A second prime would rescue only
    /// a full-rank matrix whose every maximal minor this one divides (about one in 2³²), and would
    /// double the cost where the rank is deficient, which is where no prime can prove it.
    static let prime: UInt64 = 4_294_967_291

    /// A lower bound on the rank over ℚ of the rows×columns matrix `entry(i, j)`, proved equal to
    /// the rank (`exact`) when it is min(rows, columns) or every entry is 0; nil when an entry is not finite or the
    /// elimination would take more than `operationLimit` multiply-adds (rows·columns²).
    public static func lowerBound(rows: Int, columns: Int, operationLimit: Double = 2e9,
                                  entry: (Int, Int) -> Double) -> (rank: Int, exact: Bool)? {
        guard rows >= 0, columns >= 0, Double(rows) * Double(columns) * Double(columns) <= operationLimit else { return nil }
        let full = min(rows, columns)
        guard full > 0 else { return (0, true) }
        // Each entry as (sign, integer mantissa, exponent of its last bit).
        var mantissas = [UInt64](repeating: 0, count: rows * columns)
        var exponents = [Int](repeating: 0, count: rows * columns)
        var negative = [Bool](repeating: false, count: rows * columns)
        var lowest = Int.max, highest = Int.min
        for i in 0..<rows {
            for j in 0..<columns {
                let x = entry(i, j)
                guard x.isFinite else { return nil }
                guard x != 0 else { continue }
                let t = i * columns + j
                // significand ∈ [1, 2) (subnormals too), so significand·2⁵² is an integer below 2⁵³.
                mantissas[t] = UInt64(x.significand * 0x1p52)
                exponents[t] = Int(x.exponent) - 52
                negative[t] = x.sign == .minus
                lowest = min(lowest, exponents[t])
                highest = max(highest, exponents[t])
            }
        }
        guard lowest != Int.max else { return (0, true) }
        // 2^s mod p for every shift s = exponent − lowest.
        let p = prime
        var powers = [UInt64](repeating: 1, count: highest - lowest + 1)
        for s in powers.indices.dropFirst() { powers[s] = powers[s - 1] * 2 % p }
        let rank = eliminatedRank(rows: rows, columns: columns, prime: p, stopAt: full) { t in
            guard mantissas[t] != 0 else { return 0 }
            let v = mantissas[t] % p * powers[exponents[t] - lowest] % p
            return negative[t] && v != 0 ? p - v : v
        }
        return (rank, rank == full)
    }

    /// The rank modulo `prime` of the matrix whose entry t = i·columns + j is `residue(t)`,
    /// by reducing each row against an echelon basis of the rows before it (each basis row
    /// 1 at its pivot and 0 at every earlier basis row's pivot); stops at `stopAt`.
    static func eliminatedRank(rows: Int, columns: Int, prime p: UInt64, stopAt: Int, residue: (Int) -> UInt64) -> Int {
        var basis: [[UInt64]] = [], pivots: [Int] = []
        var v = [UInt64](repeating: 0, count: columns)
        for i in 0..<rows {
            for j in 0..<columns { v[j] = residue(i * columns + j) }
            for (b, c) in zip(basis, pivots) where v[c] != 0 {
                let f = p - v[c]                       // v ← v − v[c]·b
                for j in 0..<columns where b[j] != 0 { v[j] = (v[j] + f * b[j]) % p }
            }
            guard let c = v.firstIndex(where: { $0 != 0 }) else { continue }
            let inverse = power(v[c], p - 2, p)
            basis.append(v.map { $0 * inverse % p })
            pivots.append(c)
            if basis.count == stopAt { break }
        }
        return basis.count
    }

    /// bᵉ mod p (Fermat's inverse for e = p − 2).
    static func power(_ b: UInt64, _ e: UInt64, _ p: UInt64) -> UInt64 {
        var (result, base, e) = (UInt64(1), b % p, e)
        while e > 0 {
            if e & 1 == 1 { result = result * base % p }
            base = base * base % p
            e >>= 1
        }
        return result
    }
}
