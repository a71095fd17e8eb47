import Theory

/// The summary of one check over a corpus (or a shard of it).
public struct CheckSummary: Codable, Sendable, Equatable {
    public let id: String
    public let name: String
    public let form: String
    public let conjecture: Bool
    /// Cases where the hypotheses held and a verdict was reached.
    public var cases: Int
    public var inapplicable: Int
    /// Cases whose verdict is certified (exact or an enclosure).
    public var certified: Int
    /// The certified cases by the level that decided them: fast enclosure, MPFR
    /// enclosure, exact (what escalated past the fast level, and how far).
    public var certifiedFast: Int
    public var certifiedMPFR: Int
    public var certifiedExact: Int
    /// Certified violations (for a conjecture: cases where the quantity exceeds).
    public var violations: Int
    public var undecided: Int
    /// Cases that raised an error (reported, never silently dropped).
    public var errors: Int
    /// The largest lhs/rhs over cases that were decided, and the case that gave it
    /// (ties go to the lowest case index, so shards merge to the single run).
    public var worstRatio: Double?
    public var worstCase: CaseDescriptor?
    /// The first violating case (lowest index) and its verdict.
    public var firstViolation: CaseDescriptor?
    public var firstViolationVerdict: Verdict?
    /// The first case no level decided (lowest index) and its verdict, whose certificate says
    /// why: so that a report's undecided count names a case to look at.
    public var firstUndecided: CaseDescriptor?
    public var firstUndecidedVerdict: Verdict?

    enum CodingKeys: String, CodingKey {
        case id, name, form, conjecture, cases, inapplicable, certified, violations, undecided, errors
        case certifiedFast = "certified_fast", certifiedMPFR = "certified_mpfr", certifiedExact = "certified_exact"
        case worstRatio = "worst_ratio", worstCase = "worst_case"
        case firstViolation = "first_violation", firstViolationVerdict = "first_violation_verdict"
        case firstUndecided = "first_undecided", firstUndecidedVerdict = "first_undecided_verdict"
    }

