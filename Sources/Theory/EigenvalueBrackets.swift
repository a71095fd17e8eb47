import Numerics

/// Certified brackets for the eigenvalues of a symmetric pencil, from exact
/// inertia counts: `count(t)` must return exactly how many eigenvalues exceed the
/// rational t. For the i-th largest eigenvalue λᵢ (0-based), count(a) ≥ i + 1
/// proves λᵢ > a and count(b) ≤ i proves λᵢ ≤ b. Candidates are taken around the
/// Double estimates with widening margins; where none succeeds and the trivial lower
/// bound is 0, bisection on the counts (`bisected`); otherwise the trivial bound given
/// by the caller is kept, so the brackets are always sound.
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
    /// `exactAtZero`: ask the candidate 0 exactly at once whatever the size (where its exact 0 is
    /// needed: T7 on a student that is the teacher's map up to rounding, whose d_logit² is 10⁻²³).
    init(estimates: [Double], floor: Double, zeroScale: Double? = nil, trivialLower: Rational, trivialUpper: Rational,
         quickCount: ((Rational) -> Int?)? = nil, exactAtZero: Bool = false, count uncached: (Rational) throws -> Int) rethrows {
        var lo: [Rational] = [], hi: [Rational] = []
        let memo = CountMemo()
        func count(_ t: Rational) throws -> Int { try memo.count(t, uncached) }
        // The points the quick count could not tell: not asked again.
        var quickOpen: Set<Rational> = []
        func quick(_ t: Rational) -> Int? {
            guard let quickCount, !quickOpen.contains(t) else { return nil }
            guard let c = quickCount(t) else { quickOpen.insert(t); return nil }
            memo.counted[t] = c
            return c
        }
        let exactIsCheap = exactAtZero || estimates.count <= Self.cheapExactSize
        // Whether count(0) is had without exact elimination of a large pencil (memoised, or by
        // the quick count), as the bisection below needs it first.
        func zeroCountCheap() -> Bool {
            exactIsCheap || memo.counted[.zero] != nil || quick(.zero) != nil
        }
        for (i, estimate) in estimates.enumerated() {
            let own = abs(estimate) + floor
            let margins = own > 0 ? Self.exponents.map { own * Self.power10($0) }
                : [0] + (zeroScale.map { scale in Self.exponents.map { scale * Self.power10($0) } } ?? [])
            // An estimate beyond the Double range (μ of models near its ends, whose true value
            // exceeds it) or NaN places no candidate: the trivial bounds stay.
            // An estimate itself (margin 0: an eigenvalue at exactly 0, as an orbit pair's 1 − ρ²)
            // is where the pencil is singular, so only exact elimination counts there: asked at
            // once for small pencils (milliseconds at d ≤ 16), after every other candidate for
            // larger ones (78 s at d = 64, N = 100, where 28 of the 1 − ρᵢ² are 0 exactly and a
            // candidate 10⁻¹³ above decides in MPFR).
            func first(_ candidates: [(Rational, Double)], _ proves: (Int) -> Bool) throws -> Rational? {
                var open: [Rational] = [], singular: [Rational] = []
                for (candidate, margin) in candidates {
                    if let c = memo.counted[candidate] {
                        if proves(c) { return candidate }
                        continue
                    }
                    guard quickCount != nil else { open.append(candidate); continue }
                    if let c = quick(candidate) {
                        if proves(c) { return candidate }
                    } else if margin == 0 && exactIsCheap {
                        if proves(try count(candidate)) { return candidate }
                    } else if margin == 0 {
                        singular.append(candidate)
                    } else {
                        open.append(candidate)
                    }
                }
                for candidate in open + singular where proves(try count(candidate)) { return candidate }
                return nil
            }
            let below = margins.compactMap { m in Rational(exactly: estimate - m).map { ($0, m) } }.filter { $0.0 > trivialLower }
            let above = margins.compactMap { m in Rational(exactly: estimate + m).map { ($0, m) } }.filter { $0.0 < trivialUpper }
            var upper = try first(above) { $0 <= i }
            var lower = try first(below) { $0 >= i + 1 }
            // An end no candidate decided above a trivial lower bound of 0 (an estimate of 0 where
            // the eigenvalue is positive, or a poor one: T7's μ_{d₂} and 1 − ρᵢ² of heavy, nearly
            // parallel inputs, whose brackets kept 0 and 1): bisection on the counts gives both
            // ends; count(0) ≤ i gives the upper end 0.
            if lower == nil || upper == nil, trivialLower.isZero, upper?.isZero != true, zeroCountCheap() {
                if let bracket = try Self.bisected(index: i, top: upper ?? trivialUpper, bits: Self.fallbackBits, known: memo.counted, count: count) {
                    // Both ends from the bisection, each at or inside the candidate's (it starts there).
                    lower = Rational.max(lower ?? bracket.lo, bracket.lo)
                    upper = bracket.hi
                } else {
                    upper = .zero
                }
            }
            lo.append(lower ?? trivialLower)
            hi.append(upper ?? trivialUpper)
        }
        lower = lo
        upper = hi
    }

    /// Brackets from counts alone, where no Double estimate exists (a moment matrix of full rank
    /// only exactly, whose Double Cholesky fails): each of the `size` eigenvalues, all in
    /// [0, `top`], by `bisected`; an eigenvalue count(0) does not place above 0 gets [0, 0].
    init(size: Int, top: Rational, bits: Int, count uncached: (Rational) throws -> Int) rethrows {
        var lo: [Rational] = [], hi: [Rational] = []
        // Every index asks count(0) first and starts from the counts the indices before it made.
        let memo = CountMemo()
        func count(_ t: Rational) throws -> Int { try memo.count(t, uncached) }
        for i in 0..<size {
            let (l, h) = try Self.bisected(index: i, top: top, bits: bits, known: memo.counted, count: count) ?? (.zero, .zero)
            lo.append(l)
            hi.append(h)
        }
        lower = lo
        upper = hi
    }

    /// lo < λᵢ ≤ hi with hi − lo ≤ 2^−`bits`·lo for the i-th largest eigenvalue (0-based), given
    /// λᵢ ≤ top; nil when count(0) ≤ i (λᵢ ≤ 0). Starts from the tightest bracket the counts in
    /// `known` already give (T3/T4's side: the counts at the Double σ_min² lowered and raised by
    /// 2⁻³⁰ leave a bracket 2⁻²⁹ wide to refine, not a walk down from tr S/n); without a known point
    /// below λᵢ, powers of two down from the upper end (steps 2¹, 2², 2⁴, …, at most 2¹²) until one
    /// lies below λᵢ. Then bisection of the exponent and of the mantissa.
    static func bisected(index i: Int, top: Rational, bits: Int, known: [Rational: Int] = [:],
                         count: (Rational) throws -> Int) rethrows -> (lo: Rational, hi: Rational)? {
        func below(_ t: Rational) throws -> Bool { try count(t) >= i + 1 }     // t < λᵢ
        guard try below(.zero) else { return nil }
        // count(t) ≤ i proves λᵢ ≤ t, count(t) ≥ i + 1 proves t < λᵢ.
        var hi = known.lazy.filter { $0.key.sign > 0 && $0.value <= i && $0.key < top }.map(\.key).min() ?? top
        var lo: Rational
        if let start = known.lazy.filter({ $0.key.sign > 0 && $0.value >= i + 1 }).map(\.key).max() {
            lo = start
        } else {
            var step = 1
            lo = hi.scaled(byPowerOfTwo: -step)
            var tries = 0
            while try !below(lo) {
                tries += 1
                // λᵢ > 0 ends this within 2^−(2¹²·68) of the upper end (beyond, 0 stays the lower end: exact counts at
                // such powers would cost more than the bracket is worth).
                guard tries < 80 else { return (.zero, hi) }
                hi = lo
                step = min(2 * step, Self.largestStep)
                lo = hi.scaled(byPowerOfTwo: -step)
            }
        }
        // Counts that contradict each other (a wrong count) would leave lo ≥ hi: never a bracket.
        precondition(lo < hi, "EigenvalueBrackets: inconsistent inertia counts")
        // The exponent: hi/lo ≥ 4 is halved in log scale at a power of two times lo.
        while true {
            let k = Int(((hi.log10Magnitude - lo.log10Magnitude) / Self.log10Of2).rounded(.down))
            guard k >= 2 else { break }
            let mid = lo.scaled(byPowerOfTwo: k / 2)
            guard mid < hi else { break }
            if try below(mid) { lo = mid } else { hi = mid }
        }
        // The mantissa.
        while hi - lo > lo.scaled(byPowerOfTwo: -bits) {
            let mid = (lo + hi).scaled(byPowerOfTwo: -1)
            if try below(mid) { lo = mid } else { hi = mid }
        }
        return (lo, hi)
    }

    static let log10Of2 = 0.30102999566398120
    static let exponents = Array(stride(from: -13, through: 1, by: 2))
    /// The largest step down in the bisection's search for a power of two below an eigenvalue.
    static let largestStep = 1 << 12
    /// The largest pencil whose exact counts are asked as soon as MPFR cannot tell.
    static let cheapExactSize = 16
    /// The relative width of a bracket found by bisection where no candidate decided an end.
    static let fallbackBits = 24

    static func power10(_ e: Int) -> Double {
        var x = 1.0
        for _ in 0..<abs(e) { x = e < 0 ? x / 10 : x * 10 }
        return x
    }
}

/// Each point's count asked once, shared by every eigenvalue's candidates and bisection (and by
/// T3/T4's decision, raised σ_min² and bracket): a pencil singular at 0 (an orbit pair's 1 − ρᵢ² = 0)
/// needs exact elimination there, 78 s at d = 64, which each index would otherwise ask again.
final class CountMemo {
    var counted: [Rational: Int] = [:]

    func count(_ t: Rational, _ uncached: (Rational) throws -> Int) rethrows -> Int {
        if let c = counted[t] { return c }
        let c = try uncached(t)
        counted[t] = c
        return c
    }
}
