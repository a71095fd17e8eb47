import Numerics
import Theory

/// T10's ratio over one identifiability class: for a fixed centred covariance Σ of the
/// first model's embeddings and A ∈ GL(d) (the parameter vector, row-major), the second
/// model is the orbit member with embeddings A f₁, and
///   CKA:        log(λ_min/‖Σ‖_F) − log CKA,  CKA = ‖ΣAᵀ‖_F² / (‖Σ‖_F ‖AΣAᵀ‖_F);
///   Procrustes: log((λ_min/tr Σ)^{1/2}) − log r,  r = ‖ΣAᵀ‖_* / (tr Σ · tr(AΣAᵀ))^{1/2}.
/// Gradients in A: ∂ log CKA = 2AΣ²/‖ΣAᵀ‖_F² − 2MAΣ/‖M‖_F² (M = AΣAᵀ) and, with
/// ΣAᵀ = U S Vᵀ, ∂ log r = VUᵀΣ/‖ΣAᵀ‖_* − AΣ/tr(AΣAᵀ) (Proofs/T10-blind-measures.md).
/// Both depend on the embeddings only through Σ (which is why one search over A covers
/// every embedding with that second moment).
struct T10Objective: AnalyticObjective {
    let measure: T10ClassInfimum.Measure
    let sigma: Matrix
    /// The proven bound for Σ, and its logarithm (the objective's constant).
    let bound: Double
    let logBound: Double
    let logScale: Double
    let sigmaSquared: Matrix
    let sigmaNorm: Double
    let sigmaTrace: Double

    init(_ measure: T10ClassInfimum.Measure, covariance sigma: Matrix, constantScale: Double) throws {
        self.measure = measure
        self.sigma = symmetrised(sigma)
        bound = try T10ClassInfimum(measure).bound(covariance: sigma)
        logBound = bound.log
        logScale = constantScale.log
        sigmaSquared = self.sigma.multiplied(by: self.sigma)
        sigmaNorm = self.sigma.frobeniusNormSquared.squareRoot()
        sigmaTrace = (0..<sigma.rows).reduce(0.0) { $0 + sigma[$1, $1] }
    }

    var dimension: Int { sigma.rows }
    var parameterCount: Int { dimension * dimension }

    func randomStart(using g: inout SeededGenerator) -> [Double] {
        (0..<parameterCount).map { _ in g.gaussian() }
    }

    func map(_ x: [Double]) -> Matrix { try! Matrix(rows: dimension, columns: dimension, storage: x) }

    func evaluate(_ x: [Double], gradient wanted: Bool) -> (value: Double, gradient: [Double]?)? {
        guard x.allSatisfy(\.isFinite), logBound.isFinite else { return nil }
        let a = map(x)
        let aSigma = a.multiplied(by: sigma)                        // AΣ; its transpose is ΣAᵀ
        switch measure {
        case .cka:
            let cross = aSigma.frobeniusNormSquared                  // ‖ΣAᵀ‖_F²
            let m = aSigma.multiplied(by: a, transposeOther: true)   // AΣAᵀ
            let mNorm = m.frobeniusNormSquared
            guard cross > 0, mNorm > 0 else { return nil }
            let logCKA = cross.log - 0.5 * mNorm.log - sigmaNorm.log
            let value = logBound - logCKA - logScale
            guard wanted else { return (value, nil) }
            let gradient = (2 / cross) * a.multiplied(by: sigmaSquared) - (2 / mNorm) * m.multiplied(by: aSigma)
            return (value, gradient.storage.map { -$0 })
        case .procrustes:
            let quadratic = (0..<dimension).reduce(0.0) { s, i in s + (0..<dimension).reduce(0.0) { $0 + aSigma[i, $1] * a[i, $1] } }
            guard quadratic > 0, let svd = try? SingularValueDecomposition(aSigma.transposed) else { return nil }
            let nuclear = svd.singularValues.reduce(0, +)
            guard nuclear > 0 else { return nil }
            let logR = nuclear.log - 0.5 * (sigmaTrace * quadratic).log
            let value = logBound - logR - logScale
            guard wanted else { return (value, nil) }
            let vut = svd.v.multiplied(by: svd.u, transposeOther: true)
            let gradient = (1 / nuclear) * vut.multiplied(by: sigma) - (1 / quadratic) * aSigma
            return (value, gradient.storage.map { -$0 })
        }
    }
}