    /// Every key written, `null` where there is nothing (a check with 0 cases has no worst
    /// ratio: the key says so rather than being absent), but for the first undecided case's two
    /// keys, written only when there is one: a report written before they existed then keeps
    /// its digest, so shards of either kind merge.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id); try c.encode(name, forKey: .name); try c.encode(form, forKey: .form)
        try c.encode(conjecture, forKey: .conjecture); try c.encode(cases, forKey: .cases)
        try c.encode(inapplicable, forKey: .inapplicable); try c.encode(certified, forKey: .certified)
        try c.encode(certifiedFast, forKey: .certifiedFast); try c.encode(certifiedMPFR, forKey: .certifiedMPFR)
        try c.encode(certifiedExact, forKey: .certifiedExact); try c.encode(violations, forKey: .violations)
        try c.encode(undecided, forKey: .undecided); try c.encode(errors, forKey: .errors)
        try c.encode(worstRatio, forKey: .worstRatio); try c.encode(worstCase, forKey: .worstCase)
        try c.encode(firstViolation, forKey: .firstViolation); try c.encode(firstViolationVerdict, forKey: .firstViolationVerdict)
        try c.encodeIfPresent(firstUndecided, forKey: .firstUndecided)
        try c.encodeIfPresent(firstUndecidedVerdict, forKey: .firstUndecidedVerdict)
    }

    init(_ check: Check) {
        id = check.id.rawValue
        name = check.name
        form = check.form
        conjecture = check.isConjecture
        cases = 0; inapplicable = 0; certified = 0; violations = 0; undecided = 0; errors = 0
        certifiedFast = 0; certifiedMPFR = 0; certifiedExact = 0
    }

    mutating func record(_ verdict: Verdict, case descriptor: CaseDescriptor) {
        switch verdict.outcome {
        case .inapplicable: inapplicable += 1; return
        case .undecided:
            undecided += 1
            if Self.precedes(descriptor, firstUndecided) {
                firstUndecided = descriptor
                firstUndecidedVerdict = verdict
            }
        case .violated:
            if verdict.isCertified {
                violations += 1
                if Self.precedes(descriptor, firstViolation) {
                    firstViolation = descriptor
                    firstViolationVerdict = verdict
                }
            }
        case .holds: break
        }
        cases += 1
        if verdict.isCertified {
            certified += 1
            switch verdict.level {
            case .fastEnclosure: certifiedFast += 1
            case .enclosure: certifiedMPFR += 1
            case .exact: certifiedExact += 1
            case .double: break
            }
        }
        // Over decided cases only; a certified side is an interval whose midpoints can put a
        // "holds" a rounding above 1 (1.0000000000000009 beside 0 violations): the ratio is
        // clamped to what the verdict proved.
        guard verdict.outcome == .holds || verdict.outcome == .violated, !verdict.ratio.isNaN else { return }
        let ratio = verdict.outcome == .holds ? min(verdict.ratio, 1) : max(verdict.ratio, 1.0.nextUp)
        if let worst = worstRatio, let at = worstCase {
            if ratio > worst || (ratio == worst && descriptor.index < at.index) {
                worstRatio = ratio; worstCase = descriptor
            }
        } else {
            worstRatio = ratio; worstCase = descriptor
        }
    }

    mutating func recordError() { errors += 1 }

    /// Whether `c` comes before the first case kept so far (any does when none is): the first
    /// violation and the first undecided case are the lowest index, so shards merge exactly.
    static func precedes(_ c: CaseDescriptor, _ first: CaseDescriptor?) -> Bool {
        first.map { c.index < $0.index } ?? true
    }

    /// Combines the summaries of two disjoint parts of one corpus.
    mutating func merge(_ other: CheckSummary) {
        // A side that counts undecided cases without naming one (a report written before
        // `first_undecided` existed) leaves the first of the whole unknown.
        let unnamed = (undecided > 0 && firstUndecided == nil) || (other.undecided > 0 && other.firstUndecided == nil)
        cases += other.cases; inapplicable += other.inapplicable; certified += other.certified
        certifiedFast += other.certifiedFast; certifiedMPFR += other.certifiedMPFR; certifiedExact += other.certifiedExact
        violations += other.violations; undecided += other.undecided; errors += other.errors
        if let r = other.worstRatio, let c = other.worstCase {
            if worstRatio == nil || r > worstRatio! || (r == worstRatio! && c.index < worstCase!.index) {
                worstRatio = r; worstCase = c
            }
        }
        if let v = other.firstViolation, Self.precedes(v, firstViolation) {
            firstViolation = v
            firstViolationVerdict = other.firstViolationVerdict
        }
        if unnamed {
            (firstUndecided, firstUndecidedVerdict) = (nil, nil)
        } else if let u = other.firstUndecided, Self.precedes(u, firstUndecided) {
            firstUndecided = u
            firstUndecidedVerdict = other.firstUndecidedVerdict
        }
    }
}

/// The result of `verify` over a corpus or one shard of it.
public struct VerificationReport: Codable, Sendable, Equatable {
    public var theorems: [CheckSummary]
    public var conjectures: [CheckSummary]
    public let seed: UInt64
    public let corpus: CorpusSpec
    /// The shards this report covers, 0-based (`--shard 2/3` is [1]), e.g. [0, 1, 2] of 3
    /// (all for a single run); messages name them from 1, as `--shard` does.
    public var shards: [Int]
    public let shardCount: Int
    public var casesRun: Int
    /// Constant scales ≠ 1 (planted false statements), by statement id.
    public let plantedScales: [String: Double]
    /// Replay files written for shrunk violations.
    public var replayFiles: [String]
    /// The sizes the cases actually had (nil when no case ran).
    public var generatedSizes: GeneratedSizes?
    /// Shards stopped by an interrupt: each covers only its first cases
    /// (`casesRun` counts what ran).
    public var interrupted: [Int]
    /// Whether every verdict was certified (`--certify all`) or only the screen's
    /// violations and near-misses.
    public var certifyAll: Bool
    /// FNV-1a digest of the rest of the report, set when it is written as JSON.
    public var digest: String?

