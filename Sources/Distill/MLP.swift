import Numerics

/// The model of THEORY.md §1 as a network: an MLP encoder x ↦ f(x) ∈ R^d (tanh hidden
/// layers, linear output layer) and a linear unembedding G ∈ R^{k×d} without bias,
/// logits Λ = F Gᵀ. Batches are rows; every product is a BLAS dgemm.
///
/// For text the encoder starts with a character embedding (Bengio et al.'s neural
/// probabilistic language model): an input row holds the codes of the C previous
/// characters, each looked up in one table E (vocabulary × e) shared by every position,
/// and the C rows are concatenated (C·e) before the first hidden layer.
public struct MLP: Sendable {
    /// The character table E (vocabulary × e), when inputs are character codes.
    public var characterTable: Matrix?
    /// C, the characters per input row (0 without a table).
    public let context: Int
    /// Layer l maps width[l] → width[l+1]: weights (in × out) and biases (out).
    public var weights: [Matrix]
    public var biases: [[Double]]
    /// k×d.
    public var unembeddings: Matrix

    public var embeddingDimension: Int { unembeddings.columns }
    public var labelCount: Int { unembeddings.rows }

    /// A character-embedding layer: `vocabulary` codes, `dimension` e, `context` C.
    public struct Characters: Sendable, Codable, Hashable {
        public let vocabulary: Int
        public let dimension: Int
        public let context: Int
        public init(vocabulary: Int, dimension: Int, context: Int) {
            self.vocabulary = vocabulary; self.dimension = dimension; self.context = context
        }
    }

    /// Glorot-style initialisation: weights N(0, 1/fan_in), biases 0, G N(0, 1/d), the
    /// character table N(0, 1). With `characters`, `input` is ignored (it is C·e).
    public init(input: Int, hidden: [Int], embedding d: Int, labels k: Int, seed: UInt64, characters: Characters? = nil) {
        var g = SeededGenerator(seed: seed)
        characterTable = characters.map { g.gaussianMatrix(rows: $0.vocabulary, columns: $0.dimension, scale: 1) }
        context = characters?.context ?? 0
        let widths = [characters.map { $0.context * $0.dimension } ?? input] + hidden + [d]
        weights = (0..<(widths.count - 1)).map { l in
            g.gaussianMatrix(rows: widths[l], columns: widths[l + 1], scale: 1 / Double(widths[l]).squareRoot())
        }
        biases = widths.dropFirst().map { Array(repeating: 0, count: $0) }
        unembeddings = g.gaussianMatrix(rows: k, columns: d, scale: 1 / Double(d).squareRoot())
    }

    /// Activations kept for the backward pass: layer inputs (H₀ = X or the looked-up
    /// characters, H₁, …), the dropout masks of the hidden layers (scaled by 1/(1 − p);
    /// empty without dropout), the embedding and the logits.
    public struct Forward: Sendable {
        public let activations: [Matrix]
        let masks: [[Double]]
        public let embeddings: Matrix
        public let logits: Matrix
    }

    /// The layer input H₀: X itself, or its character codes looked up and concatenated.
    func firstInput(_ x: Matrix) -> Matrix {
        guard let table = characterTable else { return x }
        precondition(x.columns == context, "character model: \(x.columns) codes per row for a context of \(context)")
        let e = table.columns
        var h = Matrix(rows: x.rows, columns: context * e)
        h.storage.withUnsafeMutableBufferPointer { out in
            table.storage.withUnsafeBufferPointer { t in
                for i in 0..<x.rows {
                    for j in 0..<context {
                        let code = Int(x[i, j])
                        for c in 0..<e { out[i * context * e + j * e + c] = t[code * e + c] }
                    }
                }
            }
        }
        return h
    }

    /// Layer l on its input: H·W + b, then tanh on hidden layers.
    func layer(_ l: Int, _ h: Matrix) -> Matrix {
        var z = h.multiplied(by: weights[l])
        let b = biases[l], width = z.columns
        z.storage.withUnsafeMutableBufferPointer { s in
            for i in 0..<s.count { s[i] += b[i % width] }
            if l < weights.count - 1 { applyTanh(s) }
        }
        return z
    }

    /// The network on a batch; with `dropout` p > 0 each hidden unit is zeroed with
    /// probability p and the rest scaled by 1/(1 − p) (training only).
    public func forward(_ x: Matrix, dropout p: Double = 0, using g: inout SeededGenerator) -> Forward {
        var h = firstInput(x)
        var activations = [h], masks: [[Double]] = []
        for l in weights.indices {
            h = layer(l, h)
            guard l < weights.count - 1 else { break }
            var mask: [Double] = []
            if p > 0 {
                let keep = 1 / (1 - p)
                mask = (0..<h.storage.count).map { _ in g.uniform() < p ? 0 : keep }
                for i in h.storage.indices { h.storage[i] *= mask[i] }
            }
            activations.append(h)
            masks.append(mask)
        }
        return Forward(activations: activations, masks: masks, embeddings: h,
                       logits: h.multiplied(by: unembeddings, transposeOther: true))
    }

