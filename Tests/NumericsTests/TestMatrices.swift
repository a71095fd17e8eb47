import Foundation
import Numerics

/// Random test matrices with a prescribed singular spectrum: Q₁ diag(σ) Q₂ᵀ with
/// Q from the QR of a Gaussian matrix. Condition number = σ₁/σ_min.
func matrix(rows m: Int, columns n: Int, singularValues s: [Double],
            using g: inout SeededGenerator) -> Matrix {
    let q1 = try! QRDecomposition(g.gaussianMatrix(rows: m, columns: s.count)).q
    let q2 = try! QRDecomposition(g.gaussianMatrix(rows: n, columns: s.count)).q
    return q1.scalingColumns(by: s).multiplied(by: q2, transposeOther: true)
}

/// A logarithmically spaced spectrum from 1 down to 1/condition.
func spectrum(_ count: Int, condition: Double) -> [Double] {
    (0..<count).map { i in
        count == 1 ? 1 : Double.pow(condition, -Double(i) / Double(count - 1))
    }
}

extension Double {
    static func pow(_ x: Double, _ y: Double) -> Double {
        #if canImport(Glibc)
        return Glibc.pow(x, y)
        #else
        return Darwin.pow(x, y)
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

func relativeError(_ a: Matrix, _ b: Matrix) -> Double {
    a.maxAbsDifference(b) / Swift.max(b.maxAbs, .leastNormalMagnitude)
}

/// The CPU's feature flags as /proc/cpuinfo lists them (empty where it does not exist).
func cpuFlags() -> Set<String> {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    return Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
}
