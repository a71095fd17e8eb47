import Numerics

/// T12's floor (THEORY.md §9, Proofs/T12-width-floor.md): the spectrum σ₁² ≥ σ₂² ≥ … of
/// the teacher's weighted centred logits W^{1/2}Λ̃₁ (rank ≤ min(d₁, k − 1)), and for a
/// width r the tail Σ_{i>r} σᵢ² that every student of embedding dimension r stays above
/// in d_logit², attained by the rank-r truncated SVD.
///
/// Routes. With W^{1/2}F₁ = Q_F R_F and G̃₁ = Q_G R_G (thin QR, O((N + k)d₁²)),
/// W^{1/2}Λ̃₁ = Q_F (R_F R_Gᵀ) Q_Gᵀ, so σ are the singular values of the d₁×d₁ matrix
/// R_F R_Gᵀ: no squaring, relative accuracy of each σ about ε·σ₁/σᵢ. At language-model
/// scale (`usesGramRoutes`) the d×d moments M = F₁ᵀWF₁ and S = G̃₁ᵀG̃₁ are at hand and
/// σ² = eig(LᵀSL), M = LLᵀ (the spectrum of MS): absolute error about ε·σ₁², enough for a
/// floor of that size. Tails are summed from the smallest term up.
public struct WidthFloor: Sendable {
    /// σᵢ², decreasing, d₁ of them (zeros where the rank is lower).
    public let squaredSingularValues: [Double]
    /// log₁₀ σᵢ² (−∞ where σᵢ² is 0): the floor beyond the Double range (`floorLog10`).
    let log10SquaredSingularValues: [Double]
    /// Σᵢ σᵢ² = E_w‖Λ̃₁‖² (the floor of a width-0 student).
    public let total: Double
    /// The factors behind the truncated SVD (QR route only): W^{1/2}Λ̃₁ = U Σ Vᵀ.
    let leftFactor: Matrix?
    let rightFactor: Matrix?

    /// By the QR route, from the teacher's F, G and weights. Without `factors` only the
    /// triangles R_F, R_G are formed (the same R, so the same spectrum), not Q_F, Q_G nor the
    /// truncated SVD's factors: no attaining student, in about a third of the time.
    public init(_ teacher: SoftmaxModel, factors: Bool = true) throws {
        let d = teacher.dimension
        let f = teacher.weightedEmbeddings, g = teacher.centredUnembeddings
        let (first, second) = try BLASThreads.bothSides(flops: 4 * Double(f.rows + g.rows) * Double(d * d)) { side -> (q: Matrix?, r: Matrix) in
            let a = side == 0 ? f : g
            if factors { let (q, r) = try Self.thinQR(a); return (q, r) }
            return (nil, a.rows >= a.columns ? try ModelError.wrapping { try QRDecomposition.triangularFactor(of: a) } : a)
        }
        let (rf, rg) = (first.r, second.r)
        let core = try ModelError.wrapping { try SingularValueDecomposition(rf.multiplied(by: rg, transposeOther: true)) }
        let sigma = core.singularValues
        // Λ̃₁ has rank ≤ min(d₁, k − 1) (G̃₁'s rows sum to 0): what SVD reports beyond that is rounding.
        // Each σᵢ is accurate to about ε·σ₁ (absolute): below d·ε·σ₁ it is rounding, not a
        // direction of the teacher's logits (a rank-1 teacher's tail is 0, not 10⁻³¹).
        let rank = min(d, teacher.labelCount - 1), noise = Double(d) * Double.ulpOfOne * (sigma.first ?? 0)
        let kept = (0..<d).map { $0 < min(sigma.count, rank) && sigma[$0] > noise ? sigma[$0] : 0 }
        squaredSingularValues = kept.map { $0 * $0 }
        log10SquaredSingularValues = kept.map { 2 * $0.log / Double.ln10 }
        leftFactor = first.q?.multiplied(by: core.u)       // N×m: U
        rightFactor = second.q?.multiplied(by: core.v)     // k×m: V
        total = squaredSingularValues.reversed().reduce(0, +)
    }

