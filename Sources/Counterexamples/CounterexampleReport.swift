import Foundation
import ModelFiles
import Numerics
import Theory

/// One claim a counterexample makes, and whether its numbers support it.
public struct Claim: Codable, Sendable {
    public let statement: String
    public let holds: Bool
    /// True when the claim rests only on certified numbers (exact or MPFR ends).
    public let certified: Bool
}

/// A counterexample family's result: the construction, certified numbers per pair
/// (one pair, or a sweep over a parameter), and the claims checked against them.
public struct CounterexampleReport: Codable, Sendable {
    public let family: String
    public let theorem: String
    public let summary: String
    public let parameters: [String: String]
    public let conceptName: String
    public let command: String
    /// The sweep's parameter name, when `pairs` is a sweep.
    public let sweepParameter: String?
    public let pairs: [CertifiedSummary]
    public let claims: [Claim]
    /// CE4's search: objective, frontier, effort, theory bounds, reference point.
    public let search: CE4SearchReport?

    enum CodingKeys: String, CodingKey {
        case family, theorem, summary, parameters, command, pairs, claims, search
        case conceptName = "concept", sweepParameter = "sweep_parameter"
    }

    /// The report for a construction (its last pair is the one exported), plus the
    /// sweep pairs before it when given.
    public init(_ construction: Construction, sweep: [(Double, Construction)] = [], sweepParameter: String? = nil,
                command: String) throws {
        family = construction.family
        summary = construction.summary
        parameters = construction.parameters
        conceptName = construction.conceptName
        self.command = command
        self.sweepParameter = sweepParameter
        search = nil
        var summaries = try sweep.map { try CertifiedSummary($0.1, parameter: $0.0) }
        let main = try CertifiedSummary(construction)
        summaries.append(main)
        pairs = summaries
        let epsilon = Double(construction.parameters["epsilon"] ?? "") ?? 1e-3
        switch construction.family {
        case "CE1":
            theorem = "T8"
            claims = [
                Claim(statement: "KL(A‖B) < 1e−3 and KL(B‖A) < 1e−3 (upper ends of MPFR enclosures)",
                      holds: main.klAB.upper < 1e-3 && main.klBA.upper < 1e-3, certified: true),
                Claim(statement: "scale-free d_rep(A←B) ≥ 0.3 (exact)", holds: main.dRepScaleFreeAB >= 0.3, certified: true),
                Claim(statement: "1 − m_CCA ≥ 0.1 (centred, double precision)", holds: 1 - main.mccaCentered >= 0.1, certified: false),
            ]
        case "CE2":
            theorem = "T8"
            claims = [
                Claim(statement: "KL(A‖B) ≤ 1e−3 and KL(B‖A) ≤ 1e−3 (upper ends of MPFR enclosures)",
                      holds: main.klAB.upper <= 1e-3 && main.klBA.upper <= 1e-3, certified: true),
                Claim(statement: "unembedding m_CCA ≤ 0.9 (centred, double precision)",
                      holds: main.unembeddingMccaCentered <= 0.9, certified: false),
            ]
        case "CE3":
            theorem = "T9"
            claims = [
                Claim(statement: "m_CCA = 1 on embeddings and unembeddings, to rounding (1 − m_CCA ≤ 1e−12)",
                      holds: [main.mccaCentered, main.mccaUncentered, main.unembeddingMccaCentered,
                              main.unembeddingMccaUncentered].allSatisfy { 1 - $0 <= 1e-12 }, certified: false),
                Claim(statement: "KL(A‖B) ≥ 1 and KL(B‖A) ≥ 1 (lower ends of MPFR enclosures)",
                      holds: main.klAB.lower >= 1 && main.klBA.lower >= 1, certified: true),
                Claim(statement: "d_logit² > 0 (exact)", holds: main.dLogitSquared.isPositive, certified: true),
            ]
        case "CE5":
            theorem = "T10"
            let d = Double(construction.pair.first.dimension)
            let target = 1 / d.squareRoot() + 0.05
            let infimum = (2 - 2 / d.squareRoot()).squareRoot()
            let exact = try construction.pair.exact()
            let diverse = try [exact.first, exact.second].allSatisfy { model in
                try model.embeddingMomentIsPositiveDefinite() && model.centredUnembeddingsHaveFullRank()
            }
            claims = [
                Claim(statement: "d_logit² = 0 exactly: identical conditionals (exact rationals)",
                      holds: main.dLogitSquared.rational == "0", certified: true),
                Claim(statement: "both models diverse: W^{1/2}F and G̃ of full column rank (exact inertia)", holds: diverse, certified: true),
                Claim(statement: "linear CKA ≤ 1/√d + 0.05 = \(String(format: "%.4f", target)) (upper end of the enclosure of √(exact CKA²))",
                      holds: (main.linearCKACertified?.upper ?? .infinity) <= target, certified: true),
                Claim(statement: "Procrustes distance ≥ √(2 − 2/√d) − 0.05 = \(String(format: "%.4f", infimum - 0.05)) (maximum √2; lower end of its enclosure)",
                      holds: (main.procrustesDistanceCertified?.lower ?? 0) >= infimum - 0.05, certified: true),
                Claim(statement: "m_CCA = 1 (certified enclosure contains 1 and lies above 1 − 1e−9)",
                      holds: (main.mccaCenteredCertified?.lower ?? 0) >= 1 - 1e-9, certified: true),
                Claim(statement: "the concept is read perfectly from both models (fitted probes, accuracy exact)",
                      holds: main.probeAccuracyTeacher == 1 && main.probeAccuracyStudent == 1, certified: true),
            ]
        default:
            theorem = "T8"
            claims = [
                Claim(statement: "KL(A‖B) ≤ ε and KL(B‖A) ≤ ε, ε = \(epsilon) (upper ends of MPFR enclosures)",
                      holds: main.klAB.upper <= epsilon && main.klBA.upper <= epsilon, certified: true),
            ]
        }
    }

