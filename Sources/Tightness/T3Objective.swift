import Numerics
import Theory

/// T3's ratio d_rep(M₁←M₂)² σ_min(G̃₁)² / d_logit² over freely parametrised pairs
/// (equal dimensions, uniform weights), with its analytic gradient.
///
/// With G = G̃₁ = C G₁, Δ = F₁Gᵀ − F₂G̃₂ᵀ, Q = (GᵀG)⁻¹, P = QGᵀ = G⁺, R = ΔPᵀ
/// (row i is f₁ − A₁₂f₂) and S = λ_min(GᵀG) with unit eigenvector v:
///   J = log E + log S − log D,  E = ‖R‖²/N,  D = ‖Δ‖²/N.
/// Then ∂J/∂Δ = Y = (2/N)(RP/E − Δ/D); through P (d(G⁺) = −P dG P + Q dGᵀ(I − GP)),
/// with Z = (2/N)RᵀΔ/E: ∂J/∂G = −PᵀZPᵀ + (I − GP)ZᵀQ + YᵀF₁ + 2Gvvᵀ/S;
/// ∂J/∂F₁ = YG, ∂J/∂F₂ = −YG̃₂, ∂J/∂G₂ = −C YᵀF₂, and ∂J/∂G₁ = C ∂J/∂G.
/// The derivation is in Proofs/T3-embedding-bound.md ("Gradient used by the explorer").
public struct T3Objective: FreePairObjective, AnalyticObjective {
    public let statement: any PairStatement
    public let layout: PairLayout

    public init(labels: Int, dimension: Int, inputs: Int, constantScale: Double = 1) {
        statement = T3EmbeddingBound(constantScale: constantScale)
        layout = PairLayout(labels: labels, inputs: inputs, firstDimension: dimension, secondDimension: dimension)
        self.constantScale = constantScale
    }

    let constantScale: Double

    public func evaluate(_ x: [Double], gradient wanted: Bool) -> (value: Double, gradient: [Double]?)? {
        guard x.allSatisfy(\.isFinite) else { return nil }
        let m = layout.matrices(x)
        let (f1, f2) = (m[0], m[2])
        let g = m[1].subtractingColumnMeans, g2 = m[3].subtractingColumnMeans
        let n = Double(layout.inputs)
        let gram = g.multiplied(by: g, transposeSelf: true)
        guard let eig = try? SymmetricEigendecomposition(gram), let s = eig.eigenvalues.last,
              let top = eig.eigenvalues.first, s > 1e-13 * top, s > 0 else { return nil }
        let vectors = eig.eigenvectors
        let q = vectors.scalingColumns(by: eig.eigenvalues.map { 1 / $0 }).multiplied(by: vectors, transposeOther: true)
        let p = q.multiplied(by: g, transposeOther: true)                       // d×k
        let delta = f1.multiplied(by: g, transposeOther: true) - f2.multiplied(by: g2, transposeOther: true)
        let r = delta.multiplied(by: p, transposeOther: true)                   // N×d
        let e = r.frobeniusNormSquared / n, dl = delta.frobeniusNormSquared / n
        guard e > 0, dl > 0 else { return nil }
        let value = e.log + s.log - dl.log - constantScale.log
        guard wanted else { return (value, nil) }
        let y = (2 / n / e) * r.multiplied(by: p) - (2 / n / dl) * delta       // N×k
        let z = (2 / n / e) * r.multiplied(by: delta, transposeSelf: true)      // d×k
        let v = vectors.column(vectors.columns - 1)
        let gv = g.applied(to: v)
        let eigenTerm = Matrix(rows: g.rows, columns: g.columns) { i, j in 2 * gv[i] * v[j] / s }
        let projector = Matrix.identity(g.rows) - g.multiplied(by: p)          // I − GP
        let pZP = p.multiplied(by: z, transposeSelf: true).multiplied(by: p, transposeOther: true)  // PᵀZPᵀ
        let dG = projector.multiplied(by: z, transposeOther: true).multiplied(by: q)
            + y.multiplied(by: f1, transposeSelf: true) + eigenTerm - pZP
        let dF1 = y.multiplied(by: g)
        let dF2 = -1 * y.multiplied(by: g2)
        let dG2 = -1 * y.multiplied(by: f2, transposeSelf: true).subtractingColumnMeans
        return (value, layout.vector([dF1, dG.subtractingColumnMeans, dF2, dG2]))
    }
}
