import Dispatch
import Foundation
import Harness
import Testing

/// Runs the built `logitbounds` executable (built with the tests by SwiftPM).
/// `environment` adds to the test's environment and `unsetting` removes from it.
/// `interruptAfter` sends SIGINT that many seconds after `interruptOn` (a text on standard
/// error: the work has started, however slow the machine) has appeared, or after the start
/// without it (what Ctrl-C does), or `interruptWith` instead of SIGINT; `terminateAfter` sends
/// SIGTERM, a limit for commands that must not run long.
func runTool(_ arguments: [String], interruptAfter seconds: Double? = nil, interruptOn marker: String? = nil,
             interruptWith signalNumber: Int32 = SIGINT,
             terminateAfter limit: Double? = nil, environment: [String: String] = [:],
             unsetting removed: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = productsDirectory.appendingPathComponent("logitbounds")
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    if !environment.isEmpty || !removed.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { !removed.contains($0.key) }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Both pipes are drained at once: reading one to its end first deadlocks when
    // the child fills the other (a pipe holds 64 KiB).
    // On threads of their own, not the global queue: in a loaded suite (AddressSanitizer, tests in
    // parallel, many blocked in waits) libdispatch adds global workers slowly, and a signal scheduled
    // there was sent only after the child had ended (a SIGINT at "measure: reading" that the run never
    // saw, stop 69; a SIGBUS to verify that waited past the 30 s limit, stop 70).
    // errData under a lock (a mutex, which ThreadSanitizer sees), read back once the reader is done.
    nonisolated(unsafe) var errData = Data()
    nonisolated(unsafe) let child = process
    let errLock = NSLock()
    let seen = DispatchSemaphore(value: 0), readerDone = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        // Read standard error in pieces, to see the marker while the child runs.
        var signalled = marker == nil, local = Data()
        while case let piece = err.fileHandleForReading.availableData, !piece.isEmpty {
            errLock.withLock { errData.append(piece) }
            if !signalled, let marker {
                local.append(piece)
                if String(decoding: local, as: UTF8.self).contains(marker) { signalled = true; seen.signal() }
            }
        }
        if !signalled { seen.signal() }
        readerDone.signal()
    }
    if let seconds {
        Thread.detachNewThread {
            if marker != nil { seen.wait() }
            Thread.sleep(forTimeInterval: seconds)
            if child.isRunning { kill(child.processIdentifier, signalNumber) }
        }
    }
    if let limit {
        // SIGTERM, then SIGKILL 5 s later for a child that does not end on it. (The child
        // inherits this thread's signal mask, a dispatch worker's, in which SIGTERM is blocked:
        // runs had ended only at the SIGKILL until the program unblocked it at its start.)
        Thread.detachNewThread {
            let start = ContinuousClock.now
            func waitWhileRunning(until seconds: Double) {
                while child.isRunning && ContinuousClock.now - start < .seconds(seconds) { Thread.sleep(forTimeInterval: 0.05) }
            }
            waitWhileRunning(until: limit)
            if child.isRunning { child.terminate() }
            waitWhileRunning(until: limit + 5)
            if child.isRunning { kill(child.processIdentifier, SIGKILL) }
        }
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    readerDone.wait()
    process.waitUntilExit()
    // A child killed by a signal reports the signal's number (SIGINT is 2, the same as
    // our usage exit): report it as a shell does, 128 + signal.
    let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    return (status, String(decoding: outData, as: UTF8.self), errLock.withLock { String(decoding: errData, as: UTF8.self) })
}

/// The build's products folder: on Linux the test process is the
/// `…PackageTests.xctest` executable itself, so its folder holds `logitbounds`.
/// (`Bundle.allBundles`, the fallback, leaks Foundation's bundle list on each call.)
let productsDirectory: URL = {
    if let executable = Bundle.main.executableURL, executable.lastPathComponent.hasSuffix(".xctest") {
        return executable.deletingLastPathComponent()
    }
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    return Bundle.main.bundleURL
}()

