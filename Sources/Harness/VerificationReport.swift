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
    /// Cases whose verdict is certified (exact or enclosure).
    public var certified: Int
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

    enum CodingKeys: String, CodingKey {
        case id, name, form, conjecture, cases, inapplicable, certified, violations, undecided, errors
        case worstRatio = "worst_ratio", worstCase = "worst_case"
        case firstViolation = "first_violation", firstViolationVerdict = "first_violation_verdict"
    }

    init(_ check: Check) {
        id = check.id.rawValue
        name = check.name
        form = check.form
        conjecture = check.isConjecture
        cases = 0; inapplicable = 0; certified = 0; violations = 0; undecided = 0; errors = 0
    }

    mutating func record(_ verdict: Verdict, case descriptor: CaseDescriptor) {
        switch verdict.outcome {
        case .inapplicable: inapplicable += 1; return
        case .undecided: undecided += 1
        case .violated:
            if verdict.isCertified {
                violations += 1
                if firstViolation.map({ descriptor.index < $0.index }) ?? true {
                    firstViolation = descriptor
                    firstViolationVerdict = verdict
                }
            }
        case .holds: break
        }
        cases += 1
        if verdict.isCertified { certified += 1 }
        let ratio = verdict.ratio
        guard ratio.isFinite || ratio == .infinity, !ratio.isNaN else { return }
        if let worst = worstRatio, let at = worstCase {
            if ratio > worst || (ratio == worst && descriptor.index < at.index) {
                worstRatio = ratio; worstCase = descriptor
            }
        } else {
            worstRatio = ratio; worstCase = descriptor
        }
    }

    mutating func recordError() { errors += 1 }

    /// Combines the summaries of two disjoint parts of one corpus.
    mutating func merge(_ other: CheckSummary) {
        cases += other.cases; inapplicable += other.inapplicable; certified += other.certified
        violations += other.violations; undecided += other.undecided; errors += other.errors
        if let r = other.worstRatio, let c = other.worstCase {
            if worstRatio == nil || r > worstRatio! || (r == worstRatio! && c.index < worstCase!.index) {
                worstRatio = r; worstCase = c
            }
        }
        if let v = other.firstViolation, firstViolation.map({ v.index < $0.index }) ?? true {
            firstViolation = v
            firstViolationVerdict = other.firstViolationVerdict
        }
    }
}

/// The result of `verify` over a corpus or one shard of it.
public struct VerificationReport: Codable, Sendable, Equatable {
    public var theorems: [CheckSummary]
    public var conjectures: [CheckSummary]
    public let seed: UInt64
    public let corpus: CorpusSpec
    /// The shards this report covers, e.g. [0, 1, 2] of 3 (all for a single run).
    public var shards: [Int]
    public let shardCount: Int
    public var casesRun: Int
    /// Constant scales ≠ 1 (planted false statements), by statement id.
    public let plantedScales: [String: Double]
    /// Replay files written for shrunk violations.
    public var replayFiles: [String]

    enum CodingKeys: String, CodingKey {
        case theorems, conjectures, seed, corpus, shards, casesRun = "cases_run", replayFiles = "replay_files"
        case shardCount = "shard_count", plantedScales = "planted_scales"
    }

    /// Certified violations of theorems (conjecture findings excluded).
    public var violationCount: Int { theorems.reduce(0) { $0 + $1.violations } }

    public var isComplete: Bool { shards.count == shardCount }

    /// Combines shard reports of one corpus into the report a single run gives.
    public static func merge(_ reports: [VerificationReport]) throws -> VerificationReport {
        guard var merged = reports.first else { throw HarnessError.nothingToMerge }
        for r in reports.dropFirst() {
            guard r.corpus == merged.corpus, r.shardCount == merged.shardCount, r.plantedScales == merged.plantedScales else {
                throw HarnessError.incompatibleShards("shards come from different corpora, shard counts or planted constants")
            }
            if let overlap = Set(r.shards).intersection(merged.shards).first {
                throw HarnessError.incompatibleShards("shard \(overlap) appears twice")
            }
            for i in merged.theorems.indices { merged.theorems[i].merge(r.theorems[i]) }
            for i in merged.conjectures.indices { merged.conjectures[i].merge(r.conjectures[i]) }
            merged.shards = (merged.shards + r.shards).sorted()
            merged.casesRun += r.casesRun
            merged.replayFiles = (merged.replayFiles + r.replayFiles).sorted()
        }
        return merged
    }
}

public enum HarnessError: Error, CustomStringConvertible, Equatable {
    case nothingToMerge
    case incompatibleShards(String)
    case badShard(String)
    case unknownCheck(String)
    case badReplayFile(String)

    public var description: String {
        switch self {
        case .nothingToMerge: return "merge needs at least one shard report"
        case let .incompatibleShards(m): return "cannot merge: \(m)"
        case let .badShard(m): return "bad shard: \(m)"
        case let .unknownCheck(m): return "unknown statement or check: \(m)"
        case let .badReplayFile(m): return "bad replay file: \(m)"
        }
    }
}
