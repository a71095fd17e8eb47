import ArgumentParser
import Foundation
import Harness
import ModelFiles
import Measure
import Numerics
import Theory

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Combine `verify --shard i/n` reports, or `measure --shard i/n --partial` files, into the report one run would give.",
        discussion: """
        verify reports: counts add; the worst ratio is the largest over the shards (on a tie, the lower case \
        index's), and the first violation and first undecided case are those of the lowest case index, so the \
        merge is exact. Each report is \
        validated first: counts that do not add up, a named case that is not the corpus's own or lies outside the \
        report's shards, an edited file (its digest), reports of different corpora, options or statements, and \
        duplicate shards exit 2.

        measure partials: the shards' per-input sums and d×d moments are combined with compensated sums (the result \
        does not depend on the shard count beyond a few ε relative) and the measurement of all rows is printed as \
        `measure` prints it. T6 is certified from the partials' interval sums, and T3, T4, T5, T7 and T12 from \
        their interval moments and the Grams' column bounds (added in interval arithmetic; T5 with the rows \
        of G the partials carry at its labels), when every partial carries them (not written with \
        --certify never) and the enclosures decide. Partials of different pairs or options, overlapping or missing row ranges, \
        and truncated, edited or inconsistent partials exit 2; a certified violation exits 1. The checksums and \
        consistency checks catch damage and plain edits, not forgery: a value edited with its checksum recomputed \
        (a shard's d_rep, say) merges unless it contradicts the partial's other statistics. Partials are read and \
        decoded one at a time, their pivot pairs (the same in every shard) held once. A set that would not fit in the \
        memory this process may use (the machine's, its control group's limit, or LOGITBOUNDS_MEMORY_LIMIT) exits 2: \
        before any file is read where the largest alone would not, else once the first partial is decoded, from the \
        files' sizes and the pivot pairs it carries.
        """)

    @Argument(help: "Shard JSON files written by `logitbounds verify --shard i/n --json`, or partials written by `logitbounds measure --shard i/n --partial`.")
    var files: [String]

    @Flag(help: "Print the merged report as JSON instead of Markdown.")
    var json = false

    @Flag(help: "verify reports only: merge a set that leaves shards out (the report says which); without it a missing shard exits 2. Measure partials must cover every row.")
    var allowIncomplete = false

    @Option(help: "Also write report.md and report.json into this directory.")
    var out: String?

    func run() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one shard report") }
        // Each a regular file, by name (a directory, a device: /dev/zero is read forever; an empty or
        // missing file), before the memory check reads their sizes and before --out is created.
        for path in files {
            do { try ModelFile.requireRegularFile(URL(fileURLWithPath: path)) } catch let e as ModelFileError { throw CLIError(e.description) }
        }
        try requireMemory(pivotPairs: nil)
        let directory = try out.map { try OutputDirectory($0, writes: ["report.md", "report.json"], inputs: files) }
        // One file at a time: read, recognised, and a partial decoded before the next is read, so
        // that a merge holds the decoded statistics and one file's text, not every file's text
        // (eight partials of d = 256 held their 69 MB of text beside what they decode to). A
        // partial's error waits until every file's kind is known, as a mix of kinds is named first.
        var reports: [(path: String, data: Data)] = [], partials: [(path: String, partial: Result<MeasurePartial, any Error>)] = []
        var firstDecoded: MeasurePartial?
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path): no such file, or not readable") }
            if MeasurePartial.recognises(data) {
                var decoded = Result { try MeasurePartial.decode(data, file: path) }
                if case .success(var partial) = decoded {
                    if let first = firstDecoded {
                        partial.sharePivotPairs(with: first)
                        decoded = .success(partial)
                    } else {
                        // The first partial says how many pivot pairs every one carries: the whole merge's
                        // estimate. Its sizes as `measure` writes them: a partial saved again without its
                        // whitespace (which the checksum does not see) decodes to as much from a third of
                        // the bytes (an attack: admitted at 0.42 of its peak), so every size is scaled by the
                        // first partial's canonical text (which its checksum was read from) over its file's
                        // size, where that is above 1.
                        let pivot = partial.statistics.pivot
                        try requireMemory(pivotPairs: (pivot?.pairs.count ?? 0) + (pivot?.t5Pairs.count ?? 0),
                                          subsetSize: pivot?.pairs.first?.subset.count ?? 0,
                                          scale: max(1, Double(partial.canonicalBytes) / Double(data.count)))
                        firstDecoded = partial
                    }
                }
                partials.append((path, decoded))
            } else if (try? JSONSerialization.jsonObject(with: data)) == nil {
                // Not JSON at all (cut before any key says what it is): by name, whatever the others
                // are. A partial cut later is refused as one.
                throw CLIError("\(path): not a complete JSON document (truncated or damaged: not valid JSON)")
            } else {
                reports.append((path, data))
            }
        }
        if let partial = partials.first {
            guard let report = reports.first else { return try mergeMeasure(partials.map(\.partial), directory: directory) }
            throw CLIError("\(report.path) is not a measure partial, but \(partial.path) is: merge one kind at a time")
        }
        let decoded = try reports.map { path, data -> VerificationReport in
            do { return try ReportFormatter.decode(data) } catch {
                throw CLIError("\(path) is neither a measure partial (measure --shard i/n --partial) nor a verify JSON report (\(decodingSentence(error, data: data)))")
            }
        }
        let merged: VerificationReport
        do { merged = try VerificationReport.merge(decoded, names: files, allowIncomplete: allowIncomplete, requireDigest: true) }
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

    /// Refuses a merge that would not fit in the memory this process may use
    /// (`MeasureMemory.mergeRefusal`), from the files' sizes: before any is read (`pivotPairs` nil),
    /// where the largest alone would not; once the first partial is decoded, from the pivot pairs
    /// it carries, where the whole merge would not (the sizes times `scale`).
    func requireMemory(pivotPairs: Int?, subsetSize: Int = 0, scale: Double = 1) throws {
        let limit: Double
        do { limit = try MachineMemory.bytes() } catch let e as MachineMemory.InvalidLimit { throw CLIError(e.description) }
        let sizes = files.compactMap(MeasureCommand.regularFileSize).map { Int(min(Double($0) * scale, 0x1p62)) }
        if let why = MeasureMemory.mergeRefusal(fileSizes: sizes, pivotPairs: pivotPairs,
                                                subsetSize: subsetSize, limit: limit) {
            throw CLIError(why)
        }
    }

    /// Partials of `measure --shard`, decoded as they were read: checked, merged, reported as
    /// `measure` reports.
    func mergeMeasure(_ decoded: [Result<MeasurePartial, any Error>], directory: OutputDirectory?) throws {
        let measurement: PairMeasurement, first: MeasurePartial
        do {
            let partials = try decoded.map { try $0.get() }
            first = partials[0]
            measurement = try MeasureStatistics.merge(partials.map(\.statistics), names: files).measurement()
        } catch let e as MeasureMergeError { throw CLIError(e.description) }
          catch let e as ModelError { throw CLIError("merging the partials: \(e.description)") }
        let markdown = MeasurementFormatter.markdown(measurement, teacher: first.teacher, student: first.student)
        directory?.attempt("merge") { directory in
            try markdown.write(to: directory.path("report.md"), atomically: true, encoding: .utf8)
            try measurement.jsonReport().write(to: directory.path("report.json"), atomically: true, encoding: .utf8)
        }
        print(json ? try measurement.jsonReport() : markdown)
        // As `measure`: exit 1 when a bound is certified violated.
        if measurement.bounds.contains(where: { $0.certified && $0.holds == false }) { throw ExitCode(1) }
    }
}
