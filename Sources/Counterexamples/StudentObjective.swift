import Numerics
import Theory

/// What CE4's search makes a student dissimilar in (THEORY.md §5). Every objective
/// is *minimised* by the search:
/// - `mcca`: m_CCA(f_A, f_B), centred and weighted (so 1 − m_CCA grows);
/// - `drep`: −d_rep(A←B)² / E‖f_A‖², the scale-free least-squares dissimilarity;
/// - `probe`: the canonical correlation between a 0/1 concept and f_B, i.e. the
///   square root of the R² of the best linear (least-squares) read-out of the concept
///   from the student's embeddings. At 0 no affine function of f_B correlates with
///   the concept; a logistic probe is then reduced to guessing from class balance.
public enum StudentObjectiveKind: String, Sendable, CaseIterable, Codable {
    case mcca, drep, probe

    /// How the report names the quantity the search pushes up.
    public var dissimilarityName: String {
        switch self {
        case .mcca: return "1 − m_CCA (centred)"
        case .drep: return "scale-free d_rep(A←B)"
        case .probe: return "1 − ρ(concept, f_B)"
        }
    }
}

/// The value and gradient of one objective over student parameters (F_B, G_B).
struct ObjectiveGradient {
    var value: Double
    var embeddings: Matrix
    var unembeddings: Matrix
}

/// The teacher-side quantities an objective needs, computed once per search.
///
/// The CCA objectives minimise ‖K‖_* / m with K = C S^{-1/2}, C = U_Xᵀ W Y,
/// S = Yᵀ W Y (Y the weighted-centred student embeddings, U_X a W-orthonormal basis
/// of the centred teacher side, so K's singular values are the canonical
/// correlations). With K = U Σ Vᵀ and Z = U Vᵀ:
/// d‖K‖_* = ⟨Z S^{-1/2}, dC⟩ + ⟨Cᵀ Z, d(S^{-1/2})⟩, and for S = E diag(s) Eᵀ the
/// derivative of the inverse square root is E (Γ ∘ (Eᵀ dS E)) Eᵀ with
/// Γ_ij = (s_i^{-1/2} − s_j^{-1/2}) / (s_i − s_j) (Γ_ii = −½ s_i^{-3/2}). Hence
/// ∂/∂Y = W U_X Z S^{-1/2} + 2 W Y D, D = E (Γ ∘ Eᵀ sym(CᵀZ) E) Eᵀ. Because U_X and
/// Y are weighted-centred, the centring map passes the gradient through unchanged.
/// ‖K‖_* is not differentiable where a canonical correlation is 0; Z then uses the
/// singular vectors LAPACK returns (a subgradient).
struct StudentObjective: @unchecked Sendable {
    let kind: StudentObjectiveKind
    let weights: [Double]
    /// W-orthonormal basis of the centred teacher embeddings (mcca) or the centred
    /// concept (probe); N × p.
    let basis: Matrix?
    /// drep: F_A, G̃_A⁺ (d_A × k) and E‖f_A‖².
    let teacherEmbeddings: Matrix
    let unembeddingPseudoInverse: Matrix?
    let teacherNorm: Double

    init(kind: StudentObjectiveKind, teacher: SoftmaxModel, concept: [Bool]?) throws {
        self.kind = kind
        weights = teacher.weights
        teacherEmbeddings = teacher.embeddings
        teacherNorm = teacher.weightedEmbeddings.frobeniusNormSquared
        switch kind {
        case .mcca:
            basis = try Self.orthonormalBasis(teacher.embeddings, weights: weights)
            unembeddingPseudoInverse = nil
        case .probe:
            guard let concept else { throw ModelError.refused("the probe objective needs a concept") }
            let column = try Matrix(rows: concept.count, columns: 1, storage: concept.map { $0 ? 1 : 0 })
            basis = try Self.orthonormalBasis(column, weights: weights)
            unembeddingPseudoInverse = nil
        case .drep:
            basis = nil
            let g = teacher.centredUnembeddings
            let gram = g.gram()
            unembeddingPseudoInverse = try ModelError.wrapping { try gram.solve(g.transposed) }
        }
    }

    /// U = X̃ (X̃ᵀWX̃)^{-1/2}: weighted-centred, with UᵀWU = I.
    static func orthonormalBasis(_ x: Matrix, weights: [Double]) throws -> Matrix {
        let centred = x.subtractingFromRows(x.weightedRowMean(weights))
        let covariance = centred.scalingRows(by: weights.map { $0.squareRoot() }).gram()
        let eigen = try ModelError.wrapping { try SymmetricEigendecomposition(covariance) }
        guard let top = eigen.eigenvalues.first, top > 0, eigen.eigenvalues.last! > 1e-12 * top else {
            throw ModelError.refused("the objective's reference side is rank-deficient (its weighted covariance is singular)")
        }
        let root = eigen.eigenvectors.scalingColumns(by: eigen.eigenvalues.map { 1 / $0.squareRoot() })
            .multiplied(by: eigen.eigenvectors, transposeOther: true)
        return centred.multiplied(by: root)
    }

