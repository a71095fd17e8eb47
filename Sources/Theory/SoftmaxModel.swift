import Numerics

/// A softmax model M = (F, G) on a finite weighted sample (THEORY.md §1):
/// p(y | xᵢ) = softmax(Λᵢ)_y with logits Λ = F Gᵀ.
///
/// - `embeddings` F is N×d (row i is f(xᵢ)ᵀ), `unembeddings` G is k×d (row y is
///   g(y)ᵀ), `weights` w has N positive entries summing to 1 (E_x = Σᵢ wᵢ ·).
/// - Weights given by the caller are divided by their sum in Double for the screens; every
///   certified level divides the given weights (`givenWeights`) by their exact or enclosed
///   sum, so a certified value is the given model's, and uniform weights are exactly 1/N.
public struct SoftmaxModel: Sendable {
    public let embeddings: Matrix
    public let unembeddings: Matrix
    public let weights: [Double]
    /// w^{1/2} entrywise (formed once: every weighted least-squares quantity uses it).
    public let sqrtWeights: [Double]
    /// The caller's weights where normalisation divided them; nil where `weights` are they,
    /// or divide to the same rationals (uniform, or summing to 1 within 1e−12).
    private let dividedWeights: [Double]?

    /// The weights the certified levels divide by their exact (or enclosed) sum: the caller's,
    /// so that an exact value is the given model's and not that of the normalised Doubles (each
    /// within an ulp of wᵢ/Σw: an ill-conditioned quantity moves with that, an attack's d_unemb²
    /// of 8·10⁻²⁴ by 2·10⁻⁴). A file written from the model keeps them.
    public var givenWeights: [Double] { dividedWeights ?? weights }

    /// Validates shapes and values. Weights default to uniform; given weights must
    /// be finite and positive, and are divided by their sum unless it is already 1
    /// within 1e−12.
    public init(embeddings f: Matrix, unembeddings g: Matrix, weights: [Double]? = nil) throws {
        try self.init(embeddings: f, unembeddings: g, weights: weights, checkingFinite: true)
    }

