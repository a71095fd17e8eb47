import Numerics

/// Certified brackets for the eigenvalues of a symmetric pencil, from exact
/// inertia counts: `count(t)` must return exactly how many eigenvalues exceed the
/// rational t. For the i-th largest eigenvalue λᵢ (0-based), count(a) ≥ i + 1
/// proves λᵢ > a and count(b) ≤ i proves λᵢ ≤ b. Candidates are taken around the
/// Double estimates with widening margins; where none succeeds the trivial bound
/// given by the caller is kept, so the brackets are always sound.
struct EigenvalueBrackets {
    let lower: [Rational]
    let upper: [Rational]

    /// `zeroScale`: for an estimate of exactly 0 with floor 0 (an eigenvalue at 0, or one at
    /// rounding level clamped to 0), which would get no margin at all, the scale of further
    /// candidates after 0 itself. T7 passes it for 1 − ρ² ∈ [0, 1]: without it, 1 − ρ² at ρ ≈ 1
    /// kept its trivial upper bound 1, and a bound holding with room was left undecided.
    /// `quickCount`, when given, is tried on every candidate first and may return nil where it
    /// cannot tell (an interval pivot containing 0); `count` is then asked only of the candidates
    /// it left open, in the same order. A candidate 10⁻¹³ from a d = 48 eigenvalue had sent every
    /// bracket to exact fraction-free elimination of 48×48 rationals: `measure` ran for minutes
    /// on a pair of 100 inputs, where a candidate 10⁻¹¹ away decides in MPFR.
    init(estimates: [Double], floor: Double, zeroScale: Double? = nil, trivialLower: Rational, trivialUpper: Rational,
         quickCount: ((Rational) -> Int?)? = nil, count: (Rational) throws -> Int) rethrows {
        var lo: [Rational] = [], hi: [Rational] = []
        for (i, estimate) in estimates.enumerated() {
            let own = abs(estimate) + floor
            let margins = own > 0 ? Self.exponents.map { own * Self.power10($0) }
                : [0] + (zeroScale.map { scale in Self.exponents.map { scale * Self.power10($0) } } ?? [])
            // An estimate beyond the Double range (μ of models near its ends, whose true value
            // exceeds it) or NaN places no candidate: the trivial bounds stay.
            // An estimate itself (margin 0: an eigenvalue at exactly 0, as an orbit pair's 1 − ρ²)
            // is asked exactly at once where the quick count cannot tell: the pencil is singular there.
            func first(_ candidates: [(Rational, Double)], _ proves: (Int) -> Bool) throws -> Rational? {
                var open: [Rational] = []
                for (candidate, margin) in candidates {
                    guard let quick = quickCount else { open.append(candidate); continue }
                    if let c = quick(candidate) {
                        if proves(c) { return candidate }
                    } else if margin == 0 {
                        if proves(try count(candidate)) { return candidate }
                    } else {
                        open.append(candidate)
                    }
                }
                for candidate in open where proves(try count(candidate)) { return candidate }
                return nil
            }
            let below = margins.compactMap { m in Rational(exactly: estimate - m).map { ($0, m) } }.filter { $0.0 > trivialLower }
            let above = margins.compactMap { m in Rational(exactly: estimate + m).map { ($0, m) } }.filter { $0.0 < trivialUpper }
            lo.append(try first(below) { $0 >= i + 1 } ?? trivialLower)
            hi.append(try first(above) { $0 <= i } ?? trivialUpper)
        }
        lower = lo
        upper = hi
    }

    static let exponents = Array(stride(from: -13, through: 1, by: 2))

    static func power10(_ e: Int) -> Double {
        var x = 1.0
        for _ in 0..<abs(e) { x = e < 0 ? x / 10 : x * 10 }
        return x
    }
}
