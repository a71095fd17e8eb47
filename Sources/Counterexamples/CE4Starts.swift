import Numerics
import Theory

/// Where one run of CE4's search begins: a student (F_B, G_B) and how it was made.
struct CE4Start: Sendable {
    enum Kind: Sendable, Equatable {
        /// The teacher itself (mapped to the student's dimension).
        case teacher
        /// The teacher with every embedding moved along its Fisher-null direction.
        case fisherNull
        /// Class geometry relabelled by a permutation of the movable classes.
        case relabelling([Int])
        /// The teacher plus Gaussian noise.
        case random
        /// The best student found for another ε.
        case warm
    }

    let kind: Kind
    let embeddings: Matrix
    let unembeddings: Matrix
    /// Relabelling starts are refitted (`CE4StartBuilder.refit`) by the worker that
    /// runs them, so the refits of several starts run in parallel.
    var needsRefit = false

    var description: String {
        switch kind {
        case .teacher: return "teacher"
        case .fisherNull: return "Fisher-null move"
        case let .relabelling(p): return "relabelling π = (" + p.map(String.init).joined(separator: " ") + ")"
        case .random: return "random"
        case .warm: return "previous ε's best"
        }
    }
}

/// The starts of CE4's search, all deterministic for a seed.
///
/// Relabelling starts generalise CE1: a label y whose inputs the teacher predicts
/// confidently (residual mass 1 − max_y p(y|x) ≤ `confidence`) takes the unembedding of
/// label π(y), and each confident input of class y moves by μ_{π(y)} − μ_y (μ the
/// class means of confident inputs), so it sits where the teacher's inputs of class
/// π(y) sat: the prediction is kept, the arrangement of the classes is not. Every
/// input is then refitted to the teacher's conditionals under the new unembeddings
/// (a few damped Newton steps on KL(A‖B), which is convex in each f_B(x)).
/// Permutations are drawn at random, scored by their start's KL and objective, and
/// the best by each score are taken in turn.
struct CE4StartBuilder: Sendable {
    let base: SoftmaxModel
    let teacher: SoftmaxModel
    let objective: StudentObjective
    let divergence: DivergencePair
    var confidence = 0.05
    var candidatesPerStart = 16

    /// The teacher in the student's dimension d_B: itself when d_B = d_A; padded with
    /// small seeded noise columns when d_B > d_A (so the student's covariance is
    /// regular); the rank-d_B truncation of the centred logits, F = W^{-1/2}U_rΣ_r and
    /// G = V_r, when d_B < d_A.
    static func base(_ teacher: SoftmaxModel, dimension: Int, seed: UInt64) throws -> SoftmaxModel {
        let (dA, n) = (teacher.dimension, teacher.inputCount)
        if dimension == dA { return teacher }
        if dimension > dA {
            var g = SeededGenerator(seed: SeededGenerator.derive(seed, 0xBA5E))
            let (rmsF, rmsG) = (teacher.embeddings.rmsRowNorm, teacher.unembeddings.rmsRowNorm)
            let f = Matrix(rows: n, columns: dimension) { i, j in j < dA ? teacher.embeddings[i, j] : 0 }
            let gm = Matrix(rows: teacher.labelCount, columns: dimension) { i, j in j < dA ? teacher.unembeddings[i, j] : 0 }
            let noiseF = g.gaussianMatrix(rows: n, columns: dimension, scale: 1e-3 * rmsF)
            let noiseG = g.gaussianMatrix(rows: teacher.labelCount, columns: dimension, scale: 1e-3 * rmsG)
            let maskF = Matrix(rows: n, columns: dimension) { i, j in j < dA ? 0 : noiseF[i, j] }
            let maskG = Matrix(rows: teacher.labelCount, columns: dimension) { i, j in j < dA ? 0 : noiseG[i, j] }
            return try SoftmaxModel(embeddings: f + maskF, unembeddings: gm + maskG, weights: teacher.weights)
        }
        let svd = try ModelError.wrapping { try SingularValueDecomposition(teacher.centredLogits.scalingRows(by: teacher.sqrtWeights)) }
        let f = Matrix(rows: n, columns: dimension) { i, j in svd.u[i, j] * svd.singularValues[j] / teacher.sqrtWeights[i] }
        return try SoftmaxModel(embeddings: f, unembeddings: svd.v.leadingColumns(dimension), weights: teacher.weights)
    }