    enum CodingKeys: String, CodingKey {
        case theorems, conjectures, seed, corpus, shards, casesRun = "cases_run", replayFiles = "replay_files"
        case shardCount = "shard_count", plantedScales = "planted_scales", generatedSizes = "generated_sizes"
        case interrupted, digest, certifyAll = "certify_all"
    }

    /// Certified violations of theorems (conjecture findings excluded).
    public var violationCount: Int { theorems.reduce(0) { $0 + $1.violations } }

    public var isComplete: Bool { shards.count == shardCount }

    /// Combines shard reports of one corpus into the report a single run gives.
    /// Every input is checked first (`validate`); they must describe the same
    /// corpus, checks and planted constants, and cover disjoint shards. A set that
    /// leaves shards out is refused unless `allowIncomplete`. Interrupted shards
    /// merge: the result is marked interrupted and counts what ran. `names` (e.g.
    /// file paths) label the inputs in error messages. Reports read from files must carry
    /// their digest (`requireDigest`): one deleted cannot hide an edit.
    public static func merge(_ reports: [VerificationReport], names: [String]? = nil,
                             allowIncomplete: Bool = false, requireDigest: Bool = false) throws -> VerificationReport {
        guard var merged = reports.first else { throw HarnessError.nothingToMerge }
        for (i, r) in reports.enumerated() {
            do { try r.validate(requireDigest: requireDigest) } catch let HarnessError.badReport(message) {
                throw HarnessError.badReport("\(names?[i] ?? "input \(i + 1)"): \(message)")
            }
        }
        for r in reports.dropFirst() {
            guard r.corpus == merged.corpus else {
                throw HarnessError.incompatibleShards("the shards come from different corpora (seed, cases, generators or size limits differ)")
            }
            guard r.shardCount == merged.shardCount else {
                throw HarnessError.incompatibleShards("one shard is of \(r.shardCount), another of \(merged.shardCount)")
            }
            guard r.certifyAll == merged.certifyAll else {
                throw HarnessError.incompatibleShards("some shards certified every verdict (--certify all) and others did not")
            }
            guard r.plantedScales == merged.plantedScales else {
                throw HarnessError.incompatibleShards("the shards were run with different planted constants (--plant)")
            }
            guard r.theorems.map(\.name) == merged.theorems.map(\.name),
                  r.conjectures.map(\.name) == merged.conjectures.map(\.name) else {
                throw HarnessError.incompatibleShards("the shards checked different statements (--statement differs): "
                    + "\(merged.theorems.map(\.name).joined(separator: ",")) vs \(r.theorems.map(\.name).joined(separator: ","))")
            }
            if let overlap = Set(r.shards).intersection(merged.shards).min() {
                throw HarnessError.incompatibleShards("shard \(overlap + 1)/\(r.shardCount) appears twice")
            }
            for i in merged.theorems.indices { merged.theorems[i].merge(r.theorems[i]) }
            for i in merged.conjectures.indices { merged.conjectures[i].merge(r.conjectures[i]) }
            merged.shards = (merged.shards + r.shards).sorted()
            merged.casesRun += r.casesRun
            merged.replayFiles = (merged.replayFiles + r.replayFiles).sorted()
            merged.generatedSizes = GeneratedSizes.union(merged.generatedSizes, r.generatedSizes)
            merged.interrupted = (merged.interrupted + r.interrupted).sorted()
        }
        if !merged.isComplete && !allowIncomplete {
            let missing = Set(0..<merged.shardCount).subtracting(merged.shards).sorted().prefix(10)
            throw HarnessError.incompatibleShards((missing.count == 1 ? "shard " : "shards ") + missing.map { "\($0 + 1)" }.joined(separator: ", ")
                + " of \(merged.shardCount) " + (missing.count == 1 ? "is" : "are") + " missing (pass --allow-incomplete to merge a partial set)")
        }
        merged.digest = nil
        return merged
    }

