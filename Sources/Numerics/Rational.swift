import CGMP
import Foundation

/// An exact rational number on GMP's `mpq_t`.
///
/// Every finite Double is a dyadic rational m·2ᵉ, so `Rational(exactly:)` converts
/// it with no rounding (0.1 becomes 3602879701896397/36028797018963968).
/// Arithmetic is exact; its cost grows with the size of numerators and
/// denominators. A value is immutable once made (operations return new values),
/// so sharing one across threads for reading is safe; the storage is heap memory
/// owned by this object, which keeps GMP's in-place calls clear of Swift's
/// exclusivity rule.
public final class Rational: @unchecked Sendable {
    let value: UnsafeMutablePointer<__mpq_struct>

    init() {
        value = .allocate(capacity: 1)
        __gmpq_init(value)
    }

    deinit {
        __gmpq_clear(value)
        value.deallocate()
    }

    /// The exact value of a finite Double; nil for NaN or ±∞.
    public convenience init?(exactly x: Double) {
        guard x.isFinite else { return nil }
        self.init()
        __gmpq_set_d(value, x)
    }

    public convenience init(_ n: Int) {
        self.init()
        __gmpq_set_si(value, n, 1)
    }

    /// n/d in lowest terms; d must not be 0.
    public convenience init(_ n: Int, _ d: Int) {
        precondition(d != 0, "Rational: zero denominator")
        self.init()
        if d < 0 { __gmpq_set_si(value, -n, UInt(-d)) } else { __gmpq_set_si(value, n, UInt(d)) }
        __gmpq_canonicalize(value)
    }

    /// Parses "p/q" or "p" in base 10.
    public convenience init?(_ text: String) {
        self.init()
        guard __gmpq_set_str(value, text, 10) == 0, value.pointee._mp_den._mp_size != 0 else {
            return nil
        }
        __gmpq_canonicalize(value)
    }

    public static let zero = Rational(0)
    public static let one = Rational(1)

    /// Sign: −1, 0 or 1.
    public var sign: Int {
        let size = value.pointee._mp_num._mp_size
        return size > 0 ? 1 : (size < 0 ? -1 : 0)
    }

    public var isZero: Bool { sign == 0 }

    /// The Double nearest to q, ties to even (IEEE 754's round to nearest): ±∞ from
    /// 2¹⁰²⁴·(1 − 2⁻⁵⁴) up, and the subnormals rounded once, at their own spacing 2⁻¹⁰⁷⁴. For
    /// display and screening; a certified end takes `doubleValue(rounding:)` toward its side.
    /// (GMP's mpq_get_d truncates toward 0, so an exact value shown had sat an ulp below its
    /// nearest Double.)
    public var doubleValue: Double { doubleValue(rounding: .toNearestOrEven) }

    /// The greatest Double at most q, and the least at least q: a certified end shown as a Double.
    public var doubleBelow: Double { doubleValue(rounding: .down) }
    public var doubleAbove: Double { doubleValue(rounding: .up) }