    /// The same; `checkingFinite: false` for F and G whose every entry a model file's reader
    /// has already checked (naming the file and the entry): one pass over N·d + k·d values
    /// fewer (0.07 s of CPU for a language-model pair).
    package init(embeddings f: Matrix, unembeddings g: Matrix, weights: [Double]?, checkingFinite: Bool) throws {
        guard f.rows > 0, f.columns > 0, g.rows > 0 else {
            throw ModelError.emptyModel("F is \(f.rows)×\(f.columns), G is \(g.rows)×\(g.columns)")
        }
        guard f.columns == g.columns else {
            throw ModelError.shapeMismatch("F has d = \(f.columns) columns but G has \(g.columns)")
        }
        if checkingFinite {
            try Self.requireFinite(f, "f")
            try Self.requireFinite(g, "g")
        }
        if let w = weights {
            guard w.count == f.rows else {
                throw ModelError.badWeights("\(w.count) weights for N = \(f.rows) inputs")
            }
            if let i = w.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw ModelError.badWeights("weight \(i) is \(w[i]); every weight must be finite and > 0")
            }
        }
        embeddings = f
        unembeddings = g
        self.weights = Self.normalised(weights, count: f.rows)
        sqrtWeights = self.weights.map { $0.squareRoot() }
        dividedWeights = self.weights == weights ? nil : weights.flatMap { w in w.allSatisfy { $0 == w[0] } ? nil : w }
    }

    /// Weights that sum to 1: nil or all equal (at any N, whatever their value) is
    /// uniform, exactly the 1/N of the default; weights that sum to 1 within 1e−12
    /// are kept bit for bit (a reloaded model must equal the saved one); others
    /// are divided by their sum, taken after scaling by the largest weight so that
    /// it cannot overflow. The screens work with these Doubles; the certified levels with
    /// `givenWeights`.
    static func normalised(_ weights: [Double]?, count n: Int) -> [Double] {
        guard let w = weights, let first = w.first, w.contains(where: { $0 != first }) else {
            return Array(repeating: 1 / Double(n), count: n)
        }
        let largest = w.max()!
        let scaled = largest > 1 ? w.map { $0 / largest } : w
        let total = scaled.reduce(0, +)
        return abs(total - 1) <= 1e-12 ? scaled : scaled.map { $0 / total }
    }

    /// A model on F and G with `other`'s weights, normalised and given, taken as they are.
    init(embeddings f: Matrix, unembeddings g: Matrix, weightsOf other: SoftmaxModel) throws {
        try self.init(embeddings: f, unembeddings: g)
        guard other.inputCount == f.rows else { throw ModelError.badWeights("\(other.inputCount) weights for N = \(f.rows) inputs") }
        self = SoftmaxModel(validated: f, g, weightsOf: other)
    }

    private init(validated f: Matrix, _ g: Matrix, weightsOf other: SoftmaxModel) {
        embeddings = f
        unembeddings = g
        weights = other.weights
        sqrtWeights = other.sqrtWeights
        dividedWeights = other.dividedWeights
    }

    static func requireFinite(_ m: Matrix, _ name: String) throws {
        if let t = firstNonFinite(m.storage) {
            throw ModelError.nonFinite(array: name, row: t / m.columns, column: t % m.columns)
        }
    }

    /// N, the number of inputs.
    public var inputCount: Int { embeddings.rows }
    /// k, the number of labels.
    public var labelCount: Int { unembeddings.rows }
    /// d, the representation dimension.
    public var dimension: Int { embeddings.columns }


    /// Λ = F Gᵀ exactly, on integers (a model's entries are finite by construction).
    public var exactLogits: ExactLogitDistance.Logits { ExactLogitDistance.Logits(embeddings, unembeddings)! }

    /// Λ = F Gᵀ (N×k). O(N k d).
    public var logits: Matrix { embeddings.multiplied(by: unembeddings, transposeOther: true) }

    /// G̃ = C G: the unembeddings minus their mean (k×d).
    public var centredUnembeddings: Matrix { unembeddings.subtractingColumnMeans }

    /// The norms of the uncentred G's columns: the scale each column of G̃ is rounded at
    /// (a constant column of G centres to rounding noise of about this size times ε, not to 0).
    public var unembeddingColumnNorms: [Double] { unembeddings.columnNorms }

    /// Λ̃ = F G̃ᵀ = Λ C (N×k): row i is clr(p(·|xᵢ)), a function of the
    /// conditionals alone.
    public var centredLogits: Matrix {
        embeddings.multiplied(by: centredUnembeddings, transposeOther: true)
    }

    /// log p(y|xᵢ) by a stable log-softmax of each logit row (never exp then log).
    public var logConditionals: Matrix {
        var l = logits
        for i in 0..<l.rows {
            let row = logSoftmax(l.row(i))
            for j in 0..<l.columns { l[i, j] = row[j] }
        }
        return l
    }

    /// p(y|xᵢ) (N×k). Entries below ~1e−308 underflow to 0; use `logConditionals`.
    public var conditionals: Matrix {
        var p = logConditionals
        for t in p.storage.indices { p.storage[t] = p.storage[t].exp }
        return p
    }

    /// F̂ = W^{1/2} F.
    public var weightedEmbeddings: Matrix { embeddings.scalingRows(by: sqrtWeights) }

    /// The same model with its embeddings replaced (same G and w).
    public func with(embeddings f: Matrix) throws -> SoftmaxModel {
        try SoftmaxModel(embeddings: f, unembeddings: unembeddings, weights: weights)
    }

    /// The same model with its unembeddings replaced (same F and w).
    public func with(unembeddings g: Matrix) throws -> SoftmaxModel {
        try SoftmaxModel(embeddings: embeddings, unembeddings: g, weights: weights)
    }
}

extension SoftmaxModel {
    /// argmax_y of each input's logits (the first label on ties), in row blocks of
    /// about 2²¹ logits, so memory stays O(block · k). O(N k d).
    public func predictedLabels() -> [Int] {
        let n = inputCount, k = labelCount
        let step = max(1, min(n, (1 << 21) / max(k, 1)))
        var labels = [Int](repeating: 0, count: n), block: [Double] = []
        for start in stride(from: 0, to: n, by: step) {
            let rows = start..<min(n, start + step)
            embeddings.rowBlockProduct(rows: rows, with: unembeddings, otherRows: 0..<k, into: &block)
            for r in 0..<rows.count {
                var best = 0
                for y in 1..<k where block[r * k + y] > block[r * k + best] { best = y }
                labels[start + r] = best
            }
        }
        return labels
    }
}
