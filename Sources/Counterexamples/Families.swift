import Numerics
import Theory

/// CE1 (THEORY.md §5): k labels at angles θ_y = 2πy/k with norm L; inputs of class y
/// in a cluster at θ_y (radius `radius`, angular noise `noise`). The student assigns
/// the angles through the permutation π, moving each class's inputs with its label:
/// predictions agree and become certain as L grows (KL → 0 exponentially), while the
/// embeddings are a non-linear rearrangement. Concept: "class y < k/2" — an arc in
/// the teacher, scattered in the student.
public struct CE1LabelPermutation: Sendable {
    public var labels = 7
    public var margin = 24.0
    /// π(y) = multiplier · y mod k: not a symmetry of the k-gon for multiplier ∉ {±1}.
    public var multiplier = 2
    public var inputsPerClass = 12
    public var radius = 2.0
    public var noise = 0.05
    public var seed: UInt64 = 1

    public init() {}

    public func build() throws -> Construction {
        var g = SeededGenerator(seed: seed)
        let k = labels
        let perm = (0..<k).map { (multiplier * $0 % k + k) % k }
        var teacherAngles: [Double] = [], studentAngles: [Double] = [], classes: [Int] = []
        for y in 0..<k {
            for _ in 0..<inputsPerClass {
                let jitter = noise * g.gaussian()
                teacherAngles.append(Circle.angle(y, of: k) + jitter)
                studentAngles.append(Circle.angle(perm[y], of: k) + jitter)
                classes.append(y)
            }
        }
        return try Construction.angular(
            family: "CE1",
            summary: "label permutation π(y) = \(multiplier)y mod \(k) with margin L = \(margin): each class's inputs move with its label",
            parameters: ["labels": "\(k)", "margin": "\(margin)", "multiplier": "\(multiplier)",
                         "inputs_per_class": "\(inputsPerClass)", "radius": "\(radius)", "noise": "\(noise)", "seed": "\(seed)"],
            teacherInputAngles: teacherAngles, studentInputAngles: studentAngles, inputLabels: classes,
            teacherLabelAngles: (0..<k).map { Circle.angle($0, of: k) },
            studentLabelAngles: (0..<k).map { Circle.angle(perm[$0], of: k) },
            radius: radius, margin: margin, concept: classes.map { $0 < (k + 1) / 2 }, conceptName: "class y < \((k + 1) / 2)")
    }
}

/// CE2 (THEORY.md §5): 8 labels in d = 2. Four confident labels at nearby angles
/// (210°…240°) and two ambiguous pairs; each pair's two unembeddings sit ±`spread`
/// degrees around its axis (0° and 90°), and that pair's inputs sit on the axis, so
/// the pair is near 50/50. The student keeps the embeddings and swaps the unembeddings
/// inside each pair: the swaps are reflections about two different axes, so no linear
/// map relates the unembeddings, while the conditionals barely move. Concept: "input
/// belongs to an ambiguous pair".
public struct CE2AmbiguousPairSwap: Sendable {
    public var margin = 16.0
    public var spread = 25.0
    public var inputsPerClass = 12
    public var radius = 2.0
    public var noise = 0.002
    public var seed: UInt64 = 2

    public init() {}

    public func build() throws -> Construction {
        var g = SeededGenerator(seed: seed)
        let deg = Double.pi / 180
        let confident = [210.0, 220.0, 230.0, 240.0].map { $0 * deg }
        let axes = [0.0, 90.0].map { $0 * deg }
        let teacherLabels = confident + axes.flatMap { [$0 + spread * deg, $0 - spread * deg] }
        var studentLabels = teacherLabels
        studentLabels.swapAt(4, 5)
        studentLabels.swapAt(6, 7)
        var angles: [Double] = [], classes: [Int] = []
        for y in 0..<8 {
            let centre = y < 4 ? confident[y] : axes[(y - 4) / 2]
            for _ in 0..<inputsPerClass {
                angles.append(centre + noise * g.gaussian())
                classes.append(y)
            }
        }
        return try Construction.angular(
            family: "CE2",
            summary: "two ambiguous pairs (unembeddings ±\(spread)° around the axes 0° and 90°) swapped in the student; embeddings kept",
            parameters: ["margin": "\(margin)", "spread": "\(spread)", "inputs_per_class": "\(inputsPerClass)",
                         "radius": "\(radius)", "noise": "\(noise)", "seed": "\(seed)"],
            teacherInputAngles: angles, studentInputAngles: angles, inputLabels: classes,
            teacherLabelAngles: teacherLabels, studentLabelAngles: studentLabels,
            radius: radius, margin: margin, concept: classes.map { $0 >= 4 }, conceptName: "input of an ambiguous pair")
    }
}

