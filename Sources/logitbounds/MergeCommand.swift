import ArgumentParser
import Foundation
import Harness

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine the JSON reports of `verify --shard i/n` runs into the report one run would give.",
        discussion: "Counts add; the worst ratio and first violation go to the lowest case index on ties, so the merge is exact.")

    @Argument(help: "Shard JSON files written by `logitbounds verify --shard i/n --json`.")
    var files: [String]

    @Flag(help: "Print the merged report as JSON instead of Markdown.")
    var json = false

    @Flag(help: "Merge a set that leaves shards out (the report says which); without it a missing shard exits 2.")
    var allowIncomplete = false

    @Option(help: "Also write report.md and report.json into this directory.")
    var out: String?

    func run() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one shard report") }
        let directory = try out.map(OutputDirectory.init)
        let reports = try files.map { path -> VerificationReport in
            guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
            do { return try ReportFormatter.decode(data) } catch {
                throw CLIError("\(path) is not a verify JSON report (\(decodingSentence(error)))")
            }
        }
        let merged: VerificationReport
        do { merged = try VerificationReport.merge(reports, names: files, allowIncomplete: allowIncomplete) }
        catch let e as HarnessError { throw CLIError(e.description) }
        if !merged.isComplete {
            FileHandle.standardError.write(Data("merge: warning: shards \(merged.shards.map { $0 + 1 }) of \(merged.shardCount) only\n".utf8))
        }
        directory?.attempt("merge") { directory in
            try ReportFormatter.markdown(merged, seconds: nil).write(to: directory.path("report.md"), atomically: true, encoding: .utf8)
            try ReportFormatter.json(merged).write(to: directory.path("report.json"), atomically: true, encoding: .utf8)
        }
        print(json ? try ReportFormatter.json(merged) : ReportFormatter.markdown(merged, seconds: nil), terminator: json ? "\n" : "")
        if merged.violationCount > 0 { throw ExitCode(1) }
    }
}
