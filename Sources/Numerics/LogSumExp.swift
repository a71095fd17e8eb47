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
public func logSoftmax(_ x: [Double]) -> [Double] {
    let lse = logSumExp(x)
    return x.map { $0 - lse }
}

extension Double {
    /// eˣ (the C library's exp).
    @inline(__always) public var exp: Double { Foundation_exp(self) }
    /// The natural logarithm (the C library's log).
    @inline(__always) public var log: Double { Foundation_log(self) }
}

#if canImport(Glibc)
import Glibc
@inline(__always) @usableFromInline func Foundation_exp(_ x: Double) -> Double { Glibc.exp(x) }
@inline(__always) @usableFromInline func Foundation_log(_ x: Double) -> Double { Glibc.log(x) }
#else
import Darwin
@inline(__always) @usableFromInline func Foundation_exp(_ x: Double) -> Double { Darwin.exp(x) }
@inline(__always) @usableFromInline func Foundation_log(_ x: Double) -> Double { Darwin.log(x) }
#endif
