import Numerics

/// The training objectives, each a mean over the batch of a per-input loss on the
/// student's logits Λ (B×k), with its gradient ∂loss/∂Λ.
public enum Loss: Sendable {
    /// Cross-entropy with the labels (the teacher's objective).
    case crossEntropy(labels: [Int])
    /// A distillation objective against the teacher's logits on the same batch.
    case distill(DistillObjective, teacherLogits: Matrix)

    public func valueAndGradient(_ logits: Matrix) -> (value: Double, gradient: Matrix) {
        let b = logits.rows, k = logits.columns
        var grad = Matrix(rows: b, columns: k)
        var total = 0.0
        for i in 0..<b {
            let row = logits.row(i)
            switch self {
            case .crossEntropy(let labels):
                let logP = logSoftmax(row)
                total -= logP[labels[i]]
                for y in 0..<k { grad[i, y] = (logP[y].exp - (y == labels[i] ? 1 : 0)) / Double(b) }
            case .distill(let objective, let teacherLogits):
                let t = teacherLogits.row(i)
                let (value, g) = objective.valueAndGradient(student: row, teacher: t)
                total += value
                for y in 0..<k { grad[i, y] = g[y] / Double(b) }
            }
        }
        return (total / Double(b), grad)
    }
}

/// How a student is distilled from the teacher's logits (per input).
public enum DistillObjective: String, CaseIterable, Codable, Sendable {
    /// KL(teacher‖student) = Σ p_t (log p_t − log p_s).
    case kl
    /// The centred squared logit difference ‖C(Λ_s − Λ_t)‖² (d_logit² per input).
    case logitCentred = "logit-centred"
    /// The raw squared logit difference ‖Λ_s − Λ_t‖² (the reference code's loss).
    case logitRaw = "logit-raw"
    /// The absolute logit difference (1/k) Σ_y |Λ_s − Λ_t|.
    case logitAbsolute = "logit-abs"

    public var title: String {
        switch self {
        case .kl: return "KL(teacher‖student)"
        case .logitCentred: return "centred squared logit difference"
        case .logitRaw: return "raw squared logit difference"
        case .logitAbsolute: return "absolute logit difference"
        }
    }

    public func valueAndGradient(student s: [Double], teacher t: [Double]) -> (Double, [Double]) {
        let k = s.count
        switch self {
        case .kl:
            // The value by the cancellation-free kernel; ∂KL/∂s = p_s − p_t.
            let logS = logSoftmax(s), logT = logSoftmax(t)
            return (klDivergence(logitsP: t, logitsQ: s), (0..<k).map { logS[$0].exp - logT[$0].exp })
        case .logitCentred:
            let diff = zip(s, t).map { $0 - $1 }
            let mean = diff.reduce(0, +) / Double(k)
            let centred = diff.map { $0 - mean }
            return (centred.reduce(0) { $0 + $1 * $1 }, centred.map { 2 * $0 })
        case .logitRaw:
            let diff = zip(s, t).map { $0 - $1 }
            return (diff.reduce(0) { $0 + $1 * $1 }, diff.map { 2 * $0 })
        case .logitAbsolute:
            // Averaged over labels, as the reference's loss averages over batch and labels.
            let diff = zip(s, t).map { $0 - $1 }
            let scale = 1 / Double(k)
            return (diff.reduce(0) { $0 + abs($1) } * scale, diff.map { $0 > 0 ? scale : ($0 < 0 ? -scale : 0) })
        }
    }
}
