import Foundation
import Numerics
import Theory

/// X̃ᵀX̃, ỸᵀỸ and ỸᵀX̃ of the rows centred in two passes (`WeightedCentring`) and scaled by √w,
/// with each side's mean as μ̂ + c (the first pass's mean and the second's) and its per-column
/// rounding scales rⱼ² (`WeightedCentring.roundingScaleSquaredByColumn`).
///
/// A shard carries them where a column of either side took the second pass (a large offset), and
/// a merge combines them about the shards' means (`merged`): M − μμᵀ from merged moments cancels
/// there (m_CCA read 0 below a spread of 5·10⁻⁷ of the offset, and 8 % off at 10⁻⁶ against its
/// note's 0.7 %, stop 71's attack).
struct CentredMoments: Codable, Sendable {
    let aa: Matrix, bb: Matrix, ba: Matrix
    let meanA: [Double], shiftA: [Double], meanB: [Double], shiftB: [Double]
    let roundingA: [Double], roundingB: [Double]
    /// Whether a column of either side was taken twice (an offset): the covariances are then
    /// equilibrated by their own diagonals.
    let tookSecondPass: Bool
    /// A merge's between-shard term by column, Σₛ πₛeₛⱼ² + ēⱼ² (`merged`), for each side, and its
    /// number of shards: the scale its part of the covariances rounds at. nil for one run's or a
    /// shard's own (never written to a partial).
    var between: (a: [Double], b: [Double], shards: Int)? = nil

    /// `formingUnbiasedCKA`: under equal weights, the pair's unbiased CKA from these Grams too
    /// (`ModelPair.keepUnbiasedLinearCKA`), where one run would otherwise centre its rows again.
    init(_ pair: ModelPair, formingUnbiasedCKA: Bool = false) {
        let root = pair.first.sqrtWeights
        let a = WeightedCentring(pair.first.embeddings, weights: pair.weights, rowFactors: root)
        let b = WeightedCentring(pair.second.embeddings, weights: pair.weights, rowFactors: root)
        (aa, bb, ba) = (a.centred.gram(), b.centred.gram(), b.centred.multiplied(by: a.centred, transposeSelf: true))
        // Only where the Grams are well inside the Double range: rows near 10⁻¹⁴⁸ around an offset
        // left them subnormal (3 digits, or "zero variance"), and sums near 10³⁰⁸ overflow; the rows'
        // own path scales each side first (a review's finding).
        if formingUnbiasedCKA, let w0 = pair.weights.first, pair.weights.allSatisfy({ $0 == w0 }) {
            let rowNorms = (a.centred.rowNormsSquared, b.centred.rowNormsSquared)
            let inRange = [rowNorms.0.reduce(0, +), rowNorms.1.reduce(0, +), a.roundingScaleSquared, b.roundingScaleSquared]
                .allSatisfy { $0 == 0 || (0x1p-900...0x1p900).contains($0) }
            if inRange {
                pair.keepUnbiasedLinearCKA { [aa, bb, ba] in
                    UnbiasedLinearCKA(centredGrams: aa, bb, ba, rowNorms: rowNorms, rounding: (a.roundingScaleSquared, b.roundingScaleSquared))
                }
            }
        }
        (meanA, shiftA, meanB, shiftB) = (a.mean, a.shift, b.mean, b.shift)
        (roundingA, roundingB) = (a.roundingScaleSquaredByColumn, b.roundingScaleSquaredByColumn)
        tookSecondPass = a.corrected.contains(true) || b.corrected.contains(true)
    }

    /// Whether statistics should carry them: some column of either side takes the second pass
    /// (elsewhere M − μμᵀ rounds within 256·ε of the spread, and a partial stays as it was).
    /// `means`: each side's weighted mean, as the statistics hold it.
    static func needed(_ pair: ModelPair, means: (a: [Double], b: [Double])) -> Bool {
        WeightedCentring.needsSecondPass(pair.first.embeddings, weights: pair.weights, mean: means.a)
            || WeightedCentring.needsSecondPass(pair.second.embeddings, weights: pair.weights, mean: means.b)
    }