@Suite("logitbounds command line")
struct CommandLineTests {
    /// OpenBLAS 0.3.21 falls back to its Prescott kernels on CPU models it does not know
    /// (an AVX-512 Xeon of family 6, model 207: dgemm 5× slower); the program then picks the
    /// kernel the CPU supports (CFastKernels' blas_kernel.c). OPENBLAS_CORETYPE still decides.
    /// With the fallback simulated (LOGITBOUNDS_TEST_PRESCOTT_FALLBACK) the choice runs and is
    /// checked on CPUs that OpenBLAS knows as well.
    @Test("OpenBLAS never runs its Prescott fallback on a CPU with AVX2 and FMA; from a simulated fallback it runs the best kernel the CPU allows; OPENBLAS_CORETYPE is obeyed")
    func blasKernelChoice() throws {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        func kernel(_ environment: [String: String]) throws -> (name: String, chosenHere: Bool) {
            let r = try runTool(["--version"], environment: environment, unsetting: environment.isEmpty ? ["OPENBLAS_CORETYPE"] : [])
            #expect(r.status == 0)
            let name = try #require(r.stdout.components(separatedBy: "OpenBLAS kernel ").dropFirst().first?.split(whereSeparator: { $0 == " " || $0 == "," }).first)
            return (String(name), r.stdout.contains("chosen by logitbounds"))
        }
        let automatic = try kernel([:])
        if flags.isSuperset(of: ["avx2", "fma"]) {
            #expect(automatic.name.lowercased() != "prescott", "OpenBLAS left on its Prescott fallback")
            if automatic.chosenHere {
                let avx512: Set = ["avx512f", "avx512cd", "avx512dq", "avx512bw", "avx512vl"]
                #expect(automatic.name == (flags.isSuperset(of: avx512) ? "SkylakeX" : "Haswell"))
            }
        }
        let forced = try kernel(["OPENBLAS_CORETYPE": "Prescott"])
        #expect(forced.name == "Prescott" && !forced.chosenHere)
        // OpenBLAS's fallback simulated (the constructor starts from Prescott), so the choice runs
        // on CPUs OpenBLAS knows too: the best kernel the CPU's flags allow.
        let r = try runTool(["--version"], environment: ["LOGITBOUNDS_TEST_PRESCOTT_FALLBACK": "1"], unsetting: ["OPENBLAS_CORETYPE"])
        let name = r.stdout.components(separatedBy: "OpenBLAS kernel ").dropFirst().first?.split(whereSeparator: { $0 == " " || $0 == "," }).first.map(String.init)
        let avx512: Set = ["avx512f", "avx512cd", "avx512dq", "avx512bw", "avx512vl"]
        // (Debian's OpenBLAS has all three; OpenBLAS spells the last "Sandybridge".) Without AVX
        // nothing is chosen and OpenBLAS's own choice comes back.
        let expected: String? = flags.isSuperset(of: avx512.union(["avx2", "fma"])) ? "skylakex"
            : flags.isSuperset(of: ["avx2", "fma"]) ? "haswell" : flags.contains("avx") ? "sandybridge" : nil
        #expect(r.status == 0 && r.stdout.contains("LOGITBOUNDS_TEST_PRESCOTT_FALLBACK"), "\(r.stdout)")
        if let expected {
            #expect(name?.lowercased() == expected && r.stdout.contains("chosen by logitbounds"), "from a simulated Prescott fallback: \(r.stdout)")
        } else {
            #expect(name?.lowercased() == automatic.name.lowercased() && !r.stdout.contains("chosen by logitbounds"), "\(r.stdout)")
        }
    }

