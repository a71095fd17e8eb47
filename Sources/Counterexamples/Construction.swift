import Numerics
import Theory

/// A teacher/student pair built by one of THEORY.md's families, with the binary
/// concept (one Bool per input) that a linear probe should read from the teacher.
public struct Construction: Sendable {
    public let family: String
    /// What was built, in a sentence, for the report.
    public let summary: String
    /// The family's parameters, for the report and the command to reproduce it.
    public let parameters: [String: String]
    public let pair: ModelPair
    /// Class label of each input (for colouring figures).
    public let inputLabels: [Int]
    /// The linearly recoverable concept.
    public let concept: [Bool]
    public let conceptName: String

    public init(family: String, summary: String, parameters: [String: String], pair: ModelPair,
                inputLabels: [Int], concept: [Bool], conceptName: String) {
        self.family = family
        self.summary = summary
        self.parameters = parameters
        self.pair = pair
        self.inputLabels = inputLabels
        self.concept = concept
        self.conceptName = conceptName
    }
}

/// Points at angles on a circle.
enum Circle {
    static func point(_ angle: Double, radius: Double) -> [Double] {
        [radius * cosine(angle), radius * sine(angle)]
    }

    static func angle(_ y: Int, of k: Int) -> Double { 2 * Double.pi * Double(y) / Double(k) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func cosine(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) func sine(_ x: Double) -> Double { Glibc.sin(x) }
#else
import Darwin
@inline(__always) func cosine(_ x: Double) -> Double { Darwin.cos(x) }
@inline(__always) func sine(_ x: Double) -> Double { Darwin.sin(x) }
#endif

extension Construction {
    /// Builds a pair from per-class input angles and per-label unembedding angles.
    static func angular(family: String, summary: String, parameters: [String: String],
                        teacherInputAngles: [Double], studentInputAngles: [Double], inputLabels: [Int],
                        teacherLabelAngles: [Double], studentLabelAngles: [Double],
                        radius: Double, margin: Double, concept: [Bool], conceptName: String) throws -> Construction {
        func embeddings(_ angles: [Double]) throws -> Matrix {
            try Matrix(angles.map { Circle.point($0, radius: radius) })
        }
        func unembeddings(_ angles: [Double]) throws -> Matrix {
            try Matrix(angles.map { Circle.point($0, radius: margin) })
        }
        let teacher = try SoftmaxModel(embeddings: embeddings(teacherInputAngles), unembeddings: unembeddings(teacherLabelAngles))
        let student = try SoftmaxModel(embeddings: embeddings(studentInputAngles), unembeddings: unembeddings(studentLabelAngles))
        return Construction(family: family, summary: summary, parameters: parameters, pair: try ModelPair(teacher, student),
                            inputLabels: inputLabels, concept: concept, conceptName: conceptName)
    }
}
