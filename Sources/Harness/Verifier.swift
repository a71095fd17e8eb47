import Dispatch
import Foundation
import Numerics
import Theory

/// Runs every check over a corpus (or one shard), in parallel, screening in double
/// precision and certifying every violation and near-miss (the checks' `check`).
public struct Verifier: Sendable {
    public let corpus: CorpusSpec
    public let checks: [Check]
    public let plantedScales: [StatementID: Double]
    /// Worker threads; OpenBLAS is set to one thread meanwhile so the cores are
    /// not oversubscribed.
    public let threads: Int
    /// Every verdict certified (`verify --certify all`), not only violations and near-misses.
    public let certifyAll: Bool

    public init(corpus: CorpusSpec, only: [String]? = nil, plantedScales: [StatementID: Double] = [:],
                threads: Int = ProcessInfo.processInfo.activeProcessorCount, certifyAll: Bool = false) throws {
        self.corpus = corpus
        self.plantedScales = plantedScales
        self.threads = max(1, threads)
        self.certifyAll = certifyAll
        let all = Check.registry(scales: plantedScales, certifyAll: certifyAll)
        guard let only else { checks = all; return }
        let chosen = all.filter { check in only.contains { check.name == $0 || check.id.rawValue == $0 } }
        if let unknown = only.first(where: { name in !all.contains { $0.name == name || $0.id.rawValue == name } }) {
            var ids: [String] = []
            for check in all where !ids.contains(check.id.rawValue) { ids.append(check.id.rawValue) }
            let names = all.map(\.name).joined(separator: ", ")
            throw HarnessError.unknownCheck("\(unknown) (known: \(names), or a statement id: \(ids.joined(separator: ", ")))")
        }
        checks = chosen
    }

    /// Runs shard `shard` of `shardCount` (0-based). `progress(done, total)` is
    /// called from worker threads as cases finish. When `stop()` turns true (an
    /// interrupt), no new case starts, the cases in flight finish, and the report
    /// covers exactly the shard's first `casesRun` cases, marked interrupted.
    public func run(shard: Int = 0, of shardCount: Int = 1,
                    progress: (@Sendable (Int, Int) -> Void)? = nil,
                    stop: (@Sendable () -> Bool)? = nil) throws -> VerificationReport {
        guard shardCount >= 1, (0..<shardCount).contains(shard) else {
            throw HarnessError.badShard("shard \(shard + 1)/\(shardCount) does not exist")
        }
        let count = corpus.caseCount(shard: shard, of: shardCount)
        HeapRetention.enable()
        let workers = min(threads, max(count, 1))
        let partials = PartialSummaries(count: workers, checks: checks)
        let counter = ProgressCounter(total: count, report: progress)
        // Cases are handed out one at a time as workers free up (their costs differ
        // by 10× and more), so neither core idles at the end; summaries merge in any
        // order to the same report.
        let dispenser = CaseDispenser(count: count, stop: stop)
        BLASThreads.concurrentWorkers(workers) { worker in
            var local = checks.map(CheckSummary.init)
            var sizes: GeneratedSizes?
            while let position = dispenser.next() {
                let descriptor = corpus.descriptor(corpus.caseIndex(position, shard: shard, of: shardCount))
                let pair = descriptor.pair
                sizes = GeneratedSizes.union(sizes, GeneratedSizes(pair))
                for (c, check) in checks.enumerated() {
                    do { local[c].record(try check.evaluate(descriptor, pair), case: descriptor) }
                    catch { local[c].recordError() }
                }
                counter.increment()
            }
            partials.store(local, sizes, at: worker)
        }
        var summaries = checks.map(CheckSummary.init)
        var sizes: GeneratedSizes?
        for (part, partSizes) in partials.all {
            for i in summaries.indices { summaries[i].merge(part[i]) }
            sizes = GeneratedSizes.union(sizes, partSizes)
        }
        return VerificationReport(
            theorems: summaries.filter { !$0.conjecture }, conjectures: summaries.filter(\.conjecture),
            seed: corpus.seed, corpus: corpus, shards: [shard], shardCount: shardCount, casesRun: dispenser.handedOut,
            plantedScales: Dictionary(uniqueKeysWithValues: plantedScales.map { ($0.key.rawValue, $0.value) }),
            replayFiles: [], generatedSizes: sizes, interrupted: dispenser.handedOut < count ? [shard] : [],
            certifyAll: certifyAll)
    }

    /// The check with this name.
    public func check(named name: String) -> Check? { checks.first { $0.name == name } }
}

/// The next case position to run, handed out in order under a lock; none once
/// `stop` says so. The positions handed out are therefore always 0..<handedOut.
final class CaseDispenser: @unchecked Sendable {
    private var position = 0
    private let count: Int
    private let stop: (@Sendable () -> Bool)?
    private let lock = NSLock()

    init(count: Int, stop: (@Sendable () -> Bool)? = nil) {
        self.count = count
        self.stop = stop
    }

    func next() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard position < count, !(stop?() ?? false) else { return nil }
        position += 1
        return position - 1
    }

    var handedOut: Int { lock.lock(); defer { lock.unlock() }; return position }
}

/// Per-worker summaries, written once each under a lock.
final class PartialSummaries: @unchecked Sendable {
    private var parts: [([CheckSummary], GeneratedSizes?)]
    private let lock = NSLock()

    init(count: Int, checks: [Check]) { parts = Array(repeating: ([], nil), count: count) }

    func store(_ summaries: [CheckSummary], _ sizes: GeneratedSizes?, at index: Int) {
        lock.lock(); parts[index] = (summaries, sizes); lock.unlock()
    }

    var all: [([CheckSummary], GeneratedSizes?)] { lock.lock(); defer { lock.unlock() }; return parts }
}

final class ProgressCounter: @unchecked Sendable {
    private var done = 0
    private let total: Int
    private let lock = NSLock()
    private let report: (@Sendable (Int, Int) -> Void)?

    init(total: Int, report: (@Sendable (Int, Int) -> Void)?) {
        self.total = total
        self.report = report
    }

    func increment() {
        lock.lock()
        done += 1
        let now = done
        lock.unlock()
        report?(now, total)
    }
}
