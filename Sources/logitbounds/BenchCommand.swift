import ArgumentParser
import Foundation
import Harness
import Theory

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks: verify throughput on small pairs (k ≤ 20, d ≤ 8, N ≤ 200).",
        discussion: "Prints pairs per second across the given threads, with every check of T1–T7 and certification of every near-miss included.")

    @Option(help: "Pairs to check.")
    var cases = 4000

    @Option(help: "Worker threads.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Corpus seed.")
    var seed: UInt64 = 7

    func run() throws {
        let corpus = CorpusSpec(seed: seed, cases: cases, maxLabels: 20, maxDimension: 8, maxInputs: 200)
        let verifier = try Verifier(corpus: corpus, threads: threads)
        let start = Date()
        let report = try verifier.run()
        let seconds = Date().timeIntervalSince(start)
        let certified = report.theorems.reduce(0) { $0 + $1.certified }
        print(String(format: "verify throughput: %d pairs in %.2f s = %.0f pairs/s on %d threads (%d certified verdicts, %d checks per pair)",
                     cases, seconds, Double(cases) / seconds, threads, certified, verifier.checks.count))
    }
}
