import Numerics
import Theory

/// A shard's d×d statistics as fast enclosures, carried in its partial so that a merge
/// certifies T3, T4, T7 and T12 (Proofs/certificates.md §4):
/// - the embedding moments Σ w f_A f_Aᵀ, Σ w f_B f_Bᵀ, Σ w f_B f_Aᵀ and the sums Σ w f under the
///   rows' raw weights (`FastIntervalMatrix.weightedCrossProduct`, BLAS with its bound), which
///   shards add in interval arithmetic and the merge divides by the enclosed weight total;
/// - each model's centred-unembedding column bounds (`CentredColumns`), which with the Grams
///   the partial carries give the Grams' enclosures (`FastIntervalMatrix.centredCrossProduct`).
/// Interval matrices are stored as every lower end, then every upper end.
public struct FastMomentSums: Codable, Sendable, Equatable {
    public var momentAA: PackedDoubles
    public var momentBB: PackedDoubles
    public var momentBA: PackedDoubles
    public var sumA: PackedDoubles
    public var sumB: PackedDoubles
    /// Per model: the column norms' upper bounds, then the column sums' lower and upper ends (3·d).
    public let columnsA: PackedDoubles
    public let columnsB: PackedDoubles

    enum CodingKeys: String, CodingKey {
        case momentAA = "moment_aa", momentBB = "moment_bb", momentBA = "moment_ba", sumA = "sum_a", sumB = "sum_b"
        case columnsA = "columns_a", columnsB = "columns_b"
    }

    /// The sums of `pair`'s rows under `rawWeights` (exact Doubles, one per row).
    init(_ pair: ModelPair, rawWeights: [Double]) {
        let w = rawWeights.map { FastInterval($0) }
        let (fA, fB) = (pair.first.embeddings, pair.second.embeddings)
        let ones = Matrix(rows: fA.rows, columns: 1, repeating: 1)
        let m = FastIntervalMatrix.weightedCrossProductsInBlocks([(0, 0), (1, 1), (1, 0), (0, 2), (1, 2)], of: [fA, fB, ones], weights: w).map(Self.pack)
        (momentAA, momentBB, momentBA, sumA, sumB) = (m[0], m[1], m[2], m[3], m[4])
        let (cA, cB) = pair.centredColumns()
        columnsA = Self.pack(cA)
        columnsB = Self.pack(cB)
    }

    static func pack(_ m: FastIntervalMatrix) -> PackedDoubles { PackedDoubles(m.entries.map(\.lo) + m.entries.map(\.hi)) }

    static func pack(_ c: CentredColumns) -> PackedDoubles { PackedDoubles(c.norms + c.sums.map(\.lo) + c.sums.map(\.hi)) }

    /// The interval matrix packed in `p` (rows × columns), or nil when the lengths differ or an
    /// end is NaN or out of order.
    static func unpack(_ p: PackedDoubles, rows: Int, columns: Int) -> FastIntervalMatrix? {
        let n = rows * columns
        guard p.count == 2 * n else { return nil }
        let v = p.values
        guard (0..<n).allSatisfy({ !v[$0].isNaN && !v[n + $0].isNaN && v[$0] <= v[n + $0] }) else { return nil }
        return FastIntervalMatrix(rows: rows, columns: columns) { i, j in FastInterval(lo: v[i * columns + j], hi: v[n + i * columns + j]) }
    }

    static func unpack(_ p: PackedDoubles, rows k: Int, dimension d: Int) -> CentredColumns? {
        guard p.count == 3 * d else { return nil }
        let v = p.values
        guard (0..<d).allSatisfy({ v[$0] >= 0 && !v[d + $0].isNaN && !v[2 * d + $0].isNaN && v[d + $0] <= v[2 * d + $0] }) else { return nil }
        return CentredColumns(rows: k, norms: Array(v[0..<d]), sums: (0..<d).map { FastInterval(lo: v[d + $0], hi: v[2 * d + $0]) })
    }