/// One teacher of T10's search: its proven extremum, what the search found, and the
/// certificate of the best pair.
public struct T10Row: Codable, Sendable {
    /// "whitened" (Σ = I up to rounding) or "anisotropic" (λ_max/λ_min ≈ 100).
    public let teacher: String
    /// The proven infimum of CKA, or supremum of the Procrustes distance, over the class
    /// (Proofs/T10-blind-measures.md), from this teacher's Σ in doubles.
    public let provenExtremum: Double
    /// The same for whitened embeddings: 1/√d (CKA) or √(2 − 2/√d) (Procrustes).
    public let whitenedExtremum: Double
    /// The best pair's measure (CKA or Procrustes distance), from its certified enclosure.
    public let found: Double
    /// Certified lhs/rhs of the bound (1 = the infimum reached).
    public let ratio: Double
    public let outcome: Outcome
    public let level: VerdictLevel
    public let certificate: String?
    public let foundBy: SearchResult.Method
    /// σ_max/σ_min of the best map A (large: A Σ^{1/2} near rank one).
    public let mapCondition: Double
    public let evaluations: Int
    /// Largest relative difference between the found measure and the measure computed
    /// (by `SimilarityMeasures`, an independent code path) on re-drawn embeddings with
    /// the same Σ under the same A: the objective's dependence on Σ alone, checked.
    public let embeddingDependence: Double
    /// The best map A, row-major (the student is (F₁Aᵀ, G₁A⁻¹)).
    public let map: [Double]
}

/// `tightness --statement T10.cka | T10.procrustes`: the random sweep draws generator
/// teachers and maps with condition 1…10⁶; the searches run on two teachers (whitened,
/// anisotropic) over A ∈ GL(d); each search's best map is certified on the exact orbit
/// pair (`T10ClassInfimum.certify`).
enum T10Explorer {
    static func explore(_ which: TightnessStatement, _ measure: T10ClassInfimum.Measure, _ config: TightnessConfiguration,
                        progress: (String) -> Void) throws -> TightnessResult {
        let started = ContinuousClock.now
        let (k, d, n) = (config.labels[0], config.dimension, config.inputs)
        guard d >= 2 else {
            throw TightnessError.badConfiguration("T10 needs d ≥ 2 (for d = 1 every map is a scaling and CKA = 1)")
        }
        let statement = T10ClassInfimum(measure, constantScale: config.constantScale)
        let size = CaseSize(labels: k, dimension: d, inputs: n)
        progress("\(which.rawValue): random sweep (≤ \(config.sweepCases) cases)")
        let points = sweep(measure, size: size, config: config, deadline: Deadline(seconds: config.budgetSeconds * 0.2, stop: config.stop))
        let summary = TightnessExplorer.summarise(points)

        var rows: [T10Row] = [], searches: [SearchSummary] = [], missing: [String] = []
        // Whether an interrupt cut a search short (asked as each search ends).
        var cut = false
        var best: (row: T10Row, pair: ModelPair, verdict: Verdict)?
        let teachers = [("whitened", teacher(size, seed: config.seed, condition: 1)),
                        ("anisotropic", teacher(size, seed: config.seed, condition: 10))]
        // Each teacher's Σ formed once, enclosed and exactly (O(N d²); seconds at N = 10⁵),
        // before the searches share what is left of the budget, so certifying their best
        // maps costs O(d³) each and the budget holds at any N.
        progress("\(which.rawValue): the teachers' covariances (fast enclosure and exact)")
        let prepared = try teachers.map { try T10ClassInfimum.Moments($0.1).withExact() }
        for (index, (name, model)) in teachers.enumerated() {
            let sigma = covariance(model)
            let objective = try T10Objective(measure, covariance: sigma, constantScale: config.constantScale)
            // Each search gets at least a tenth of the budget, so a budget spent on the
            // covariances (large N on a loaded machine) still gives both rows, a little late.
            let seconds = max((config.budgetSeconds - TightnessExplorer.elapsed(since: started)) / Double(teachers.count - index),
                              config.budgetSeconds / 10)
            progress("\(which.rawValue): search over A ∈ GL(\(d)), \(name) teacher")
            let results = TightnessExplorer.optimise(objective, config: config, seed: SeededGenerator.derive(config.seed, UInt64(index)),
                                                     seconds: seconds)
            cut = cut || config.stop()
            searches += results.map {
                SearchSummary(method: $0.method, bestRatio: $0.value.exp, evaluations: $0.evaluations, starts: $0.starts, labels: k, tau: nil)
            }
            let certified = results.filter { $0.value.isFinite }.compactMap { r -> (SearchResult, Verdict)? in
                // Undecided is kept: the ratio is then 1 to within λ_min's bracket (the
                // infimum reached to the certificate's resolution), which the row says.
                guard let v = try? statement.certify(prepared[index], map: objective.map(r.best)),
                      v.outcome != .inapplicable, v.ratio.isFinite else { return nil }
                return (r, v)
            }
            guard let (result, verdict) = certified.max(by: { $0.1.ratio < $1.1.ratio }) else {
                missing.append("the \(name) teacher has no row: \(results.contains { $0.value.isFinite } ? "no searched map could be certified" : config.stop() ? "an interrupt came before its search ran" : "its search ran no evaluation before the budget ran out (raise --budget)")")
                continue
            }
            let a = objective.map(result.best)
            let row = makeRow(name, objective, statement: statement, model: model, map: a, verdict: verdict, result: result,
                                  evaluations: results.map(\.evaluations).reduce(0, +), seed: config.seed)
            rows.append(row)
            if best == nil || verdict.ratio > best!.verdict.ratio,
               let student = try? model.acted(by: a, shift: Array(repeating: 0, count: d)),
               let pair = try? ModelPair(model, student) {
                best = (row, pair, verdict)
            }
        }
        guard let best else {
            throw searches.contains { $0.evaluations > 0 } ? TightnessError.nothingApplicable(which.rawValue) : TightnessError.nothingSearched(which.rawValue)
        }
        let notes = missing + (cut ? [TightnessExplorer.interruptedNote] : []) + [
            "The second model of each certified pair is the first's orbit image (F₁Aᵀ, G₁A⁻¹): in the same identifiability class because A is proven nonsingular (a verified solve for the fast enclosure; an exact inverse, with d_logit² = 0 checked exactly, for the MPFR level); the saved \(which.rawValue)-second.npz is that image rounded to doubles (its logits equal the first model's to rounding). The map A is in the JSON (t10_rows[].map).",
            "The ratio depends on the embeddings only through Σ = Cov(f₁) (proven; checked by re-drawing embeddings with the same Σ: embedding_dependence), so the search over A covers every embedding with that second moment.",
        ]
        return TightnessResult(statement: which, form: statement.form, labels: k, dimension: d, inputs: n,
                               constantScale: config.constantScale, sweep: summary, sweepPoints: points, searches: searches,
                               bestRatio: best.verdict.ratio, foundBy: best.row.foundBy, certified: CertifiedCheck(best.verdict),
                               tauCurve: nil, vacuity: nil, t7Closeness: nil, classInfimum: rows, notes: notes,
                               seconds: TightnessExplorer.elapsed(since: started), pair: best.pair)
    }

