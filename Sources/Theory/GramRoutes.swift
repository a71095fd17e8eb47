import Foundation
import Numerics

/// Gram (moment) routes for language-model vocabularies. With k in the tens of
/// thousands, a thin SVD of the k×d centred unembeddings costs more than every
/// other quantity together; the d×d Grams S_ij = G̃ᵢᵀG̃ⱼ (two dsyrk and one
/// dgemm, O(k d²)) carry everything the least-squares forms need:
///   σ(G̃₁)² = eig(S₁₁),  A₁₂ = S₁₁⁻¹S₁₂,  A₂₁ = S₂₂⁻¹S₂₁,
///   d_unemb² = tr S₁₁ − 2 tr(S₁₂Bᵀ) + tr(B S₂₂ Bᵀ).
/// A Gram squares the condition number: with cond(G̃) = κ, σ_min from eig(S₁₁)
/// and A from a Cholesky solve carry relative errors of about κ²ε. A Gram is
/// therefore used only while λ_min/λ_max = κ⁻² ≥ 10⁻¹² (κ ≤ 10⁶, errors ≤ ~10⁻⁴);
/// otherwise the SVD routes run. Small models always take the SVD routes, whose
/// accuracy the exact tests pin.
package struct UnembeddingGrams: Sendable {
    package let s11: Matrix
    package let s12: Matrix
    package let s22: Matrix
    /// Eigenvalues of S₁₁ and S₂₂, decreasing.
    package let eigenvalues11: [Double]
    package let eigenvalues22: [Double]

    /// Whether the Gram of model 1 (or 2) is conditioned well enough to stand in
    /// for the SVD.
    package var firstUsable: Bool { Self.usable(eigenvalues11) }
    package var secondUsable: Bool { Self.usable(eigenvalues22) }

    var swapped: UnembeddingGrams {
        UnembeddingGrams(s11: s22, s12: s12.transposed, s22: s11, eigenvalues11: eigenvalues22, eigenvalues22: eigenvalues11)
    }

    static func usable(_ lambda: [Double]) -> Bool {
        guard let top = lambda.first, let bottom = lambda.last, top > 0 else { return false }
        return bottom >= 1e-12 * top
    }
}