    /// Whether every array has its length for these sizes, its ends in order and no NaN.
    func isConsistent(labels k: Int, dA: Int, dB: Int) -> Bool {
        Self.unpack(momentAA, rows: dA, columns: dA) != nil && Self.unpack(momentBB, rows: dB, columns: dB) != nil
            && Self.unpack(momentBA, rows: dB, columns: dA) != nil && Self.unpack(sumA, rows: dA, columns: 1) != nil
            && Self.unpack(sumB, rows: dB, columns: 1) != nil && Self.unpack(columnsA, rows: k, dimension: dA) != nil
            && Self.unpack(columnsB, rows: k, dimension: dB) != nil
    }

    /// Every sum times `factor` > 0, enclosed (the column bounds unchanged): the merge's common
    /// power-of-two scale, as for the logit sums.
    func scaled(by factor: Double) -> FastMomentSums {
        guard factor != 1 else { return self }
        func scale(_ x: PackedDoubles) -> PackedDoubles {
            let n = x.count / 2
            var out = x
            for t in 0..<n {
                let s = FastInterval(lo: x[t], hi: x[n + t]) * FastInterval(factor)
                (out.values[t], out.values[n + t]) = (s.lo, s.hi)
            }
            return out
        }
        var out = self
        (out.momentAA, out.momentBB, out.momentBA, out.sumA, out.sumB) = (scale(momentAA), scale(momentBB), scale(momentBA), scale(sumA), scale(sumB))
        return out
    }

    /// The sums over both shards' rows (interval addition, entry by entry); the column
    /// bounds, identical in every shard of one pair, are this shard's.
    func adding(_ other: FastMomentSums) -> FastMomentSums {
        func add(_ x: PackedDoubles, _ y: PackedDoubles) -> PackedDoubles {
            let n = x.count / 2
            var out = x
            for t in 0..<n {
                let s = FastInterval(lo: x[t], hi: x[n + t]) + FastInterval(lo: y[t], hi: y[n + t])
                (out.values[t], out.values[n + t]) = (s.lo, s.hi)
            }
            return out
        }
        var out = self
        out.momentAA = add(momentAA, other.momentAA)
        out.momentBB = add(momentBB, other.momentBB)
        out.momentBA = add(momentBA, other.momentBA)
        out.sumA = add(sumA, other.sumA)
        out.sumB = add(sumB, other.sumB)
        return out
    }

    /// The pair's d×d statistics as fast enclosures: the moments and means divided by the
    /// enclosed weight total, the Grams from the carried midpoints (`grams`: S_AA, S_AB, S_BB as
    /// formed by BLAS from the centred unembeddings) and the column bounds, d_logit² as given.
    /// nil when an array does not fit these sizes.
    func statistics(labels k: Int, dA: Int, dB: Int, weightTotal: FastInterval, grams: (Matrix, Matrix, Matrix),
                    logitDistanceSquared: FastInterval) -> FastMomentStatistics? {
        guard let mAA = Self.unpack(momentAA, rows: dA, columns: dA), let mBB = Self.unpack(momentBB, rows: dB, columns: dB),
              let mBA = Self.unpack(momentBA, rows: dB, columns: dA), let sA = Self.unpack(sumA, rows: dA, columns: 1),
              let sB = Self.unpack(sumB, rows: dB, columns: 1), let cA = Self.unpack(columnsA, rows: k, dimension: dA),
              let cB = Self.unpack(columnsB, rows: k, dimension: dB) else { return nil }
        func normalised(_ m: FastIntervalMatrix) -> FastIntervalMatrix {
            FastIntervalMatrix(rows: m.rows, columns: m.columns) { m[$0, $1] / weightTotal }
        }
        let moments = FastEmbeddingMoments(m11: normalised(mAA), m21: normalised(mBA), m22: normalised(mBB))
        let enclosedGrams = FastUnembeddingGrams(columns: (cA, cB), products: grams)
        return FastMomentStatistics(moments: moments, meanFirst: normalised(sA).entries, meanSecond: normalised(sB).entries,
                                    grams: enclosedGrams, logitDistanceSquared: logitDistanceSquared, labels: k)
    }
}
