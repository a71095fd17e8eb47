import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Numerics
import Plots
import Testing
import Theory
@testable import Tightness

@Suite("Tightness explorer")
struct TightnessTests {
    /// Central differences against the analytic gradient, relative to the gradient's size.
    func checkGradient(_ objective: some SearchObjective, seed: UInt64) throws {
        var g = SeededGenerator(seed: seed)
        for _ in 0..<3 {
            let x = objective.randomStart(using: &g)
            let (value, gradient) = try #require(objective.valueAndGradient(x))
            #expect(abs(value - objective.logRatio(x)) <= 1e-12 * max(1, abs(value)))
            let scale = gradient.map(abs).max()!
            for i in stride(from: 0, to: x.count, by: max(1, x.count / 25)) {
                let h = 1e-6 * max(1, abs(x[i]))
                var plus = x, minus = x
                plus[i] += h; minus[i] -= h
                let numeric = (objective.logRatio(plus) - objective.logRatio(minus)) / (2 * h)
                #expect(abs(numeric - gradient[i]) <= 1e-5 * max(scale, 1e-3), "parameter \(i): \(numeric) vs \(gradient[i])")
            }
        }
    }

    @Test("An interrupt (`stop`) ends the sweep, the gradient search (at its next start) and Nelder–Mead (at its next step)")
    func stopEndsEverySearch() throws {
        final class Countdown: @unchecked Sendable {
            let lock = NSLock(), limit: Int
            var asked = 0
            init(_ limit: Int) { self.limit = limit }
            func stop() -> Bool { lock.lock(); defer { lock.unlock() }; asked += 1; return asked > limit }
        }
        let objective = T3Objective(labels: 7, dimension: 3, inputs: 6)
        let statement = TightnessStatement.T3.statement(scale: 1, dimension: 3)!
        let size = CaseSize(labels: 7, dimension: 3, inputs: 6)
        var config = TightnessConfiguration()
        config.evaluationLimit = 5_000
        // Uninterrupted (a day's budget): every start, every evaluation, every sweep case.
        let whole = TightnessExplorer.optimise(objective, config: config, seed: 1, seconds: 86_400)
        #expect(whole.map(\.starts) == [config.gradient.starts, whole[1].starts] && whole[1].evaluations == 5_000)
        #expect(TightnessExplorer.sweep(.T3, statement, size: size, config: config, deadline: Deadline(seconds: 86_400)).count > 500)
        // Stopped from the start: nothing runs.
        config.stop = { true }
        let none = TightnessExplorer.optimise(objective, config: config, seed: 1, seconds: 86_400)
        #expect(none.map(\.starts) == [0, none[1].starts] && none.map(\.evaluations) == [0, none[1].evaluations] && none[1].evaluations <= 1, "\(none.map(\.evaluations))")
        #expect(TightnessExplorer.sweep(.T3, statement, size: size, config: config, deadline: Deadline(seconds: 86_400, stop: config.stop)).isEmpty)
        // Stopped after a few questions: the gradient search ends at its next start, Nelder–Mead at once.
        let countdown = Countdown(3)
        config.stop = { countdown.stop() }
        let cut = TightnessExplorer.optimise(objective, config: config, seed: 1, seconds: 86_400)
        #expect(cut[0].starts <= 3 && cut[0].starts >= 1 && cut[1].evaluations <= 1, "\(cut.map(\.starts)) \(cut.map(\.evaluations))")
    }

    @Test("T3 objective: value equals T3's own screen, gradient matches finite differences")
    func t3Objective() throws {
        let objective = T3Objective(labels: 7, dimension: 3, inputs: 6)
        var g = SeededGenerator(seed: 11)
        for _ in 0..<5 {
            let x = objective.randomStart(using: &g)
            let screened = try T3EmbeddingBound().screen(objective.pair(x)).ratio.log
            #expect(abs(objective.logRatio(x) - screened) <= 1e-9 * max(1, abs(screened)))
        }
        try checkGradient(objective, seed: 12)
    }

    @Test("T6 objective: every probability ≥ τ, value equals T6's screen at the floor, gradient matches",
          arguments: [T6KLBound.Form.global, .sharp])
    func t6Objective(form: T6KLBound.Form) throws {
        let objective = T6Objective(labels: 6, tau: 1e-3, form: form)
        var g = SeededGenerator(seed: 13)
        for _ in 0..<5 {
            let x = objective.randomStart(using: &g)
            let (p, q, _, _) = objective.distributions(x)
            #expect(p.min()! >= 1e-3 && q.min()! >= 1e-3)
            let pair = try objective.pair(x)
            let d = try pair.logitDistanceSquared(), kl = pair.klDivergence()
            let constant = form.isSharp ? 2 / 1e-3 : 1 / 1e-6
            #expect(abs(objective.logRatio(x) - (d / kl / constant).log) <= 1e-7)
        }
        try checkGradient(objective, seed: 14)
    }