    func starts(count: Int, seed: UInt64, warm: SoftmaxModel?) throws -> [CE4Start] {
        var g = SeededGenerator(seed: seed)
        var result = [CE4Start(kind: .teacher, embeddings: base.embeddings, unembeddings: base.unembeddings)]
        if let warm { result.append(CE4Start(kind: .warm, embeddings: warm.embeddings, unembeddings: warm.unembeddings)) }
        if base.dimension == teacher.dimension, count > result.count {
            var fisher = CE4FromTeacher()
            fisher.epsilon = 1e-3
            fisher.seed = g.next()
            let move = try fisher.fisherNullMove(teacher)
            result.append(CE4Start(kind: .fisherNull, embeddings: teacher.embeddings + move, unembeddings: teacher.unembeddings))
        }
        let randomCount = count >= 6 ? 2 : 0
        let relabellings = max(0, count - result.count - randomCount)
        result += try relabellingStarts(relabellings, using: &g)
        while result.count < count {
            let (rmsF, rmsG) = (base.embeddings.rmsRowNorm, base.unembeddings.rmsRowNorm)
            result.append(CE4Start(kind: .random,
                                   embeddings: base.embeddings + g.gaussianMatrix(rows: base.inputCount, columns: base.dimension, scale: 0.5 * rmsF),
                                   unembeddings: base.unembeddings + g.gaussianMatrix(rows: base.labelCount, columns: base.dimension, scale: 0.5 * rmsG)))
        }
        return Array(result.prefix(max(count, 1)))
    }

    /// Predicted labels, which inputs are confident, and the movable classes' means.
    struct Geometry {
        let predicted: [Int]
        let confident: [Bool]
        let movable: [Int]
        let means: [Int: [Double]]
    }

    func geometry() -> Geometry {
        let logP = base.logConditionals
        let n = base.inputCount, d = base.dimension
        var predicted = [Int](repeating: 0, count: n), confident = [Bool](repeating: false, count: n)
        for i in 0..<n {
            let row = logP.row(i)
            let top = row.indices.max { row[$0] < row[$1] }!
            predicted[i] = top
            confident[i] = -row[top].expm1 <= confidence
        }
        var sums: [Int: ([Double], Double)] = [:]
        for i in 0..<n where confident[i] {
            var entry = sums[predicted[i]] ?? ([Double](repeating: 0, count: d), 0)
            for j in 0..<d { entry.0[j] += base.weights[i] * base.embeddings[i, j] }
            entry.1 += base.weights[i]
            sums[predicted[i]] = entry
        }
        let means = sums.mapValues { s in s.0.map { $0 / s.1 } }
        return Geometry(predicted: predicted, confident: confident, movable: means.keys.sorted(), means: means)
    }

    /// The moved (not yet refitted) student for a permutation of `geometry.movable`.
    func relabelled(_ permutation: [Int], _ geometry: Geometry) -> (Matrix, Matrix) {
        var target = Array(0..<base.labelCount)
        for (a, b) in zip(geometry.movable, permutation) { target[a] = b }
        var f = base.embeddings
        let g = base.unembeddings.selectingRows(target)
        for i in 0..<base.inputCount where geometry.confident[i] {
            let from = geometry.predicted[i], to = target[from]
            guard from != to, let a = geometry.means[from], let b = geometry.means[to] else { continue }
            for j in 0..<base.dimension { f[i, j] += b[j] - a[j] }
        }
        return (f, g)
    }

    func relabellingStarts(_ count: Int, using g: inout SeededGenerator) throws -> [CE4Start] {
        let geometry = geometry()
        let m = geometry.movable.count
        guard count > 0, m >= 2 else { return [] }
        // Candidates: distinct non-identity permutations of the movable classes.
        var seen = Set<[Int]>([geometry.movable])
        var candidates: [(perm: [Int], kl: Double, objective: Double)] = []
        for _ in 0..<(count * candidatesPerStart) {
            var p = geometry.movable
            for i in stride(from: m - 1, to: 0, by: -1) { p.swapAt(i, g.int(in: 0...i)) }
            guard seen.insert(p).inserted else { continue }
            let (f, u) = relabelled(p, geometry)
            let kl = divergence.evaluate(embeddings: f, unembeddings: u).0
            let value = try objective.evaluate(embeddings: f, unembeddings: u).value
            candidates.append((p, max(kl.forward, kl.backward), value))
        }
        let byKL = candidates.indices.sorted { (candidates[$0].kl, $0) < (candidates[$1].kl, $1) }
        let byObjective = candidates.indices.sorted { (candidates[$0].objective, $0) < (candidates[$1].objective, $1) }
        var chosen: [Int] = [], taken = Set<Int>()
        var (a, b) = (0, 0)
        while chosen.count < min(count, candidates.count) {
            let useKL = chosen.count % 2 == 0
            if useKL {
                while a < byKL.count, taken.contains(byKL[a]) { a += 1 }
                if a < byKL.count { chosen.append(byKL[a]); taken.insert(byKL[a]) }
            } else {
                while b < byObjective.count, taken.contains(byObjective[b]) { b += 1 }
                if b < byObjective.count { chosen.append(byObjective[b]); taken.insert(byObjective[b]) }
            }
        }
        return chosen.map { c in
            let (f, u) = relabelled(candidates[c].perm, geometry)
            return CE4Start(kind: .relabelling(candidates[c].perm), embeddings: f, unembeddings: u, needsRefit: true)
        }
    }