    @Test("verify --json prints the documented keys and exits 0")
    func verifyJSON() throws {
        let r = try runTool(["verify", "--cases", "30", "--max-labels", "8", "--max-dimension", "3", "--max-inputs", "20", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let theorems = try #require(json["theorems"] as? [[String: Any]])
        #expect(json["seed"] as? Int == 1)
        for key in ["id", "cases", "certified", "violations", "worst_ratio", "worst_case"] {
            #expect(theorems.allSatisfy { $0.keys.contains(key) }, "missing \(key)")
        }
        #expect(Set(theorems.compactMap { $0["id"] as? String }) == ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T10", "T11", "T12"])
    }

    @Test("A planted false statement makes verify exit 1 and save a replay file that replays to exit 1")
    func plantedExitsOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-cli-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try runTool(["verify", "--statement", "T3", "--plant", "T3=0.5", "--cases", "60", "--generator", "perturbed",
                             "--max-labels", "8", "--max-dimension", "3", "--max-inputs", "20", "--out", dir.path])
        #expect(r.status == 1, "\(r.stderr)")
        let replay = dir.appendingPathComponent("replays/violation-T3.json")
        #expect(FileManager.default.fileExists(atPath: replay.path))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.md").path))
        let again = try runTool(["verify", "--replay", replay.path, "--plant", "T3=0.5"])
        #expect(again.status == 1 && again.stdout.contains("violated"))
        // Without --plant the file's planted scale applies (it used to be dropped silently,
        // so the saved violation "held"); --plant T3=1 checks the true statement.
        let saved = try runTool(["verify", "--replay", replay.path])
        #expect(saved.status == 1 && saved.stdout.contains("violated") && saved.stderr.contains("--plant T3=0.5"), "\(saved.stderr)")
        let honest = try runTool(["verify", "--replay", replay.path, "--plant", "T3=1"])
        #expect(honest.status == 0 && honest.stdout.contains("holds") && honest.stderr.contains("saved with --plant T3=0.5"), "\(honest.stderr)")
        // Found by an audit: a --statement that excludes the file's check blamed the check
        // ("unknown statement: T3"), a file planting a statement with no constant was
        // accepted, and a device was "permission denied".
        let filtered = try runTool(["verify", "--replay", replay.path, "--statement", "T4"])
        #expect(filtered.status == 2 && filtered.stderr.contains("--statement selects T4"), "\(filtered.stderr)")
        let edited = dir.appendingPathComponent("edited.json")
        let text = try String(contentsOf: replay, encoding: .utf8).replacingOccurrences(of: "\"T3\" : 0.5", with: "\"T2\" : 0.5")
        #expect(text.contains("\"T2\" : 0.5"), "the planted scale's JSON spelling changed")
        try text.write(to: edited, atomically: true, encoding: .utf8)
        let unplantable = try runTool(["verify", "--replay", edited.path])
        #expect(unplantable.status == 2 && unplantable.stderr.contains("no constant to scale"), "\(unplantable.stderr)")
        let device = try runTool(["verify", "--replay", "/dev/zero"])
        #expect(device.status == 2 && device.stderr.contains("not a regular file"), "\(device.stderr)")
    }

    @Test("Bad arguments exit 2 with a clear message", arguments: [
        ["verify", "--cases", "0"], ["verify", "--shard", "3/2"], ["verify", "--plant", "T3"],
        ["verify", "--plant", "T2=0.5"], ["verify", "--plant", "T10=0.5"], ["verify", "--plant", "T3=0.5", "--plant", "T3=2"],
        ["verify", "--generator", "nope"], ["verify", "--statement", "T42"], ["verify", "--frobnicate"],
        ["verify", "--replay", "/nonexistent/file.json"], ["merge", "/nonexistent.json"],
    ])
    func badArguments(arguments: [String]) throws {
        let r = try runTool(arguments)
        #expect(r.status == 2, "\(arguments): status \(r.status)")
        #expect(!r.stderr.isEmpty)
    }

    @Test("verify --certify all certifies every decided case of every statement (the certified column)")
    func certifyAll() throws {
        let r = try runTool(["verify", "--cases", "30", "--certify", "all", "--json"], terminateAfter: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try ReportFormatter.decode(Data(r.stdout.utf8))
        var statements = 0
        for t in report.theorems where t.cases > 0 {
            // Every case decided and certified (T5.averaged too: by the fast level, else exactly up to 300 pairs).
            #expect(t.certified == t.cases && t.undecided == 0,
                    "\(t.name): \(t.certified) certified and \(t.undecided) undecided of \(t.cases) cases")
            statements += 1
        }
        #expect(statements >= 15, "only \(statements) statements had cases")
        // The fast level decides some case of T1, T3, T6 and T11, and the per-level counts add up.
        for name in ["T1.triangle", "T3", "T6.global", "T11.covariance"] {
            let t = try #require(report.theorems.first { $0.name == name })
            #expect(t.certifiedFast > 0, "\(name): no case decided by the fast enclosure")
        }
        #expect(report.theorems.allSatisfy { $0.certifiedFast + $0.certifiedMPFR + $0.certifiedExact == $0.certified })
        // The default certifies every case too; --certify screen's screens are not counted as certified.
        let byDefault = try ReportFormatter.decode(Data(try runTool(["verify", "--cases", "30", "--json"]).stdout.utf8))
        #expect(byDefault.certifyAll && byDefault.theorems.map(\.certified) == report.theorems.map(\.certified))
        let screened = try ReportFormatter.decode(Data(try runTool(["verify", "--cases", "30", "--certify", "screen", "--json"]).stdout.utf8))
        #expect(screened.theorems.contains { $0.cases > 0 && $0.certified < $0.cases })
    }

    /// Success paths the suite did not run on the command line (issue 26): CE1, CE2, CE5 with
    /// every claim holding; tightness of T4, T5.pair and T7 certified; measure --certify always.
    @Test("CE1, CE2 and CE5 succeed with every claim holding; tightness T4, T5.pair, T7 certify their best pair")
    func successPaths() throws {
        var families = 0
        for family in ["CE1", "CE2", "CE5"] {
            let r = try runTool(["counterexample", "--family", family, "--json"], terminateAfter: 120)
            #expect(r.status == 0, "\(family): \(r.stderr.suffix(300))")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let claims = try #require(json["claims"] as? [[String: Any]])
            #expect(claims.count >= 2 && claims.allSatisfy { $0["holds"] as? Bool == true } && claims.contains { $0["certified"] as? Bool == true },
                    "\(family): \(claims)")
            // Every certified summary carries the unbiased CKA beside the biased one.
            let pair = try #require((json["pairs"] as? [[String: Any]])?.first)
            #expect(pair["linear_cka"] is Double && pair["linear_cka_unbiased"] is Double, "\(family): \(pair.keys.sorted())")
            families += 1
        }
        var statements = 0
        for statement in ["T4", "T5.pair", "T7"] {
            let r = try runTool(["tightness", "--statement", statement, "--evaluations", "200", "--budget", "30s", "--json"], terminateAfter: 120)
            #expect(r.status == 0, "\(statement): \(r.stderr.suffix(300))")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let result = try #require((json["statements"] as? [[String: Any]])?.first)
            let certified = try #require(result["certified"] as? [String: Any])
            let ratio = try #require(result["best_ratio"] as? Double)
            #expect(certified["outcome"] as? String == "holds" && ["exact", "enclosure (MPFR)", "fast enclosure"].contains(certified["level"] as? String ?? ""),
                    "\(statement): \(certified)")
            #expect(ratio > 0.5 && ratio <= 1 + 1e-9, "\(statement): best ratio \(ratio)")
            statements += 1
        }
        #expect(families == 3 && statements == 3)
    }

    /// Each of these exited 0 or said "Missing value" before.
    @Test("No command, help for no command, and negative numbers: exit 2 with what went wrong", arguments: [
        ([], "no command given"), (["help", "nope"], "no command \"nope\""),
        (["verify", "--shard", "-1/4"], "i/n"), (["tightness", "--budget", "-3"], "-3 is a negative number"),
        (["counterexample", "--family", "CE4", "--epsilon", "-1"], "-1 is a negative number"),
        (["distill", "--learning-rate", "-1"], "--learning-rate"),
    ])
    func usageErrors(arguments: [String], words: String) throws {
        let r = try runTool(arguments, terminateAfter: 60)
        #expect(r.status == 2, "\(arguments): status \(r.status)")
        #expect(r.stderr.contains(words) && !r.stderr.contains("Missing value"), "\(arguments): \(r.stderr)")
    }

    /// Help's lists were aligned by hand: at COLUMNS=60 ArgumentParser re-wrapped their long
    /// lines, leaving text at the left margin inside an indented list (19 such lines in bench's
    /// help, 2 in counterexample's). Written as one paragraph per entry, they wrap at any width.
    @Test("The tool's and every command's help, at 60 and 100 columns, has no line wrapped out of an indented list")
    func helpWrapsCleanly() throws {
        var checked = 0
        for command in [[], ["verify"], ["merge"], ["counterexample"], ["measure"], ["tightness"], ["distill"], ["bench"]] {
            for columns in ["60", "100"] {
                let r = try runTool(command + ["--help"], terminateAfter: 30, environment: ["COLUMNS": columns])
                let discussion = r.stdout.components(separatedBy: "\nUSAGE:")[0].split(separator: "\n", omittingEmptySubsequences: false)
                // An indented line (a list entry or its continuation) followed by text at the margin.
                let broken = zip(discussion, discussion.dropFirst()).filter { $0.hasPrefix(" ") && !$1.isEmpty && !$1.hasPrefix(" ") }
                #expect(r.status == 0 && discussion.count > 3 && broken.isEmpty, "\(command) at \(columns) columns: \(broken.map { "\($0.1)" })")
                checked += 1
            }
        }
        #expect(checked == 16)
    }

    @Test("Sharded runs merge to the single run's report")
    func shardMergeCLI() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-shards-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let common = ["--cases", "24", "--max-labels", "8", "--max-dimension", "3", "--max-inputs", "20", "--json"]
        let single = try runTool(["verify"] + common)
        // Each child's status and standard error first, so that a failed child (a sanitizer's
        // report, say) is shown rather than an empty JSON parse.
        #expect(single.status == 0, "verify: status \(single.status): \(single.stderr.suffix(2000))")
        var files: [String] = []
        for i in 1...3 {
            let shard = try runTool(["verify", "--shard", "\(i)/3"] + common)
            #expect(shard.status == 0, "verify --shard \(i)/3: status \(shard.status): \(shard.stderr.suffix(2000))")
            let path = dir.appendingPathComponent("shard\(i).json").path
            try shard.stdout.write(toFile: path, atomically: true, encoding: .utf8)
            files.append(path)
        }
        let merged = try runTool(["merge", "--json"] + files)
        #expect(merged.status == 0, "merge: status \(merged.status): \(merged.stderr.suffix(2000))")
        func theorems(_ s: String) throws -> NSArray { (try JSONSerialization.jsonObject(with: Data(s.utf8)) as! NSDictionary)["theorems"] as! NSArray }
        #expect(try theorems(merged.stdout) == theorems(single.stdout))
    }
}

