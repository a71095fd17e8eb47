import Numerics

/// Representation-similarity measures the field uses that were not built from the
/// identifiability class (THEORY.md §7), on weighted, centred embeddings
/// X̃ = W^{1/2}(F₁ − E f₁), Ỹ = W^{1/2}(F₂ − E f₂) (N×d₁, N×d₂).
///
/// Class functions (invariant under an invertible map of the second model, the orbit of
/// §2): m_CCA yes; linear CKA and Procrustes no — they are invariant under orthogonal
/// maps and isotropic scaling only (T10); SVCCA no (its variance cut depends on the
/// spectrum, which an invertible map changes).
///
/// A measure is `nil` (undefined) when a side has zero variance; `undefinedReason` says so.
public struct SimilarityMeasures: Codable, Sendable {
    /// ‖X̃ᵀỸ‖_F² / (‖X̃ᵀX̃‖_F ‖ỸᵀỸ‖_F). Cost O(N(d₁² + d₂² + d₁d₂)) (three Grams by
    /// dgemm). 1 for identical embeddings, 0 for uncorrelated ones. The Frobenius norms
    /// are of d×d Grams, so no N×N kernel is formed; relative error about d·ε.
    public let linearCKA: Double?
    /// min over orthogonal Q of ‖X̂ − ŶQ‖_F with X̂ = X̃/‖X̃‖_F, Ŷ = Ỹ/‖Ỹ‖_F (the smaller d
    /// padded with zeros) = (2 − 2‖X̂ᵀŶ‖_*)^{1/2}, ‖·‖_* the nuclear norm by the SVD of
    /// the d₁×d₂ cross-Gram. In [0, √2]. Near 0 the subtraction 2 − 2‖·‖_* loses relative
    /// accuracy (a distance of 1e−8 is not resolved), as every Procrustes implementation
    /// computed this way does.
    public let procrustesDistance: Double?
    /// SVCCA: each side projected on its top principal directions keeping 99 % of its
    /// (weighted) variance, then the mean canonical correlation of the projections.
    /// Cost O(N d²) for the two SVDs and the CCA. Not a class function.
    public let svcca: Double?
    /// Why a measure is undefined, when one is.
    public let undefinedReason: String?
    /// When a side's spread is below 10⁻⁸ of its size (embeddings around a large offset): the
    /// relative error centring in double precision leaves in every measure.
    public let accuracyNote: String?
    /// The unbiased linear CKA from the same Grams, formed when every input weighs the same (bit for
    /// bit) and N ≥ 4: `ModelPair.unbiasedLinearCKA` reads it rather than form three N·d² products
    /// again (2.8 of 66 s at N = 50 000, d = 768).
    var unbiased: UnbiasedLinearCKA? = nil
    /// Whether SVCCA came through m_CCA's bases (`svcca(through:…)`), not the rows' route.
    var svccaThroughBases = false
    /// Where SVCCA's cut falls inside a run of principal directions of equal variance (to within
    /// rounding), which of them are kept is arbitrary and SVCCA depends on it: the note says so
    /// (whitened embeddings gave values 0.04–0.4 % apart by route, stop 70's attack). Not encoded.
    public internal(set) var svccaTieNote: String? = nil

    enum CodingKeys: String, CodingKey {
        case linearCKA = "linear_cka", procrustesDistance = "procrustes_distance", svcca
        case undefinedReason = "undefined_reason", accuracyNote = "accuracy_note"
    }

    /// Whether centred data of squared norm `centred` is zero variance, where its centring rounds at
    /// squared size `rounding` (`WeightedCentring.roundingScaleSquared`), in N×d: a spread below
    /// max(N, d)·ε of that size is rounding, not variance (the floor `CanonicalCorrelations`
    /// resolves directions at). Constant embeddings centre to at most γ_N of the first pass's
    /// rounding of the mean.
    public static func isFlat(centred: Double, rounding: Double, rows: Int, columns: Int) -> Bool {
        let floor = Double(max(rows, columns)) * Double.ulpOfOne
        return centred <= floor * floor * rounding
    }

