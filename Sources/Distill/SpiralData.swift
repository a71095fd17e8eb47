import Numerics

/// 2-D points on interleaved spiral arms (THEORY.md §6): arm a starts at angle
/// θ_a = 2π(a + ½)/A and winds `turns` times outwards; its label is a mod k, so
/// with A = k each arm is a label and with A = 2k every label owns two arms.
/// The probed concept is "the arm starts in the upper half-plane" (sin θ_a > 0):
/// a property of the arm, not a feature the labels were trained on.
public struct SpiralData: Sendable {
    public struct Split: Sendable {
        /// N×2 inputs.
        public let inputs: Matrix
        public let labels: [Int]
        public let concept: [Bool]
        public var count: Int { labels.count }
    }

    public let arms: Int
    public let labelCount: Int
    public let train: Split
    public let validation: Split
    public let test: Split

    /// - Parameters: `pointsPerArm` split 60/20/20 into train, validation and test.
    public init(arms: Int = 8, labels: Int = 8, pointsPerArm: Int = 300, turns: Double = 1, noise: Double = 0.02,
                seed: UInt64 = 1) throws {
        guard arms >= 2, labels >= 2, labels <= arms, pointsPerArm >= 10, turns > 0, noise >= 0, noise.isFinite else {
            throw DistillError.badConfiguration("spirals need 2 ≤ labels ≤ arms, ≥ 10 points per arm, turns > 0, noise ≥ 0")
        }
        self.arms = arms
        labelCount = labels
        var g = SeededGenerator(seed: seed)
        var points: [(x: Double, y: Double, label: Int, concept: Bool)] = []
        for a in 0..<arms {
            let start = 2 * Double.pi * (Double(a) + 0.5) / Double(arms)
            let upper = sine(start) > 0
            for _ in 0..<pointsPerArm {
                let t = g.uniform()
                let radius = 0.3 + t, angle = start + 2 * Double.pi * turns * t
                points.append((radius * cosine(angle) + noise * g.gaussian(), radius * sine(angle) + noise * g.gaussian(),
                               a % labels, upper))
            }
        }
        // Fisher–Yates with the same generator, then 60/20/20.
        for i in stride(from: points.count - 1, to: 0, by: -1) {
            points.swapAt(i, Int(g.next() % UInt64(i + 1)))
        }
        func split(_ range: Range<Int>) -> Split {
            let slice = points[range]
            return Split(inputs: Matrix(rows: slice.count, columns: 2) { i, j in
                                     let p = slice[slice.startIndex + i]
                                     return j == 0 ? p.x : p.y
                                 },
                         labels: slice.map(\.label), concept: slice.map(\.concept))
        }
        let n = points.count, a = n * 6 / 10, b = n * 8 / 10
        train = split(0..<a)
        validation = split(a..<b)
        test = split(b..<n)
    }
}

#if canImport(Glibc)
import Glibc
func sine(_ x: Double) -> Double { Glibc.sin(x) }
func cosine(_ x: Double) -> Double { Glibc.cos(x) }
func hyperbolicTangent(_ x: Double) -> Double { Glibc.tanh(x) }
#else
import Darwin
func sine(_ x: Double) -> Double { Darwin.sin(x) }
func cosine(_ x: Double) -> Double { Darwin.cos(x) }
func hyperbolicTangent(_ x: Double) -> Double { Darwin.tanh(x) }
#endif

public enum DistillError: Error, CustomStringConvertible {
    case badConfiguration(String)
    case training(String)
    /// Interrupted (`DistillExperiment.run`'s `stop`) with nothing finished to report.
    case interrupted(String)

    public var description: String {
        switch self {
        case .badConfiguration(let s): return "distill: \(s)"
        case .training(let s): return "distill: training failed: \(s)"
        case .interrupted(let s): return "distill: interrupted \(s): nothing to report"
        }
    }
}