    func evaluate(embeddings f: Matrix, unembeddings g: Matrix) throws -> ObjectiveGradient {
        switch kind {
        case .mcca, .probe: return try canonicalCorrelationSum(f, g)
        case .drep: return representationDissimilarity(f, g)
        }
    }

    /// ‖K‖_* / m and its gradient (the unembeddings do not enter).
    func canonicalCorrelationSum(_ f: Matrix, _ g: Matrix) throws -> ObjectiveGradient {
        let u = basis!
        let y = f.subtractingFromRows(f.weightedRowMean(weights))
        let wy = y.scalingRows(by: weights)
        let s = y.multiplied(by: wy, transposeSelf: true)
        let c = u.multiplied(by: wy, transposeSelf: true)
        let q = y.columns
        var sRegular = s
        let trace = (0..<q).reduce(0) { $0 + s[$1, $1] }
        for j in 0..<q { sRegular[j, j] += 1e-12 * trace / Double(q) + .leastNormalMagnitude }
        let eigen = try ModelError.wrapping { try SymmetricEigendecomposition(symmetrised(sRegular)) }
        let lambdas = eigen.eigenvalues.map { max($0, 1e-300) }
        let e = eigen.eigenvectors
        let inverseRoot = e.scalingColumns(by: lambdas.map { 1 / $0.squareRoot() }).multiplied(by: e, transposeOther: true)
        let k = c.multiplied(by: inverseRoot)
        let svd = try ModelError.wrapping { try SingularValueDecomposition(k) }
        let m = Double(min(u.columns, q))
        let value = svd.singularValues.reduce(0, +) / m
        let z = svd.u.multiplied(by: svd.v, transposeOther: true)
        // ⟨Cᵀ Z, d S^{-1/2}⟩ → D.
        let ctz = c.multiplied(by: z, transposeSelf: true)
        let sym = 0.5 * (ctz + ctz.transposed)
        var inner = e.multiplied(by: sym.multiplied(by: e), transposeSelf: true)
        for i in 0..<q {
            for j in 0..<q {
                let (a, b) = (lambdas[i], lambdas[j])
                let gamma = abs(a - b) > 1e-9 * max(a, b)
                    ? (1 / a.squareRoot() - 1 / b.squareRoot()) / (a - b)
                    : -0.5 / (a * a.squareRoot())
                inner[i, j] *= gamma
            }
        }
        let d = e.multiplied(by: inner).multiplied(by: e, transposeOther: true)
        let gradientY = u.multiplied(by: z.multiplied(by: inverseRoot)) + 2 * y.multiplied(by: d)
        return ObjectiveGradient(value: value, embeddings: (1 / m) * gradientY.scalingRows(by: weights),
                                 unembeddings: Matrix(rows: g.rows, columns: g.columns))
    }

    /// −d_rep(A←B)² / E‖f_A‖² with A₁₂ = G̃_A⁺ G_B (G̃_A⁺ annihilates the all-ones
    /// vector, so centring G_B first changes nothing) and its gradient.
    func representationDissimilarity(_ f: Matrix, _ g: Matrix) -> ObjectiveGradient {
        let pinv = unembeddingPseudoInverse!
        let map = pinv.multiplied(by: g)
        let r = teacherEmbeddings - f.multiplied(by: map, transposeOther: true)
        let wr = r.scalingRows(by: weights)
        let value = -zip(r.storage, wr.storage).reduce(0) { $0 + $1.0 * $1.1 } / teacherNorm
        let gradF = (2 / teacherNorm) * wr.multiplied(by: map)
        let gradMap = (2 / teacherNorm) * wr.multiplied(by: f, transposeSelf: true)
        return ObjectiveGradient(value: value, embeddings: gradF, unembeddings: pinv.multiplied(by: gradMap, transposeSelf: true))
    }
}

extension Matrix {
    /// (‖M‖_F² / rows)^{1/2}: the RMS row norm, CE4's unit for moves and step sizes.
    var rmsRowNorm: Double { (frobeniusNormSquared / Double(Swift.max(rows, 1))).squareRoot() }

    /// Column j multiplied by factors[j].
    func scalingColumns(by factors: [Double]) -> Matrix {
        Matrix(rows: rows, columns: columns) { i, j in self[i, j] * factors[j] }
    }
}