/// CE3 (THEORY.md §5): 5 labels in d = 2, inputs clustered at the labels' angles; the
/// student rotates every embedding by +`angle` and every unembedding by −`angle`.
/// Each side is a rotation of the teacher's (m_CCA = 1 on both sides) but logits are
/// rotated by 2·angle, so the conditionals differ grossly (T9). Concept: "class y < 3".
public struct CE3CounterRotation: Sendable {
    public var angleDegrees = 45.0
    public var margin = 4.0
    public var inputsPerClass = 12
    public var radius = 2.0
    public var noise = 0.05
    public var seed: UInt64 = 3

    public init() {}

    public func build() throws -> Construction {
        var g = SeededGenerator(seed: seed)
        let k = 5, turn = angleDegrees * Double.pi / 180
        var teacherAngles: [Double] = [], classes: [Int] = []
        for y in 0..<k {
            for _ in 0..<inputsPerClass {
                teacherAngles.append(Circle.angle(y, of: k) + noise * g.gaussian())
                classes.append(y)
            }
        }
        let labelAngles = (0..<k).map { Circle.angle($0, of: k) }
        return try Construction.angular(
            family: "CE3",
            summary: "embeddings rotated by +\(angleDegrees)°, unembeddings by −\(angleDegrees)°",
            parameters: ["angle_degrees": "\(angleDegrees)", "margin": "\(margin)", "inputs_per_class": "\(inputsPerClass)",
                         "radius": "\(radius)", "noise": "\(noise)", "seed": "\(seed)"],
            teacherInputAngles: teacherAngles, studentInputAngles: teacherAngles.map { $0 + turn }, inputLabels: classes,
            teacherLabelAngles: labelAngles, studentLabelAngles: labelAngles.map { $0 - turn },
            radius: radius, margin: margin, concept: classes.map { $0 < 3 }, conceptName: "class y < 3")
    }
}

/// CE5 (THEORY.md §7): a pair in one identifiability class — the student is the
/// teacher's orbit image (F Aᵀ, G A⁻¹) under A = diag(2^s, 1, …, 1), dyadic with a dyadic
/// inverse, so every Double product is exact and d_logit² = 0 exactly — whose linear CKA
/// is near 1/√d and whose Procrustes distance is near √(2 − 2/√d), the values for
/// isotropic embeddings as s → ∞. Teacher: inputs at ±r·e_j (`inputsPerDirection`
/// each, so E f = 0 and E f fᵀ = (r²/d) I exactly), unembeddings L·e_j and −L·1 (k = d + 1,
/// G̃ of full rank): both models are diverse. Concept: the sign of the first coordinate,
/// which A keeps, so a probe reads it perfectly from both.
public struct CE5IdentifiabilityBlind: Sendable {
    public var dimension = 4
    /// A's first entry is 2^stretch.
    public var stretch = 10
    public var inputsPerDirection = 3
    public var radius = 2.0
    public var margin = 4.0

    public init() {}

    public func build() throws -> Construction {
        let d = dimension
        guard (2...64).contains(d) else { throw ModelError.refused("CE5 needs 2 ≤ d ≤ 64, got d = \(d)") }
        guard (1...100).contains(stretch) else { throw ModelError.refused("CE5's stretch must be in 1…100") }
        var rows: [[Double]] = [], labels: [Int] = []
        for j in 0..<d {
            for sign in [1.0, -1.0] {
                for _ in 0..<inputsPerDirection {
                    var f = [Double](repeating: 0, count: d)
                    f[j] = sign * radius
                    rows.append(f)
                    labels.append(sign > 0 ? j : d)
                }
            }
        }
        let f = try Matrix(rows)
        let g = try Matrix((0..<d).map { j in (0..<d).map { $0 == j ? margin : 0 } } + [Array(repeating: -margin, count: d)])
        let scale = (0..<stretch).reduce(1.0) { r, _ in r * 2 }
        let a = (0..<d).map { $0 == 0 ? scale : 1.0 }
        let teacher = try SoftmaxModel(embeddings: f, unembeddings: g)
        let student = try SoftmaxModel(embeddings: Matrix(rows: f.rows, columns: d) { i, j in f[i, j] * a[j] },
                                       unembeddings: Matrix(rows: g.rows, columns: d) { i, j in g[i, j] / a[j] })
        return Construction(
            family: "CE5",
            summary: "the student is the teacher's orbit image under A = diag(2^\(stretch), 1, …, 1) (d = \(d)): identical conditionals, linear CKA near 1/√d",
            parameters: ["dimension": "\(d)", "stretch": "\(stretch)", "inputs_per_direction": "\(inputsPerDirection)",
                         "radius": "\(radius)", "margin": "\(margin)"],
            pair: try ModelPair(teacher, student), inputLabels: labels,
            concept: rows.map { $0[0] > 0 }, conceptName: "first coordinate positive")
    }
}
