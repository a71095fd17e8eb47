import Foundation
import Numerics

/// The statements of THEORY.md §4, by their shared ids.
public enum StatementID: String, Codable, CaseIterable, Sendable, Comparable {
    case T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12
    public static func < (a: StatementID, b: StatementID) -> Bool { a.rawValue < b.rawValue }
}

/// How a verdict was reached. `fastEnclosure`, `enclosure` and `exact` are
/// certificates; a `double` verdict is a screen that decides what to certify.
public enum VerdictLevel: String, Codable, Sendable {
    /// Double precision: fast, not a proof.
    case double = "screen"
    /// Double-endpoint intervals with proven error bounds (`FastInterval`,
    /// Proofs/certificates.md): the first certificate tried, at close to the screen's speed.
    case fastEnclosure = "fast enclosure"
    /// Guaranteed MPFR enclosures with directed rounding.
    case enclosure = "enclosure (MPFR)"
    /// Exact GMP rationals (and exact inertia for σ_min and eigenvalue bounds).
    case exact
}

public enum Outcome: String, Codable, Sendable {
    case holds
    case violated
    /// The certified level could not separate the two sides at this precision.
    case undecided
    /// The statement's hypotheses fail (e.g. G̃₁ rank-deficient): nothing to check.
    case inapplicable
}

/// One evaluation of one inequality on one case: both sides, the constant used,
/// the outcome, and how it was reached.
public struct Verdict: Codable, Sendable, Equatable {
    public let id: StatementID
    /// Which inequality, in THEORY.md notation.
    public let form: String
    public let level: VerdictLevel
    public let outcome: Outcome
    /// Left side, as a Double (for an exact verdict, the nearest Double of the exact value).
    public let lhs: Double
    /// Right side, as a Double.
    public let rhs: Double
    /// The constant multiplying the right side's distance, e.g. 1/σ_min(G̃₁)².
    public let constant: Double
    /// What `constant` is, in words.
    public let constantName: String
    /// The exact left side ("p/q") when computed in rationals.
    public let exactLHS: String?
    /// What certified the outcome (the exact test run, or the enclosure).
    public let certificate: String?
    /// log₁₀ of each side from its exact or enclosed value, set by certification, so a
    /// side beyond the Double range (lhs or rhs ±∞ or 0) is still shown and compared.
    public let lhsLog10: Double?
    public let rhsLog10: Double?

    public init(id: StatementID, form: String, level: VerdictLevel, outcome: Outcome, lhs: Double,
                rhs: Double, constant: Double, constantName: String, exactLHS: String? = nil,
                certificate: String? = nil, lhsLog10: Double? = nil, rhsLog10: Double? = nil) {
        self.id = id; self.form = form; self.level = level; self.outcome = outcome
        self.lhs = lhs; self.rhs = rhs; self.constant = constant; self.constantName = constantName
        self.exactLHS = exactLHS; self.certificate = certificate
        self.lhsLog10 = lhsLog10; self.rhsLog10 = rhsLog10
    }

    /// Whether a side's Double cannot stand for it: not finite, 0 where its exact value is not,
    /// or subnormal (its last digits lost: a ratio of two subnormal sides was 0.3436 for 0.3446).
    package static func outOfRange(_ x: Double, _ log10: Double?) -> Bool {
        guard let log10, log10.isFinite else { return false }
        // The largest Double where the value lies beyond it (a certified lower end rounded down
        // from 10⁶¹⁷ showed as 1.7977e+308 beside a left side 5.78e+616).
        return !x.isFinite || (x == 0 && log10 > -Double.infinity) || x.isSubnormal
            || (x.magnitude == .greatestFiniteMagnitude && log10 > 308.2547155599167 + 1e-9)
    }

    /// lhs / rhs (0 when both are 0, +∞ when only rhs is); from the log₁₀ magnitudes when
    /// a side is beyond the Double range or subnormal (`outOfRange`).
    public var ratio: Double {
        if Self.outOfRange(lhs, lhsLog10) || Self.outOfRange(rhs, rhsLog10), let a = lhsLog10, let b = rhsLog10,
           a.isFinite, b.isFinite {
            return ((a - b) * Double.ln10).exp
        }
        if rhs == 0 { return lhs == 0 ? 0 : .infinity }
        return lhs / rhs
    }

    /// Whether the outcome is a proof (exact or an enclosure, and decided).
    public var isCertified: Bool {
        level != .double && (outcome == .holds || outcome == .violated)
    }

    /// A double verdict that is violated, or holds within a relative margin of
    /// 1e−9, must be certified before it is reported (a right side of +∞ against a
    /// finite left side is not a near-tie).
    public var needsCertification: Bool {
        guard level == .double else { return false }
        switch outcome {
        case .violated: return true
        // A right side beyond the Double range against a finite left side is a clear
        // margin (rhs − lhs > 1e−9·rhs would compare ∞ with ∞).
        case .holds: return !(rhs - lhs > 1e-9 * abs(rhs)) && !(rhs == .infinity && lhs.isFinite)
        case .undecided, .inapplicable: return false
        }
    }