    /// M − uvᵀ: a covariance from a second moment and the means (the form that cancels around an offset).
    static func covariance(_ m: Matrix, _ u: [Double], _ v: [Double]) -> Matrix {
        Matrix(rows: m.rows, columns: m.columns) { i, j in m[i, j] - u[i] * v[j] }
    }

    init(aa: Matrix, bb: Matrix, ba: Matrix, meanA: [Double], shiftA: [Double], meanB: [Double], shiftB: [Double],
         roundingA: [Double], roundingB: [Double], tookSecondPass: Bool) {
        (self.aa, self.bb, self.ba) = (aa, bb, ba)
        (self.meanA, self.shiftA, self.meanB, self.shiftB) = (meanA, shiftA, meanB, shiftB)
        (self.roundingA, self.roundingB, self.tookSecondPass) = (roundingA, roundingB, tookSecondPass)
    }

    /// A shard's covariances from its moments, M − μμᵀ, where it carried none (no column took the
    /// second pass): r² = μ² + (M − μμᵀ)ⱼⱼ = Mⱼⱼ, as `WeightedCentring` rounds a column taken once.
    init(moments aa: Matrix, _ bb: Matrix, _ ba: Matrix, meanA: [Double], meanB: [Double]) {
        self.init(aa: Self.covariance(aa, meanA, meanA), bb: Self.covariance(bb, meanB, meanB), ba: Self.covariance(ba, meanB, meanA),
                  meanA: meanA, shiftA: meanA.map { _ in 0 }, meanB: meanB, shiftB: meanB.map { _ in 0 },
                  roundingA: (0..<aa.rows).map { aa[$0, $0] }, roundingB: (0..<bb.rows).map { bb[$0, $0] }, tookSecondPass: false)
    }