    /// Searches stop by evaluation counts, not the clock: the budget is only a cap far
    /// above what they need, and each test checks that the count, not the cap, stopped them.
    static func counted(_ limit: Int) -> TightnessConfiguration {
        var config = TightnessConfiguration()
        config.evaluationLimit = limit
        config.budgetSeconds = 600
        return config
    }

    static func expectStoppedByCount(_ result: TightnessResult, limit: Int) {
        let nelderMead = result.searches.filter { $0.method == .nelderMead }
        #expect(!nelderMead.isEmpty)
        for s in nelderMead { #expect(s.evaluations == limit, "Nelder–Mead ran \(s.evaluations) of \(limit) evaluations") }
    }

    @Test("With its defaults the optimiser finds T3's equality case on its own: ratio ≥ 0.999 from random starts, certified")
    func t3Attained() throws {
        // The command's defaults (k = 20, d = 4, N = 8, seed 1, the gradient method's 12 × 600
        // steps) with 2 000 Nelder–Mead evaluations and a 200-case sweep (debug builds are slow).
        var config = Self.counted(2_000)
        config.sweepCases = 200
        let result = try TightnessExplorer.explore(.T3, config)
        Self.expectStoppedByCount(result, limit: 2_000)
        #expect(result.bestRatio >= 0.999 && result.bestRatio <= 1 + 1e-9, "\(result.bestRatio) \(result.certified) \(result.searches)")
        #expect(result.certified.outcome == .holds && result.certified.level != .double)
        #expect(result.searches.contains { $0.method == .gradient && $0.bestRatio >= 0.999 })
    }

    @Test("T11: the best non-vacuous ratio is 1, attained and certified exactly; planted at 0.999 it is a certified violation")
    func t11Attained() throws {
        var config = Self.counted(300)
        config.sweepCases = 160
        let result = try TightnessExplorer.explore(.T11, config)
        Self.expectStoppedByCount(result, limit: 300)
        #expect(result.bestRatio == 1, "\(result.bestRatio)")
        #expect(result.certified.outcome == .holds && result.certified.level == .exact)
        #expect(result.sweep.byGenerator.contains { $0.generator == "boundary" && $0.max == 1 })
        config.constantScale = 0.999
        let planted = try TightnessExplorer.explore(.T11, config)
        #expect(planted.certified.outcome == .violated && planted.certified.level == .exact)
    }

    @Test("T12: the ratio reaches 1 to 9 digits (the boundary generator's attaining students), certified; a floor 10⁻⁴ too high is a certified violation")
    func t12Attained() throws {
        var config = Self.counted(300)
        config.sweepCases = 160
        let result = try TightnessExplorer.explore(.T12, config)
        Self.expectStoppedByCount(result, limit: 300)
        #expect(result.bestRatio >= 1 - 1e-9 && result.bestRatio <= 1, "\(result.bestRatio)")
        #expect(result.certified.outcome == .holds && result.certified.level != .double)
        config.constantScale = 1 - 1e-4
        let planted = try TightnessExplorer.explore(.T12, config)
        #expect(planted.certified.outcome == .violated && planted.certified.level != .double)
    }

    @Test("A planted false constant (T3 halved) is reported as a certified violation")
    func plantedT3() throws {
        var config = Self.counted(5_000)
        config.labels = [8]; config.dimension = 3; config.constantScale = 0.5
        let result = try TightnessExplorer.explore(.T3, config)
        Self.expectStoppedByCount(result, limit: 5_000)
        #expect(result.certifiedViolation, "\(result.certified)")
        #expect(result.bestRatio > 1.9)
    }

    @Test("T6: the search stays below 2/τ and gets close to it near equal distributions")
    func t6Curve() throws {
        var config = Self.counted(5_000)
        config.labels = [20]; config.taus = [1e-3]
        let result = try TightnessExplorer.explore(.T6sharp, config)
        Self.expectStoppedByCount(result, limit: 5_000)
        let point = try #require(result.tauCurve?.first)
        #expect(point.timesTau <= 2 * (1 + 1e-12) && point.timesTau > 1.8, "\(point)")
        #expect(result.certified.outcome == .holds)
    }

    @Test("The T6 plot is well-formed SVG with the 1/τ² and 2/τ reference curves")
    func svg() throws {
        var config = Self.counted(2_000)
        config.labels = [5]; config.taus = [1e-2, 1e-4]
        let result = try TightnessExplorer.explore(.T6, config)
        let svg = TightnessReport.plot(result)
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(svg.contains("1/τ²") && svg.contains("2/τ"))
        #expect(svg.components(separatedBy: "class=\"curve\"").count - 1 >= 2)
    }

    @Test("Bad configurations are typed errors")
    func badConfiguration() {
        var config = TightnessConfiguration()
        config.dimension = 30
        #expect(throws: TightnessError.self) { try TightnessExplorer.explore(.T3, config) }
        config = TightnessConfiguration(); config.taus = [0.7]
        #expect(throws: TightnessError.self) { try TightnessExplorer.explore(.T6, config) }
        config = TightnessConfiguration(); config.labels = [20]; config.taus = [0.1]
        #expect(throws: TightnessError.self) { try TightnessExplorer.explore(.T6, config) }
    }
}