    /// This screened verdict as `undecided`: what a screen that cannot tell its
    /// sides apart (or sees them cross) may say without a certificate.
    public var notDecidedByScreen: Verdict {
        Verdict(id: id, form: form, level: level, outcome: .undecided, lhs: lhs, rhs: rhs, constant: constant,
                constantName: constantName, exactLHS: exactLHS, certificate: "not decided by the double-precision screen",
                lhsLog10: lhsLog10, rhsLog10: rhsLog10)
    }

    public static func inapplicable(_ id: StatementID, _ form: String, level: VerdictLevel, _ reason: String) -> Verdict {
        withoutSides(id, form, level: level, .inapplicable, reason)
    }

    /// Not decided, with no sides to show (the screen could not form one: `ModelError.undetermined`).
    public static func undecided(_ id: StatementID, _ form: String, level: VerdictLevel, _ reason: String) -> Verdict {
        withoutSides(id, form, level: level, .undecided, reason)
    }

    static func withoutSides(_ id: StatementID, _ form: String, level: VerdictLevel, _ outcome: Outcome, _ reason: String) -> Verdict {
        Verdict(id: id, form: form, level: level, outcome: outcome, lhs: .nan, rhs: .nan,
                constant: .nan, constantName: "", certificate: reason)
    }
}

/// A statement checked on a pair of models: a fast screen, a certified
/// evaluation, and `check`, which screens and certifies when the screen says
/// "violated" or comes within 1e−9 relative.
public protocol PairStatement: Sendable {
    var id: StatementID { get }
    /// The inequality, in THEORY.md notation.
    var form: String { get }
    func screen(_ pair: ModelPair) throws -> Verdict
    func certify(_ pair: ModelPair) throws -> Verdict
    /// The fast certificate (`FastInterval`): a certified verdict, or nil when its
    /// enclosures cannot decide (then `certify` does).
    func fastCertify(_ pair: ModelPair) throws -> Verdict?
    /// Why the hypotheses fail on this pair (an inapplicable verdict), or nil when they
    /// hold: what `decide` asks before certifying.
    func inapplicability(_ pair: ModelPair) throws -> Verdict?
}

extension PairStatement {
    /// The screen, certified only where it sees a violation or a near-miss
    /// (`verify --certify screen`).
    public func check(_ pair: ModelPair) throws -> Verdict {
        let v = try screen(pair)
        return v.needsCertification ? try certify(pair) : v
    }

    /// No fast path: every verdict goes to `certify`.
    public func fastCertify(_ pair: ModelPair) throws -> Verdict? { nil }

    /// Every verdict certified: the screen decides only whether the hypotheses hold;
    /// the fast enclosure decides where it can, and `certify` (exact or MPFR) where it
    /// cannot (`verify`'s default).
    public func decide(_ pair: ModelPair) throws -> Verdict {
        if let inapplicable = try inapplicability(pair) { return inapplicable }
        return try fastCertify(pair) ?? certify(pair)
    }

    /// By default the screen answers it (its Double values unused where a certificate
    /// decides); a statement whose hypotheses need no screen answers more cheaply.
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? { try screenedInapplicability(pair) }

    /// The screen's verdict where it finds the hypotheses failing, else nil: the default
    /// `inapplicability`, and the fallback of those that first try a cheaper or certified answer.
    public func screenedInapplicability(_ pair: ModelPair) throws -> Verdict? {
        let screened = try screen(pair)
        return screened.outcome == .inapplicable ? screened : nil
    }
}

extension Verdict {
    /// A fast-enclosure verdict from enclosures of both sides, or nil when they overlap
    /// (the caller escalates). `lhs`/`rhs` show the sides' conservative ends: the upper
    /// end of the left side and the lower end of the right for "holds", the reverse for
    /// "violated".
    /// `rhsLog10`: for a right side whose enclosure's lower end saturated near the largest
    /// Double (it overflows), the log₁₀ of a lower bound on it, from an enclosure of its
    /// logarithm; a "holds" shows the right side from it (rather than as 1.8e308) when it
    /// exceeds the Double lower end tenfold.
    public static func fast(_ id: StatementID, _ form: String, lhs: FastInterval, rhs: FastInterval,
                            constant: Double, constantName: String, note: String = "", rhsLog10: Double? = nil) -> Verdict? {
        let outcome: Outcome
        if lhs.isCertainlyAtMost(rhs) { outcome = .holds } else if rhs.isCertainlyBelow(lhs) { outcome = .violated } else { return nil }
        let holds = outcome == .holds
        let beyond = holds && rhsLog10.map { $0.isFinite && $0 > log10(rhs.lo) + 1 } == true
        return Verdict(id: id, form: form, level: .fastEnclosure, outcome: outcome, lhs: holds ? lhs.hi : lhs.lo,
                       rhs: beyond ? .infinity : holds ? rhs.lo : rhs.hi, constant: constant, constantName: constantName,
                       certificate: "fast enclosure: left side ∈ \(lhs), right side ∈ \(rhs)"
                           + (beyond ? ", log₁₀ of the right side ≥ \(rhsLog10!)" : "") + note,
                       lhsLog10: beyond && lhs.hi > 0 ? log10(lhs.hi) : nil, rhsLog10: beyond ? rhsLog10 : nil)
    }
}
