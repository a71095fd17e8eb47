import Numerics

/// The model of THEORY.md §1 as a network: an MLP encoder x ↦ f(x) ∈ R^d (tanh hidden
/// layers, linear output layer) and a linear unembedding G ∈ R^{k×d} without bias,
/// logits Λ = F Gᵀ. Batches are rows; every product is a BLAS dgemm.
public struct MLP: Sendable {
    /// Layer l maps width[l] → width[l+1]: weights (in × out) and biases (out).
    public var weights: [Matrix]
    public var biases: [[Double]]
    /// k×d.
    public var unembeddings: Matrix

    public var embeddingDimension: Int { unembeddings.columns }
    public var labelCount: Int { unembeddings.rows }

    /// Glorot-style initialisation: weights N(0, 1/fan_in), biases 0, G N(0, 1/d).
    public init(input: Int, hidden: [Int], embedding d: Int, labels k: Int, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let widths = [input] + hidden + [d]
        weights = (0..<(widths.count - 1)).map { l in
            g.gaussianMatrix(rows: widths[l], columns: widths[l + 1], scale: 1 / Double(widths[l]).squareRoot())
        }
        biases = widths.dropFirst().map { Array(repeating: 0, count: $0) }
        unembeddings = g.gaussianMatrix(rows: k, columns: d, scale: 1 / Double(d).squareRoot())
    }

    /// Activations kept for the backward pass: layer inputs (H₀ = X, H₁, …) and the embedding.
    public struct Forward: Sendable {
        public let activations: [Matrix]
        public let embeddings: Matrix
        public let logits: Matrix
    }

    public func forward(_ x: Matrix) -> Forward {
        var h = x
        var activations = [x]
        for l in weights.indices {
            var z = h.multiplied(by: weights[l])
            let b = biases[l], width = z.columns
            let last = l == weights.count - 1
            z.storage.withUnsafeMutableBufferPointer { s in
                for i in 0..<s.count {
                    let v = s[i] + b[i % width]
                    s[i] = last ? v : hyperbolicTangent(v)
                }
            }
            h = z
            if !last { activations.append(h) }
        }
        return Forward(activations: activations, embeddings: h, logits: h.multiplied(by: unembeddings, transposeOther: true))
    }

    public func embed(_ x: Matrix) -> Matrix { forward(x).embeddings }

    /// Gradients in the same shapes as the parameters.
    public struct Gradient: Sendable {
        public var weights: [Matrix]
        public var biases: [[Double]]
        public var unembeddings: Matrix
    }

    /// Back-propagates ∂loss/∂Λ (B×k) through Λ = EGᵀ and the layers.
    public func backward(_ pass: Forward, logitGradient dLogits: Matrix) -> Gradient {
        let dG = dLogits.multiplied(by: pass.embeddings, transposeSelf: true)   // k×d
        var dZ = dLogits.multiplied(by: unembeddings)                             // B×d (linear output layer)
        var dW = [Matrix](), dB = [[Double]]()
        for l in weights.indices.reversed() {
            let input = pass.activations[l]
            dW.append(input.multiplied(by: dZ, transposeSelf: true))
            var db = Array(repeating: 0.0, count: dZ.columns)
            for i in 0..<dZ.rows { for j in 0..<dZ.columns { db[j] += dZ[i, j] } }
            dB.append(db)
            guard l > 0 else { break }
            var dH = dZ.multiplied(by: weights[l], transposeOther: true)
            // tanh′ = 1 − tanh², from the stored activation.
            dH.storage.withUnsafeMutableBufferPointer { s in
                input.storage.withUnsafeBufferPointer { h in
                    for i in 0..<s.count { s[i] *= 1 - h[i] * h[i] }
                }
            }
            dZ = dH
        }
        return Gradient(weights: dW.reversed(), biases: dB.reversed(), unembeddings: dG)
    }

    /// Every parameter in one vector (weights, biases, then G), for checks and Adam.
    public var parameters: [Double] {
        get { weights.flatMap(\.storage) + biases.flatMap { $0 } + unembeddings.storage }
        set {
            var offset = 0
            func take(_ n: Int) -> [Double] { defer { offset += n }; return Array(newValue[offset..<offset + n]) }
            for l in weights.indices { weights[l].storage = take(weights[l].storage.count) }
            for l in biases.indices { biases[l] = take(biases[l].count) }
            unembeddings.storage = take(unembeddings.storage.count)
        }
    }
}

extension MLP.Gradient {
    public var flattened: [Double] { weights.flatMap(\.storage) + biases.flatMap { $0 } + unembeddings.storage }
}

/// Adam (Kingma and Ba) on a flat parameter vector.
public struct Adam: Sendable {
    public var learningRate: Double
    public let beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8
    var m: [Double], v: [Double]
    var step = 0

    public init(parameterCount: Int, learningRate: Double) {
        self.learningRate = learningRate
        m = Array(repeating: 0, count: parameterCount); v = m
    }

    public mutating func update(_ x: inout [Double], gradient g: [Double]) {
        step += 1
        let c1 = 1 - (Double(step) * beta1.log).exp, c2 = 1 - (Double(step) * beta2.log).exp
        for i in x.indices {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i]
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
            x[i] -= learningRate * (m[i] / c1) / ((v[i] / c2).squareRoot() + epsilon)
        }
    }
}