    /// A generator teacher with embeddings centred and whitened (Σ = I up to rounding),
    /// then column j scaled by condition^{−j/(d−1)}.
    static func teacher(_ size: CaseSize, seed: UInt64, condition: Double) -> SoftmaxModel {
        let model = ModelGenerator.independent.pair(seed: seed, size: size).first
        let d = model.dimension
        let scales = (0..<d).map { j in (-Double(j) / Double(d - 1) * condition.log).exp }
        let f = whitenedEmbeddings(model).scalingColumns(by: scales)
        return try! SoftmaxModel(embeddings: f, unembeddings: model.unembeddings, weights: model.weights)
    }

    /// Σ = E[(f − E f)(f − E f)ᵀ] under the model's input weights, in doubles.
    static func covariance(_ model: SoftmaxModel) -> Matrix {
        let root = model.weights.map { $0.squareRoot() }
        let x = model.embeddings.subtractingFromRows(model.embeddings.weightedRowMean(model.weights)).scalingRows(by: root)
        return x.gram()
    }

    /// Generator teachers, each with a map A = Z·diag(10^{3u_j}) (Z Gaussian, u uniform in
    /// [−1, 1]), so cond(A) spans 1…10⁶; double precision.
    static func sweep(_ measure: T10ClassInfimum.Measure, size: CaseSize, config: TightnessConfiguration,
                      deadline: Deadline) -> [SweepPoint] {
        var points: [SweepPoint] = []
        let generators = ModelGenerator.allCases
        for i in 0..<config.sweepCases where !deadline.passed {
            let generator = generators[i % generators.count]
            let seed = SeededGenerator.derive(config.seed, UInt64(i))
            let model = generator.pair(seed: seed, size: size).first
            var g = SeededGenerator(seed: seed)
            let d = model.dimension
            let scales = (0..<d).map { _ in (3 * g.uniform(in: -1...1) * Double.ln10).exp }
            let a = g.gaussianMatrix(rows: d, columns: d).scalingColumns(by: scales)
            guard let objective = try? T10Objective(measure, covariance: covariance(model), constantScale: config.constantScale)
            else { continue }
            let value = objective.logRatio(a.storage)
            guard value.isFinite else { continue }
            points.append(SweepPoint(generator: generator.rawValue, seed: seed, parameter: condition(a), ratio: value.exp,
                                     plotted: value.exp))
        }
        return points
    }

