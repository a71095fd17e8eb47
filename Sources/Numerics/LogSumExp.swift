/// Stable log Σ exp(xᵢ) in Double: the maximum m is factored out,
/// log Σ exp(xᵢ) = m + log Σ exp(xᵢ − m), so no term overflows and the largest
/// term is exactly 1. Relative error about (n + 2)ε. −∞ for an empty list;
/// NaN in, NaN out.
public func logSumExp<C: Collection>(_ x: C) -> Double where C.Element == Double {
    guard let m = x.max() else { return -.infinity }
    guard m.isFinite else { return m }
    var sum = 0.0
    for v in x { sum += (v - m).exp }
    return m + sum.log
}

/// log softmax(x)ᵢ = xᵢ − logSumExp(x), never exp-then-log, so probabilities that
/// underflow to 0 in Double keep a finite log.
/// Formed as (xᵢ − m) − log Σ exp(x − m) with m the maximum, so its error is relative
/// to the spread of x, not to its scale (xᵢ − logSumExp(x) loses ε·|m| absolutely).
public func logSoftmax(_ x: [Double]) -> [Double] {
    guard let m = x.max() else { return [] }
    guard m.isFinite else { return x.map { _ in .nan } }
    var sum = 0.0
    for v in x { sum += (v - m).exp }
    let logSum = sum.log
    return x.map { ($0 - m) - logSum }
}

extension Double {
    /// ln 10, the Double nearest it: for logarithms to base 10 from natural ones and back.
    public static let ln10 = 2.302585092994046
    /// log₁₀ 2, the Double nearest it: a power of two's exponent in decimal digits.
    public static let log10Of2 = 0.3010299956639812

    /// eˣ (the C library's exp).
    @inline(__always) public var exp: Double { Foundation_exp(self) }
    /// The natural logarithm (the C library's log).
    @inline(__always) public var log: Double { Foundation_log(self) }
    /// log(1 + x), accurate for small x (the C library's log1p).
    @inline(__always) public var log1p: Double { Foundation_log1p(self) }
    /// eˣ − 1, accurate for small x (the C library's expm1).
    @inline(__always) public var expm1: Double { Foundation_expm1(self) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) @usableFromInline func Foundation_exp(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) @usableFromInline func Foundation_log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) @usableFromInline func Foundation_exp2(_ x: Double) -> Double { Glibc.exp2(x) }
@inline(__always) @usableFromInline func Foundation_log1p(_ x: Double) -> Double { Glibc.log1p(x) }
@inline(__always) @usableFromInline func Foundation_expm1(_ x: Double) -> Double { Glibc.expm1(x) }
#else
import Darwin
@inline(__always) @usableFromInline func Foundation_exp(_ x: Double) -> Double { Darwin.exp(x) }
@inline(__always) @usableFromInline func Foundation_log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) @usableFromInline func Foundation_exp2(_ x: Double) -> Double { Darwin.exp2(x) }
@inline(__always) @usableFromInline func Foundation_log1p(_ x: Double) -> Double { Darwin.log1p(x) }
@inline(__always) @usableFromInline func Foundation_expm1(_ x: Double) -> Double { Darwin.expm1(x) }
#endif

/// The index of the first NaN or ±∞ in `values`, or nil. A vectorisable pass
/// (x·0 is NaN exactly when x is not finite) finds whether there is one, per
/// 4096-value chunk; only a chunk that has one is scanned element by element.
public func firstNonFinite(_ values: [Double]) -> Int? {
    values.withUnsafeBufferPointer { p in
        var start = 0
        while start < p.count {
            let end = Swift.min(p.count, start + 4096)
            var probe = SIMD4<Double>()
            var i = start
            while i + 4 <= end {
                probe += SIMD4(p[i], p[i + 1], p[i + 2], p[i + 3]) * 0
                i += 4
            }
            var tail = 0.0
            while i < end { tail += p[i] * 0; i += 1 }
            if !(probe.sum() + tail).isFinite || (probe.sum() + tail).isNaN {
                return (start..<end).first { !p[$0].isFinite }
            }
            start = end
        }
        return nil
    }
}
