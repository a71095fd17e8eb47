/// Weighted centring whose rounding is relative to the centred data, not to a common offset.
///
/// With μ̂ the computed weighted mean of the rows and dᵢⱼ = fl(xᵢⱼ − μ̂ⱼ), each subtraction
/// is correctly rounded, so dᵢⱼ = (x̃ᵢⱼ + eⱼ)(1 + δᵢⱼ), |δ| ≤ u, where x̃ = x − μ is the exact
/// centring and eⱼ = μⱼ − μ̂ⱼ the mean's error, |eⱼ| ≤ γ_N Σᵢ wᵢ|xᵢⱼ|. Around a large common
/// offset that error is γ_N of the offset, and it is a direction of its own (the constant
/// column, √w after the rows' scaling): one pass resolved a spread only above N·ε of the
/// uncentred data (m_CCA 15–39 % off around an offset, stop 70's attack).
///
/// So where a column's |μ̂ⱼ| exceeds 16 times its first-pass spread sⱼ = (Σᵢ wᵢdᵢⱼ²)^{1/2},
/// the column's mean is taken again, cⱼ = fl(Σᵢ wᵢdᵢⱼ)/W (W the computed Σw), and subtracted:
/// fl(dᵢⱼ − cⱼ). The exact mean of d is eⱼ up to u·Σwᵢ|dᵢⱼ|, and cⱼ is that mean to within
/// γ_{N+2} Σwᵢ|dᵢⱼ| (the sum and the division by W), so the result is x̃ plus a constant column
/// of size ≤ γ_{N+3}·sⱼ (Cauchy–Schwarz, Σw = 1) and an entrywise error ≤ 2u|dᵢⱼ|: relative to
/// the centred data. A column not taken again has |eⱼ| ≤ γ_N(|μ̂ⱼ| + sⱼ), at most 17·γ_N·sⱼ.
/// Hence `roundingScale`, the norm of rⱼ² = sⱼ² (+ μ̂ⱼ² where no second pass ran): the centred
/// matrix is within about γ_N·‖r‖ of the exact one, and a direction spread less than
/// max(N, d)·ε·‖r‖ is not resolved.
///
/// The data's own rounding bounds what a column can show: a column whose spread after the second
/// pass is at most ε of its size, (Σwᵢ(dᵢⱼ − cⱼ)²)^{1/2} ≤ ε·max(|μ̂ⱼ|, sⱼ), or whose entries are
/// all the same bits — every input at one point but for an ulp or so, as a constant feature
/// computed in floating point carries — is taken as constant, and its centred entries are exact
/// zeros (two passes would otherwise resolve a one-ulp difference on a single input as a
/// direction of its own). Only a column taken twice can be so flat.
///
/// The columns neither pass touches again are the same bits as `subtractingFromRows(μ̂)`
/// followed by `scalingRows(by:)`. Cost: four passes over N×d (the mean, the subtraction into
/// one N×d copy, the sums, and the correction with the rows' scaling, in place).
public struct WeightedCentring: Sendable {
    /// W^{1/2}(X − 1μᵀ) when row factors were given, else X − 1μᵀ.
    public var centred: Matrix
    /// μ̂, the first pass's weighted mean.
    public let mean: [Double]
    /// Per column, Σᵢ wᵢ dᵢⱼ² of the first pass.
    public let spreadSquared: [Double]
    /// Which columns took the second pass.
    public let corrected: [Bool]
    /// Which columns are constant to within the data's rounding (their centred entries zeros).
    public let constant: [Bool]
    /// cⱼ, the second pass's mean (0 where none ran): the mean is μ̂ⱼ + cⱼ, to within γ_{N+3}·sⱼ.
    public let shift: [Double]

    /// rⱼ² (above) per column: the squared size column j's centring rounds at (0 for a column
    /// taken as constant: its zeros are exact, and a bias column's rounded mean, 10⁻¹⁴ of it, made
    /// features spread 10⁻²⁷ beside it read as zero variance).
    public var roundingScaleSquaredByColumn: [Double] {
        mean.indices.map { constant[$0] ? 0 : spreadSquared[$0] + (corrected[$0] ? 0 : mean[$0] * mean[$0]) }
    }