    /// From the d×d moments M = F₁ᵀWF₁ and S = G̃₁ᵀG̃₁: σ² = eig(LᵀSL), M = LLᵀ (or with
    /// the roles swapped when M is singular). No factors, so no attaining student.
    public init(moments: (m: Matrix, s: Matrix), dimension d: Int, labels k: Int) throws {
        let spectrum = try ModelError.wrapping { () -> [Double] in
            if let l = try? CholeskyDecomposition(moments.m).l {
                return try SymmetricEigendecomposition.eigenvalues(of: symmetrised(l.transposed * moments.s * l))
            }
            if let l = try? CholeskyDecomposition(moments.s).l {
                return try SymmetricEigendecomposition.eigenvalues(of: symmetrised(l.transposed * moments.m * l))
            }
            // Both singular (collinear or constant columns, d ≥ k): M^{1/2} from M's own
            // decomposition, its negative rounding-level eigenvalues clamped to 0.
            let e = try SymmetricEigendecomposition(symmetrised(moments.m))
            let root = e.eigenvectors.scalingColumns(by: e.eigenvalues.map { max($0, 0).squareRoot() })
            return try SymmetricEigendecomposition.eigenvalues(of: symmetrised(root.transposed * moments.s * root))
        }
        self.init(spectrumOfMS: spectrum, dimension: d, labels: k)
    }

    /// From the eigenvalues of MS (decreasing), however they were computed with an absolute
    /// error of about ε·σ₁². T7's μ without centring (`T7CanonicalCorrelationBound.momentSpectrum`
    /// with M₂₂ = M and S₂₂ = S) is this spectrum, eig(M^{1/2}SM^{1/2}), so the moments' route
    /// of `measure` and `merge` reads T12 from it instead of decomposing MS a second time.
    public init(spectrumOfMS spectrum: [Double], dimension d: Int, labels k: Int) {
        // Below d·ε·σ₁² the eigenvalues are rounding.
        let rank = min(d, k - 1), noise = Double(d) * Double.ulpOfOne * max(spectrum.first ?? 0, 0)
        squaredSingularValues = (0..<d).map { $0 < min(spectrum.count, rank) && spectrum[$0] > noise ? spectrum[$0] : 0 }
        log10SquaredSingularValues = squaredSingularValues.map { $0.log / Double.ln10 }
        (leftFactor, rightFactor) = (nil, nil)
        total = squaredSingularValues.reversed().reduce(0, +)
    }

    /// Q and R of a thin QR, also when the matrix has fewer rows than columns (then
    /// through the QR of its transpose: A = (QR)ᵀ = Rᵀ Qᵀ, with Q' = I and R' = A).
    static func thinQR(_ a: Matrix) throws -> (q: Matrix, r: Matrix) {
        if a.rows >= a.columns {
            let qr = try ModelError.wrapping { try QRDecomposition(a) }
            return (qr.q, qr.r)
        }
        return (Matrix.identity(a.rows), a)
    }

    /// Σ_{i>r} σᵢ²: the least d_logit² of any student of embedding dimension r (0 exactly
    /// when r ≥ min(d₁, k − 1), the rank bound of Λ̃₁).
    public func floor(width r: Int) -> Double {
        guard r < squaredSingularValues.count else { return 0 }
        return squaredSingularValues[max(r, 0)...].reversed().reduce(0, +)
    }

    /// log₁₀ floor(width: r), from the logarithms of σᵢ² where the squares leave the Double range
    /// (the QR route's σᵢ near 10²¹⁰ gave a floor of +∞); −∞ for a floor of 0.
    public func floorLog10(width r: Int) -> Double {
        guard r < log10SquaredSingularValues.count else { return -.infinity }
        let tail = log10SquaredSingularValues[max(r, 0)...].filter(\.isFinite)
        guard let top = tail.max() else { return -.infinity }
        return top + tail.reduce(0) { $0 + (($1 - top) * Double.ln10).exp }.log / Double.ln10
    }