/// A least-squares map X⁺Y kept as 2^power·D·M·C: M of moderate entries, D = diag(2^rowPowers)
/// (all 0 unless X's columns were equilibrated), C = diag(2^columnPowers) (all 0 unless Y's
/// were). Models at scales far apart put the map itself
/// beyond the Double range where F₂Aᵀ is not, and two columns of a model 2^±600 apart put its
/// rows 2¹²⁰⁰ apart, more than one Double matrix holds (folding D into M underflowed the smallest
/// rows, and d_rep and d_unemb came out 6× and 42× off); so the powers are applied to the
/// products, column by column.
package struct ScaledMap: Sendable {
    package let map: Matrix
    package let power: Int
    package let rowPowers: [Int]
    /// C = diag(2^columnPowers) on the right (all 0 unless Y's columns were equilibrated: a
    /// student with two columns 2^±600 apart).
    package let columnPowers: [Int]

    package init(_ map: Matrix, power: Int, rowPowers: [Int]? = nil, columnPowers: [Int]? = nil) {
        self.map = map; self.power = power
        self.rowPowers = rowPowers ?? [Int](repeating: 0, count: map.rows)
        self.columnPowers = columnPowers ?? [Int](repeating: 0, count: map.columns)
    }

    /// Whether the map is M itself (power 0, no row or column powers).
    var isPlain: Bool { power == 0 && !hasRowPowers && !hasColumnPowers }
    var hasRowPowers: Bool { rowPowers.contains { $0 != 0 } }
    var hasColumnPowers: Bool { columnPowers.contains { $0 != 0 } }

    /// The map 2^power·D·M·C, entry by entry (over- or underflows where the map leaves the range).
    package var plain: Matrix { map.scaled(rows: rowPowers.map { $0 + power }, columns: columnPowers) }

    /// x·C, the source scaled as the map's right factor needs (x itself when C = I).
    package func scalingSource(_ x: Matrix) -> Matrix { hasColumnPowers ? x.scalingColumns(byPowersOfTwo: columnPowers) : x }

    /// x·(2^power·D·M·C)ᵀ = ((x·C)·Mᵀ)·D·2^power: column j of (xC)·Mᵀ times 2^(power + rowPowers[j]).
    package func rightProduct(_ x: Matrix) -> Matrix {
        let product = scalingSource(x).multiplied(by: map, transposeOther: true)
        guard hasRowPowers else { return product.scaled(byPowerOfTwo: power) }
        return product.scaled(rows: [Int](repeating: 0, count: product.rows), columns: rowPowers.map { $0 + power })
    }

    /// x·(2^power·D·M·C) = ((x·D)·M)·C·2^power: column j of (xD)·M times 2^(power + columnPowers[j]).
    package func leftProduct(_ x: Matrix) -> Matrix {
        (hasRowPowers ? x.scalingColumns(byPowersOfTwo: rowPowers) : x).multiplied(by: map)
            .scaled(rows: [Int](repeating: 0, count: x.rows), columns: columnPowers.map { $0 + power })
    }

    /// (2^power·D·M)ᵀu = 2^(power + s)·Mᵀ(D·2⁻ˢu), s the largest exponent of D·u's entries (terms
    /// below 2⁻¹⁰⁷⁴ of the largest dropped), as (values, power): Aᵀu = C·that, so x·Aᵀu =
    /// `scalingSource(x)`·that.
    package func transposeApplied(to u: [Double]) -> (values: [Double], power: Int) {
        guard hasRowPowers else { return (map.transposed.applied(to: u), power) }
        let s = zip(u, rowPowers).compactMap { x, r in x != 0 && x.isFinite ? Int(x.exponent) + r : nil }.max() ?? 0
        let scaled = zip(u, rowPowers).map { x, r in Double(sign: .plus, exponent: r - s, significand: x) }
        return (map.transposed.applied(to: scaled), power + s)
    }

    /// log₂‖2^power·D·M·C‖_F, from the entries in logarithms (−∞ for a zero map).
    package var log2FrobeniusNorm: Double {
        let logs = (0..<map.rows).flatMap { i in
            (0..<map.columns).compactMap { j -> Double? in
                let m = abs(map[i, j])
                return m > 0 ? Foundation.log2(m) + Double(rowPowers[i] + columnPowers[j] + power) : nil
            }
        }
        guard let top = logs.max() else { return -.infinity }
        return top + 0.5 * Foundation.log2(logs.reduce(0) { $0 + Foundation.exp2(2 * ($1 - top)) })
    }
}

extension ModelPair {
    /// Whether k is large enough that the Gram routes pay: k(d₁² + d₂²) > 10⁸
    /// (about 50 000 labels at d = 32, or 100 labels never).
    public var usesGramRoutes: Bool {
        routes == .largeScale || Double(first.labelCount) * Double(first.dimension * first.dimension + second.dimension * second.dimension) > 1e8
    }

    package func unembeddingGrams() throws -> UnembeddingGrams {
        try cache.value("unembeddingGrams") {
            let (g1, g2) = centredUnembeddings
            let s11 = g1.gram(), s22 = g2.gram()
            // Entries near 10¹⁵⁴ and beyond square past the Double range: say so (and how to
            // rescale) rather than fail inside an eigendecomposition.
            for (name, g, s) in [("first", g1, s11), ("second", g2, s22)] where !s.storage.allSatisfy(\.isFinite) {
                throw ModelError.refused("the \(name) model's unembedding Gram G̃ᵀG̃ overflows the Double range (|g| up to \(g.maxAbs)); "
                    + "the language-model route and shard partials need it: scale that model's G down and its F up by the same power of two, "
                    + "to |g| below about 10¹⁵⁰ (the logits are unchanged)")
            }
            return try ModelError.wrapping {
                // The two spectra at once (LAPACK on one thread each, as everywhere: the same bits).
                let lambda = try BLASThreads.parallelMap(2, workers: 2) { try SymmetricEigendecomposition.eigenvalues(of: $0 == 0 ? s11 : s22) }
                return UnembeddingGrams(s11: s11, s12: g1.multiplied(by: g2, transposeSelf: true), s22: s22,
                                        eigenvalues11: lambda[0], eigenvalues22: lambda[1])
            }
        }
    }

