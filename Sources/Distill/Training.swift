import Numerics

/// Mini-batch training with Adam; the data are reshuffled every epoch with a seeded
/// generator, so a run is reproducible bit for bit.
public struct TrainingOptions: Sendable, Codable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Double

    public init(epochs: Int, batchSize: Int = 64, learningRate: Double = 3e-3) {
        self.epochs = epochs; self.batchSize = batchSize; self.learningRate = learningRate
    }
}

public enum Trainer {
    /// Trains `model` on `inputs`; `loss` gives the objective on a batch of row indices.
    /// Returns the mean loss of each epoch. Throws if the loss stops being finite.
    /// `afterEpoch(e, model)` runs after epoch e (1-based) with the model as it then is.
    public static func train(_ model: inout MLP, inputs: Matrix, options: TrainingOptions, seed: UInt64,
                             afterEpoch: ((Int, MLP) -> Void)? = nil,
                             loss: (_ rows: [Int]) -> Loss) throws -> [Double] {
        guard options.epochs >= 1, options.batchSize >= 1, options.learningRate > 0 else {
            throw DistillError.badConfiguration("epochs and batch size must be ≥ 1 and the learning rate positive")
        }
        var g = SeededGenerator(seed: seed)
        var parameters = model.parameters
        var adam = Adam(parameterCount: parameters.count, learningRate: options.learningRate)
        var order = Array(0..<inputs.rows)
        var history: [Double] = []
        for epoch in 0..<options.epochs {
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(g.next() % UInt64(i + 1))) }
            // The step size drops to 0.3× for the last third, for a steadier end point.
            adam.learningRate = options.learningRate * (epoch >= 2 * options.epochs / 3 ? 0.3 : 1)
            var total = 0.0
            for start in stride(from: 0, to: order.count, by: options.batchSize) {
                let rows = Array(order[start..<min(start + options.batchSize, order.count)])
                let pass = model.forward(inputs.selectingRows(rows))
                let (value, dLogits) = loss(rows).valueAndGradient(pass.logits)
                guard value.isFinite else { throw DistillError.training("loss became \(value) in epoch \(epoch + 1)") }
                total += value * Double(rows.count)
                adam.update(&parameters, gradient: model.backward(pass, logitGradient: dLogits).flattened)
                model.parameters = parameters
            }
            history.append(total / Double(order.count))
            afterEpoch?(epoch + 1, model)
        }
        return history
    }

    /// Cross-entropy on labels.
    public static func trainClassifier(_ model: inout MLP, data: Dataset.Split, options: TrainingOptions,
                                       seed: UInt64) throws -> [Double] {
        try train(&model, inputs: data.inputs, options: options, seed: seed) { rows in
            .crossEntropy(labels: rows.map { data.labels[$0] })
        }
    }

    /// Distillation from the teacher's logits on the same inputs.
    public static func distill(_ student: inout MLP, from teacher: MLP, inputs: Matrix, objective: DistillObjective,
                               options: TrainingOptions, seed: UInt64,
                               afterEpoch: ((Int, MLP) -> Void)? = nil) throws -> [Double] {
        let teacherLogits = teacher.forward(inputs).logits
        return try train(&student, inputs: inputs, options: options, seed: seed, afterEpoch: afterEpoch) { rows in
            .distill(objective, teacherLogits: teacherLogits.selectingRows(rows))
        }
    }

    /// Fraction of rows whose largest logit is at the label.
    public static func accuracy(_ model: MLP, _ data: Dataset.Split) -> Double {
        let predicted = argmax(model.forward(data.inputs).logits)
        return Double(zip(predicted, data.labels).filter { $0 == $1 }.count) / Double(data.count)
    }

    static func argmax(_ logits: Matrix) -> [Int] {
        (0..<logits.rows).map { i in
            var best = 0
            for y in 1..<logits.columns where logits[i, y] > logits[i, best] { best = y }
            return best
        }
    }
}