    /// q rounded to a Double by `rule` (`.toNearestOrEven`, `.down`, `.up` or `.towardZero`; the
    /// others are refused), as IEEE 754 rounds: `.down` of a value above the greatest finite
    /// Double is that Double, `.up` of it ∞; `.up` of a positive value below the least subnormal
    /// is the least subnormal, `.down` of it 0.
    ///
    /// With e = ⌊log₂|q|⌋ and the ulp 2⁻ˢ, s = 52 − max(e, −1022), the integer m = ⌊|q|·2ˢ⌋ ≤ 2⁵³
    /// and its remainder come from one integer division; m moves up by one where the rule asks
    /// (the remainder doubled against the divisor for a tie), and m·2⁻ˢ is exact in binary64
    /// (or overflows to ∞).
    public func doubleValue(rounding rule: FloatingPointRoundingRule) -> Double {
        precondition([.toNearestOrEven, .down, .up, .towardZero].contains(rule), "Rational.doubleValue: rounding \(rule) is not offered")
        let s = sign
        guard s != 0 else { return 0 }
        let direction: FloatingPointSign = s < 0 ? .minus : .plus
        // Whether a magnitude strictly between two Doubles moves to the larger one.
        let away = rule == .up ? s > 0 : rule == .down ? s < 0 : false
        let z = IntegerScratch(count: 4)
        defer { z.release() }
        let (n, d, m, r) = (z[0], z[1], z[2], z[3])
        __gmpz_abs(n, &value.pointee._mp_num)
        __gmpz_set(d, &value.pointee._mp_den)
        // The bit lengths give ⌊log₂|q|⌋ or one more.
        var e = Int(__gmpz_sizeinbase(n, 2)) - Int(__gmpz_sizeinbase(d, 2))
        if e >= 0 { __gmpz_mul_2exp(m, d, mp_bitcnt_t(e)); if __gmpz_cmp(n, m) < 0 { e -= 1 } }
        else { __gmpz_mul_2exp(m, n, mp_bitcnt_t(-e)); if __gmpz_cmp(m, d) < 0 { e -= 1 } }
        // |q| ≥ 2¹⁰²⁴: ∞ to nearest or away, else the greatest finite. |q| < 2⁻¹⁰⁷⁶ (below a
        // quarter of the least subnormal): 0 to nearest or toward 0, else the least subnormal.
        if e >= 1024 {
            return Double(sign: direction, exponent: 0, significand: rule == .toNearestOrEven || away ? .infinity : .greatestFiniteMagnitude)
        }
        if e < -1076 { return Double(sign: direction, exponent: 0, significand: away ? .leastNonzeroMagnitude : 0) }
        let shift = 52 - Swift.max(e, -1022)
        if shift >= 0 { __gmpz_mul_2exp(n, n, mp_bitcnt_t(shift)) } else { __gmpz_mul_2exp(d, d, mp_bitcnt_t(-shift)) }
        __gmpz_tdiv_qr(m, r, n, d)
        let inexact = r.pointee._mp_size != 0
        if rule == .toNearestOrEven {
            __gmpz_mul_2exp(r, r, 1)
            let tie = __gmpz_cmp(r, d)
            if tie > 0 || (tie == 0 && __gmpz_tstbit(m, 0) == 1) { __gmpz_add_ui(m, m, 1) }
        } else if away && inexact {
            __gmpz_add_ui(m, m, 1)
        }
        return Double(sign: direction, exponent: -shift, significand: __gmpz_get_d(m))
    }

    /// "p/q" (or "p" for an integer), exact.
    public var exactString: String {
        guard let c = __gmpq_get_str(nil, 10, value) else { return "?" }
        defer { free(c) }
        return String(cString: c)
    }

    /// log₁₀|q| at any magnitude: numerator and denominator are each read as m·2ᵉ
    /// (`mpz_get_d_2exp`), so nothing overflows or underflows a Double. −∞ for 0.
    public var log10Magnitude: Double {
        guard !isZero else { return -.infinity }
        var numeratorExponent = 0, denominatorExponent = 0
        let n = __gmpz_get_d_2exp(&numeratorExponent, &value.pointee._mp_num)
        let d = __gmpz_get_d_2exp(&denominatorExponent, &value.pointee._mp_den)
        return log10(abs(n / d)) + Double(numeratorExponent - denominatorExponent) * Double.log10Of2
    }

    /// self·2^power, exactly.
    public func scaled(byPowerOfTwo power: Int) -> Rational {
        guard power != 0 else { return self }
        let out = Rational()
        if power > 0 { __gmpq_mul_2exp(out.value, value, mp_bitcnt_t(power)) }
        else { __gmpq_div_2exp(out.value, value, mp_bitcnt_t(-power)) }
        return out
    }

    /// Significant digits of the values `measure` shows in scientific notation (exact, rescaled
    /// and out-of-range sides), as many as its Double values show.
    public static let reportDigits = 6

    /// `scientificString` at `reportDigits`: how `measure` shows an exact value.
    public var reportString: String { scientificString(digits: Self.reportDigits) }

    /// `scientific(log10:)` at `reportDigits`: how `measure` shows a value known by its logarithm.
    /// `rounding` .down or .up rounds the shown digits outward (a certified end); else to nearest.
    public static func report(log10 l: Double, rounding: FloatingPointRoundingRule = .toNearestOrEven) -> String {
        scientific(log10: l, digits: reportDigits, rounding: rounding)
    }

