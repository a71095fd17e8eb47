import Numerics
import Theory

/// T6 over one input and k labels, under its hypothesis "every probability of both
/// models is ≥ τ": p = τ + (1 − kτ)·softmax(z), q = τ + (1 − kτ)·softmax(z + u), so every
/// (z, u) ∈ R^{2k} is admissible and the whole admissible set is reached. The
/// difference u is a parameter of its own so that near-equal pairs (where the ratio
/// is largest) keep their digits: q − p = (1 − kτ)·s(z)·expm1(u − c) with
/// c = log1p(Σ s(z)·expm1(u)), never a difference of two rounded softmaxes. The ratio is
/// d_logit²/KL(p‖q) divided by the statement's constant at this τ (1/τ² or 2/τ).
///
/// One input is no restriction: on a sample, d_logit²/KL = Σ w_x D_x / Σ w_x KL_x is at
/// most the largest per-input ratio, so the worst case over samples is a single input.
/// The pair is built as F = log p (1×k), G = I_k, so its logits are log p.
///
/// Gradient: with v = log p − log q, D = ‖Cv‖², K = KL = Σ p_y φ(q_y/p_y):
/// ∂J/∂p = 2Cv/(pD) − (v + 1)/K, ∂J/∂q = −2Cv/(qD) + (p/q)/K, and through
/// p = τ + a·s(z): ∂J/∂z_j = a s_j (g_j − Σ_y g_y s_y) (the same map for q at z + u,
/// which feeds both ∂J/∂z and ∂J/∂u).
public struct T6Objective: AnalyticObjective {
    public let statement: any PairStatement
    public let labels: Int
    public let tau: Double
    let logConstant: Double

    /// - Parameters: `tau` must lie in (0, 1/k).
    public init(labels k: Int, tau: Double, form: T6KLBound.Form = .global, constantScale: Double = 1) {
        precondition(k >= 2 && tau > 0 && tau * Double(k) < 1, "T6Objective needs k ≥ 2 and 0 < τ < 1/k")
        statement = T6KLBound(form, constantScale: constantScale)
        labels = k
        self.tau = tau
        logConstant = constantScale.log + (form.isSharp ? 2.0.log - tau.log : -2 * tau.log)
    }

    public var parameterCount: Int { 2 * labels }

    public func randomStart(using g: inout SeededGenerator) -> [Double] {
        // Logit scales spread over decades, so starts reach near-one-hot corners, and
        // differences u from tiny to large, so near-equal pairs are among the starts.
        let scale = (g.uniform(in: -1...1.5) * Double.ln10).exp
        let step = (g.uniform(in: -3...1) * Double.ln10).exp
        return (0..<labels).map { _ in scale * g.gaussian() } + (0..<labels).map { _ in step * g.gaussian() }
    }

    /// Both distributions for a parameter vector.
    public func distributions(_ x: [Double]) -> (p: [Double], q: [Double], sp: [Double], sq: [Double]) {
        let d = differences(x)
        return (d.p, d.q, d.sp, d.sq)
    }

    /// p, q, both softmaxes and sq − sp computed from u without cancellation.
    func differences(_ x: [Double]) -> (p: [Double], q: [Double], sp: [Double], sq: [Double], diff: [Double]) {
        let a = 1 - Double(labels) * tau
        let z = x[0..<labels], u = Array(x[labels...])
        let top = z.max()!
        let e = z.map { ($0 - top).exp }
        let total = e.reduce(0, +)
        let sp = e.map { $0 / total }
        let c = (0..<labels).reduce(0.0) { $0 + sp[$1] * u[$1].expm1 }.log1p
        let diff = (0..<labels).map { sp[$0] * (u[$0] - c).expm1 }
        let sq = (0..<labels).map { sp[$0] + diff[$0] }
        return (sp.map { tau + a * $0 }, sq.map { tau + a * $0 }, sp, sq, diff)
    }

    public func pair(_ x: [Double]) throws -> ModelPair {
        let (p, q, _, _) = distributions(x)
        func model(_ probabilities: [Double]) throws -> SoftmaxModel {
            try SoftmaxModel(embeddings: Matrix(rows: 1, columns: labels, storage: probabilities.map(\.log)),
                             unembeddings: Matrix.identity(labels))
        }
        return try ModelPair(model(p), model(q))
    }

    /// The smallest largest relative change |q_y − p_y|/p_y the search may use.
    public static let minimumRelativeChange = 1e-6

    /// t − 1 − log t at t = 1 + r, accurate for small |r|.
    static func phi(_ r: Double) -> Double {
        if abs(r) < 1e-3 {
            // r²/2 − r³/3 + r⁴/4 − r⁵/5 + r⁶/6: truncation below 1e−18 relative.
            return r * r * (0.5 - r * (1.0 / 3 - r * (0.25 - r * (0.2 - r / 6))))
        }
        return r - r.log1p
    }

    public func evaluate(_ x: [Double], gradient wanted: Bool) -> (value: Double, gradient: [Double]?)? {
        guard x.allSatisfy(\.isFinite) else { return nil }
        let (p, q, sp, sq, diff) = differences(x)
        let a = 1 - Double(labels) * tau
        // r_y = (q_y − p_y)/p_y from the cancellation-free difference.
        let r = (0..<labels).map { a * diff[$0] / p[$0] }
        // The ratio is largest in the limit q → p, where the pair's stored logits
        // (log p, log q as Doubles) would round to equal: require some probability to
        // move by ≥ 1e−6 relative, so the pair carries its difference to ~10 digits.
        guard r.contains(where: { abs($0) >= Self.minimumRelativeChange }) else { return nil }
        let v = r.map { -$0.log1p }
        let mean = v.reduce(0, +) / Double(labels)
        let cv = v.map { $0 - mean }
        let d = cv.reduce(0) { $0 + $1 * $1 }
        let kl = (0..<labels).reduce(0.0) { $0 + p[$1] * Self.phi(r[$1]) }
        guard d > 0, kl > 0, d.isFinite, kl.isFinite else { return nil }
        let value = d.log - kl.log - logConstant
        guard wanted else { return (value, nil) }
        let gp = (0..<labels).map { 2 * cv[$0] / (p[$0] * d) - (v[$0] + 1) / kl }
        let gq = (0..<labels).map { -2 * cv[$0] / (q[$0] * d) + p[$0] / q[$0] / kl }
        func chain(_ g: [Double], _ s: [Double]) -> [Double] {
            let inner = zip(g, s).reduce(0) { $0 + $1.0 * $1.1 }
            return (0..<labels).map { a * s[$0] * (g[$0] - inner) }
        }
        let viaQ = chain(gq, sq)
        return (value, zip(chain(gp, sp), viaQ).map { $0 + $1 } + viaQ)
    }
}