    /// A note when a side's spread (relative to its root-mean-square norm) is below 10⁻⁸: what
    /// centring in two passes leaves there.
    /// `centred` is the squared norm of the centred rows scaled by 2^−exponent (`centredInRange`).
    static func spreadNote(_ centring: WeightedCentring, centred: Double, exponent: Int, rows: Int, side: String) -> String? {
        let raw = centring.uncentredSquared
        guard raw > 0, centred > 0 else { return nil }
        // The ratios at the centred rows' own scale, then scaled back (the raw ratio may lie
        // beyond the Double range when a constant column is 10²⁰⁰ times the spread).
        let spread = WeightedCentring.scaled((centred / raw).squareRoot(), exponent)
        guard spread < 1e-8 else { return nil }
        let error = Double(max(rows, centring.centred.columns)) * Double.ulpOfOne * WeightedCentring.scaled((centring.roundingScaleSquared / centred).squareRoot(), -exponent)
        return "the \(side) model's embeddings vary by only \(String(format: "%.1e", spread)) of their root-mean-square norm (a large common offset): they are centred in two passes (the second removes the first's rounding of the mean), which leaves a relative error of about \(String(format: "%.0e", max(error, Double.ulpOfOne))) in CKA, Procrustes, SVCCA and m_CCA centred"
    }

    /// Which measures are functions of the identifiability class (T10).
    public static let classFunctions = ["m_CCA": true, "linear CKA": false, "Procrustes distance": false, "SVCCA": false]

