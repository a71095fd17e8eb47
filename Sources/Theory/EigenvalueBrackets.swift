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
    init(estimates: [Double], floor: Double, zeroScale: Double? = nil, trivialLower: Rational, trivialUpper: Rational,
         count: (Rational) throws -> Int) rethrows {
        var lo: [Rational] = [], hi: [Rational] = []
        for (i, estimate) in estimates.enumerated() {
            var foundLo = trivialLower, foundHi = trivialUpper
            let own = abs(estimate) + floor
            let margins = own > 0 ? Self.exponents.map { own * Self.power10($0) }
                : [0] + (zeroScale.map { scale in Self.exponents.map { scale * Self.power10($0) } } ?? [])
            // An estimate beyond the Double range (μ of models near its ends, whose true value
            // exceeds it) or NaN places no candidate: the trivial bounds stay.
            for margin in margins {
                guard let candidate = Rational(exactly: estimate - margin) else { continue }
                if candidate > foundLo, try count(candidate) >= i + 1 { foundLo = candidate; break }
            }
            for margin in margins {
                guard let candidate = Rational(exactly: estimate + margin) else { continue }
                if candidate < foundHi, try count(candidate) <= i { foundHi = candidate; break }
            }
            lo.append(foundLo)
            hi.append(foundHi)
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
