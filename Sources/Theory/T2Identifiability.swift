import Numerics

/// T2: equal conditionals + diversity ⇒ same orbit; A₁₂ = G̃₁⁺G̃₂ recovers the map
/// exactly (F₁ = F₂A₁₂ᵀ, G̃₂ = G̃₁A₁₂ … up to the orbit), every valid pivot pair gives
/// the same A, and d_rep = 0. Proof: Proofs/T2-identifiability.md.
///
/// The certified check is exact: it needs d_logit² = 0 exactly (otherwise the
/// statement does not apply) and decides diversity exactly (FᵀWF and G̃ᵀG̃ positive
/// definite), then checks every conclusion with rational equality. The double
/// screen accepts relative agreement to `tolerance`.
public struct T2Identifiability: PairStatement {
    public let id = StatementID.T2
    public let form = "equal conditionals + diversity ⇒ F₁ = F₂A₁₂ᵀ, A_{p,S} = A₁₂ ∀(p,S), d_rep = 0"
    public let tolerance: Double
    /// At most this many (p, S) pairs are compared exactly. Once G̃₂ = G̃₁A₁₂ holds exactly,
    /// L₂ = L₁A₁₂ for every pair (differences of rows of both sides), so A_{p,S} = A₁₂ wherever
    /// L₁ is nonsingular: the comparisons confirm the pivot maps as computed, and 25 of them
    /// (5 pivots × 5 subsets) do that at an eighth of the 200 exact solves per orbit pair that
    /// made T2 8 % of `verify`'s time.
    public let pivotLimit: Int

    public init(tolerance: Double = 1e-9, pivotLimit: Int = 25) {
        self.tolerance = tolerance
        self.pivotLimit = pivotLimit
    }

    public func screen(_ pair: ModelPair) throws -> Verdict {
        guard pair.first.dimension == pair.second.dimension else {
            return .inapplicable(id, form, level: .double, "d₁ ≠ d₂")
        }
        // Equal conditionals first: the cheap test, and the one most pairs fail.
        let scale = pair.centredLogits(ofFirst: true).scalingRows(by: pair.first.sqrtWeights).frobeniusNormSquared
        guard try pair.logitDistanceSquared() <= tolerance * tolerance * scale else {
            return .inapplicable(id, form, level: .double, "conditionals differ")
        }
        guard try pair.firstDiversity().holds, try pair.secondDiversity().holds else {
            return .inapplicable(id, form, level: .double, "diversity fails")
        }
        let lhs = try pair.scaleFreeRepresentationDissimilarity()
        return Verdict(id: id, form: form, level: .double, outcome: lhs <= tolerance ? .holds : .violated,
                       lhs: lhs, rhs: tolerance, constant: tolerance, constantName: "relative tolerance")
    }

    /// Unequal conditionals first from the fast enclosure of d_logit² (the pair's other
    /// certificates form it anyway; its lower end above 0 proves them unequal, a certified
    /// "inapplicable"); elsewhere the screen answers, its Double d_logit² within `tolerance`.
    /// Most pairs are not orbit pairs, and so no longer need the Double logit pass. Where
    /// d_logit² is exactly 0 (exact orbit pairs) the conditionals are equal, and `certify`
    /// decides diversity exactly: no screen.
    public func inapplicability(_ pair: ModelPair) throws -> Verdict? {
        if pair.first.dimension == pair.second.dimension {
            if let d = pair.fastLogitDistanceSquared(), d.lo > 0 {
                return .inapplicable(id, form, level: .fastEnclosure, "conditionals differ: d_logit² ∈ \(d), above 0 (fast enclosure)")
            }
            if pair.logitDistanceIsExactlyZero { return nil }
        }
        return try screenedInapplicability(pair)
    }

