/// KL(p‖q) between two softmax distributions given by logit rows a (for p) and
/// b (for q), without cancellation.
///
/// With D = b − a and u = D − Σ_y p_y D_y (so Σ p u = 0),
///   KL(p‖q) = log Σ_y p_y e^{u_y} = log1p(Σ_y p_y φ(u_y)),  φ(u) = eᵘ − 1 − u ≥ 0,
/// a sum of non-negative terms, with φ from its Taylor series for |u| < 0.1. The
/// naive Σ p (log p − log q) loses everything below ~ε·max|logit| and can even
/// come out negative. When Σ p e^u is large (KL > ~30) the log-sum-exp of
/// log p + u is used instead, where there is no cancellation to fear.
/// Labels whose p_y underflows a Double still contribute (through logarithms), so
/// the value is right for any finite logits whose differences b − a are finite.
/// Accuracy: a relative error of a few ε in the terms, plus the rounding of D (absolute: a few
/// ε·(|log p_y| + |log q_y|) from the log-probabilities, or ε·(|a_y| + |b_y|) where D is b − a,
/// the smaller of the two), whatever the logits' scale.
/// Cost O(k).
public func klDivergence(logitsP a: [Double], logitsQ b: [Double]) -> Double {
    precondition(a.count == b.count, "KL: logit rows of different lengths")
    // D is only needed up to a constant: from the log-probabilities, whose errors are a few
    // ε·(|log p_y| + |log q_y|), relative to each row's spread and log k (b − a loses ε·|logit|,
    // 2 % of the KL near 10¹⁵); or as b − a itself where the logits are far smaller (8 times)
    // than the log-probabilities (logits near 10⁻¹⁵ against |log p| ≈ log k: the
    // log-probabilities' rounding, 10⁻¹⁶, had buried differences of 10⁻¹⁷, and `--certify never`
    // showed a KL 16 times its value). Not where they are comparable: a one-hot row's |log p_y|
    // near 10²⁰ is its logits' size, and there log q must be taken as itself.
    let logP = logSoftmax(a), logQ = logSoftmax(b)
    var logitScale = 0.0, logScale = 0.0
    for y in a.indices {
        logitScale = max(logitScale, abs(a[y]) + abs(b[y]))
        logScale = max(logScale, abs(logP[y]) + abs(logQ[y]))
    }
    if logitScale < logScale / 8, logitScale.isFinite {
        return klDivergence(logP: logP, difference: a.indices.map { b[$0] - a[$0] }, logQ: nil)
    }
    return klDivergence(logP: logP, difference: a.indices.map { logQ[$0] - logP[$0] }, logQ: logQ)
}

/// The same KL from p's logits a and the difference D = b − a given directly: for
/// near-equal models D is known far more accurately than b − a of two rounded rows
/// (see `ExactLogitDistance.differences`).
/// D is taken relative to its value at p's most likely label (KL does not change when D moves by
/// a constant): where D is the same Double c on every label p weighs (a saturated softmax whose
/// models differ only on labels of probability 10⁻⁴⁴), Σp_yD_y rounds to c with an error near
/// ulp(c), and that error squared (2⁻¹¹⁰) had stood for a KL of 10⁻¹⁵⁵; relative to c those
/// labels' D is exactly 0.
public func klDivergence(logitsP a: [Double], difference d: [Double]) -> Double {
    precondition(a.count == d.count, "KL: logit rows of different lengths")
    let logP = logSoftmax(a)
    guard let top = logP.indices.max(by: { logP[$0] < logP[$1] }) else { return 0 }
    let relative = d.map { $0 - d[top] }
    return klDivergence(logP: logP, difference: relative.allSatisfy(\.isFinite) ? relative : d, logQ: nil)
}

/// The KL from log p and D; with log q given, log(p_y e^{D_y}) is taken as log q_y itself
/// rather than log p_y + D_y, which cancels where |log p_y| is huge (logits near 10²⁰ leave
/// errors near 10⁴ in D at labels p does not weigh, which would pass for mass of q).
func klDivergence(logP: [Double], difference d: [Double], logQ: [Double]?) -> Double {
    let a = logP
    // Labels whose p_y underflows (log p_y ≤ −745) still count: p_y D_y and
    // p_y e^{u_y} can be far from 0 when D_y is huge (a near one-hot p against a
    // q that disagrees), so they enter through logarithms, never through p_y = 0.
    let underflow = -745.0
    var meanD = 0.0
    for y in a.indices where d[y] != 0 {
        if logP[y] > underflow { meanD += logP[y].exp * d[y] }
        else { meanD += (logP[y] + Swift.abs(d[y]).log).exp * (d[y] < 0 ? -1 : 1) }
    }
    var sum = 0.0
    var largest = -Double.infinity
    for y in a.indices {
        let u = d[y] - meanD
        let logTerm = logQ.map { $0[y] - meanD } ?? logP[y] + u     // log(p_y e^{u_y})
        largest = max(largest, logTerm)
        if logP[y] > -708 && u <= 40 {
            sum += logP[y].exp * phi(u)
        } else if logP[y] > underflow {
            // p eᵘ from its logarithm where p is subnormal (a few bits: 73 % off at log p = −745)
            // or eᵘ large (a subnormal p times eᵘ = ∞ gave KL = ∞); there p(1 + u) is at most
            // 41e^−40 of p eᵘ, so the difference does not cancel.
            sum += logTerm.exp - logP[y].exp * (1 + u)
        } else {
            // p φ(u) = p eᵘ − p(1 + u); the second part is below e^−745·(1 + |u|).
            sum += logTerm.exp
        }
    }
    if largest > 30 {
        return logSumExp(a.indices.map { y in logQ.map { $0[y] - meanD } ?? logP[y] + d[y] - meanD })
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