    /// The network at evaluation (no dropout), keeping the activations for `backward`.
    public func forward(_ x: Matrix) -> Forward {
        var unused = SeededGenerator(seed: 0)
        return forward(x, using: &unused)
    }

    /// Embeddings and logits of every row at evaluation, in blocks of 2 048 rows so that
    /// memory stays O(block · width) whatever N is (no activations kept).
    public typealias Outputs = (embeddings: Matrix, logits: Matrix)

    public func outputs(_ x: Matrix) -> Outputs {
        let block = 2048, d = embeddingDimension, k = labelCount
        var f = Matrix(rows: x.rows, columns: d), logits = Matrix(rows: x.rows, columns: k)
        for start in stride(from: 0, to: x.rows, by: block) {
            let rows = Array(start..<min(x.rows, start + block))
            var h = firstInput(x.selectingRows(rows))
            for l in weights.indices { h = layer(l, h) }
            let l = h.multiplied(by: unembeddings, transposeOther: true)
            f.storage.replaceSubrange((start * d)..<((start + rows.count) * d), with: h.storage)
            logits.storage.replaceSubrange((start * k)..<((start + rows.count) * k), with: l.storage)
        }
        return (f, logits)
    }

    public func embed(_ x: Matrix) -> Matrix { outputs(x).embeddings }

    /// Gradients in the same shapes as the parameters.
    public struct Gradient: Sendable {
        public var characterTable: Matrix?
        public var weights: [Matrix]
        public var biases: [[Double]]
        public var unembeddings: Matrix
    }

    /// Back-propagates ∂loss/∂Λ (B×k) through Λ = EGᵀ, the layers and the character
    /// table (`x` is the batch's input, needed for the table's codes).
    public func backward(_ pass: Forward, input x: Matrix, logitGradient dLogits: Matrix) -> Gradient {
        let dG = dLogits.multiplied(by: pass.embeddings, transposeSelf: true)   // k×d
        var dZ = dLogits.multiplied(by: unembeddings)                             // B×d (linear output layer)
        var dW = [Matrix](), dB = [[Double]]()
        var dTable: Matrix?
        for l in weights.indices.reversed() {
            let input = pass.activations[l]
            dW.append(input.multiplied(by: dZ, transposeSelf: true))
            var db = Array(repeating: 0.0, count: dZ.columns)
            for i in 0..<dZ.rows { for j in 0..<dZ.columns { db[j] += dZ[i, j] } }
            dB.append(db)
            if l == 0 {
                if let table = characterTable { dTable = characterGradient(dZ.multiplied(by: weights[0], transposeOther: true), x, table) }
                break
            }
            var dH = dZ.multiplied(by: weights[l], transposeOther: true)
            // tanh′ = 1 − tanh², from the stored activation (h = mask·tanh, so tanh = h/mask).
            let mask = pass.masks[l - 1]
            dH.storage.withUnsafeMutableBufferPointer { s in
                input.storage.withUnsafeBufferPointer { h in
                    for i in 0..<s.count {
                        guard mask.isEmpty || mask[i] != 0 else { s[i] = 0; continue }
                        let m = mask.isEmpty ? 1 : mask[i]
                        let t = h[i] / m
                        s[i] *= m * (1 - t * t)
                    }
                }
            }
            dZ = dH
        }
        return Gradient(characterTable: dTable, weights: dW.reversed(), biases: dB.reversed(), unembeddings: dG)
    }

    /// ∂loss/∂E: each row's gradient for position j added to the row of its code.
    func characterGradient(_ dH: Matrix, _ x: Matrix, _ table: Matrix) -> Matrix {
        let e = table.columns
        var d = Matrix(rows: table.rows, columns: e)
        d.storage.withUnsafeMutableBufferPointer { out in
            dH.storage.withUnsafeBufferPointer { g in
                for i in 0..<x.rows {
                    for j in 0..<context {
                        let code = Int(x[i, j])
                        for c in 0..<e { out[code * e + c] += g[i * context * e + j * e + c] }
                    }
                }
            }
        }
        return d
    }

