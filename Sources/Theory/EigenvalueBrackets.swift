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

    init(estimates: [Double], scale: Double, trivialLower: Rational, trivialUpper: Rational,
         count: (Rational) throws -> Int) rethrows {
        var lo: [Rational] = [], hi: [Rational] = []
        for (i, estimate) in estimates.enumerated() {
            var foundLo = trivialLower, foundHi = trivialUpper
            for exponent in stride(from: -13.0, through: -3.0, by: 2.0) {
                let margin = scale * Self.power10(exponent)
                let candidate = Rational(exactly: estimate - margin)!
                if candidate > foundLo, try count(candidate) >= i + 1 { foundLo = candidate; break }
            }
            for exponent in stride(from: -13.0, through: -3.0, by: 2.0) {
                let margin = scale * Self.power10(exponent)
                let candidate = Rational(exactly: estimate + margin)!
                if candidate < foundHi, try count(candidate) <= i { foundHi = candidate; break }
            }
            lo.append(foundLo)
            hi.append(foundHi)
        }
        lower = lo
        upper = hi
    }

    static func power10(_ e: Double) -> Double {
        var x = 1.0
        for _ in 0..<Int(-e) { x /= 10 }
        return x
    }
}