/// KL(A‖B) and KL(B‖A) of a student against the teacher's log-conditionals, with the
/// gradient of α·KL(A‖B) + β·KL(B‖A) with respect to the student's logits, then its
/// parameters. ∂KL(A‖B)/∂Λ_B[i,y] = w_i (q − p); ∂KL(B‖A)/∂Λ_B[i,y] =
/// w_i q (ℓ − Σ q ℓ), ℓ = log q − log p. Double precision: the search's screen, not a
/// certificate (the result is certified separately).
struct DivergencePair {
    let teacherLog: Matrix
    /// exp of `teacherLog`, once.
    let teacherProbabilities: Matrix
    let weights: [Double]

    init(teacher: SoftmaxModel) {
        teacherLog = teacher.logConditionals
        var p = teacherLog
        for t in p.storage.indices { p.storage[t] = p.storage[t].exp }
        teacherProbabilities = p
        weights = teacher.weights
    }

    struct Values {
        var forward: Double
        var backward: Double
        /// min_{i,y} log q(y|xᵢ): log τ of the student.
        var minLogQ = Double.infinity
    }

    /// An optional floor on the student's probabilities: the penalty
    /// γ Σᵢ wᵢ Σ_y relu(aim − log q_iy)², whose logit gradient is
    /// −2γ wᵢ (r_iy − q_iy Σ_y' r_iy'), r = relu(aim − log q).
    struct Floor { var aim: Double; var weight: Double }

    /// Values only, or also the gradient when `coefficients` is given (it is called
    /// with the values, and returns α, β, before the gradient is built). One exp per
    /// entry: q = e^{l − max} / Σ e^{l − max}.
    func evaluate(embeddings f: Matrix, unembeddings g: Matrix, floor: Floor? = nil,
                  coefficients: ((Values) -> (Double, Double))? = nil) -> (Values, gradF: Matrix?, gradG: Matrix?) {
        // After this loop, `work` holds q and `ell` holds log q − log p.
        var work = f.multiplied(by: g, transposeOther: true)
        let (n, k) = (work.rows, work.columns)
        var ell = [Double](repeating: 0, count: n * k)
        var ellMean = [Double](repeating: 0, count: n)
        var forward = 0.0, backward = 0.0, minLogQ = Double.infinity
        work.storage.withUnsafeMutableBufferPointer { l in
            ell.withUnsafeMutableBufferPointer { ell in
                teacherLog.storage.withUnsafeBufferPointer { lp in
                    teacherProbabilities.storage.withUnsafeBufferPointer { pp in
                        for i in 0..<n {
                            let base = i * k
                            var top = -Double.infinity
                            for y in 0..<k { top = max(top, l[base + y]) }
                            var total = 0.0
                            for y in 0..<k {
                                let e = (l[base + y] - top).exp
                                total += e
                                ell[base + y] = l[base + y] - top
                                l[base + y] = e
                            }
                            let logTotal = total.log, inverse = 1 / total
                            for y in 0..<k { minLogQ = min(minLogQ, ell[base + y] - logTotal) }
                            var rowForward = 0.0, rowBackward = 0.0
                            for y in 0..<k {
                                let qy = l[base + y] * inverse
                                let d = ell[base + y] - logTotal - lp[base + y]
                                rowForward -= pp[base + y] * d
                                rowBackward += qy * d
                                l[base + y] = qy
                                ell[base + y] = d
                            }
                            ellMean[i] = rowBackward
                            forward += weights[i] * rowForward
                            backward += weights[i] * rowBackward
                        }
                    }
                }
            }
        }
        let values = Values(forward: max(forward, 0), backward: max(backward, 0), minLogQ: minLogQ)
        guard let coefficients else { return (values, nil, nil) }
        let (alpha, beta) = coefficients(values)
        var shortfall = [Double](repeating: 0, count: floor == nil ? 0 : k)
        work.storage.withUnsafeMutableBufferPointer { q in
            ell.withUnsafeBufferPointer { ell in
                teacherLog.storage.withUnsafeBufferPointer { lp in
                    teacherProbabilities.storage.withUnsafeBufferPointer { pp in
                        for i in 0..<n {
                            let base = i * k, w = weights[i], mean = ellMean[i]
                            var total = 0.0
                            if let floor {
                                for y in 0..<k {
                                    // log q = ell + log p.
                                    let r = max(0, floor.aim - (ell[base + y] + lp[base + y]))
                                    shortfall[y] = r
                                    total += r
                                }
                            }
                            for y in 0..<k {
                                let qy = q[base + y]
                                var gradient = alpha * (qy - pp[base + y]) + beta * qy * (ell[base + y] - mean)
                                if let floor { gradient -= 2 * floor.weight * (shortfall[y] - qy * total) }
                                q[base + y] = w * gradient
                            }
                        }
                    }
                }
            }
        }
        return (values, work.multiplied(by: g), work.multiplied(by: f, transposeSelf: true))
    }
}
