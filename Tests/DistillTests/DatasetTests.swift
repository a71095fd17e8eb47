@testable import Distill
import Foundation
import ModelFiles
import Numerics
import Testing
import Theory

@Suite("distill on any labelled dataset")
struct DatasetTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lb-data-\(UInt32.random(in: 0...UInt32.max))")

    /// Gaussian blobs: k labels in D dimensions, concepts "label < k/2" (a function of the
    /// label) and "first coordinate above its label's mean" (not one).
    static func blobs(n: Int = 300, k: Int = 6, features: Int = 5, seed: UInt64 = 3) -> [(String, NumpyArray)] {
        var g = SeededGenerator(seed: seed)
        let centres = g.gaussianMatrix(rows: k, columns: features, scale: 2)
        var x: [Double] = [], y: [Double] = [], low: [Double] = [], side: [Double] = []
        for i in 0..<n {
            let label = i % k
            let noise = (0..<features).map { _ in g.gaussian() }
            x += (0..<features).map { centres[label, $0] + noise[$0] }
            y.append(Double(label))
            low.append(label < k / 2 ? 1 : 0)
            side.append(noise[0] > 0 ? 1 : 0)
        }
        return [("x", NumpyArray(shape: [n, features], values: x)), ("y", NumpyArray(shape: [n], values: y)),
                ("c_low", NumpyArray(shape: [n], values: low)), ("c_side", NumpyArray(shape: [n], values: side))]
    }

    static func configuration() -> DistillConfiguration {
        var c = DistillConfiguration()
        c.seeds = 2
        c.teacherHidden = [16]
        c.teacherEmbedding = 3
        c.students = DistillConfiguration.scaledStudents([2, 3], teacherHidden: [16], teacherEmbedding: 3)
        c.teacherTraining.epochs = 30
        c.studentTraining.epochs = 25
        c.matchAgreement = [0.8, 0.9]
        return c
    }

    func write(_ arrays: [(String, NumpyArray)], _ name: String) throws -> URL {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try ModelFile.write(arrays: arrays, to: url)
        return url
    }

    @Test("A generated dataset end to end: deterministic under a seed, stages, concepts, every JSON field")
    func endToEnd() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try Dataset.read(write(Self.blobs(), "blobs.npz"), seed: 1)
        #expect(data.labelCount == 6 && data.inputDimension == 5)
        #expect(data.conceptNames == ["low", "side"])
        #expect(data.conceptIsLabelFunction == [true, false])
        #expect(data.train.count + data.validation.count + data.test.count == 300)
        // Stratified 60/20/20: 50 inputs per label → 30/10/10.
        #expect(data.train.count == 180 && data.validation.count == 60)
        let c = Self.configuration()
        let a = try DistillExperiment.run(c, dataset: data, workers: 2).result
        let b = try DistillExperiment.run(c, dataset: data, workers: 1).result
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        #expect(try encoder.encode(a.students) == encoder.encode(b.students))
        #expect(a.stages == ["agreement>=0.8", "agreement>=0.9", "final"])
        let object = try JSONSerialization.jsonObject(with: Data(DistillReport.json(a).utf8)) as! [String: Any]
        let students = try #require(object["students"] as? [[String: Any]])
        #expect(students.filter { $0["stage"] as? String == "final" }.count == 2 * 2 * 4)
        #expect(students.contains { ($0["stage"] as? String)?.hasPrefix("agreement>=") == true })
        for s in students {
            for key in ["objective", "embedding_dimension", "seed", "stage", "epoch", "agreement", "kl", "d_logit", "mcca",
                        "d_rep_scale_free", "probes", "teacher_probes"] {
                #expect(s[key] != nil, "missing \(key)")
            }
            #expect(Set((s["probes"] as? [String: Double] ?? [:]).keys) == ["low", "side"])
        }
        let teachers = try #require(object["teachers"] as? [[String: Any]])
        #expect(teachers.allSatisfy { $0["test_accuracy"] != nil && ($0["probes"] as? [String: Double])?.count == 2 })
        #expect((object["concept_is_label_function"] as? [String: Bool]) == ["low": true, "side": false])
    }

    @Test("Each matched snapshot is the first epoch whose held-out agreement reaches, or whose held-out KL falls to, its threshold")
    func firstCrossing() throws {
        let data = try Dataset.read(write(Self.blobs(), "blobs.npz"), seed: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = Self.configuration()
        c.seeds = 1
        c.objectives = [.kl]
        c.students = [c.students[0]]
        c.matchAgreement = [0.4, 0.7]
        c.matchKL = [0.5, 0.2]
        let result = try DistillExperiment.run(c, dataset: data).result
        // Retrain the same student (same seeds, as the experiment derives them) and record every epoch.
        let seed = SeededGenerator.derive(c.baseSeed, 0)
        var teacher = MLP(input: 5, hidden: c.teacherHidden, embedding: c.teacherEmbedding, labels: 6, seed: SeededGenerator.derive(seed, 1))
        _ = try Trainer.trainClassifier(&teacher, data: data.train, options: c.teacherTraining, seed: SeededGenerator.derive(seed, 2))
        var student = MLP(input: 5, hidden: c.students[0].hidden, embedding: c.students[0].embedding, labels: 6,
                          seed: SeededGenerator.derive(seed, 100))
        let teacherPredictions = teacher.forward(data.validation.inputs).logits
        var agreements: [Double] = [], kls: [Double] = []
        _ = try Trainer.distill(&student, from: teacher, inputs: data.train.inputs, objective: .kl, options: c.studentTraining,
                                seed: SeededGenerator.derive(seed, 200)) { _, model in
            let s = model.forward(data.validation.inputs).logits
            kls.append((0..<s.rows).reduce(0.0) { $0 + klDivergence(logitsP: teacherPredictions.row($1), logitsQ: s.row($1)) } / Double(s.rows))
            let agree = (0..<s.rows).filter { i in
                (0..<6).max { s[i, $0] < s[i, $1] } == (0..<6).max { teacherPredictions[i, $0] < teacherPredictions[i, $1] }
            }.count
            agreements.append(Double(agree) / Double(s.rows))
            return nil
        }
        var checked = 0
        for threshold in c.matchAgreement {
            let expected = agreements.firstIndex { $0 >= threshold }.map { $0 + 1 }
            let recorded = result.students.first { $0.stage == "agreement>=\(threshold)" }?.epoch
            #expect(recorded == expected, "threshold \(threshold): recorded \(String(describing: recorded)), first crossing \(String(describing: expected))")
            checked += 1
        }
        for threshold in c.matchKL {
            let expected = kls.firstIndex { $0 <= threshold }.map { $0 + 1 }
            let recorded = result.students.first { $0.stage == "kl<=\(threshold)" }?.epoch
            #expect(recorded == expected, "KL \(threshold): recorded \(String(describing: recorded)), first crossing \(String(describing: expected))")
            checked += 1
        }
        #expect(checked == 4)
        #expect(result.students.map(\.stage).contains("kl<=0.5"), "the KL stage was reached: \(kls)")
        #expect(agreements.contains { $0 >= 0.4 } && agreements.first! < 0.7, "the test needs a student that crosses a threshold after its first epoch: \(agreements)")
        #expect(kls.first! > 0.2, "the test needs a KL crossing after the first epoch: \(kls)")
    }

    @Test("Exported students re-read by measure give the same m_CCA as the report")
    func exportsReread() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = try Dataset.read(write(Self.blobs(), "blobs.npz"), seed: 1)
        var c = Self.configuration()
        c.seeds = 1
        let (result, pictures) = try DistillExperiment.run(c, dataset: data)
        let out = dir.appendingPathComponent("out")
        _ = try DistillReport.write(result, pictures: pictures, to: out)
        let teacher = try ModelFile.read(out.appendingPathComponent("models/teacher.npz"))
        var compared = 0
        for m in result.students where m.seed == result.teachers[0].seed {
            let name = DistillReport.studentFileName(m)
            let student = try ModelFile.read(out.appendingPathComponent(name))
            let mcca = try ModelPair(teacher, student).embeddingCorrelations(centred: true).mean
            #expect(abs(mcca - m.mcca) <= 1e-12, "\(name): \(mcca) vs \(m.mcca)")
            compared += 1
        }
        #expect(compared == result.students.count)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("mcca-vs-agreement.svg").path))
    }

    @Test("The text builder: character codes of the context, the next character as label, rare characters folded, contiguous blocks")
    func textBuilder() throws {
        // 'z' occurs twice only, in the test block; 'q' 3 times in training; the rest often.
        let body = String(repeating: "the cat sat on a mat. ", count: 10) + "qqq" + String(repeating: " a bat", count: 5) + "zz"
        let data = try Dataset.text(body, name: "t", context: 3)
        let n = body.count
        #expect(data.train.count == n * 6 / 10 && data.validation.count == n * 8 / 10 - n * 6 / 10)
        #expect(data.train.count + data.validation.count + data.test.count == n)
        #expect(data.inputDimension == 3 && data.characterVocabulary == data.labelCount)
        // Rows are positions in order: the label of row i is character i; its context the 3 codes before.
        let chars = Array(body)
        let space = data.train.labels[3]            // "the cat": position 3 is a space
        #expect(chars[3] == " ")
        #expect(data.train.labels[0] == data.train.labels[22])   // "t" starts each repetition
        var checked = 0
        for row in 3..<data.train.count {
            #expect((0..<3).allSatisfy { Int(data.train.inputs[row, $0]) == data.train.labels[row - 3 + $0] }, "row \(row)")
            checked += 1
        }
        #expect(checked == data.train.count - 3)
        #expect((0..<3).allSatisfy { Int(data.train.inputs[0, $0]) == space }, "the first context is padded with spaces")
        // 'z' never occurs in training, so it is folded into "other", which training must contain ('q' is there 3 times
        // and would be in the alphabet, so the least frequent alphabet character is folded until "other" occurs in training).
        let zLabel = data.test.labels.last!
        #expect(data.train.labels.contains(zLabel), "the 'other' label occurs in training")
        #expect(data.conceptNames == Dataset.textConceptNames)
        // This text has no newline, digit, bracket, quote or capital: those concepts are constant,
        // so trivially functions of the label; the three label-side concepts are functions of it.
        #expect(data.conceptIsLabelFunction == [false, false, true, true, true, true, true, true, true])
        #expect(data.baselines.keys.sorted() == [Dataset.ngramName(context: 3), Dataset.ngramName(context: 5)])
        #expect(throws: DistillError.self) { try Dataset.text("short", name: "s") }
    }

    @Test("The text concepts on a short string, by hand")
    func textConcepts() {
        // 0 A, 1 b, 2 ␠, 3 (, 4 c, 5 d, 6 ), 7 ␠, 8 1, 9 ⏎, 10 X, 11 ␠, 12 ", 13 y, 14 ", 15 ␠, 16 z.
        let c = Array("Ab (cd) 1\nX \"y\" z")
        #expect(c.count == 17)
        let concepts = Dataset.textConcepts(c)
        func positions(_ index: Int) -> [Int] { (0..<c.count).filter { concepts[index][$0] } }
        // Position p: the context is c[..<p], the label c[p].
        #expect(positions(0) == [1, 2, 5, 6, 11, 14])         // the context ends inside a word
        #expect(positions(1) == [0, 3, 8, 12, 16])            // … after a space (position 0: the padding)
        #expect(positions(2) == [10])                         // … after the newline
        #expect(positions(3) == [9])                          // … after "1"
        #expect(positions(4) == [4, 5, 6, 13, 14])            // inside "(cd)" or "\"y\""
        #expect(positions(5) == [0, 5, 6, 7, 8, 9, 10])       // the next word starts with a capital (A, X)
        #expect(positions(6) == [0])                          // the next character is a vowel (A)
        #expect(positions(7) == [2, 7, 11, 15])               // … a space
        #expect(positions(8) == [3, 6, 12, 14])               // … punctuation
    }

    /// Text without a space and without an "other" label padded with a code past the
    /// character table: an out-of-bounds read in the model (a trap in debug builds).
    @Test("A text without spaces (DNA) pads with a code of its own alphabet")
    func textWithoutSpaces() throws {
        var g = SeededGenerator(seed: 61)
        let dna = String((0..<600).map { _ in Array("ACGT")[g.int(in: 0...3)] })
        let data = try Dataset.text(dna, name: "dna", context: 8)
        #expect(data.labelCount == 4)
        for split in [data.train, data.validation, data.test] {
            #expect(split.inputs.storage.allSatisfy { $0 >= 0 && $0 < Double(data.labelCount) })
        }
        // And a model trains on it end to end (the first rows are all padding).
        let vocabulary = try #require(data.characterVocabulary)
        let mlp = MLP(input: 8, hidden: [8], embedding: 2, labels: 4, seed: 62,
                      characters: MLP.Characters(vocabulary: vocabulary, dimension: 3, context: 8))
        let logits = mlp.forward(data.train.inputs.selectingRows(Array(0..<4))).logits
        #expect(logits.storage.allSatisfy { $0.isFinite })
    }

    @Test("The n-gram baseline on a short string, computed by hand")
    func nGram() {
        // codes a b a b a b | a c a b (a = 0, b = 1, c = 2); training on positions 0 … 5, the
        // pad (before position 0) is a. Order 2 (one character of context): after a → b (3×)
        // against a (1×, position 0 after the pad); after b → a (2×).
        let codes = Array("ababab" + "acab").map { Int($0.asciiValue! - 97) }
        let bigram = NGramBaseline(codes: codes, training: 0..<6, order: 2, pad: 0)
        #expect(bigram.predict(at: 6) == 0 && bigram.predict(at: 7) == 1 && bigram.predict(at: 9) == 1)
        // At 8 the context "c" was never seen: back off to the unigram, a and b 3× each, the smaller code a.
        #expect(bigram.predict(at: 8) == 0)
        #expect(bigram.accuracy(on: 6..<10) == 0.75)   // right at 6, 8, 9; wrong at 7 (c)
        // Order 3: "ab" → a (2×); "ac" (at 8) unseen, nor "c": down to the unigram again.
        let trigram = NGramBaseline(codes: codes, training: 0..<6, order: 3, pad: 0)
        #expect(trigram.predict(at: 6) == 0 && trigram.predict(at: 8) == 0)
        // At 9 the context "ca" is unseen but "a" is: the middle level, a → b (the unigram would say a).
        #expect(trigram.predict(at: 9) == 1)
        #expect(NGramBaseline(codes: codes, training: 0..<6, order: 1, pad: 0).predict(at: 7) == 0)
    }

    @Test("The corpus reader: files sorted by path, symlinks counted once, directories walked, non-UTF-8 refused with the file's name, an empty file")
    func corpusReader() throws {
        let root = dir.appendingPathComponent("corpus")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "second\n".write(to: root.appendingPathComponent("b.txt"), atomically: true, encoding: .utf8)
        try "first\n".write(to: root.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        try "".write(to: root.appendingPathComponent("empty.txt"), atomically: true, encoding: .utf8)
        try "nested\n".write(to: root.appendingPathComponent("sub/c.txt"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("link").path, withDestinationPath: root.appendingPathComponent("b.txt").path)
        let (text, files) = try TextCorpus.read([root.path, root.appendingPathComponent("a.txt").path])
        #expect(text == "first\nsecond\nnested\n")
        #expect(files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["a.txt", "b.txt", "empty.txt", "c.txt"])
        try Data([0x66, 0xFF, 0xFE, 0x0A]).write(to: root.appendingPathComponent("binary.dat"))
        #expect { try TextCorpus.read([root.path]) } throws: { ($0 as? DistillError)?.description.contains("binary.dat: not UTF-8") == true }
        #expect { try TextCorpus.read([root.appendingPathComponent("missing").path]) } throws: {
            ($0 as? DistillError)?.description.contains("missing: no such file") == true
        }
        // "a.txt/" is a file's name followed by "/", not a missing file (it said "no such file").
        #expect { try TextCorpus.read([root.appendingPathComponent("a.txt").path + "/"]) } throws: {
            ($0 as? DistillError)?.description.contains("a.txt/: not a directory: a file's name followed by \"/\"") == true
        }
        #expect { try TextCorpus.read([root.appendingPathComponent("a.txt").path + "/x"]) } throws: {
            ($0 as? DistillError)?.description.contains("a.txt/x: no such file (a part of the path is not a directory)") == true
        }
    }

    @Test("Integer and bool arrays are read for labels, splits and concepts")
    func integerArrays() throws {
        for (descr, values) in [("<i8", [0, 1, 2, -3]), (">i2", [7, -1, 0, 300]), ("|u1", [0, 255, 1, 2]), ("|b1", [1, 0, 0, 1]), ("<u4", [5, 0, 1, 4_000_000_000])] {
            let array = try NumpyArray(npy: npyIntegers(values, descr: descr), file: "t", array: "y", integers: true)
            #expect(array.values == values.map(Double.init), "\(descr)")
        }
        #expect(throws: ModelFileError.self) { try NumpyArray(npy: npyIntegers([1, 2], descr: "<i8"), file: "t", array: "y") }
    }

    @Test("Bad datasets exit with a typed error naming the problem")
    func badDatasets() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = Self.blobs(n: 60, k: 3)
        func with(_ name: String, _ array: NumpyArray?) -> [(String, NumpyArray)] {
            var arrays = good.filter { $0.0 != name }
            if let array { arrays.append((name, array)) }
            return arrays
        }
        func vector(_ f: (Int) -> Double) -> NumpyArray { NumpyArray(shape: [60], values: (0..<60).map(f)) }
        let trainOnlyLabel2: (Int) -> Double = { i in i % 3 == 2 ? 0 : Double(1 + i % 2) }
        let cases: [([(String, NumpyArray)], String)] = [
            (with("y", nil), "no array 'y'"),
            (with("y", vector { Double($0 % 3) - 1 }), "labels must be 0…k−1"),
            (with("y", vector { $0 % 3 == 1 ? 2 : 0 }), "label 1 never occurs"),
            (with("y", NumpyArray(shape: [59], values: Array(repeating: 0, count: 59))), "expected (60,)"),
            (with("y", vector { Double($0 % 3) + 0.5 }), "not an integer"),
            (with("c_low", NumpyArray(shape: [60], values: Array(repeating: 2, count: 60))), "not 0 or 1"),
            (with("split", vector(trainOnlyLabel2)), "label 0 has no input in the training split"),
            (with("split", NumpyArray(shape: [60], values: Array(repeating: 3, count: 60))), "is not 0 (train)"),
            (with("x", NumpyArray(shape: [60], values: Array(repeating: 0, count: 60))), "is not N×D"),
            (with("x", NumpyArray(shape: [60, 1], values: [Double.nan] + Array(repeating: 0, count: 59))), "not finite"),
            (with("extra", NumpyArray(shape: [1], values: [0])), "unknown array"),
            // Two concepts whose exported files would be one (characters other than letters,
            // digits and "-" become "-"): one file held two concepts, silently.
            (with("c_a/b", vector { Double($0 % 2) }) + [("c_a-b", vector { Double($0 % 2) })], "would be exported to one file"),
        ]
        var refused = 0
        for (i, (arrays, message)) in cases.enumerated() {
            let url = try write(arrays, "bad-\(i).npz")
            do {
                _ = try Dataset.read(url, seed: 1)
                Issue.record("case \(i) (\(message)) was accepted")
            } catch let e as DistillError {
                #expect(e.description.contains(message), "case \(i): \(e.description)")
                refused += 1
            }
        }
        #expect(refused == cases.count)
    }
}

/// `.npy` bytes of integers in the given dtype (e.g. "<i8", "|b1", ">u2").
func npyIntegers(_ values: [Int], descr: String) -> Data {
    let width = Int(descr.dropFirst(2))!
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(values.count),), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
    data.append(Data(header.utf8))
    for v in values {
        let bits = UInt64(bitPattern: Int64(v))
        let bytes = (0..<width).map { UInt8(truncatingIfNeeded: bits >> (8 * UInt64($0))) }
        data.append(contentsOf: descr.hasPrefix(">") ? bytes.reversed() : bytes)
    }
    return data
}
