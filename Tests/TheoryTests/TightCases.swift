import Numerics
@testable import Theory

/// Constructions where an inequality holds with equality, in exact dyadic numbers.
enum TightCases {
    /// Columns 1…7 of the 8×8 Sylvester–Hadamard matrix: ±1 entries, each column
    /// orthogonal to 1 and to the others.
    static func hadamardColumns(_ d: Int) -> Matrix {
        Matrix(rows: 8, columns: d) { i, j in
            (i & (j + 1)).nonzeroBitCount % 2 == 0 ? 1 : -1
        }
    }

    /// T3 with equality: G₂ = G₁ = H·diag(s) (exactly orthogonal centred columns,
    /// smallest scale last), and f₁ − f₂ = cᵢ e_d, so G̃₁⁺δ = cᵢ e_d and
    /// ‖δ‖ = σ_min|cᵢ|: d_rep² = d_logit²/σ_min² exactly.
    static func t3Equality(dimension d: Int, inputs n: Int, seed: UInt64) throws -> ModelPair {
        var g = SeededGenerator(seed: seed)
        let scales = (0..<d).map { Double(d - $0) * 0.5 }
        let unembeddings = hadamardColumns(d).scalingColumns(by: scales)
        let f1 = Matrix(rows: n, columns: d) { _, _ in Double(g.int(in: -64...64)) / 16 }
        var f2 = f1
        for i in 0..<n { f2[i, d - 1] += Double(g.int(in: -32...32)) / 8 }
        return try ModelPair(try SoftmaxModel(embeddings: f1, unembeddings: unembeddings),
                             try SoftmaxModel(embeddings: f2, unembeddings: unembeddings))
    }

    /// T3 with equality in floating point from a random G: f₁ − f₂ along the last
    /// right-singular vector of G̃₁ as LAPACK computes it.
    static func t3EqualityRandom(labels k: Int, dimension d: Int, inputs n: Int, condition: Double,
                                 seed: UInt64) throws -> ModelPair {
        var g = SeededGenerator(seed: seed)
        let teacher = ModelGenerator.model(labels: k, dimension: d, inputs: n, condition: condition, using: &g)
        let v = try SingularValueDecomposition(teacher.centredUnembeddings).v.column(d - 1)
        var f2 = teacher.embeddings
        for i in 0..<n {
            let c = g.gaussian()
            for j in 0..<d { f2[i, j] -= c * v[j] }
        }
        return try ModelPair(teacher, try teacher.with(embeddings: f2))
    }

    /// T5 (subset-sum form) with equality: pivot 0 has g(0) = 0, labels 1…d have
    /// g(l) = s_l e_l (L₁ = diag(s), smallest last), other labels arbitrary;
    /// G₂ = G₁ and f₁ − f₂ = cᵢ e_d.
    static func t5Equality(labels k: Int, dimension d: Int, inputs n: Int, seed: UInt64) throws -> (ModelPair, PivotSubset) {
        var g = SeededGenerator(seed: seed)
        let unembeddings = Matrix(rows: k, columns: d) { y, j in
            if y == 0 { return 0 }
            if y <= d { return y - 1 == j ? Double(d - j + 1) : 0 }
            return Double(g.int(in: -16...16)) / 4
        }
        let f1 = Matrix(rows: n, columns: d) { _, _ in Double(g.int(in: -64...64)) / 16 }
        var f2 = f1
        for i in 0..<n { f2[i, d - 1] += Double(g.int(in: -32...32)) / 8 }
        let pair = try ModelPair(try SoftmaxModel(embeddings: f1, unembeddings: unembeddings),
                                 try SoftmaxModel(embeddings: f2, unembeddings: unembeddings))
        return (pair, PivotSubset(pivot: 0, subset: Array(1...d)))
    }

    /// An exact orbit image: dyadic F and G, a unimodular integer A (so A⁻¹ is an
    /// integer matrix) and a dyadic shift c; every entry of F Aᵀ and G A⁻¹ + 1cᵀ is
    /// computed without rounding.
    static func exactOrbit(labels k: Int, dimension d: Int, inputs n: Int,
                           seed: UInt64) throws -> (model: SoftmaxModel, image: SoftmaxModel, a: Matrix) {
        var g = SeededGenerator(seed: seed)
        let f = Matrix(rows: n, columns: d) { _, _ in Double(g.int(in: -32...32)) / 8 }
        let u = Matrix(rows: k, columns: d) { _, _ in Double(g.int(in: -32...32)) / 8 }
        var a = Matrix.identity(d)
        for _ in 0..<(2 * d) {
            let (i, j) = (g.int(in: 0...(d - 1)), g.int(in: 0...(d - 1)))
            guard i != j else { continue }
            var e = Matrix.identity(d)
            e[i, j] = Double(g.int(in: -2...2))
            a = a * e
        }
        let c = (0..<d).map { _ in Double(g.int(in: -8...8)) / 4 }
        // A⁻¹ exactly (an integer matrix), so the image is exact in doubles.
        let inverse = try RationalMatrix(exactly: a).inverse().doubleApproximation
        let image = try SoftmaxModel(embeddings: f.multiplied(by: a, transposeOther: true),
                                     unembeddings: (u * inverse).subtractingFromRows(c.map { -$0 }))
        return (try SoftmaxModel(embeddings: f, unembeddings: u), image, a)
    }
}
