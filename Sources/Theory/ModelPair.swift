import Numerics

/// Two models on the same sample and label set, ready to be compared:
/// equal N, equal k, equal weights to 1e−12 relative (d₁ ≠ d₂ is allowed); the
/// pair then uses the first model's weights for both.
public struct ModelPair: Sendable {
    public let first: SoftmaxModel
    public let second: SoftmaxModel
    /// Quantities computed once per pair and shared by every statement.
    let cache = PairCache()

    public init(_ first: SoftmaxModel, _ second: SoftmaxModel) throws {
        guard first.inputCount == second.inputCount else {
            throw ModelError.pairMismatch("N = \(first.inputCount) inputs vs N = \(second.inputCount)")
        }
        guard first.labelCount == second.labelCount else {
            throw ModelError.pairMismatch("k = \(first.labelCount) labels vs k = \(second.labelCount)")
        }
        let (w1, w2) = (first.weights, second.weights)
        if let i = w1.indices.first(where: { abs(w1[$0] - w2[$0]) > 1e-12 * max(w1[$0], w2[$0]) }) {
            throw ModelError.pairMismatch("input weights differ at input \(i)")
        }
        self.first = first
        // One weight vector for the pair: the second model takes the first's
        // weights bit for bit, so d(M₁,M₂) and d(M₂,M₁) weigh inputs identically.
        self.second = first.weights == second.weights ? second
            : try SoftmaxModel(embeddings: second.embeddings, unembeddings: second.unembeddings,
                               normalisedWeights: first.weights)
    }

    /// The pair in the other order.
    public var swapped: ModelPair { try! ModelPair(second, first) }

    public var weights: [Double] { first.weights }

    /// The exact (rational) twin of this pair, computed once.
    public func exact() throws -> ExactModelPair {
        try cache.value("exact") { try ExactModelPair(exactly: self) }
    }

    /// Diversity of the first and second model, computed once each.
    public func firstDiversity() throws -> Diversity { try cache.value("diversity1") { try first.diversity() } }
    public func secondDiversity() throws -> Diversity { try cache.value("diversity2") { try second.diversity() } }
}