    /// `centredCorrelations`, m_CCA's centred canonical correlations of the same embeddings and
    /// weights when already formed, gives SVCCA from its orthonormal bases (`svcca(through:…)`)
    /// instead of two more QR factorisations, projections and bases of N rows.
    public init(_ f1: Matrix, _ f2: Matrix, weights: [Double], varianceKept: Double = 0.99,
                centredCorrelations: CanonicalCorrelations? = nil) throws {
        guard f1.rows == f2.rows, weights.count == f1.rows else {
            throw ModelError.shapeMismatch("similarity measures need the same N rows in both embeddings and one weight per row")
        }
        // Every measure here is invariant to scaling either model's embeddings: each side is
        // first scaled by the power of two bringing its largest |entry| near 1 (exact), so
        // embeddings near the Double range (10¹⁵⁴) cannot overflow the Grams into inf/inf =
        // NaN, nor subnormal ones (10⁻³¹⁰, where 1/max is inf) underflow them.
        let (f1, f2) = (f1.scaledToUnitMaximum, f2.scaledToUnitMaximum)
        let root = weights.map { $0.squareRoot() }
        let (cx, cy) = (WeightedCentring(f1, weights: weights, rowFactors: root), WeightedCentring(f2, weights: weights, rowFactors: root))
        // The centred rows near unit size again where a large constant column left them far below it.
        let ((x, ex), (y, ey)) = (cx.centredInRange, cy.centredInRange)
        let (nx, ny) = (x.frobeniusNormSquared, y.frobeniusNormSquared)
        // Zero variance up to the rounding of the centring.
        let (flatX, flatY) = (Self.isFlat(centred: nx, rounding: WeightedCentring.scaled(cx.roundingScaleSquared, -2 * ex), rows: f1.rows, columns: f1.columns),
                              Self.isFlat(centred: ny, rounding: WeightedCentring.scaled(cy.roundingScaleSquared, -2 * ey), rows: f2.rows, columns: f2.columns))
        guard !flatX, !flatY else {
            (linearCKA, procrustesDistance, svcca, accuracyNote) = (nil, nil, nil, nil)
            undefinedReason = "\(flatX ? "the first" : "the second") model's embeddings have zero variance (every input at one point, to within the data's rounding)"
            return
        }
        undefinedReason = nil
        let spreadNotes = [Self.spreadNote(cx, centred: nx, exponent: ex, rows: f1.rows, side: "first"),
                           Self.spreadNote(cy, centred: ny, exponent: ey, rows: f2.rows, side: "second")]
        let spread = spreadNotes.compactMap { $0 }
        accuracyNote = spread.isEmpty ? nil : spread.joined(separator: "; ")
        let sxy = x.multiplied(by: y, transposeSelf: true)
        let sxx = x.gram(), syy = y.gram()
        // At most 1 (Cauchy–Schwarz), which rounding may pass by an ulp or two.
        linearCKA = min(sxy.frobeniusNormSquared / (sxx.frobeniusNormSquared.squareRoot() * syy.frobeniusNormSquared.squareRoot()), 1)
        if x.rows >= 4, let w0 = weights.first, weights.allSatisfy({ $0 == w0 }) {
            unbiased = UnbiasedLinearCKA(grams: sxx, syy, sxy, rowNorms: (x.rowNormsSquared, y.rowNormsSquared))
        }
        let nuclear = try ModelError.wrapping { try sxy.singularValues() }.reduce(0, +) / (nx * ny).squareRoot()
        var squared = max(0, 2 - 2 * min(nuclear, 1))
        // Near 0 (embeddings equal up to rotation and scale) 2 − 2ν cancels, and its root read the
        // rounding as about 10⁻⁸ (2.6·10⁻⁸ for an exact 0; stop 67's audit). With equal widths the
        // same minimum is ‖X̂ − ŶQ‖_F², Q = UVᵀ from ŶᵀX̂ = UΣVᵀ, formed without cancelling.
        if squared < 1e-6, x.columns == y.columns,
           let svd = try? SingularValueDecomposition(y.multiplied(by: x, transposeSelf: true)) {
            let q = svd.u.multiplied(by: svd.v, transposeOther: true)
            squared = ((1 / nx.squareRoot()) * x - (1 / ny.squareRoot()) * y.multiplied(by: q)).frobeniusNormSquared
        }
        procrustesDistance = squared.squareRoot()
        if let cca = centredCorrelations, cca.centred, cca.basisX.rows == x.rows, cca.basisY.rows == y.rows,
           cca.basisX.columns > 0, cca.basisY.columns > 0,
           let through = try Self.svcca(through: cca, x, y, energy: (nx, ny), varianceKept: varianceKept) {
            (svcca, svccaTieNote) = (through.value, Self.tieNote(through.ties, fraction: varianceKept))
            svccaThroughBases = true
            return
        }
        // Each side's leading principal directions (V only: U is never formed), the two sides
        // on two workers; each decomposition runs serial BLAS, so the values are the same. The
        // centred, √w-scaled rows are projected (the raw rows' projections carried the
        // offset's rounding, ε of it: SVCCA 10⁻⁷ off around an offset 10¹⁰ times the spread),
        // so their canonical correlations are the uncentred ones under unit weights.
        let sides = try BLASThreads.bothSides(flops: 4 * Double(x.rows) * Double(x.columns * x.columns + y.columns * y.columns)) { side in
            let centred = side == 0 ? x : y
            let (values, v) = try ModelError.wrapping { try SingularValueDecomposition.rightSingularVectors(of: centred) }
            let cut = Self.principalCut(values.map { $0 * $0 }, keeping: varianceKept, rows: centred.rows)
            return (centred.multiplied(by: v.leadingColumns(cut.count)), cut.tie)
        }
        svcca = try CanonicalCorrelations(sides.0.0, sides.1.0, weights: [Double](repeating: 1, count: x.rows), centred: false).mean
        svccaTieNote = Self.tieNote((sides.0.1, sides.1.1), fraction: varianceKept)
    }

    /// Directions of equal variance split by SVCCA's cut: how many of them are kept, of how many.
    package typealias PrincipalTie = (kept: Int, of: Int)