    /// Each f_B(x) moved toward argmin_f KL(p_A(·|x) ‖ softmax(G_B f)) by damped Newton
    /// steps (gradient G_Bᵀ(q − p), Hessian G_Bᵀ(diag q − qqᵀ)G_B + δ·mean diag), keeping
    /// a step only when it lowers the input's KL. O(N · iterations · k d²), allocation-free
    /// inner loops; Cholesky on the damped Hessian (positive definite for δ > 0).
    func refit(_ f: Matrix, _ g: Matrix, iterations: Int = 12) -> Matrix {
        var f = f
        let (k, d) = (g.rows, g.columns)
        let gs = g.storage, lp = divergence.teacherLog.storage, pp = divergence.teacherProbabilities.storage
        var x = [Double](repeating: 0, count: d), trial = x, gradient = x, mean = x, step = x
        var q = [Double](repeating: 0, count: k), qTrial = q, logits = q
        var h = [Double](repeating: 0, count: d * d)
        /// KL(p_i ‖ softmax(G v)) and softmax(G v) into `out`.
        func rowKL(_ v: [Double], _ i: Int, _ out: inout [Double]) -> Double {
            var top = -Double.infinity
            for y in 0..<k {
                var s = 0.0
                for j in 0..<d { s += gs[y * d + j] * v[j] }
                logits[y] = s
                top = max(top, s)
            }
            var total = 0.0
            for y in 0..<k { total += (logits[y] - top).exp }
            let lse = top + total.log
            var kl = 0.0
            for y in 0..<k {
                let lq = logits[y] - lse
                out[y] = lq.exp
                kl += pp[i * k + y] * (lp[i * k + y] - lq)
            }
            return kl
        }
        for i in 0..<f.rows {
            for j in 0..<d { x[j] = f[i, j] }
            var current = rowKL(x, i, &q)
            var damping = 1e-6
            for _ in 0..<iterations {
                for j in 0..<d { gradient[j] = 0; mean[j] = 0 }
                for y in 0..<k {
                    let r = q[y] - pp[i * k + y]
                    for j in 0..<d { gradient[j] += r * gs[y * d + j]; mean[j] += q[y] * gs[y * d + j] }
                }
                for t in 0..<(d * d) { h[t] = 0 }
                for y in 0..<k where q[y] > 1e-300 {
                    for a in 0..<d {
                        let ca = q[y] * (gs[y * d + a] - mean[a])
                        for b in 0...a { h[a * d + b] += ca * (gs[y * d + b] - mean[b]) }
                    }
                }
                var scale = 1e-300
                for a in 0..<d { scale += h[a * d + a] / Double(d) }
                for a in 0..<d { h[a * d + a] += damping * scale }
                // Cholesky of the lower triangle in place, then two triangular solves.
                var definite = true
                for a in 0..<d {
                    for b in 0...a {
                        var s = h[a * d + b]
                        for c in 0..<b { s -= h[a * d + c] * h[b * d + c] }
                        if a == b {
                            guard s > 0 else { definite = false; break }
                            h[a * d + a] = s.squareRoot()
                        } else {
                            h[a * d + b] = s / h[b * d + b]
                        }
                    }
                    if !definite { break }
                }
                guard definite else { damping *= 100; if damping > 1e6 { break }; continue }
                for a in 0..<d {
                    var s = gradient[a]
                    for c in 0..<a { s -= h[a * d + c] * step[c] }
                    step[a] = s / h[a * d + a]
                }
                for a in stride(from: d - 1, through: 0, by: -1) {
                    var s = step[a]
                    for c in (a + 1)..<max(a + 1, d) { s -= h[c * d + a] * step[c] }
                    step[a] = s / h[a * d + a]
                }
                for j in 0..<d { trial[j] = x[j] - step[j] }
                let value = rowKL(trial, i, &qTrial)
                if value < current {
                    swap(&x, &trial)
                    swap(&q, &qTrial)
                    current = value
                    damping = max(damping / 10, 1e-9)
                } else {
                    damping *= 100
                    if damping > 1e6 { break }
                }
            }
            for j in 0..<d { f[i, j] = x[j] }
        }
        return f
    }
}