    /// The value in scientific notation with `digits` significant digits (e.g.
    /// "4.47e+601") at any magnitude. For display only (~15 good digits).
    public func scientificString(digits: Int = 4) -> String {
        isZero ? "0" : (sign < 0 ? "-" : "") + Self.scientific(log10: log10Magnitude, digits: digits)
    }

    /// 10^l in scientific notation, for magnitudes beyond the Double range.
    /// Beyond 10^(±10¹⁵) the exponent itself is shown in scientific notation, e.g.
    /// "10^(4.343e+154)"; a NaN or infinite l is shown as such. `rounding` .down or .up shows
    /// digits at or below (above) 10^l, so that a certified lower (upper) end stays one (the
    /// shown end was 6 digits to nearest, and could lie on the wrong side by a factor 10^(10¹⁴⁴)
    /// where l is 10¹⁵⁰): the exponent's digits beyond 10^(±10¹⁵), the mantissa's below; to
    /// within the precision l itself carries (4 ulps of l: a mantissa within that of its digits is
    /// shown as them).
    public static func scientific(log10 l: Double, digits: Int = 4, rounding: FloatingPointRoundingRule = .toNearestOrEven) -> String {
        guard l.isFinite else { return l.isNaN ? "nan" : (l > 0 ? "inf" : "0") }
        let decimals = Swift.max(digits - 1, 0)
        let directed = rounding == .down || rounding == .up
        guard abs(l) < 1e15 else {
            return "10^(\(directedDecimal(l, style: "e", decimals: decimals, rounding: directed ? rounding : .toNearestOrEven, tolerance: 4 * l.ulp)))"
        }
        var exponent = Int(l.rounded(.down))
        var mantissa = pow(10, l - Double(exponent))
        guard directed else {
            if mantissa >= 10 - 0.5 * pow(10, Double(1 - digits)) { mantissa /= 10; exponent += 1 }
            return "\(String(format: "%.\(decimals)f", mantissa))e\(exponent >= 0 ? "+" : "-")\(abs(exponent))"
        }
        // 10^(l ± δ) = 10^l·(1 ± δ·ln 10): the mantissa's own uncertainty from l's.
        let tolerance = 4 * Swift.max(l.ulp, Double.ulpOfOne) * 2.302585092994046 * mantissa
        var text = directedDecimal(mantissa, style: "f", decimals: decimals, rounding: rounding, tolerance: tolerance)
        if let shown = Double(text), shown >= 10 { text = String(format: "%.\(decimals)f", 1.0); exponent += 1 }
        if let shown = Double(text), shown < 1 {
            text = directedDecimal(mantissa * 10, style: "f", decimals: decimals, rounding: rounding, tolerance: 10 * tolerance); exponent -= 1
        }
        return "\(text)e\(exponent >= 0 ? "+" : "-")\(abs(exponent))"
    }

    /// x printed with `decimals` decimals ("%.nf" or "%.ne"), rounded toward `rounding` (.down,
    /// .up) instead of to nearest: where the nearest lies on the wrong side of x by more than
    /// `tolerance`, one unit of the last place is taken off (added).
    static func directedDecimal(_ x: Double, style: Character, decimals: Int, rounding: FloatingPointRoundingRule,
                                tolerance: Double = 0) -> String {
        let format = "%.\(decimals)\(style)", text = String(format: format, x)
        guard rounding == .down || rounding == .up, let shown = Double(text),
              rounding == .down ? shown > x + tolerance : shown < x - tolerance else { return text }
        // The last place of x's own decimal exponent (the nearest text's may be a decade above:
        // 9.999996e150 shows as 1.00000e+151).
        let place = style == "e" && x != 0 ? Foundation.log10(abs(x)).rounded(.down) - Double(decimals) : -Double(decimals)
        let step = pow(10, place)
        return String(format: format, rounding == .down ? shown - step : shown + step)
    }

    /// Number of bits in numerator plus denominator: the cost driver of exact work.
    public var bitSize: Int {
        Int(__gmpz_sizeinbase(&value.pointee._mp_num, 2) + __gmpz_sizeinbase(&value.pointee._mp_den, 2))
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension Rational: CustomStringConvertible {
    public var description: String { exactString }
}