    public func certify(_ pair: ModelPair) throws -> Verdict {
        let exact = try ExactModelPair(pair)
        guard pair.first.dimension == pair.second.dimension else {
            return .inapplicable(id, form, level: .exact, "d₁ ≠ d₂")
        }
        // On integers from the Doubles, once per pair (shared with T1, T6 and T11).
        guard pair.exactLogitDistanceSquared().isZero else {
            return .inapplicable(id, form, level: .exact, "d_logit² ≠ 0 exactly: the conditionals differ")
        }
        for model in [exact.first, exact.second] {
            guard try model.embeddingMomentIsPositiveDefinite(),
                  try model.centredUnembeddingsHaveFullRank() else {
                return .inapplicable(id, form, level: .exact, "diversity fails exactly")
            }
        }
        let a = try exact.identifiabilityMap()
        var failures: [String] = []
        let dRep = exact.representationResidual(map: a)
        if !dRep.isZero { failures.append("d_rep² = \(dRep) ≠ 0") }
        if try exact.second.centredUnembeddings != exact.first.centredUnembeddings.multiplied(by: a) {
            failures.append("G̃₂ ≠ G̃₁A₁₂")
        }
        let (pairs, _) = try ModelPair.pivotSubsets(.automatic(limit: pivotLimit, pivots: 5, subsetsPerPivot: pivotLimit / 5),
                                                    labelCount: pair.first.labelCount, dimension: pair.first.dimension)
        var compared = 0
        let residualRows = try exact.pivotResidualRows(a)
        for ps in pairs {
            let nonsingular = T5PivotBound.fastPivotMatrices(pair, ps).0.isProvenNonsingular
            guard let same = try exact.pivotMap(ps, equals: a, residualRows: nonsingular ? residualRows : nil) else { continue }
            compared += 1
            if !same { failures.append("A_{p,S} ≠ A₁₂ at p = \(ps.pivot), S = \(ps.subset)"); break }
        }
        return Verdict(id: id, form: form, level: .exact, outcome: failures.isEmpty ? .holds : .violated,
                       lhs: dRep.doubleValue, rhs: 0, constant: 0, constantName: "exact equality",
                       exactLHS: dRep.exactString,
                       certificate: failures.isEmpty
                           ? "d_logit² = 0, diversity, d_rep² = 0, G̃₂ = G̃₁A₁₂ and \(compared) pivot maps equal A₁₂, all exactly"
                           : failures.joined(separator: "; "))
    }
}

extension ExactModelPair {
    /// R = G₁A − G₂, exactly: for every (p, S), L₁A − L₂ = R[S] − 1R[p]ᵀ.
    func pivotResidualRows(_ a: RationalMatrix) throws -> RationalMatrix {
        try first.unembeddings.multiplied(by: a) - second.unembeddings
    }

    /// Whether A_{p,S} = L₁⁻¹L₂ equals `a`, exactly; nil when L₁ is singular. Once L₁ is
    /// nonsingular, A_{p,S} = a iff L₁a = L₂, iff rows S of R = G₁a − G₂ equal row p: with
    /// `residualRows` (R, given where L₁ is proven nonsingular, by a fast enclosure) that
    /// comparison decides, else the exact solve.
    func pivotMap(_ ps: PivotSubset, equals a: RationalMatrix, residualRows r: RationalMatrix?) throws -> Bool? {
        guard let r else { return (try? pivotMap(ps)).map { $0 == a } }
        return ps.subset.allSatisfy { s in (0..<r.columns).allSatisfy { r[s, $0] == r[ps.pivot, $0] } }
    }

    /// Whether the two models are, exactly, in one identifiability class: equal d,
    /// both diverse, and d_logit² = 0.
    public func inSameClass() throws -> Bool {
        guard first.dimension == second.dimension, logitDistanceSquared.isZero else { return false }
        for model in [first, second] {
            guard try model.embeddingMomentIsPositiveDefinite(),
                  try model.centredUnembeddingsHaveFullRank() else { return false }
        }
        return true
    }
}