    static func condition(_ a: Matrix) -> Double {
        guard let s = try? a.singularValues(), let top = s.first, let bottom = s.last, bottom > 0 else { return .infinity }
        return top / bottom
    }

    static func makeRow(_ name: String, _ objective: T10Objective, statement: T10ClassInfimum, model: SoftmaxModel,
                        map a: Matrix, verdict: Verdict, result: SearchResult, evaluations: Int, seed: UInt64) -> T10Row {
        let d = Double(model.dimension), bound = objective.bound, measure = objective.measure
        // rhs is scale × (CKA or ‖X̂ᵀŶ‖_*); the found measure is the unscaled one.
        let measured = verdict.rhs / statement.constantScale
        let (extremum, whitened, found): (Double, Double, Double) = switch measure {
        case .cka: (bound, 1 / d.squareRoot(), measured)
        case .procrustes: (procrustes(bound), procrustes(1 / d.squareRoot()), procrustes(measured))
        }
        return T10Row(teacher: name, provenExtremum: extremum, whitenedExtremum: whitened, found: found, ratio: verdict.ratio,
                      outcome: verdict.outcome, level: verdict.level, certificate: verdict.certificate, foundBy: result.method,
                      mapCondition: condition(a), evaluations: evaluations,
                      embeddingDependence: dependence(model, covariance: objective.sigma, map: a, measure: measure, value: measured, seed: seed),
                      map: a.storage)
    }

    /// The Procrustes distance for a nuclear-norm ratio r: (2 − 2r)^{1/2}.
    static func procrustes(_ r: Double) -> Double { max(0, 2 - 2 * r).squareRoot() }

    /// Eight embeddings with the model's Σ (min(N, 2 000) Gaussian draws centred, whitened, then given
    /// Σ^{1/2}), the measure of (f, A f) on each by `SimilarityMeasures`, and the largest
    /// relative difference from `value` (CKA, or the nuclear-norm ratio).
    static func dependence(_ model: SoftmaxModel, covariance sigma: Matrix, map a: Matrix, measure: T10ClassInfimum.Measure,
                           value: Double, seed: UInt64) -> Double {
        guard let eig = try? SymmetricEigendecomposition(sigma) else { return .nan }
        let root = eig.eigenvectors.scalingColumns(by: eig.eigenvalues.map { max($0, 0).squareRoot() })
            .multiplied(by: eig.eigenvectors, transposeOther: true)
        var g = SeededGenerator(seed: SeededGenerator.derive(seed, 1010))
        var worst = 0.0
        // Any number of inputs carries Σ exactly after whitening: at most 2 000, uniformly
        // weighted, so the check costs the same at N = 10⁵.
        let n = min(model.inputCount, 2000)
        let weights = [Double](repeating: 1 / Double(n), count: n)
        for _ in 0..<8 {
            let draw = g.gaussianMatrix(rows: n, columns: model.dimension)
            guard let whitened = try? SoftmaxModel(embeddings: draw, unembeddings: model.unembeddings, weights: weights)
            else { return .nan }
            let f = whitenedEmbeddings(whitened).multiplied(by: root)
            guard let m = try? SimilarityMeasures(f, f.multiplied(by: a, transposeOther: true), weights: weights),
                  let cka = m.linearCKA, let distance = m.procrustesDistance else { return .nan }
            let other = measure == .cka ? cka : 1 - distance * distance / 2
            worst = max(worst, abs(other - value) / value)
        }
        return worst
    }

    /// The model's embeddings centred and whitened (Σ = I up to rounding).
    static func whitenedEmbeddings(_ model: SoftmaxModel) -> Matrix {
        let centred = model.embeddings.subtractingFromRows(model.embeddings.weightedRowMean(model.weights))
        let eig = try! SymmetricEigendecomposition(symmetrised(covariance(model)))
        return centred.multiplied(by: eig.eigenvectors.scalingColumns(by: eig.eigenvalues.map { 1 / $0.squareRoot() }))
    }
}
