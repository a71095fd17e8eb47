import Theory

/// The sizes a run actually generated (smallest and largest k, d of either model,
/// and N), which the report states beside the limits that were asked for.
public struct GeneratedSizes: Codable, Sendable, Equatable {
    public var labels: ClosedRange<Int>
    public var dimensions: ClosedRange<Int>
    public var inputs: ClosedRange<Int>

    init(_ pair: ModelPair) {
        labels = pair.first.labelCount...pair.first.labelCount
        let d = [pair.first.dimension, pair.second.dimension]
        dimensions = d.min()!...d.max()!
        inputs = pair.first.inputCount...pair.first.inputCount
    }

    /// The smallest ranges holding both.
    func union(_ other: GeneratedSizes) -> GeneratedSizes {
        func hull(_ a: ClosedRange<Int>, _ b: ClosedRange<Int>) -> ClosedRange<Int> {
            min(a.lowerBound, b.lowerBound)...max(a.upperBound, b.upperBound)
        }
        var u = self
        u.labels = hull(labels, other.labels)
        u.dimensions = hull(dimensions, other.dimensions)
        u.inputs = hull(inputs, other.inputs)
        return u
    }

    static func union(_ a: GeneratedSizes?, _ b: GeneratedSizes?) -> GeneratedSizes? {
        guard let a else { return b }
        guard let b else { return a }
        return a.union(b)
    }

    public var description: String {
        func range(_ r: ClosedRange<Int>) -> String { r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "\(r.lowerBound)–\(r.upperBound)" }
        return "k \(range(labels)), d \(range(dimensions)), N \(range(inputs))"
    }
}