    /// Diversity of one model; its unembedding singular values come from the Gram
    /// when `usesGramRoutes` and the Gram is well conditioned.
    func diversity(ofFirst isFirst: Bool) throws -> Diversity {
        let model = isFirst ? first : second
        guard usesGramRoutes else { return try model.diversity() }
        let sf = try ModelError.wrapping { try model.weightedEmbeddings.singularValues() }
        return Diversity(dimension: model.dimension, labelCount: model.labelCount, embeddingSingularValues: sf,
                         unembeddingSingularValues: try unembeddingSingularValues(ofFirst: isFirst))
    }

    /// σ(G̃) of one model: from its Gram's eigenvalues when `usesGramRoutes` and the Gram is
    /// well conditioned, otherwise by the SVD of G̃.
    package func unembeddingSingularValues(ofFirst isFirst: Bool) throws -> [Double] {
        if usesGramRoutes {
            let grams = try unembeddingGrams()
            if isFirst ? grams.firstUsable : grams.secondUsable {
                return (isFirst ? grams.eigenvalues11 : grams.eigenvalues22).map { max($0, 0).squareRoot() }
            }
        }
        let g = isFirst ? centredUnembeddings.first : centredUnembeddings.second
        return try ModelError.wrapping { try g.singularValues() }
    }

    /// A₁₂ = G̃₁⁺G̃₂ (or A₂₁ = G̃₂⁺G̃₁ when `reverse`) as a `ScaledMap`, by the
    /// Gram route when it applies, else by Householder QR (clear full rank) or the SVD
    /// pseudo-inverse: for models at scales far apart
    /// (G̃₁ near 2⁻⁶⁰⁰ against G̃₂ near 2⁶⁰⁰) the map itself over- or underflows while F₂A₁₂ᵀ
    /// does not, so residuals apply the powers after the product.
    func scaledLeastSquaresMap(reverse: Bool) throws -> ScaledMap {
        let (g1, g2) = centredUnembeddings
        let (target, source) = reverse ? (g2, g1) : (g1, g2)
        if gramRoutesInRange(g1, g2) {
            let grams = try unembeddingGrams()
            if reverse ? grams.secondUsable : grams.firstUsable {
                let (gram, cross) = reverse ? (grams.s22, grams.s12.transposed) : (grams.s11, grams.s12)
                if let a = try? CholeskyDecomposition(gram).solve(cross) { return ScaledMap(a, power: 0) }
            }
        }
        // Each column of G̃ is known to the rounding of the uncentred G's column it came from
        // (a constant column of G centres to rounding noise, not to 0): QR's rank test measures
        // each column against that, so a column 2⁵⁰ smaller than the others is not taken for
        // rank deficiency, nor a constant one for rank.
        return try Self.scaledLeastSquares(target, source, columnScales: unembeddingColumnNorms(ofFirst: !reverse))
    }

    /// One model's `SoftmaxModel.unembeddingColumnNorms`, computed once per pair (the map's rank
    /// test, T11's rank decision and its equilibration read them).
    func unembeddingColumnNorms(ofFirst isFirst: Bool) -> [Double] {
        cache.value(isFirst ? "unembeddingColumnNorms1" : "unembeddingColumnNorms2") { (isFirst ? first : second).unembeddingColumnNorms }
    }

