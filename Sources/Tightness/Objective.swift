import Numerics
import Theory

/// What the optimisers search: a flat parameter vector and the quantity pushed up,
/// log(left side / right side) of one inequality. Optimisers see only `logRatio` (and
/// `gradient` when it is analytic).
public protocol SearchObjective: Sendable {
    /// Number of free parameters.
    var parameterCount: Int { get }
    /// A random starting point.
    func randomStart(using g: inout SeededGenerator) -> [Double]
    /// log(lhs/rhs) in double precision; −∞ where the hypotheses fail or the
    /// ratio is not a finite positive number.
    func logRatio(_ x: [Double]) -> Double
    /// The analytic gradient of `logRatio` with its value, or nil when this
    /// objective has none (then only derivative-free search runs).
    func valueAndGradient(_ x: [Double]) -> (value: Double, gradient: [Double])?
    /// Whether `valueAndGradient` is implemented.
    var hasAnalyticGradient: Bool { get }
}

extension SearchObjective {
    public func valueAndGradient(_ x: [Double]) -> (value: Double, gradient: [Double])? { nil }
    public var hasAnalyticGradient: Bool { false }
}

/// A family of model pairs parametrised by a flat vector: the best vector is turned
/// back into a pair with `pair` and certified with `statement`.
public protocol TightnessObjective: SearchObjective {
    /// The statement whose ratio is maximised (its `certify` decides the best pair).
    var statement: any PairStatement { get }
    /// The model pair a parameter vector describes.
    func pair(_ x: [Double]) throws -> ModelPair
}

/// log of a verdict's ratio, −∞ when it is not a finite positive number.
func logOfRatio(_ v: Verdict) -> Double {
    guard v.outcome == .holds || v.outcome == .violated else { return -.infinity }
    let r = v.ratio
    return r > 0 && r.isFinite ? r.log : -.infinity
}

/// Where each matrix of a pair sits in the parameter vector: F₁ (N×d₁), G₁ (k×d₁),
/// F₂ (N×d₂), G₂ (k×d₂), each row-major, uniform input weights.
public struct PairLayout: Sendable, Hashable, Codable {
    public let labels: Int
    public let inputs: Int
    public let firstDimension: Int
    public let secondDimension: Int

    public init(labels: Int, inputs: Int, firstDimension: Int, secondDimension: Int) {
        self.labels = labels; self.inputs = inputs
        self.firstDimension = firstDimension; self.secondDimension = secondDimension
    }

    var sizes: [Int] {
        [inputs * firstDimension, labels * firstDimension, inputs * secondDimension, labels * secondDimension]
    }
    public var parameterCount: Int { sizes.reduce(0, +) }

    /// The four matrices (F₁, G₁, F₂, G₂).
    func matrices(_ x: [Double]) -> [Matrix] {
        precondition(x.count == parameterCount, "parameter vector has \(x.count) entries, layout needs \(parameterCount)")
        let shapes = [(inputs, firstDimension), (labels, firstDimension), (inputs, secondDimension), (labels, secondDimension)]
        var offset = 0
        return shapes.map { r, c in
            defer { offset += r * c }
            return try! Matrix(rows: r, columns: c, storage: Array(x[offset..<offset + r * c]))
        }
    }

    /// The inverse of `matrices`.
    func vector(_ m: [Matrix]) -> [Double] { m.flatMap(\.storage) }

    func pair(_ x: [Double]) throws -> ModelPair {
        let m = matrices(x)
        return try ModelPair(SoftmaxModel(embeddings: m[0], unembeddings: m[1]),
                             SoftmaxModel(embeddings: m[2], unembeddings: m[3]))
    }
}

/// An objective over freely parametrised pairs (`PairLayout`), started from
/// standard Gaussian entries.
public protocol FreePairObjective: TightnessObjective {
    var layout: PairLayout { get }
}

extension FreePairObjective {
    public var parameterCount: Int { layout.parameterCount }

    public func randomStart(using g: inout SeededGenerator) -> [Double] {
        (0..<parameterCount).map { _ in g.gaussian() }
    }

    public func pair(_ x: [Double]) throws -> ModelPair { try layout.pair(x) }
}

/// An objective with a hand-derived gradient: `evaluate` gives log(lhs/rhs) and,
/// when asked, its gradient; nil where the hypotheses fail.
public protocol AnalyticObjective: SearchObjective {
    func evaluate(_ x: [Double], gradient wanted: Bool) -> (value: Double, gradient: [Double]?)?
}

extension AnalyticObjective {
    public var hasAnalyticGradient: Bool { true }

    public func logRatio(_ x: [Double]) -> Double { evaluate(x, gradient: false)?.value ?? -.infinity }

    /// Where the hypotheses fail: value −∞ with a zero gradient (the ascent stops there).
    public func valueAndGradient(_ x: [Double]) -> (value: Double, gradient: [Double])? {
        guard let r = evaluate(x, gradient: true) else { return (-.infinity, Array(repeating: 0, count: x.count)) }
        return (r.value, r.gradient!)
    }
}

/// Any pair statement over freely parametrised pairs; `logRatio` is the
/// statement's own double-precision screen. No analytic gradient.
public struct ScreenedPairObjective: FreePairObjective {
    public let statement: any PairStatement
    public let layout: PairLayout

    public init(_ statement: any PairStatement, layout: PairLayout) {
        self.statement = statement; self.layout = layout
    }

    public func logRatio(_ x: [Double]) -> Double {
        guard x.allSatisfy(\.isFinite), let p = try? pair(x), let v = try? statement.screen(p) else { return -.infinity }
        return logOfRatio(v)
    }
}