    /// The covariances of the union of the shards, shard s weighing `shares[s]` (Σ = 1): with
    /// eₛ = mean(s) − mean(r), r the heaviest shard, each difference of means within a factor 2 of
    /// each other (an offset) exact (Sterbenz) before the second passes' small means are added,
    ///     C = Σₛ πₛ Cₛ + Σₛ πₛ eₛeₛᵀ − ēēᵀ,  ē = Σₛ πₛ eₛ,
    /// which rounds relative to the spread of the shards' means about r's, never to the offset.
    /// rⱼ² = Σₛ πₛ rₛⱼ²; the mean is r's μ̂, with ē added to its c.
    static func merged(_ parts: [CentredMoments], shares: [Double]) -> CentredMoments {
        // The reference is the heaviest shard: the differences then cancel by at most its share's
        // complement (an outlier of small share as the reference let ē ≈ every eₛ, and the error
        // reach ε/π of the between-shard term, a review's argument).
        let reference = parts[shares.indices.max { shares[$0] < shares[$1] }!]
        func differences(_ mean: KeyPath<CentredMoments, [Double]>, _ shift: KeyPath<CentredMoments, [Double]>) -> (each: [[Double]], mean: [Double]) {
            let each = parts.map { p in p[keyPath: mean].indices.map { j in (p[keyPath: mean][j] - reference[keyPath: mean][j]) + (p[keyPath: shift][j] - reference[keyPath: shift][j]) } }
            let average = reference[keyPath: mean].indices.map { j in
                var s = NeumaierSum()
                for (e, w) in zip(each, shares) { s.add(w * e[j]) }
                return s.value
            }
            return (each, average)
        }
        let (ea, eb) = (differences(\.meanA, \.shiftA), differences(\.meanB, \.shiftB))
        func combined(_ moment: KeyPath<CentredMoments, Matrix>, _ u: (each: [[Double]], mean: [Double]), _ v: (each: [[Double]], mean: [Double])) -> Matrix {
            let (rows, columns) = (reference[keyPath: moment].rows, reference[keyPath: moment].columns)
            var out = [Double](repeating: 0, count: rows * columns)
            for (s, part) in parts.enumerated() {
                let (m, w, es, fs) = (part[keyPath: moment].storage, shares[s], u.each[s], v.each[s])
                for i in 0..<rows { for j in 0..<columns { out[i * columns + j] += w * (m[i * columns + j] + es[i] * fs[j]) } }
            }
            for i in 0..<rows { for j in 0..<columns { out[i * columns + j] -= u.mean[i] * v.mean[j] } }
            return try! Matrix(rows: rows, columns: columns, storage: out)
        }
        func rounding(_ side: KeyPath<CentredMoments, [Double]>) -> [Double] {
            reference[keyPath: side].indices.map { j in zip(parts, shares).reduce(0.0) { $0 + $1.1 * $1.0[keyPath: side][j] } }
        }
        var (aa, bb, ba) = (combined(\.aa, ea, ea), combined(\.bb, eb, eb), combined(\.ba, eb, ea))
        var (roundingA, roundingB) = (rounding(\.roundingA), rounding(\.roundingB))
        let (shiftA, shiftB) = (zip(reference.shiftA, ea.mean).map { $0 + $1 }, zip(reference.shiftB, eb.mean).map { $0 + $1 })
        // As one run takes a column constant (`WeightedCentring`): its spread at most ε of its mean
        // (inputs at one point but for an ulp, or weighted so far apart that the light ones lie below
        // the heavy one's rounding), its covariances exact zeros. The shards' means of such a column,
        // each rounded, had left a spread of rounding in the merge (m_CCA 0.43 for constant embeddings).
        let constantA = (0..<aa.rows).filter { j in max(aa[j, j], 0).squareRoot() <= Double.ulpOfOne * abs(reference.meanA[j] + shiftA[j]) }
        let constantB = (0..<bb.rows).filter { j in max(bb[j, j], 0).squareRoot() <= Double.ulpOfOne * abs(reference.meanB[j] + shiftB[j]) }
        for j in constantA {
            for t in 0..<aa.rows { (aa[j, t], aa[t, j]) = (0, 0) }
            for t in 0..<ba.rows { ba[t, j] = 0 }
            roundingA[j] = 0
        }
        for j in constantB {
            for t in 0..<bb.rows { (bb[j, t], bb[t, j]) = (0, 0) }
            for t in 0..<ba.columns { ba[j, t] = 0 }
            roundingB[j] = 0
        }
        var out = CentredMoments(aa: aa, bb: bb, ba: ba, meanA: reference.meanA, shiftA: shiftA, meanB: reference.meanB, shiftB: shiftB,
                                 roundingA: roundingA, roundingB: roundingB, tookSecondPass: parts.contains { $0.tookSecondPass })
        func between(_ e: (each: [[Double]], mean: [Double]), constant: [Int]) -> [Double] {
            e.mean.indices.map { j in
                constant.contains(j) ? 0 : zip(e.each, shares).reduce(e.mean[j] * e.mean[j]) { $0 + $1.1 * $1.0[j] * $1.0[j] }
            }
        }
        if parts.count > 1 { out.between = (between(ea, constant: constantA), between(eb, constant: constantB), parts.count) }
        return out
    }

    /// Each side's Σⱼ rⱼ² once column j is scaled by 2^exponents[j] (the moments' equilibration).
    func rounding(_ exponents: (a: [Int], b: [Int])?) -> (x: Double, y: Double) {
        (Self.total(roundingA, exponents?.a), Self.total(roundingB, exponents?.b))
    }

    /// Each side's Σⱼ bⱼ² of the between-shard term (`between`) in the moments' equilibration, with
    /// the number of shards; nil where the covariances were not combined about the shards' means.
    func betweenScale(_ exponents: (a: [Int], b: [Int])?) -> (x: Double, y: Double, shards: Int)? {
        between.map { (Self.total($0.a, exponents?.a), Self.total($0.b, exponents?.b), $0.shards) }
    }

