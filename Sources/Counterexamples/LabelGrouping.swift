import Numerics
import Theory

/// The teacher's most linearly recoverable grouping of labels: the concept
/// "predicted label ∈ S" (S a proper non-empty subset of the labels the teacher
/// predicts) whose R² from the teacher's centred embeddings, vᵀΣ⁻¹v / (q(1 − q)) with
/// v = E[f̃ · 1{ŷ ∈ S}] and q = P(ŷ ∈ S), is largest. Every subset is tried when at
/// most 14 labels are predicted (2¹³ − 1 groupings, each O(d²) from per-class sums);
/// otherwise the groupings by the sign of the class means' projection on each of the
/// teacher's principal directions and on each class mean are tried. Ties go to the
/// first found, so the result is deterministic.
public struct LabelGrouping: Sendable {
    public let labels: [Int]
    public let rSquared: Double
    public let concept: [Bool]

    public var name: String { "predicted label ∈ {" + labels.map(String.init).joined(separator: ", ") + "}" }

    public init(teacher: SoftmaxModel) throws {
        let n = teacher.inputCount, d = teacher.dimension
        let predicted = teacher.predictedLabels()
        let f = teacher.embeddings
        let mean = f.weightedRowMean(teacher.weights)
        let centred = f.subtractingFromRows(mean)
        let covariance = centred.scalingRows(by: teacher.sqrtWeights).gram()
        let inverse = try ModelError.wrapping { try covariance.inverse() }
        let present = Array(Set(predicted)).sorted()
        guard present.count >= 2 else {
            throw ModelError.refused("the teacher predicts a single label on every input, so no grouping of labels is a concept; pass --concept")
        }
        var sums = [Int: [Double]](), mass = [Int: Double]()
        for i in 0..<n {
            var s = sums[predicted[i]] ?? [Double](repeating: 0, count: d)
            for j in 0..<d { s[j] += teacher.weights[i] * centred[i, j] }
            sums[predicted[i]] = s
            mass[predicted[i], default: 0] += teacher.weights[i]
        }
        func score(_ subset: [Int]) -> Double {
            var v = [Double](repeating: 0, count: d)
            var q = 0.0
            for y in subset { q += mass[y]!; for j in 0..<d { v[j] += sums[y]![j] } }
            guard q > 0, q < 1 else { return -1 }
            let sv = inverse.applied(to: v)
            return zip(v, sv).reduce(0) { $0 + $1.0 * $1.1 } / (q * (1 - q))
        }
        var candidates: [[Int]] = []
        if present.count <= 14 {
            // Subsets containing the last present label are complements of ones that do not.
            let m = present.count - 1
            for bits in 1..<(1 << m) { candidates.append((0..<m).filter { bits >> $0 & 1 == 1 }.map { present[$0] }) }
        } else {
            let svd = try ModelError.wrapping { try SingularValueDecomposition(centred.scalingRows(by: teacher.sqrtWeights)) }
            var directions = (0..<svd.v.columns).map { svd.v.column($0) }
            directions += present.map { y in sums[y]!.map { $0 / mass[y]! } }
            for direction in directions {
                let subset = present.filter { y in zip(sums[y]!, direction).reduce(0) { $0 + $1.0 * $1.1 } > 0 }
                if !subset.isEmpty && subset.count < present.count { candidates.append(subset) }
            }
        }
        var best: [Int] = [], bestScore = -Double.infinity
        for c in candidates {
            let s = score(c)
            if s > bestScore { (best, bestScore) = (c, s) }
        }
        labels = best
        rSquared = min(max(bestScore, 0), 1)
        let chosen = Set(best)
        concept = predicted.map { chosen.contains($0) }
    }
}

extension LinearProbe {
    /// The probe's accuracy on (f, concept), decided exactly: each score
    /// Σ_j f_ij β_j / s_j + β₀ is summed in rationals from the Doubles, so no input is
    /// miscounted by rounding. nil when a coefficient is not finite.
    public func exactAccuracy(on f: Matrix, concept: [Bool]) -> Rational? {
        precondition(f.rows == concept.count && f.columns + 1 == coefficients.count, "probe: shapes differ from the fit")
        let exact = coefficients.compactMap { Rational(exactly: $0) }
        guard exact.count == coefficients.count else { return nil }
        let beta = zip(exact, scales).map { $0 / Rational(exactly: $1)! }
        let intercept = exact.last!
        var correct = 0
        for i in 0..<f.rows {
            let terms = (0..<f.columns).map { Rational(exactly: f[i, $0])! * beta[$0] } + [intercept]
            if (Rational.sum(terms).sign > 0) == concept[i] { correct += 1 }
        }
        return Rational(correct, max(f.rows, 1))
    }
}