@Suite("logitbounds counterexample")
struct CounterexampleCommandTests {
    @Test("CE3 --json carries the certified fields and exits 0")
    func ce3JSON() throws {
        let r = try runTool(["counterexample", "--family", "CE3", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["theorem"] as? String == "T9")
        let pair = try #require((json["pairs"] as? [[String: Any]])?.last)
        for key in ["kl_ab", "kl_ba", "d_logit_squared", "d_rep_ab_squared", "mcca_centered", "unembedding_mcca_centered"] {
            #expect(pair[key] != nil, "missing \(key)")
        }
        // CE3 (T9): the same representations (m_CCA = 1) with KL certified ≥ 1 both ways.
        let klAB = try #require(pair["kl_ab"] as? [String: Double]), klBA = try #require(pair["kl_ba"] as? [String: Double])
        #expect(klAB["lower"]! >= 1 && klAB["lower"]! <= klAB["upper"]!, "\(klAB)")
        #expect(klBA["lower"]! >= 1 && klBA["lower"]! <= klBA["upper"]!, "\(klBA)")
        let mcca = try #require(pair["mcca_centered"] as? Double)
        #expect(1 - mcca <= 1e-12, "m_CCA \(mcca)")
        let claims = try #require(json["claims"] as? [[String: Any]])
        #expect(claims.count >= 3 && claims.allSatisfy { $0["holds"] as? Bool == true })
    }

    @Test("CE4 from a teacher file written by CE1 meets ε, and bad input exits 2")
    func ce4FromFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-ce4-\(UInt32.random(in: 0...UInt32.max))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try runTool(["counterexample", "--family", "CE1", "--sweep", "", "--margin", "8", "--out", dir.appendingPathComponent("ce1").path])
        #expect(first.status == 1, "CE1 at L = 8 does not reach KL < 1e−3, and says so")
        let teacher = dir.appendingPathComponent("ce1/teacher.npz").path
        let r = try runTool(["counterexample", "--family", "CE4", "--teacher", teacher, "--epsilon", "1e-4", "--json",
                             "--starts", "4", "--evaluations", "200"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let pair = try #require((json["pairs"] as? [[String: Any]])?.last)
        #expect(((pair["kl_ab"] as? [String: Double])?["upper"] ?? 1) <= 1e-4 && ((pair["kl_ba"] as? [String: Double])?["upper"] ?? 1) <= 1e-4)
        let cases: [([String], String)] = [
            (["counterexample", "--family", "CE9"], "CE9"),
            (["counterexample", "--family", "CE4", "--teacher", "/nonexistent.npz"], "nonexistent"),
            (["counterexample", "--family", "CE1", "--sweep", "1,x"], "sweep"),
            (["counterexample", "--family", "CE4", "--teacher", teacher, "--epsilon", "-1"], "negative"),
            (["counterexample", "--family", "CE4", "--teacher", teacher, "--epsilon", "0"], "positive"),
        ]
        for (bad, words) in cases {
            let b = try runTool(bad, terminateAfter: 60)
            #expect(b.status == 2, "\(bad): \(b.status)")
            #expect(b.stderr.contains(words), "\(bad): \(b.stderr)")
        }
    }
}