    /// SVCCA's cut: how many leading principal directions, of variances `energy` (largest first), keep
    /// `fraction` of their sum; at least one. Both routes here and a merge's moments take it.
    /// `tie`, where the cut splits directions whose variance equals the last kept one's to within
    /// rounding (max(rows, d)·ε of the largest variance, rows the N the variances come from):
    /// how many of them are kept and how many there are.
    package static func principalCut(_ energy: [Double], keeping fraction: Double, rows: Int) -> (count: Int, tie: PrincipalTie?) {
        let total = energy.reduce(0, +)
        var count = 0, sum = 0.0
        while count < energy.count && sum < fraction * total { sum += energy[count]; count += 1 }
        count = max(count, 1)
        guard count < energy.count, let top = energy.first else { return (count, nil) }
        let tolerance = Double(max(rows, energy.count)) * Double.ulpOfOne * top
        let last = energy[count - 1]
        let tied = energy.indices.filter { abs(energy[$0] - last) <= tolerance }
        guard tied.contains(count) else { return (count, nil) }
        return (count, (tied.filter { $0 < count }.count, tied.count))
    }

    /// The note for ties at SVCCA's cut on either side, nil without one.
    package static func tieNote(_ ties: (PrincipalTie?, PrincipalTie?), fraction: Double) -> String? {
        let sides = [("first", ties.0), ("second", ties.1)].compactMap { side, tie in
            tie.map { "the \(side) model's \($0.of) principal directions of equal variance (to within rounding), of which it keeps \($0.kept)" }
        }
        guard !sides.isEmpty else { return nil }
        return "SVCCA's \(String(format: "%g", 100 * fraction)) % cut falls inside \(sides.joined(separator: " and ")): which of them are kept is arbitrary, and SVCCA depends on that choice (a different choice can give another value)"
    }

    /// SVCCA from m_CCA's centred bases: with U_X an orthonormal basis of the centred weighted
    /// embeddings X̃'s column space, X̃ = U_X B_X (to rounding), B_X = U_XᵀX̃ = P_X Σ_X V_Xᵀ, so X̃'s
    /// principal directions are V_X with variances Σ_X², and X̃V_k = U_X P_k Σ_k: the projections
    /// kept span U_X P_k, an orthonormal basis already. Their canonical correlations are the
    /// singular values of (U_X P_k)ᵀ(U_Y Q_l) = P_kᵀ C Q_l, C = U_XᵀU_Y the m_CCA's. Two N·d² products
    /// (BLAS on every core) and d×d decompositions, where the rows' route runs two QR factorisations,
    /// two projections and two more bases of N rows in serial LAPACK: at N = 50 000, d = 768 the
    /// measure's "CKA, Procrustes, SVCCA" phase took 16.6 s that way.
    ///
    /// The principal directions' variances are those of X̃ within U_X's span. A basis that dropped
    /// directions of real variance would drop them from the cut (a review's model, before centring
    /// in two passes: around a large offset m_CCA's basis kept one column of 40 and SVCCA read 0.998
    /// for the rows' 0.468). nil, for the rows' route, unless both bases hold all but 10⁻¹⁰ of their
    /// side's energy ‖X̃‖_F² (`energy`): a direction left out then carries too little variance to
    /// move the cut but at a tie.
    static func svcca(through cca: CanonicalCorrelations, _ x: Matrix, _ y: Matrix, energy: (x: Double, y: Double),
                      varianceKept: Double) throws -> (value: Double, ties: (PrincipalTie?, PrincipalTie?))? {
        let coordinates = [cca.basisX.multiplied(by: x, transposeSelf: true), cca.basisY.multiplied(by: y, transposeSelf: true)]
        guard coordinates[0].frobeniusNormSquared >= (1 - 1e-10) * energy.x,
              coordinates[1].frobeniusNormSquared >= (1 - 1e-10) * energy.y else { return nil }
        let cuts = try coordinates.map { b -> (basis: Matrix, tie: PrincipalTie?) in
            let svd = try ModelError.wrapping { try SingularValueDecomposition(b) }
            let cut = Self.principalCut(svd.singularValues.map { $0 * $0 }, keeping: varianceKept, rows: x.rows)
            return (svd.u.leadingColumns(cut.count), cut.tie)
        }
        let kept = cuts.map(\.basis)
        let m = min(kept[0].columns, kept[1].columns)
        let s = try ModelError.wrapping { try kept[0].multiplied(by: cca.cross.multiplied(by: kept[1]), transposeSelf: true).singularValues() }
        return ((0..<m).reduce(0.0) { $0 + ($1 < s.count ? min(max(s[$1], 0), 1) : 0) } / Double(m), (cuts[0].tie, cuts[1].tie))
    }
}