    /// Checks that the report is internally consistent (counts add up, every case
    /// named lies in its shards) and, when it carries a digest, that it was not
    /// edited since it was written; with `requireDigest`, a report without one is refused.
    public func validate(requireDigest: Bool = false) throws {
        func bad(_ m: String) -> HarnessError { .badReport(m) }
        guard shardCount >= 1, !shards.isEmpty, shards.allSatisfy({ (0..<shardCount).contains($0) }),
              Set(shards).count == shards.count else {
            throw bad("shards \(shards.map { $0 + 1 }) of \(shardCount) are not a set of shards")
        }
        guard corpus.cases > 0, !corpus.generators.isEmpty else { throw bad("the corpus is empty") }
        let expected = shards.reduce(0) { $0 + corpus.caseCount(shard: $1, of: shardCount) }
        let interruptedShards = Set(interrupted)
        guard interruptedShards.isSubset(of: shards) else { throw bad("an interrupted shard is not among the report's shards") }
        guard casesRun >= 0, casesRun <= expected, interruptedShards.isEmpty ? casesRun == expected : true else {
            throw bad("\(casesRun) cases run, but its shards hold \(expected)")
        }
        for s in theorems + conjectures {
            let counts = [s.cases, s.inapplicable, s.certified, s.violations, s.undecided, s.errors, s.certifiedFast, s.certifiedMPFR, s.certifiedExact]
            guard counts.allSatisfy({ $0 >= 0 }) else { throw bad("\(s.name) has a negative count") }
            guard s.certifiedFast + s.certifiedMPFR + s.certifiedExact == s.certified else {
                throw bad("\(s.name): fast + MPFR + exact = \(s.certifiedFast + s.certifiedMPFR + s.certifiedExact), not the \(s.certified) certified")
            }
            guard s.cases + s.inapplicable + s.errors == casesRun else {
                throw bad("\(s.name): cases + inapplicable + errors = \(s.cases + s.inapplicable + s.errors), not the \(casesRun) cases run")
            }
            // Certified and undecided cases are disjoint parts of the cases reached.
            guard s.certified + s.undecided <= s.cases, s.violations <= s.certified else {
                throw bad("\(s.name): certified, violations or undecided exceed the cases decided")
            }
            guard (s.violations > 0) == (s.firstViolation != nil) else {
                throw bad("\(s.name): \(s.violations) violations but \(s.firstViolation == nil ? "no" : "a") first violation")
            }
            // A report from before `first_undecided` existed counts its undecided cases without one.
            guard s.firstUndecided == nil || (s.undecided > 0 && s.firstUndecidedVerdict?.outcome == .undecided) else {
                throw bad("\(s.name): a first undecided case beside \(s.undecided) undecided, or without its undecided verdict")
            }
            for c in [s.worstCase, s.firstViolation, s.firstUndecided].compactMap({ $0 }) {
                guard (0..<corpus.cases).contains(c.index), shards.contains(c.index % shardCount) else {
                    throw bad("\(s.name) names case \(c.index), which is not in shards \(shards.map { $0 + 1 })")
                }
                // A case is rebuilt from (seed, index): a named case must be the corpus's own.
                guard c == corpus.descriptor(c.index) else {
                    throw bad("\(s.name) names case \(c.index) as \(c), but the corpus's case \(c.index) is \(corpus.descriptor(c.index))")
                }
            }
        }
        if requireDigest && digest == nil {
            throw bad("it has no digest: a report written by verify --json always carries one")
        }
        if let digest, digest != (try contentDigest()) {
            throw bad("its digest does not match its content: the file was edited after it was written")
        }
    }

    /// FNV-1a (64 bit) of the report's JSON without its digest: detects a file
    /// edited after it was written (not a defence against forgery).
    public func contentDigest() throws -> String {
        var copy = self
        copy.digest = nil
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in try ReportJSON.encode(copy).utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}

public enum HarnessError: Error, CustomStringConvertible, Equatable {
    case nothingToMerge
    case incompatibleShards(String)
    case badShard(String)
    case unknownCheck(String)
    case badReplayFile(String)
    case badReport(String)

    public var description: String {
        switch self {
        case .nothingToMerge: return "merge needs at least one shard report"
        case let .incompatibleShards(m): return "cannot merge: \(m)"
        case let .badShard(m): return "bad shard: \(m)"
        case let .unknownCheck(m): return "unknown statement or check: \(m)"
        case let .badReplayFile(m): return "bad replay file: \(m)"
        case let .badReport(m): return "not a valid verify report: \(m)"
        }
    }
}
