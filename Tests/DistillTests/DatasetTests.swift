import Distill
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

    @Test("Each matched-agreement snapshot is the first epoch whose held-out agreement reaches its threshold")
    func firstCrossing() throws {
        let data = try Dataset.read(write(Self.blobs(), "blobs.npz"), seed: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        var c = Self.configuration()
        c.seeds = 1
        c.objectives = [.kl]
        c.students = [c.students[0]]
        c.matchAgreement = [0.4, 0.7]
        let result = try DistillExperiment.run(c, dataset: data).result
        // Retrain the same student (same seeds, as the experiment derives them) and record every epoch.
        let seed = SeededGenerator.derive(c.baseSeed, 0)
        var teacher = MLP(input: 5, hidden: c.teacherHidden, embedding: c.teacherEmbedding, labels: 6, seed: SeededGenerator.derive(seed, 1))
        _ = try Trainer.trainClassifier(&teacher, data: data.train, options: c.teacherTraining, seed: SeededGenerator.derive(seed, 2))
        var student = MLP(input: 5, hidden: c.students[0].hidden, embedding: c.students[0].embedding, labels: 6,
                          seed: SeededGenerator.derive(seed, 100))
        let teacherPredictions = teacher.forward(data.validation.inputs).logits
        var agreements: [Double] = []
        _ = try Trainer.distill(&student, from: teacher, inputs: data.train.inputs, objective: .kl, options: c.studentTraining,
                                seed: SeededGenerator.derive(seed, 200)) { _, model in
            let s = model.forward(data.validation.inputs).logits
            let agree = (0..<s.rows).filter { i in
                (0..<6).max { s[i, $0] < s[i, $1] } == (0..<6).max { teacherPredictions[i, $0] < teacherPredictions[i, $1] }
            }.count
            agreements.append(Double(agree) / Double(s.rows))
        }
        var checked = 0
        for threshold in c.matchAgreement {
            let expected = agreements.firstIndex { $0 >= threshold }.map { $0 + 1 }
            let recorded = result.students.first { $0.stage == "agreement>=\(threshold)" }?.epoch
            #expect(recorded == expected, "threshold \(threshold): recorded \(String(describing: recorded)), first crossing \(String(describing: expected))")
            checked += 1
        }
        #expect(checked == 2)
        #expect(agreements.contains { $0 >= 0.4 } && agreements.first! < 0.7, "the test needs a student that crosses a threshold after its first epoch: \(agreements)")
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

    @Test("The text builder: one-hot contexts, the next character as label, rare characters folded, contiguous blocks")
    func textBuilder() throws {
        // 'z' occurs twice only, in the test block; 'q' 3 times in training; the rest often.
        let body = String(repeating: "the cat sat on a mat. ", count: 10) + "qqq" + String(repeating: " a bat", count: 5) + "zz"
        let data = try Dataset.text(body, name: "t", context: 3)
        let n = body.count
        #expect(data.train.count == n * 6 / 10 && data.validation.count == n * 8 / 10 - n * 6 / 10)
        #expect(data.train.count + data.validation.count + data.test.count == n)
        let k = data.labelCount
        #expect(data.inputDimension == 3 * k)
        // Rows are positions in order: the label of row i is character i; its context the 3 before.
        let chars = Array(body)
        let space = data.train.labels[3]            // "the cat": position 3 is a space
        #expect(chars[3] == " ")
        #expect(data.train.labels[0] == data.train.labels[22])   // "t" starts each repetition
        for row in 0..<data.train.count {
            let ones = (0..<data.inputDimension).filter { data.train.inputs[row, $0] == 1 }
            #expect(ones.count == 3, "row \(row) has \(ones.count) ones")
            if row >= 3 { #expect(ones.last! - 2 * k == data.train.labels[row - 1], "row \(row)'s last context slot is the previous label") }
        }
        #expect((0..<3).allSatisfy { data.train.inputs[0, $0 * k + space] == 1 }, "the first context is padded with spaces")
        // 'z' never occurs in training, so it is folded into "other", which training must contain ('q' is there 3 times
        // and would be in the alphabet, so the least frequent alphabet character is folded until "other" occurs in training).
        let zLabel = data.test.labels.last!
        #expect(data.train.labels.contains(zLabel), "the 'other' label occurs in training")
        #expect(data.conceptIsLabelFunction == [false, false, true])
        #expect(throws: DistillError.self) { try Dataset.text("short", name: "s") }
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