    /// floor(width: r) for r = 1 … d₁ (non-increasing; the last is 0).
    public var curve: [Double] { (1...max(squaredSingularValues.count, 1)).map { floor(width: $0) } }

    /// The student of embedding dimension r that attains the floor: f₂ = W^{-1/2}U_rΣ_r,
    /// g₂ = V_r (its columns are orthogonal to 1, so G̃₂ = V_r), so Λ̃₂ is the rank-r
    /// truncated SVD. nil on the moment route (no factors) or when r ≥ d₁ or r < 1.
    public func attainingStudent(width r: Int, weights: [Double]) throws -> SoftmaxModel? {
        guard let u = leftFactor, let v = rightFactor, r >= 1, r <= min(u.columns, v.columns) else { return nil }
        let sigma = squaredSingularValues.prefix(r).map { $0.squareRoot() }
        let f = Matrix(rows: u.rows, columns: r) { i, j in u[i, j] * sigma[j] / weights[i].squareRoot() }
        let g = Matrix(rows: v.rows, columns: r) { i, j in v[i, j] }
        return try SoftmaxModel(embeddings: f, unembeddings: g, weights: weights)
    }
}

extension ModelPair {
    /// The teacher's (first model's) width floor, memoised: from the d×d moments at
    /// language-model scale, else by the QR route without the attaining student's factors
    /// (`WidthFloor(first)` has them).
    public func widthFloor() throws -> WidthFloor {
        try cache.value("widthFloor") {
            if usesGramRoutes, let grams = try? unembeddingGrams() {
                return try WidthFloor(moments: (first.weightedEmbeddings.gram(), grams.s11), dimension: first.dimension, labels: first.labelCount)
            }
            return try WidthFloor(first, factors: false)
        }
    }
}

/// T12 (width floor, THEORY.md §9): a student of embedding dimension d₂ has
/// Σ_{i>d₂} σᵢ(W^{1/2}Λ̃₁)² ≤ d_logit²; checked where the student is narrower than the
/// teacher's rank bound min(d₁, k − 1) (elsewhere the floor is 0 and the statement
/// trivial). `constantScale` multiplies the right side (below 1 plants a false floor:
/// 1/1.001 is a floor 0.1 % too high).
///
/// Certificate: with M = F₁ᵀWF₁ and S = G̃₁ᵀG̃₁ exact, σᵢ² are the eigenvalues of MS,
/// counted exactly by the inertia of the pencil (MSM, M) (or (SMS, S) when M is singular);
/// the top d₂ are bracketed (`EigenvalueBrackets`, then bisection until the comparison is
/// decided), the floor is tr(MS) − Σ_{i≤d₂} σᵢ² ∈ [tr − Σ upper, tr − Σ lower], and
/// d_logit² is exact. Level: enclosure (the counts are certified by MPFR interval LDLᵀ
/// with exact elimination as fallback), exact when d₁ = 1.
public struct T12WidthFloorBound: PairStatement {
    public let id = StatementID.T12
    public let form = "Σ_{i>d₂} σᵢ(W^{1/2}Λ̃₁)² ≤ d_logit²"
    public let constantScale: Double

    public init(constantScale: Double = 1) { self.constantScale = constantScale }

    /// Why the statement is trivial on this pair, or nil when it is checked.
    package func trivial(_ pair: ModelPair) -> String? {
        Self.trivial(teacherDimension: pair.first.dimension, studentDimension: pair.second.dimension, labels: pair.first.labelCount)
    }

    package static func trivial(teacherDimension d1: Int, studentDimension d2: Int, labels k: Int) -> String? {
        if d2 >= min(d1, k - 1) {
            return "the floor is 0: the student's d₂ = \(d2) ≥ min(d₁, k − 1) = \(min(d1, k - 1)), the rank bound of the teacher's centred logits"
        }
        return nil
    }

    /// Only the widths decide it (the screen's Double floor is left to the screen and `certify`).
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? {
        trivial(pair).map { .inapplicable(id, form, level: .double, $0) }
    }

