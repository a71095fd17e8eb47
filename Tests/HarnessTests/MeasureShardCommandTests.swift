import Foundation
import Measure
import ModelFiles
import Numerics
import Testing
import Theory

/// `measure --shard i/n --partial` and `merge` on the command line.
@Suite("logitbounds measure --shard and merge")
struct MeasureShardCommandTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-shard-\(UInt32.random(in: 0...UInt32.max))")

    /// Teacher stored C order; student compressed Fortran order (float64: both need the same weights);
    /// with input weights, or none (uniform, no w array).
    func files(weighted: Bool, seed: UInt64 = 5) throws -> (String, String) {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: seed)
        let weights: [Double]? = weighted ? (0..<50).map { _ in (0.5 * g.gaussian()).exp } : nil
        let teacher = ModelGenerator.model(labels: 9, dimension: 3, inputs: 50, scale: 2, weights: weights, using: &g)
        let student = ModelGenerator.perturb(teacher, by: 0.2, using: &g)
        let tag = "\(seed)-\(weighted)"
        let a = dir.appendingPathComponent("teacher-\(tag).npz"), b = dir.appendingPathComponent("student-\(tag).npz")
        func arrays(_ m: SoftmaxModel) -> [(String, NumpyArray)] {
            [("f", NumpyArray(shape: [m.inputCount, m.dimension], values: m.embeddings.storage)),
             ("g", NumpyArray(shape: [m.labelCount, m.dimension], values: m.unembeddings.storage))]
                + (weighted ? [("w", NumpyArray(shape: [m.inputCount], values: weights!))] : [])
        }
        try ModelFile.write(arrays: arrays(teacher), to: a)
        try ModelFile.write(arrays: arrays(student), to: b, format: NumpyFormat(fortranOrder: true), compressed: true)
        return (a.path, b.path)
    }

    func shards(_ a: String, _ b: String, count: Int, extra: [String] = [], tag: String = "") throws -> [String] {
        try (1...count).map { i in
            let path = dir.appendingPathComponent("part-\(i)-of-\(count)-\(extra.joined())\(tag).json").path
            let r = try runTool(["measure", a, b, "--shard", "\(i)/\(count)", "--partial", path] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            return path
        }
    }

    /// A model file of f (N×d, N = w.count), g (k×d) and the weights w, as given; in `dir`.
    func writeModel(_ name: String, f: [Double], g: [Double], w: [Double], dimension d: Int,
                    format: NumpyFormat = NumpyFormat(), compressed: Bool = false) throws -> String {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try ModelFile.write(arrays: [("f", NumpyArray(shape: [w.count, d], values: f)), ("g", NumpyArray(shape: [g.count / d, d], values: g)),
                                     ("w", NumpyArray(shape: [w.count], values: w))], to: url, format: format, compressed: compressed)
        return url.path
    }

    static func numbers(_ x: Any, _ prefix: String = "", into out: inout [String: Double]) {
        if let d = x as? [String: Any] {
            for (k, v) in d where !["timings_seconds", "notes", "note", "routes", "largest_condition_top_10", "linear_cka_unbiased"].contains(k) { numbers(v, prefix + "." + k, into: &out) }
        } else if let a = x as? [Any] {
            for (i, v) in a.enumerated() { numbers(v, "\(prefix)[\(i)]", into: &out) }
        } else if let n = x as? Double { out[prefix] = n }
    }

    @Test("3 shards merged (in any order) report every number of one run to 1e−9", arguments: [false, true])
    func mergeMatchesSingle(weighted: Bool) throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files(weighted: weighted)
        let pivot = ["--pivots", "4", "--subsets", "10", "--seed", "3"]
        let parts = try shards(a, b, count: 3, extra: pivot + ["--certify", "never"])
        let merged = try runTool(["merge", parts[2], parts[0], parts[1], "--json"])
        #expect(merged.status == 0, "\(merged.stderr)")
        let single = try runTool(["measure", a, b, "--json", "--certify", "never"] + pivot)
        var x: [String: Double] = [:], y: [String: Double] = [:]
        Self.numbers(try JSONSerialization.jsonObject(with: Data(single.stdout.utf8)), into: &x)
        Self.numbers(try JSONSerialization.jsonObject(with: Data(merged.stdout.utf8)), into: &y)
        #expect(x.count >= 70 && Set(x.keys) == Set(y.keys), "\(x.count) numbers; keys differ: \(Set(x.keys).symmetricDifference(y.keys))")
        for (key, u) in x {
            let v = y[key] ?? .nan
            #expect(abs(u - v) <= 1e-9 * max(abs(u), abs(v)) + 1e-14, "\(key): \(u) vs \(v)")
        }
        // The Markdown report, too.
        let text = try runTool(["merge"] + parts)
        #expect(text.status == 0 && text.stdout.contains("m_CCA centred") && text.stdout.contains("merged from 3 shard(s)"))
        // Shards written by default carry interval sums: the merge certifies T6, and its
        // enclosures hold the single run's values.
        let certifiedParts = try shards(a, b, count: 3, extra: pivot, tag: "certified")
        let certified = try runTool(["merge"] + certifiedParts + ["--json"])
        #expect(certified.status == 0, "\(certified.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(certified.stdout.utf8)) as? [String: Any])
        let bounds = try #require(report["bounds"] as? [[String: Any]])
        let t6 = bounds.filter { $0["id"] as? String == "T6" }
        #expect(t6.count == 4 && t6.allSatisfy { $0["certified"] as? Bool == true && $0["level"] as? String == "fast enclosure" && $0["outcome"] as? String == "holds" })
        let enclosures = try #require(report["enclosures"] as? [String: Any])
        for (key, value) in [("d_logit_squared", x[".d_logit_squared"]!), ("kl_ab", x[".kl_ab"]!), ("kl_ba", x[".kl_ba"]!),
                             ("log_tau_a", x[".log_tau_a"]!), ("log_tau_b", x[".log_tau_b"]!)] {
            let ends = try #require(enclosures[key] as? [Double])
            #expect(ends[0] - 1e-12 * abs(value) <= value && value <= ends[1] + 1e-12 * abs(value), "\(key): \(value) outside \(ends)")
        }
        // Every other number of the certified merge is the single run's too.
        var z: [String: Double] = [:]
        Self.numbers(report, into: &z)
        for (key, u) in x where !key.hasPrefix(".bounds") {
            let v = z[key] ?? .nan
            #expect(abs(u - v) <= 1e-9 * max(abs(u), abs(v)) + 1e-14, "certified merge \(key): \(u) vs \(v)")
        }
        // The Markdown report prints the enclosures, with ends that hold the values, only when certified.
        let certifiedText = try runTool(["merge"] + certifiedParts)
        let line = try #require(certifiedText.stdout.split(separator: "\n").first { $0.contains("certified enclosures (streamed fast pass") })
        #expect(line.contains("d_logit² ∈ [") && line.contains("KL(A‖B) ∈ [") && line.contains("log τ(B) ∈ ["), "\(line)")
        #expect(try runTool(["merge"] + parts).stdout.contains("certified enclosures") == false)
    }

    /// A merge that certifies a violation exits 1, as `measure` does. T6 is a theorem, so the
    /// violation is planted: every partial's KL enclosures replaced by [0, 0] (the checksum
    /// recomputed, so only the certificate stands between them and a wrong "holds").
    @Test("merge exits 1 on a certified violation (planted enclosures), and shows values inside their enclosures")
    func mergeExitsOneOnACertifiedViolation() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files(weighted: false)
        let planted = try shards(a, b, count: 2, extra: ["--no-pivot"]).map { path in
            let partial = try MeasurePartial.decode(Data(contentsOf: URL(fileURLWithPath: path)), file: path)
            var statistics = partial.statistics
            var values = try #require(statistics.enclosures).values
            for index in [5, 6, 7, 8, 9, 10, 11, 12] { values[index] = 0 }   // both KLs and T6's per-input sums
            statistics.enclosures = PackedDoubles(values)
            let out = path + ".planted.json"
            try MeasurePartial(teacher: partial.teacher, student: partial.student, statistics: statistics).encoded()
                .write(toFile: out, atomically: true, encoding: .utf8)
            return out
        }
        let r = try runTool(["merge"] + planted + ["--json"])
        #expect(r.status == 1, "\(r.status) \(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let t6 = try #require(report["bounds"] as? [[String: Any]]).filter { $0["id"] as? String == "T6" }
        #expect(t6.count == 4 && t6.allSatisfy { $0["outcome"] as? String == "violated" && $0["certified"] as? Bool == true })
        // The KL shown is the enclosure's (0), with a note that the double value lay outside it.
        #expect(report["kl_ab"] as? Double == 0 && (report["notes"] as? [String] ?? []).contains { $0.contains("outside its certified enclosure") })
    }

    @Test("Bad partials and bad shard options exit 2 with a message")
    func refusals() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files(weighted: true)
        let (c, d) = try files(weighted: true, seed: 6)
        let parts = try shards(a, b, count: 3)
        let other = try shards(c, d, count: 3, extra: ["--no-pivot"])
        let text = try String(contentsOfFile: parts[1], encoding: .utf8)
        func write(_ name: String, _ content: String) throws -> String {
            let path = dir.appendingPathComponent(name).path
            try content.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        // An edited number (checksum mismatch), a truncated file, another version.
        let klLine = try #require(text.split(separator: "\n").first { $0.contains("\"kl_ab\"") })
        let edited = try write("edited.json", text.replacingOccurrences(of: String(klLine), with: "    \"kl_ab\" : 0.5,"))
        let truncated = try write("truncated.json", String(text.prefix(text.count / 2)))
        // Cut before the format's name (which, keys sorted, follows the enclosures): still
        // recognised as a partial, refused as truncated (it was "not a measure partial").
        let early = try write("early.json", String(text.prefix(200)))
        let tiny = try write("tiny.json", String(text.prefix(10)))   // before any key: not JSON at all
        #expect(!String(text.prefix(200)).contains("logitbounds-measure-partial") && text.contains("logitbounds-measure-partial"))
        let versioned = try write("version.json", text.replacingOccurrences(of: "\"version\" : \(MeasureStatistics.version)", with: "\"version\" : 99"))
        // This build's version written as text: not "version 7; this build reads … version 7".
        let textVersion = try write("text-version.json", text.replacingOccurrences(of: "\"version\" : \(MeasureStatistics.version)",
                                                                                   with: "\"version\" : \"\(MeasureStatistics.version)\""))
        let verifyReport = try runTool(["verify", "--cases", "3", "--json"]).stdout
        let verify = try write("verify.json", verifyReport)
        let cases: [([String], String)] = [
            (["merge", parts[0], edited, parts[2]], "checksum"),
            (["merge", parts[0], truncated, parts[2]], "truncated"),
            (["merge", parts[0], early, parts[2]], "not a complete measure partial (truncated"),
            (["merge", parts[0], tiny, parts[2]], "not a complete JSON document (truncated"),
            (["merge", parts[0], versioned, parts[2]], "version"),
            (["merge", parts[0], textVersion, parts[2]], "version \"\(MeasureStatistics.version)\" (not an integer)"),
            (["merge", parts[0], parts[2]], "missing"),
            (["merge", parts[0], parts[1], parts[1], parts[2]], "overlap"),
            (["merge", parts[0], other[1], parts[2]], "another pair"),
            (["merge", parts[0], verify], "one kind"),
            (["measure", a, b, "--shard", "1/3"], "--partial"),
            (["measure", a, b, "--partial", "x.json"], "--shard"),
            (["measure", a, b, "--shard", "4/3", "--partial", "x.json"], "i/n"),
            (["measure", a, b, "--shard", "1/51", "--partial", dir.appendingPathComponent("x.json").path], "shard 1/51"),
            (["measure", a, b, "--shard", "1/2", "--partial", "x.json", "--certify", "always"], "certify"),
        ]
        for (arguments, words) in cases {
            let r = try runTool(arguments)
            #expect(r.status == 2, "\(arguments): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(words), "\(arguments): \(r.stderr)")
        }
        // An unwritable partial is refused before any model is read.
        let fifo = dir.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let existing = dir.appendingPathComponent("existing.json").path
        #expect(FileManager.default.createFile(atPath: existing, contents: Data("{}".utf8)))
        for (target, words) in [(dir.path, "is a directory"), ("/nonexistent-\(UInt32.random(in: 0...UInt32.max))/p.json", "No such file"),
                                (fifo, "not a regular file"), (existing + "/", "a name ending in \"/\" is a directory's")] {
            let r = try runTool(["measure", a, b, "--shard", "1/3", "--partial", target], terminateAfter: 60)
            #expect(r.status == 2 && r.stderr.contains(words) && !r.stderr.contains("reading shard"), "\(target): \(r.stderr)")
        }
    }

    /// `merge` had no memory check: partials beyond the memory were read whole, all at once, and
    /// the process was killed part-way. Refused before any is read where the largest alone would not
    /// fit, and once the first is decoded where the whole merge would not (from the pivot pairs it
    /// carries), at the estimate and not below it; a damaged partial after the first is not reached.
    /// The estimate against four merges' peaks (stop 66, partials of version 6 read one at a time,
    /// their pivot pairs held once): 8 partials of d = 256, 4 of 300 000 pivot pairs of d = 3, 2 of
    /// d = 1 024, 32 of d = 64 with the default 20 000 pairs.
    @Test("merge refuses, from the files' sizes and the pivot pairs, partials beyond the memory it may use; the estimate against measured peaks")
    func mergeMemory() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files(weighted: false)
        let parts = try shards(a, b, count: 3)
        let sizes = try parts.map { try #require(FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) }
        let first = try MeasurePartial.decode(try Data(contentsOf: URL(fileURLWithPath: parts[0])), file: parts[0])
        let pivot = try #require(first.statistics.pivot)
        let (pairs, d) = (pivot.pairs.count + pivot.t5Pairs.count, pivot.pairs[0].subset.count)
        let need = MeasureMemory.mergeEstimatedBytes(fileSizes: sizes, pivotPairs: pairs, subsetSize: d)
        let largest = MeasureMemory.mergeEstimatedBytes(fileSizes: sizes, pivotPairs: nil)
        #expect(pairs > 0 && largest < need)
        // The third partial cut short: refused as truncated where the merge fits, never reached where it does not.
        let text = try String(contentsOfFile: parts[2], encoding: .utf8)
        let cut = dir.appendingPathComponent("cut.json").path
        try String(text.prefix(text.count - 100)).write(toFile: cut, atomically: true, encoding: .utf8)
        var ran = 0
        for (limit, status, message) in [("1K", Int32(2), "decoding the largest of these 3 files needs about"),
                                         ("\(Int(largest.rounded(.up)))", 2, "merging these 3 files"),
                                         ("\(Int(need.rounded(.down)) - 1)", 2, "\(pairs) pivot pairs) needs about"),
                                         ("\(Int(need.rounded(.up)))", 0, "d_logit"), ("lots", 2, "LOGITBOUNDS_MEMORY_LIMIT must be")] {
            let r = try runTool(["merge"] + parts, environment: ["LOGITBOUNDS_MEMORY_LIMIT": limit])
            #expect(r.status == status && (status == 0 ? r.stdout : r.stderr).contains(message), "at \(limit): \(r.stderr)")
            ran += 1
        }
        // The same partials without their whitespace (the checksum does not see it), whose estimate
        // had followed their bytes (version-5 partials: a third of them, admitted at 0.42 of the peak):
        // refused at the estimate of their sizes scaled by the first one's canonical text, below which
        // their bytes alone would have been admitted.
        var compact: [String] = []
        for (index, path) in parts.enumerated() {
            var (out, inString, escaped) = ("", false, false)
            for c in try String(contentsOfFile: path, encoding: .utf8) {
                if inString { out.append(c); escaped = !escaped && c == "\\"; if c == "\"" && !escaped { inString = false }; continue }
                if c == "\"" { inString = true; escaped = false }
                if !c.isWhitespace { out.append(c) }
            }
            compact.append(dir.appendingPathComponent("compact-\(index).json").path)
            try out.write(toFile: compact[index], atomically: true, encoding: .utf8)
        }
        let compactSizes = try compact.map { try #require(FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) }
        let firstCompact = try MeasurePartial.decode(try Data(contentsOf: URL(fileURLWithPath: compact[0])), file: compact[0])
        let scale = Double(try ReportJSON.encode(firstCompact.statistics).utf8.count) / Double(compactSizes[0])
        let scaledNeed = MeasureMemory.mergeEstimatedBytes(fileSizes: compactSizes.map { Int(Double($0) * max(1, scale)) }, pivotPairs: pairs, subsetSize: d)
        let bytesNeed = MeasureMemory.mergeEstimatedBytes(fileSizes: compactSizes, pivotPairs: pairs, subsetSize: d)
        #expect(scale > 1 && bytesNeed < scaledNeed - 2, "scale \(scale): \(bytesNeed) against \(scaledNeed)")
        for (limit, status) in [("\(Int(scaledNeed.rounded(.down)) - 1)", Int32(2)), ("\(Int(scaledNeed.rounded(.up)))", 0)] {
            let r = try runTool(["merge"] + compact, environment: ["LOGITBOUNDS_MEMORY_LIMIT": limit])
            #expect(r.status == status && (status == 0 || r.stderr.contains("merging these 3 files")), "compact at \(limit): \(r.stderr)")
            ran += 1
        }
        // Refused before the third file is reached, whichever check refuses; read (and refused as
        // truncated) where the merge fits.
        for (limit, message) in [("1K", "decoding the largest"), ("\(Int(largest.rounded(.up)))", "merging these 3 files"), ("64G", "truncated")] {
            let r = try runTool(["merge", parts[0], parts[1], cut], environment: ["LOGITBOUNDS_MEMORY_LIMIT": limit])
            #expect(r.status == 2 && r.stderr.contains(message), "at \(limit): \(r.stderr)")
            ran += 1
        }
        #expect(ran == 10)
        // (files, their total size, the largest, pivot pairs, their subsets' size, peak resident KiB).
        let peaks: [(Int, Int, Int, Int, Int, Double)] = [
            (8, 69_010_049, 8_627_133, 0, 0, 123_816), (4, 69_451_983, 17_369_825, 300_200, 3, 200_080),
            (2, 275_083_065, 137_542_153, 0, 0, 799_152), (32, 334_881_492, 10_465_372, 20_200, 64, 179_476),
        ]
        for (count, total, largest, pairs, d, kib) in peaks {
            let sizes = [largest] + Array(repeating: (total - largest) / (count - 1), count: count - 1)
            let ratio = MeasureMemory.mergeEstimatedBytes(fileSizes: sizes, pivotPairs: pairs, subsetSize: d) / (kib * 1024)
            #expect(ratio >= 1 && ratio <= 1.55, "\(count) partials of \(total) bytes: estimate / peak = \(ratio)")
            ran += 1
        }
        #expect(ran == 14)
    }

    /// Partials of the same teacher with another student f (same g) or other weights, a
    /// damaged array, and forged counts: each refused with exit 2 (each merged, or trapped,
    /// before the identity covered the arrays' CRC-32s and the counts were range-checked).
    @Test("Another student f, other weights, a flipped byte in f and a forged shard count are refused")
    func mixedAndForged() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files(weighted: true)
        // The same teacher and g with another student f: a hybrid if merged.
        let student = try ModelFile.read(URL(fileURLWithPath: b))
        var rawWeights = SeededGenerator(seed: 5)   // as files(weighted: true) draws them
        let w = (0..<50).map { _ in (0.5 * rawWeights.gaussian()).exp }
        var g = SeededGenerator(seed: 9)
        let otherF = student.embeddings.storage.map { $0 + 0.3 * g.gaussian() }
        // Rewritten in each file's own layout (teacher stored C order, student compressed
        // Fortran order), so only the array that changed can change a CRC.
        func write(_ name: String, student isStudent: Bool, f: [Double], g: [Double], w: [Double]) throws -> String {
            try writeModel(name, f: f, g: g, w: w, dimension: student.dimension, format: NumpyFormat(fortranOrder: isStudent), compressed: isStudent)
        }
        let parts = try shards(a, b, count: 3)
        // Positive control: the same student rewritten merges.
        let copy = try write("student-copy.npz", student: true, f: student.embeddings.storage, g: student.unembeddings.storage, w: w)
        let same = try runTool(["merge", parts[0], try shards(a, copy, count: 3, tag: "copy")[1], parts[2]])
        #expect(same.status == 0, "\(same.stderr)")
        let b2 = try write("student-other-f.npz", student: true, f: otherF, g: student.unembeddings.storage, w: w)
        let hybrid = try shards(a, b2, count: 3, tag: "hybrid")
        let mixed = try runTool(["merge", parts[0], hybrid[1], parts[2]])
        #expect(mixed.status == 2 && mixed.stderr.contains("another pair") && mixed.stderr.contains("student arrays (CRC-32)")
                && !mixed.stderr.contains("teacher arrays"), "\(mixed.status) \(mixed.stderr)")
        // Other weights, same f and g.
        let teacher = try ModelFile.read(URL(fileURLWithPath: a))
        let otherW = (0..<teacher.inputCount).map { 1 + Double($0 % 3) }
        let a2 = try write("teacher-other-w.npz", student: false, f: teacher.embeddings.storage, g: teacher.unembeddings.storage, w: otherW)
        let b3 = try write("student-other-w.npz", student: true, f: student.embeddings.storage, g: student.unembeddings.storage, w: otherW)
        let reweighted = try shards(a2, b3, count: 3, tag: "reweighted")
        let weights = try runTool(["merge", reweighted[0], parts[1], parts[2]])
        #expect(weights.status == 2 && weights.stderr.contains("another pair") && weights.stderr.contains("teacher arrays (CRC-32)"),
                "\(weights.status) \(weights.stderr)")
        // One flipped byte inside f of a stored archive: every shard checks the CRC of the arrays it reads.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: a))
        let marker = try #require(bytes.range(of: Data("f.npy".utf8)))
        bytes[marker.upperBound + 200] ^= 0x10
        let damaged = dir.appendingPathComponent("teacher-damaged.npz")
        try bytes.write(to: damaged)
        let shard = try runTool(["measure", damaged.path, b, "--shard", "3/3", "--partial", dir.appendingPathComponent("d.json").path])
        #expect(shard.status == 2 && shard.stderr.contains("CRC"), "\(shard.status) \(shard.stderr)")
        // Logits near 10³⁰⁰: their squares leave the Double range, which rescaling F and G apart
        // cannot fix (the message said only "d_logit_squared = -nan").
        let hugeF = teacher.embeddings.storage.map { 1e300 * $0 }
        let huge = try write("teacher-huge.npz", student: false, f: hugeF, g: teacher.unembeddings.storage, w: w)
        let hugeShard = try runTool(["measure", huge, b, "--shard", "1/3", "--partial", dir.appendingPathComponent("h.json").path])
        #expect(hugeShard.status == 2 && hugeShard.stderr.contains("measure the pair unsharded"), "\(hugeShard.status) \(hugeShard.stderr)")
        // Forged fields with a recomputed checksum: a shard count that overflowed the merge,
        // and values out of range that merged into a negative d_logit² or KL.
        // Each refused by its own range check (the enclosure checks name the same keys), in a
        // partial with enclosures and in one written with --certify never (no enclosure to catch it).
        let never = try shards(a, b, count: 3, extra: ["--certify", "never"])
        let forgeries: [(String, Any, String)] = [("shards", Int.max, "shards = "), ("d_logit_squared", -1000.0, "d_logit_squared = -1000.0 (must be finite and ≥ 0)"),
                                                  ("kl_ab", -5.0, "kl_ab = -5.0 (must be finite and ≥ 0)"), ("log_tau_a", 3.0, "log_tau_a = 3.0 (must be ≤ −log k)")]
        var refused = 0
        for files in [parts, never] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files[1]))) as? [String: Any])
            for (key, value, words) in forgeries {
                var statistics = try #require(object["statistics"] as? [String: Any])
                statistics[key] = value
                let forgedStatistics = try ReportJSON.decode(MeasureStatistics.self, from: JSONSerialization.data(withJSONObject: statistics))
                let forged = dir.appendingPathComponent("forged-\(key)-\(refused).json")
                try MeasurePartial(teacher: a, student: b, statistics: forgedStatistics).encoded().write(to: forged, atomically: true, encoding: .utf8)
                let r = try runTool(["merge", files[0], forged.path, files[2]])
                #expect(r.status == 2 && r.stderr.contains(words), "\(key): \(r.status) \(r.stderr)")
                refused += 1
            }
        }
        #expect(refused == 8)
    }

    /// A hostile user overwrote the student model with a partial (`--partial student.npz`, exit 0):
    /// an output that is an input, by any path (a symlink included), is refused before any work,
    /// and so is an --out directory holding an input under a name the command writes.
    @Test("An output that would replace an input (--partial, a symlink to it, --out's report.json) exits 2 and leaves the input intact")
    func outputsNeverReplaceInputs() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files(weighted: false)
        let original = try Data(contentsOf: URL(fileURLWithPath: b))
        let link = dir.appendingPathComponent("link.json").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: b)
        for partial in [b, link, a] {
            let r = try runTool(["measure", a, b, "--shard", "1/2", "--partial", partial])
            #expect(r.status == 2 && r.stderr.contains("is the input file") && r.stderr.contains("would be overwritten"), "\(partial): \(r.status) \(r.stderr)")
        }
        // A link to a file that is not an input: the atomic write would replace the link (as
        // `--partial /dev/stdout` replaced the system's link), so it is refused too.
        let other = dir.appendingPathComponent("other.txt"), otherLink = dir.appendingPathComponent("other-link.json")
        try Data("kept".utf8).write(to: other)
        try FileManager.default.createSymbolicLink(atPath: otherLink.path, withDestinationPath: other.path)
        let linked = try runTool(["measure", a, b, "--shard", "1/2", "--partial", otherLink.path])
        #expect(linked.status == 2 && linked.stderr.contains("symbolic link"), "\(linked.status) \(linked.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: otherLink.path) == other.path && String(contentsOf: other, encoding: .utf8) == "kept")
        let parts = try shards(a, b, count: 2, extra: ["--certify", "never"])
        let out = dir.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let report = out.appendingPathComponent("report.json")
        try FileManager.default.copyItem(atPath: parts[0], toPath: report.path)
        let merged = try runTool(["merge", report.path, parts[1], "--out", out.path])
        #expect(merged.status == 2 && merged.stderr.contains("--out file report.json"), "\(merged.status) \(merged.stderr)")
        let student = out.appendingPathComponent("width-floor-student.npz")
        try original.write(to: student)
        let measured = try runTool(["measure", a, student.path, "--out", out.path])
        #expect(measured.status == 2 && measured.stderr.contains("--out file width-floor-student.npz"), "\(measured.status) \(measured.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: b)) == original && (try Data(contentsOf: student)) == original)
        #expect(try Data(contentsOf: report) == Data(contentsOf: URL(fileURLWithPath: parts[0])))
    }

    /// What a merge cannot carry is said (a hostile user's findings, both shown without a word):
    /// an exact orbit pair (f·P, g·P⁻ᵀ with dyadic P) merged to d_logit² ≈ 10⁻³¹ where one run
    /// gives 0; near-collinear embeddings (κ(F) ≈ 10⁷) lost d_unemb's second digit through the
    /// squared moments. An ordinary pair's merge carries neither note.
    @Test("A merge notes an orbit pair's rounding-level d_logit² and ill-conditioned moments, and only those")
    func mergeSaysWhatItCannotCarry() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var g = SeededGenerator(seed: 71)
        let (n, k) = (60, 8)
        let f = g.gaussianMatrix(rows: n, columns: 3), u = g.gaussianMatrix(rows: k, columns: 3)
        let p = try Matrix([[0, 2, 0], [0, 0, 0.5], [4, 0, 0]]), pInverseTransposed = try Matrix([[0, 0.5, 0], [0, 0, 2], [0.25, 0, 0]])
        let x = g.gaussianMatrix(rows: n, columns: 3)
        let collinear = Matrix(rows: n, columns: 4) { i, j in [x[i, 0], x[i, 0] + 1e-7 * x[i, 1], x[i, 2], 1][j] }
        let v = g.gaussianMatrix(rows: 10, columns: 4)
        let near = Matrix(rows: n, columns: 4) { i, j in collinear[i, j] + 1e-3 * g.gaussian() }
        let nearV = Matrix(rows: 10, columns: 4) { i, j in v[i, j] + 1e-3 * g.gaussian() }
        func write(_ name: String, _ f: Matrix, _ u: Matrix) throws -> String {
            let url = dir.appendingPathComponent(name)
            try ModelFile.write(arrays: [("f", NumpyArray(shape: [f.rows, f.columns], values: f.storage)),
                                         ("g", NumpyArray(shape: [u.rows, u.columns], values: u.storage))], to: url)
            return url.path
        }
        let teacher = try write("t.npz", f, u), orbit = try write("orbit.npz", f.multiplied(by: p, transposeOther: true), u.multiplied(by: pInverseTransposed, transposeOther: true))
        let other = try write("other.npz", g.gaussianMatrix(rows: n, columns: 3), g.gaussianMatrix(rows: k, columns: 3))
        let (ill, illB) = (try write("ill.npz", collinear, v), try write("illB.npz", near, nearV))
        func notes(_ a: String, _ b: String, _ tag: String) throws -> [String] {
            let parts = try shards(a, b, count: 3, tag: tag)
            let r = try runTool(["merge", "--json"] + parts)
            #expect(r.status == 0, "\(r.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            return try #require(json["notes"] as? [String])
        }
        let rounding = "agree to within the rounding of their logits", conditioned = "has condition number"
        let single = try runTool(["measure", teacher, orbit, "--json"])
        let singleJSON = try #require(try JSONSerialization.jsonObject(with: Data(single.stdout.utf8)) as? [String: Any])
        #expect(singleJSON["d_logit_squared"] as? Double == 0, "one run of the orbit pair: \(singleJSON["d_logit_squared"] ?? "–")")
        let orbitNotes = try notes(teacher, orbit, "orbit")
        #expect(orbitNotes.contains { $0.contains(rounding) } && !orbitNotes.contains { $0.contains(conditioned) }, "\(orbitNotes)")
        let illNotes = try notes(ill, illB, "ill")
        #expect(illNotes.contains { $0.contains(conditioned) && $0.contains("d_unemb") } && !illNotes.contains { $0.contains(rounding) }, "\(illNotes)")
        let plain = try notes(teacher, other, "plain")
        #expect(!plain.contains { $0.contains(rounding) || $0.contains(conditioned) || $0.contains("underflow") }, "\(plain)")
    }

    /// Weights near 10³⁰⁸ sum beyond the Double range: every shard refuses before a partial is
    /// written (an attack's run had blamed an "inconsistent partial", a file the user never wrote),
    /// with the rescaling that mends it.
    @Test("Weights summing beyond the Double range: every shard exits 2 with the rescaling, no partial written")
    func shardWeightsBeyondRange() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        var g = SeededGenerator(seed: 31)
        let teacher = ModelGenerator.model(labels: 4, dimension: 2, inputs: 6, using: &g)
        let path = try writeModel("big.npz", f: teacher.embeddings.storage, g: teacher.unembeddings.storage,
                                  w: Array(repeating: 1.7e308, count: 6), dimension: 2)
        let partial = dir.appendingPathComponent("p1.json").path
        let r = try runTool(["measure", path, path, "--shard", "1/2", "--partial", partial])
        #expect(r.status == 2 && r.stderr.contains("sum beyond the Double range") && r.stderr.contains("divide every weight by the same power of two")
                && !r.stderr.contains("inconsistent partial"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: partial))
        // Two weights of 10³⁰⁸ and eight of 1 (an attack's file): shard 1/2 had refused and shard
        // 2/2 written its partial. Every shard refuses alike; one run measures it.
        var h = SeededGenerator(seed: 32)
        let model = ModelGenerator.model(labels: 4, dimension: 2, inputs: 10, using: &h)
        let mixed = try writeModel("mixed.npz", f: model.embeddings.storage, g: model.unembeddings.storage,
                                   w: [1e308, 1e308] + Array(repeating: 1, count: 8), dimension: 2)
        var refused = 0
        for shard in ["1/2", "2/2"] {
            let p = dir.appendingPathComponent("m\(shard.first!).json").path
            let s = try runTool(["measure", mixed, mixed, "--shard", shard, "--partial", p])
            #expect(s.status == 2 && s.stderr.contains("sum beyond the Double range") && !FileManager.default.fileExists(atPath: p), "\(shard): \(s.stderr)")
            refused += s.status == 2 ? 1 : 0
        }
        #expect(refused == 2)
        #expect(try runTool(["measure", mixed, mixed, "--no-pivot"]).status == 0)
    }

    /// A `--shard` run had checked only its own rows' weights: a student whose weight 45 differs
    /// (or a negative weight at 45) failed shard 2/2 and passed shard 1/2. Every shard now checks
    /// all N of both files, and says what the unsharded run says.
    @Test("Every shard refuses weights that differ, or a bad weight, anywhere in the files")
    func shardChecksEveryWeight() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = try files(weighted: true)
        let student = try ModelFile.read(URL(fileURLWithPath: b))
        var g = SeededGenerator(seed: 5)   // as files(weighted: true) draws them
        let w = (0..<50).map { _ in (0.5 * g.gaussian()).exp }
        func studentFile(_ name: String, weight45: Double) throws -> String {
            var changed = w
            changed[45] = weight45
            return try writeModel(name, f: student.embeddings.storage, g: student.unembeddings.storage, w: changed, dimension: 3)
        }
        let cases = [(try studentFile("other-w.npz", weight45: 2 * w[45]), "input weights differ"),
                     (try studentFile("negative-w.npz", weight45: -1), "[45]")]
        var refused = 0
        for (file, words) in cases {
            for shard in ["1/2", "2/2"] {
                let partial = dir.appendingPathComponent("w\(refused).json").path
                let r = try runTool(["measure", a, file, "--shard", shard, "--partial", partial])
                #expect(r.status == 2 && r.stderr.contains(words) && !FileManager.default.fileExists(atPath: partial), "\(file) \(shard): \(r.status) \(r.stderr)")
                refused += r.status == 2 ? 1 : 0
            }
            let single = try runTool(["measure", a, file])
            #expect(single.status == 2 && single.stderr.contains(words), "\(file) unsharded: \(single.stderr)")
        }
        #expect(refused == 4)
        // The whole-file comparison names what the unsharded run names (weights divided by their
        // sums over all N: here input 0, moved by the sum).
        let sharded = try runTool(["measure", a, cases[0].0, "--shard", "1/2", "--partial", dir.appendingPathComponent("x.json").path])
        let single = try runTool(["measure", a, cases[0].0])
        let message = try #require(single.stderr.split(separator: "\n").first { $0.contains("input weights differ") })
        #expect(sharded.stderr.contains(message), "\(sharded.stderr) against \(message)")
    }
}
