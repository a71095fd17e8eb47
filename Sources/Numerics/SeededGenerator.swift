/// A small, fast, seedable random number generator (SplitMix64), so that every
/// random check and generated model is reproducible from a printed seed on every
/// platform. Not for cryptography.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Double in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in the range (by rejection-free multiply-shift; the tiny
    /// bias is irrelevant here). Own implementation, so streams do not depend on the
    /// standard library's algorithm.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let width = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(next().multipliedFullWidth(by: width).high)
    }

    /// A uniform Double in the range.
    public mutating func uniform(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * uniform()
    }

    /// A standard normal draw (Box–Muller).
    public mutating func gaussian() -> Double {
        let u1 = Swift.max(uniform(), 0x1.0p-60)
        let u2 = uniform()
        return (-2 * u1.log).squareRoot() * cosine(2 * Double.pi * u2)
    }

    /// A matrix of independent standard normals, scaled.
    public mutating func gaussianMatrix(rows: Int, columns: Int, scale: Double = 1) -> Matrix {
        var m = Matrix(rows: rows, columns: columns)
        for t in 0..<(rows * columns) { m.storage[t] = scale * gaussian() }
        return m
    }

    /// A derived seed for an independent stream (e.g. case i of a corpus).
    public static func derive(_ seed: UInt64, _ index: UInt64) -> UInt64 {
        var g = SeededGenerator(seed: seed ^ (index &* 0xD1B5_4A32_D192_ED03))
        return g.next()
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func cosine(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Darwin
@inline(__always) func cosine(_ x: Double) -> Double { Darwin.cos(x) }
#endif