    /// ‖r‖² (above): the squared size the centring's rounding is relative to.
    public var roundingScaleSquared: Double { roundingScaleSquaredByColumn.reduce(0, +) }

    /// ‖r‖ (above) once column j of the centred matrix is scaled by 2^exponents[j].
    public func roundingScale(afterColumnPowers exponents: [Int]) -> Double {
        Self.scaledSum(roundingScaleSquaredByColumn.map { $0.squareRoot() }, exponents: exponents).squareRoot()
    }

    /// Σⱼ (2^exponents[j]·vⱼ)²: squared norms per column (given as their roots vⱼ) after the
    /// columns' powers of two.
    public static func scaledSum(_ roots: [Double], exponents: [Int]) -> Double {
        zip(roots, exponents).reduce(0.0) { sum, term in
            let scaled = Double(sign: .plus, exponent: term.1, significand: term.0)
            return sum + scaled * scaled
        }
    }

    /// Σᵢ wᵢ‖xᵢ‖² = Σⱼ (sⱼ² + μ̂ⱼ²) up to rounding: the uncentred data's weighted squared norm.
    public var uncentredSquared: Double {
        zip(spreadSquared, mean).reduce(0) { $0 + $1.0 + $1.1 * $1.1 }
    }

    /// `x` centred with `weights` (summing to 1), each row i then scaled by `rowFactors[i]` (√wᵢ)
    /// when given.
    public init(_ x: Matrix, weights: [Double], rowFactors: [Double]? = nil) {
        precondition(weights.count == x.rows && (rowFactors?.count ?? x.rows) == x.rows,
                     "WeightedCentring: one weight and one row factor per row")
        let mean = x.weightedRowMean(weights)
        var d = x.subtractingFromRows(mean)
        let (n, rows) = (x.columns, x.rows)
        let (sum, squares, uniform, exponents) = Self.firstPassSums(d, weights: weights)
        let total = weights.reduce(0, +)
        // The tests below at each column's own scale 2^−eⱼ (eⱼ = 0 but beyond 2^±100).
        let scaledMean = zip(mean, exponents).map { Self.scaled($0, -$1) }
        let corrected = Self.takesSecondPass(mean: scaledMean, spreadSquared: squares)
        let epsilon = Double.ulpOfOne
        let scaledShift = (0..<n).map { corrected[$0] && total > 0 ? sum[$0] / total : 0 }
        let shift = zip(scaledShift, exponents).map { Self.scaled($0, $1) }
        // The spread left after the second pass, (Σw(d − c)²)^{1/2} with Σw(d − c)² = Σwd² − W·c²,
        // against ε of the column's size (roots, so that an offset near 10¹⁵⁴ cannot overflow it).
        // Where the first pass's mean error dominates d the difference cancels to about N·ε of that
        // error's square, which for N beyond about 10⁵ can exceed the threshold: a column whose
        // entries are all the same bits is constant whatever N.
        let constant = (0..<n).map { j in
            corrected[j] && (uniform[j]
                || max(0, squares[j] - total * scaledShift[j] * scaledShift[j]).squareRoot() <= epsilon * max(abs(scaledMean[j]), squares[j].squareRoot()))
        }
        if corrected.contains(true) || rowFactors != nil {
            d.storage.withUnsafeMutableBufferPointer { o in
                for i in 0..<rows {
                    let f = rowFactors?[i] ?? 1, row = o.baseAddress! + i * n
                    for j in 0..<n where corrected[j] { row[j] = constant[j] ? 0 : row[j] - shift[j] }
                    if rowFactors != nil { for j in 0..<n { row[j] *= f } }
                }
            }
        }
        // Reported at the data's scale (a column near 10⁻²⁰⁰ has a spread whose square underflows).
        let spread = zip(squares, exponents).map { Self.scaled($0, 2 * $1) }
        (centred, self.mean, spreadSquared, self.corrected, self.constant) = (d, mean, spread, corrected, constant)
        self.shift = shift
    }