    /// Σⱼ vⱼ, each term a square scaled by 2^(2·exponents[j]).
    private static func total(_ squares: [Double], _ exponents: [Int]?) -> Double {
        guard let exponents else { return squares.reduce(0, +) }
        return WeightedCentring.scaledSum(squares.map { $0.squareRoot() }, exponents: exponents)
    }

    /// Sizes and values a partial's statistics must agree with (`MeasureStatistics.validate`):
    /// `means`, the statistics' own weighted means of its `rows`, which μ̂ + c must match to within
    /// both sums' rounding, 2(N + 3)·ε·(|μⱼ| + rⱼ) (an edited mean with its checksum recomputed would
    /// move the merge's between-shard term, which nothing else checks).
    func problem(dA: Int, dB: Int, means: (a: [Double], b: [Double]), rows: Int) -> String? {
        guard [meanA, shiftA, roundingA].allSatisfy({ $0.count == dA }), [meanB, shiftB, roundingB].allSatisfy({ $0.count == dB }),
              (aa.rows, aa.columns, bb.rows, bb.columns, ba.rows, ba.columns) == (dA, dA, dB, dB, dB, dA) else {
            return "its centred moments' sizes are not d_A = \(dA), d_B = \(dB)"
        }
        let values = [aa.storage, bb.storage, ba.storage, meanA, shiftA, meanB, shiftB, roundingA, roundingB]
        guard values.allSatisfy({ $0.allSatisfy(\.isFinite) }), (roundingA + roundingB).allSatisfy({ $0 >= 0 }) else {
            return "its centred moments hold a value that is not finite, or a negative rounding scale"
        }
        let allowance = 2 * Double(rows + 3) * Double.ulpOfOne
        for (name, mean, shift, rounding, own) in [("A", meanA, shiftA, roundingA, means.a), ("B", meanB, shiftB, roundingB, means.b)] {
            guard own.count == mean.count else { return "its centred moments' sizes are not those of its means" }
            for j in mean.indices where !(abs((mean[j] + shift[j]) - own[j]) <= allowance * (abs(own[j]) + rounding[j].squareRoot()) + Double.leastNormalMagnitude) {
                return "its centred moments' mean of model \(name)'s column \(j) is \(mean[j] + shift[j]), and its statistics' \(own[j])"
            }
        }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case aa, bb, ba, meanA = "mean_a", shiftA = "shift_a", meanB = "mean_b", shiftB = "shift_b"
        case roundingA = "rounding_a", roundingB = "rounding_b", tookSecondPass = "second_pass"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func doubles(_ key: CodingKeys) throws -> [Double] { try c.decode(PackedDoubles.self, forKey: key).values }
        let (meanA, meanB) = (try doubles(.meanA), try doubles(.meanB))
        func matrix(_ key: CodingKeys, _ rows: Int, _ columns: Int) throws -> Matrix {
            let v = try doubles(key)
            guard v.count == rows * columns else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "\(v.count) values for a \(rows)×\(columns) moment")
            }
            return try Matrix(rows: rows, columns: columns, storage: v)
        }
        self.init(aa: try matrix(.aa, meanA.count, meanA.count), bb: try matrix(.bb, meanB.count, meanB.count), ba: try matrix(.ba, meanB.count, meanA.count),
                  meanA: meanA, shiftA: try doubles(.shiftA), meanB: meanB, shiftB: try doubles(.shiftB),
                  roundingA: try doubles(.roundingA), roundingB: try doubles(.roundingB), tookSecondPass: try c.decode(Bool.self, forKey: .tookSecondPass))
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        for (key, values) in [(CodingKeys.aa, aa.storage), (.bb, bb.storage), (.ba, ba.storage), (.meanA, meanA), (.shiftA, shiftA),
                              (.meanB, meanB), (.shiftB, shiftB), (.roundingA, roundingA), (.roundingB, roundingB)] {
            try c.encode(PackedDoubles(values), forKey: key)
        }
        try c.encode(tookSecondPass, forKey: .tookSecondPass)
    }
}
