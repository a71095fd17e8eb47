import Numerics
import Theory

/// Shrinks a pair on which a check is certified violated to a smaller pair on
/// which it still is: fewer inputs, fewer labels, smaller dimension, and simpler
/// numbers (entries rounded to few significant bits). Greedy; every accepted step
/// is re-certified, so the result is a certified violation.
public struct Shrinker: Sendable {
    public let check: Check
    /// At most this many certifications are spent.
    public let budget: Int

    public init(check: Check, budget: Int = 400) {
        self.check = check
        self.budget = budget
    }

    public func violates(_ pair: ModelPair) -> Bool {
        guard let certify = check.certifyPair else { return false }
        return (try? certify(pair).outcome) == .violated
    }

    /// The smallest violating pair found (the input itself if nothing smaller violates,
    /// or if the check cannot certify a bare pair).
    public func shrink(_ pair: ModelPair) -> ModelPair {
        guard check.certifyPair != nil else { return pair }
        var current = pair
        var spent = 0
        var improved = true
        while improved && spent < budget {
            improved = false
            for candidate in Self.candidates(current) {
                guard spent < budget else { break }
                spent += 1
                if violates(candidate) {
                    current = candidate
                    improved = true
                    break
                }
            }
        }
        return current
    }

    /// Smaller or simpler neighbours, most reducing first.
    static func candidates(_ pair: ModelPair) -> [ModelPair] {
        let (a, b) = (pair.first, pair.second)
        let n = a.inputCount, k = a.labelCount
        var out: [ModelPair] = []
        if n > 2 {
            let halves = [Array(0..<(n / 2)), Array((n / 2)..<n)]
            for keep in halves { out.append(contentsOf: restrictInputs(pair, keep)) }
            for i in 0..<n { out.append(contentsOf: restrictInputs(pair, (0..<n).filter { $0 != i })) }
        }
        if k > max(a.dimension, b.dimension) + 1 {
            for y in 0..<k { out.append(contentsOf: restrictLabels(pair, (0..<k).filter { $0 != y })) }
        }
        if a.dimension == b.dimension && a.dimension > 1 {
            for j in 0..<a.dimension {
                let keep = (0..<a.dimension).filter { $0 != j }
                if let p = try? ModelPair(
                    SoftmaxModel(embeddings: a.embeddings.selectingColumns(keep),
                                 unembeddings: a.unembeddings.selectingColumns(keep), weights: a.weights),
                    SoftmaxModel(embeddings: b.embeddings.selectingColumns(keep),
                                 unembeddings: b.unembeddings.selectingColumns(keep), weights: b.weights)) {
                    out.append(p)
                }
            }
        }
        for bits in [2, 4, 8, 16] {
            if let p = try? ModelPair(round(a, bits), round(b, bits)) { out.append(p) }
        }
        return out
    }

    static func restrictInputs(_ pair: ModelPair, _ keep: [Int]) -> [ModelPair] {
        func cut(_ m: SoftmaxModel) throws -> SoftmaxModel {
            try SoftmaxModel(embeddings: m.embeddings.selectingRows(keep), unembeddings: m.unembeddings,
                             weights: keep.map { m.weights[$0] })
        }
        return (try? ModelPair(cut(pair.first), cut(pair.second))).map { [$0] } ?? []
    }

    static func restrictLabels(_ pair: ModelPair, _ keep: [Int]) -> [ModelPair] {
        func cut(_ m: SoftmaxModel) throws -> SoftmaxModel {
            try m.with(unembeddings: m.unembeddings.selectingRows(keep))
        }
        return (try? ModelPair(cut(pair.first), cut(pair.second))).map { [$0] } ?? []
    }

    /// Every entry rounded to `bits` significant bits (weights kept).
    static func round(_ m: SoftmaxModel, _ bits: Int) throws -> SoftmaxModel {
        func r(_ x: Double) -> Double {
            guard x != 0 else { return 0 }
            let scale = Double(sign: .plus, exponent: bits - 1 - x.exponent, significand: 1)
            return (x * scale).rounded() / scale
        }
        var f = m.embeddings, g = m.unembeddings
        f.storage = f.storage.map(r)
        g.storage = g.storage.map(r)
        return try SoftmaxModel(embeddings: f, unembeddings: g, weights: m.weights)
    }
}