    /// The centred matrix brought near unit size by a power of two e where its largest |entry| lies
    /// beyond 2^±100 (`outOfRangeExponent`; else e = 0 and the matrix as it is), and e: beside a
    /// column at 10⁸⁰ taken as constant, data scaled to a unit maximum before centring varies at
    /// 10⁻⁸⁰, and its Grams' squared norms left the normal range (CKA 8·10⁻⁶ off at 10⁸⁰, ∞ at 10¹²⁰,
    /// "zero variance" at 10²⁰⁰; stop 72's attack). Squared sizes of it scale by 2^−2e.
    public var centredInRange: (matrix: Matrix, exponent: Int) {
        let e = centred.outOfRangeExponent
        return (e == 0 ? centred : centred.scaled(byPowerOfTwo: -e), e)
    }

    /// Whether some column of `x` would take the second pass (the same test as `init`, on the same
    /// Doubles), without the N×d copy: one pass over x, given `mean`, its `weightedRowMean(weights)`.
    public static func needsSecondPass(_ x: Matrix, weights: [Double], mean: [Double]) -> Bool {
        let sums = firstPassSums(x, weights: weights, less: mean)
        return takesSecondPass(mean: zip(mean, sums.exponents).map { scaled($0, -$1) }, spreadSquared: sums.squares).contains(true)
    }

    /// x·2^e, exact but where the result leaves the Double range (2^e itself need not be a Double).
    public static func scaled(_ x: Double, _ e: Int) -> Double {
        e == 0 ? x : Double(sign: .plus, exponent: e, significand: x)
    }

    static func takesSecondPass(mean: [Double], spreadSquared: [Double]) -> [Bool] {
        zip(mean, spreadSquared).map { abs($0) > 16 * $1.squareRoot() }
    }

    /// Per column of d = fl(x − `less`) (x itself when nil), scaled by 2^−eⱼ: Σᵢ wᵢdᵢⱼ, Σᵢ (wᵢdᵢⱼ)dᵢⱼ,
    /// whether every entry is the same bits (then the column is constant at any N), and eⱼ: 0, or
    /// the exponent of the column's largest |dᵢⱼ| where it lies beyond 2^±100, whose squares would
    /// leave the normal range (a column varying at 10⁻²⁰⁰ beside one at 1 had read as constant).
    static func firstPassSums(_ x: Matrix, weights: [Double], less: [Double]? = nil)
        -> (sum: [Double], squares: [Double], uniform: [Bool], exponents: [Int]) {
        let (n, rows) = (x.columns, x.rows)
        let offset = less ?? [Double](repeating: 0, count: n)
        var sum = [Double](repeating: 0, count: n), squares = [Double](repeating: 0, count: n)
        var uniform = [Bool](repeating: true, count: n), largest = [Double](repeating: 0, count: n)
        x.storage.withUnsafeBufferPointer { s in
            for i in 0..<rows {
                let w = weights[i], row = s.baseAddress! + i * n
                for j in 0..<n {
                    let v = row[j] - offset[j]
                    let t = w * v
                    sum[j] += t
                    squares[j] += t * v
                    uniform[j] = uniform[j] && row[j] == s[j]
                    largest[j] = max(largest[j], abs(v))
                }
            }
        }
        let exponents = largest.map { Matrix.outOfRangeExponent(largest: $0) }
        guard exponents.contains(where: { $0 != 0 }) else { return (sum, squares, uniform, exponents) }
        // Again at each column's own scale: v·2^−eⱼ formed exactly from v (2^−eⱼ itself may not be
        // a Double, for a column below 2⁻¹⁰²²).
        (sum, squares) = ([Double](repeating: 0, count: n), [Double](repeating: 0, count: n))
        x.storage.withUnsafeBufferPointer { s in
            for i in 0..<rows {
                let w = weights[i], row = s.baseAddress! + i * n
                for j in 0..<n {
                    let v = Double(sign: .plus, exponent: -exponents[j], significand: row[j] - offset[j])
                    let t = w * v
                    sum[j] += t
                    squares[j] += t * v
                }
            }
        }
        return (sum, squares, uniform, exponents)
    }
}