/// The unbiased linear CKA: HSIC₁ (Song et al. 2012) of the linear kernels of the centred
/// embeddings in place of the biased HSIC, HSIC₁(K, L)/√(HSIC₁(K, K)·HSIC₁(L, L)), with
/// n(n − 3)·HSIC₁ = tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n − 1)(n − 2)) − 2·1ᵀK̃L̃1/(n − 2), K̃ the Gram
/// with its diagonal set to 0 — as ckatorch and Kornblith et al.'s debiased CKA compute it.
/// Formed from d×d products and per-input norms, never an N×N kernel: with centred rows
/// x_i, y_i, tr(K̃L̃) = ‖XᵀY‖_F² − Σ‖x_i‖²‖y_i‖², 1ᵀK̃1 = −Σ‖x_i‖², 1ᵀK̃L̃1 = Σ‖x_i‖²‖y_i‖².
/// Defined for uniform input weights only (it is a U-statistic over distinct inputs) and
/// N ≥ 4; it can be negative. `nil` with the reason otherwise.
public struct UnbiasedLinearCKA: Sendable {
    public let value: Double?
    public let note: String?

    public init(_ f1: Matrix, _ f2: Matrix, weights: [Double]) {
        let n = f1.rows
        guard let w0 = weights.first, weights.allSatisfy({ abs($0 - w0) <= 1e-12 * w0 }) else {
            self.init(undefined: "the unbiased (HSIC₁) estimator is a U-statistic over equally weighted inputs; these inputs are weighted"); return
        }
        let uniform = [Double](repeating: 1 / Double(n), count: n)
        // Scale-invariant: each side scaled first, as in `SimilarityMeasures` (its fourth
        // powers overflowed at 10⁷⁷ and underflowed below 10⁻⁷⁷).
        let (f1, f2) = (f1.scaledToUnitMaximum, f2.scaledToUnitMaximum)
        let (cx, cy) = (WeightedCentring(f1, weights: uniform), WeightedCentring(f2, weights: uniform))
        // Near unit size again beside a large constant column, as in `SimilarityMeasures`.
        let ((x, ex), (y, ey)) = (cx.centredInRange, cy.centredInRange)
        // (The rows are not scaled by √w here, so the weighted rounding scale is taken N times.)
        self.init(centredGrams: x.gram(), y.gram(), x.multiplied(by: y, transposeSelf: true), rowNorms: (x.rowNormsSquared, y.rowNormsSquared),
                  rounding: (Double(n) * WeightedCentring.scaled(cx.roundingScaleSquared, -2 * ex), Double(n) * WeightedCentring.scaled(cy.roundingScaleSquared, -2 * ey)))
    }

    private init(undefined reason: String) { (value, note) = (nil, reason) }