    /// Every parameter in one vector (character table, weights, biases, then G), for checks and Adam.
    public var parameters: [Double] {
        get { (characterTable?.storage ?? []) + weights.flatMap(\.storage) + biases.flatMap { $0 } + unembeddings.storage }
        set {
            var offset = 0
            func take(_ n: Int) -> [Double] { defer { offset += n }; return Array(newValue[offset..<offset + n]) }
            if let table = characterTable { characterTable!.storage = take(table.storage.count) }
            for l in weights.indices { weights[l].storage = take(weights[l].storage.count) }
            for l in biases.indices { biases[l] = take(biases[l].count) }
            unembeddings.storage = take(unembeddings.storage.count)
        }
    }
}

extension MLP.Gradient {
    public var flattened: [Double] {
        (characterTable?.storage ?? []) + weights.flatMap(\.storage) + biases.flatMap { $0 } + unembeddings.storage
    }
}

/// Adam (Kingma and Ba), with decoupled weight decay (Loshchilov and Hutter's AdamW) on
/// the layer weights and G, updating a network's parameters in place (moments kept in
/// the order of `MLP.parameters`).
public struct Adam: Sendable {
    public var learningRate: Double
    public let beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8
    public var weightDecay: Double
    var m: [Double], v: [Double]
    var step = 0

    public init(parameterCount: Int, learningRate: Double, weightDecay: Double = 0) {
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        m = Array(repeating: 0, count: parameterCount); v = m
    }

    /// One step on every parameter of `model` along `gradient`.
    public mutating func update(_ model: inout MLP, gradient: MLP.Gradient) {
        step += 1
        let c1 = 1 - (Double(step) * beta1.log).exp, c2 = 1 - (Double(step) * beta2.log).exp
        let (rate, shrink) = (learningRate, 1 - learningRate * weightDecay)
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        let (step1, step2) = (rate / c1, 1 / c2)
        var offset = 0
        m.withUnsafeMutableBufferPointer { m in
            v.withUnsafeMutableBufferPointer { v in
                // Plain pointer loops, free of bounds checks and branches, so they vectorise.
                func segment(_ x: inout [Double], _ g: [Double], decay: Bool) {
                    let scale = decay ? shrink : 1
                    x.withUnsafeMutableBufferPointer { x in
                        g.withUnsafeBufferPointer { g in
                            let (xp, gp, mp, vp) = (x.baseAddress!, g.baseAddress!, m.baseAddress! + offset, v.baseAddress! + offset)
                            for i in 0..<x.count {
                                let gi = gp[i]
                                let mi = b1 * mp[i] + (1 - b1) * gi, vi = b2 * vp[i] + (1 - b2) * gi * gi
                                mp[i] = mi
                                vp[i] = vi
                                xp[i] = xp[i] * scale - step1 * mi / ((vi * step2).squareRoot() + eps)
                            }
                        }
                    }
                    offset += g.count
                }
                if let table = gradient.characterTable { segment(&model.characterTable!.storage, table.storage, decay: false) }
                for l in model.weights.indices { segment(&model.weights[l].storage, gradient.weights[l].storage, decay: true) }
                for l in model.biases.indices { segment(&model.biases[l], gradient.biases[l], decay: false) }
                segment(&model.unembeddings.storage, gradient.unembeddings.storage, decay: true)
            }
        }
    }
}

/// tanh in place, four lanes at a time. With a = |x|: a < 10⁻³ gives x − x³/3 (relative
/// error below x⁴·2/15 ≤ 1.4·10⁻¹³); otherwise tanh a = (1 − e)/(1 + e), e = e^{−2a}
/// (`exponentialOfNonPositive`, about one ulp), whose relative error is about
/// ε·e/(1 − e) ≤ ε/(2a) ≤ 1.2·10⁻¹³. The network's tanh, not a certified one: ten times
/// faster than the C library's, the model it defines differs from one with an exact
/// tanh by less than 10⁻¹² relative in every activation.
func applyTanh(_ s: UnsafeMutableBufferPointer<Double>) {
    typealias V = SIMD4<Double>
    let n = s.count, full = n / 4 * 4
    @inline(__always) func lanes(_ x: V) -> V {
        let a = x.replacing(with: -x, where: x .< 0)
        let e = exponentialOfNonPositive(-2 * a)
        var t = (1 - e) / (1 + e)
        t.replace(with: a - a * a * a / 3, where: a .< 1e-3)
        return t.replacing(with: -t, where: x .< 0)
    }
    let base = UnsafeMutableRawPointer(s.baseAddress!)
    for i in stride(from: 0, to: full, by: 4) {
        base.storeBytes(of: lanes(base.loadUnaligned(fromByteOffset: 8 * i, as: V.self)), toByteOffset: 8 * i, as: V.self)
    }
    if full < n {
        var x = V()
        for lane in 0..<(n - full) { x[lane] = s[full + lane] }
        let t = lanes(x)
        for lane in 0..<(n - full) { s[full + lane] = t[lane] }
    }
}
