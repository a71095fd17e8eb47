import Numerics

/// What one search found.
public struct SearchResult: Sendable {
    public enum Method: String, Codable, Sendable {
        case gradient = "gradient ascent (Adam, analytic gradient)"
        case nelderMead = "Nelder–Mead (derivative-free)"
        case sweep = "random sweep"
    }
    public let method: Method
    public var best: [Double]
    public var value: Double
    public var evaluations: Int
    public var starts: Int

    init(method: Method, dimension: Int) {
        self.method = method; best = Array(repeating: .nan, count: dimension); value = -.infinity
        evaluations = 0; starts = 0
    }

    mutating func offer(_ x: [Double], _ v: Double) {
        if v > value { value = v; best = x }
    }
}

/// A wall-clock limit shared by the searches; passed early once `stop` answers true (an interrupt).
public struct Deadline: Sendable {
    let end: ContinuousClock.Instant
    let stop: @Sendable () -> Bool
    public init(seconds: Double, stop: @escaping @Sendable () -> Bool = { false }) {
        end = .now + .milliseconds(Int64(max(0, seconds) * 1000))
        self.stop = stop
    }
    public var passed: Bool { ContinuousClock.now >= end || stop() }
}

/// Multi-start gradient ascent with Adam steps on an objective's analytic gradient.
/// Each start runs `iterations` steps with a step size decaying as 1/(1 + t/200);
/// the best point over all steps of all starts is kept.
public struct GradientAscent: Sendable {
    public var starts: Int
    public var iterations: Int
    public var learningRate: Double

    public init(starts: Int = 12, iterations: Int = 600, learningRate: Double = 0.05) {
        self.starts = starts; self.iterations = iterations; self.learningRate = learningRate
    }

    public func maximise(_ objective: some SearchObjective, seed: UInt64, deadline: Deadline) -> SearchResult {
        var result = SearchResult(method: .gradient, dimension: objective.parameterCount)
        var g = SeededGenerator(seed: seed)
        for _ in 0..<starts where !deadline.passed {
            var x = objective.randomStart(using: &g)
            result.starts += 1
            var m = Array(repeating: 0.0, count: x.count), s = m
            let (b1, b2) = (0.9, 0.999)
            for t in 1...iterations {
                guard let (value, grad) = objective.valueAndGradient(x) else { return result }
                result.evaluations += 1
                result.offer(x, value)
                guard value.isFinite, grad.allSatisfy(\.isFinite) else { break }
                let rate = learningRate / (1 + Double(t) / 200)
                let c1 = 1 - power(b1, t), c2 = 1 - power(b2, t)
                for i in x.indices {
                    m[i] = b1 * m[i] + (1 - b1) * grad[i]
                    s[i] = b2 * s[i] + (1 - b2) * grad[i] * grad[i]
                    x[i] += rate * (m[i] / c1) / ((s[i] / c2).squareRoot() + 1e-12)
                }
                if t % 50 == 0 && deadline.passed { break }
            }
            let final = objective.logRatio(x)
            result.evaluations += 1
            result.offer(x, final)
        }
        return result
    }
}

func power(_ base: Double, _ n: Int) -> Double { (Double(n) * base.log).exp }

/// Nelder–Mead with the dimension-adapted coefficients of Gao and Han (2012)
/// (reflection 1, expansion 1 + 2/n, contraction 0.75 − 1/(2n), shrink 1 − 1/n),
/// restarted from the best vertex with a fresh simplex when the simplex collapses,
/// and from new random starts while time remains.
public struct NelderMead: Sendable {
    /// The most parameters searched: the simplex holds (P+1)·P doubles (134 MB here).
    public static let parameterLimit = 4096
    public var maxEvaluationsPerStart: Int
    public var initialStep: Double

    public init(maxEvaluationsPerStart: Int = 20_000, initialStep: Double = 0.5) {
        self.maxEvaluationsPerStart = maxEvaluationsPerStart; self.initialStep = initialStep
    }

    /// Restarts until the deadline, `maxStarts`, or `evaluationLimit` evaluations in all.
    public func maximise(_ objective: some SearchObjective, seed: UInt64, deadline: Deadline,
                         maxStarts: Int = .max, evaluationLimit: Int? = nil) -> SearchResult {
        var result = SearchResult(method: .nelderMead, dimension: objective.parameterCount)
        var g = SeededGenerator(seed: seed)
        let limit = evaluationLimit ?? .max
        while result.starts < maxStarts && result.evaluations < limit && !deadline.passed {
            result.starts += 1
            var x = objective.randomStart(using: &g)
            var budget = min(maxEvaluationsPerStart, limit - result.evaluations)
            var step = initialStep
            // Up to three restarts from the best vertex, each with a smaller simplex.
            for _ in 0..<4 where budget > 0 && !deadline.passed {
                let (point, value, used) = run(objective, from: x, step: step, budget: budget, deadline: deadline)
                result.evaluations += used
                budget -= used
                result.offer(point, value)
                x = point
                step *= 0.3
            }
        }
        return result
    }

    /// One simplex run, minimising −logRatio (−∞ maps to +∞).
    func run(_ objective: some SearchObjective, from x0: [Double], step: Double, budget: Int,
             deadline: Deadline) -> (point: [Double], value: Double, evaluations: Int) {
        let n = x0.count
        let alpha = 1.0, gamma = 1 + 2 / Double(n), rho = 0.75 - 1 / (2 * Double(n)), sigma = 1 - 1 / Double(n)
        var evaluations = 0
        func f(_ x: [Double]) -> Double {
            // Never past the budget or the deadline: a step's later evaluations count as worst points.
            guard evaluations < budget, !deadline.passed else { return .infinity }
            evaluations += 1
            let v = objective.logRatio(x)
            return v.isNaN ? .infinity : -v
        }
        var simplex = [x0] + (0..<n).map { i -> [Double] in
            var v = x0
            v[i] += step * max(1, abs(v[i]))
            return v
        }
        var values = simplex.map(f)
        var iterations = 0
        while evaluations < budget && !deadline.passed {
            iterations += 1
            let order = values.indices.sorted { values[$0] < values[$1] }
            simplex = order.map { simplex[$0] }
            values = order.map { values[$0] }
            let spread = abs(values[n] - values[0])
            if spread <= 1e-12 * max(1, abs(values[0])) || (iterations % 32 == 0 && deadline.passed) { break }
            var centroid = Array(repeating: 0.0, count: n)
            for v in simplex[0..<n] { for j in 0..<n { centroid[j] += v[j] / Double(n) } }
            func toward(_ t: Double) -> [Double] { (0..<n).map { centroid[$0] + t * (simplex[n][$0] - centroid[$0]) } }
            let reflected = toward(-alpha), fr = f(reflected)
            if fr < values[0] {
                let expanded = toward(-alpha * gamma), fe = f(expanded)
                (simplex[n], values[n]) = fe < fr ? (expanded, fe) : (reflected, fr)
            } else if fr < values[n - 1] {
                (simplex[n], values[n]) = (reflected, fr)
            } else {
                let outside = fr < values[n]
                let contracted = toward(outside ? -alpha * rho : rho), fc = f(contracted)
                if fc < (outside ? fr : values[n]) {
                    (simplex[n], values[n]) = (contracted, fc)
                } else {
                    for i in 1...n {
                        simplex[i] = (0..<n).map { simplex[0][$0] + sigma * (simplex[i][$0] - simplex[0][$0]) }
                        values[i] = f(simplex[i])
                    }
                }
            }
        }
        let best = values.indices.min { values[$0] < values[$1] }!
        return (simplex[best], -values[best], evaluations)
    }
}