    /// X⁺Y = 2^power·D·M·C (`ScaledMap`), with X and Y each first scaled by a power of two bringing its largest
    /// entry near 1 when it is beyond 2^±100 (`outOfRangeExponent`): exact, so neither 1/σ
    /// overflows (subnormal entries) nor σ² (entries ≳ 10¹⁵⁴), and models of scales far apart
    /// (a teacher's F near 10⁻³⁰⁷ against a student's near 1) do not push Y out of the range, as
    /// one power for both did (Y·2¹⁰²⁰ = ∞: d_unemb came out 0, d_rep ∞). M is X⁺Y of the
    /// scaled matrices; power = p − q for X·2ᵖ and Y·2^q, 0 when neither was scaled.
    /// `columnScales` are X's columns' rounding levels for QR's rank test
    /// (`SmallMatrixKernels.fullRankLeastSquares`), scaled here with X; without them, X's own
    /// column norms (a column of F̂₁ 2⁶⁰ larger than the others had been taken for rank
    /// deficiency, and the SVD's truncated pseudo-inverse put d_unemb at 4.40 for 0.093).
    ///
    /// Where those levels spread beyond 2¹⁰⁰ (a column of F 2²⁷⁰ larger and another 2²⁷⁰
    /// smaller, G's the reverse: the same model), one power of two cannot bring every column
    /// near 1, and QR's norms of the smallest columns underflowed (the transported probe read
    /// 0.617 for 0.990). X's columns are then brought near 1 each, by powers of two D, and
    /// X⁺Y = D·(XD)⁺Y, D the map's `rowPowers`. Householder QR scales exactly with D, so this
    /// changes no bit elsewhere. Y's columns likewise where they spread beyond 2¹⁰⁰ (a student
    /// with two columns 2^±600 apart had lost its smallest to one power of two):
    /// X⁺Y = (X⁺(YE))·E⁻¹, E⁻¹ the map's `columnPowers`.
    static func scaledLeastSquares(_ x: Matrix, _ y: Matrix, columnScales: [Double]? = nil) throws -> ScaledMap {
        var scales = columnScales ?? x.columnNorms
        let exponents = Matrix.equilibration(norms: scales)
        let equilibrated = Matrix.spread(exponents) > 100
        // Y likewise (X⁺(YE) = (X⁺Y)E): a student with two columns 2^±600 apart.
        let yExponents = y.columnEquilibration
        let yEquilibrated = Matrix.spread(yExponents) > 100
        // Equilibrated columns lie near 1 already: a power for the largest entry first would have
        // pushed a column 2¹²⁰⁰ below it out of the range.
        let (p, q) = (equilibrated ? 0 : -x.outOfRangeExponent, yEquilibrated ? 0 : -y.outOfRangeExponent)
        var (x, y) = (x.scaled(byPowerOfTwo: p), y.scaled(byPowerOfTwo: q))
        if yEquilibrated { y.scaleColumns(byPowersOfTwo: yExponents) }
        if equilibrated {
            x.scaleColumns(byPowersOfTwo: exponents)
            scales = zip(scales, exponents).map { Double(sign: .plus, exponent: $1, significand: $0) }
        } else {
            scales.scale(byPowerOfTwo: p)
        }
        // (2ᵖX)⁺(2^qY) = 2^{q−p} X⁺Y.
        let a = try rowSortedLeastSquares(x, y)
            ?? SmallMatrixKernels.fullRankLeastSquares(x, y, columnScales: scales)
            ?? ModelError.wrapping { try x.pseudoInverse().multiplied(by: y) }
        return ScaledMap(a, power: p - q, rowPowers: equilibrated ? exponents : nil, columnPowers: yEquilibrated ? yExponents.map { -$0 } : nil)
    }