    public func screen(_ pair: ModelPair) throws -> Verdict {
        if let why = trivial(pair) { return .inapplicable(id, form, level: .double, why) }
        return verdict(floor: try pair.widthFloor().floor(width: pair.second.dimension),
                       logitDistanceSquared: try pair.logitDistanceSquared())
    }

    /// The screen's verdict from its two numbers (also used by merged shard statistics).
    package func verdict(floor: Double, logitDistanceSquared d2: Double) -> Verdict {
        let rhs = constantScale * d2
        return Verdict(id: id, form: form, level: .double, outcome: floor <= rhs ? .holds : .violated, lhs: floor, rhs: rhs,
                       constant: constantScale, constantName: "\(constantScale)")
    }

    /// Both sides from fast enclosures: σᵢ² as the eigenvalues of the pencil (MSM, M)
    /// (`FastIntervalMatrix.pencilEigenvalues`, M = F₁ᵀWF₁ and S = G̃₁ᵀG̃₁ enclosed), the floor
    /// as the sum of the smallest d₁ − d₂ of them (no cancellation against the trace),
    /// d_logit² enclosed. nil (escalate) when M is not shown positive definite or the
    /// sides overlap.
    public func fastCertify(_ pair: ModelPair) throws -> Verdict? {
        guard trivial(pair) == nil, let distance = pair.fastLogitDistanceSquared() else { return nil }
        return fastVerdict(m: pair.fastEmbeddingMoments().m11, s: pair.fastUnembeddingGrams().first, studentDimension: pair.second.dimension,
                           logitDistanceSquared: distance)
    }

    /// From d×d statistics alone (a merge of shards). nil (escalate) when undecided or the floor is trivially 0.
    public func fastVerdict(_ s: FastMomentStatistics) -> Verdict? {
        guard Self.trivial(teacherDimension: s.firstDimension, studentDimension: s.secondDimension, labels: s.labels) == nil else { return nil }
        return fastVerdict(m: s.moments.m11, s: s.grams.first, studentDimension: s.secondDimension, logitDistanceSquared: s.logitDistanceSquared)
    }

    func fastVerdict(m: FastIntervalMatrix, s: FastIntervalMatrix, studentDimension: Int, logitDistanceSquared distance: FastInterval) -> Verdict? {
        guard let eigenvalues = m.multiplied(by: s).multiplied(by: m).pencilEigenvalues(m) else { return nil }
        let floor = FastInterval.sum(eigenvalues.prefix(max(eigenvalues.count - studentDimension, 0)).map(\.clampedNonNegative))
        return Verdict.fast(id, form, lhs: floor, rhs: FastInterval(constantScale) * distance, constant: constantScale,
                            constantName: "\(constantScale)")
    }

    public func certify(_ pair: ModelPair) throws -> Verdict {
        if let why = trivial(pair) { return .inapplicable(id, form, level: .exact, why) }
        var spectrum = try CertifiedWidthSpectrum(try pair.exact(), estimates: try pair.widthFloor().squaredSingularValues)
        let r = pair.second.dimension
        let rhs = SigmaCertificate.exact(constantScale) * pair.exactLogitDistanceSquared()
        let (outcome, floor) = try spectrum.decide(width: r, against: rhs)
        let why: String
        switch outcome {
        case .holds: why = "certified floor ≤ \(floor.upper.doubleAbove) ≤ right side (exact d_logit²; σ² bracketed by exact inertia counts)"
        case .violated: why = "certified floor ≥ \(floor.lower.doubleBelow) > right side (exact d_logit²; σ² bracketed by exact inertia counts)"
        default: why = "the floor's certified bracket [\(floor.lower.doubleBelow), \(floor.upper.doubleAbove)] contains the right side"
        }
        return Verdict(id: id, form: form, level: spectrum.level, outcome: outcome,
                       lhs: ((floor.lower + floor.upper) / Rational(2)).doubleValue, rhs: rhs.doubleValue,
                       constant: constantScale, constantName: "\(constantScale)", exactLHS: nil, certificate: why,
                       lhsLog10: floor.upper.log10Magnitude, rhsLog10: rhs.log10Magnitude)
    }
}

