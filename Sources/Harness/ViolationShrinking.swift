import Foundation
import Theory

extension Verifier {
    /// For each check with a certified violation, shrinks its first violating case
    /// and writes a replay file into `directory`. Returns the paths written.
    public func saveShrunkViolations(of report: VerificationReport, into directory: URL) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var written: [String] = []
        for summary in report.theorems where summary.violations > 0 {
            guard let origin = summary.firstViolation, let check = check(named: summary.name) else { continue }
            let shrunk = Shrinker(check: check).shrink(origin.pair)
            let url = directory.appendingPathComponent("violation-\(summary.name).json")
            try ReplayFile(check: summary.name, plantedScales: plantedScales, origin: origin, pair: shrunk,
                           path: url.path).write(to: url)
            written.append(url.path)
        }
        return written
    }

    /// Re-evaluates a replay file's check on its pair.
    public func replay(_ file: ReplayFile) throws -> Verdict {
        guard let check = check(named: file.check) else { throw HarnessError.unknownCheck(file.check) }
        let pair = try file.pair()
        if let certify = check.certifyPair { return try certify(pair) }
        guard let origin = file.origin else { throw HarnessError.badReplayFile("\(file.check) needs its generated case") }
        return try check.evaluate(origin, pair)
    }
}