    /// X⁺Y by `SmallMatrixKernels.rowSortedLeastSquares` where X's rows spread beyond 2²⁶ in scale
    /// (one input weighted 10⁵⁰ times the others), nil elsewhere. There the column-wise rank test
    /// measured each light row's pivot against the heavy row's share of the column norm and sent
    /// a well-posed problem to the SVD, whose truncated pseudo-inverse put d_unemb² at 51.7 for
    /// 0.1235. It comes before that test: with rows far apart the column-wise test can pass on a
    /// solution the heavy rows' rounding has destroyed (heavy rows with a 0 in one column: d_unemb²
    /// 3.4·10⁸ times its exact value), since QR's column-wise backward error is relative to each
    /// column's norm, which the heavy rows set. Where the row-sorted pivots fail but X with its
    /// rows brought near 1 is clearly of full rank, X⁺Y depends on the heaviest rows' rounding:
    /// `ModelError.undetermined`, not a number.
    static func rowSortedLeastSquares(_ x: Matrix, _ y: Matrix) throws -> Matrix? {
        let rowExponents = Matrix.equilibration(norms: x.rowLargest)
        let spread = Matrix.spread(rowExponents)
        guard spread > 26 else { return nil }
        if let a = SmallMatrixKernels.rowSortedLeastSquares(x, y) { return a }
        let rowsEquilibrated = x.scaled(rows: rowExponents, columns: [Int](repeating: 0, count: x.columns))
        guard SmallMatrixKernels.fullRankLeastSquares(rowsEquilibrated, Matrix(rows: x.rows, columns: 0),
                                                      columnScales: rowsEquilibrated.columnNorms) != nil else { return nil }
        throw ModelError.undetermined("the least-squares map inverts a \(x.rows)×\(x.columns) matrix whose rows "
            + "lie 2^\(spread) apart in scale (inputs weighted far apart, or labels), and the heaviest rows leave a direction to their "
            + "own rounding (a pivot within 10⁻⁸ of the rows it was formed from)")
    }

    /// B = F̂₁⁺F̂₂ (d₁×d₂), F̂ = W^{1/2}F, as a `ScaledMap` (see `scaledLeastSquaresMap`). With
    /// `usesGramRoutes` and a well-conditioned M₁₁ = F̂₁ᵀF̂₁ (λ_min ≥ 10⁻¹² λ_max) it is
    /// M₁₁⁻¹F̂₁ᵀF̂₂ by Cholesky; otherwise the SVD pseudo-inverse. Computed once per pair: d_unemb
    /// and its accuracy estimate both read it, and at N = 50 000, d = 768 each solve took 6 s.
    func scaledEmbeddingLeastSquaresMap() throws -> ScaledMap {
        try cache.value("embeddingLeastSquaresMap") { try computeScaledEmbeddingLeastSquaresMap() }
    }

    func computeScaledEmbeddingLeastSquaresMap() throws -> ScaledMap {
        let f1 = first.weightedEmbeddings, f2 = second.weightedEmbeddings
        return try ModelError.wrapping {
            if gramRoutesInRange(f1, f2) {
                let m11 = f1.gram()
                if UnembeddingGrams.usable(try SymmetricEigendecomposition.eigenvalues(of: m11)),
                   let b = try? CholeskyDecomposition(m11).solve(f1.multiplied(by: f2, transposeSelf: true)) {
                    return ScaledMap(b, power: 0)
                }
            }
            return try Self.scaledLeastSquares(f1, f2)
        }
    }

    /// Whether the Gram routes apply to x and y: at language-model scale (`usesGramRoutes`) and with
    /// every entry within 2^±100, since Grams of larger or smaller entries over- or underflow
    /// (the scaled least squares and the residual take those).
    func gramRoutesInRange(_ x: Matrix, _ y: Matrix) -> Bool {
        usesGramRoutes && x.outOfRangeExponent == 0 && y.outOfRangeExponent == 0
    }

    /// d_unemb² by the Gram identity (see `UnembeddingGrams`), given B = F̂₁⁺F̂₂.
    /// Rounding error about ε·tr S₁₁: used only with `usesGramRoutes`.
    func unembeddingResidualFromGrams(_ b: Matrix) throws -> Double {
        let grams = try unembeddingGrams()
        var trace11 = 0.0, cross = 0.0
        for i in 0..<grams.s11.rows { trace11 += grams.s11[i, i] }
        // tr(S₁₂ Bᵀ) = Σ_ij S₁₂[i,j] B[i,j].
        for t in grams.s12.storage.indices { cross += grams.s12.storage[t] * b.storage[t] }
        let bs = b.multiplied(by: grams.s22)
        var quadratic = 0.0
        for t in bs.storage.indices { quadratic += bs.storage[t] * b.storage[t] }
        return max(trace11 - 2 * cross + quadratic, 0)
    }
}