    /// From rows centred elsewhere, under equal weights (each side's rows may carry one common
    /// factor, √w, say), with their Grams XᵀX, YᵀY, XᵀY (or YᵀX) and squared row norms: `measure`'s moments
    /// route forms them for its covariances (`CentredMoments`), and forming them again from the
    /// rows had taken a quarter of a run at N = 10⁵, k = 1 000, d = 256 and its memory peak (stop 73).
    /// `rounding`: each side's squared size its centring rounds at, in the rows' scale
    /// (`WeightedCentring.roundingScaleSquared`), for the zero-variance test.
    package init(centredGrams xx: Matrix, _ yy: Matrix, _ cross: Matrix, rowNorms: (x: [Double], y: [Double]), rounding: (x: Double, y: Double)) {
        let n = rowNorms.x.count
        guard n >= 4 else { self.init(undefined: "the unbiased estimator needs N ≥ 4 inputs"); return }
        // Zero variance up to the centring's rounding, as `SimilarityMeasures` tests it: the noise of
        // centring constant embeddings gave a CKA of 1 (or of anything).
        for (trace, size, columns, side) in [(rowNorms.x.reduce(0, +), rounding.x, xx.rows, "first"), (rowNorms.y.reduce(0, +), rounding.y, yy.rows, "second")]
        where SimilarityMeasures.isFlat(centred: trace, rounding: size, rows: n, columns: columns) {
            self.init(undefined: "undefined: the \(side) model's embeddings have zero variance (every input at one point)"); return
        }
        self.init(grams: xx, yy, cross, rowNorms: rowNorms)
    }

    /// From the Grams and squared row norms, each side first brought near unit trace by a power
    /// of two (exact): the terms are fourth powers of the rows, which overflowed beyond 10⁷⁷.
    init(grams xx: Matrix, _ yy: Matrix, _ cross: Matrix, rowNorms: (x: [Double], y: [Double])) {
        func halfExponent(_ trace: Double) -> Int { trace > 0 && trace.isFinite ? Int(trace.exponent) / 2 : 0 }
        let (a, b) = (halfExponent(rowNorms.x.reduce(0, +)), halfExponent(rowNorms.y.reduce(0, +)))
        func scaled(_ m: Matrix, _ e: Int) -> Matrix { e == 0 ? m : Matrix(rows: m.rows, columns: m.columns) { WeightedCentring.scaled(m[$0, $1], e) } }
        self.init(crossSquared: scaled(cross, -a - b).frobeniusNormSquared, firstSquared: scaled(xx, -2 * a).frobeniusNormSquared,
                  secondSquared: scaled(yy, -2 * b).frobeniusNormSquared,
                  rowNorms: (rowNorms.x.map { WeightedCentring.scaled($0, -2 * a) }, rowNorms.y.map { WeightedCentring.scaled($0, -2 * b) }))
    }

    /// From the centred embeddings' ‖XᵀY‖_F², ‖XᵀX‖_F², ‖YᵀY‖_F² and squared row norms (N ≥ 4, each
    /// side of nonzero variance). X and Y may each carry one common factor on every row: every HSIC₁
    /// term of a side scales with it, so the ratio does not (`SimilarityMeasures` passes its Grams of
    /// W^{1/2}-scaled rows under uniform weights).
    init(crossSquared: Double, firstSquared: Double, secondSquared: Double, rowNorms: (x: [Double], y: [Double])) {
        let (dx, dy) = rowNorms
        let nn = Double(dx.count)
        // HSIC₁ and the size of its largest term: the sum rounds at about N·ε of that size.
        func hsic(_ cross: Double, _ a: [Double], _ b: [Double]) -> (value: Double, rounding: Double) {
            let diagonal = zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
            let sumA = -a.reduce(0, +), sumB = -b.reduce(0, +)
            let terms = [cross, -diagonal, sumA * sumB / ((nn - 1) * (nn - 2)), -2 * diagonal / (nn - 2)]
            let scale = terms.reduce(0) { max($0, abs($1)) } / (nn * (nn - 3))
            return (terms.reduce(0, +) / (nn * (nn - 3)), 8 * nn * Double.ulpOfOne * scale)
        }
        let kl = hsic(crossSquared, dx, dy).value
        let (kk, ll) = (hsic(firstSquared, dx, dx), hsic(secondSquared, dy, dy))
        // A side's HSIC₁ with itself within rounding of 0 (every input but one at one point makes it
        // exactly 0: the estimator is then 0/0, and the quotient of rounding errors read ±10⁻⁸).
        guard kk.value > kk.rounding, ll.value > ll.rounding else {
            value = nil
            note = "HSIC₁ of \(kk.value > kk.rounding ? "the second" : "the first") model with itself is not positive to within rounding (too little variance for the unbiased estimator: every input but one at one point, say)"
            return
        }
        // HSIC₁ is an inner product of the U-centred Grams, so the ratio lies in [−1, 1]; rounding
        // had passed 1 (1.0000000000000004 for embeddings equal up to a rotation and an offset of 10⁷).
        value = max(-1, min(1, kl / (kk.value * ll.value).squareRoot()))
        note = nil
    }
}

