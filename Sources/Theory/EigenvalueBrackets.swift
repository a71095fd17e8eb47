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

    init(estimates: [Double], floor: Double, trivialLower: Rational, trivialUpper: Rational,
         count: (Rational) throws -> Int) rethrows {
        var lo: [Rational] = [], hi: [Rational] = []
        for (i, estimate) in estimates.enumerated() {
            var foundLo = trivialLower, foundHi = trivialUpper
            for exponent in Self.exponents {
                let margin = (abs(estimate) + floor) * Self.power10(exponent)
                let candidate = Rational(exactly: estimate - margin)!
                if candidate > foundLo, try count(candidate) >= i + 1 { foundLo = candidate; break }
            }
            for exponent in Self.exponents {
                let margin = (abs(estimate) + floor) * Self.power10(exponent)
                let candidate = Rational(exactly: estimate + margin)!
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