/// σᵢ² = eig(MS) of the teacher, bracketed by exact inertia counts (see `T12WidthFloorBound`).
struct CertifiedWidthSpectrum {
    let trace: Rational
    var lower: [Rational]
    var upper: [Rational]
    let level: VerdictLevel
    let count: (Rational) throws -> Int

    /// The nonzero eigenvalues of MS as a symmetric-definite pencil: (MSM, M) when M is positive
    /// definite, (SMS, S) when S is, and otherwise (M[:,I]ᵀ S M[:,I], M[I,I]) on a largest index
    /// set I with M[I,I] positive definite. For M ⪰ 0, M = M[:,I] M[I,I]⁻¹ M[I,:] (M = XᵀX and the
    /// columns X_I are a basis of X's columns), so the nonzero eigenvalues of MS are those of
    /// M[I,I]⁻¹ M[:,I]ᵀ S M[:,I] (Proofs/T12-width-floor.md).
    init(_ exact: ExactModelPair, estimates: [Double]) throws {
        let m = exact.first.embeddingMoment
        let s = exact.first.centredUnembeddingGram
        let ms = try ModelError.wrapping { try m.multiplied(by: s) }
        trace = ms.trace
        let pencil: SymmetricPencil
        var size = m.rows
        if try m.isPositiveDefinite() {
            pencil = SymmetricPencil(try ModelError.wrapping { try ms.multiplied(by: m) }, m)
        } else if try s.isPositiveDefinite() {
            pencil = SymmetricPencil(try ModelError.wrapping { try s.multiplied(by: m).multiplied(by: s) }, s)
        } else {
            var basis: [Int] = []
            for i in 0..<m.rows where try Self.principal(m, basis + [i]).isPositiveDefinite() { basis.append(i) }
            guard !basis.isEmpty else {
                // M = 0: every eigenvalue of MS is 0.
                (lower, upper, level, count) = ([], [], .exact, { _ in 0 })
                return
            }
            size = basis.count
            let columns = m.transposed.selectingRows(basis)   // M[:,I]ᵀ
            pencil = SymmetricPencil(try ModelError.wrapping { try columns.multiplied(by: s).multiplied(by: columns.transposed) },
                                     Self.principal(m, basis))
        }
        count = { try pencil.positiveCount(at: $0) }
        if size == 1 {
            (lower, upper, level) = ([trace], [trace], .exact)
            return
        }
        let brackets = try EigenvalueBrackets(estimates: Array(estimates.prefix(size)), floor: 0, trivialLower: .zero,
                                              trivialUpper: trace, count: count)
        (lower, upper, level) = (brackets.lower, brackets.upper, .enclosure)
    }

    /// M[I,I].
    static func principal(_ m: RationalMatrix, _ indices: [Int]) -> RationalMatrix {
        m.selectingRows(indices).transposed.selectingRows(indices)
    }

    /// The floor of width r bracketed: [tr − Σ_{i<r} upper, tr − Σ_{i<r} lower].
    func floor(width r: Int) -> (lower: Rational, upper: Rational) {
        let head = 0..<min(r, lower.count)
        return (trace - Rational.sum(head.map { upper[$0] }), trace - Rational.sum(head.map { lower[$0] }))
    }

    /// floor(width: r) ≤ rhs? Bisects the top r brackets (each halving one eigenvalue's
    /// bracket by an exact count) until the comparison is decided or 200 rounds pass.
    mutating func decide(width r: Int, against rhs: Rational) throws -> (Outcome, (lower: Rational, upper: Rational)) {
        for _ in 0..<200 {
            let f = floor(width: r)
            if f.upper < rhs || f.upper == rhs { return (.holds, f) }
            if rhs < f.lower { return (.violated, f) }
            for i in 0..<min(r, lower.count) {
                let middle = (lower[i] + upper[i]) / Rational(2)
                if try count(middle) >= i + 1 { lower[i] = middle } else { upper[i] = middle }
            }
        }
        return (.undecided, floor(width: r))
    }
}
