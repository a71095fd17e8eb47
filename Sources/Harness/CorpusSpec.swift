import Numerics
import Theory

/// A reproducible corpus of generated model pairs. Case i depends only on
/// (seed, i): its generator is generators[i mod count], its size and models come
/// from seeds derived from (seed, i). Shards therefore see exactly the cases a
/// single run would.
public struct CorpusSpec: Codable, Sendable, Equatable {
    public var seed: UInt64
    public var cases: Int
    public var generators: [ModelGenerator]
    public var maxLabels: Int
    public var maxDimension: Int
    public var maxInputs: Int

    public init(seed: UInt64 = 1, cases: Int = 2000, generators: [ModelGenerator] = ModelGenerator.allCases,
                maxLabels: Int = 20, maxDimension: Int = 8, maxInputs: Int = 200) {
        self.seed = seed
        self.cases = cases
        self.generators = generators
        self.maxLabels = maxLabels
        self.maxDimension = maxDimension
        self.maxInputs = maxInputs
    }

    /// The identity of case i: enough to rebuild it.
    public func descriptor(_ index: Int) -> CaseDescriptor {
        let caseSeed = SeededGenerator.derive(seed, UInt64(index))
        var g = SeededGenerator(seed: caseSeed ^ 0x5151_5EED)
        let size = CaseSize.random(dimensions: 1...maxDimension, maxLabels: maxLabels, maxInputs: maxInputs, using: &g)
        return CaseDescriptor(index: index, generator: generators[index % generators.count], seed: caseSeed, size: size)
    }

    /// The number of cases in shard i of n (0-based i): every n-th case starting
    /// at i. The indices are never materialised, so a run's memory does not grow
    /// with the corpus.
    public func caseCount(shard: Int, of count: Int) -> Int {
        shard < cases ? (cases - shard + count - 1) / count : 0
    }

    /// The corpus index of the shard's case at `position` (0 ≤ position < caseCount).
    public func caseIndex(_ position: Int, shard: Int, of count: Int) -> Int { shard + position * count }

    /// The largest corpus a run accepts (a count, not an allocation: 10¹² cases
    /// at 2 000 pairs/s would take 16 years).
    public static let maximumCases = 1_000_000_000_000
    /// Size limits of generated cases: k labels, d dimensions, N inputs.
    public static let maximumLabels = 1_000
    public static let maximumDimension = 64
    public static let maximumInputs = 100_000
}

/// How to rebuild one generated case.
public struct CaseDescriptor: Codable, Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let generator: ModelGenerator
    public let seed: UInt64
    public let size: CaseSize

    public var pair: ModelPair { generator.pair(seed: seed, size: size) }

    /// A third model for the triangle inequality of T1: the student perturbed.
    public var third: SoftmaxModel { third(of: pair) }

    /// The same from this case's pair when it is already built (no regeneration).
    public func third(of pair: ModelPair) -> SoftmaxModel {
        var g = SeededGenerator(seed: seed ^ 0x7412_1A9E)
        return ModelGenerator.perturb(pair.second, by: 0.3, using: &g)
    }

    public var description: String {
        "case \(index): generator \(generator.rawValue), seed \(seed), k = \(size.labels), d = \(size.dimension), N = \(size.inputs)"
    }
}