extension Matrix {
    /// Σ_j a_ij² for each row i.
    package var rowNormsSquared: [Double] {
        storage.withUnsafeBufferPointer { s in
            (0..<rows).map { i in
                var total = 0.0
                for v in s[(i * columns)..<((i + 1) * columns)] { total += v * v }
                return total
            }
        }
    }
}

extension ModelPair {
    /// Linear CKA, Procrustes distance and SVCCA of the two models' embeddings.
    public func similarityMeasures() throws -> SimilarityMeasures {
        try cache.value("similarity") {
            try SimilarityMeasures(first.embeddings, second.embeddings, weights: weights,
                                   centredCorrelations: cache.peek("cca.true", as: CanonicalCorrelations.self))
        }
    }

    /// Keeps `make()` as this pair's unbiased CKA (`unbiasedLinearCKA` returns it), where it was
    /// formed from Grams at hand.
    package func keepUnbiasedLinearCKA(_ make: () -> UnbiasedLinearCKA) { _ = cache.value("unbiased", make) }

    /// The unbiased (HSIC₁) linear CKA of the two models' embeddings: from the similarity measures'
    /// Grams when they were formed under equal weights, or from the covariances' Grams a moments
    /// route kept (`keepUnbiasedLinearCKA`), otherwise from the rows.
    public func unbiasedLinearCKA() -> UnbiasedLinearCKA {
        if let shared = cache.peek("similarity", as: SimilarityMeasures.self)?.unbiased ?? cache.peek("unbiased", as: UnbiasedLinearCKA.self) { return shared }
        return UnbiasedLinearCKA(first.embeddings, second.embeddings, weights: weights)
    }
}

extension ExactModelPair {
    /// Linear CKA certified from the exact centred moments M₁₁, M₂₂, M₂₁ (weights exact):
    /// CKA² = ‖M₂₁‖_F⁴ / (‖M₁₁‖_F² ‖M₂₂‖_F²) is an exact rational; CKA its square root,
    /// enclosed with outward rounding. nil when a side has exactly zero variance.
    public func certifiedLinearCKA() -> (squared: Rational, enclosure: Interval)? {
        let m = moments(centred: true)
        let cross = m.m21.weightedFrobeniusSquared(), a = m.m11.weightedFrobeniusSquared(), b = m.m22.weightedFrobeniusSquared()
        guard a.sign > 0, b.sign > 0 else { return nil }
        let squared = cross * cross / (a * b)
        return (squared, Interval(squared).squareRoot)
    }

    /// The orthogonal Procrustes distance certified: (2 − 2‖M₂₁‖_* / √(tr M₁₁ tr M₂₂))^{1/2},
    /// with the nuclear norm Σ √λᵢ(M₂₁M₂₁ᵀ) bracketed eigenvalue by eigenvalue from exact
    /// inertia counts (`SymmetricPencil` against the identity), and the rest enclosed in
    /// MPFR. nil when a side has exactly zero variance.
    public func certifiedProcrustesDistance() throws -> Interval? {
        let m = moments(centred: true)
        let (t1, t2) = (m.m11.trace, m.m22.trace)
        guard t1.sign > 0, t2.sign > 0 else { return nil }
        let nuclear = try certifiedNuclearNorm(m.m21)
        let scale = Interval(t1 * t2).squareRoot
        let two = Interval(Rational(2))
        return (two - two * (nuclear / scale)).squareRoot
    }
}
