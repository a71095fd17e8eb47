import Numerics

/// Mini-batch training with Adam; the data are reshuffled every epoch with a seeded
/// generator, so a run is reproducible bit for bit.
public struct TrainingOptions: Sendable, Codable {
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Double
    /// Dropout rate on the hidden layers during training (0: none).
    public var dropout = 0.0
    /// Decoupled weight decay on the layer weights and G (0: none).
    public var weightDecay = 0.0
    /// Early stopping: with a validation loss, stop after this many epochs without a new
    /// best and keep the best epoch's parameters (nil: every epoch runs, the last is kept).
    public var patience: Int?

    public init(epochs: Int, batchSize: Int = 64, learningRate: Double = 3e-3) {
        self.epochs = epochs; self.batchSize = batchSize; self.learningRate = learningRate
    }
}

/// What a training run went through.
public struct TrainingHistory: Sendable, Codable {
    /// Mean training loss of each epoch run.
    public var losses: [Double] = []
    /// Validation loss after each epoch (empty without a validation loss).
    public var validationLosses: [Double] = []
    /// The epoch (1-based) whose parameters the model holds at the end: the best
    /// validation loss with early stopping, else the last epoch.
    public var keptEpoch = 0
    public var epochsRun: Int { losses.count }
}

public enum Trainer {
    /// Trains `model` on `inputs`; `loss` gives the objective on a batch of row indices.
    /// Throws if the loss stops being finite. `epochEnd(e, model)` runs after epoch e
    /// (1-based) with the model as it then is and may return a validation loss; with
    /// `options.patience` the model returned is the epoch of least validation loss, and
    /// training stops after `patience` epochs without a new least. `stop` is asked before
    /// every mini-batch; once it answers true the run throws `CancellationError`.
    public static func train(_ model: inout MLP, inputs: Matrix, options: TrainingOptions, seed: UInt64,
                             epochEnd: ((Int, MLP) -> Double?)? = nil, stop: () -> Bool = { false },
                             loss: (_ rows: [Int]) -> Loss) throws -> TrainingHistory {
        guard options.epochs >= 1, options.batchSize >= 1, options.learningRate > 0,
              options.dropout >= 0, options.dropout < 1, options.weightDecay >= 0 else {
            throw DistillError.badConfiguration("epochs and batch size must be ≥ 1, the learning rate positive, dropout in [0, 1), weight decay ≥ 0")
        }
        var g = SeededGenerator(seed: seed)
        var masks = SeededGenerator(seed: SeededGenerator.derive(seed, 0xD50))
        var adam = Adam(parameterCount: model.parameters.count, learningRate: options.learningRate,
                        weightDecay: options.weightDecay)
        var order = Array(0..<inputs.rows)
        var history = TrainingHistory()
        var best: (loss: Double, model: MLP)?
        var sinceBest = 0
        for epoch in 0..<options.epochs {
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(g.next() % UInt64(i + 1))) }
            // The step size drops to 0.3× for the last third, for a steadier end point.
            adam.learningRate = options.learningRate * (epoch >= 2 * options.epochs / 3 ? 0.3 : 1)
            var total = 0.0
            for start in stride(from: 0, to: order.count, by: options.batchSize) {
                if stop() { throw CancellationError() }
                let rows = Array(order[start..<min(start + options.batchSize, order.count)])
                let x = inputs.selectingRows(rows)
                let pass = model.forward(x, dropout: options.dropout, using: &masks)
                let (value, dLogits) = loss(rows).valueAndGradient(pass.logits)
                guard value.isFinite else { throw DistillError.training("loss became \(value) in epoch \(epoch + 1)") }
                total += value * Double(rows.count)
                let gradient = model.backward(pass, input: x, logitGradient: dLogits)
                adam.update(&model, gradient: gradient)
            }
            history.losses.append(total / Double(order.count))
            guard let value = epochEnd?(epoch + 1, model) else { continue }
            history.validationLosses.append(value)
            if best == nil || value < best!.loss {
                best = (value, model)
                history.keptEpoch = epoch + 1
                sinceBest = 0
            } else {
                sinceBest += 1
                if let patience = options.patience, sinceBest >= patience { break }
            }
        }
        if options.patience != nil, let best {
            model = best.model
        } else {
            history.keptEpoch = history.epochsRun
        }
        return history
    }

    /// Cross-entropy on labels; with `validation`, its cross-entropy is the validation
    /// loss of early stopping.
    public static func trainClassifier(_ model: inout MLP, data: Dataset.Split, validation: Dataset.Split? = nil,
                                       options: TrainingOptions, seed: UInt64,
                                       afterEpoch: ((Int) -> Void)? = nil, stop: () -> Bool = { false }) throws -> TrainingHistory {
        try train(&model, inputs: data.inputs, options: options, seed: seed, epochEnd: { epoch, m in
            afterEpoch?(epoch)
            return validation.map { crossEntropy(m, $0) }
        }, stop: stop) { rows in
            .crossEntropy(labels: rows.map { data.labels[$0] })
        }
    }

    /// Distillation from the teacher's logits on the same inputs.
    public static func distill(_ student: inout MLP, from teacher: MLP, inputs: Matrix, objective: DistillObjective,
                               options: TrainingOptions, seed: UInt64,
                               epochEnd: ((Int, MLP) -> Double?)? = nil, stop: () -> Bool = { false }) throws -> TrainingHistory {
        let teacherLogits = teacher.outputs(inputs).logits
        return try train(&student, inputs: inputs, options: options, seed: seed, epochEnd: epochEnd, stop: stop) { rows in
            .distill(objective, teacherLogits: teacherLogits.selectingRows(rows))
        }
    }

    /// Mean cross-entropy (nats) of the model on a split.
    public static func crossEntropy(_ model: MLP, _ data: Dataset.Split) -> Double {
        crossEntropy(model.outputs(data.inputs).logits, data.labels)
    }

    /// Mean cross-entropy (nats) of logits against labels.
    static func crossEntropy(_ logits: Matrix, _ labels: [Int]) -> Double {
        (0..<logits.rows).reduce(0.0) { $0 - logSoftmax(logits.row($1))[labels[$1]] } / Double(max(logits.rows, 1))
    }

    /// Fraction of rows whose largest logit is at the label.
    public static func accuracy(_ model: MLP, _ data: Dataset.Split) -> Double {
        accuracy(model.outputs(data.inputs).logits, data.labels)
    }

    static func accuracy(_ logits: Matrix, _ labels: [Int]) -> Double {
        Double(zip(argmax(logits), labels).filter { $0 == $1 }.count) / Double(max(labels.count, 1))
    }

    static func argmax(_ logits: Matrix) -> [Int] {
        (0..<logits.rows).map { i in
            var best = 0
            for y in 1..<logits.columns where logits[i, y] > logits[i, best] { best = y }
            return best
        }
    }
}
