/// KL(p‖q) between two softmax distributions given by logit rows a (for p) and
/// b (for q), without cancellation.
///
/// With D = b − a and u = D − Σ_y p_y D_y (so Σ p u = 0),
///   KL(p‖q) = log Σ_y p_y e^{u_y} = log1p(Σ_y p_y φ(u_y)),  φ(u) = eᵘ − 1 − u ≥ 0,
/// a sum of non-negative terms, with φ from its Taylor series for |u| < 0.1. The
/// naive Σ p (log p − log q) loses everything below ~ε·max|logit| and can even
/// come out negative. When Σ p e^u is large (KL > ~30) the log-sum-exp of
/// log p + u is used instead, where there is no cancellation to fear.
/// Cost O(k). The rounding of the logits themselves (ε·|a|) is not undone.
public func klDivergence(logitsP a: [Double], logitsQ b: [Double]) -> Double {
    precondition(a.count == b.count, "KL: logit rows of different lengths")
    return klDivergence(logitsP: a, difference: a.indices.map { b[$0] - a[$0] })
}

/// The same KL from p's logits a and the difference D = b − a given directly: for
/// near-equal models D is known far more accurately than b − a of two rounded rows
/// (see `ExactLogitDistance.differences`).
public func klDivergence(logitsP a: [Double], difference d: [Double]) -> Double {
    precondition(a.count == d.count, "KL: logit rows of different lengths")
    let logP = logSoftmax(a)
    let p = logP.map { $0 > -745 ? $0.exp : 0 }
    var meanD = 0.0
    for y in a.indices where logP[y] > -745 { meanD += p[y] * d[y] }
    var sum = 0.0
    var largest = -Double.infinity
    for y in a.indices {
        let u = d[y] - meanD
        largest = max(largest, logP[y] + u)
        if logP[y] > -745 { sum += p[y] * phi(u) }
    }
    if largest > 30 {
        return logSumExp(a.indices.map { logP[$0] + d[$0] - meanD })
    }
    return log1p(sum)
}

/// φ(u) = eᵘ − 1 − u, accurate near 0.
@inline(__always) func phi(_ u: Double) -> Double {
    if abs(u) < 0.1 {
        // u²/2 + u³/6 + … + u⁹/9!: truncation below 1e−17 relative for |u| < 0.1.
        var term = u * u / 2, total = term
        for n in 3...9 {
            term *= u / Double(n)
            total += term
        }
        return total
    }
    return expm1(u) - u
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