    /// The report of CE4's search: one certified pair per ε (`pairs`, in the order
    /// the ε were given; the last is the exported one).
    public init(search result: CE4Frontier.Result, command: String) {
        let main = result.constructions.last!
        family = "CE4"
        theorem = "T8"
        summary = main.summary
        parameters = main.parameters
        conceptName = main.conceptName
        self.command = command
        sweepParameter = result.summaries.count > 1 ? "epsilon" : nil
        pairs = result.summaries
        search = result.report
        claims = Self.searchClaims(result.summaries, epsilons: result.summaries.map { $0.parameter! })
    }

    /// CE4's claims: for each ε, certified KL ≤ ε both ways; and each certified
    /// m_CCA enclosure contains the double value (a consistency check of the two routes).
    public static func searchClaims(_ summaries: [CertifiedSummary], epsilons: [Double]) -> [Claim] {
        var claims: [Claim] = []
        for (s, epsilon) in zip(summaries, epsilons) {
            claims.append(Claim(statement: "ε = \(epsilon): KL(A‖B) ≤ ε and KL(B‖A) ≤ ε (upper ends of MPFR enclosures)",
                                holds: s.klAB.upper <= epsilon && s.klBA.upper <= epsilon, certified: true))
            if let bracket = s.mccaCenteredCertified {
                claims.append(Claim(statement: "ε = \(epsilon): m_CCA ∈ [\(String(format: "%.6f", bracket.lower)), \(String(format: "%.6f", bracket.upper))], certified (exact inertia counts); the SVD value \(String(format: "%.6f", s.mccaCentered)) lies inside (to 1e−12)",
                                    holds: bracket.lower - 1e-12 <= s.mccaCentered && s.mccaCentered <= bracket.upper + 1e-12,
                                    certified: false))
            }
        }
        return claims
    }

    public var allClaimsHold: Bool { claims.allSatisfy(\.holds) }

    public func json() throws -> String { try ReportJSON.encode(self) }
}
